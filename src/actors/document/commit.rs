//! The commit path of a document: queueing changes (bounded), applying a batch with an exact
//! undo, committing it through the committer, and then answering and fanning out, or, when the
//! commit failed, putting memory back and refusing the batch. See the module documentation of
//! `document` for the guarantees.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::{DocumentActor, Origin, Outgoing, Pending, Phase, Stage};
use crate::actors::state::{reject_all, DocState, Undo};
use crate::auth::access::Access;
use crate::store::{self, Batch, CommitError, LoggedChange, Missed};
use crate::time_util::now_micros;
use crate::wire::client::ChangeRequest;
use crate::wire::common::{CloseCode, CloseReason, RejectCode};
use crate::wire::server::{change_view, text, Outcome};

/// How often one request is tried when other nodes keep committing first. Each try merges with
/// whatever else queued meanwhile, so a node that loses keeps its throughput; three nodes
/// writing one document as fast as they can lose a handful of times in a row at most.
pub(super) const MAX_ATTEMPTS: u8 = 48;

/// Most changes one catch-up read applies; more are read in the next round.
pub(super) const CATCH_UP_CHUNK: u64 = 2_000;

/// A batch applied to memory and being committed: what answers it, what takes it back, and
/// what asks it again after a lost race.
pub(super) struct Applied {
    undo: Undo,
    answers: Vec<(Origin, Vec<Outcome>)>,
    retries: Vec<Retry>,
    now: i64,
    started: Instant,
}

impl Applied {
    /// When the batch was applied (its changes' time).
    pub(super) fn now(&self) -> i64 {
        self.now
    }
}

/// A request as it was asked, to be validated and committed again after a catch-up.
struct Retry {
    access: Arc<Access>,
    layer: String,
    changes: Vec<ChangeRequest>,
    attempts: u8,
    group: Option<u64>,
}

/// Where a batch stood when an all-or-nothing group started in it.
struct GroupMark {
    undo: usize,
    log: usize,
    answers: usize,
}

impl GroupMark {
    /// Ends the group: if any of its changes was rejected, takes back every change it applied
    /// (memory and log) and answers its other changes `aborted`.
    fn settle(
        self,
        state: &mut DocState,
        undo: &mut Undo,
        log: &mut Vec<LoggedChange>,
        answers: &mut [(Origin, Vec<Outcome>)],
    ) {
        let group = &mut answers[self.answers..];
        let refused = group
            .iter()
            .flat_map(|(_, outcomes)| outcomes)
            .any(|o| matches!(o, Outcome::Reject { .. }));
        if !refused {
            return;
        }
        undo.rollback_to(self.undo, state);
        log.truncate(self.log);
        for (_, outcomes) in group.iter_mut() {
            refuse_acks(
                outcomes,
                RejectCode::Aborted,
                "not applied: this batch is all or nothing, and another of its changes was rejected",
            );
        }
    }
}

/// Turns the acks among `outcomes` into rejects with `code` and `message`: the changes they
/// answered were not applied after all. Rejects stay as they were.
fn refuse_acks(outcomes: &mut [Outcome], code: RejectCode, message: &str) {
    for o in outcomes {
        if let Outcome::Ack { client_id, .. } = o {
            *o = Outcome::Reject {
                client_id: std::mem::take(client_id),
                code,
                message: message.to_string(),
                current: None,
            };
        }
    }
}

/// Bytes of content a batch of requests carries.
fn content_bytes(changes: &[ChangeRequest]) -> usize {
    changes
        .iter()
        .map(|c| c.content.as_ref().map_or(0, |r| r.get().len()))
        .sum()
}

impl DocumentActor {
    /// Sets the queue's counts, keeping the node-wide pending-changes gauge in step.
    fn set_pending(&mut self, changes: usize, bytes: usize) {
        crate::metrics::get()
            .pending_changes
            .add(changes as i64 - self.pending_changes as i64);
        (self.pending_changes, self.pending_bytes) = (changes, bytes);
    }

    /// Queues a batch for the next commit, or hands it back when the queue is full (it is then
    /// refused as `busy`).
    pub(super) fn enqueue(&mut self, pending: Pending) -> Result<(), Pending> {
        self.enqueue_all(vec![pending])
            .map_err(|mut refused| refused.remove(0))
    }

    /// Queues the batches of an all-or-nothing group, all of them or (when they do not fit in
    /// the queue) none.
    pub(super) fn enqueue_all(&mut self, pendings: Vec<Pending>) -> Result<(), Vec<Pending>> {
        let changes: usize = pendings.iter().map(|p| p.changes.len()).sum();
        let bytes: usize = pendings.iter().map(|p| content_bytes(&p.changes)).sum();
        if self.pending_changes + changes > self.config.max_pending_changes
            || self.pending_bytes + bytes > self.config.max_pending_bytes
        {
            return Err(pendings);
        }
        self.set_pending(self.pending_changes + changes, self.pending_bytes + bytes);
        self.pending.extend(pendings);
        Ok(())
    }

    /// Applies everything pending as one batch and commits it; acks and broadcasts follow the
    /// commit. At most one commit is in flight, and a busy document commits at most once per
    /// `commit_interval` (`pacing.rs`). A contended document (several nodes writing
    /// it) commits under its sequence row's lock instead (`locked.rs`).
    pub(super) fn start_commit(&mut self, ctx: &mut Context<Self>) {
        if self.committing || self.pending.is_empty() {
            return;
        }
        let Phase::Ready(_) = &self.phase else {
            self.refuse_pending("the document is not open on this server; send the change again");
            return;
        };
        if self.must_wait_for_pace(ctx) {
            return;
        }
        self.commit_starts();
        if self.contended() {
            self.commit_under_lock(ctx);
            return;
        }
        let Some((batch, applied)) = self.apply_pending() else {
            return;
        };
        self.committing = true;
        let committer = self.db.committer.clone();
        let now = applied.now;
        ctx.spawn(
            async move { committer.commit(batch, now).await }
                .into_actor(self)
                .map(move |(batch, res), act, ctx| act.committed(ctx, batch, res, applied)),
        );
    }

    /// Applies everything pending to memory as one batch, to be committed. `None` when no
    /// change of it is left to commit (every answer, all rejects, is then already delivered).
    pub(super) fn apply_pending(&mut self) -> Option<(Batch, Applied)> {
        let pending = std::mem::take(&mut self.pending);
        self.set_pending(0, 0);
        let Phase::Ready(state) = &mut self.phase else {
            self.pending = pending;
            self.refuse_pending("the document is not open on this server; send the change again");
            return None;
        };
        let now = now_micros();
        let old_head = state.head_seq;
        let mut log: Vec<LoggedChange> = Vec::new();
        let mut undo = Undo::default();
        let mut answers: Vec<(Origin, Vec<Outcome>)> = Vec::new();
        // What was asked, kept to be asked again if another node commits first.
        let mut retries: Vec<Retry> = Vec::new();
        // The all-or-nothing group being applied: its number and where the batch stood before it.
        let mut open: Option<(u64, GroupMark)> = None;
        for p in pending {
            if open.as_ref().map(|(g, _)| *g) != p.group {
                if let Some((_, mark)) = open.take() {
                    mark.settle(state, &mut undo, &mut log, &mut answers);
                }
                open = p.group.map(|g| {
                    let mark = GroupMark {
                        undo: undo.mark(),
                        log: log.len(),
                        answers: answers.len(),
                    };
                    (g, mark)
                });
            }
            retries.push(Retry {
                access: p.access.clone(),
                layer: p.layer.clone(),
                changes: p.changes.clone(),
                attempts: p.attempts,
                group: p.group,
            });
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
        if let Some((_, mark)) = open.take() {
            mark.settle(state, &mut undo, &mut log, &mut answers);
        }
        if log.is_empty() {
            self.deliver(answers, &[]);
            return None;
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
        Some((
            batch,
            Applied {
                undo,
                answers,
                retries,
                now,
                started: Instant::now(),
            },
        ))
    }

    /// Ends a commit: on success records the new head, answers and fans out; on a lost race
    /// catches up and tries again; on a failure puts memory back and refuses the batch.
    pub(super) fn committed(
        &mut self,
        ctx: &mut Context<Self>,
        batch: Batch,
        res: Result<(), CommitError>,
        applied: Applied,
    ) {
        let Applied {
            undo,
            answers,
            retries,
            started,
            ..
        } = applied;
        match res {
            Ok(()) => {
                crate::metrics::get()
                    .changes_committed
                    .inc_by(batch.changes.len() as u64);
                tracing::debug!(document_id = %self.id, changes = batch.changes.len(),
                        micros = started.elapsed().as_micros() as u64, "batch committed");
                if let Phase::Ready(state) = &mut self.phase {
                    state.head_seq = batch.new_head();
                    if let Some(floor) = batch.prune_to {
                        state.log_floor = floor;
                    }
                }
                self.deliver(answers, &batch.changes);
                self.settle(ctx);
            }
            Err(CommitError::Conflict(_)) => self.lost_race(ctx, undo, answers, retries),
            Err(e) => {
                self.commit_failed(e, undo, answers);
                self.settle(ctx);
            }
        }
    }

    /// Ends a commit or a catch-up: a hint of a newer head starts the next catch-up; otherwise
    /// the work that waited runs and the next batch is committed.
    pub(super) fn settle(&mut self, ctx: &mut Context<Self>) {
        self.committing = false;
        if let Phase::Ready(state) = &self.phase {
            if self.hinted_head > state.head_seq {
                self.catch_up(ctx);
                return;
            }
        }
        for work in std::mem::take(&mut self.deferred) {
            work(self, ctx);
        }
        self.start_commit(ctx);
    }

    /// Another writer (another node) committed first: memory goes back to what this node knew,
    /// the batch's requests go back to the front of the queue (each at most [`MAX_ATTEMPTS`]
    /// times; past it they are refused as `unavailable`), and the actor catches up from the
    /// log, after which they are validated again against the new state and committed.
    fn lost_race(
        &mut self,
        ctx: &mut Context<Self>,
        undo: Undo,
        answers: Vec<(Origin, Vec<Outcome>)>,
        retries: Vec<Retry>,
    ) {
        if let Phase::Ready(state) = &mut self.phase {
            undo.rollback(state);
            self.hinted_head = self.hinted_head.max(state.head_seq + 1);
        }
        self.mark_contended();
        crate::metrics::get()
            .commit_failures
            .with_label_values(&["conflict"])
            .inc();
        let mut again = Vec::new();
        let mut refused = Vec::new();
        for ((origin, outcomes), retry) in answers.into_iter().zip(retries) {
            if retry.attempts + 1 >= MAX_ATTEMPTS {
                refused.push((origin, outcomes));
            } else {
                again.push(Pending {
                    origin,
                    access: retry.access,
                    layer: retry.layer,
                    changes: retry.changes,
                    attempts: retry.attempts + 1,
                    group: retry.group,
                });
            }
        }
        tracing::debug!(document_id = %self.id, retried = again.len(), refused = refused.len(),
            "another writer committed first; catching up");
        if !refused.is_empty() {
            tracing::warn!(document_id = %self.id, attempts = MAX_ATTEMPTS, "other writers kept committing first; refusing the changes");
            let head = self.head().unwrap_or_default();
            self.commit_failed(CommitError::Conflict(head), Undo::default(), refused);
        }
        let losses = again.iter().map(|p| p.attempts).max().unwrap_or(0);
        again.append(&mut self.pending);
        self.set_pending(
            again.iter().map(|p| p.changes.len()).sum(),
            again.iter().map(|p| content_bytes(&p.changes)).sum(),
        );
        self.pending = again;
        // After a few lost races in a row, a random pause (growing, at most 50 ms) lets the
        // other writers' commits through instead of racing them again at once.
        if losses >= 3 {
            self.committing = true;
            let pause = rand::random::<u64>() % (1u64 << losses.min(6)).min(50) + 1;
            ctx.run_later(Duration::from_millis(pause), |act, ctx| act.catch_up(ctx));
        } else {
            self.catch_up(ctx);
        }
    }

    /// Reads what other writers committed after this node's head, applies it to memory and
    /// fans it out to this node's sessions. Holds the actor as a commit does (joins and reads
    /// wait) until it is done, then settles.
    pub(super) fn catch_up(&mut self, ctx: &mut Context<Self>) {
        let Phase::Ready(state) = &self.phase else {
            return;
        };
        self.committing = true;
        let after = state.head_seq;
        let target = self.hinted_head;
        let db = self.db.clone();
        let id = self.id.clone();
        ctx.spawn(
            async move { store::read_missed(&db.main, &id, after, CATCH_UP_CHUNK).await }
                .into_actor(self)
                .map(move |res, act, ctx| {
                    match res {
                        Ok(missed) => {
                            if !act.absorb_missed(ctx, missed, target) {
                                return;
                            }
                        }
                        Err(e) => {
                            // The database is away: what is pending is tried (and refused as
                            // `unavailable`) as usual; the next commit or hint catches up.
                            tracing::warn!(document_id = %act.id, error = %e, "catching up failed");
                            if let Some(head) = act.head() {
                                act.hinted_head = act.hinted_head.min(head);
                            }
                        }
                    }
                    act.settle(ctx);
                }),
        );
    }

    /// Applies and fans out what other writers committed, as a catch-up read it (`target`: the
    /// hinted head it set out to reach). False when the actor is stopping instead (the
    /// document was deleted, or this node fell behind the retained log): nothing more to do.
    pub(super) fn absorb_missed(
        &mut self,
        ctx: &mut Context<Self>,
        missed: Missed,
        target: i64,
    ) -> bool {
        match missed {
            Missed::Changes { head, changes } => {
                if let Phase::Ready(state) = &mut self.phase {
                    for change in &changes {
                        state.absorb(change);
                    }
                }
                if !changes.is_empty() {
                    tracing::debug!(document_id = %self.id, changes = changes.len(), head, "caught up");
                    // Another node writes this document too.
                    self.mark_contended();
                }
                self.deliver(Vec::new(), &changes);
                // A hint that came in during the read may be past what was read: it is kept
                // for another round. Otherwise the database's head is the goal (reached,
                // unless the read was cut at its chunk).
                if self.hinted_head <= target {
                    self.hinted_head = head;
                }
                true
            }
            Missed::Deleted => {
                self.refuse_pending("the document was deleted");
                self.close_all(CloseReason::new(
                    CloseCode::DocumentDeleted,
                    "the document was deleted",
                ));
                self.phase = Phase::Missing;
                self.committing = false;
                ctx.stop();
                false
            }
            Missed::Gap => {
                let after = self.head().unwrap_or_default();
                tracing::warn!(document_id = %self.id, after, "this node fell behind the retained log; the document reopens");
                self.refuse_pending("the document is reopening on this server; send it again");
                self.close_all(CloseReason::new(
                    CloseCode::Reconnect,
                    "the document is reopening on this server; reconnect",
                ));
                self.committing = false;
                ctx.stop();
                false
            }
        }
    }

    /// The head the document is at; `None` while it loads, or when it does not exist.
    pub(super) fn head(&self) -> Option<i64> {
        match &self.phase {
            Phase::Ready(state) => Some(state.head_seq),
            Phase::Opening(opening) => Some(opening.head_seq),
            Phase::Loading | Phase::Missing => None,
        }
    }

    /// Refuses everything queued as `unavailable` (the actor is going away).
    pub(super) fn refuse_pending(&mut self, message: &str) {
        let pending = std::mem::take(&mut self.pending);
        self.set_pending(0, 0);
        let answers = pending
            .into_iter()
            .map(|p| {
                (
                    p.origin,
                    reject_all(&p.changes, RejectCode::Unavailable, message),
                )
            })
            .collect();
        self.deliver(answers, &[]);
    }

    /// A commit failed: memory goes back to what is committed, and the batch's accepted changes
    /// are refused (`unavailable`: retry; `invalid`: the database refused a value). Sessions stay
    /// connected.
    pub(super) fn commit_failed(
        &mut self,
        error: CommitError,
        undo: Undo,
        mut answers: Vec<(Origin, Vec<Outcome>)>,
    ) {
        if let Phase::Ready(state) = &mut self.phase {
            undo.rollback(state);
        }
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
        let kind = match &error {
            CommitError::Refused(_) => "refused",
            CommitError::Conflict(_) => "conflict",
            CommitError::Unavailable(_) => "unavailable",
        };
        crate::metrics::get()
            .commit_failures
            .with_label_values(&[kind])
            .inc();
        tracing::error!(document_id = %self.id, error = %error, "commit failed; the batch is refused");
        for (_, outcomes) in answers.iter_mut() {
            refuse_acks(outcomes, code, message);
        }
        self.deliver(answers, &[]);
    }

    /// After a commit: answers every sender, then fans the committed changes out.
    pub(super) fn deliver(&mut self, answers: Vec<(Origin, Vec<Outcome>)>, log: &[LoggedChange]) {
        self.staging = true;
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
        // Who may hear of a change, per layer the commit touched, found once per commit rather
        // than by walking every session for every change: the sessions of the layer past their
        // registration, each with its rights unless it sees every record. Messages are staged
        // (pushed to `staged`, as `send` does while staging) while the sessions are borrowed.
        let mut audiences: HashMap<&str, Vec<(u64, Option<&Access>)>> = HashMap::new();
        for change in log {
            let author_session = answered_at.remove(&change.seq).map(|(id, msgs)| {
                for m in msgs {
                    self.staged.push((id, Outgoing::Text(m)));
                }
                id
            });
            let sessions = &self.sessions;
            let audience = audiences.entry(change.layer.as_str()).or_insert_with(|| {
                sessions
                    .iter()
                    .filter(|(_, s)| s.stage != Stage::Registered && s.peer.layer == change.layer)
                    .map(|(id, s)| {
                        let access = &*s.peer.access;
                        (*id, (!access.views_everything()).then_some(access))
                    })
                    .collect()
            });
            let msg = text(&change_view(change));
            let record = &change.record;
            for &(id, access) in audience.iter() {
                let visible = access.is_none_or(|a| {
                    a.can_view(record.kind, &record.creator, record.group.as_deref())
                });
                if visible && Some(id) != author_session {
                    self.staged.push((id, Outgoing::Text(msg.clone())));
                }
            }
        }
        self.flush_staged();
    }
}
