//! The session's writing side of its connection: a [`SocketWriter`] drains the session's outbox
//! into the socket. It frames everything queued at a wake-up into one buffer, hands it to the
//! socket in one `write`, and lets the buffer go, so an idle session holds none.
//!
//! After the close frame it ends its half of the connection and lingers: it reads and discards
//! what the client still sends until the client closes too, for at most [`LINGER`]. Closing a
//! socket with unread bytes in it makes the kernel reset the connection, and a client that was
//! still sending (one being cut off for flooding, say) would then lose the close frame and its
//! code. (actix-http's dispatcher lingered the same way.)

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_http::ws::{CloseCode as WsCloseCode, CloseReason as WsCloseReason, OpCode, Parser};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::actors::outbox::{OutboxReceiver, Outgoing};
use crate::wire::common::CloseReason;

/// How long the writer waits, after the close frame, for the client to close its side (as
/// actix-http's default `client_disconnect_timeout`).
pub const LINGER: Duration = Duration::from_secs(1);

/// Reads of discarded bytes per poll while lingering, before yielding to other tasks.
const LINGER_READS_PER_POLL: usize = 16;

/// Most bytes framed into one write.
const CHUNK_BYTES: usize = 64 * 1024;

/// RFC 6455 §5.5: a control frame carries at most 125 bytes; a close's reason follows a 2-byte
/// code.
const MAX_CONTROL_PAYLOAD: usize = 125;
const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// Drains a session's outbox into the socket: the future an upgraded connection runs until the
/// session's close frame is written, every sender is gone, the client stops taking bytes for
/// longer than the close grace after a close was asked for, or the socket fails.
pub struct SocketWriter<W> {
    rx: OutboxReceiver,
    io: W,
    grace: Duration,
    /// Framed bytes, of which `written` have gone to the socket; empty (no allocation) when
    /// everything is written.
    buf: BytesMut,
    written: usize,
    /// The close frame is framed, or every sender is gone: nothing follows `buf`.
    ended: bool,
    /// When a close was asked for: the moment its grace runs out.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Once our half is shut: when lingering for the client's close ends.
    lingering: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<W> SocketWriter<W> {
    pub fn new(rx: OutboxReceiver, io: W, grace: Duration) -> SocketWriter<W> {
        SocketWriter {
            rx,
            io,
            grace,
            buf: BytesMut::new(),
            written: 0,
            ended: false,
            deadline: None,
            lingering: None,
        }
    }
}

impl<W: AsyncRead + Unpin> SocketWriter<W> {
    /// Reads and discards until the client closes, the socket fails or [`LINGER`] is over.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(until) = self.lingering.as_mut() else {
            return Poll::Ready(());
        };
        if until.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        for _ in 0..LINGER_READS_PER_POLL {
            let mut scratch = [0u8; 4096];
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(()),
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<W: AsyncRead + AsyncWrite + Unpin> Future for SocketWriter<W> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.lingering.is_some() {
            return this.poll_linger(cx);
        }
        // A close asked for longer than `grace` ago: the client did not take what precedes the
        // close frame in time; the socket is dropped, whatever is left unwritten.
        if let Some(at) = this.rx.poll_close_requested(cx) {
            let grace = this.grace;
            let deadline = this
                .deadline
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until((at + grace).into())));
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        loop {
            while this.written < this.buf.len() {
                match Pin::new(&mut this.io).poll_write(cx, &this.buf[this.written..]) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Ready(Ok(n)) => this.written += n,
                    Poll::Pending => return Poll::Pending,
                }
            }
            if this.ended {
                // The close frame is out: end our half of the connection, then linger.
                if Pin::new(&mut this.io).poll_shutdown(cx).is_pending() {
                    return Poll::Pending;
                }
                this.lingering = Some(Box::pin(tokio::time::sleep(LINGER)));
                return this.poll_linger(cx);
            }
            // Everything is written: let the buffer go, so an idle socket holds none.
            this.buf = BytesMut::new();
            this.written = 0;
            while this.buf.len() < CHUNK_BYTES {
                match this.rx.poll_recv(cx) {
                    Poll::Ready(Some(msg)) => {
                        if frame(&mut this.buf, msg) {
                            this.ended = true;
                            break;
                        }
                    }
                    // Every sender is gone (the session ended without a close).
                    Poll::Ready(None) => {
                        this.ended = true;
                        break;
                    }
                    Poll::Pending => break,
                }
            }
            if this.buf.is_empty() && !this.ended {
                return Poll::Pending;
            }
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
fn ws_close_reason(reason: &CloseReason) -> WsCloseReason {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::actors::outbox::{outbox, Outbox, OutboxLimits};
    use crate::wire::common::CloseCode;

    fn writer_pair(
        grace: Duration,
        capacity: usize,
    ) -> (
        Outbox,
        SocketWriter<tokio::io::DuplexStream>,
        tokio::io::DuplexStream,
    ) {
        let (tx, rx) = outbox(OutboxLimits {
            messages: 16,
            bytes: 1 << 20,
        });
        let (ours, theirs) = tokio::io::duplex(capacity);
        (tx, SocketWriter::new(rx, ours, grace), theirs)
    }

    #[tokio::test]
    async fn everything_queued_goes_out_in_one_write_and_the_close_ends_the_writer() {
        let (tx, writer, mut client) = writer_pair(Duration::from_secs(10), 1 << 16);
        tx.try_send(Outgoing::Text(Arc::from("ab"))).unwrap();
        tx.try_send(Outgoing::Text(Arc::from("cde"))).unwrap();
        tx.try_send(Outgoing::Ping).unwrap();
        tx.close(CloseReason::new(CloseCode::Normal, "bye"));
        let writer = tokio::spawn(writer);
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        drop(client);
        writer.await.unwrap();
        assert_eq!(&got[..11], b"\x81\x02ab\x81\x03cde\x89\x00");
        assert_eq!(got[11], 0x88, "a close frame");
        assert_eq!(&got[13..15], &1000u16.to_be_bytes());
    }

    #[tokio::test]
    async fn an_idle_writer_holds_no_buffer() {
        let (tx, mut writer, mut client) = writer_pair(Duration::from_secs(10), 1 << 16);
        tx.try_send(Outgoing::Text(Arc::from("x".repeat(10_000))))
            .unwrap();
        let pending = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut writer).poll(cx))).await;
        assert!(pending.is_pending());
        assert_eq!(writer.buf.capacity(), 0);
        let mut head = [0u8; 4];
        client.read_exact(&mut head).await.unwrap();
        assert_eq!(head[0], 0x81);
    }

    #[tokio::test]
    async fn a_long_close_reason_is_cut_to_a_control_frame_at_a_character_boundary() {
        let reason = CloseReason::new(CloseCode::TooSlow, "é".repeat(200));
        let text = ws_close_reason(&reason).description.unwrap();
        assert!(
            text.len() <= MAX_CLOSE_REASON && text.len() > 100,
            "{}",
            text.len()
        );
    }

    #[tokio::test]
    async fn the_writer_ends_when_every_sender_is_gone() {
        let (tx, writer, mut client) = writer_pair(Duration::from_secs(10), 1 << 16);
        tx.try_send(Outgoing::Text(Arc::from("x"))).unwrap();
        drop(tx);
        let writer = tokio::spawn(writer);
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"\x81\x01x");
        drop(client);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn after_the_close_frame_the_writer_drains_a_client_still_sending_until_it_closes() {
        let (tx, writer, client) = writer_pair(Duration::from_secs(10), 1024);
        let (mut client_reads, mut client_writes) = tokio::io::split(client);
        tx.close(CloseReason::new(CloseCode::RateLimited, "flood"));
        let writer = tokio::spawn(writer);
        // The client floods on: more than the pipe holds, so only a writer that reads lets it on.
        let flood = tokio::spawn(async move {
            let junk = [0u8; 512];
            for _ in 0..64 {
                client_writes.write_all(&junk).await.unwrap();
            }
            client_writes
        });
        let mut got = Vec::new();
        client_reads.read_to_end(&mut got).await.unwrap();
        assert_eq!(got[0], 0x88, "the close frame arrives");
        let client_writes = tokio::time::timeout(Duration::from_secs(10), flood)
            .await
            .expect("the writer drains what the client sends after the close frame")
            .unwrap();
        assert!(
            !writer.is_finished(),
            "still draining while the client's side is open"
        );
        drop((client_reads, client_writes));
        writer.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_never_closes_is_let_go_after_the_linger() {
        let (tx, writer, _client) = writer_pair(Duration::from_secs(10), 1024);
        tx.close(CloseReason::new(CloseCode::Normal, "bye"));
        let started = tokio::time::Instant::now();
        writer.await;
        assert_eq!(started.elapsed(), LINGER);
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_dropped_when_the_close_grace_runs_out() {
        // The client reads nothing, and the pipe holds 16 bytes: the writer is stuck on the
        // first frame when the close is asked for.
        let (tx, writer, _client) = writer_pair(Duration::from_millis(50), 16);
        tx.try_send(Outgoing::Text(Arc::from("x".repeat(1000))))
            .unwrap();
        let writer = tokio::spawn(writer);
        tokio::task::yield_now().await;
        tx.close(CloseReason::new(CloseCode::TooSlow, "slow"));
        tokio::time::timeout(Duration::from_secs(5), writer)
            .await
            .expect("the writer gives up after the grace")
            .unwrap();
    }
}
