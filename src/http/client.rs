//! Client routes (session token): who am I, and the document's bytes.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::error::Error;
use super::extract::ClientSession;
use super::file::{self, Disposition};
use crate::auth;
use crate::auth::rights::Permission;
use crate::auth::tokens::{self, DocumentRef, VerifiedToken};
use crate::state::AppState;
use crate::wire::rest::{GrantView, SessionResponse};
use crate::{documents, usage};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/session", web::get().to(session)).service(
        web::resource("/document")
            .route(web::get().to(document))
            .route(web::head().to(document)),
    );
}

/// Query parameters every client route accepts.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ClientQuery {
    /// The document the client expects; a token for another document is refused.
    document_id: Option<String>,
    /// `true` to receive the PDF as an attachment (needs the `download` permission).
    #[serde(default)]
    download: bool,
}

fn require(
    token: &VerifiedToken,
    query: &ClientQuery,
    permission: Permission,
) -> Result<(), Error> {
    if let Some(expected) = &query.document_id {
        if expected != token.grant.document.id() {
            return Err(auth::Error::WrongDocument.into());
        }
    }
    if !token.has(permission) {
        return Err(auth::Error::RightMissing(format!("`{permission}` is required")).into());
    }
    Ok(())
}

/// `GET /api/client/session`: who the token is for and what it grants. This is the call that
/// opens a session, so it is what usage metering counts.
#[utoipa::path(get, path = "/api/client/session", tag = "client", params(ClientQuery), responses((status = 200, body = SessionResponse), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 403, body = crate::wire::rest::ErrorBody), (status = 404, description = "the token's document was deleted", body = crate::wire::rest::ErrorBody)), security(("session_token" = [])))]
async fn session(
    ClientSession(token): ClientSession,
    state: web::Data<AppState>,
    query: web::Query<ClientQuery>,
) -> Result<HttpResponse, Error> {
    require(&token, &query, Permission::ReadDocument)?;
    let page_count = match &token.grant.document {
        DocumentRef::Managed(id) => Some(documents::get(&state.db, id).await?.page_count),
        DocumentRef::App(_) => None,
    };
    usage::record_open(&state.committer, &token, None).await?;
    Ok(HttpResponse::Ok().json(SessionResponse {
        grant: GrantView::from(&token.grant),
        // The effective expiry: an attenuation may have shortened the authority block's.
        expires_at: tokens::rfc3339(token.expires_at),
        page_count,
    }))
}

/// `GET /api/client/document`: the PDF, with `Range`, `ETag` and `Content-Length`.
#[utoipa::path(method(get, head), path = "/api/client/document", tag = "client", params(ClientQuery), responses((status = 200, description = "the PDF", body = String, content_type = "application/pdf"), (status = 206, description = "a range of it", body = String, content_type = "application/pdf"), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 403, body = crate::wire::rest::ErrorBody), (status = 404, body = crate::wire::rest::ErrorBody), (status = 416, body = crate::wire::rest::ErrorBody)), security(("session_token" = [])))]
async fn document(
    ClientSession(token): ClientSession,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ClientQuery>,
) -> Result<HttpResponse, Error> {
    require(&token, &query, Permission::ReadDocument)?;
    let id = match &token.grant.document {
        DocumentRef::Managed(id) => id,
        DocumentRef::App(id) => {
            return Err(Error::NoDocumentBytes(format!(
                "`{id}` is an app-provided document: the application serves its bytes, Quire only authorises and meters the session"
            )))
        }
    };
    let disposition = if query.download {
        require(&token, &query, Permission::Download)?;
        Disposition::Attachment
    } else {
        Disposition::Inline
    };
    let doc = documents::get(&state.db, id).await?;
    file::serve(&req, &state.blobs, &doc, disposition).await
}
