//! What the server sends on the live socket (and the body of the REST records read, which
//! carries the same records and changes), as typed structs serialised once per message and
//! shared by every session it goes to.
//!
//! Record content and presence states are raw JSON and go out byte for byte as they were sent
//! (a `serde_json::Value` would reorder keys and could fail on values it cannot represent), so
//! these are typed structs, never `json!` values.

use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::openapi::schema::{ObjectBuilder, Type};

use crate::store::LoggedChange;
use crate::wire::common::{
    Author, Kind, Op, RecordView, RejectCode, SessionRights, SnapshotRecords,
};

/// Serialises a message once, to be shared by every session it goes to.
pub fn text<T: Serialize>(value: &T) -> Arc<str> {
    // Every type here is plain data (strings, numbers, raw JSON that was already validated):
    // serialisation cannot fail.
    Arc::from(serde_json::to_string(value).expect("protocol messages serialise"))
}

/// [`text`] for a message of about `size_hint` bytes or more (a welcome with a snapshot):
/// written into a buffer of that size from the start, where a growing one would be
/// reallocated and copied a dozen times on the way to megabytes.
pub fn text_sized<T: Serialize>(value: &T, size_hint: usize) -> Arc<str> {
    Arc::from(json_sized(value, size_hint))
}

/// A body as JSON, written into a buffer of `size_hint` bytes from the start (see
/// [`text_sized`]).
pub fn json_sized<T: Serialize>(value: &T, size_hint: usize) -> String {
    let mut buf = Vec::with_capacity(size_hint);
    serde_json::to_writer(&mut buf, value).expect("protocol messages serialise");
    String::from_utf8(buf).expect("serde_json writes UTF-8")
}

/// Room for a message around a snapshot: the kept list's length (a list built for one session
/// has no length until it is serialised) and a few KiB for the rest.
pub fn size_hint_for(records: Option<&SnapshotRecords>) -> usize {
    const REST: usize = 4096;
    match records {
        Some(SnapshotRecords::Shared(list)) => list.get().len() + REST,
        _ => REST,
    }
}

/// The schema of a message's `type` field (or a presence event's `event`): the one string it
/// always is. The Rust field is a `&'static str` set where the message is built.
fn tag(name: &str) -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([name]))
        .build()
}

fn welcome_tag() -> utoipa::openapi::Object {
    tag("welcome")
}

fn change_tag() -> utoipa::openapi::Object {
    tag("change")
}

fn presence_tag() -> utoipa::openapi::Object {
    tag("presence")
}

fn batch_tag() -> utoipa::openapi::Object {
    tag("batch")
}

fn error_tag() -> utoipa::openapi::Object {
    tag("error")
}

fn pong_tag() -> utoipa::openapi::Object {
    tag("pong")
}

/// A session id as clients see it.
pub fn session_label(id: u64) -> String {
    // The node's id makes it unique across the nodes sharing a database.
    format!("s{}-{id}", crate::bus::node_id())
}

/// A committed change, as fanned out and as listed in a catch-up.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChangeView<'a> {
    #[serde(rename = "type")]
    #[schema(schema_with = change_tag)]
    pub kind: &'static str,
    pub seq: i64,
    pub op: Op,
    pub id: &'a str,
    pub record_kind: Kind,
    /// The record after the change; `null` for deletes.
    #[schema(required = true)]
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
#[derive(Serialize, utoipa::ToSchema)]
pub struct UserView<'a> {
    pub user_id: &'a str,
    #[schema(required = true)]
    pub user_name: Option<&'a str>,
    #[schema(required = true)]
    pub group: Option<&'a str>,
}

/// The first message a session receives: a snapshot, or the changes after its `since`.
/// Exactly one of `records` and `changes` is non-null.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Welcome<'a> {
    #[serde(rename = "type")]
    #[schema(schema_with = welcome_tag)]
    pub kind: &'static str,
    pub protocol: u32,
    pub session_id: String,
    pub document_id: &'a str,
    #[schema(required = true)]
    pub page_count: Option<u32>,
    pub user: UserView<'a>,
    /// The session's rights after every attenuation of its token.
    #[schema(value_type = SessionRights)]
    pub rights: &'a RawValue,
    pub layer: &'a str,
    pub head_seq: i64,
    /// The snapshot: every record the session may see.
    #[schema(required = true, value_type = Option<Vec<RecordView>>)]
    pub records: Option<SnapshotRecords<'a>>,
    /// The changes after the hello's `since`.
    #[schema(required = true)]
    pub changes: Option<Vec<ChangeView<'a>>>,
    /// The other sessions on the document.
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
    #[schema(nullable = false, value_type = Option<Vec<RecordView>>)]
    pub records: Option<SnapshotRecords<'a>>,
    /// The changes after `since`, as in docs/protocol.md.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub changes: Option<Vec<ChangeView<'a>>>,
}

/// One other session on the document, in the welcome and in `joined` events.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PresenceEntry<'a> {
    pub session_id: String,
    pub user_id: &'a str,
    #[schema(required = true)]
    pub user_name: Option<&'a str>,
    /// Whatever that client last sent as its presence state (`null`: nothing yet).
    #[schema(value_type = Value, required = true)]
    pub state: Option<&'a RawValue>,
}

/// A presence event: a session joined, left, or set its state.
#[derive(Serialize, utoipa::ToSchema)]
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
        /// Any JSON value, as that client sent it.
        #[schema(value_type = Value)]
        state: &'a RawValue,
    },
}

/// The envelope of a presence event: `{"type": "presence", "event": ..., ...}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Presence<'a> {
    #[serde(rename = "type")]
    #[schema(schema_with = presence_tag)]
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

/// Several presence events gathered over one server tick, to be applied in order:
/// `{"type": "presence", "event": "batch", "events": [...]}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PresenceBatch<'a> {
    #[serde(rename = "type")]
    #[schema(schema_with = presence_tag)]
    pub kind: &'static str,
    #[schema(schema_with = batch_tag)]
    pub event: &'static str,
    pub events: Vec<PresenceEvent<'a>>,
}

/// Serialises several presence events as one message.
pub fn presence_batch(events: Vec<PresenceEvent<'_>>) -> Arc<str> {
    text(&PresenceBatch {
        kind: "presence",
        event: "batch",
        events,
    })
}

/// An error that does not close the session: `{"type": "error", "code": ..., "message": ...}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorMessage<'a> {
    #[serde(rename = "type")]
    #[schema(schema_with = error_tag)]
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

/// The answer to one change request: sent to its session, and listed in the REST write's
/// `results`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outcome {
    /// The change was committed as `seq`; the record is now at revision `rev`.
    Ack {
        client_id: String,
        seq: i64,
        rev: i64,
    },
    /// The change was refused; nothing was committed.
    Reject {
        client_id: String,
        code: RejectCode,
        message: String,
        /// The record as it is now, when the sender may see it (stale base, already exists).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schema(value_type = RecordView)]
        current: Option<Box<RawValue>>,
    },
}

/// The answer to a `ping`: `{"type": "pong"}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Pong {
    #[serde(rename = "type")]
    #[schema(schema_with = pong_tag)]
    pub kind: &'static str,
}

/// Every message the server sends on the socket.
// The `ServerMessage` definition of the protocol schema: messages are built and serialised as
// their own types; this union only describes them.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ServerMessage<'a> {
    Welcome(Welcome<'a>),
    Change(ChangeView<'a>),
    Outcome(Outcome),
    Presence(Presence<'a>),
    PresenceBatch(PresenceBatch<'a>),
    Error(ErrorMessage<'a>),
    Pong(Pong),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sized_message_is_the_same_text() {
        let list = RawValue::from_string(r#"[{"id":"a"},{"id":"b"}]"#.to_string()).unwrap();
        let body = RecordsBody {
            document_id: "d",
            layer: "",
            head_seq: 2,
            records: Some(SnapshotRecords::Shared(&list)),
            changes: None,
        };
        let hint = size_hint_for(body.records.as_ref());
        assert_eq!(hint, list.get().len() + 4096);
        assert_eq!(json_sized(&body, hint), *text(&body));
        assert_eq!(*text_sized(&body, 0), *text(&body));
        assert_eq!(
            json_sized(&body, hint),
            r#"{"document_id":"d","layer":"","head_seq":2,"records":[{"id":"a"},{"id":"b"}]}"#
        );
    }

    #[test]
    fn pong_is_the_text_the_session_sends() {
        assert_eq!(&*text(&Pong { kind: "pong" }), r#"{"type":"pong"}"#);
    }

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
