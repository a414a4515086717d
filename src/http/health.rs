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
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database and the blob store both answer.
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    state
        .db
        .ping()
        .await
        .map_err(|e| Error::Unavailable(format!("database unreachable: {e}")))?;
    state
        .blobs
        .check()
        .await
        .map_err(|e| Error::Unavailable(format!("blob store unreachable: {e}")))?;
    Ok(HttpResponse::Ok().json(json!({"status": "ready", "database": "ok", "blobs": "ok"})))
}
