//! Exchange routes: page geometry and Instant JSON, per layer.
//!
//! Backend (API key):
//! - `GET /api/documents/{id}/pages`: every page's MediaBox, CropBox and rotation.
//! - `GET /api/documents/{id}/document.json?layer=`: the layer as an Instant JSON document.
//! - `POST /api/documents/{id}/document.json?layer=&user_id=&user_name=`: imports an Instant
//!   JSON document into the layer, all or nothing.
//!
//! Client (session token with `download`): `GET /api/client/document.json`, the token's layer
//! as its holder may see it.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::error::Error;
use super::extract::{ApiKey, ClientSession};
use crate::auth::access::Access;
use crate::auth::rights::Permission;
use crate::auth::tokens::DocumentRef;
use crate::exchange::geometry::PageGeometry;
use crate::exchange::instant_json::{self, Refused};
use crate::exchange::layers::{self, Report};
use crate::state::AppState;
use crate::{auth, documents, exchange, limits};

pub fn configure_backend(cfg: &mut web::ServiceConfig) {
    cfg.route("/documents/{id}/pages", web::get().to(pages))
        .service(
            web::resource("/documents/{id}/document.json")
                .app_data(web::PayloadConfig::new(instant_json::MAX_IMPORT_BYTES))
                .route(web::get().to(export_instant_json))
                .route(web::post().to(import_instant_json)),
        );
}

pub fn configure_client(cfg: &mut web::ServiceConfig) {
    cfg.route("/document.json", web::get().to(client_instant_json));
}

#[derive(Serialize)]
struct PagesResponse {
    document_id: String,
    pages: Vec<PageGeometry>,
}

async fn pages(
    _key: ApiKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let doc = documents::get(&state.db, &id).await?;
    let pages = exchange::geometry(&state, &doc).await?;
    Ok(HttpResponse::Ok().json(PagesResponse {
        document_id: doc.id,
        pages,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerQuery {
    #[serde(default)]
    layer: String,
}

async fn export_instant_json(
    _key: ApiKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<LayerQuery>,
) -> Result<HttpResponse, Error> {
    documents::get(&state.db, &id).await?;
    let records = layers::read(&state, &id, &query.layer, None).await?;
    Ok(HttpResponse::Ok().json(instant_json::export(&records)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    #[serde(default)]
    layer: String,
    /// Recorded as the creator of new records; default `import`.
    user_id: Option<String>,
    user_name: Option<String>,
}

/// The answer to an import refused item by item (422 `import_rejected`).
#[derive(Serialize)]
struct RejectedImport {
    message: String,
    code: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    link: &'static str,
    rejected: Vec<instant_json::Rejected>,
}

async fn import_instant_json(
    _key: ApiKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<ImportQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, Error> {
    let q = query.into_inner();
    let user_id = q.user_id.unwrap_or_else(|| "import".to_string());
    limits::check_identity(&user_id, q.user_name.as_deref(), &q.layer, None)
        .map_err(|v| Error::BadRequest(v.to_string()))?;
    let doc = documents::get(&state.db, &id).await?;
    let target = layers::read(&state, &id, &q.layer, None).await?;
    let page_count = Some(doc.page_count.max(0) as u32);
    let plan = match instant_json::plan_import(
        &body,
        page_count,
        &target,
        &user_id,
        q.user_name.as_deref(),
    ) {
        Ok(plan) => plan,
        Err(Refused::Malformed(m)) => return Err(Error::BadRequest(m)),
        Err(e @ Refused::Items(_)) => {
            let message = e.to_string();
            let Refused::Items(rejected) = e else {
                unreachable!("matched above")
            };
            return Ok(HttpResponse::UnprocessableEntity().json(RejectedImport {
                message,
                code: "import_rejected",
                kind: "invalid_request",
                link: "docs/exchange.md#import_rejected",
                rejected,
            }));
        }
    };
    let outcomes = layers::submit(&state, &id, &q.layer, plan).await?;
    let report = Report::from_outcomes(outcomes);
    tracing::info!(document_id = %id, layer = %q.layer, applied = report.applied,
        rejected = report.rejected.len(), "instant json imported");
    Ok(HttpResponse::Ok().json(report))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientQuery {
    document_id: Option<String>,
}

async fn client_instant_json(
    ClientSession(token): ClientSession,
    state: web::Data<AppState>,
    query: web::Query<ClientQuery>,
) -> Result<HttpResponse, Error> {
    if query
        .document_id
        .as_deref()
        .is_some_and(|d| d != token.grant.document.id())
    {
        return Err(auth::Error::WrongDocument.into());
    }
    if !token.has(Permission::Download) {
        return Err(auth::Error::RightMissing("`download` is required".into()).into());
    }
    let DocumentRef::Managed(id) = &token.grant.document else {
        return Err(Error::NoDocumentBytes(
            "app-provided documents have no records on Quire".into(),
        ));
    };
    let access = Access::from_grant(&token.grant);
    let records = layers::read(&state, id, &token.grant.layer, Some(access)).await?;
    Ok(HttpResponse::Ok().json(instant_json::export(&records)))
}
