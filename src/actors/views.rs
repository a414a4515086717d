//! The messages a document actor sends to its sessions and the bodies of its REST reads, as
//! typed structs serialised once per message.
//!
//! Record content and presence states are raw JSON and go out byte for byte as they were sent
//! (a `serde_json::Value` would reorder keys and could fail on values it cannot represent), so
//! these are typed structs, never `json!` values.

use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::protocol::{Author, Kind, Op, RecordView};
use crate::store::LoggedChange;

/// Serialises a message once, to be shared by every session it goes to.
pub fn text<T: Serialize>(value: &T) -> Arc<str> {
    // Every type here is plain data (strings, numbers, raw JSON that was already validated):
    // serialisation cannot fail.
    Arc::from(serde_json::to_string(value).expect("protocol messages serialise"))
}

/// A session id as clients see it.
pub fn session_label(id: u64) -> String {
    // The node's id makes it unique across the nodes sharing a database.
    format!("s{}-{id}", crate::bus::node_id())
}

/// A committed change, as fanned out and as listed in a catch-up.
#[derive(Serialize)]
pub struct ChangeView<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub seq: i64,
    pub op: Op,
    pub id: &'a str,
    pub record_kind: Kind,
    pub record: Option<RecordView<'a>>,
    pub author: Author,
}

pub fn change_view(c: &LoggedChange) -> ChangeView<'_> {
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

/// Who a session's holder is, in the welcome.
#[derive(Serialize)]
pub struct UserView<'a> {
    pub user_id: &'a str,
    pub user_name: Option<&'a str>,
    pub group: Option<&'a str>,
}

/// The first message a session receives: a snapshot, or the changes after its `since`.
#[derive(Serialize)]
pub struct Welcome<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub protocol: u32,
    pub session_id: String,
    pub document_id: &'a str,
    pub page_count: Option<u32>,
    pub user: UserView<'a>,
    pub rights: &'a RawValue,
    pub layer: &'a str,
    pub head_seq: i64,
    pub records: Option<Vec<RecordView<'a>>>,
    pub changes: Option<Vec<ChangeView<'a>>>,
    pub presence: Vec<PresenceEntry<'a>>,
}

/// The body of a REST records read: a snapshot or the changes after `since`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RecordsBody<'a> {
    pub document_id: &'a str,
    pub layer: &'a str,
    pub head_seq: i64,
    /// The records (a snapshot), as in docs/protocol.md.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub records: Option<Vec<RecordView<'a>>>,
    /// The changes after `since`, as in docs/protocol.md.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub changes: Option<Vec<ChangeView<'a>>>,
}

/// One other session on the document, in the welcome and in `joined` events.
#[derive(Serialize)]
pub struct PresenceEntry<'a> {
    pub session_id: String,
    pub user_id: &'a str,
    pub user_name: Option<&'a str>,
    pub state: Option<&'a RawValue>,
}

/// A presence event: a session joined, left, or set its state.
#[derive(Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PresenceEvent<'a> {
    Joined {
        session: PresenceEntry<'a>,
    },
    Left {
        session_id: String,
        user_id: &'a str,
    },
    State {
        session_id: String,
        user_id: &'a str,
        state: &'a RawValue,
    },
}

/// The envelope of a presence event: `{"type": "presence", "event": ..., ...}`.
#[derive(Serialize)]
pub struct Presence<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(flatten)]
    pub event: PresenceEvent<'a>,
}

pub fn presence(event: PresenceEvent<'_>) -> Arc<str> {
    text(&Presence {
        kind: "presence",
        event,
    })
}

/// An error that does not close the session: `{"type": "error", "code": ..., "message": ...}`.
#[derive(Serialize)]
pub struct ErrorMessage<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub code: &'a str,
    pub message: &'a str,
}

pub fn error(code: &str, message: &str) -> Arc<str> {
    text(&ErrorMessage {
        kind: "error",
        code,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_states_go_out_byte_for_byte_even_when_a_value_could_not_be_parsed() {
        let state = RawValue::from_string(r#"{"page": 1e999,  "b":1}"#.to_string()).unwrap();
        let msg = presence(PresenceEvent::State {
            session_id: "s3".to_string(),
            user_id: "u1",
            state: &state,
        });
        assert_eq!(
            &*msg,
            r#"{"type":"presence","event":"state","session_id":"s3","user_id":"u1","state":{"page": 1e999,  "b":1}}"#
        );
    }
}
