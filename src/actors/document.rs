//! `DocumentActor`: the only writer of one document's state on this node.
//!
//! It loads the document's records when it starts, applies the changes its sessions send in one
//! order, commits each batch of changes that arrived together in one transaction (group commit),
//! and only then acknowledges them to their senders and fans them out. It never awaits a session:
//! it `try_send`s into each session's bounded outbox and disconnects a session whose outbox is
//! full, so one slow reader cannot stall the document.
//!
//! While a commit is in flight, new changes wait for the next batch, and joins and reads wait for
//! the commit to finish, so that what anyone is shown is always committed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::db::Databases;
use actix::prelude::*;
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};

use super::registry::{DocumentRegistry, Stopped};
use super::state::{DocState, Outcome};
use crate::auth::access::Access;
use crate::protocol::{
    Author, ChangeRequest, CloseCode, CloseReason, Op, RecordView, PROTOCOL_VERSION,
};
use crate::store::{self, Batch, LoggedChange};
use crate::time_util::now_micros;

/// Tuning of document actors.
#[derive(Debug, Clone)]
pub struct DocumentConfig {
    /// How many changes the log keeps per document for clients reconnecting with `since`.
    pub log_retention: i64,
    /// How long an actor without sessions lingers before stopping.
    pub idle_timeout: Duration,
}

pub use super::outbox::{Outbox, Outgoing};

/// Sent by a document actor to a session it drops: the session closes its socket with `reason`.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Kick(pub CloseReason);

/// What a document actor needs to know about a session.
#[derive(Clone)]
pub struct Peer {
    pub session_id: u64,
    pub access: Arc<Access>,
    pub layer: String,
    pub revocation_ids: Vec<String>,
    pub outbox: Outbox,
    pub control: Recipient<Kick>,
    /// The session's rights, as shown in the welcome (serialised once: it is kept per session).
    pub rights: Arc<RawValue>,
}

/// Sent by a session after hello: register it and send it a welcome (a snapshot, or the changes
/// after `since`). The welcome and everything after it arrive through the peer's outbox.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Join {
    pub peer: Peer,
    pub since: Option<i64>,
}

/// Sent by a session when it ends.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    pub session_id: u64,
}

/// A batch of changes from a session; each is answered in its outbox once committed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Submit {
    pub session_id: u64,
    pub changes: Vec<ChangeRequest>,
}

/// A batch of changes from the application's backend (REST); answered once committed.
#[derive(Message)]
#[rtype(result = "Result<Vec<Outcome>, DocumentError>")]
pub struct BackendSubmit {
    pub access: Access,
    pub layer: String,
    pub changes: Vec<ChangeRequest>,
}

/// A session's ephemeral presence state, relayed to the others and never stored.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetPresence {
    pub session_id: u64,
    pub state: Box<RawValue>,
}

/// Reads a layer's records (or the changes after `since`), as committed. `access` filters what
/// is visible; `None` is the backend's unfiltered view.
#[derive(Message)]
#[rtype(result = "Result<String, DocumentError>")]
pub struct ReadRecords {
    pub layer: String,
    pub since: Option<i64>,
    pub access: Option<Access>,
}

/// Closes every session (document deleted, server shutting down) and stops the actor.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseAll(pub CloseReason);

/// Closes the sessions holding any of these revoked token ids.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Revoked(pub Arc<HashSet<String>>);

/// Why a document actor could not serve a request.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("no document with id `{0}`")]
    NotFound(String),
    #[error("the document is temporarily unavailable; retry")]
    Unavailable,
}

struct Session {
    peer: Peer,
    presence: Option<Box<RawValue>>,
    /// False until the welcome is sent; messages meanwhile wait in `backlog`.
    ready: bool,
    backlog: Vec<Outgoing>,
}

enum Origin {
    Session(u64),
    Backend(oneshot::Sender<Vec<Outcome>>),
}

struct Pending {
    origin: Origin,
    access: Arc<Access>,
    layer: String,
    changes: Vec<ChangeRequest>,
}

/// Work that must wait until no commit is in flight.
type Deferred = Box<dyn FnOnce(&mut DocumentActor, &mut Context<DocumentActor>)>;

enum Phase {
    Loading,
    Ready(DocState),
    Missing,
}

/// One open document. See the module documentation.
pub struct DocumentActor {
    id: String,
    instance: u64,
    db: Databases,
    registry: Addr<DocumentRegistry>,
    config: DocumentConfig,
    phase: Phase,
    sessions: HashMap<u64, Session>,
    pending: Vec<Pending>,
    committing: bool,
    deferred: Vec<Deferred>,
    idle_since: Option<Instant>,
}

#[derive(Serialize)]
struct ChangeView<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: i64,
    op: Op,
    id: &'a str,
    record_kind: crate::protocol::Kind,
    record: Option<RecordView<'a>>,
    author: Author,
}

fn change_view(c: &LoggedChange) -> ChangeView<'_> {
    ChangeView {
        kind: "change",
        seq: c.seq,
        op: c.op,
        id: &c.record.id,
        record_kind: c.record.kind,
        record: (c.op != Op::Delete).then(|| c.record.view()),
        author: Author {
            user_id: c.author.clone(),
            user_name: c.author_name.clone(),
        },
    }
}

#[derive(Serialize)]
struct Welcome<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    protocol: u32,
    session_id: String,
    document_id: &'a str,
    page_count: Option<u32>,
    user: serde_json::Value,
    rights: &'a RawValue,
    layer: &'a str,
    head_seq: i64,
    records: Option<Vec<RecordView<'a>>>,
    changes: Option<Vec<ChangeView<'a>>>,
    presence: Vec<PresenceEntry<'a>>,
}

/// The body of a REST records read: a snapshot or the changes after `since`.
#[derive(Serialize)]
struct RecordsBody<'a> {
    document_id: &'a str,
    layer: &'a str,
    head_seq: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    records: Option<Vec<RecordView<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<Vec<ChangeView<'a>>>,
}

#[derive(Serialize)]
struct PresenceEntry<'a> {
    session_id: String,
    user_id: &'a str,
    user_name: Option<&'a str>,
    state: Option<&'a RawValue>,
}

fn text<T: Serialize>(value: &T) -> Arc<str> {
    Arc::from(serde_json::to_string(value).expect("protocol messages serialise"))
}

impl DocumentActor {
    pub fn new(
        id: String,
        instance: u64,
        db: Databases,
        registry: Addr<DocumentRegistry>,
        config: DocumentConfig,
    ) -> DocumentActor {
        DocumentActor {
            id,
            instance,
            db,
            registry,
            config,
            phase: Phase::Loading,
            sessions: HashMap::new(),
            pending: Vec::new(),
            committing: false,
            deferred: Vec::new(),
            idle_since: Some(Instant::now()),
        }
    }

    /// Queues `msg` for one session: into its backlog before its welcome, else into its
    /// outbox. A full outbox means the client is too slow: it is dropped.
    fn send(&mut self, session_id: u64, msg: Outgoing) {
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return;
        };
        if !session.ready {
            session.backlog.push(msg);
            return;
        }
        match session.peer.outbox.try_send(msg) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.drop_session(
                    session_id,
                    CloseReason::new(
                        CloseCode::TooSlow,
                        "the client did not read its messages fast enough",
                    ),
                );
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.sessions.remove(&session_id);
            }
        }
    }

    fn drop_session(&mut self, session_id: u64, reason: CloseReason) {
        if let Some(session) = self.sessions.remove(&session_id) {
            tracing::info!(document_id = %self.id, session_id, reason = reason.code.name(), "session dropped");
            session.peer.control.do_send(Kick(reason));
            self.announce_left(session_id, &session.peer.access.user_id);
        }
    }

    fn announce_left(&mut self, session_id: u64, user_id: &str) {
        let msg = text(&serde_json::json!({
            "type": "presence", "event": "left", "session_id": format!("s{session_id}"), "user_id": user_id,
        }));
        let others: Vec<u64> = self.sessions.keys().copied().collect();
        for id in others {
            self.send(id, Outgoing::Text(msg.clone()));
        }
        self.note_idle();
    }

    fn note_idle(&mut self) {
        if self.sessions.is_empty() && self.idle_since.is_none() {
            self.idle_since = Some(Instant::now());
        }
    }

    fn is_idle(&self) -> bool {
        self.sessions.is_empty()
            && self.pending.is_empty()
            && !self.committing
            && self.deferred.is_empty()
            && self
                .idle_since
                .is_some_and(|t| t.elapsed() >= self.config.idle_timeout)
    }

    /// Runs `work` now, or after the commit in flight.
    fn when_settled(&mut self, ctx: &mut Context<Self>, work: Deferred) {
        if self.committing {
            self.deferred.push(work);
        } else {
            work(self, ctx);
        }
    }

    fn accept(&mut self, join: Join, ctx: &mut Context<Self>) {
        let Join { peer, since } = join;
        let (head, log_floor) = match &self.phase {
            Phase::Ready(state) => (state.head_seq, state.log_floor),
            Phase::Missing | Phase::Loading => {
                let _ = peer.outbox.try_send(Outgoing::Close(CloseReason::new(
                    CloseCode::DocumentDeleted,
                    format!("document `{}` does not exist", self.id),
                )));
                return;
            }
        };
        let session_id = peer.session_id;
        self.idle_since = None;

        // Tell the others first, so the newcomer's presence list and their view agree.
        let joined = text(&serde_json::json!({
            "type": "presence", "event": "joined",
            "session": { "session_id": format!("s{session_id}"), "user_id": peer.access.user_id,
                         "user_name": peer.access.user_name, "state": null },
        }));
        let others: Vec<u64> = self.sessions.keys().copied().collect();
        for id in others {
            self.send(id, Outgoing::Text(joined.clone()));
        }

        let from_log = since.filter(|&s| s >= log_floor && s <= head);
        let layer = peer.layer.clone();
        self.sessions.insert(
            session_id,
            Session {
                peer,
                presence: None,
                ready: false,
                backlog: Vec::new(),
            },
        );

        match from_log {
            Some(s) if s < head => {
                let db = self.db.clone();
                let id = self.id.clone();
                ctx.spawn(
                    async move { store::read_log(&db.main, &id, &layer, s, head).await }
                        .into_actor(self)
                        .map(move |res, act, _| match res {
                            Ok(changes) => act.welcome(session_id, head, None, Some(&changes)),
                            Err(e) => {
                                tracing::error!(error = %e, "reading the change log failed");
                                act.drop_session(
                                    session_id,
                                    CloseReason::new(CloseCode::Reconnect, "retry"),
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
    fn welcome(
        &mut self,
        session_id: u64,
        head: i64,
        snapshot: Option<()>,
        changes: Option<&[LoggedChange]>,
    ) {
        let Phase::Ready(state) = &self.phase else {
            return;
        };
        let Some(session) = self.sessions.get(&session_id) else {
            return;
        };
        let access = &session.peer.access;
        let empty = HashMap::new();
        let records = state.layers.get(&session.peer.layer).unwrap_or(&empty);
        let snapshot: Option<Vec<RecordView>> = snapshot.map(|_| {
            let mut list: Vec<_> = records
                .values()
                .filter(|r| access.can_view(r.kind, &r.creator, r.group.as_deref()))
                .collect();
            list.sort_by_key(|r| r.rev);
            list.into_iter().map(|r| r.view()).collect()
        });
        let changes: Option<Vec<ChangeView>> = changes.map(|cs| {
            cs.iter()
                .filter(|c| {
                    access.can_view(c.record.kind, &c.record.creator, c.record.group.as_deref())
                })
                .map(change_view)
                .collect()
        });
        let presence: Vec<PresenceEntry> = self
            .sessions
            .iter()
            .filter(|(id, _)| **id != session_id)
            .map(|(id, s)| PresenceEntry {
                session_id: format!("s{id}"),
                user_id: &s.peer.access.user_id,
                user_name: s.peer.access.user_name.as_deref(),
                state: s.presence.as_deref(),
            })
            .collect();
        // A typed message, not `json!`: record content is raw JSON and must go out as sent
        // (a `Value` would reorder its keys).
        let msg = text(&Welcome {
            kind: "welcome",
            protocol: PROTOCOL_VERSION,
            session_id: format!("s{session_id}"),
            document_id: &self.id,
            page_count: state.page_count,
            user: serde_json::json!({
                "user_id": access.user_id, "user_name": access.user_name, "group": access.group,
            }),
            rights: &session.peer.rights,
            layer: &session.peer.layer,
            head_seq: head,
            records: snapshot,
            changes,
            presence,
        });
        let session = self.sessions.get_mut(&session_id).expect("checked above");
        session.ready = true;
        let backlog = std::mem::take(&mut session.backlog);
        self.send(session_id, Outgoing::Text(msg));
        for m in backlog {
            self.send(session_id, m);
        }
    }

    /// Applies everything pending as one batch and commits it; acks and broadcasts follow the
    /// commit. At most one commit is in flight.
    fn start_commit(&mut self, ctx: &mut Context<Self>) {
        if self.committing || self.pending.is_empty() {
            return;
        }
        let Phase::Ready(state) = &mut self.phase else {
            self.pending.clear();
            return;
        };
        let now = now_micros();
        let old_head = state.head_seq;
        let mut log: Vec<LoggedChange> = Vec::new();
        let mut answers: Vec<(Origin, Vec<Outcome>)> = Vec::new();
        for p in std::mem::take(&mut self.pending) {
            let mut outcomes = Vec::with_capacity(p.changes.len());
            for req in p.changes {
                let next = old_head + log.len() as i64 + 1;
                outcomes.push(state.apply(&p.access, &p.layer, req, next, now, &mut log));
            }
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
            async move {
                let (batch, res) = committer.commit(batch, now).await;
                (res, batch)
            }
            .into_actor(self)
            .map(move |(res, batch), act, ctx| {
                act.committing = false;
                match res {
                    Ok(()) => {
                        tracing::debug!(document_id = %act.id, changes = batch.changes.len(),
                            micros = started.elapsed().as_micros() as u64, "batch committed");
                        if let Phase::Ready(state) = &mut act.phase {
                            state.head_seq = batch.new_head();
                            if let Some(floor) = batch.prune_to {
                                state.log_floor = floor;
                            }
                        }
                        act.deliver(answers, &batch.changes);
                        for work in std::mem::take(&mut act.deferred) {
                            work(act, ctx);
                        }
                        act.start_commit(ctx);
                    }
                    Err(e) => act.fail(ctx, &e.to_string()),
                }
            }),
        );
    }

    /// After a commit: answers every sender, then fans the committed changes out.
    fn deliver(&mut self, answers: Vec<(Origin, Vec<Outcome>)>, log: &[LoggedChange]) {
        // Answers go out in request order, each ack at its change's place in sequence order:
        // every session sees its own answers and others' changes in the order the server
        // committed them. A reject follows the ack of the change requested before it.
        let mut answered_at: HashMap<i64, (u64, Vec<Arc<str>>)> = HashMap::new();
        for (origin, outcomes) in answers {
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

    /// A commit failed: memory may be ahead of the database. Close every session with
    /// `reconnect` and stop; the next join starts a fresh actor from the database.
    fn fail(&mut self, ctx: &mut Context<Self>, why: &str) {
        tracing::error!(document_id = %self.id, error = why, "document actor failed; sessions must reconnect");
        self.close_all(CloseReason::new(
            CloseCode::Reconnect,
            "the server could not commit; reconnect",
        ));
        self.pending.clear();
        self.deferred.clear();
        ctx.stop();
    }

    fn close_all(&mut self, reason: CloseReason) {
        for (_, session) in self.sessions.drain() {
            session.peer.control.do_send(Kick(reason.clone()));
        }
    }

    fn read(
        &self,
        layer: &str,
        since: Option<i64>,
        access: Option<&Access>,
        ctx: &mut Context<Self>,
        reply: oneshot::Sender<Result<String, DocumentError>>,
    ) {
        let Phase::Ready(state) = &self.phase else {
            let _ = reply.send(Err(DocumentError::NotFound(self.id.clone())));
            return;
        };
        let head = state.head_seq;
        let visible = |kind, creator: &str, group: Option<&str>| {
            access.is_none_or(|a| a.can_view(kind, creator, group))
        };
        match since.filter(|&s| s >= state.log_floor && s <= head) {
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
                                    let views: Vec<ChangeView> = changes
                                        .iter()
                                        .filter(|c| {
                                            access.as_ref().is_none_or(|a| {
                                                a.can_view(
                                                    c.record.kind,
                                                    &c.record.creator,
                                                    c.record.group.as_deref(),
                                                )
                                            })
                                        })
                                        .map(change_view)
                                        .collect();
                                    serde_json::to_string(&RecordsBody {
                                        document_id: &id,
                                        layer: &layer,
                                        head_seq: head,
                                        records: None,
                                        changes: Some(views),
                                    })
                                    .expect("records serialise")
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
                let empty = HashMap::new();
                let mut list: Vec<_> = state
                    .layers
                    .get(layer)
                    .unwrap_or(&empty)
                    .values()
                    .filter(|r| visible(r.kind, &r.creator, r.group.as_deref()))
                    .collect();
                list.sort_by_key(|r| r.rev);
                let views: Vec<RecordView> = list.into_iter().map(|r| r.view()).collect();
                let body = RecordsBody {
                    document_id: &self.id,
                    layer,
                    head_seq: head,
                    records: Some(views),
                    changes: None,
                };
                let _ = reply.send(Ok(serde_json::to_string(&body).expect("records serialise")));
            }
        }
    }
}

impl Actor for DocumentActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Block every message until the document is loaded.
        let db = self.db.clone();
        let id = self.id.clone();
        let started = Instant::now();
        ctx.wait(async move { store::load(&db.main, &id).await }.into_actor(self).map(move |res, act, ctx| match res {
            Ok(Some(loaded)) => {
                let records: usize = loaded.layers.values().map(HashMap::len).sum();
                tracing::info!(document_id = %act.id, head_seq = loaded.head_seq, records,
                    load_ms = started.elapsed().as_millis() as u64, "document opened");
                act.phase = Phase::Ready(DocState {
                    head_seq: loaded.head_seq,
                    log_floor: loaded.log_floor,
                    page_count: Some(loaded.page_count),
                    layers: loaded.layers,
                });
            }
            Ok(None) => act.phase = Phase::Missing,
            Err(e) => {
                tracing::error!(document_id = %act.id, error = %e, "loading the document failed");
                ctx.stop();
            }
        }));
        let check = (self.config.idle_timeout / 2).max(Duration::from_millis(50));
        ctx.run_interval(check, |act, ctx| {
            if act.is_idle() {
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.close_all(CloseReason::new(
            CloseCode::Reconnect,
            "the document was closed on this server; reconnect",
        ));
        tracing::info!(document_id = %self.id, "document closed");
        self.registry.do_send(Stopped {
            document_id: self.id.clone(),
            instance: self.instance,
        });
    }
}

impl Handler<Join> for DocumentActor {
    type Result = ();
    fn handle(&mut self, msg: Join, ctx: &mut Context<Self>) {
        self.idle_since = None;
        self.when_settled(ctx, Box::new(move |act, ctx| act.accept(msg, ctx)));
    }
}

impl Handler<Leave> for DocumentActor {
    type Result = ();
    fn handle(&mut self, msg: Leave, _: &mut Context<Self>) {
        if let Some(session) = self.sessions.remove(&msg.session_id) {
            self.announce_left(msg.session_id, &session.peer.access.user_id);
        }
    }
}

impl Handler<Submit> for DocumentActor {
    type Result = ();
    fn handle(&mut self, msg: Submit, ctx: &mut Context<Self>) {
        let Some(session) = self.sessions.get(&msg.session_id) else {
            return;
        };
        self.pending.push(Pending {
            origin: Origin::Session(msg.session_id),
            access: session.peer.access.clone(),
            layer: session.peer.layer.clone(),
            changes: msg.changes,
        });
        self.start_commit(ctx);
    }
}

impl Handler<BackendSubmit> for DocumentActor {
    type Result = ResponseFuture<Result<Vec<Outcome>, DocumentError>>;
    fn handle(&mut self, msg: BackendSubmit, ctx: &mut Context<Self>) -> Self::Result {
        if !matches!(self.phase, Phase::Ready(_)) {
            let id = self.id.clone();
            return Box::pin(async move { Err(DocumentError::NotFound(id)) });
        }
        let (tx, rx) = oneshot::channel();
        self.pending.push(Pending {
            origin: Origin::Backend(tx),
            access: Arc::new(msg.access),
            layer: msg.layer,
            changes: msg.changes,
        });
        self.start_commit(ctx);
        Box::pin(async move { rx.await.map_err(|_| DocumentError::Unavailable) })
    }
}

impl Handler<SetPresence> for DocumentActor {
    type Result = ();
    fn handle(&mut self, msg: SetPresence, _: &mut Context<Self>) {
        let Some(session) = self.sessions.get_mut(&msg.session_id) else {
            return;
        };
        let event = text(&serde_json::json!({
            "type": "presence", "event": "state", "session_id": format!("s{}", msg.session_id),
            "user_id": session.peer.access.user_id, "state": &msg.state,
        }));
        session.presence = Some(msg.state);
        let others: Vec<u64> = self
            .sessions
            .keys()
            .copied()
            .filter(|id| *id != msg.session_id)
            .collect();
        for id in others {
            self.send(id, Outgoing::Text(event.clone()));
        }
    }
}

impl Handler<ReadRecords> for DocumentActor {
    type Result = ResponseFuture<Result<String, DocumentError>>;
    fn handle(&mut self, msg: ReadRecords, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.when_settled(
            ctx,
            Box::new(move |act, ctx| act.read(&msg.layer, msg.since, msg.access.as_ref(), ctx, tx)),
        );
        Box::pin(async move { rx.await.map_err(|_| DocumentError::Unavailable)? })
    }
}

impl Handler<CloseAll> for DocumentActor {
    type Result = ();
    fn handle(&mut self, msg: CloseAll, ctx: &mut Context<Self>) {
        self.close_all(msg.0);
        ctx.stop();
    }
}

impl Handler<Revoked> for DocumentActor {
    type Result = ();
    fn handle(&mut self, msg: Revoked, _: &mut Context<Self>) {
        let hit: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.peer.revocation_ids.iter().any(|id| msg.0.contains(id)))
            .map(|(id, _)| *id)
            .collect();
        for id in hit {
            self.drop_session(
                id,
                CloseReason::new(CloseCode::TokenRevoked, "the session token was revoked"),
            );
        }
    }
}
