//! Types both directions of the live protocol and the REST API share: what a change does, the
//! kinds of record, a record as clients see it, who made a change, why a change was rejected and
//! why a session was closed.

use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

/// The protocol version this server speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// What a change does to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordView<'a> {
    pub id: &'a str,
    pub kind: Kind,
    /// The record's content: a JSON object, as its writer sent it, byte for byte.
    #[schema(value_type = Object)]
    pub content: &'a RawValue,
    /// The user who created the record.
    pub creator: &'a str,
    #[schema(required = true)]
    pub creator_name: Option<&'a str>,
    /// The creator's group, for group-scoped rights.
    #[schema(required = true)]
    pub group: Option<&'a str>,
    /// The sequence number of the record's last change.
    pub rev: i64,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
}

/// A snapshot's record list: built for one session ([`RecordView`]s filtered by its rights),
/// or every record of the layer, serialised once and shared by every session that may see them
/// all (`actors::state::DocState::keep_full_snapshot`). The same JSON either way: an array of
/// records ordered by revision.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum SnapshotRecords<'a> {
    Built(Vec<RecordView<'a>>),
    Shared(&'a RawValue),
}

/// A time stored as microseconds since the Unix epoch, serialised as RFC 3339 (UTC, as
/// [`crate::time_util::micros_to_rfc3339`]) from a buffer on the stack: a snapshot formats two
/// per record, with no `String` allocated for either.
#[derive(Debug, Clone, Copy)]
pub struct Timestamp(pub i64);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; crate::time_util::RFC3339_MAX_LEN];
        serializer.serialize_str(crate::time_util::format_rfc3339(self.0, &mut buf))
    }
}

/// Who made a change.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Author {
    pub user_id: String,
    #[schema(required = true)]
    pub user_name: Option<String>,
}

/// What a session may do, after every attenuation of its token: permission names
/// (docs/api.md, Rights). Sent in the welcome as raw JSON built from the token's grant; this type
/// describes its shape for the schema.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionRights {
    pub permissions: Vec<String>,
    pub collaboration_permissions: Vec<String>,
}

/// Why a change was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
    /// Not applied: the change was part of an all-or-nothing batch (an import) in which another
    /// change was rejected.
    Aborted,
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
