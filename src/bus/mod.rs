//! The bus between nodes: small hints that wake other nodes up (a document's head moved, a
//! document was deleted, a token was revoked). A hint is never the truth, only a wake-up: the
//! database is, so a lost or late hint delays and never loses (document actors also catch up on
//! their next commit and on a slow periodic check, and all of them after the listener
//! reconnects).
//!
//! The transport sits behind [`Bus`] (publishing) and [`Receiver`] (what a node does with what
//! it hears), so a message broker could replace PostgreSQL's LISTEN/NOTIFY ([`pg`]) when one
//! database's notification queue becomes the bound. On SQLite (one node) the bus is [`NoBus`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

pub mod node;
pub mod pg;

/// PostgreSQL caps a notification's payload at 8000 bytes; a hint is far smaller (document ids
/// and revocation ids are bounded where they enter), and anything longer is not read.
pub const MAX_HINT_BYTES: usize = 7_999;

/// Most revocation ids one hint carries (the revoke endpoint sends one).
pub const MAX_REVOKED_PER_HINT: usize = 16;

/// What a presence hint says about a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceKind {
    Joined,
    State,
    Left,
    /// A node just opened the document: the others announce their sessions of it.
    Sync,
}

/// What one node tells the others.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case", deny_unknown_fields)]
pub enum Hint {
    /// The document's head is now `h`: a node hosting it reads its log after its own head.
    Head { d: String, h: i64 },
    /// The document was deleted: its sessions close on every node.
    Deleted { d: String },
    /// These token revocation ids were revoked: sessions holding them close on every node, and
    /// cached verifications are forgotten.
    Revoked { r: Vec<String> },
    /// A session of document `d` on the sending node (label `s`, user `u`, name `un`) joined,
    /// set its presence state `st`, or left: ephemeral, never stored, coalesced by the sender
    /// to one hint per session per 50 ms. A state is at most 4 KiB (and was checked to be
    /// plain JSON), so a hint stays under the payload limit. (A parsed value, not raw text:
    /// raw JSON cannot pass through a tagged enum.)
    Presence {
        d: String,
        s: String,
        u: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        un: Option<String>,
        e: PresenceKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        st: Option<serde_json::Value>,
    },
}

impl Hint {
    pub fn head(document_id: &str, head: i64) -> Hint {
        Hint::Head {
            d: document_id.to_string(),
            h: head,
        }
    }
}

/// A hint as sent: the sending node's id beside it, so a node skips its own.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    n: String,
    #[serde(flatten)]
    hint: Hint,
}

/// This process's node id: random, fixed for the process's life. It tells a node's own hints
/// from others' and makes session labels unique across nodes.
pub fn node_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| format!("{:08x}", rand::random::<u32>()))
}

/// The payload of `hint` sent by this node.
pub fn encode(hint: &Hint) -> String {
    serde_json::to_string(&Envelope {
        n: node_id().to_string(),
        hint: hint.clone(),
    })
    .expect("hints serialise")
}

/// Why a payload is not a hint this node acts on.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the payload is longer than {MAX_HINT_BYTES} bytes")]
    TooLong,
    #[error("the payload is not a hint: {0}")]
    Malformed(String),
    #[error("the hint carries more than {MAX_REVOKED_PER_HINT} revocation ids")]
    TooMany,
    /// Sent by this node: already handled here.
    #[error("the hint was sent by this node")]
    Own,
}

/// Reads a payload from the bus (outside input: bounded, never panics).
pub fn decode(payload: &str) -> Result<Hint, DecodeError> {
    decode_for(payload, node_id())
}

fn decode_for(payload: &str, own: &str) -> Result<Hint, DecodeError> {
    if payload.len() > MAX_HINT_BYTES {
        return Err(DecodeError::TooLong);
    }
    let envelope: Envelope =
        serde_json::from_str(payload).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if envelope.n == own {
        return Err(DecodeError::Own);
    }
    if let Hint::Revoked { r } = &envelope.hint {
        if r.len() > MAX_REVOKED_PER_HINT {
            return Err(DecodeError::TooMany);
        }
    }
    Ok(envelope.hint)
}

/// Why a hint could not be published.
#[derive(Debug, thiserror::Error)]
#[error("the bus could not publish: {0}")]
pub struct PublishError(pub String);

/// Publishes hints to the other nodes (hints of commits are published by the committing
/// transaction itself, see `store`).
pub trait Bus: Send + Sync {
    fn publish(&self, hint: Hint) -> BoxFuture<'static, Result<(), PublishError>>;
}

/// What a node does with what it hears.
pub trait Receiver: Send + Sync + 'static {
    /// Another node sent `hint`.
    fn hint(&self, hint: Hint);
    /// Hints may have been lost (the listener reconnected): every live document catches up.
    fn resync(&self);
}

/// The bus of a single node (SQLite): nobody to tell.
pub struct NoBus;

impl Bus for NoBus {
    fn publish(&self, _: Hint) -> BoxFuture<'static, Result<(), PublishError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Whether this node hears the others (for `/readyz`). Always true on a single node.
#[derive(Debug)]
pub struct Listening(AtomicBool);

impl Listening {
    pub fn new(listening: bool) -> Arc<Listening> {
        Arc::new(Listening(AtomicBool::new(listening)))
    }
    pub fn set(&self, listening: bool) {
        self.0.store(listening, Ordering::Relaxed);
    }
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hints_round_trip_and_own_ones_are_skipped() {
        for hint in [
            Hint::head("d1", 42),
            Hint::Deleted { d: "d2".into() },
            Hint::Revoked {
                r: vec!["ab".into()],
            },
            Hint::Presence {
                d: "d3".into(),
                s: "s1-2".into(),
                u: "u".into(),
                un: Some("U".into()),
                e: PresenceKind::State,
                st: Some(serde_json::json!({"page": 1})),
            },
        ] {
            let payload = encode(&hint);
            assert!(payload.len() < 200, "{payload}");
            assert_eq!(
                format!("{:?}", decode_for(&payload, "other")),
                format!("{:?}", Ok::<_, DecodeError>(hint))
            );
            assert!(matches!(decode(&payload), Err(DecodeError::Own)));
        }
    }

    #[test]
    fn bad_payloads_are_refused() {
        assert!(matches!(
            decode(&"x".repeat(MAX_HINT_BYTES + 1)),
            Err(DecodeError::TooLong)
        ));
        assert!(matches!(decode("{"), Err(DecodeError::Malformed(_))));
        assert!(matches!(
            decode(r#"{"n":"x","t":"head","d":"a","h":1,"extra":2}"#),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            decode(r#"{"n":"x","t":"launch"}"#),
            Err(DecodeError::Malformed(_))
        ));
        let many = format!(
            r#"{{"n":"x","t":"revoked","r":[{}]}}"#,
            vec!["\"a\""; MAX_REVOKED_PER_HINT + 1].join(",")
        );
        assert!(matches!(decode(&many), Err(DecodeError::TooMany)));
    }

    proptest! {
        #[test]
        fn decoding_never_panics(payload in ".{0,300}") {
            let _ = decode(&payload);
        }

        #[test]
        fn head_hints_round_trip(d in "[a-zA-Z0-9_-]{1,64}", h in any::<i64>()) {
            let hint = Hint::head(&d, h);
            let back = decode_for(&encode(&hint), "other");
            let same = matches!(back, Ok(Hint::Head { d: bd, h: bh }) if bd == d && bh == h);
            prop_assert!(same);
        }
    }
}
