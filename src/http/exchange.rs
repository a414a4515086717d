//! Exchange routes: page geometry and Instant JSON, per layer.
//!
//! Backend (API key):
//! - `GET /api/documents/{id}/pages`: every page's MediaBox, CropBox and rotation.
//! - `GET /api/documents/{id}/document.json?layer=`: the layer as an Instant JSON document.
//! - `POST /api/documents/{id}/document.json?layer=&user_id=&user_name=`: imports an Instant
//!   JSON document into the layer, all or nothing.
//!
//! - `GET /api/documents/{id}/document.xfdf?layer=` and `POST …/document.xfdf?layer=&user_id=`:
//!   the same in XFDF (imports are converted to Instant JSON, then planned alike).
//!
//! - `POST /api/documents/{id}/import-pdf-annotations?layer=&user_id=`: imports the annotations
//!   already in the stored PDF, all or nothing.
//!
//! Client (session token with `download`): `GET /api/client/document.json` and
//! `GET /api/client/document.xfdf`, the token's layer as its holder may see it.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::error::Error;
use super::extract::{ApiKey, ClientSession};
use crate::auth::access::Access;
use crate::auth::rights::Permission;
use crate::exchange::instant_json::{self, Refused};
use crate::exchange::layers::{self, Report};
use crate::exchange::xfdf;
use crate::state::AppState;
use crate::wire::rest::{PagesResponse, RejectedImport};
use crate::{documents, exchange, limits};

pub fn configure_backend(cfg: &mut web::ServiceConfig) {
    cfg.route("/documents/{id}/pages", web::get().to(pages))
        .service(
            web::resource("/documents/{id}/document.json")
                .app_data(web::PayloadConfig::new(instant_json::MAX_IMPORT_BYTES))
                .route(web::get().to(export_instant_json))
                .route(web::post().to(import_instant_json)),
        )
        .service(
            web::resource("/documents/{id}/document.xfdf")
                .app_data(web::PayloadConfig::new(instant_json::MAX_IMPORT_BYTES))
                .route(web::get().to(export_xfdf))
                .route(web::post().to(import_xfdf)),
        )
        .route(
            "/documents/{id}/import-pdf-annotations",
            web::post().to(import_pdf_annotations),
        );
}

pub fn configure_client(cfg: &mut web::ServiceConfig) {
    cfg.route("/document.json", web::get().to(client_instant_json))
        .route("/document.xfdf", web::get().to(client_xfdf));
}

#[utoipa::path(get, path = "/api/documents/{id}/pages", tag = "exchange", params(("id" = String, Path, description = "document id")), responses((status = 200, description = "page geometry (docs/exchange.md)", body = PagesResponse), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 404, description = "no such document", body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
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

#[utoipa::path(get, path = "/api/documents/{id}/document.json", tag = "exchange", params(("id" = String, Path, description = "document id"), ("layer" = Option<String>, Query, description = "layer (default \"\")")), responses((status = 200, description = "the layer as Instant JSON (docs/exchange.md)", body = Object), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 404, description = "no such document", body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
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
pub(super) struct ImportQuery {
    #[serde(default)]
    pub layer: String,
    /// Recorded as the creator of new records; default `import`.
    pub user_id: Option<String>,
    pub user_name: Option<String>,
}

/// What an import is made of.
pub(super) enum Format {
    InstantJson,
    Xfdf,
    /// The annotations already in the document's stored PDF (the body is ignored).
    StoredPdf,
}

#[utoipa::path(post, path = "/api/documents/{id}/document.json", tag = "exchange", params(("id" = String, Path, description = "document id"), ("layer" = Option<String>, Query, description = "layer (default \"\")"), ("user_id" = Option<String>, Query, description = "creator of new records; default import"), ("user_name" = Option<String>, Query)), request_body(content = Object, description = "Instant JSON"), responses((status = 200, description = "import report (docs/exchange.md)", body = Report), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 404, description = "no such document", body = crate::wire::rest::ErrorBody), (status = 422, description = "import_rejected: the items refused", body = RejectedImport)), security(("api_key" = [])))]
async fn import_instant_json(
    _key: ApiKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<ImportQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, Error> {
    import(&state, &id, query.into_inner(), &body, Format::InstantJson).await
}

#[utoipa::path(post, path = "/api/documents/{id}/document.xfdf", tag = "exchange", params(("id" = String, Path, description = "document id"), ("layer" = Option<String>, Query, description = "layer (default \"\")"), ("user_id" = Option<String>, Query, description = "creator of new records; default import"), ("user_name" = Option<String>, Query)), request_body(content = String, content_type = "application/vnd.adobe.xfdf", description = "XFDF"), responses((status = 200, description = "import report (docs/exchange.md)", body = Report), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 404, description = "no such document", body = crate::wire::rest::ErrorBody), (status = 422, description = "import_rejected: the items refused", body = RejectedImport)), security(("api_key" = [])))]
async fn import_xfdf(
    _key: ApiKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<ImportQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, Error> {
    import(&state, &id, query.into_inner(), &body, Format::Xfdf).await
}

/// Checks every item of the document first (all or nothing), then submits it through the
/// document actor.
async fn import(
    state: &AppState,
    id: &str,
    q: ImportQuery,
    body: &[u8],
    format: Format,
) -> Result<HttpResponse, Error> {
    let doc = documents::get(&state.db, id).await?;
    match import_into(state, &doc, q, body, format).await? {
        Ok(report) => Ok(HttpResponse::Ok().json(report)),
        Err(e) => refused(e),
    }
}

/// What an import into a layer did: its report, or why it was refused as a whole.
pub(super) type Imported = Result<Report, Refused>;

/// Imports `body` (or the stored PDF's own annotations) into the layer named in `q`: every
/// item is checked first, and only a document whose every item passes is submitted.
pub(super) async fn import_into(
    state: &AppState,
    doc: &crate::entities::document::Model,
    q: ImportQuery,
    body: &[u8],
    format: Format,
) -> Result<Imported, Error> {
    let user_id = q.user_id.unwrap_or_else(|| "import".to_string());
    limits::check_identity(&user_id, q.user_name.as_deref(), &q.layer, None)
        .map_err(|v| Error::BadRequest(v.to_string()))?;
    let converted: Vec<u8>;
    let mut skipped = 0;
    let body = match format {
        Format::InstantJson => body,
        Format::Xfdf => {
            let pages = exchange::geometry(state, doc).await?;
            match xfdf::to_instant_json(body, &pages) {
                Ok(v) => {
                    converted = v.to_string().into_bytes();
                    &converted[..]
                }
                Err(e) => return Ok(Err(e)),
            }
        }
        Format::StoredPdf => {
            let mut v = read_pdf_annotations(state, doc).await?;
            skipped = v
                .as_object_mut()
                .and_then(|o| o.remove("skippedAnnotations"))
                .and_then(|n| n.as_u64())
                .unwrap_or(0);
            converted = v.to_string().into_bytes();
            &converted[..]
        }
    };
    let target = layers::read(state, &doc.id, &q.layer, None).await?;
    let page_count = Some(doc.page_count.max(0) as u32);
    let plan = match instant_json::plan_import(
        body,
        page_count,
        &target,
        &user_id,
        q.user_name.as_deref(),
    ) {
        Ok(plan) => plan,
        Err(e) => return Ok(Err(e)),
    };
    let outcomes = layers::submit_all(state, &doc.id, &q.layer, plan).await?;
    let mut report = Report::from_outcomes(outcomes);
    report.skipped = skipped as usize;
    tracing::info!(document_id = %doc.id, layer = %q.layer, applied = report.applied,
        rejected = report.rejected.len(), skipped, "annotations imported");
    Ok(Ok(report))
}

/// The annotations in `doc`'s stored PDF, read by the sandboxed parser.
async fn read_pdf_annotations(
    state: &AppState,
    doc: &crate::entities::document::Model,
) -> Result<serde_json::Value, Error> {
    let io = |e: std::io::Error| Error::Exchange(exchange::Error::Io(e));
    let original = exchange::fetch_to_temp(state, doc).await?;
    let out = tempfile::NamedTempFile::new_in(&state.intake.spool_dir).map_err(io)?;
    state
        .intake
        .inspector
        .read_annotations(original.path(), out.path())
        .await
        .map_err(|e| Error::Documents(documents::Error::Pdf(e)))?;
    let bytes = tokio::fs::read(out.path()).await.map_err(io)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::Exchange(exchange::Error::Corrupt(e.to_string())))
}

#[utoipa::path(post, path = "/api/documents/{id}/import-pdf-annotations", tag = "exchange", params(("id" = String, Path, description = "document id"), ("layer" = Option<String>, Query, description = "layer (default \"\")"), ("user_id" = Option<String>, Query, description = "creator of new records; default import"), ("user_name" = Option<String>, Query)), responses((status = 200, description = "import report (docs/exchange.md)", body = Report), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 404, description = "no such document", body = crate::wire::rest::ErrorBody), (status = 422, description = "import_rejected: the items refused", body = RejectedImport)), security(("api_key" = [])))]
async fn import_pdf_annotations(
    _key: ApiKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<ImportQuery>,
) -> Result<HttpResponse, Error> {
    import(&state, &id, query.into_inner(), &[], Format::StoredPdf).await
}

/// A refused import: 400 for a document that is not one, 422 with the report for bad items.
pub(super) fn refused(e: Refused) -> Result<HttpResponse, Error> {
    match e {
        Refused::Malformed(m) => Err(Error::BadRequest(m)),
        Refused::Items(rejected) => Ok(HttpResponse::UnprocessableEntity().json(RejectedImport {
            message: format!(
                "{} item(s) were rejected; nothing was imported",
                rejected.len()
            ),
            code: "import_rejected",
            kind: "invalid_request",
            link: "docs/exchange.md#import_rejected",
            rejected,
        })),
    }
}

#[utoipa::path(get, path = "/api/documents/{id}/document.xfdf", tag = "exchange", params(("id" = String, Path, description = "document id"), ("layer" = Option<String>, Query, description = "layer (default \"\")")), responses((status = 200, description = "the layer as XFDF", body = String, content_type = "application/vnd.adobe.xfdf"), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 404, description = "no such document", body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
async fn export_xfdf(
    _key: ApiKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<LayerQuery>,
) -> Result<HttpResponse, Error> {
    let doc = documents::get(&state.db, &id).await?;
    let records = layers::read(&state, &id, &query.layer, None).await?;
    xfdf_response(&state, &doc, &records).await
}

async fn xfdf_response(
    state: &AppState,
    doc: &crate::entities::document::Model,
    records: &[layers::StoredRecord],
) -> Result<HttpResponse, Error> {
    let pages = exchange::geometry(state, doc).await?;
    let (xml, skipped) = xfdf::export(records, &pages);
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.adobe.xfdf")
        // What XFDF could not carry, so a caller can tell a partial export from a full one.
        .insert_header((
            "Quire-Skipped",
            format!(
                "annotations={}, comments={}, bookmarks={}",
                skipped.annotations, skipped.comments, skipped.bookmarks
            ),
        ))
        .body(xml))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientQuery {
    document_id: Option<String>,
}

#[utoipa::path(get, path = "/api/client/document.json", tag = "client", params(("document_id" = Option<String>, Query, description = "the document the client expects")), responses((status = 200, description = "the token's layer as Instant JSON", body = Object), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 404, description = "no such document", body = crate::wire::rest::ErrorBody), (status = 403, body = crate::wire::rest::ErrorBody)), security(("session_token" = [])))]
async fn client_instant_json(
    session: ClientSession,
    state: web::Data<AppState>,
    query: web::Query<ClientQuery>,
) -> Result<HttpResponse, Error> {
    let id = session.managed_document(
        query.document_id.as_deref(),
        Permission::Download,
        "records",
    )?;
    let token = &session.0;
    let access = Access::from_grant(&token.grant);
    let records = layers::read(&state, id, &token.grant.layer, Some(access)).await?;
    Ok(HttpResponse::Ok().json(instant_json::export(&records)))
}

#[utoipa::path(get, path = "/api/client/document.xfdf", tag = "client", params(("document_id" = Option<String>, Query, description = "the document the client expects")), responses((status = 200, description = "the token's layer as XFDF", body = String, content_type = "application/vnd.adobe.xfdf"), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 404, description = "no such document", body = crate::wire::rest::ErrorBody), (status = 403, body = crate::wire::rest::ErrorBody)), security(("session_token" = [])))]
async fn client_xfdf(
    session: ClientSession,
    state: web::Data<AppState>,
    query: web::Query<ClientQuery>,
) -> Result<HttpResponse, Error> {
    let id = session.managed_document(
        query.document_id.as_deref(),
        Permission::Download,
        "records",
    )?;
    let token = &session.0;
    let doc = documents::get(&state.db, id).await?;
    let access = Access::from_grant(&token.grant);
    let records = layers::read(&state, id, &token.grant.layer, Some(access)).await?;
    xfdf_response(&state, &doc, &records).await
}
