//! Presence announcements to this node's sessions, coalesced over a short tick.
//!
//! Sent one by one, a join storm is quadratic in messages: each of n joining sessions is
//! announced to every session already there. Here every presence event (a session joined, set
//! its state, left; local or on another node) is queued, and once per [`TICK`] each welcomed
//! session gets one message with what changed since it last heard: the single event in the old
//! form (`{"type": "presence", "event": "joined", ...}`), or several as
//! `{"type": "presence", "event": "batch", "events": [...]}`, in order. A state replaced within
//! the tick is sent once, the latest (states are whole values, so the last one wins), and a
//! session that joined and left within it is not mentioned at all.
//!
//! A session hears only what happened after its welcome was built (the welcome's presence list
//! already shows everything before: [`PresenceQueue::mark`]), and never its own events. Sessions
//! that see the same slice of the queue share one serialised message.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde_json::value::RawValue;

use super::{DocumentActor, Outgoing, Stage};
use crate::wire::server::{presence, presence_batch, PresenceEntry, PresenceEvent};

/// How long presence events gather before they go out.
pub(super) const TICK: Duration = Duration::from_millis(30);

/// A presence event, owned until the tick's messages are serialised.
pub(super) enum Event {
    Joined {
        user_id: String,
        user_name: Option<String>,
        state: Option<Box<RawValue>>,
    },
    State {
        user_id: String,
        state: Box<RawValue>,
    },
    Left {
        user_id: String,
    },
}

struct Queued {
    /// Its place among every event this document ever queued.
    seq: u64,
    /// The local session it is about (`None`: a session on another node).
    subject: Option<u64>,
    /// The session's label, as clients see it.
    label: String,
    event: Event,
}

impl Queued {
    fn view(&self) -> PresenceEvent<'_> {
        let session_id = self.label.clone();
        match &self.event {
            Event::Joined {
                user_id,
                user_name,
                state,
            } => PresenceEvent::Joined {
                session: PresenceEntry {
                    session_id,
                    user_id,
                    user_name: user_name.as_deref(),
                    state: state.as_deref(),
                },
            },
            Event::State { user_id, state } => PresenceEvent::State {
                session_id,
                user_id,
                state,
            },
            Event::Left { user_id } => PresenceEvent::Left {
                session_id,
                user_id,
            },
        }
    }
}

/// The events waiting for the next tick.
#[derive(Default)]
pub(super) struct PresenceQueue {
    queued: Vec<Queued>,
    next_seq: u64,
    /// A flush is scheduled.
    armed: bool,
}

impl PresenceQueue {
    /// Where a welcome built now stands: it shows every event queued so far, so its session
    /// hears only the later ones.
    pub(super) fn mark(&self) -> u64 {
        self.next_seq
    }

    /// Queues `event`; true when no flush is scheduled yet.
    fn push(&mut self, subject: Option<u64>, label: String, event: Event) -> bool {
        if matches!(event, Event::State { .. }) {
            // Whoever would hear the older state hears the newer one instead (it is queued
            // later, so it reaches at least the same sessions).
            self.queued
                .retain(|q| !(q.label == label && matches!(q.event, Event::State { .. })));
        }
        self.queued.push(Queued {
            seq: self.next_seq,
            subject,
            label,
            event,
        });
        self.next_seq += 1;
        !std::mem::replace(&mut self.armed, true)
    }

    fn take(&mut self) -> Vec<Queued> {
        self.armed = false;
        std::mem::take(&mut self.queued)
    }
}

/// The message for a session that sees `events` except those about `own`; `None` if nothing
/// is left.
fn message(events: &[Queued], own: Option<u64>) -> Option<Arc<str>> {
    // A session that joined and left within what this one hears is not worth mentioning
    // (labels are never reused).
    let came_and_went: HashSet<&str> = events
        .iter()
        .filter(|q| matches!(q.event, Event::Left { .. }))
        .filter(|left| {
            events.iter().any(|q| {
                q.label == left.label && q.seq < left.seq && matches!(q.event, Event::Joined { .. })
            })
        })
        .map(|q| q.label.as_str())
        .collect();
    let mut views: Vec<PresenceEvent> = events
        .iter()
        .filter(|q| own.is_none() || q.subject != own)
        .filter(|q| !came_and_went.contains(q.label.as_str()))
        .map(Queued::view)
        .collect();
    match views.len() {
        0 => None,
        1 => views.pop().map(presence),
        _ => Some(presence_batch(views)),
    }
}

/// Sends the presence events queued in the last tick.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct FlushPresence;

impl DocumentActor {
    /// Queues a presence event about `label` (a local session when `subject` is set) for the
    /// next tick.
    pub(super) fn announce(&mut self, subject: Option<u64>, label: String, event: Event) {
        if !self.presence_queue.push(subject, label, event) {
            return;
        }
        let Some(me) = self.myself.clone() else {
            return;
        };
        actix::spawn(async move {
            actix::clock::sleep(TICK).await;
            if let Some(me) = me.upgrade() {
                me.do_send(FlushPresence);
            }
        });
    }

    fn flush_presence_events(&mut self) {
        let queued = self.presence_queue.take();
        if queued.is_empty() {
            return;
        }
        let recipients: Vec<(u64, u64)> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.stage == Stage::Ready)
            .map(|(id, s)| (*id, s.presence_from))
            .collect();
        let mut messages: HashMap<(usize, Option<u64>), Option<Arc<str>>> = HashMap::new();
        self.with_wakes_held(|act| {
            for (id, from) in recipients {
                let start = queued.partition_point(|q| q.seq < from);
                let seen = &queued[start..];
                if seen.is_empty() {
                    continue;
                }
                let own = seen.iter().any(|q| q.subject == Some(id)).then_some(id);
                let msg = messages
                    .entry((start, own))
                    .or_insert_with(|| message(seen, own))
                    .clone();
                if let Some(msg) = msg {
                    act.send(id, Outgoing::Text(msg));
                }
            }
        });
    }
}

impl Handler<FlushPresence> for DocumentActor {
    type Result = ();
    fn handle(&mut self, _: FlushPresence, _: &mut Context<Self>) {
        self.flush_presence_events();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_string()).unwrap()
    }

    fn queue(events: Vec<(Option<u64>, &str, Event)>) -> Vec<Queued> {
        let mut q = PresenceQueue::default();
        for (subject, label, event) in events {
            q.push(subject, label.to_string(), event);
        }
        q.take()
    }

    #[test]
    fn one_event_keeps_the_single_form_and_several_go_out_as_one_batch() {
        let events = queue(vec![(
            Some(1),
            "s1",
            Event::Left {
                user_id: "u".into(),
            },
        )]);
        assert_eq!(
            &*message(&events, None).unwrap(),
            r#"{"type":"presence","event":"left","session_id":"s1","user_id":"u"}"#
        );
        let events = queue(vec![
            (
                Some(1),
                "s1",
                Event::Joined {
                    user_id: "u".into(),
                    user_name: None,
                    state: None,
                },
            ),
            (
                None,
                "x-9",
                Event::Left {
                    user_id: "v".into(),
                },
            ),
        ]);
        assert_eq!(
            &*message(&events, None).unwrap(),
            r#"{"type":"presence","event":"batch","events":[{"event":"joined","session":{"session_id":"s1","user_id":"u","user_name":null,"state":null}},{"event":"left","session_id":"x-9","user_id":"v"}]}"#
        );
        // The subject never hears of itself.
        assert_eq!(
            &*message(&events, Some(1)).unwrap(),
            r#"{"type":"presence","event":"left","session_id":"x-9","user_id":"v"}"#
        );
        assert!(message(&events[..1], Some(1)).is_none());
    }

    #[test]
    fn a_session_that_came_and_went_within_the_tick_is_not_mentioned() {
        let joined = || Event::Joined {
            user_id: "u".into(),
            user_name: None,
            state: None,
        };
        let left = || Event::Left {
            user_id: "u".into(),
        };
        let events = queue(vec![
            (Some(2), "s2", joined()),
            (Some(3), "s3", joined()),
            (Some(2), "s2", left()),
        ]);
        let msg = message(&events, None).unwrap();
        assert!(
            !msg.contains("s2") && msg.contains(r#""event":"joined""#),
            "{msg}"
        );
        // One that heard of the join before (its welcome listed s2) hears that it left.
        let msg = message(&events[1..], None).unwrap();
        assert!(msg.contains(r#""event":"left","session_id":"s2""#), "{msg}");
    }

    #[test]
    fn the_latest_state_wins_and_keeps_its_place_after_what_came_before() {
        let events = queue(vec![
            (
                Some(1),
                "s1",
                Event::State {
                    user_id: "u".into(),
                    state: state(r#"{"page":1}"#),
                },
            ),
            (
                Some(2),
                "s2",
                Event::Left {
                    user_id: "w".into(),
                },
            ),
            (
                Some(1),
                "s1",
                Event::State {
                    user_id: "u".into(),
                    state: state(r#"{"page":2}"#),
                },
            ),
        ]);
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].seq, 2);
        assert_eq!(
            &*message(&events, Some(2)).unwrap(),
            r#"{"type":"presence","event":"state","session_id":"s1","user_id":"u","state":{"page":2}}"#
        );
    }

    #[test]
    fn only_the_first_push_of_a_tick_asks_for_a_flush() {
        let mut q = PresenceQueue::default();
        let left = || Event::Left {
            user_id: "u".into(),
        };
        assert!(q.push(None, "a".into(), left()));
        assert!(!q.push(None, "b".into(), left()));
        assert_eq!(q.mark(), 2);
        assert_eq!(q.take().len(), 2);
        assert!(q.push(None, "c".into(), left()));
    }
}
