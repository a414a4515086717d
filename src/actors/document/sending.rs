//! Sending to the document's sessions: one message ([`DocumentActor::send`]), or a fan-out to
//! many at once.
//!
//! - Before its welcome a session's messages wait in its backlog; after it, they go into its
//!   outbox. A full backlog or outbox means the client is too slow: it is dropped. A closed
//!   outbox means the session is gone: it leaves like any other.
//! - While `staging` is set (a commit's fan-out, `deliver`), messages are staged and then sent
//!   session by session ([`DocumentActor::flush_staged`]), so a session's messages of one
//!   fan-out reach its outbox back to back.
//! - A fan-out holds the writers' wake-ups until every message is queued and then wakes each
//!   worker thread once ([`DocumentActor::with_wakes_held`], `HeldWakes`).

use tokio::sync::mpsc;

use super::{DocumentActor, Kick, Outgoing, Stage};
use crate::wire::common::{CloseCode, CloseReason};

impl DocumentActor {
    /// Queues `msg` for one session: into its backlog before its welcome, else into its
    /// outbox. A full outbox or backlog means the client is too slow: it is dropped. A closed
    /// outbox means the session is gone: it leaves like any other.
    pub(super) fn send(&mut self, session_id: u64, msg: Outgoing) {
        if self.staging {
            self.staged.push((session_id, msg));
            return;
        }
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return;
        };
        let too_slow = || {
            CloseReason::new(
                CloseCode::TooSlow,
                "the client did not read its messages fast enough",
            )
        };
        if session.stage != Stage::Ready {
            if session.backlog.len() >= self.config.max_backlog {
                self.drop_session(session_id, too_slow());
            } else {
                session.backlog.push(msg);
            }
            return;
        }
        let sent = if self.holding_wakes {
            session.peer.outbox.try_send_held(msg, &mut self.held_wakes)
        } else {
            session.peer.outbox.try_send(msg)
        };
        match sent {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.drop_session(session_id, too_slow()),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                if let Some(session) = self.sessions.remove(&session_id) {
                    self.announce_left(session_id, &session);
                }
            }
        }
    }

    /// Sends what was staged since `staging` was set, session by session (each session's
    /// messages in the order they were staged): a session's messages of one fan-out then reach
    /// its outbox back to back, so its socket's writer finds them all at one wake-up and writes
    /// them with one system call, rather than waking (and writing) between them. The writers
    /// are woken once everything is queued, each worker thread once (`HeldWakes`).
    pub(super) fn flush_staged(&mut self) {
        self.staging = false;
        let mut staged = std::mem::take(&mut self.staged);
        // Stable: each session's messages keep their order.
        staged.sort_by_key(|(id, _)| *id);
        self.with_wakes_held(|act| {
            for (id, msg) in staged.drain(..) {
                act.send(id, msg);
            }
        });
        // The buffer is kept for the next fan-out (emptied, its capacity reused).
        self.staged = staged;
    }

    /// Runs `fan_out` with the writers' wake-ups held, then wakes them, each worker thread once
    /// (`HeldWakes`): for sends to many sessions at once.
    pub(super) fn with_wakes_held(&mut self, fan_out: impl FnOnce(&mut Self)) {
        self.holding_wakes = true;
        fan_out(self);
        self.holding_wakes = false;
        self.held_wakes.wake_all();
    }

    pub(super) fn drop_session(&mut self, session_id: u64, reason: CloseReason) {
        if let Some(session) = self.sessions.remove(&session_id) {
            tracing::info!(document_id = %self.id, session_id, reason = reason.code.name(), "session dropped");
            session.peer.control.do_send(Kick(reason));
            self.announce_left(session_id, &session);
        }
    }
}
