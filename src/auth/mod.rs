//! Authentication and authorisation: backend API keys and biscuit session tokens.

pub mod access;
pub mod api_keys;
pub mod cache;
pub mod revocations;
pub mod rights;
pub mod root_key;
pub mod shape;
pub mod tokens;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::SystemTime;

use sea_orm::DatabaseConnection;
use tokio::sync::Semaphore;

pub use shape::TokenLimits;

/// Verifies session tokens against the root key and the revocation list; shared by the client
/// HTTP routes and the WebSocket sessions. Cloning shares one cache and one verification pool.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    root_key: tokens::RootKey,
    committer: crate::store::Committer,
    limits: TokenLimits,
    cache: cache::ClaimsCache,
    /// Verifications running at once. The work runs on tokio's blocking pool, never on the
    /// async workers that serve HTTP and WebSockets; this bound keeps a flood of tokens from
    /// taking every core.
    permits: Semaphore,
}

impl Authenticator {
    /// One per server. `limits` bounds the tokens it accepts (`--max-token-bytes`).
    pub fn new(
        db: DatabaseConnection,
        root_key: tokens::RootKey,
        committer: crate::store::Committer,
        limits: TokenLimits,
    ) -> Authenticator {
        Authenticator {
            inner: Arc::new(Inner {
                db,
                root_key,
                committer,
                limits,
                cache: cache::ClaimsCache::default(),
                permits: Semaphore::new(verification_threads()),
            }),
        }
    }

    /// Verifies a session token: refuses it before any datalog runs if it is too large, has too
    /// many blocks or an attenuation block that is not bounded checks (see [`shape`]), fails its
    /// signature, or is revoked; then evaluates its rights. A verified token is cached by its
    /// hash (see [`cache`]). A token for a managed document is refused once that document id
    /// names a different document than the one it was minted for.
    pub async fn session(&self, token: &str) -> Result<tokens::VerifiedToken, Error> {
        let inner = &self.inner;
        let token = token.trim();
        // Checked here too so an oversized token is not even hashed.
        if token.len() > inner.limits.max_bytes {
            return Err(Error::TooLarge {
                size: token.len(),
                max: inner.limits.max_bytes,
            });
        }
        let key = cache::key(token);
        let now = SystemTime::now();
        let cached = inner.cache.get(&key, now);
        let from_cache = cached.is_some();
        let metrics = crate::metrics::get();
        metrics
            .token_cache
            .with_label_values(&[if from_cache { "hit" } else { "miss" }])
            .inc();
        let verified = match cached {
            Some(verified) => verified,
            None => {
                let started = std::time::Instant::now();
                let (public, limits, text) =
                    (inner.root_key.public(), inner.limits, token.to_string());
                let checked = self
                    .off_workers(move || tokens::read(public, &text, &limits))
                    .await?;
                if revocations::any_revoked(&inner.db, &checked.revocation_ids).await? {
                    return Err(Error::Revoked);
                }
                let verified = self
                    .off_workers(move || tokens::evaluate(checked, now))
                    .await?;
                inner.cache.insert(key, verified.clone(), now);
                crate::metrics::observe_since(&metrics.token_verify_seconds, started);
                verified
            }
        };
        match self.check_incarnation(&verified).await {
            // The database is down, but this token was fully verified (revocation included)
            // moments ago: reads of loaded documents keep working through an outage.
            Err(Error::Database(e)) if from_cache => {
                tracing::warn!(error = %e, "document check skipped for a cached token: the database does not answer");
            }
            other => other?,
        }
        Ok(verified)
    }

    /// Refuses a token bound to an earlier document under the same id. A missing document is
    /// left to the caller (it answers `document_not_found` or closes with `document_deleted`).
    async fn check_incarnation(&self, token: &tokens::VerifiedToken) -> Result<(), Error> {
        let (tokens::DocumentRef::Managed(id), Some(created)) =
            (&token.grant.document, token.grant.document_created)
        else {
            return Ok(());
        };
        match document_created_at(&self.inner.db, id).await? {
            Some(current) if current != created => Err(Error::DocumentReplaced),
            _ => Ok(()),
        }
    }

    /// Runs `work` on the blocking pool, at most [`verification_threads`] at once.
    async fn off_workers<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Internal("the verification pool is closed".into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| Error::Internal(format!("token verification failed: {e}")))?
    }

    /// Forgets cached verifications of tokens with any of these revocation ids; called when a
    /// token is revoked on this node.
    pub fn forget_revoked(&self, ids: &HashSet<String>) {
        self.inner.cache.forget_revoked(ids);
    }

    /// Meters one successful session open, with the open's webhook event if given (see
    /// [`crate::usage::record_open`]).
    pub async fn record_open(
        &self,
        token: &tokens::VerifiedToken,
        event: Option<crate::entities::webhook_event::ActiveModel>,
    ) -> Result<(), sea_orm::DbErr> {
        crate::usage::record_open(&self.inner.committer, token, event).await
    }
}

/// The `created_at` of document `id`, if it exists: one primary-key read.
async fn document_created_at(db: &DatabaseConnection, id: &str) -> Result<Option<i64>, Error> {
    use crate::entities::document;
    use sea_orm::{EntityTrait, QuerySelect};
    Ok(document::Entity::find_by_id(id.to_string())
        .select_only()
        .column(document::Column::CreatedAt)
        .into_tuple::<i64>()
        .one(db)
        .await?)
}

/// Verifications that may run at once: half the cores (at least one), so a flood of tokens
/// leaves the other half to the requests and sessions already being served.
pub fn verification_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() / 2)
        .unwrap_or(1)
        .max(1)
}

/// Why a credential was refused. Each variant is a reason a developer integrating Quire can act
/// on; `http::error` maps them to status codes and stable machine-readable codes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no credentials: send `Authorization: Bearer <{0}>`")]
    MissingCredentials(&'static str),
    #[error("the API key is not valid (unknown, revoked, or mistyped)")]
    InvalidApiKey,
    #[error("the session token is malformed: {0}")]
    Malformed(String),
    #[error(
        "the session token is {size} bytes; this server accepts at most {max} (--max-token-bytes)"
    )]
    TooLarge { size: usize, max: usize },
    #[error("the session token has {count} blocks; at most {max} are accepted (the authority block and {} attenuations)", max - 1)]
    TooManyBlocks { count: usize, max: usize },
    #[error("the session token is refused: {0}")]
    BlockNotAllowed(String),
    #[error("the session token is refused as too costly to verify: {0}")]
    TooComplex(String),
    #[error("the session token was minted for an earlier document with this id, which has been deleted; mint a new token for the current document")]
    DocumentReplaced,
    #[error("the session token's signature does not verify against this server's root key (signed by another key, truncated or edited)")]
    BadSignature,
    #[error("the session token has expired; mint a new one")]
    Expired,
    #[error("the session token has been revoked")]
    Revoked,
    #[error("the session token is for another document")]
    WrongDocument,
    #[error("the session token lacks a right: {0}")]
    RightMissing(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("root key: {0}")]
    RootKey(String),
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("internal error: {0}")]
    Internal(String),
}
