//! Loading and opening a document. Records read from their rows make it ready at once. Opened
//! from a stored snapshot (`store::snapshot`), the first welcomes go out from the snapshot's
//! lists while its records are read from them on a blocking thread: for 10,000 annotations that
//! reading is a quarter of a cold open, and the welcome does not need it.
//!
//! While the records are read the document is `Phase::Opening` and counts as committing:
//! changes queue, reads and the other joins wait (`when_settled`). A join that a list serves as
//! it is (a session that may see every record, wanting a snapshot or the changes after a head
//! it has) is welcomed at once ([`DocumentActor::served_while_opening`]). Once the records are
//! read the document is `Ready`, keeps the lists as its layers' kept snapshots, and what waited
//! runs (`settle`). Records that cannot be read mean the stored snapshot is unusable: it is
//! deleted, the sessions welcomed from it are told to reconnect, and the actor stops, so the next
//! open reads the records' rows.

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;

use super::{DocumentActor, Peer, Phase};
use crate::actors::state::DocState;
use crate::store::snapshot::{self, Layers, Lists};
use crate::store::{self, LoadedRecords};
use crate::wire::common::{CloseCode, CloseReason, SnapshotRecords};

/// A document opened from a stored snapshot whose records are still being read.
pub(super) struct Opening {
    pub head_seq: i64,
    pub log_floor: i64,
    pub page_count: u32,
    pub lists: Arc<Lists>,
}

impl Opening {
    /// Every record of `layer`, as the welcome of a session that may see them all lists them.
    pub fn records(&self, layer: &str) -> SnapshotRecords<'_> {
        match self.lists.get(layer) {
            Some(list) => SnapshotRecords::Shared(list),
            // A layer without records has no list.
            None => SnapshotRecords::Built(Vec::new()),
        }
    }
}

impl DocumentActor {
    /// Loads the document, holding every message until it is loaded, then opens it.
    pub(super) fn start_loading(&mut self, ctx: &mut Context<Self>) {
        let (db, id, started) = (self.db.clone(), self.id.clone(), Instant::now());
        let load = async move { store::load(&db.main, &id).await };
        ctx.wait(load.into_actor(self).map(move |res, act, ctx| match res {
            Ok(Some(loaded)) => {
                let (from_snapshot, layers) = match &loaded.records {
                    LoadedRecords::Rows(layers) => (false, layers.len()),
                    LoadedRecords::Snapshot(lists) => (true, lists.len()),
                };
                tracing::info!(document_id = %act.id, head_seq = loaded.head_seq, layers,
                    from_snapshot, load_ms = started.elapsed().as_millis() as u64,
                    "document opened");
                act.open(loaded, ctx);
            }
            Ok(None) => act.phase = Phase::Missing,
            Err(e) => {
                tracing::error!(document_id = %act.id, error = %e, "loading the document failed");
                ctx.stop();
            }
        }));
    }

    /// Makes a loaded document ready, or starts reading its records from a snapshot's lists.
    fn open(&mut self, loaded: store::Loaded, ctx: &mut Context<Self>) {
        self.snapshot_head = loaded.snapshot_head;
        let lists = match loaded.records {
            LoadedRecords::Rows(layers) => {
                self.phase = Phase::Ready(DocState::new(
                    loaded.head_seq,
                    loaded.log_floor,
                    Some(loaded.page_count),
                    layers,
                    self.config.limits,
                ));
                return;
            }
            LoadedRecords::Snapshot(lists) => Arc::new(lists),
        };
        crate::metrics::get().count_snapshot("opened");
        self.phase = Phase::Opening(Opening {
            head_seq: loaded.head_seq,
            log_floor: loaded.log_floor,
            page_count: loaded.page_count,
            lists: lists.clone(),
        });
        self.committing = true;
        let started = Instant::now();
        ctx.spawn(
            async move { tokio::task::spawn_blocking(move || snapshot::records_of(&lists)).await }
                .into_actor(self)
                .map(move |read, act, ctx| {
                    let read = read.unwrap_or_else(|e| Err(format!("reading stopped: {e}")));
                    act.opened(read, started, ctx)
                }),
        );
    }

    /// Whether a session joining now can be welcomed before the document is ready: it may see
    /// every record (a list serves it as it is) and has no head newer than the document's
    /// (which would need a catch-up first).
    pub(super) fn served_while_opening(&self, peer: &Peer, since: Option<i64>) -> bool {
        matches!(&self.phase, Phase::Opening(o)
            if peer.access.views_everything() && since.is_none_or(|s| s <= o.head_seq))
    }

    fn opened(&mut self, read: Result<Layers, String>, started: Instant, ctx: &mut Context<Self>) {
        let Phase::Opening(opening) = std::mem::replace(&mut self.phase, Phase::Loading) else {
            return;
        };
        match read {
            Ok(layers) => {
                let lists = Arc::try_unwrap(opening.lists).unwrap_or_else(|l| (*l).clone());
                let mut state = DocState::new(
                    opening.head_seq,
                    opening.log_floor,
                    Some(opening.page_count),
                    layers,
                    self.config.limits,
                );
                state.keep_lists(lists);
                tracing::debug!(document_id = %self.id, ms = started.elapsed().as_millis() as u64,
                    "records read from the stored snapshot");
                self.phase = Phase::Ready(state);
                self.settle(ctx);
            }
            Err(e) => {
                crate::metrics::get().count_snapshot("unreadable");
                tracing::error!(document_id = %self.id, error = %e,
                    "the stored snapshot's records are unreadable; it is deleted and the document reopened from its records");
                self.deferred.clear();
                self.refuse_pending("the document is reopening; send the change again");
                self.close_all(CloseReason::new(
                    CloseCode::Reconnect,
                    "the document is reopening on this server; reconnect",
                ));
                let (db, id, head) = (self.db.clone(), self.id.clone(), opening.head_seq);
                ctx.wait(
                    async move { snapshot::discard(&db.main, &id, head).await }
                        .into_actor(self)
                        .map(|res, act, ctx| {
                            if let Err(e) = res {
                                tracing::warn!(document_id = %act.id, error = %e,
                                    "deleting the unreadable snapshot failed");
                            }
                            ctx.stop();
                        }),
                );
            }
        }
    }
}
