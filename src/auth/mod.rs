//! Authentication and authorisation: backend API keys and biscuit session tokens.

pub mod access;
pub mod api_keys;
pub mod revocations;
pub mod rights;
pub mod tokens;

use std::time::SystemTime;

use sea_orm::DatabaseConnection;

/// Verifies session tokens against the root key and the revocation list; shared by the client
/// HTTP routes and the WebSocket sessions.
#[derive(Clone)]
pub struct Authenticator {
    pub db: DatabaseConnection,
    pub root_key: tokens::RootKey,
    pub committer: crate::store::Committer,
}

impl Authenticator {
    /// Verifies signature, expiry and rights, then revocation.
    pub async fn session(&self, token: &str) -> Result<tokens::VerifiedToken, Error> {
        let verified = tokens::verify(self.root_key.public(), token, SystemTime::now())?;
        if revocations::any_revoked(&self.db, &verified.revocation_ids).await? {
            return Err(Error::Revoked);
        }
        Ok(verified)
    }

    /// Meters one successful session open.
    pub async fn record_open(&self, token: &tokens::VerifiedToken) -> Result<(), sea_orm::DbErr> {
        crate::usage::record_open(&self.committer, token).await
    }
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
