//! What a document shows: the welcome of a joining session (a snapshot, or the changes after
//! its `since`) and the REST reads, always of committed state.

use actix::prelude::*;
use tokio::sync::oneshot;

use super::opening::Opening;
use super::{DocumentActor, DocumentError, Kick, Outgoing, Phase, Stage};
use crate::actors::state::DocState;
use crate::auth::access::Access;
use crate::store::{self, LoggedChange};
use crate::wire::common::{CloseCode, CloseReason, SnapshotRecords, PROTOCOL_VERSION};
use crate::wire::server::{
    change_view, json_sized, session_label, size_hint_for, text_sized, ChangeView, PresenceEntry,
    RecordsBody, UserView, Welcome,
};

/// The snapshot of `layer` that `access` may see (every record with `None`: the backend's
/// view), oldest change first: the records of a welcome and of a REST read. A session that
/// may see every record gets the layer's shared list when it is kept
/// ([`DocState::keep_full_snapshot`], which [`keep_shared_snapshot`] calls for it first).
fn snapshot_records<'a>(
    state: &'a DocState,
    layer: &str,
    access: Option<&Access>,
) -> SnapshotRecords<'a> {
    match state
        .full_snapshot(layer)
        .filter(|_| access.is_none_or(Access::views_everything))
    {
        Some(list) => SnapshotRecords::Shared(list),
        None => SnapshotRecords::Built(state.views(layer, |r| {
            access.is_none_or(|a| a.can_view(r.kind, &r.creator, r.group.as_deref()))
        })),
    }
}

/// Builds the layer's shared snapshot before a snapshot for `access` when `access` may see
/// every record, so [`snapshot_records`] can send it.
fn keep_shared_snapshot(state: &mut DocState, layer: &str, access: Option<&Access>) {
    if access.is_none_or(Access::views_everything) {
        state.keep_full_snapshot(layer);
    }
}

/// The logged changes that `access` may see (every one with `None`), as sent to clients.
fn visible_changes<'a>(
    changes: &'a [LoggedChange],
    access: Option<&Access>,
) -> Vec<ChangeView<'a>> {
    changes
        .iter()
        .filter(|c| {
            access.is_none_or(|a| {
                a.can_view(c.record.kind, &c.record.creator, c.record.group.as_deref())
            })
        })
        .map(change_view)
        .collect()
}

impl DocumentActor {
    /// The oldest `since` that is answered from the log: older ones get a snapshot. The log may
    /// hold more than the retention (it is pruned in steps), but what is served is exactly the
    /// documented window.
    pub(super) fn log_window(log_floor: i64, head: i64, retention: i64) -> i64 {
        log_floor.max(head - retention)
    }

    /// Accepts a registered session at the current head and starts its welcome.
    pub(super) fn accept(&mut self, session_id: u64, ctx: &mut Context<Self>) {
        let (head, window) = match &self.phase {
            Phase::Ready(DocState {
                head_seq,
                log_floor,
                ..
            })
            | Phase::Opening(Opening {
                head_seq,
                log_floor,
                ..
            }) => (
                *head_seq,
                Self::log_window(*log_floor, *head_seq, self.config.log_retention),
            ),
            Phase::Missing | Phase::Loading => {
                let reason = CloseReason::new(
                    CloseCode::DocumentDeleted,
                    format!("document `{}` does not exist", self.id),
                );
                if let Some(session) = self.sessions.remove(&session_id) {
                    session.peer.control.do_send(Kick(reason));
                }
                return;
            }
        };
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return; // It left before it could be welcomed.
        };
        // A client that saw a newer head on another node waits until this node has caught up
        // (once: a `since` the database does not have either gets a snapshot), rather than be
        // shown an older state than it had.
        if let Some(since) = session.since.filter(|&s| s > head) {
            if self.config.catch_up_every.is_some() && !session.waited_for_head {
                session.waited_for_head = true;
                self.hinted_head = self.hinted_head.max(since);
                self.deferred
                    .push(Box::new(move |act, ctx| act.accept(session_id, ctx)));
                self.catch_up(ctx);
                return;
            }
        }
        session.stage = Stage::Accepted;
        let since = session.since;
        let layer = session.peer.layer.clone();

        // Tell the others first, so the newcomer's presence list and their view agree.
        let access = session.peer.access.clone();
        self.announce(
            Some(session_id),
            session_label(session_id),
            super::presence::Event::Joined {
                user_id: access.user_id.clone(),
                user_name: access.user_name.clone(),
                state: None,
            },
        );
        self.share_presence(
            session_id,
            crate::bus::PresenceKind::Joined,
            &access.user_id,
        );

        match since.filter(|&s| s >= window && s <= head) {
            Some(s) if s < head => {
                let db = self.db.clone();
                let id = self.id.clone();
                ctx.spawn(
                    async move { store::read_log(&db.main, &id, &layer, s, head).await }
                        .into_actor(self)
                        .map(move |res, act, _| match res {
                            Ok(changes) => act.welcome(session_id, head, None, Some(&changes)),
                            Err(e) => {
                                tracing::error!(document_id = %act.id, error = %e, "reading the change log failed");
                                act.drop_session(
                                    session_id,
                                    CloseReason::new(
                                        CloseCode::Reconnect,
                                        "the server could not read the document's changes; reconnect",
                                    ),
                                );
                            }
                        }),
                );
            }
            Some(_) => self.welcome(session_id, head, None, Some(&[])),
            None => self.welcome(session_id, head, Some(()), None),
        }
    }

    /// Sends the welcome (a snapshot when `snapshot` is set, else `changes`), then the backlog.
    pub(super) fn welcome(
        &mut self,
        session_id: u64,
        head: i64,
        snapshot: Option<()>,
        changes: Option<&[LoggedChange]>,
    ) {
        let Some(session) = self.sessions.get(&session_id) else {
            return;
        };
        let access = &session.peer.access;
        if let (Some(()), Phase::Ready(state)) = (snapshot, &mut self.phase) {
            keep_shared_snapshot(state, &session.peer.layer, Some(access.as_ref()));
        }
        let layer = &session.peer.layer;
        let (page_count, snapshot) = match &self.phase {
            Phase::Ready(state) => (
                state.page_count,
                snapshot.map(|_| snapshot_records(state, layer, Some(access.as_ref()))),
            ),
            // Only sessions that may see every record are welcomed while opening.
            Phase::Opening(opening) => (
                Some(opening.page_count),
                snapshot.map(|_| opening.records(layer)),
            ),
            Phase::Loading | Phase::Missing => return,
        };
        let changes = changes.map(|cs| visible_changes(cs, Some(access.as_ref())));
        let presence: Vec<PresenceEntry> = self
            .sessions
            .iter()
            .filter(|(id, s)| **id != session_id && s.stage != Stage::Registered)
            .map(|(id, s)| PresenceEntry {
                session_id: session_label(*id),
                user_id: &s.peer.access.user_id,
                user_name: s.peer.access.user_name.as_deref(),
                state: s.presence.as_deref(),
            })
            .chain(self.remote_presence())
            .collect();
        let size_hint = size_hint_for(snapshot.as_ref());
        let msg = text_sized(
            &Welcome {
                kind: "welcome",
                protocol: PROTOCOL_VERSION,
                session_id: session_label(session_id),
                document_id: &self.id,
                page_count,
                user: UserView {
                    user_id: &access.user_id,
                    user_name: access.user_name.as_deref(),
                    group: access.group.as_deref(),
                },
                rights: &session.peer.rights,
                layer: &session.peer.layer,
                head_seq: head,
                records: snapshot,
                changes,
                presence,
            },
            size_hint,
        );
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return;
        };
        session.stage = Stage::Ready;
        session.presence_from = self.presence_queue.mark();
        let backlog = std::mem::take(&mut session.backlog);
        self.send(session_id, Outgoing::Text(msg));
        for m in backlog {
            self.send(session_id, m);
        }
    }

    pub(super) fn read(
        &mut self,
        layer: &str,
        since: Option<i64>,
        access: Option<&Access>,
        ctx: &mut Context<Self>,
        reply: oneshot::Sender<Result<String, DocumentError>>,
    ) {
        let Phase::Ready(state) = &mut self.phase else {
            let _ = reply.send(Err(DocumentError::NotFound(self.id.clone())));
            return;
        };
        let head = state.head_seq;
        let window = Self::log_window(state.log_floor, head, self.config.log_retention);
        match since.filter(|&s| s >= window && s <= head) {
            Some(s) => {
                let (db, id, layer, access) = (
                    self.db.clone(),
                    self.id.clone(),
                    layer.to_string(),
                    access.cloned(),
                );
                ctx.spawn(
                    async move {
                        let res =
                            store::read_log(&db.main, &id, &layer, s, head)
                                .await
                                .map(|changes| {
                                    let body = RecordsBody {
                                        document_id: &id,
                                        layer: &layer,
                                        head_seq: head,
                                        records: None,
                                        changes: Some(visible_changes(&changes, access.as_ref())),
                                    };
                                    json_sized(&body, size_hint_for(body.records.as_ref()))
                                });
                        let _ = reply.send(res.map_err(|e| {
                            tracing::error!(error = %e, "reading the change log failed");
                            DocumentError::Unavailable
                        }));
                    }
                    .into_actor(self),
                );
            }
            None => {
                keep_shared_snapshot(state, layer, access);
                let body = RecordsBody {
                    document_id: &self.id,
                    layer,
                    head_seq: head,
                    records: Some(snapshot_records(state, layer, access)),
                    changes: None,
                };
                let hint = size_hint_for(body.records.as_ref());
                let _ = reply.send(Ok(json_sized(&body, hint)));
            }
        }
    }
}
