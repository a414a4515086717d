//! `DocumentActor`: the only writer of one document's state on this node.
//!
//! It loads the document's records when it starts (from a stored snapshot when one is current,
//! `opening.rs`; it stores one when it closes, `closing.rs`), applies the changes its sessions
//! send in one order, commits each batch of changes that arrived together in one transaction
//! (group commit), and only then acknowledges them to their senders and fans them out. It never
//! awaits a session: it `try_send`s into each session's bounded outbox and disconnects a session
//! whose outbox is full, so one slow reader cannot stall the document.
//!
//! The commit path can fail safely. A batch is applied to memory with an exact [`Undo`]; when
//! its commit fails, the undo puts memory back as it was and the batch's changes are rejected
//! with the retryable `unavailable` code (or `invalid`, when the database refused a value),
//! while every session stays connected. While a commit is in flight, new changes wait for the
//! next batch (a bounded queue: past it they are refused as `busy`), and joins and reads wait for
//! the commit to finish, so that what anyone is shown is always committed.
//!
//! A session is registered the moment its `Join` arrives, so changes it sends before its welcome
//! are queued and answered after it; the welcome itself waits until no commit is in flight.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod closing;
mod commit;
mod intake;
mod listing;
mod locked;
mod nodes;
mod opening;
mod pacing;
mod presence;
mod reads;
mod sending;

pub use listing::ListSessions;
pub use nodes::RemotePresence;

use crate::db::Databases;
use actix::prelude::*;
use serde_json::value::RawValue;
use tokio::sync::oneshot;

use super::registry::{DocumentRegistry, Stopped};
use super::state::{DocLimits, DocState};
use crate::auth::access::Access;
use crate::wire::client::ChangeRequest;
use crate::wire::common::{CloseCode, CloseReason};
use crate::wire::server::{self, session_label, Outcome};

/// Tuning and limits of document actors.
#[derive(Debug, Clone)]
pub struct DocumentConfig {
    /// How many changes the log keeps per document for clients reconnecting with `since`.
    pub log_retention: i64,
    /// How long an actor without sessions lingers before stopping.
    pub idle_timeout: Duration,
    /// Record count and content bytes one document may hold.
    pub limits: DocLimits,
    /// Most changes, and most bytes of their content, waiting for the next commit; past either,
    /// changes are refused as `busy`.
    pub max_pending_changes: usize,
    pub max_pending_bytes: usize,
    /// Most messages held for a session that has joined but not yet been welcomed; past it the
    /// session is closed as too slow.
    pub max_backlog: usize,
    /// How often an open document checks the database for changes other nodes committed, in
    /// case a hint was lost (several nodes on PostgreSQL); `None` on a single node.
    pub catch_up_every: Option<Duration>,
    /// Least time between the starts of two commits of one document: what arrives meanwhile
    /// is committed together (`pacing.rs`). Zero commits each batch as soon as it can.
    pub commit_interval: Duration,
    /// Least records a document holds for its actor to store a snapshot when it closes
    /// (`closing.rs`); 0 stores none.
    pub snapshot_min_records: usize,
}

impl Default for DocumentConfig {
    fn default() -> Self {
        DocumentConfig {
            log_retention: 10_000,
            idle_timeout: Duration::from_secs(30),
            limits: DocLimits::default(),
            max_pending_changes: 10_000,
            max_pending_bytes: 32 * 1024 * 1024,
            max_backlog: 4_096,
            catch_up_every: None,
            commit_interval: Duration::ZERO,
            snapshot_min_records: 1_000,
        }
    }
}

use super::outbox::HeldWakes;
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

/// Sent by a session after hello: registers it at once (so changes it sends next are queued and
/// answered), and sends it a welcome (a snapshot, or the changes after `since`) as soon as no
/// commit is in flight. The welcome and everything after it arrive through the peer's outbox;
/// a join that cannot be served is closed with a reason, never left waiting.
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

/// A batch of changes from a session; each is answered in its outbox (ack or reject).
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

/// Batches of changes from the backend (each under its own identity) applied all or nothing:
/// if any change is rejected, none is applied and the others are answered `aborted`. An import
/// is one of these. Answered once committed, every outcome in order.
#[derive(Message)]
#[rtype(result = "Result<Vec<Outcome>, DocumentError>")]
pub struct BackendSubmitAll {
    pub layer: String,
    pub batches: Vec<(Access, Vec<ChangeRequest>)>,
}

/// A session's ephemeral presence state, relayed to the others and never stored. A state that
/// is not representable JSON (a number out of range, say) is refused with an `error` message.
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

/// Closes every session (document deleted, server shutting down) and stops the actor;
/// answered once it has stopped. With `snapshot_by`, a snapshot that is due is stored first if
/// it can be by then (`closing.rs`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseAll {
    pub reason: CloseReason,
    pub snapshot_by: Option<Instant>,
}

/// Another node committed up to `head` (`None`: hints may have been lost, check the database):
/// the actor reads the log after its own head, applies and fans out what it missed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CatchUp(pub Option<i64>);

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

/// Where a session is on its way in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Its `Join` arrived while a commit was in flight: its changes are queued, it hears
    /// nothing of others yet, and nobody has been told it is here.
    Registered,
    /// Accepted at a head: others know it, and what happens after that head waits in its
    /// backlog until its welcome (a catch-up being read from the log) goes out.
    Accepted,
    /// Welcomed: messages go straight to its outbox.
    Ready,
}

struct Session {
    peer: Peer,
    since: Option<i64>,
    presence: Option<Box<RawValue>>,
    stage: Stage,
    backlog: Vec<Outgoing>,
    /// Its `since` was past this node's head and the actor caught up once for it.
    waited_for_head: bool,
    /// The first presence event it hears (its welcome shows the ones before); `u64::MAX`
    /// until then.
    presence_from: u64,
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
    /// How often these changes were already tried (another node committed first).
    attempts: u8,
    /// The all-or-nothing group this batch belongs to, if any ([`BackendSubmitAll`]).
    group: Option<u64>,
}

/// Work that must wait until no commit is in flight.
type Deferred = Box<dyn FnOnce(&mut DocumentActor, &mut Context<DocumentActor>)>;

enum Phase {
    Loading,
    /// Opened from a stored snapshot, its records still being read (`opening.rs`).
    Opening(opening::Opening),
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
    /// Changes in `pending`, and the bytes of their content.
    pending_changes: usize,
    pending_bytes: usize,
    /// The last all-or-nothing group number handed out.
    next_group: u64,
    /// A commit or a catch-up is in flight: new changes queue, joins and reads wait.
    committing: bool,
    /// When the last commit started, and whether a timer waits to start the next one
    /// (`pacing.rs`).
    last_commit_start: Option<Instant>,
    pace_timer: bool,
    deferred: Vec<Deferred>,
    idle_since: Option<Instant>,
    /// The newest head another node told of (or a lost race implied): past this node's head,
    /// a catch-up reads the log.
    hinted_head: i64,
    /// Until when commits take the document's sequence row lock first (another node writes
    /// this document too; see `locked.rs`).
    contended_until: Option<Instant>,
    /// Tells other nodes of this node's sessions (presence); nobody on a single node.
    bus: Arc<dyn crate::bus::Bus>,
    /// Presence changes of local sessions not yet told to the other nodes.
    shared: HashMap<u64, (crate::bus::PresenceKind, String)>,
    /// Sessions of this document on other nodes, by label.
    remote: HashMap<String, nodes::RemotePeer>,
    presence_refreshed: Instant,
    /// Presence events for this node's sessions, waiting for the next tick.
    presence_queue: presence::PresenceQueue,
    /// This actor's own address, to schedule the next presence tick from anywhere.
    myself: Option<actix::WeakAddr<DocumentActor>>,
    /// While set, `send` stages messages in `staged` for `flush_staged` (one fan-out).
    staging: bool,
    staged: Vec<(u64, Outgoing)>,
    /// While set (inside `with_wakes_held`: a commit's fan-out, a presence tick), `send` holds
    /// the writers' wake-ups in `held_wakes`, to give them together once the fan-out is queued.
    holding_wakes: bool,
    held_wakes: HeldWakes,
    /// The head of the document's stored snapshot (or the head one was last tried at), and
    /// whether one is being stored (`closing.rs`).
    snapshot_head: Option<i64>,
    storing_snapshot: bool,
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
            pending_changes: 0,
            pending_bytes: 0,
            next_group: 0,
            committing: false,
            last_commit_start: None,
            pace_timer: false,
            deferred: Vec::new(),
            idle_since: Some(Instant::now()),
            hinted_head: 0,
            contended_until: None,
            bus: Arc::new(crate::bus::NoBus),
            shared: HashMap::new(),
            remote: HashMap::new(),
            presence_refreshed: Instant::now(),
            presence_queue: presence::PresenceQueue::default(),
            myself: None,
            staging: false,
            staged: Vec::new(),
            holding_wakes: false,
            held_wakes: HeldWakes::default(),
            snapshot_head: None,
            storing_snapshot: false,
        }
    }

    /// Shares presence with other nodes through `bus`.
    pub fn with_bus(mut self, bus: Arc<dyn crate::bus::Bus>) -> DocumentActor {
        self.bus = bus;
        self
    }

    /// Tells the others that a removed session has left (if they were ever told it joined).
    fn announce_left(&mut self, session_id: u64, session: &Session) {
        if session.stage != Stage::Registered {
            self.share_presence(
                session_id,
                crate::bus::PresenceKind::Left,
                &session.peer.access.user_id,
            );
            self.announce(
                Some(session_id),
                session_label(session_id),
                presence::Event::Left {
                    user_id: session.peer.access.user_id.clone(),
                },
            );
        }
        self.note_idle();
    }

    fn note_idle(&mut self) {
        if self.sessions.is_empty() && self.idle_since.is_none() {
            self.idle_since = Some(Instant::now());
        }
    }

    /// Runs `work` now, or after the commit in flight (whether it succeeded or failed).
    fn when_settled(&mut self, ctx: &mut Context<Self>, work: Deferred) {
        if self.committing {
            self.deferred.push(work);
        } else {
            work(self, ctx);
        }
    }
}

impl Actor for DocumentActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        crate::metrics::get().open_documents.inc();
        self.myself = Some(ctx.address().downgrade());
        self.start_loading(ctx);
        let check = (self.config.idle_timeout / 2).max(Duration::from_millis(50));
        ctx.run_interval(check, |act, ctx| act.close_if_idle(ctx));
        self.start_sharing_presence(ctx);
        if let Some(every) = self.config.catch_up_every {
            ctx.run_interval(every, |act, ctx| {
                if !act.committing {
                    act.catch_up(ctx);
                }
            });
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        let metrics = crate::metrics::get();
        metrics.open_documents.dec();
        metrics.pending_changes.sub(self.pending_changes as i64);
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
        let session_id = msg.peer.session_id;
        let welcome_now = self.served_while_opening(&msg.peer, msg.since);
        self.sessions.insert(
            session_id,
            Session {
                peer: msg.peer,
                since: msg.since,
                presence: None,
                stage: Stage::Registered,
                backlog: Vec::new(),
                waited_for_head: false,
                presence_from: u64::MAX,
            },
        );
        if welcome_now {
            self.accept(session_id, ctx);
            return;
        }
        self.when_settled(ctx, Box::new(move |act, ctx| act.accept(session_id, ctx)));
    }
}

impl Handler<Leave> for DocumentActor {
    type Result = ();
    fn handle(&mut self, msg: Leave, _: &mut Context<Self>) {
        if let Some(session) = self.sessions.remove(&msg.session_id) {
            self.announce_left(msg.session_id, &session);
        }
    }
}

impl Handler<SetPresence> for DocumentActor {
    type Result = ();
    fn handle(&mut self, msg: SetPresence, _: &mut Context<Self>) {
        let Some(session) = self.sessions.get_mut(&msg.session_id) else {
            return;
        };
        // Relayed byte for byte, but only if it is JSON every client can read: a number out
        // of range (`1e999`) or similar is refused here, for this session alone.
        if let Err(e) = serde_json::from_str::<serde_json::Value>(msg.state.get()) {
            let error = server::error("invalid", &format!("presence state: {e}"));
            self.send(msg.session_id, Outgoing::Text(error));
            return;
        }
        let user_id = session.peer.access.user_id.clone();
        let registered = session.stage == Stage::Registered;
        session.presence = Some(msg.state.clone());
        if !registered {
            self.share_presence(msg.session_id, crate::bus::PresenceKind::State, &user_id);
            self.announce(
                Some(msg.session_id),
                session_label(msg.session_id),
                presence::Event::State {
                    user_id,
                    state: msg.state,
                },
            );
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

impl Handler<CatchUp> for DocumentActor {
    type Result = ();
    fn handle(&mut self, msg: CatchUp, ctx: &mut Context<Self>) {
        let Some(current) = self.head() else {
            return;
        };
        let head = msg.0.unwrap_or(current + 1);
        if head <= current {
            return;
        }
        self.hinted_head = self.hinted_head.max(head);
        // During a commit or a catch-up the hint waits: `settle` starts the next round.
        if !self.committing {
            self.catch_up(ctx);
        }
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

#[cfg(test)]
#[path = "actor_tests.rs"]
mod tests;
