//! Backend API keys.
//!
//! A key reads `qk_<id>_<secret>`. Only the SHA-256 of the whole key is stored; the id lets a
//! request find its row without comparing against every key, and the hash is then compared in
//! constant time. Keys carry 256 bits of randomness, so a fast hash is the right tool (a slow
//! password hash protects low-entropy secrets, which these are not).

use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::entities::api_key;
use crate::time_util::now_micros;

use super::Error;

/// The prefix every Quire API key starts with, so leaked keys are recognisable by scanners.
pub const PREFIX: &str = "qk_";

/// A key as shown once at creation.
pub struct NewKey {
    pub id: String,
    pub key: String,
}

fn hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Creates and stores a new key; the returned secret is never retrievable again.
pub async fn create(db: &DatabaseConnection, name: &str) -> Result<NewKey, Error> {
    let name = name.trim();
    if name.is_empty() || name.len() > 256 {
        return Err(Error::InvalidRequest(
            "a key name must be 1 to 256 characters".into(),
        ));
    }
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut id);
    rand::thread_rng().fill_bytes(&mut secret);
    let id = hex::encode(id);
    let key = format!("{PREFIX}{id}_{}", hex::encode(secret));
    api_key::ActiveModel {
        id: Set(id.clone()),
        name: Set(name.to_string()),
        secret_hash: Set(hex::encode(hash(&key))),
        created_at: Set(now_micros()),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(NewKey { id, key })
}

/// Every key, newest first, without secrets.
pub async fn list(db: &DatabaseConnection) -> Result<Vec<api_key::Model>, Error> {
    Ok(api_key::Entity::find()
        .order_by_desc(api_key::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Revokes a key by id; returns false when no active key has that id.
pub async fn revoke(db: &DatabaseConnection, id: &str) -> Result<bool, Error> {
    let res = api_key::Entity::update_many()
        .col_expr(
            api_key::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(now_micros()),
        )
        .filter(api_key::Column::Id.eq(id))
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

/// Checks a presented key against the bootstrap key (if any) and the stored keys.
pub async fn authenticate(
    db: &DatabaseConnection,
    bootstrap_hash: Option<&[u8; 32]>,
    presented: &str,
) -> Result<KeyId, Error> {
    let presented_hash = hash(presented);
    if let Some(expected) = bootstrap_hash {
        if bool::from(expected.ct_eq(&presented_hash)) {
            return Ok(KeyId::Bootstrap);
        }
    }
    let id = presented
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .map(|(id, _)| id)
        .filter(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or(Error::InvalidApiKey)?;
    let row = api_key::Entity::find_by_id(id.to_string())
        .filter(api_key::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .ok_or(Error::InvalidApiKey)?;
    let stored =
        hex::decode(&row.secret_hash).map_err(|_| Error::Internal("corrupt key hash".into()))?;
    if bool::from(stored.as_slice().ct_eq(&presented_hash)) {
        Ok(KeyId::Stored(row.id))
    } else {
        Err(Error::InvalidApiKey)
    }
}

/// Which key authenticated a backend call: the audit log's actor for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyId {
    /// The key configured with `QUIRE_API_KEY`.
    Bootstrap,
    /// A key created with `quire keys create`, by its public id.
    Stored(String),
}

impl KeyId {
    /// `api_key:<id>`, or `api_key:bootstrap`: never a caller-chosen name.
    pub fn actor(&self) -> String {
        match self {
            KeyId::Bootstrap => "api_key:bootstrap".to_string(),
            KeyId::Stored(id) => format!("api_key:{id}"),
        }
    }
}

/// The hash of a bootstrap key given in configuration, kept instead of the key itself.
pub fn bootstrap_hash(key: &str) -> [u8; 32] {
    hash(key)
}
