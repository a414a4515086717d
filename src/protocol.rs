//! Wire messages of the live protocol (version 1), shared by the session actor, the document
//! actor and the tests. `docs/protocol.md` is the reference for client authors; keep the two in
//! step.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The protocol version this server speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// A message from the client.
#[derive(Debug)]
pub enum ClientMessage {
    /// First message: authenticate and join. `since` asks for the changes after that sequence
    /// number instead of a snapshot.
    Hello {
        token: String,
        since: Option<i64>,
        protocol: Option<u32>,
    },
    /// A batch of changes, each answered by an `ack` or a `reject`.
    Changes { changes: Vec<ChangeRequest> },
    /// This session's ephemeral state (current page, selection…), relayed to others, never stored.
    Presence { state: Box<RawValue> },
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
    state: Option<Box<RawValue>>,
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
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    /// The client's id for this change, echoed in its ack or reject.
    pub client_id: String,
    pub op: Op,
    /// The record's id (client-chosen on create).
    pub id: String,
    /// Required on create; on update and delete it must match the record's kind if given.
    #[serde(default)]
    pub kind: Option<Kind>,
    /// The record's content (create and update).
    #[serde(default)]
    pub content: Option<Box<RawValue>>,
    /// The revision the change was made on; a stale one is rejected with the current record.
    #[serde(default)]
    pub base_rev: Option<i64>,
}

/// What a change does to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Create,
    Update,
    Delete,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

/// What kind of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Annotation,
    Comment,
    FormField,
    Bookmark,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Annotation => "annotation",
            Kind::Comment => "comment",
            Kind::FormField => "form_field",
            Kind::Bookmark => "bookmark",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        [
            Kind::Annotation,
            Kind::Comment,
            Kind::FormField,
            Kind::Bookmark,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A record as clients see it.
#[derive(Debug, Clone, Serialize)]
pub struct RecordView<'a> {
    pub id: &'a str,
    pub kind: Kind,
    pub content: &'a RawValue,
    pub creator: &'a str,
    pub creator_name: Option<&'a str>,
    pub group: Option<&'a str>,
    /// The sequence number of the record's last change.
    pub rev: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// Who made a change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Author {
    pub user_id: String,
    pub user_name: Option<String>,
}

/// Why a change was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// `base_rev` is not the record's current revision; `current` holds the record.
    StaleBase,
    /// The session's rights do not allow this change.
    NotPermitted,
    /// The change or its content is invalid; the message says why.
    Invalid,
    /// The record or change exceeds a size limit.
    TooLarge,
    /// Create of an id that exists.
    AlreadyExists,
    /// Update or delete of a record that does not exist.
    NotFound,
    /// The server could not commit the change (the database is unreachable or failed); nothing
    /// was applied. Retryable: send the change again, after a short backoff.
    Unavailable,
    /// The document has too many changes waiting to be committed. Retryable after a backoff.
    Busy,
    /// The document holds as many records, or as many bytes of record content, as the server
    /// allows (`--max-records-per-document`, `--max-record-bytes-per-document`).
    LimitExceeded,
}

impl RejectCode {
    /// Whether sending the same change again later may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, RejectCode::Unavailable | RejectCode::Busy)
    }
}

/// Close codes, in the application range 4000–4999 (plus 1001 for shutdown). The close reason
/// is `<name>: <human message>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCode {
    /// The client closed; the server answers in kind.
    Normal,
    ProtocolError,
    Unauthorized,
    TokenExpired,
    TokenRevoked,
    DocumentDeleted,
    TooSlow,
    RateLimited,
    HelloTimeout,
    Reconnect,
    HeartbeatTimeout,
    ShuttingDown,
}

impl CloseCode {
    /// The numeric code sent in the close frame.
    pub fn code(self) -> u16 {
        match self {
            CloseCode::Normal => 1000,
            CloseCode::ShuttingDown => 1001,
            CloseCode::ProtocolError => 4000,
            CloseCode::Unauthorized => 4001,
            CloseCode::TokenExpired => 4002,
            CloseCode::TokenRevoked => 4003,
            CloseCode::DocumentDeleted => 4004,
            CloseCode::TooSlow => 4005,
            CloseCode::RateLimited => 4006,
            CloseCode::HelloTimeout => 4007,
            CloseCode::Reconnect => 4008,
            CloseCode::HeartbeatTimeout => 4009,
        }
    }

    /// The stable name that starts the close reason.
    pub fn name(self) -> &'static str {
        match self {
            CloseCode::Normal => "normal",
            CloseCode::ShuttingDown => "shutting_down",
            CloseCode::ProtocolError => "protocol_error",
            CloseCode::Unauthorized => "unauthorized",
            CloseCode::TokenExpired => "token_expired",
            CloseCode::TokenRevoked => "token_revoked",
            CloseCode::DocumentDeleted => "document_deleted",
            CloseCode::TooSlow => "too_slow",
            CloseCode::RateLimited => "rate_limited",
            CloseCode::HelloTimeout => "hello_timeout",
            CloseCode::Reconnect => "reconnect",
            CloseCode::HeartbeatTimeout => "heartbeat_timeout",
        }
    }
}

/// A reason to close a session: code plus human message.
#[derive(Debug, Clone)]
pub struct CloseReason {
    pub code: CloseCode,
    pub message: String,
}

impl CloseReason {
    pub fn new(code: CloseCode, message: impl Into<String>) -> CloseReason {
        CloseReason {
            code,
            message: message.into(),
        }
    }

    /// The close frame's reason text, `<name>: <message>`, cut to the 123 bytes a frame allows.
    pub fn text(&self) -> String {
        let mut text = format!("{}: {}", self.code.name(), self.message);
        if text.len() > 123 {
            let mut end = 123;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        text
    }
}
