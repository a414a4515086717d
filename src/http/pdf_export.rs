//! PDF export routes: the original PDF with a layer's annotations written into it.
//!
//! - `GET /api/documents/{id}/pdf?layer=&flatten=` (API key)
//! - `GET /api/client/pdf?flatten=` (session token with `download`; the token's layer, as its
//!   holder may see it)
//!
//! The work is done by the sandboxed child (`quire export-pdf`, see
//! [`crate::pdf::Inspector::export_pdf`]) on copies in the spool directory; the stored original
//! is never modified.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::error::Error;
use super::extract::{ApiKey, ClientSession};
use crate::auth::access::Access;
use crate::auth::rights::Permission;
use crate::documents;
use crate::entities::document;
use crate::exchange::{self, instant_json, layers};
use crate::state::AppState;

pub fn configure_backend(cfg: &mut web::ServiceConfig) {
    cfg.route("/documents/{id}/pdf", web::get().to(backend_pdf));
}

pub fn configure_client(cfg: &mut web::ServiceConfig) {
    cfg.route("/pdf", web::get().to(client_pdf));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PdfQuery {
    #[serde(default)]
    layer: String,
    #[serde(default)]
    flatten: bool,
}

#[utoipa::path(get, path = "/api/documents/{id}/pdf", tag = "exchange", params(("id" = String, Path, description = "document id"), ("layer" = Option<String>, Query, description = "layer (default \"\")"), ("flatten" = Option<bool>, Query, description = "burn the annotations into the pages")), responses((status = 200, description = "the PDF with the layer's annotations", body = String, content_type = "application/pdf"), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 404, description = "no such document", body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
async fn backend_pdf(
    _key: ApiKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<PdfQuery>,
) -> Result<HttpResponse, Error> {
    let doc = documents::get(&state.db, &id).await?;
    let records = layers::read(&state, &id, &query.layer, None).await?;
    export(&state, &doc, &records, query.flatten).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientPdfQuery {
    document_id: Option<String>,
    #[serde(default)]
    flatten: bool,
}

#[utoipa::path(get, path = "/api/client/pdf", tag = "client", params(("document_id" = Option<String>, Query, description = "the document the client expects"), ("flatten" = Option<bool>, Query, description = "burn the annotations into the pages")), responses((status = 200, description = "the PDF with the token's layer", body = String, content_type = "application/pdf"), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 404, description = "no such document", body = crate::wire::rest::ErrorBody), (status = 403, body = crate::wire::rest::ErrorBody)), security(("session_token" = [])))]
async fn client_pdf(
    session: ClientSession,
    state: web::Data<AppState>,
    query: web::Query<ClientPdfQuery>,
) -> Result<HttpResponse, Error> {
    let id =
        session.managed_document(query.document_id.as_deref(), Permission::Download, "bytes")?;
    let token = &session.0;
    let doc = documents::get(&state.db, id).await?;
    let access = Access::from_grant(&token.grant);
    let records = layers::read(&state, id, &token.grant.layer, Some(access)).await?;
    export(&state, &doc, &records, query.flatten).await
}

fn io(e: std::io::Error) -> Error {
    Error::Exchange(exchange::Error::Io(e))
}

async fn export(
    state: &AppState,
    doc: &document::Model,
    records: &[layers::StoredRecord],
    flatten: bool,
) -> Result<HttpResponse, Error> {
    let started = std::time::Instant::now();
    let original = exchange::fetch_to_temp(state, doc).await?;
    let spool = &state.intake.spool_dir;
    let input = tempfile::NamedTempFile::new_in(spool).map_err(io)?;
    let body = serde_json::to_vec(&instant_json::export(records))
        .map_err(|e| io(std::io::Error::other(e)))?;
    tokio::fs::write(input.path(), body).await.map_err(io)?;
    let output = tempfile::NamedTempFile::new_in(spool).map_err(io)?;
    let summary = state
        .intake
        .inspector
        .export_pdf(original.path(), input.path(), output.path(), flatten)
        .await
        .map_err(|e| Error::Documents(documents::Error::Pdf(e)))?;
    let bytes = tokio::fs::read(output.path()).await.map_err(io)?;
    tracing::info!(document_id = %doc.id, flatten, annotations = summary.annotations,
        comments = summary.comments, bytes = bytes.len(),
        export_ms = started.elapsed().as_millis() as u64, "pdf exported");
    let base = doc.title.as_deref().unwrap_or(&doc.id);
    let stem: String = base
        .trim_end_matches(".pdf")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{stem}-annotated.pdf\""),
        ))
        .insert_header((
            "Quire-Export",
            format!(
                "annotations={}, comments={}, form_fields={}, skipped={}",
                summary.annotations, summary.comments, summary.form_fields, summary.skipped
            ),
        ))
        .body(bytes))
}
