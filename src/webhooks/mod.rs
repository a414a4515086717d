//! Webhooks: backends register endpoints (API key); events go to an outbox table in the same
//! transaction as the change they describe ([`enqueue_batches`], from the committer) or right
//! after the action ([`enqueue`]: uploads, deletions, revocations); the [`dispatcher`] delivers
//! them to each endpoint in outbox order (so in order per document), signed the way Standard
//! Webhooks specifies, retrying with exponential backoff and recording every attempt. All of
//! its state is in the database, so deliveries go on after a restart. See docs/webhooks.md.

pub mod dispatcher;

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ConnectionTrait, DbErr, EntityTrait, QueryOrder, QuerySelect,
};
use serde_json::json;
use sha2::Sha256;

use crate::entities::{webhook_endpoint, webhook_event};
use crate::store::Batch;
use crate::time_util::{micros_to_rfc3339, now_micros};

/// Longest endpoint URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// Most endpoints registered at once.
pub const MAX_ENDPOINTS: u64 = 100;
/// Longest wait between two attempts at one event.
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// Appends a `records.changed` event for each batch in `batches` (one multi-row statement for
/// the group), inside their transaction: an event exists exactly when its changes were
/// committed.
pub async fn enqueue_batches(txn: &impl ConnectionTrait, batches: &[&Batch]) -> Result<(), DbErr> {
    let now = now_micros();
    let timestamp = micros_to_rfc3339(now);
    let mut rows = batches.iter().filter_map(|batch| {
        let (first, last) = (batch.changes.first()?, batch.changes.last()?);
        let mut layers: Vec<&str> = batch.changes.iter().map(|c| c.layer.as_str()).collect();
        layers.sort_unstable();
        layers.dedup();
        let payload = json!({
            "type": "records.changed",
            "timestamp": timestamp,
            "data": {
                "document_id": batch.document_id,
                "from_seq": first.seq,
                "to_seq": last.seq,
                "changes": batch.changes.len(),
                "layers": layers,
            },
        });
        Some(webhook_event::ActiveModel {
            id: NotSet,
            kind: Set("records.changed".to_string()),
            document_id: Set(Some(batch.document_id.clone())),
            payload: Set(payload.to_string()),
            created_at: Set(now),
        })
    });
    loop {
        let chunk: Vec<_> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        webhook_event::Entity::insert_many(chunk).exec(txn).await?;
    }
}

/// Who opened a live session: the `data` of a `session.opened` event (never the token).
pub struct SessionOpened {
    pub document_id: String,
    /// As clients and `GET /api/documents/{id}/sessions` show it.
    pub session_id: String,
    pub user_id: String,
    pub user_name: Option<String>,
    pub layer: String,
}

/// The outbox row of a `session.opened` event. It is written with the usage row of the open,
/// in the committer's next group transaction (see `crate::usage::record_open`): no transaction
/// of its own, never per change, and before the session's first change can commit, so a
/// receiver sees it before that session's `records.changed`.
pub fn session_opened(event: SessionOpened) -> webhook_event::ActiveModel {
    let data = json!({
        "document_id": event.document_id,
        "session_id": event.session_id,
        "user_id": event.user_id,
        "user_name": event.user_name,
        "layer": event.layer,
    });
    row("session.opened", Some(&event.document_id), data)
}

/// An outbox row for an event of `kind` with `data`, stamped now.
fn row(
    kind: &'static str,
    document_id: Option<&str>,
    data: serde_json::Value,
) -> webhook_event::ActiveModel {
    let now = now_micros();
    let payload = json!({"type": kind, "timestamp": micros_to_rfc3339(now), "data": data});
    webhook_event::ActiveModel {
        id: NotSet,
        kind: Set(kind.to_string()),
        document_id: Set(document_id.map(str::to_string)),
        payload: Set(payload.to_string()),
        created_at: Set(now),
    }
}

/// Outbox rows per multi-row insert (5 parameters each).
const ROWS_PER_STATEMENT: usize = 500;

/// Appends an event of `kind` with `data` to the outbox.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    kind: &'static str,
    document_id: Option<&str>,
    data: serde_json::Value,
) -> Result<(), DbErr> {
    webhook_event::Entity::insert(row(kind, document_id, data))
        .exec(db)
        .await
        .map(|_| ())
}

/// Checks an endpoint URL: `http` or `https`, with a host, at most [`MAX_URL_LEN`] bytes.
pub fn validate_url(url: &str) -> Result<url::Url, String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!("`url` is at most {MAX_URL_LEN} bytes"));
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("`url` is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err("`url` must be an http or https URL with a host".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("`url` must not carry credentials".into());
    }
    Ok(parsed)
}

/// A new secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The `webhook-signature` value: `v1,` and the base64 HMAC-SHA256, keyed with the secret's
/// bytes, of `{id}.{timestamp}.{body}` (Standard Webhooks).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|k| base64::engine::general_purpose::STANDARD.decode(k).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes a key of any length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// The delay before attempt `failures + 1`: `base` doubled per failure, at most [`MAX_BACKOFF`].
pub fn backoff(base: Duration, failures: u32) -> Duration {
    base.saturating_mul(1u32 << failures.min(20))
        .min(MAX_BACKOFF)
}

/// The id of the newest event: a new endpoint gets only what comes after it.
pub async fn newest_event(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    Ok(webhook_event::Entity::find()
        .order_by_desc(webhook_event::Column::Id)
        .limit(1)
        .one(db)
        .await?
        .map_or(0, |e| e.id))
}

/// Registers an endpoint; returns it with its secret (shown once).
pub async fn register(
    db: &impl ConnectionTrait,
    url: &str,
    created_by: String,
) -> Result<webhook_endpoint::Model, DbErr> {
    let mut id = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut id);
    let now = now_micros();
    let model = webhook_endpoint::Model {
        id: hex::encode(id),
        url: url.to_string(),
        secret: new_secret(),
        created_by,
        created_at: now,
        cursor: newest_event(db).await?,
        failures: 0,
        next_attempt_at: now,
    };
    webhook_endpoint::Entity::insert(webhook_endpoint::ActiveModel {
        id: Set(model.id.clone()),
        url: Set(model.url.clone()),
        secret: Set(model.secret.clone()),
        created_by: Set(model.created_by.clone()),
        created_at: Set(model.created_at),
        cursor: Set(model.cursor),
        failures: Set(0),
        next_attempt_at: Set(now),
    })
    .exec(db)
    .await?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, id, 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_secs(1);
        assert_eq!(backoff(base, 0), Duration::from_secs(1));
        assert_eq!(backoff(base, 3), Duration::from_secs(8));
        assert_eq!(backoff(base, 40), MAX_BACKOFF);
    }

    #[test]
    fn urls_are_checked() {
        assert!(validate_url("https://example.com/hook").is_ok());
        for bad in [
            "ftp://example.com",
            "not a url",
            "http://user:pw@example.com/",
            "file:///etc/passwd",
        ] {
            assert!(validate_url(bad).is_err(), "{bad}");
        }
        assert!(validate_url(&format!("http://e.com/{}", "a".repeat(MAX_URL_LEN))).is_err());
    }

    proptest! {
        #[test]
        fn any_url_text_is_answered_without_panic(s in ".{0,300}") {
            let _ = validate_url(&s);
        }
    }
}
