//! The socket's writer: the WebSocket response body, which drains the session's outbox straight
//! into the connection.
//!
//! `actix-ws` hands frames to the connection through a task of its own (`Session::text` per
//! message, one channel hop, a copy of the text into a new buffer per session, and a wake-up
//! and usually a `write` system call per message). Here the response body *is* the writer: each
//! time the connection can take bytes, it takes every frame queued in the outbox (up to a
//! bound), frames them into one buffer and hands that to the connection as one chunk, so one
//! wake-up and one `write` carry all of them. A broadcast is serialised once
//! (`Outgoing::Text` shares an `Arc<str>`) and copied only into the frame buffer.
//!
//! The incoming half stays `actix-ws`'s `MessageStream`, which ends when the response body that
//! `actix_ws::handle` built is dropped; [`SocketBody`] therefore keeps that body (never polled)
//! and drops it when it ends itself.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_http::ws::{CloseCode as WsCloseCode, CloseReason as WsCloseReason, OpCode, Parser};
use actix_web::body::{BodySize, BoxBody, MessageBody};
use bytes::{Bytes, BytesMut};

use crate::actors::outbox::{OutboxReceiver, Outgoing};
use crate::wire::common::CloseReason;

/// Most bytes framed into one chunk before it is handed to the connection (the connection asks
/// for the next one at once while its write buffer has room).
const CHUNK_BYTES: usize = 64 * 1024;

/// RFC 6455 §5.5: a control frame carries at most 125 bytes; a close's reason follows a 2-byte
/// code.
const MAX_CONTROL_PAYLOAD: usize = 125;
const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// The response body of a session's WebSocket. See the module documentation.
pub struct SocketBody {
    rx: OutboxReceiver,
    grace: Duration,
    /// `actix-ws`'s own response body, kept only so that dropping it tells the incoming
    /// `MessageStream` the connection is gone.
    _incoming_guard: BoxBody,
    /// The close frame was framed: the body ends once it is handed over.
    done: bool,
}

impl SocketBody {
    pub fn new(rx: OutboxReceiver, grace: Duration, incoming_guard: BoxBody) -> SocketBody {
        SocketBody {
            rx,
            grace,
            _incoming_guard: incoming_guard,
            done: false,
        }
    }
}

/// Appends `msg`'s frame to `buf`; `true` for the close frame (nothing follows it).
fn frame(buf: &mut BytesMut, msg: Outgoing) -> bool {
    match msg {
        Outgoing::Text(text) => {
            Parser::write_message(buf, text.as_bytes(), OpCode::Text, true, false)
        }
        Outgoing::Ping => Parser::write_message(buf, b"", OpCode::Ping, true, false),
        Outgoing::Pong(bytes) => {
            let payload = &bytes[..bytes.len().min(MAX_CONTROL_PAYLOAD)];
            Parser::write_message(buf, payload, OpCode::Pong, true, false)
        }
        Outgoing::Close(reason) => {
            Parser::write_close(buf, Some(ws_close_reason(&reason)), false);
            return true;
        }
    }
    false
}

/// The close frame's code and reason, the reason cut (at a character boundary) to what a
/// control frame can carry.
pub(super) fn ws_close_reason(reason: &CloseReason) -> WsCloseReason {
    let mut text = reason.text();
    if text.len() > MAX_CLOSE_REASON {
        let mut end = MAX_CLOSE_REASON;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    WsCloseReason {
        code: WsCloseCode::from(reason.code.code()),
        description: Some(text),
    }
}

impl MessageBody for SocketBody {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Infallible>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        // A close asked for longer than `grace` ago: the client did not take what preceded the
        // close frame in time; the socket is dropped.
        if this
            .rx
            .close_requested_at()
            .is_some_and(|at| at.elapsed() > this.grace)
        {
            this.done = true;
            return Poll::Ready(None);
        }
        let mut buf = BytesMut::new();
        let ended = loop {
            if buf.len() >= CHUNK_BYTES {
                break false;
            }
            match this.rx.poll_recv(cx) {
                Poll::Ready(Some(msg)) => {
                    if frame(&mut buf, msg) {
                        break true;
                    }
                }
                // Every sender is gone (the session ended without a close): end the socket.
                Poll::Ready(None) => break true,
                Poll::Pending => break false,
            }
        };
        this.done = ended;
        if !buf.is_empty() {
            Poll::Ready(Some(Ok(buf.freeze())))
        } else if ended {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::actors::outbox::{outbox, OutboxLimits};
    use crate::wire::common::CloseCode;

    fn body() -> (crate::actors::outbox::Outbox, SocketBody) {
        let (tx, rx) = outbox(OutboxLimits {
            messages: 16,
            bytes: 1 << 20,
        });
        (
            tx,
            SocketBody::new(rx, Duration::from_secs(10), BoxBody::new(())),
        )
    }

    async fn next(body: &mut SocketBody) -> Option<Bytes> {
        std::future::poll_fn(|cx| Pin::new(&mut *body).poll_next(cx))
            .await
            .map(|r| r.unwrap())
    }

    #[tokio::test]
    async fn everything_queued_goes_out_as_one_chunk_and_the_close_ends_the_body() {
        let (tx, mut body) = body();
        tx.try_send(Outgoing::Text(Arc::from("ab"))).unwrap();
        tx.try_send(Outgoing::Text(Arc::from("cde"))).unwrap();
        tx.try_send(Outgoing::Ping).unwrap();
        let chunk = next(&mut body).await.unwrap();
        assert_eq!(&chunk[..], b"\x81\x02ab\x81\x03cde\x89\x00");
        tx.close(CloseReason::new(CloseCode::Normal, "bye"));
        let chunk = next(&mut body).await.unwrap();
        assert_eq!(chunk[0], 0x88, "a close frame");
        assert_eq!(&chunk[2..4], &1000u16.to_be_bytes());
        assert!(next(&mut body).await.is_none());
    }

    #[tokio::test]
    async fn a_long_close_reason_is_cut_to_a_control_frame_at_a_character_boundary() {
        let reason = CloseReason::new(CloseCode::TooSlow, "é".repeat(200));
        let ws = ws_close_reason(&reason);
        let text = ws.description.unwrap();
        assert!(
            text.len() <= MAX_CLOSE_REASON && text.len() > 100,
            "{}",
            text.len()
        );
    }

    #[tokio::test]
    async fn the_body_ends_when_every_sender_is_gone() {
        let (tx, mut body) = body();
        tx.try_send(Outgoing::Text(Arc::from("x"))).unwrap();
        drop(tx);
        assert!(next(&mut body).await.is_some());
        assert!(next(&mut body).await.is_none());
    }

    #[tokio::test]
    async fn after_the_grace_period_the_socket_is_dropped_without_the_rest() {
        let (tx, rx) = outbox(OutboxLimits {
            messages: 16,
            bytes: 1 << 20,
        });
        let mut body = SocketBody::new(rx, Duration::ZERO, BoxBody::new(()));
        tx.try_send(Outgoing::Text(Arc::from("x"))).unwrap();
        tx.close(CloseReason::new(CloseCode::Normal, "bye"));
        std::thread::sleep(Duration::from_millis(2));
        assert!(next(&mut body).await.is_none());
    }
}
