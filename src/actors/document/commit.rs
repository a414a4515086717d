//! The commit path of a document: queueing changes (bounded), applying a batch with an exact
//! undo, committing it through the committer, and then answering and fanning out, or, when the
//! commit failed, putting memory back and refusing the batch. See the module documentation of
//! `document` for the guarantees.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;

use super::{reject_all, DocumentActor, Origin, Outgoing, Pending, Phase, Stage};
use crate::actors::state::{DocState, Outcome, Undo};
use crate::actors::views::{change_view, text};
use crate::protocol::{ChangeRequest, CloseCode, CloseReason, RejectCode};
use crate::store::{self, Batch, CommitError, LoggedChange};
use crate::time_util::now_micros;

/// Bytes of content a batch of requests carries.
fn content_bytes(changes: &[ChangeRequest]) -> usize {
    changes
        .iter()
        .map(|c| c.content.as_ref().map_or(0, |r| r.get().len()))
        .sum()
}

impl DocumentActor {
    /// Queues a batch for the next commit, or refuses it as `busy` when the queue is full.
    pub(super) fn enqueue(&mut self, pending: Pending) -> Result<(), Pending> {
        let bytes = content_bytes(&pending.changes);
        if self.pending_changes + pending.changes.len() > self.config.max_pending_changes
            || self.pending_bytes + bytes > self.config.max_pending_bytes
        {
            return Err(pending);
        }
        self.pending_changes += pending.changes.len();
        self.pending_bytes += bytes;
        crate::metrics::get()
            .pending_changes
            .add(pending.changes.len() as i64);
        self.pending.push(pending);
        Ok(())
    }

    /// Applies everything pending as one batch and commits it; acks and broadcasts follow the
    /// commit. At most one commit is in flight.
    pub(super) fn start_commit(&mut self, ctx: &mut Context<Self>) {
        if self.committing || self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        crate::metrics::get()
            .pending_changes
            .sub(self.pending_changes as i64);
        (self.pending_changes, self.pending_bytes) = (0, 0);
        let Phase::Ready(state) = &mut self.phase else {
            let answers = pending
                .into_iter()
                .map(|p| {
                    let refused = reject_all(
                        &p.changes,
                        RejectCode::Unavailable,
                        "the document is not open on this server; send the change again",
                    );
                    (p.origin, refused)
                })
                .collect();
            self.deliver(answers, &[]);
            return;
        };
        let now = now_micros();
        let old_head = state.head_seq;
        let mut log: Vec<LoggedChange> = Vec::new();
        let mut undo = Undo::default();
        let mut answers: Vec<(Origin, Vec<Outcome>)> = Vec::new();
        for p in pending {
            // The identity a change is stored under must fit the schema: refused here, on
            // every backend, rather than failing the transaction.
            let identity = crate::limits::check_identity(
                &p.access.user_id,
                p.access.user_name.as_deref(),
                &p.layer,
                p.access.group.as_deref(),
            );
            let outcomes = match identity {
                Err(v) => reject_all(&p.changes, RejectCode::Invalid, &v.message),
                Ok(()) => p
                    .changes
                    .into_iter()
                    .map(|req| {
                        let next = old_head + log.len() as i64 + 1;
                        state.apply(&p.access, &p.layer, req, next, now, &mut log, &mut undo)
                    })
                    .collect(),
            };
            answers.push((p.origin, outcomes));
        }
        if log.is_empty() {
            self.deliver(answers, &[]);
            return;
        }
        let new_head = log.last().map(|c| c.seq).unwrap_or(old_head);
        let floor = new_head - self.config.log_retention;
        let prune_to = (floor > state.log_floor && new_head / 64 != old_head / 64).then_some(floor);
        let batch = Batch {
            document_id: self.id.clone(),
            old_head,
            changes: log,
            prune_to,
        };
        self.committing = true;
        let committer = self.db.committer.clone();
        let started = Instant::now();
        ctx.spawn(
            async move { committer.commit(batch, now).await }
                .into_actor(self)
                .map(move |(batch, res), act, ctx| {
                    act.committing = false;
                    match res {
                        Ok(()) => {
                            crate::metrics::get()
                                .changes_committed
                                .inc_by(batch.changes.len() as u64);
                            tracing::debug!(document_id = %act.id, changes = batch.changes.len(),
                                micros = started.elapsed().as_micros() as u64, "batch committed");
                            if let Phase::Ready(state) = &mut act.phase {
                                state.head_seq = batch.new_head();
                                if let Some(floor) = batch.prune_to {
                                    state.log_floor = floor;
                                }
                            }
                            act.deliver(answers, &batch.changes);
                        }
                        Err(e) => act.commit_failed(ctx, e, undo, answers),
                    }
                    for work in std::mem::take(&mut act.deferred) {
                        work(act, ctx);
                    }
                    act.start_commit(ctx);
                }),
        );
    }

    /// A commit failed: memory goes back to what is committed, and the batch's accepted changes
    /// are refused (`unavailable`: retry; `invalid`: the database refused a value). Sessions stay
    /// connected. If the sequence row moved (another writer, or the document was deleted), the
    /// document is reloaded: a deleted one closes its sessions.
    pub(super) fn commit_failed(
        &mut self,
        ctx: &mut Context<Self>,
        error: CommitError,
        undo: Undo,
        answers: Vec<(Origin, Vec<Outcome>)>,
    ) {
        if let Phase::Ready(state) = &mut self.phase {
            undo.rollback(state);
        }
        let kind = match &error {
            CommitError::Refused(_) => "refused",
            CommitError::Conflict(_) => "conflict",
            CommitError::Unavailable(_) => "unavailable",
        };
        crate::metrics::get()
            .commit_failures
            .with_label_values(&[kind])
            .inc();
        let (code, message) = match &error {
            CommitError::Refused(_) => (
                RejectCode::Invalid,
                "the database refused a value in this change; it was not applied",
            ),
            CommitError::Conflict(_) | CommitError::Unavailable(_) => (
                RejectCode::Unavailable,
                "the server could not commit this change; nothing was applied, send it again",
            ),
        };
        tracing::error!(document_id = %self.id, error = %error, "commit failed; the batch is refused");
        let answers = answers
            .into_iter()
            .map(|(origin, outcomes)| {
                let outcomes = outcomes
                    .into_iter()
                    .map(|o| match o {
                        Outcome::Ack { client_id, .. } => Outcome::Reject {
                            client_id,
                            code,
                            message: message.to_string(),
                            current: None,
                        },
                        reject => reject,
                    })
                    .collect();
                (origin, outcomes)
            })
            .collect();
        self.deliver(answers, &[]);
        if matches!(error, CommitError::Conflict(_)) {
            self.reload(ctx);
        }
    }

    /// Loads the document again (its sequence row moved under this actor). Until it is loaded,
    /// nothing else is handled.
    pub(super) fn reload(&mut self, ctx: &mut Context<Self>) {
        let db = self.db.clone();
        let id = self.id.clone();
        ctx.wait(
            async move { store::load(&db.main, &id).await }
                .into_actor(self)
                .map(|res, act, ctx| match res {
                    Ok(Some(loaded)) => act.phase = Phase::Ready(act.state_from(loaded)),
                    Ok(None) => {
                        act.close_all(CloseReason::new(
                            CloseCode::DocumentDeleted,
                            "the document was deleted",
                        ));
                        ctx.stop();
                    }
                    Err(e) => {
                        tracing::error!(document_id = %act.id, error = %e, "reloading the document failed");
                        act.close_all(CloseReason::new(
                            CloseCode::Reconnect,
                            "the document is reopening on this server; reconnect",
                        ));
                        ctx.stop();
                    }
                }),
        );
    }

    pub(super) fn state_from(&self, loaded: store::Loaded) -> DocState {
        DocState::new(
            loaded.head_seq,
            loaded.log_floor,
            Some(loaded.page_count),
            loaded.layers,
            self.config.limits,
        )
    }

    /// After a commit: answers every sender, then fans the committed changes out.
    pub(super) fn deliver(&mut self, answers: Vec<(Origin, Vec<Outcome>)>, log: &[LoggedChange]) {
        // Answers go out in request order, each ack at its change's place in sequence order:
        // every session sees its own answers and others' changes in the order the server
        // committed them. A reject follows the ack of the change requested before it.
        let mut answered_at: HashMap<i64, (u64, Vec<Arc<str>>)> = HashMap::new();
        for (origin, outcomes) in answers {
            crate::metrics::get().count_outcomes(&outcomes);
            match origin {
                Origin::Session(id) => {
                    let mut last_ack = None;
                    for o in &outcomes {
                        match (o, last_ack) {
                            (Outcome::Ack { seq, .. }, _) => {
                                answered_at.insert(*seq, (id, vec![text(o)]));
                                last_ack = Some(*seq);
                            }
                            (Outcome::Reject { .. }, Some(seq)) => {
                                if let Some((_, msgs)) = answered_at.get_mut(&seq) {
                                    msgs.push(text(o));
                                }
                            }
                            (Outcome::Reject { .. }, None) => {
                                self.send(id, Outgoing::Text(text(o)))
                            }
                        }
                    }
                }
                Origin::Backend(reply) => {
                    let _ = reply.send(outcomes);
                }
            }
        }
        for change in log {
            let author_session = answered_at.remove(&change.seq).map(|(id, msgs)| {
                for m in msgs {
                    self.send(id, Outgoing::Text(m));
                }
                id
            });
            let msg = text(&change_view(change));
            let targets: Vec<u64> = self
                .sessions
                .iter()
                .filter(|(id, s)| {
                    Some(**id) != author_session
                        && s.stage != Stage::Registered
                        && s.peer.layer == change.layer
                        && s.peer.access.can_view(
                            change.record.kind,
                            &change.record.creator,
                            change.record.group.as_deref(),
                        )
                })
                .map(|(id, _)| *id)
                .collect();
            for id in targets {
                self.send(id, Outgoing::Text(msg.clone()));
            }
        }
    }
}
