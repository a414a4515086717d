//! `GET /api/client/ws`: the WebSocket upgrade. The session token comes in the first message,
//! never in the URL, so it cannot land in access logs.
//!
//! The request body (the client's frames) passes through a [`FrameGuard`] before `actix-ws`
//! sees it. `actix-ws` buffers a frame until all of its declared bytes have arrived and only then
//! compares its length with the limit, so a header declaring 2^62 bytes would make it buffer
//! whatever the client streams. The guard reads each frame header as it passes and refuses a
//! frame whose declared length is over the limit before any of its payload is buffered.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix::Actor;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::{dev, web, FromRequest, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_util::Stream;
use serde::Deserialize;

use super::error::Error;
use crate::actors::session::{self, SessionActor};
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

/// Query parameters of the upgrade.
#[derive(Deserialize)]
struct WsQuery {
    /// The document the client expects; a hello whose token is for another document is
    /// refused (`4001 unauthorized`, `wrong_document`).
    document_id: Option<String>,
}

#[utoipa::path(get, path = "/api/client/ws", tag = "client", responses((status = 101, description = "WebSocket upgrade; the first message is `hello` with the session token (docs/protocol.md)"), (status = 400, body = crate::wire::rest::ErrorBody), (status = 403, description = "origin not allowed", body = crate::wire::rest::ErrorBody)))]
async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    query: web::Query<WsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Error> {
    if !origin_allowed(&req, &state.cors_origins) {
        return Err(Error::OriginNotAllowed);
    }
    let guarded = FrameGuard::new(body.into_inner(), state.sessions.max_frame_bytes);
    let guarded: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(guarded);
    // `web::Payload` has no public constructor; extracting it from our payload is the way in.
    let body = web::Payload::from_request(&req, &mut dev::Payload::from(guarded))
        .await
        .map_err(|_| Error::BadRequest("unreadable request body".into()))?;
    // `actix-ws` does the handshake and reads the client's frames; the session's own body
    // writes to the client (`session::socket`), so its `Session` handle is not used.
    let (response, _, stream) = actix_ws::handle(&req, body)
        .map_err(|e| Error::BadRequest(format!("not a WebSocket upgrade: {e}")))?;
    let (outbox, response) = session::socket(&state.sessions, response);
    SessionActor::new(
        state.authenticator(),
        state.registry.clone(),
        state.sessions.clone(),
        outbox,
        stream,
    )
    .expect_document(query.into_inner().document_id)
    .start();
    Ok(response)
}

/// A client frame refused from its header: it declares more payload than a frame may carry.
#[derive(Debug, thiserror::Error)]
#[error("a frame declares {declared} bytes; frames are limited to {limit} bytes")]
pub struct FrameTooLarge {
    pub declared: u64,
    pub limit: usize,
}

/// Passes a WebSocket request body through unchanged while reading the frame headers in it
/// (RFC 6455 §5.2); fails the stream with [`FrameTooLarge`] as soon as a header declares more
/// than `limit` payload bytes. It keeps no bytes of its own (at most one 14-byte header), so what
/// `actix-ws` can buffer is bounded by one frame of at most `limit` bytes plus its header.
pub struct FrameGuard<S> {
    inner: S,
    limit: usize,
    /// The header being read, and how many of its bytes have arrived.
    header: [u8; 14],
    have: usize,
    /// Payload bytes of the current frame still to pass.
    remaining: u64,
    refused: bool,
}

impl<S> FrameGuard<S> {
    pub fn new(inner: S, limit: usize) -> FrameGuard<S> {
        FrameGuard {
            inner,
            limit,
            header: [0; 14],
            have: 0,
            remaining: 0,
            refused: false,
        }
    }

    /// Follows the frame boundaries through `chunk`; an error for a frame over the limit.
    fn inspect(&mut self, chunk: &[u8]) -> Result<(), FrameTooLarge> {
        let mut at = 0;
        while at < chunk.len() {
            if self.remaining > 0 {
                let take = self.remaining.min((chunk.len() - at) as u64);
                self.remaining -= take;
                at += take as usize;
                continue;
            }
            self.header[self.have] = chunk[at];
            self.have += 1;
            at += 1;
            if self.have < 2 {
                continue;
            }
            let (extended, masked) = (self.header[1] & 0x7f, self.header[1] & 0x80 != 0);
            let length_bytes = match extended {
                126 => 2,
                127 => 8,
                _ => 0,
            };
            let header_len = 2 + length_bytes + if masked { 4 } else { 0 };
            if self.have < header_len {
                continue;
            }
            let declared = match extended {
                126 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
                127 => u64::from_be_bytes(self.header[2..10].try_into().expect("8 bytes")),
                n => u64::from(n),
            };
            if declared > self.limit as u64 {
                return Err(FrameTooLarge {
                    declared,
                    limit: self.limit,
                });
            }
            self.remaining = declared;
            self.have = 0;
        }
        Ok(())
    }
}

impl<S> Stream for FrameGuard<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.refused {
            return Poll::Ready(None);
        }
        let item = match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => chunk,
            other => return other,
        };
        match self.inspect(&item) {
            Ok(()) => Poll::Ready(Some(Ok(item))),
            Err(too_large) => {
                self.refused = true;
                Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
                    io::ErrorKind::InvalidData,
                    too_large,
                )))))
            }
        }
    }
}

/// A developer-facing description of a frame error from `actix-ws`, naming the limit when the
/// [`FrameGuard`] refused the frame.
pub fn describe_frame_error(e: &actix_ws::ProtocolError) -> String {
    if let actix_ws::ProtocolError::Io(io) = e {
        let mut source: Option<&(dyn std::error::Error + 'static)> = io
            .get_ref()
            .map(|e| e as &(dyn std::error::Error + 'static));
        while let Some(err) = source {
            if let Some(too_large) = err.downcast_ref::<FrameTooLarge>() {
                return too_large.to_string();
            }
            source = match err.downcast_ref::<PayloadError>() {
                Some(PayloadError::Io(inner)) => inner
                    .get_ref()
                    .map(|e| e as &(dyn std::error::Error + 'static)),
                _ => err.source(),
            };
        }
    }
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn header(len: u64, masked: bool) -> Vec<u8> {
        let mut out = vec![0x81];
        let mask_bit = if masked { 0x80 } else { 0 };
        if len < 126 {
            out.push(mask_bit | len as u8);
        } else if len <= u64::from(u16::MAX) {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(mask_bit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
        if masked {
            out.extend_from_slice(&[1, 2, 3, 4]);
        }
        out
    }

    fn frame(len: usize) -> Vec<u8> {
        let mut out = header(len as u64, true);
        out.extend(std::iter::repeat_n(b'x', len));
        out
    }

    /// Feeds `bytes` to a guard in chunks of `chunk` bytes; returns how many bytes passed and
    /// whether it refused.
    async fn run(bytes: Vec<u8>, chunk: usize, limit: usize) -> (usize, bool) {
        let chunks: Vec<Result<Bytes, PayloadError>> = bytes
            .chunks(chunk)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let mut guard = FrameGuard::new(futures_util::stream::iter(chunks), limit);
        let (mut passed, mut refused) = (0, false);
        while let Some(item) = guard.next().await {
            match item {
                Ok(b) => passed += b.len(),
                Err(_) => refused = true,
            }
        }
        (passed, refused)
    }

    #[actix_web::test]
    async fn frames_within_the_limit_pass_whole_in_any_chunking() {
        let mut bytes = frame(10);
        bytes.extend(frame(300));
        bytes.extend(frame(70_000));
        bytes.extend(frame(0));
        for chunk in [1, 2, 3, 7, 13, 1000, 1 << 20] {
            assert_eq!(
                run(bytes.clone(), chunk, 70_000).await,
                (bytes.len(), false),
                "chunk {chunk}"
            );
        }
    }

    #[actix_web::test]
    async fn a_header_over_the_limit_is_refused_before_its_payload() {
        for declared in [1025, 70_000, 1 << 62, u64::MAX] {
            for chunk in [1, 5, 64 * 1024] {
                let mut bytes = frame(20);
                bytes.extend(header(declared, true));
                bytes.extend(vec![b'x'; 200_000]);
                let (passed, refused) = run(bytes, chunk, 1024).await;
                assert!(refused, "{declared} in chunks of {chunk}");
                assert!(
                    passed < 20 + 6 + 14 + chunk,
                    "{declared}: {passed} bytes passed"
                );
            }
        }
    }

    #[actix_web::test]
    async fn the_refusal_names_the_declared_length_and_the_limit() {
        let err = FrameTooLarge {
            declared: 1 << 62,
            limit: 1024,
        };
        let wrapped = actix_ws::ProtocolError::Io(io::Error::other(PayloadError::Io(
            io::Error::new(io::ErrorKind::InvalidData, err),
        )));
        assert_eq!(
            describe_frame_error(&wrapped),
            "a frame declares 4611686018427387904 bytes; frames are limited to 1024 bytes"
        );
    }
}
