//! Liveness and readiness probes.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::error::Error;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

/// `GET /healthz`: the process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "the process serves HTTP", body = Object)))]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers, the committer runs, the blob store answers and (several
/// nodes on PostgreSQL) this node listens for the others' hints. What
/// failed is logged with its cause; the body names only the component, never internal error
/// text.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, description = "database, committer and blob store answer", body = Object), (status = 503, description = "a component does not answer", body = crate::wire::rest::ErrorBody)))]
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    if let Err(e) = state.db.ping().await {
        tracing::warn!(error = %e, "readiness: the database does not answer");
        return Err(Error::Unavailable("the database is unreachable".into()));
    }
    if !state.committer.is_running() {
        tracing::error!("readiness: the committer is not running");
        return Err(Error::Unavailable(
            "the commit workers are not running".into(),
        ));
    }
    if let Err(e) = state.blobs.check().await {
        tracing::warn!(error = %e, "readiness: the blob store does not answer");
        return Err(Error::Unavailable("the blob store is unreachable".into()));
    }
    if !state.listening.get() {
        tracing::warn!("readiness: not listening for other nodes' hints");
        return Err(Error::Unavailable(
            "not listening for other nodes' changes".into(),
        ));
    }
    let mut body = json!({"status": "ready", "database": "ok", "committer": "ok", "blobs": "ok"});
    if state.postgres {
        // How full PostgreSQL's notification queue is (0 to 1): every commit notifies, and at 1
        // commits fail; a filling queue means a listener somewhere stopped reading.
        match crate::bus::pg::queue_usage(&state.db).await {
            Ok(usage) => {
                body["listener"] = json!("ok");
                body["notification_queue_usage"] = json!(usage);
            }
            Err(e) => {
                tracing::warn!(error = %e, "readiness: cannot read the notification queue usage");
                return Err(Error::Unavailable("the database is unreachable".into()));
            }
        }
    }
    Ok(HttpResponse::Ok().json(body))
}
