//! Presence across nodes. Sessions of one document may sit on different nodes; each node tells
//! the others about its own sessions (joined, state, left) through the bus, coalesced to one
//! hint per session per [`FLUSH_EVERY`], and keeps a roster of the others' sessions for its
//! welcomes. Nothing is stored. A node that opens the document asks the others to announce
//! theirs; every node re-announces its sessions every [`REFRESH_EVERY`], and a session not heard
//! of for [`FORGET_AFTER`] (its node died) is announced as left.

use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::value::RawValue;

use super::presence::Event;
use super::{DocumentActor, Stage};
use crate::bus::{Hint, PresenceKind};
use crate::wire::server::{session_label, PresenceEntry};

/// How often the presence changes of this node's sessions go out.
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// How often every session is announced again (so a restarted or new node learns of it).
const REFRESH_EVERY: Duration = Duration::from_secs(20);
/// How long a session on another node is shown without being heard of.
const FORGET_AFTER: Duration = Duration::from_secs(60);

/// A session on another node.
pub(super) struct RemotePeer {
    user_id: String,
    user_name: Option<String>,
    state: Option<Box<RawValue>>,
    heard: Instant,
}

impl RemotePeer {
    /// Who it is: user id and name.
    pub(super) fn who(&self) -> (&str, Option<&str>) {
        (&self.user_id, self.user_name.as_deref())
    }
}

/// What another node said about one of its sessions of this document.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RemotePresence {
    pub session: String,
    pub user_id: String,
    pub user_name: Option<String>,
    pub kind: PresenceKind,
    pub state: Option<Box<RawValue>>,
}

/// How two presence changes of one session within one flush combine.
fn merge(pending: Option<PresenceKind>, next: PresenceKind) -> PresenceKind {
    match (pending, next) {
        (Some(PresenceKind::Joined), PresenceKind::State) => PresenceKind::Joined,
        (_, next) => next,
    }
}

impl DocumentActor {
    fn several_nodes(&self) -> bool {
        self.config.catch_up_every.is_some()
    }

    /// Notes a presence change of a local session for the next flush.
    pub(super) fn share_presence(&mut self, session_id: u64, kind: PresenceKind, user_id: &str) {
        if !self.several_nodes() {
            return;
        }
        let pending = self.shared.get(&session_id).map(|p| p.0);
        self.shared
            .insert(session_id, (merge(pending, kind), user_id.to_string()));
    }

    /// Asks the other nodes for their sessions and starts flushing this node's.
    pub(super) fn start_sharing_presence(&mut self, ctx: &mut Context<Self>) {
        if !self.several_nodes() {
            return;
        }
        self.publish(Hint::Presence {
            d: self.id.clone(),
            s: String::new(),
            u: String::new(),
            un: None,
            e: PresenceKind::Sync,
            st: None,
        });
        ctx.run_interval(FLUSH_EVERY, |act, _| act.flush_presence());
    }

    fn announce_all_local(&mut self) {
        let local: Vec<(u64, String)> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.stage != Stage::Registered)
            .map(|(id, s)| (*id, s.peer.access.user_id.clone()))
            .collect();
        for (id, user) in local {
            self.share_presence(id, PresenceKind::State, &user);
        }
    }

    pub(super) fn flush_presence(&mut self) {
        let now = Instant::now();
        if now.duration_since(self.presence_refreshed) >= REFRESH_EVERY {
            self.presence_refreshed = now;
            self.announce_all_local();
        }
        let gone: Vec<String> = self
            .remote
            .iter()
            .filter(|(_, p)| now.duration_since(p.heard) >= FORGET_AFTER)
            .map(|(label, _)| label.clone())
            .collect();
        for label in gone {
            if let Some(peer) = self.remote.remove(&label) {
                self.announce(
                    None,
                    label,
                    Event::Left {
                        user_id: peer.user_id,
                    },
                );
            }
        }
        for (id, (kind, user_id)) in std::mem::take(&mut self.shared) {
            let (name, state) = match (kind, self.sessions.get(&id)) {
                (PresenceKind::Left, _) => (None, None),
                (PresenceKind::Sync, _) => continue,
                (_, Some(s)) if s.stage != Stage::Registered => (
                    s.peer.access.user_name.clone(),
                    // Checked to be plain JSON when it was set.
                    s.presence
                        .as_deref()
                        .and_then(|st| serde_json::from_str(st.get()).ok()),
                ),
                _ => continue,
            };
            self.publish(Hint::Presence {
                d: self.id.clone(),
                s: session_label(id),
                u: user_id,
                un: name,
                e: kind,
                st: state,
            });
        }
    }

    fn publish(&self, hint: Hint) {
        let sent = self.bus.publish(hint);
        actix::spawn(async move {
            if let Err(e) = sent.await {
                tracing::debug!(error = %e, "a presence hint was not sent");
            }
        });
    }

    /// The other nodes' sessions, for a welcome.
    pub(super) fn remote_presence(&self) -> impl Iterator<Item = PresenceEntry<'_>> {
        self.remote.iter().map(|(label, p)| PresenceEntry {
            session_id: label.clone(),
            user_id: &p.user_id,
            user_name: p.user_name.as_deref(),
            state: p.state.as_deref(),
        })
    }
}

impl Handler<RemotePresence> for DocumentActor {
    type Result = ();
    fn handle(&mut self, msg: RemotePresence, _: &mut Context<Self>) {
        let label = msg.session;
        match msg.kind {
            PresenceKind::Sync => self.announce_all_local(),
            PresenceKind::Left => {
                if let Some(peer) = self.remote.remove(&label) {
                    self.announce(
                        None,
                        label,
                        Event::Left {
                            user_id: peer.user_id,
                        },
                    );
                }
            }
            PresenceKind::Joined | PresenceKind::State => {
                let before = self.remote.remove(&label);
                let peer = RemotePeer {
                    user_id: msg.user_id,
                    user_name: msg.user_name,
                    state: msg.state,
                    heard: Instant::now(),
                };
                let event = match &before {
                    None => Some(Event::Joined {
                        user_id: peer.user_id.clone(),
                        user_name: peer.user_name.clone(),
                        state: peer.state.clone(),
                    }),
                    Some(old) => match &peer.state {
                        Some(state) if old.state.as_ref().map(|s| s.get()) != Some(state.get()) => {
                            Some(Event::State {
                                user_id: peer.user_id.clone(),
                                state: state.clone(),
                            })
                        }
                        _ => None,
                    },
                };
                self.remote.insert(label.clone(), peer);
                if let Some(event) = event {
                    self.announce(None, label, event);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_join_followed_by_a_state_goes_out_as_one_join_and_a_leave_wins() {
        use PresenceKind::*;
        assert_eq!(merge(Some(Joined), State), Joined);
        assert_eq!(merge(Some(Joined), Left), Left);
        assert_eq!(merge(Some(State), State), State);
        assert_eq!(merge(None, State), State);
        assert_eq!(merge(Some(Left), Joined), Joined);
    }
}
