//! Verified tokens, remembered by the SHA-256 of their text so that a client's burst of requests
//! (a PDF viewer's range requests, a session's periodic re-verification) verifies once.
//!
//! An entry lives until the earlier of the token's expiry and [`TTL`]: a revocation made on
//! another node takes effect here within that time, and revoking on this node removes the entry
//! at once ([`ClaimsCache::forget_revoked`]). The cache holds at most [`CAPACITY`] entries; when
//! it is full, expired entries are dropped and, if none were, new tokens are simply not cached.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::tokens::VerifiedToken;

/// Longest an entry is trusted without verifying the token again.
pub const TTL: Duration = Duration::from_secs(30);
/// Most entries kept.
pub const CAPACITY: usize = 10_000;

/// The key of a token: its text's SHA-256 (the text itself is never kept).
pub type Key = [u8; 32];

/// Hashes a token's text.
pub fn key(token: &str) -> Key {
    Sha256::digest(token.as_bytes()).into()
}

struct Entry {
    token: VerifiedToken,
    until: SystemTime,
}

/// The cache; shared by every request and session of one server.
#[derive(Default)]
pub struct ClaimsCache {
    entries: Mutex<HashMap<Key, Entry>>,
}

impl ClaimsCache {
    /// The verified token for `key`, if it is cached and still valid at `now`.
    pub fn get(&self, key: &Key, now: SystemTime) -> Option<VerifiedToken> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some(e) if now < e.until => Some(e.token.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remembers `token`, verified at `now`.
    pub fn insert(&self, key: Key, token: VerifiedToken, now: SystemTime) {
        let until = token.expires_at.min(now + TTL);
        if until <= now {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            entries.retain(|_, e| now < e.until);
            if entries.len() >= CAPACITY {
                return;
            }
        }
        entries.insert(key, Entry { token, until });
    }

    /// Drops every entry for a token one of whose blocks has one of `ids` as revocation id.
    pub fn forget_revoked(&self, ids: &HashSet<String>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, e| !e.token.revocation_ids.iter().any(|id| ids.contains(id)));
    }

    /// How many entries are held (for tests).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::auth::tokens::{DocumentRef, Grant};

    fn verified(expires_in: Duration, ids: &[&str]) -> VerifiedToken {
        let expires_at = SystemTime::now() + expires_in;
        VerifiedToken {
            grant: Grant {
                document: DocumentRef::App("a".into()),
                user_id: "u".into(),
                user_name: None,
                layer: "".into(),
                default_group: None,
                permissions: vec![],
                collaboration_permissions: vec![],
                expires_at,
                document_created: None,
            },
            expires_at,
            revocation_ids: ids.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn an_entry_lives_until_the_earlier_of_expiry_and_the_ttl() {
        let cache = ClaimsCache::default();
        let now = SystemTime::now();
        cache.insert(
            key("long"),
            verified(Duration::from_secs(3600), &["a"]),
            now,
        );
        cache.insert(key("short"), verified(Duration::from_secs(5), &["b"]), now);
        assert!(cache
            .get(&key("long"), now + TTL - Duration::from_secs(1))
            .is_some());
        assert!(cache.get(&key("long"), now + TTL).is_none());
        assert!(cache
            .get(&key("short"), now + Duration::from_secs(4))
            .is_some());
        assert!(cache
            .get(&key("short"), now + Duration::from_secs(6))
            .is_none());
        assert!(cache.get(&key("unknown"), now).is_none());
    }

    #[test]
    fn an_expired_token_is_not_cached() {
        let cache = ClaimsCache::default();
        let now = SystemTime::now() + Duration::from_secs(10);
        cache.insert(key("t"), verified(Duration::from_secs(1), &["a"]), now);
        assert!(cache.is_empty());
    }

    #[test]
    fn revoking_any_block_id_forgets_the_token() {
        let cache = ClaimsCache::default();
        let now = SystemTime::now();
        cache.insert(
            key("parent"),
            verified(Duration::from_secs(60), &["p"]),
            now,
        );
        cache.insert(
            key("child"),
            verified(Duration::from_secs(60), &["p", "c"]),
            now,
        );
        cache.forget_revoked(&HashSet::from(["c".to_string()]));
        assert!(cache.get(&key("child"), now).is_none());
        assert!(cache.get(&key("parent"), now).is_some());
        cache.forget_revoked(&HashSet::from(["p".to_string()]));
        assert!(cache.is_empty());
    }
}
