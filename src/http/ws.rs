//! `GET /api/client/ws`: the WebSocket upgrade. The session token comes in the first message,
//! never in the URL, so it cannot land in access logs.
//!
//! An upgrade does not go through the actix-web app: actix-http hands every request with
//! `Upgrade: websocket` to [`upgrade_service`] together with its connection (see
//! `http::server`), so the session owns the TCP stream and the only buffers it has
//! (`actors::session::{reader, writer}`), instead of a dispatcher keeping 16 KiB of buffers for
//! the connection's whole life. The checks a route would make happen here, in the same order and
//! with the same errors: query, origin, handshake. A plain `GET` of the path (no upgrade) still
//! reaches the app's route, which refuses it as a failed upgrade.

use std::io;
use std::time::Instant;

use actix_codec::Framed;
use actix_http::body::{BodySize, MessageBody};
use actix_http::h1::{self, Message};
use actix_http::{ConnectionType, Request, RequestHead, StatusCode};
use actix_service::{fn_service, ServiceFactory};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use futures_util::SinkExt;
use serde::Deserialize;
use tokio::net::TcpStream;
use tracing::Instrument;

use super::error::Error;
use crate::actors::session;
use crate::state::AppState;

/// Where sessions open.
pub const PATH: &str = "/api/client/ws";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(PATH, web::get().to(upgrade));
}

/// The host the client addressed, as actix-web's `ConnectionInfo` reads it: `Forwarded: host=`,
/// then `X-Forwarded-Host`, then `Host`, then the request line's authority.
fn request_host(head: &RequestHead) -> Option<&str> {
    let header = |name| head.headers.get(name).and_then(|v| v.to_str().ok());
    let forwarded = header(header::FORWARDED).and_then(|v| {
        v.split([';', ','])
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("host"))
            .map(|(_, v)| v.trim().trim_matches('"'))
    });
    forwarded
        .or_else(|| {
            header(header::HeaderName::from_static("x-forwarded-host"))
                .and_then(|v| v.split(',').next())
                .map(str::trim)
        })
        .or_else(|| header(header::HOST))
        .or_else(|| head.uri.authority().map(|a| a.as_str()))
}

/// Whether a browser page on `origin` may open a socket: same origin, or listed in
/// `--cors-origins`. Requests without `Origin` (non-browser clients) are allowed.
fn origin_allowed(head: &RequestHead, allowed: &[String]) -> bool {
    let Some(origin) = head
        .headers
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
    let Some(host) = request_host(head) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
}

/// Query parameters of the upgrade.
#[derive(Deserialize)]
struct WsQuery {
    /// The document the client expects; a hello whose token is for another document is
    /// refused (`4001 unauthorized`, `wrong_document`).
    document_id: Option<String>,
}

/// What must hold before a socket opens, checked for upgrades and plain requests alike.
fn admit(head: &RequestHead, cors_origins: &[String]) -> Result<WsQuery, Error> {
    let query = web::Query::<WsQuery>::from_query(head.uri.query().unwrap_or(""))
        .map_err(|e| Error::BadRequest(format!("invalid query string: {e}")))?;
    if !origin_allowed(head, cors_origins) {
        return Err(Error::OriginNotAllowed);
    }
    actix_http::ws::verify_handshake(head)
        .map_err(|e| Error::BadRequest(format!("not a WebSocket upgrade: {e}")))?;
    Ok(query.into_inner())
}

// Reached only by requests without `Upgrade: websocket` (upgrades go to `upgrade_service`):
// they are refused as an upgrade with missing headers would be. (A doc comment here would
// become the operation's summary in the OpenAPI document.)
#[utoipa::path(get, path = "/api/client/ws", tag = "client", responses((status = 101, description = "WebSocket upgrade; the first message is `hello` with the session token (docs/protocol.md)"), (status = 400, body = crate::wire::rest::ErrorBody), (status = 403, description = "origin not allowed", body = crate::wire::rest::ErrorBody)))]
async fn upgrade(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    admit(req.head(), &state.cors_origins)?;
    Err(Error::BadRequest(
        "not a WebSocket upgrade: the request has no `Upgrade: websocket` header".into(),
    ))
}

/// A connection actix-http has handed over at an upgrade, with the request that asked for it.
pub type Upgraded = (Request, Framed<TcpStream, h1::Codec>);

/// The service actix-http calls with every `Upgrade: websocket` request and its connection. It
/// answers the handshake (or the refusal) itself, then runs the session's writer until the
/// socket is done.
pub fn upgrade_service(
    state: web::Data<AppState>,
) -> impl ServiceFactory<Upgraded, Config = (), Response = (), Error = actix_web::Error, InitError = ()>
{
    fn_service(move |(req, framed): Upgraded| {
        let state = state.clone();
        // Like every request's span (`telemetry::RequestSpans`), for the handshake only: the
        // session logs under its own id afterwards.
        let span = tracing::info_span!(
            "HTTP request",
            http.method = %req.head().method,
            http.route = route_of(req.head()),
        );
        async move {
            match handshake(req, framed, &state).instrument(span).await {
                Ok(Some(writer)) => writer.await,
                Ok(None) => {}
                // A client gone before the `101` reached it: routine, not an error of ours
                // (returned as one, actix-http would log it as such).
                Err(e) => {
                    tracing::debug!(error = %e, "the client left during the WebSocket handshake")
                }
            }
            Ok::<_, actix_web::Error>(())
        }
    })
}

/// Answers the upgrade: the session's writer once the `101` is sent, or `None` after a refusal.
async fn handshake(
    req: Request,
    mut framed: Framed<TcpStream, h1::Codec>,
    state: &AppState,
) -> io::Result<Option<session::SocketWriter<session::SharedStream>>> {
    let started = Instant::now();
    let head = req.head();
    let route = route_of(head);
    let admitted = if route == PATH {
        admit(head, &state.cors_origins)
    } else {
        Err(Error::NotFound(format!(
            "no WebSocket is served at {}; sessions open at {PATH}",
            head.uri.path()
        )))
    };
    let method = super::metrics::method_label(&head.method);
    let query = match admitted {
        Ok(query) => query,
        Err(error) => {
            let status = refuse(&mut framed, &error).await;
            tracing::info!(status = status.as_u16(), %error, "request finished");
            super::metrics::record(route, method, status, started);
            return Ok(None);
        }
    };
    let response = actix_http::ws::handshake_response(head)
        .finish()
        .drop_body();
    framed
        .send(Message::Item((response, BodySize::None)))
        .await?;
    super::metrics::record(route, method, StatusCode::SWITCHING_PROTOCOLS, started);
    tracing::info!(status = 101, "request finished");
    let parts = framed.into_parts();
    Ok(Some(session::serve(
        parts.io,
        parts.read_buf,
        state.authenticator(),
        state.registry.clone(),
        state.sessions.clone(),
        query.document_id,
    )))
}

/// The route label of an upgrade (as the app's metrics name routes).
fn route_of(head: &RequestHead) -> &'static str {
    if head.uri.path() == PATH {
        PATH
    } else {
        "other"
    }
}

/// Writes `error`'s response and closes the connection; its status.
async fn refuse(framed: &mut Framed<TcpStream, h1::Codec>, error: &Error) -> StatusCode {
    let response: actix_http::Response<_> = error.error_response().into();
    let status = response.status();
    let (mut response, body) = response.into_parts();
    let body = body.try_into_bytes().unwrap_or_default();
    response
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    let sent = async {
        framed
            .send(Message::Item((
                response,
                BodySize::Sized(body.len() as u64),
            )))
            .await?;
        framed.send(Message::Chunk(Some(body))).await?;
        framed.send(Message::Chunk(None)).await
    };
    if let Err(e) = sent.await {
        tracing::debug!(error = %e, "writing a refused upgrade's response failed");
    }
    status
}
#[cfg(test)]
mod tests {
    use actix_http::header::{HeaderName, HeaderValue};

    use super::*;

    fn head(headers: &[(&'static str, &'static str)]) -> RequestHead {
        let mut head = RequestHead::default();
        head.uri = "/api/client/ws".parse().unwrap();
        for (name, value) in headers {
            head.headers.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        head
    }

    #[test]
    fn the_host_is_read_as_actix_web_reads_it() {
        let host = |h: &[(&'static str, &'static str)]| request_host(&head(h)).map(String::from);
        assert_eq!(host(&[("host", "a.example")]), Some("a.example".into()));
        assert_eq!(
            host(&[
                ("host", "a.example"),
                ("x-forwarded-host", "b.example, c.example")
            ]),
            Some("b.example".into())
        );
        assert_eq!(
            host(&[
                ("host", "a.example"),
                ("x-forwarded-host", "b.example"),
                ("forwarded", "for=1.2.3.4;host=\"d.example\";proto=https"),
            ]),
            Some("d.example".into())
        );
        assert_eq!(host(&[]), None);
    }

    #[test]
    fn an_origin_is_allowed_when_absent_listed_or_the_same_host() {
        let listed = vec!["https://app.example".to_string()];
        let allowed = |h: &[(&'static str, &'static str)]| origin_allowed(&head(h), &listed);
        assert!(allowed(&[("host", "q.example")]));
        assert!(allowed(&[
            ("host", "q.example"),
            ("origin", "https://app.example")
        ]));
        assert!(allowed(&[
            ("host", "q.example"),
            ("origin", "https://q.example")
        ]));
        assert!(!allowed(&[
            ("host", "q.example"),
            ("origin", "https://evil.example")
        ]));
        assert!(
            !allowed(&[("origin", "https://q.example")]),
            "no host to compare with"
        );
        assert!(origin_allowed(
            &head(&[("origin", "https://evil.example")]),
            &["*".to_string()]
        ));
    }
}
