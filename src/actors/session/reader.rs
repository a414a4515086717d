//! The session's reading side of its connection, once the WebSocket handshake is done: a
//! [`SocketReader`] turns the client's bytes into whole messages.
//!
//! The connection is taken out of actix-http at the upgrade (`http::ws`), so the reader and the
//! writer (`writer`) own the only buffers it has, and an idle session holds none: the reader
//! reads into a buffer on the stack and keeps bytes only while a frame is incomplete. (Inside
//! actix-http's dispatcher every connection kept two 8 KiB buffers for its whole life, more than
//! half of an idle session's memory.)
//!
//! Limits: a frame whose header declares more than `max_frame_bytes` is refused from its header,
//! before any of its payload is buffered; a message of continuation frames is refused as soon
//! as it passes the same limit. So the reader holds at most one frame, one message being
//! reassembled, and one read's worth of bytes.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_http::ws::{OpCode, Parser};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::Stream;
use tokio::io::{AsyncRead, ReadBuf};

/// Bytes read from the socket at a time (on the stack: an idle session keeps none).
const READ_CHUNK: usize = 8 * 1024;

/// A whole message from the client (continuations reassembled).
#[derive(Debug, PartialEq)]
pub enum Incoming {
    Text(ByteString),
    Binary,
    Ping(Bytes),
    Pong,
    Close,
}

/// Why the client's bytes are not a valid WebSocket stream; the session closes with
/// `protocol_error` and this text.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("a frame declares {declared} bytes; frames are limited to {limit} bytes")]
    TooLarge { declared: u64, limit: usize },
    #[error("a message of continuation frames exceeds {limit} bytes")]
    MessageTooLarge { limit: usize },
    #[error("a continuation frame without a message to continue")]
    StrayContinuation,
    #[error("a new message began before the previous one was finished")]
    Interleaved,
    #[error("control frames may not be fragmented")]
    FragmentedControl,
    #[error("text frames must be UTF-8")]
    NotUtf8,
    #[error("{0}")]
    Protocol(#[from] actix_http::ws::ProtocolError),
}

/// The payload length a frame's header declares, once enough of the header has arrived
/// (RFC 6455 §5.2).
fn declared_length(buf: &[u8]) -> Option<u64> {
    match buf.get(1)? & 0x7f {
        126 => buf
            .get(2..4)
            .map(|b| u64::from(u16::from_be_bytes([b[0], b[1]]))),
        127 => buf
            .get(2..10)
            .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes"))),
        n => Some(u64::from(n)),
    }
}

/// The client's messages, read from the socket. See the module documentation.
pub struct SocketReader<R> {
    io: R,
    limit: usize,
    /// Bytes read but not yet parsed: at most one incomplete frame, and empty (with no
    /// allocation) between messages.
    pending: BytesMut,
    /// A message being reassembled from continuation frames: its opcode and bytes so far.
    partial: Option<(OpCode, BytesMut)>,
    /// The stream has ended (end of file, a read error, or a refused frame).
    ended: bool,
}

impl<R> SocketReader<R> {
    /// Reads messages of at most `limit` bytes from `io`; `early` holds bytes that arrived
    /// with the handshake.
    pub fn new(io: R, early: BytesMut, limit: usize) -> SocketReader<R> {
        SocketReader {
            io,
            limit,
            pending: early,
            partial: None,
            ended: false,
        }
    }

    /// The next whole message in `pending`, if one is there.
    fn parse(&mut self) -> Result<Option<Incoming>, FrameError> {
        loop {
            if let Some(declared) = declared_length(&self.pending) {
                if declared > self.limit as u64 {
                    return Err(FrameError::TooLarge {
                        declared,
                        limit: self.limit,
                    });
                }
            }
            let Some((fin, opcode, payload)) = Parser::parse(&mut self.pending, true, self.limit)?
            else {
                return Ok(None);
            };
            let payload = payload.unwrap_or_default();
            match opcode {
                OpCode::Text | OpCode::Binary if self.partial.is_some() => {
                    return Err(FrameError::Interleaved)
                }
                OpCode::Text | OpCode::Binary if !fin => self.partial = Some((opcode, payload)),
                OpCode::Text | OpCode::Binary => {
                    return message(opcode, payload.freeze()).map(Some)
                }
                OpCode::Continue => {
                    let Some((_, bytes)) = self.partial.as_mut() else {
                        return Err(FrameError::StrayContinuation);
                    };
                    if bytes.len() + payload.len() > self.limit {
                        return Err(FrameError::MessageTooLarge { limit: self.limit });
                    }
                    bytes.extend_from_slice(&payload);
                    if fin {
                        let (opcode, bytes) = self.partial.take().expect("checked above");
                        return message(opcode, bytes.freeze()).map(Some);
                    }
                }
                _ if !fin => return Err(FrameError::FragmentedControl),
                OpCode::Ping => return Ok(Some(Incoming::Ping(payload.freeze()))),
                OpCode::Pong => return Ok(Some(Incoming::Pong)),
                OpCode::Close => return Ok(Some(Incoming::Close)),
                OpCode::Bad => {
                    return Err(actix_http::ws::ProtocolError::InvalidOpcode(0).into());
                }
            }
        }
    }
}

/// A finished data message.
fn message(opcode: OpCode, payload: Bytes) -> Result<Incoming, FrameError> {
    if opcode == OpCode::Binary {
        return Ok(Incoming::Binary);
    }
    ByteString::try_from(payload)
        .map(Incoming::Text)
        .map_err(|_| FrameError::NotUtf8)
}

impl<R: AsyncRead + Unpin> Stream for SocketReader<R> {
    type Item = Result<Incoming, FrameError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            match this.parse() {
                Ok(Some(msg)) => return Poll::Ready(Some(Ok(msg))),
                Ok(None) => {}
                Err(e) => {
                    this.ended = true;
                    this.pending = BytesMut::new();
                    this.partial = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            let mut chunk = [0u8; READ_CHUNK];
            let mut buf = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.io).poll_read(cx, &mut buf) {
                // End of file, or the connection failed: either way the client is gone.
                Poll::Ready(Ok(())) if buf.filled().is_empty() => this.ended = true,
                Poll::Ready(Ok(())) => this.pending.extend_from_slice(buf.filled()),
                Poll::Ready(Err(e)) => {
                    tracing::debug!(error = %e, "reading a session's socket failed");
                    this.ended = true;
                }
                Poll::Pending => {
                    // Between messages, let the buffer go: even with no capacity left, an empty
                    // `pending` split off a frame still holds that frame's whole allocation.
                    if this.pending.is_empty() {
                        this.pending = BytesMut::new();
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use futures_util::StreamExt;
    use proptest::prelude::*;

    use super::*;
    /// Serves `chunks` one per read, counting the bytes handed out; then the end of the stream,
    /// or nothing yet (`Pending`) when `open`.
    struct Chunks {
        chunks: std::collections::VecDeque<Vec<u8>>,
        served: usize,
        open: bool,
    }

    impl AsyncRead for Chunks {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if let Some(mut chunk) = self.chunks.pop_front() {
                let n = chunk.len().min(buf.remaining());
                buf.put_slice(&chunk[..n]);
                if n < chunk.len() {
                    self.chunks.push_front(chunk.split_off(n));
                }
                self.served += n;
            } else if self.open {
                return Poll::Pending;
            }
            Poll::Ready(Ok(()))
        }
    }

    fn reader(bytes: &[u8], chunk: usize, limit: usize) -> SocketReader<Chunks> {
        let chunks = bytes.chunks(chunk.max(1)).map(<[u8]>::to_vec).collect();
        SocketReader::new(
            Chunks {
                chunks,
                served: 0,
                open: false,
            },
            BytesMut::new(),
            limit,
        )
    }

    const MASK: [u8; 4] = [1, 2, 3, 4];

    fn header(first: u8, len: u64, masked: bool) -> Vec<u8> {
        let mask_bit = if masked { 0x80 } else { 0 };
        let mut out = vec![first];
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
            out.extend_from_slice(&MASK);
        }
        out
    }

    /// A masked client frame: `fin`, `opcode`, `payload`.
    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let first = if fin { 0x80 } else { 0 } | opcode;
        let mut out = header(first, payload.len() as u64, true);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
        out
    }

    async fn all(mut r: SocketReader<Chunks>) -> (Vec<Result<Incoming, String>>, usize) {
        let mut out = Vec::new();
        while let Some(item) = r.next().await {
            out.push(item.map_err(|e| e.to_string()));
        }
        (out, r.io.served)
    }

    fn text(s: &str) -> Result<Incoming, String> {
        Ok(Incoming::Text(ByteString::from(s)))
    }

    #[tokio::test]
    async fn messages_arrive_whole_in_any_chunking_with_continuations_reassembled() {
        let mut bytes = frame(true, 0x1, b"hello");
        bytes.extend(frame(false, 0x1, b"con"));
        bytes.extend(frame(true, 0x9, b"p"));
        bytes.extend(frame(false, 0x0, b"tin"));
        bytes.extend(frame(true, 0x0, b"ued"));
        bytes.extend(frame(true, 0x1, &vec![b'x'; 70_000]));
        bytes.extend(frame(true, 0x2, b"\x00\x01"));
        bytes.extend(frame(true, 0xA, b""));
        bytes.extend(frame(true, 0x8, &1000u16.to_be_bytes()));
        let expected = vec![
            text("hello"),
            Ok(Incoming::Ping(Bytes::from_static(b"p"))),
            text("continued"),
            text(&"x".repeat(70_000)),
            Ok(Incoming::Binary),
            Ok(Incoming::Pong),
            Ok(Incoming::Close),
        ];
        for chunk in [1, 2, 3, 7, 13, 1000, 1 << 20] {
            let (got, _) = all(reader(&bytes, chunk, 70_000)).await;
            assert_eq!(got, expected, "chunk {chunk}");
        }
    }

    #[tokio::test]
    async fn a_header_over_the_limit_is_refused_before_its_payload_is_read() {
        for declared in [1025, 70_000, 1 << 62, u64::MAX] {
            for chunk in [1, 5, 64 * 1024] {
                let mut bytes = frame(true, 0x1, b"first");
                bytes.extend(header(0x81, declared, true));
                bytes.extend(vec![b'x'; 200_000]);
                let (got, served) = all(reader(&bytes, chunk, 1024)).await;
                assert_eq!(got[0], text("first"));
                let err = got[1].as_ref().unwrap_err();
                assert!(err.contains("frames are limited to 1024 bytes"), "{err}");
                assert_eq!(got.len(), 2, "nothing after the refusal");
                assert!(
                    served < 11 + 14 + chunk.max(READ_CHUNK),
                    "{declared}: {served} read"
                );
            }
        }
    }

    #[tokio::test]
    async fn broken_streams_are_refused_with_a_reason() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (frame(true, 0x0, b"x"), "without a message to continue"),
            (
                [frame(false, 0x1, b"a"), frame(true, 0x1, b"b")].concat(),
                "before the previous one was finished",
            ),
            (
                [
                    frame(false, 0x1, &[b'a'; 600]),
                    frame(true, 0x0, &[b'b'; 600]),
                ]
                .concat(),
                "continuation frames exceeds 1024 bytes",
            ),
            (
                frame(false, 0x9, b"p"),
                "control frames may not be fragmented",
            ),
            (frame(true, 0x1, &[0xff, 0xfe]), "UTF-8"),
            ([header(0x81, 1, false), b"x".to_vec()].concat(), "unmasked"),
        ];
        for (bytes, needle) in cases {
            let (got, _) = all(reader(&bytes, 3, 1024)).await;
            let err = got.last().unwrap().as_ref().unwrap_err();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    #[tokio::test]
    async fn bytes_that_came_with_the_handshake_are_read_first() {
        let early = BytesMut::from(&frame(true, 0x1, b"early")[..]);
        let chunks = [frame(true, 0x1, b"later")].into_iter().collect();
        let r = SocketReader::new(
            Chunks {
                chunks,
                served: 0,
                open: false,
            },
            early,
            1024,
        );
        let (got, _) = all(r).await;
        assert_eq!(got, vec![text("early"), text("later")]);
    }

    #[tokio::test]
    async fn a_reader_waiting_for_the_next_message_holds_no_part_of_the_last_one() {
        for len in [5, 600, 20_000] {
            let bytes = frame(true, 0x1, &vec![b'a'; len]);
            let chunks = [bytes].into_iter().collect();
            let chunks = Chunks {
                chunks,
                served: 0,
                open: true,
            };
            let mut r = SocketReader::new(chunks, BytesMut::new(), 1 << 20);
            let Some(Ok(Incoming::Text(text))) = r.next().await else {
                panic!("a text message");
            };
            let waiting = std::future::poll_fn(|cx| Poll::Ready(r.poll_next_unpin(cx))).await;
            assert!(waiting.is_pending());
            assert_eq!(r.pending.capacity(), 0);
            assert!(
                text.into_bytes().is_unique(),
                "{len}: the reader still shares the message's buffer"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Any bytes at all: the reader ends (with or without an error), never panics, and
        /// never holds more than one frame and one read.
        #[test]
        fn arbitrary_bytes_end_the_stream_without_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..4096),
            chunk in 1usize..64,
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {
                let mut r = reader(&bytes, chunk, 256);
                while let Some(item) = r.next().await {
                    prop_assert!(r.pending.capacity() <= 256 + 14 + READ_CHUNK + 64);
                    if item.is_err() {
                        prop_assert!(r.next().await.is_none());
                        break;
                    }
                }
                Ok(())
            })?;
        }

        /// Valid messages, split into frames and chunks at random, come out as sent.
        #[test]
        fn valid_messages_survive_any_split(
            messages in proptest::collection::vec("[a-zé]{0,300}", 1..8),
            parts in 1usize..5,
            chunk in 1usize..200,
        ) {
            let mut bytes = Vec::new();
            for m in &messages {
                let raw = m.as_bytes();
                let step = raw.len().div_ceil(parts).max(1);
                let pieces: Vec<&[u8]> = if raw.is_empty() { vec![raw] } else { raw.chunks(step).collect() };
                for (i, piece) in pieces.iter().enumerate() {
                    let opcode = if i == 0 { 0x1 } else { 0x0 };
                    bytes.extend(frame(i + 1 == pieces.len(), opcode, piece));
                }
            }
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let (got, _) = rt.block_on(all(reader(&bytes, chunk, 4096)));
            let expected: Vec<_> = messages.iter().map(|m| text(m)).collect();
            prop_assert_eq!(got, expected);
        }
    }
}
