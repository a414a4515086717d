//! How a document actor closes: when it has been idle long enough, or when it is told to
//! (`CloseAll`: the document is deleted, or the server shuts down).
//!
//! A large document stores a snapshot of its records first (`store::snapshot`), so that its
//! next open, after a restart or once it is asked for again, reads one row and sends its
//! welcome from the stored list instead of reading and serialising every record. A snapshot is
//! due when the document holds at least `snapshot_min_records` records (and at most
//! [`SNAPSHOT_MAX_BYTES`] of content) and its stored snapshot, if any, is of another head.
//! Storing one never holds a document open for long: at most [`SNAPSHOTS_AT_ONCE`] are built
//! and written at a time over the whole server, each within a deadline (at shutdown, one
//! deadline for all); one that misses it is not stored, and the next open reads the records.

use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::{oneshot, Semaphore, SemaphorePermit};

use super::{CloseAll, DocumentActor, Kick, Phase, Stage};
use crate::db::Databases;
use crate::store;
use crate::wire::common::CloseReason;

/// Content past which a document stores no snapshot: building one holds the document's thread
/// and as much memory again as its records.
pub const SNAPSHOT_MAX_BYTES: usize = 64 * 1024 * 1024;

/// How long an idle document may take to store its snapshot.
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(10);

/// Snapshots built and written at once, over every document of the server: each holds a
/// snapshot's text in memory and a database connection.
pub const SNAPSHOTS_AT_ONCE: usize = 2;

static SNAPSHOT_WRITERS: Semaphore = Semaphore::const_new(SNAPSHOTS_AT_ONCE);

impl DocumentActor {
    fn is_idle(&self) -> bool {
        self.sessions.is_empty()
            && self.pending.is_empty()
            && !self.committing
            && !self.storing_snapshot
            && self.deferred.is_empty()
            && self
                .idle_since
                .is_some_and(|t| t.elapsed() >= self.config.idle_timeout)
    }

    /// Stops the actor once it has been idle for the idle timeout, after storing its snapshot
    /// if one is due (the next check stops it then).
    pub(super) fn close_if_idle(&mut self, ctx: &mut Context<Self>) {
        if !self.is_idle() {
            return;
        }
        if self.snapshot_due() {
            ctx.spawn(self.store_snapshot(Instant::now() + SNAPSHOT_TIMEOUT));
        } else {
            ctx.stop();
        }
    }

    /// Closes every session, telling the other nodes they left.
    pub(super) fn close_all(&mut self, reason: CloseReason) {
        for (id, session) in std::mem::take(&mut self.sessions) {
            session.peer.control.do_send(Kick(reason.clone()));
            if session.stage != Stage::Registered {
                self.share_presence(
                    id,
                    crate::bus::PresenceKind::Left,
                    &session.peer.access.user_id,
                );
            }
        }
        // Other nodes hear of the leaves now: this actor is stopping.
        self.flush_presence();
    }

    /// Whether the document should store a snapshot of its records now. Only committed state
    /// is stored: nothing may be in flight or waiting.
    fn snapshot_due(&self) -> bool {
        let Phase::Ready(state) = &self.phase else {
            return false;
        };
        let min = self.config.snapshot_min_records;
        min > 0
            && state.record_count() >= min
            && state.record_bytes() <= SNAPSHOT_MAX_BYTES
            && self.snapshot_head != Some(state.head_seq)
            && !self.committing
            && !self.storing_snapshot
            && self.pending.is_empty()
    }

    /// Stores the document's snapshot, if it is still due once a writer is free, unless
    /// `deadline` passes first. Once it is written (or its write failed), that head is not tried
    /// again; one that found no writer in time is tried at the next close.
    fn store_snapshot(&mut self, deadline: Instant) -> impl ActorFuture<Self, Output = ()> {
        self.storing_snapshot = true;
        let deadline = tokio::time::Instant::from_std(deadline);
        async move { tokio::time::timeout_at(deadline, SNAPSHOT_WRITERS.acquire()).await }
            .into_actor(self)
            .then(move |permit, act, _| {
                act.storing_snapshot = false;
                let due = act.snapshot_due();
                let write = match (permit, &mut act.phase) {
                    (Ok(Ok(permit)), Phase::Ready(state)) if due => {
                        let (head, started) = (state.head_seq, Instant::now());
                        let text = state.snapshot_text();
                        act.storing_snapshot = true;
                        act.snapshot_head = Some(head);
                        let (db, id) = (act.db.clone(), act.id.clone());
                        Some(write_snapshot(db, id, head, text, started, deadline, permit))
                    }
                    (Ok(Ok(_)), _) => None,
                    (Ok(Err(_)) | Err(_), _) => {
                        crate::metrics::get().count_snapshot("not_stored");
                        tracing::info!(document_id = %act.id, "no snapshot writer free in time; not stored");
                        None
                    }
                };
                async move {
                    if let Some(write) = write {
                        write.await;
                    }
                }
                .into_actor(act)
                .map(|(), act, _| act.storing_snapshot = false)
            })
    }
}

/// Writes a snapshot's text by `deadline` (it was built at `started`), then lets its writer go;
/// logs and counts what happened.
async fn write_snapshot(
    db: Databases,
    id: String,
    head: i64,
    text: String,
    started: Instant,
    deadline: tokio::time::Instant,
    writer: SemaphorePermit<'static>,
) {
    let bytes = text.len();
    let written =
        tokio::time::timeout_at(deadline, store::snapshot::write(&db.main, &id, head, text)).await;
    drop(writer);
    let metrics = crate::metrics::get();
    match written {
        Ok(Ok(stored)) => {
            metrics.count_snapshot("stored");
            tracing::info!(document_id = %id, head_seq = head, bytes, stored,
                ms = started.elapsed().as_millis() as u64, "snapshot stored");
        }
        Ok(Err(e)) => {
            metrics.count_snapshot("not_stored");
            tracing::warn!(document_id = %id, error = %e, "storing the document's snapshot failed");
        }
        Err(_) => {
            metrics.count_snapshot("not_stored");
            tracing::warn!(document_id = %id,
                "storing the document's snapshot took too long; not stored");
        }
    }
}

impl Handler<CloseAll> for DocumentActor {
    type Result = ResponseFuture<()>;
    fn handle(&mut self, msg: CloseAll, ctx: &mut Context<Self>) -> Self::Result {
        self.close_all(msg.reason);
        let (stopped, on_stop) = oneshot::channel();
        match msg.snapshot_by.filter(|_| self.snapshot_due()) {
            Some(deadline) => {
                // Nothing else runs until it is stored (or not): the actor stops right after.
                ctx.wait(self.store_snapshot(deadline).map(move |(), _, ctx| {
                    ctx.stop();
                    let _ = stopped.send(());
                }));
            }
            None => {
                ctx.stop();
                let _ = stopped.send(());
            }
        }
        Box::pin(async move {
            let _ = on_stop.await;
        })
    }
}
