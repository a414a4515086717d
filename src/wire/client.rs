//! What a client sends on the live socket (protocol version 1), and the one parser that reads
//! it. `docs/protocol.md` is the reference for client authors; `docs/protocol.schema.json` is
//! generated from these types (see [`super::schema`]).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::common::{Kind, Op};

/// A message from the client.
// (Not a `///` comment: those become the schema's descriptions, which are for client authors.)
// Read by `ClientMessage::parse`, not by serde (a tagged enum cannot hold raw JSON). The
// `Serialize` and `ToSchema` derives give the same shape: what tests and tools send, and the
// `ClientMessage` definition of the protocol schema.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First message: authenticate and join. `since` asks for the changes after that sequence
    /// number instead of a snapshot.
    Hello {
        /// The session token (a biscuit, base64url).
        token: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        since: Option<i64>,
        /// The protocol version the client speaks (1).
        #[serde(skip_serializing_if = "Option::is_none")]
        protocol: Option<u32>,
    },
    /// A batch of changes, each answered by an `ack` or a `reject`.
    Changes { changes: Vec<ChangeRequest> },
    /// This session's ephemeral state (current page, selection…), relayed to others, never stored.
    Presence {
        /// Any JSON value (`null` clears it).
        #[schema(value_type = Value)]
        state: Box<RawValue>,
    },
    /// Application-level keep-alive; answered with `pong`.
    Ping,
}

/// Every field any client message may carry, read in one pass; `ClientMessage::parse` then
/// checks that the fields fit the `type`. (serde's tagged enums cannot hold raw JSON values.)
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields<'a> {
    #[serde(rename = "type", borrow)]
    ty: std::borrow::Cow<'a, str>,
    token: Option<String>,
    since: Option<i64>,
    protocol: Option<u32>,
    changes: Option<Vec<ChangeRequest>>,
    /// Present-but-`null` is a state (a client clearing its presence), not a missing field.
    #[serde(default, deserialize_with = "present")]
    state: Option<Box<RawValue>>,
}

/// Reads a field that is there, whatever its value (`null` included).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

impl ClientMessage {
    /// Parses one text frame.
    pub fn parse(text: &str) -> Result<ClientMessage, String> {
        let f: Fields = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let ty = f.ty.as_ref();
        let allowed: &[&str] = match ty {
            "hello" => &["token", "since", "protocol"],
            "changes" => &["changes"],
            "presence" => &["state"],
            "ping" => &[],
            other => {
                return Err(format!(
                    "unknown message type `{other}` (expected hello, changes, presence or ping)"
                ))
            }
        };
        let present = [
            ("token", f.token.is_some()),
            ("since", f.since.is_some()),
            ("protocol", f.protocol.is_some()),
            ("changes", f.changes.is_some()),
            ("state", f.state.is_some()),
        ];
        if let Some((name, _)) = present
            .iter()
            .find(|(name, there)| *there && !allowed.contains(name))
        {
            return Err(format!("{ty}: unknown field `{name}`"));
        }
        let missing = |name: &str| format!("{ty}: missing field `{name}`");
        Ok(match ty {
            "hello" => ClientMessage::Hello {
                token: f.token.ok_or_else(|| missing("token"))?,
                since: f.since,
                protocol: f.protocol,
            },
            "changes" => ClientMessage::Changes {
                changes: f.changes.ok_or_else(|| missing("changes"))?,
            },
            "presence" => ClientMessage::Presence {
                state: f.state.ok_or_else(|| missing("state"))?,
            },
            _ => ClientMessage::Ping,
        })
    }
}

/// One change a client asks for.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    /// The client's id for this change, echoed in its ack or reject.
    pub client_id: String,
    pub op: Op,
    /// The record's id (client-chosen on create).
    pub id: String,
    /// Required on create; on update and delete it must match the record's kind if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// The record's content (create and update): a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub content: Option<Box<RawValue>>,
    /// The revision the change was made on; a stale one is rejected with the current record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_rev: Option<i64>,
}

#[cfg(test)]
mod tests {
    //! `ClientMessage::parse` reads every frame a client sends, before any authentication: no
    //! input may make it panic, and what a well-behaved client sends must come back intact.

    use super::*;
    use crate::wire::common::PROTOCOL_VERSION;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    /// Field names the parser knows (top level and in changes), plus strangers.
    const KEYS: &[&str] = &[
        "type",
        "token",
        "since",
        "protocol",
        "changes",
        "state",
        "client_id",
        "op",
        "id",
        "kind",
        "content",
        "base_rev",
        "extra",
        "",
    ];
    const TYPES: &[&str] = &["hello", "changes", "presence", "ping", "pong", "HELLO", ""];
    const OPS: &[&str] = &["create", "update", "delete", "upsert"];
    const KINDS: &[&str] = &["annotation", "comment", "form_field", "bookmark", "page"];

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(KEYS).prop_map(str::to_string),
            ".{0,8}",
        ]
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            prop::sample::select(TYPES).prop_map(Value::from),
            prop::sample::select(OPS).prop_map(Value::from),
            prop::sample::select(KINDS).prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
        ]
    }

    /// Arbitrary JSON whose shape often resembles a client message.
    fn json_ish() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// A top-level message: an object with a `type` and arbitrary known or unknown fields.
    fn message_ish() -> impl Strategy<Value = Value> {
        (
            prop::sample::select(TYPES),
            prop::collection::vec((key(), json_ish()), 0..5),
        )
            .prop_map(|(ty, fields)| {
                let mut obj: serde_json::Map<String, Value> = fields.into_iter().collect();
                obj.insert("type".into(), ty.into());
                Value::Object(obj)
            })
    }

    fn content() -> impl Strategy<Value = Value> {
        prop::collection::vec((".{0,8}", json_ish()), 0..5)
            .prop_map(|kv| Value::Object(kv.into_iter().collect()))
    }

    #[derive(Debug, Clone)]
    struct Change {
        client_id: String,
        op: &'static str,
        id: String,
        kind: Option<&'static str>,
        content: Option<Value>,
        base_rev: Option<i64>,
    }

    fn change() -> impl Strategy<Value = Change> {
        (
            ".{0,16}",
            prop::sample::select(&OPS[..3]),
            ".{0,16}",
            prop::option::of(prop::sample::select(&KINDS[..4])),
            prop::option::of(content()),
            any::<Option<i64>>(),
        )
            .prop_map(|(client_id, op, id, kind, content, base_rev)| Change {
                client_id,
                op,
                id,
                kind,
                content,
                base_rev,
            })
    }

    fn change_json(c: &Change) -> Value {
        let mut v = json!({"client_id": c.client_id, "op": c.op, "id": c.id});
        if let Some(kind) = c.kind {
            v["kind"] = kind.into();
        }
        if let Some(content) = &c.content {
            v["content"] = content.clone();
        }
        if let Some(base) = c.base_rev {
            v["base_rev"] = base.into();
        }
        v
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            let _ = ClientMessage::parse(&text);
        }

        #[test]
        fn arbitrary_bytes_read_as_text_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = ClientMessage::parse(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn arbitrary_json_never_panics(value in json_ish()) {
            let _ = ClientMessage::parse(&value.to_string());
        }

        #[test]
        fn arbitrary_message_shapes_never_panic(value in message_ish()) {
            let _ = ClientMessage::parse(&value.to_string());
        }

        #[test]
        fn a_valid_hello_round_trips(
            token in ".{0,64}",
            since in any::<Option<i64>>(),
            protocol in any::<Option<u32>>(),
        ) {
            let mut v = json!({"type": "hello", "token": token});
            if let Some(s) = since { v["since"] = s.into(); }
            if let Some(p) = protocol { v["protocol"] = p.into(); }
            match ClientMessage::parse(&v.to_string()) {
                Ok(ClientMessage::Hello { token: t, since: s, protocol: p }) => {
                    prop_assert_eq!(t, token);
                    prop_assert_eq!(s, since);
                    prop_assert_eq!(p, protocol);
                }
                other => prop_assert!(false, "{v} parsed as {other:?}"),
            }
        }

        #[test]
        fn valid_changes_round_trip_with_content_byte_for_byte(
            changes in prop::collection::vec(change(), 0..5),
        ) {
            let text = json!({
                "type": "changes",
                "changes": changes.iter().map(change_json).collect::<Vec<_>>(),
            })
            .to_string();
            let Ok(ClientMessage::Changes { changes: parsed }) = ClientMessage::parse(&text) else {
                return Err(TestCaseError::fail(format!("{text} did not parse as changes")));
            };
            prop_assert_eq!(parsed.len(), changes.len());
            for (got, want) in parsed.iter().zip(&changes) {
                prop_assert_eq!(&got.client_id, &want.client_id);
                prop_assert_eq!(got.op.as_str(), want.op);
                prop_assert_eq!(&got.id, &want.id);
                prop_assert_eq!(got.kind.map(Kind::as_str), want.kind);
                prop_assert_eq!(got.base_rev, want.base_rev);
                prop_assert_eq!(
                    got.content.as_ref().map(|c| c.get().to_string()),
                    want.content.as_ref().map(Value::to_string)
                );
            }
        }

        #[test]
        fn presence_state_round_trips_byte_for_byte(state in json_ish()) {
            let text = format!(r#"{{"type":"presence","state":{state}}}"#);
            match ClientMessage::parse(&text) {
                Ok(ClientMessage::Presence { state: raw }) => {
                    prop_assert_eq!(raw.get(), state.to_string());
                }
                other => prop_assert!(false, "{text} parsed as {other:?}"),
            }
        }
    }

    /// What `Serialize` writes (the shape the schema describes, and what tools built on these
    /// types send) is what `parse` reads back.
    #[test]
    fn serialised_messages_parse_back_the_same() {
        let raw = |s: &str| RawValue::from_string(s.to_string()).unwrap();
        let messages = [
            ClientMessage::Hello {
                token: "t".into(),
                since: Some(4),
                protocol: Some(PROTOCOL_VERSION),
            },
            ClientMessage::Hello {
                token: "t".into(),
                since: None,
                protocol: None,
            },
            ClientMessage::Changes {
                changes: vec![ChangeRequest {
                    client_id: "c1".into(),
                    op: Op::Update,
                    id: "r1".into(),
                    kind: Some(Kind::Comment),
                    content: Some(raw(r#"{"text": "hi",  "n": 1e999}"#)),
                    base_rev: Some(3),
                }],
            },
            ClientMessage::Presence { state: raw("null") },
            ClientMessage::Ping,
        ];
        for message in messages {
            let text = serde_json::to_string(&message).unwrap();
            let back = ClientMessage::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(format!("{back:?}"), format!("{message:?}"), "{text}");
        }
    }

    /// The web client's `setPresence(null)` sends this: a state, not a missing field.
    #[test]
    fn a_null_presence_state_is_a_state() {
        match ClientMessage::parse(r#"{"type":"presence","state":null}"#) {
            Ok(ClientMessage::Presence { state }) => assert_eq!(state.get(), "null"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hostile_shapes_are_errors_not_panics() {
        let deep = 100_000;
        for text in [
            format!(r#"{{"type":"presence","state":{}{}}}"#, "[".repeat(deep), "]".repeat(deep)),
            format!(r#"{{"type":"presence","state":{}"#, "[".repeat(deep)),
            format!("{}{}", "[".repeat(deep), "]".repeat(deep)),
            r#"{"type":"hello","token":"t","since":1e999}"#.to_string(),
            r#"{"type":"hello","token":"t","since":9223372036854775808}"#.to_string(),
            r#"{"type":"hello","token":"t","protocol":-1}"#.to_string(),
            r#"{"type":"changes","changes":[{"client_id":"c","op":"create","id":"x","base_rev":1e999}]}"#.to_string(),
            r#"{"type":"hello","type":"ping","token":"t"}"#.to_string(),
            "\u{feff}{\"type\":\"ping\"}".to_string(),
            r#"{"type":"changes","changes":null}"#.to_string(),
        ] {
            let _ = ClientMessage::parse(&text);
        }
        // A deeply nested presence state is captured as raw text, not recursed into.
        let text = format!(
            r#"{{"type":"presence","state":{}{}}}"#,
            "[".repeat(deep),
            "]".repeat(deep)
        );
        assert!(matches!(
            ClientMessage::parse(&text),
            Ok(ClientMessage::Presence { .. })
        ));
    }
}
