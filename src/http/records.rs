//! Record routes. Both go through the document actor, so live sessions see a backend's changes
//! at once and reads never show uncommitted state.
//!
//! - `GET /api/documents/{id}/records?layer=&since=` and `POST /api/documents/{id}/changes`
//!   (API key): the backend's unfiltered view and full rights.
//! - `GET /api/client/records?since=` (session token): what the token's holder may see.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::error::Error;
use super::extract::{ApiKey, ClientSession};
use crate::actors::document::{BackendSubmit, ReadRecords};
use crate::actors::registry::send_to_document;
use crate::auth::access::Access;
use crate::auth::rights::Permission;
use crate::documents;
use crate::state::AppState;
use crate::wire::rest::{ChangesBody, ChangesResponse};
use crate::wire::server::Outcome;

/// Most changes one REST request may carry.
pub const MAX_REST_BATCH: usize = 100;

pub fn configure_backend(cfg: &mut web::ServiceConfig) {
    cfg.route("/documents/{id}/records", web::get().to(backend_records))
        .route("/documents/{id}/changes", web::post().to(backend_changes));
}

pub fn configure_client(cfg: &mut web::ServiceConfig) {
    cfg.route("/records", web::get().to(client_records));
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct RecordsQuery {
    #[serde(default)]
    layer: String,
    since: Option<i64>,
    /// Backend only: the layer as it was just after this sequence number, from the audit log.
    at_seq: Option<i64>,
}

fn unavailable(_: actix::MailboxError) -> Error {
    Error::Unavailable("the document is reopening; retry".into())
}

fn json(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

#[utoipa::path(get, path = "/api/documents/{id}/records", tag = "records", params(("id" = String, Path), RecordsQuery), responses((status = 200, body = crate::wire::server::RecordsBody), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 404, body = crate::wire::rest::ErrorBody), (status = 410, description = "`at_seq` is before what the audit retention kept (`history_pruned`)", body = crate::wire::rest::ErrorBody), (status = 503, body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
async fn backend_records(
    _key: ApiKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<RecordsQuery>,
) -> Result<HttpResponse, Error> {
    let doc = documents::get(&state.db, &id).await?;
    let q = query.into_inner();
    if let Some(at_seq) = q.at_seq {
        return records_at(&state, &doc, &q.layer, at_seq, q.since).await;
    }
    let (_, body) = send_to_document(&state.registry, &id, || ReadRecords {
        layer: q.layer.clone(),
        since: q.since,
        access: None,
    })
    .await
    .map_err(unavailable)?;
    Ok(json(body?))
}

/// `?at_seq=`: the layer's records as of a sequence number, replayed from the audit log (which
/// the change log's retention does not prune). `at_seq` must lie between 0 and the head.
async fn records_at(
    state: &AppState,
    doc: &crate::entities::document::Model,
    layer: &str,
    at_seq: i64,
    since: Option<i64>,
) -> Result<HttpResponse, Error> {
    if since.is_some() {
        return Err(Error::BadRequest(
            "give at most one of `since` and `at_seq`".into(),
        ));
    }
    if !(0..=doc.head_seq).contains(&at_seq) {
        return Err(Error::BadRequest(format!(
            "`at_seq` must be between 0 and the document's head sequence number, {}",
            doc.head_seq
        )));
    }
    let records = crate::audit::replay(&state.db, &doc.id, doc.created_at, layer, at_seq).await?;
    let body = crate::wire::server::RecordsBody {
        document_id: &doc.id,
        layer,
        head_seq: at_seq,
        records: Some(crate::wire::common::SnapshotRecords::Built(
            records.iter().map(|r| r.view()).collect(),
        )),
        changes: None,
    };
    Ok(HttpResponse::Ok().json(body))
}

#[utoipa::path(post, path = "/api/documents/{id}/changes", tag = "records", params(("id" = String, Path)), request_body = ChangesBody, responses((status = 200, body = ChangesResponse), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 404, body = crate::wire::rest::ErrorBody), (status = 503, body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
async fn backend_changes(
    key: ApiKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<ChangesBody>,
) -> Result<HttpResponse, Error> {
    let body = body.into_inner();
    if body.changes.is_empty() || body.changes.len() > MAX_REST_BATCH {
        return Err(Error::BadRequest(format!(
            "`changes` must hold 1 to {MAX_REST_BATCH} changes"
        )));
    }
    // The identity (user id, name, layer) is checked by the document actor with the same
    // validator as every other entry point: each change is answered `invalid`, field named.
    let user_id = body.user_id.unwrap_or_else(|| "backend".to_string());
    documents::get(&state.db, &id).await?;
    let access = Access::backend(user_id.clone(), body.user_name);
    let (_, results) = send_to_document(&state.registry, &id, || BackendSubmit {
        access: access.clone(),
        layer: body.layer.clone(),
        changes: body.changes.clone(),
    })
    .await
    .map_err(unavailable)?;
    let results = results?;
    // The `record.*` entries name the caller-chosen `user_id` as author; this one names the API
    // key that made the call, and which sequence numbers it committed.
    let seqs: Vec<i64> = results
        .iter()
        .filter_map(|o| match o {
            Outcome::Ack { seq, .. } => Some(*seq),
            Outcome::Reject { .. } => None,
        })
        .collect();
    if !seqs.is_empty() {
        let _ = crate::audit::record(
            &state.db,
            crate::audit::Event {
                document_id: Some(id.to_string()),
                kind: "records.submit",
                actor: key.actor(),
                detail: serde_json::json!({
                    "user_id": user_id, "layer": body.layer, "seqs": seqs,
                }),
            },
        )
        .await;
    }
    Ok(HttpResponse::Ok().json(ChangesResponse { results }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ClientRecordsQuery {
    since: Option<i64>,
    document_id: Option<String>,
}

#[utoipa::path(get, path = "/api/client/records", tag = "client", params(ClientRecordsQuery), responses((status = 200, body = crate::wire::server::RecordsBody), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 403, body = crate::wire::rest::ErrorBody), (status = 404, body = crate::wire::rest::ErrorBody)), security(("session_token" = [])))]
async fn client_records(
    session: ClientSession,
    state: web::Data<AppState>,
    query: web::Query<ClientRecordsQuery>,
) -> Result<HttpResponse, Error> {
    let id = session.managed_document(
        query.document_id.as_deref(),
        Permission::ReadDocument,
        "records",
    )?;
    let token = &session.0;
    let access = Access::from_grant(&token.grant);
    let layer = token.grant.layer.clone();
    let (_, body) = send_to_document(&state.registry, id, || ReadRecords {
        layer: layer.clone(),
        since: query.since,
        access: Some(access.clone()),
    })
    .await
    .map_err(unavailable)?;
    Ok(json(body?))
}
