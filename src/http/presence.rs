//! `GET /api/documents/{id}/sessions` (API key): who is on a document now. Answered by the
//! document's actor from memory when the document is open on this node (it lists this node's
//! sessions and those other nodes announced); a document nobody has open has none.

use actix_web::{web, HttpResponse};

use super::error::Error;
use super::extract::ApiKey;
use crate::actors::document::ListSessions;
use crate::actors::registry::FindOpen;
use crate::documents;
use crate::state::AppState;
use crate::wire::rest::SessionsResponse;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/documents/{id}/sessions", web::get().to(live_sessions));
}

/// The document's live sessions.
#[utoipa::path(get, path = "/api/documents/{id}/sessions", tag = "documents",
    params(("id" = String, Path, description = "document id")),
    responses(
        (status = 200, description = "the live sessions", body = SessionsResponse),
        (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody),
        (status = 404, description = "no such document", body = crate::wire::rest::ErrorBody),
        (status = 503, description = "the document is reopening; retry", body = crate::wire::rest::ErrorBody)),
    security(("api_key" = [])))]
pub(super) async fn live_sessions(
    _key: ApiKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let id = id.into_inner();
    documents::get(&state.db, &id).await?;
    let unavailable = |_| Error::Unavailable("the document is reopening; retry".into());
    let open = state
        .registry
        .send(FindOpen {
            document_id: id.clone(),
        })
        .await
        .map_err(unavailable)?;
    let sessions = match open {
        Some(actor) => actor.send(ListSessions).await.map_err(unavailable)?,
        None => Vec::new(),
    };
    Ok(HttpResponse::Ok().json(SessionsResponse {
        document_id: id,
        sessions,
    }))
}
