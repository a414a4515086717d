//! Shared server state handed to every handler.

use std::time::Duration;

use std::sync::Arc;

use actix::Addr;
use sea_orm::DatabaseConnection;

use crate::actors::registry::DocumentRegistry;
use crate::actors::session::SessionConfig;
use crate::auth::tokens::RootKey;
use crate::auth::Authenticator;
use crate::blobs::BlobStore;

/// Limits that apply to requests.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_upload_bytes: u64,
    pub default_token_lifetime: Duration,
    pub max_token_lifetime: Duration,
}

/// What every handler can reach. Cloning is cheap (everything inside is shared).
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub blobs: BlobStore,
    pub root_key: RootKey,
    /// SHA-256 of the bootstrap API key from `QUIRE_API_KEY`, never the key itself.
    pub bootstrap_key_hash: Option<[u8; 32]>,
    pub limits: Limits,
    pub registry: Addr<DocumentRegistry>,
    /// Groups database writes from every document (and usage events) into shared transactions.
    pub committer: crate::store::Committer,
    pub sessions: Arc<SessionConfig>,
    /// Origins allowed to open WebSockets and call the client API from a browser.
    pub cors_origins: Arc<Vec<String>>,
    /// Verifies session tokens; one per server, so its cache and verification pool are shared.
    pub authenticator: Authenticator,
    /// The Content-Security-Policy values of the web assets (dashboard and viewer).
    pub csp: Arc<crate::http::assets::Csp>,
    /// Tells other nodes of deletions and revocations (nobody on a single node).
    pub bus: Arc<dyn crate::bus::Bus>,
    /// Whether this node hears other nodes' hints (always on a single node).
    pub listening: Arc<crate::bus::Listening>,
    /// The connection listening for other nodes' hints (PostgreSQL), stopped at shutdown.
    pub listener: Option<Arc<crate::bus::pg::Listener>>,
    /// Whether this node shares a PostgreSQL database with others.
    pub postgres: bool,
    /// Where uploads are spooled and how their PDFs are checked.
    pub intake: Arc<crate::documents::Intake>,
}

impl AppState {
    /// The session-token verifier.
    pub fn authenticator(&self) -> Authenticator {
        self.authenticator.clone()
    }
}
