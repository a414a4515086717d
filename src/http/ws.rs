//! `GET /api/client/ws`: the WebSocket upgrade. The session token comes in the first message,
//! never in the URL, so it cannot land in access logs.

use actix::Actor;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::Error;
use crate::actors::session::SessionActor;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/client/ws", web::get().to(upgrade));
}

/// Whether a browser page on `origin` may open a socket: same origin, or listed in
/// `--cors-origins`. Requests without `Origin` (non-browser clients) are allowed.
fn origin_allowed(req: &HttpRequest, allowed: &[String]) -> bool {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return true;
    };
    if allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let host = req.connection_info().host().to_string();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(&host))
}

async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Error> {
    if !origin_allowed(&req, &state.cors_origins) {
        return Err(Error::OriginNotAllowed);
    }
    let (response, session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| Error::BadRequest(format!("not a WebSocket upgrade: {e}")))?;
    SessionActor::new(
        state.authenticator(),
        state.registry.clone(),
        state.sessions.clone(),
        session,
        stream,
    )
    .start();
    Ok(response)
}
