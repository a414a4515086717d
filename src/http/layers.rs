//! Layer routes (API key): list a document's layers, copy one into another, delete one. Copies
//! and deletions go through the document actor, so live sessions on the layer see them.
//!
//! - `GET /api/documents/{id}/layers`
//! - `POST /api/documents/{id}/layers/copy` `{"from": "review-ann", "to": ""}`
//! - `DELETE /api/documents/{id}/layers?layer=review-ann`
//!
//! Layers are named in the query or body, not the path, because the default layer is `""`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::error::Error;
use super::extract::ApiKey;
use crate::documents;
use crate::exchange::layers::{self, Report};
use crate::limits;
use crate::state::AppState;
use crate::wire::rest::{CopyBody, LayersResponse};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/documents/{id}/layers")
            .route(web::get().to(list))
            .route(web::delete().to(delete)),
    )
    .route("/documents/{id}/layers/copy", web::post().to(copy));
}

#[utoipa::path(get, path = "/api/documents/{id}/layers", operation_id = "list_layers", tag = "layers", params(("id" = String, Path, description = "document id")), responses((status = 200, description = "the document's layers with their record counts", body = LayersResponse), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 404, description = "no such document", body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
async fn list(
    _key: ApiKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    documents::get(&state.db, &id).await?;
    let layers = layers::list(&state, &id).await?;
    Ok(HttpResponse::Ok().json(LayersResponse {
        document_id: id.into_inner(),
        layers,
    }))
}

fn check_layer(layer: &str) -> Result<(), Error> {
    limits::check_identity("backend", None, layer, None)
        .map_err(|v| Error::BadRequest(v.to_string()))
}

#[utoipa::path(post, path = "/api/documents/{id}/layers/copy", tag = "layers", params(("id" = String, Path, description = "document id")), request_body = CopyBody, responses((status = 200, description = "the copy's result", body = Report), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 404, description = "no such document", body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
async fn copy(
    _key: ApiKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<CopyBody>,
) -> Result<HttpResponse, Error> {
    check_layer(&body.from)?;
    check_layer(&body.to)?;
    if body.from == body.to {
        return Err(Error::BadRequest(
            "`from` and `to` name the same layer".into(),
        ));
    }
    documents::get(&state.db, &id).await?;
    let source = layers::read(&state, &id, &body.from, None).await?;
    let target = layers::read(&state, &id, &body.to, None).await?;
    let outcomes =
        layers::submit(&state, &id, &body.to, layers::copy_plan(&source, &target)).await?;
    let report = Report::from_outcomes(outcomes);
    tracing::info!(document_id = %id, from = %body.from, to = %body.to, applied = report.applied,
        rejected = report.rejected.len(), "layer copied");
    Ok(HttpResponse::Ok().json(report))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerQuery {
    layer: String,
}

#[utoipa::path(delete, path = "/api/documents/{id}/layers", operation_id = "delete_layer", tag = "layers", params(("id" = String, Path, description = "document id"), ("layer" = String, Query, description = "the layer to delete")), responses((status = 200, description = "what was deleted", body = Report), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 404, description = "no such document", body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
async fn delete(
    _key: ApiKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<LayerQuery>,
) -> Result<HttpResponse, Error> {
    check_layer(&query.layer)?;
    documents::get(&state.db, &id).await?;
    let records = layers::read(&state, &id, &query.layer, None).await?;
    let outcomes = layers::submit(
        &state,
        &id,
        &query.layer,
        layers::delete_plan(&records, "backend"),
    )
    .await?;
    Ok(HttpResponse::Ok().json(Report::from_outcomes(outcomes)))
}
