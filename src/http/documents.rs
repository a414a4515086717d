//! Backend document routes (API key): upload, list, read, download, delete.

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::body;
use super::error::Error;
use super::extract::ApiKey;
use super::file::{self, Disposition};
use crate::actors::registry::CloseDocument;
use crate::audit;
use crate::documents::{self, Cursor, NewDocument};
use crate::entities::document;
use crate::state::AppState;
use crate::time_util::micros_to_rfc3339;
use crate::wire::common::{CloseCode, CloseReason};
use crate::wire::rest::{DocumentInfo, DocumentList, UploadedWithAnnotations};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/documents")
            .route(web::post().to(upload))
            .route(web::get().to(list)),
    )
    .service(
        web::resource("/documents/{id}")
            .route(web::get().to(get))
            .route(web::delete().to(delete)),
    )
    .service(
        web::resource("/documents/{id}/file")
            .route(web::get().to(download))
            .route(web::head().to(download)),
    );
}

impl From<document::Model> for DocumentInfo {
    fn from(d: document::Model) -> Self {
        DocumentInfo {
            id: d.id,
            title: d.title,
            byte_size: d.byte_size,
            sha256: d.sha256,
            page_count: d.page_count,
            created_at: micros_to_rfc3339(d.created_at),
            updated_at: micros_to_rfc3339(d.updated_at),
        }
    }
}

/// Query parameters of a raw (non-multipart) upload.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct UploadQuery {
    title: Option<String>,
    id: Option<String>,
    /// `true` to import the annotations already in the PDF into `layer` (docs/exchange.md).
    #[serde(default)]
    import_annotations: bool,
    #[serde(default)]
    layer: String,
}

/// `POST /api/documents`: a raw `application/pdf` body (title and id in the query string) or a
/// `multipart/form-data` body with `file`, `title` and `id` parts.
#[utoipa::path(post, path = "/api/documents", tag = "documents", params(UploadQuery), request_body(content = String, content_type = "application/pdf", description = "the PDF bytes; or multipart/form-data with `file`, `title` and `id` parts"), responses((status = 201, body = DocumentInfo), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 409, description = "the id is taken", body = crate::wire::rest::ErrorBody), (status = 413, description = "too large", body = crate::wire::rest::ErrorBody), (status = 415, description = "unsupported media type", body = crate::wire::rest::ErrorBody), (status = 422, description = "not a PDF Quire accepts", body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
async fn upload(
    key: ApiKey,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<UploadQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let limit = state.limits.max_upload_bytes;
    let spool_dir = &state.intake.spool_dir;
    body::check_content_length(&req, limit)?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let query = query.into_inner();
    let (import_annotations, layer) = (query.import_annotations, query.layer.clone());
    if import_annotations {
        crate::limits::check_identity("import", None, &layer, None)
            .map_err(|v| Error::BadRequest(v.to_string()))?;
    }
    let upload = match media_type.as_str() {
        "application/pdf" | "application/octet-stream" => body::Upload {
            file: body::raw(payload, spool_dir, limit).await?,
            title: query.title,
            id: query.id,
        },
        "multipart/form-data" => {
            let form = Multipart::new(req.headers(), payload);
            let mut upload = body::multipart(form, spool_dir, limit).await?;
            upload.title = upload.title.or(query.title);
            upload.id = upload.id.or(query.id);
            upload
        }
        other => {
            return Err(Error::UnsupportedMediaType(format!(
                "Content-Type `{other}` is not accepted: send application/pdf or multipart/form-data with a `file` part"
            )))
        }
    };
    let doc = documents::create(
        &state.db,
        &state.blobs,
        &state.intake.inspector,
        NewDocument {
            id: upload.id,
            title: upload.title,
            file: upload.file,
        },
    )
    .await?;
    tracing::info!(document_id = %doc.id, bytes = doc.byte_size, pages = doc.page_count, "document uploaded");
    let _ = audit::record(
        &state.db,
        audit::Event {
            document_id: Some(doc.id.clone()),
            kind: "document.upload",
            actor: key.actor(),
            detail: serde_json::json!({
                "title": doc.title, "bytes": doc.byte_size, "pages": doc.page_count,
            }),
        },
    )
    .await;
    notify(
        &state,
        "document.created",
        &doc.id,
        serde_json::json!({"document_id": doc.id, "title": doc.title, "page_count": doc.page_count}),
    )
    .await;
    let mut created = HttpResponse::Created();
    created.insert_header((header::LOCATION, format!("/api/documents/{}", doc.id)));
    if !import_annotations {
        return Ok(created.json(DocumentInfo::from(doc)));
    }
    let query = super::exchange::ImportQuery {
        layer,
        user_id: None,
        user_name: None,
    };
    let imported =
        super::exchange::import_into(&state, &doc, query, &[], super::exchange::Format::StoredPdf)
            .await;
    let annotations_import = match imported {
        Ok(Ok(report)) => serde_json::to_value(report).unwrap_or_default(),
        Ok(Err(crate::exchange::instant_json::Refused::Items(rejected))) => serde_json::json!({
            "code": "import_rejected",
            "message": "the PDF's annotations were not imported: some are invalid",
            "rejected": rejected,
        }),
        Ok(Err(crate::exchange::instant_json::Refused::Malformed(message))) => {
            serde_json::json!({"code": "invalid_request", "message": message})
        }
        Err(e) => {
            tracing::warn!(document_id = %doc.id, error = %e, "importing the PDF's annotations failed");
            serde_json::json!({
                "code": "import_failed",
                "message": "the document was stored, but its annotations could not be imported; retry with POST /api/documents/{id}/import-pdf-annotations",
            })
        }
    };
    Ok(created.json(UploadedWithAnnotations {
        document: DocumentInfo::from(doc),
        annotations_import,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    limit: Option<u64>,
    cursor: Option<String>,
}

/// `GET /api/documents?limit=&cursor=`: newest first.
#[utoipa::path(get, path = "/api/documents", tag = "documents", params(ListQuery), responses((status = 200, body = DocumentList), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
async fn list(
    _key: ApiKey,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Error> {
    let after = match &query.cursor {
        Some(c) => {
            Some(Cursor::decode(c).ok_or_else(|| Error::BadRequest("invalid cursor".into()))?)
        }
        None => None,
    };
    let limit = documents::check_page_size(query.limit.unwrap_or(documents::DEFAULT_PAGE_SIZE))?;
    let (docs, next) = documents::list(&state.db, limit, after).await?;
    Ok(HttpResponse::Ok().json(DocumentList {
        documents: docs.into_iter().map(DocumentInfo::from).collect(),
        next_cursor: next.map(|c| c.encode()),
    }))
}

/// `GET /api/documents/{id}`.
#[utoipa::path(get, path = "/api/documents/{id}", tag = "documents", params(("id" = String, Path)), responses((status = 200, body = DocumentInfo), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 404, body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
async fn get(
    _key: ApiKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let doc = documents::get(&state.db, &id).await?;
    Ok(HttpResponse::Ok().json(DocumentInfo::from(doc)))
}

/// `GET /api/documents/{id}/file`: the original PDF, with range support.
#[utoipa::path(method(get, head), path = "/api/documents/{id}/file", tag = "documents", params(("id" = String, Path)), responses((status = 200, description = "the PDF", body = String, content_type = "application/pdf"), (status = 206, description = "a range of it", body = String, content_type = "application/pdf"), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 404, body = crate::wire::rest::ErrorBody), (status = 416, body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
async fn download(
    _key: ApiKey,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let doc = documents::get(&state.db, &id).await?;
    file::serve(&req, &state.blobs, &doc, Disposition::Attachment).await
}

/// `DELETE /api/documents/{id}`: removes the document and its records; the blob goes when no
/// other document references it.
#[utoipa::path(delete, path = "/api/documents/{id}", tag = "documents", params(("id" = String, Path)), responses((status = 204, description = "deleted"), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 404, body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
async fn delete(
    key: ApiKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    documents::delete(&state.db, &state.blobs, &id).await?;
    // Delete first, then close: a session that joins in between is closed too.
    let _ = state
        .registry
        .send(CloseDocument {
            document_id: id.to_string(),
            reason: CloseReason::new(
                CloseCode::DocumentDeleted,
                format!("document `{id}` was deleted"),
            ),
        })
        .await;
    // Sessions on other nodes close when the hint reaches them (or at their next catch-up).
    let hint = crate::bus::Hint::Deleted { d: id.to_string() };
    if let Err(e) = state.bus.publish(hint).await {
        tracing::warn!(error = %e, document_id = %id, "other nodes were not told of a deletion");
    }
    tracing::info!(document_id = %id, "document deleted");
    let _ = audit::record(
        &state.db,
        audit::Event {
            document_id: Some(id.to_string()),
            kind: "document.delete",
            actor: key.actor(),
            detail: serde_json::json!({}),
        },
    )
    .await;
    notify(
        &state,
        "document.deleted",
        &id,
        serde_json::json!({"document_id": id.as_str()}),
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}

/// Queues a webhook event about a document; a failure is logged (the action stands).
async fn notify(state: &AppState, kind: &'static str, id: &str, data: serde_json::Value) {
    if let Err(e) = crate::webhooks::enqueue(&state.db, kind, Some(id), data).await {
        tracing::error!(error = %e, kind, document_id = %id, "queueing a webhook event failed");
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::ResponseError;

    use super::Error;
    use crate::{documents, pdf};

    #[test]
    fn an_upload_refused_for_busy_parse_slots_says_when_to_retry() {
        let response = Error::from(documents::Error::Pdf(pdf::Error::Busy)).error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("5")
        );
    }

    #[test]
    fn a_too_costly_pdf_is_the_uploaders_problem_not_a_server_fault() {
        let error = Error::from(documents::Error::Pdf(pdf::Error::TooCostly("x".into())));
        assert_eq!(error.status_code(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}
