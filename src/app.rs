//! Building and running the server: storage, keys, routes, graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Arbiter, ArbiterHandle};
use actix_web::{web, App};
use sea_orm::ConnectionTrait;
use tracing_actix_web::TracingLogger;

use crate::actors::document::DocumentConfig;
use crate::actors::registry::{DocumentRegistry, Shutdown};
use crate::actors::session::SessionConfig;
use crate::actors::state::DocLimits;
use crate::auth::api_keys;
use crate::auth::tokens::RootKey;
use crate::blobs::BlobStore;
use crate::config::Config;
use crate::state::{AppState, Limits};
use crate::wire::common::{CloseCode, CloseReason};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("blob store: {0}")]
    Blobs(#[from] crate::blobs::Error),
    #[error(transparent)]
    Auth(#[from] crate::auth::Error),
    #[error("cannot listen on {0}: {1}")]
    Listen(String, std::io::Error),
}

/// How often an open document checks for changes a lost hint did not announce (several nodes).
const CATCH_UP_EVERY: Duration = Duration::from_secs(5);

/// Opens storage and keys as configured; shared by `serve` and the tests' in-process setups.
pub async fn state(config: &Config) -> Result<AppState, StartError> {
    config
        .storage
        .create_data_dir()
        .map_err(|e| StartError::DataDir(config.storage.data_dir.display().to_string(), e))?;
    let dbs = crate::db::open(&config.storage.database_url(), config.sqlite_synchronous).await?;
    let postgres = dbs.main.get_database_backend() == sea_orm::DbBackend::Postgres;
    let db = dbs.main.clone();
    let committer = dbs.committer.clone();
    let blob_url = config
        .blob_url()
        .map_err(|e| StartError::DataDir(config.storage.data_dir.display().to_string(), e))?;
    let blobs = BlobStore::open(&blob_url)?;
    let spool_dir = crate::spool::dir_in(&config.storage.data_dir);
    crate::spool::prepare_dir(&spool_dir)
        .map_err(|e| StartError::DataDir(spool_dir.display().to_string(), e))?;
    let root_key = RootKey::load_or_create(&config.storage.data_dir, config.root_key.as_deref())?;
    let threads = config
        .document_threads
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        })
        .clamp(1, 64);
    let arbiters: Vec<ArbiterHandle> = (0..threads).map(|_| Arbiter::new().handle()).collect();
    let bus: Arc<dyn crate::bus::Bus> = if postgres {
        Arc::new(crate::bus::pg::PgBus::new(db.clone()))
    } else {
        Arc::new(crate::bus::NoBus)
    };
    let registry = DocumentRegistry::new(
        dbs,
        DocumentConfig {
            log_retention: config.change_log_retention.max(1),
            idle_timeout: Duration::from_secs(config.document_idle_timeout),
            limits: DocLimits {
                max_records: config.max_records_per_document,
                max_record_bytes: config.max_record_bytes_per_document,
            },
            max_pending_changes: config.max_pending_changes.max(1),
            max_pending_bytes: config.max_pending_bytes.max(1),
            // Other nodes may write the same documents: a lost hint is caught up this often.
            catch_up_every: postgres.then_some(CATCH_UP_EVERY),
            // At most a second: it delays acknowledgements of a busy document.
            commit_interval: Duration::from_millis(config.commit_interval_ms.min(1_000)),
            snapshot_min_records: config.snapshot_min_records,
            ..DocumentConfig::default()
        },
        arbiters,
    )
    .with_bus(bus.clone())
    .start();
    let sessions = SessionConfig {
        frames_per_second: config.ws_frames_per_second.max(1) as f64,
        frame_burst: config.ws_frames_per_second.max(1) as f64 * 5.0,
        outbox_capacity: config.ws_outbox_capacity.max(8),
        ..SessionConfig::default()
    };
    let authenticator = crate::auth::Authenticator::new(
        db.clone(),
        root_key.clone(),
        committer.clone(),
        crate::auth::TokenLimits {
            max_bytes: config.max_token_bytes,
        },
    );
    let (listening, listener) = if postgres {
        let listening = crate::bus::Listening::new(false);
        let listener = crate::bus::pg::spawn_listener(
            db.get_postgres_connection_pool().clone(),
            Arc::new(crate::bus::node::NodeReceiver {
                registry: registry.clone(),
                authenticator: authenticator.clone(),
            }),
            listening.clone(),
        );
        (listening, Some(Arc::new(listener)))
    } else {
        (crate::bus::Listening::new(true), None)
    };
    Ok(AppState {
        bus,
        listening,
        listener,
        postgres,
        authenticator,
        committer,
        registry,
        sessions: Arc::new(sessions),
        cors_origins: Arc::new(config.cors_origins.clone()),
        csp: Arc::new(crate::http::assets::Csp::new(&config.frame_ancestors)),
        intake: Arc::new(crate::documents::Intake {
            spool_dir,
            inspector: crate::pdf::Inspector::new(config.inspector()),
        }),
        db,
        blobs,
        root_key,
        bootstrap_key_hash: config.api_key.as_deref().map(api_keys::bootstrap_hash),
        limits: Limits {
            max_upload_bytes: config.max_upload_bytes,
            default_token_lifetime: Duration::from_secs(config.default_token_lifetime),
            max_token_lifetime: Duration::from_secs(config.max_token_lifetime),
        },
    })
}

/// Runs the server until SIGTERM or SIGINT, then drains in-flight requests.
pub async fn serve(config: Config) -> Result<(), StartError> {
    let state = state(&config).await?;
    crate::webhooks::dispatcher::start(
        state.db.clone(),
        crate::webhooks::dispatcher::DispatchConfig {
            retry_base: Duration::from_millis(config.webhook_retry_base_ms.max(1)),
        },
    );
    crate::audit::maintenance::start(
        state.db.clone(),
        crate::audit::maintenance::Config {
            retention: config
                .audit_retention_days
                .map(|d| Duration::from_secs_f64(d * 86_400.0)),
            snapshot_every: config.audit_snapshot_every,
            interval: Duration::from_secs_f64(config.audit_maintenance_interval),
        },
    );
    let registry = state.registry.clone();
    let listener = state.listener.clone();
    let cors_origins = config.cors_origins.clone();
    let metrics_here = config.metrics_listen.is_none();
    let data = web::Data::new(state);
    let app_data = data.clone();
    let (server, addrs) =
        crate::http::server::bind(&config.listen, config.shutdown_timeout, data, move || {
            let cors_origins = cors_origins.clone();
            App::new()
                .app_data(app_data.clone())
                .wrap(actix_web::middleware::from_fn(crate::http::metrics::count))
                .wrap(TracingLogger::<crate::telemetry::RequestSpans>::new())
                .configure(move |cfg| {
                    if metrics_here {
                        crate::http::metrics::configure(cfg);
                    }
                    crate::http::configure(cfg, &cors_origins)
                })
        })
        .map_err(|e| StartError::Listen(config.listen.clone(), e))?;
    for addr in addrs {
        tracing::info!(%addr, "listening");
    }
    let handle = server.handle();
    let metrics_server = match &config.metrics_listen {
        Some(addr) => Some(crate::http::metrics::serve(addr)?),
        None => None,
    };
    actix_web::rt::spawn(async move {
        wait_for_signal().await;
        if let Some(metrics) = metrics_server {
            metrics.stop(true).await;
        }
        tracing::info!("shutting down: closing live sessions, draining requests");
        // No new connections from here on: a client reconnecting while the documents close
        // (and store their snapshots) is not accepted (its connection is refused once the node
        // stops, and a load balancer sends it to another node) rather than joining a document
        // again on a node about to stop.
        handle.pause().await;
        let reason = CloseReason::new(
            CloseCode::ShuttingDown,
            "the server is shutting down; reconnect",
        );
        let _ = registry.send(Shutdown(reason)).await;
        handle.stop(true).await;
    });
    server
        .await
        .map_err(|e| StartError::Listen(config.listen.clone(), e))?;
    crate::background::stop().await;
    if let Some(listener) = listener {
        listener.stop().await;
    }
    tracing::info!("shut down");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
