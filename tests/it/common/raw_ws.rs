//! A WebSocket by hand: the RFC 6455 handshake and frames over a plain `TcpStream`, so a test
//! can send requests and frames no library would produce and read exactly what the server
//! answers.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Server, TIMEOUT};

/// The headers of a valid WebSocket upgrade request (RFC 6455 §4.1), each ending in CRLF.
pub const KEY_HEADERS: &str =
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

/// Sends `GET {target}` with `headers` (each ending in CRLF) and `then` right behind it; the
/// answer's head, its body when the server closes after it (a refusal), and the socket, of
/// which nothing past the head has been read (after a `101`, the server's frames).
pub async fn request(
    server: &Server,
    target: &str,
    headers: &str,
    then: &[u8],
) -> (String, String, TcpStream) {
    let addr = server.base.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let mut bytes = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n{headers}\r\n").into_bytes();
    bytes.extend_from_slice(then);
    tcp.write_all(&bytes).await.unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(TIMEOUT, tcp.read(&mut byte))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(
            n > 0,
            "closed before an answer: {}",
            String::from_utf8_lossy(&got)
        );
        got.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&got).into_owned();
    let mut body = Vec::new();
    if !head.starts_with("HTTP/1.1 101") {
        // A refusal closes the connection after its body.
        tokio::time::timeout(TIMEOUT, tcp.read_to_end(&mut body))
            .await
            .expect("the refusal ends the connection")
            .unwrap();
    }
    (head, String::from_utf8_lossy(&body).into_owned(), tcp)
}

/// A WebSocket opened by hand (RFC 6455 handshake over a plain `TcpStream`), so a test can
/// write frames no library would produce.
pub async fn raw_socket(server: &Server) -> TcpStream {
    let (head, _, tcp) = request(server, "/api/client/ws", KEY_HEADERS, b"").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp
}

const MASK: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

/// The header of a masked client frame (FIN set) declaring `len` payload bytes.
pub fn frame_header(opcode: u8, len: u64) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= u16::MAX as u64 {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(&MASK);
    out
}

/// A complete masked text frame.
pub fn text_frame(text: &str) -> Vec<u8> {
    let mut out = frame_header(0x1, text.len() as u64);
    out.extend(text.bytes().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

/// Reads server frames (unmasked) until a close frame; returns its code, or `None` if the
/// connection ended without one.
pub async fn read_close_code(tcp: &mut TcpStream) -> Option<u16> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        // Parse whole frames from the front of `buf`.
        loop {
            if buf.len() < 2 {
                break;
            }
            let (len, at) = match buf[1] & 0x7f {
                126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
                127 if buf.len() >= 10 => (
                    u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize,
                    10,
                ),
                126 | 127 => break,
                n => (n as usize, 2),
            };
            if buf.len() < at + len {
                break;
            }
            if buf[0] & 0x0f == 0x8 {
                return (len >= 2).then(|| u16::from_be_bytes([buf[at], buf[at + 1]]));
            }
            buf.drain(..at + len);
        }
        match tokio::time::timeout(TIMEOUT, tcp.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            Ok(_) => return None,
            Err(_) => panic!("no close frame in time"),
        }
    }
}

/// Reads from `tcp` until `needle` has been seen.
pub async fn read_until(tcp: &mut TcpStream, needle: &[u8]) {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    while !seen.windows(needle.len()).any(|w| w == needle) {
        let n = tokio::time::timeout(TIMEOUT, tcp.read(&mut chunk))
            .await
            .expect("in time")
            .unwrap();
        assert!(
            n > 0,
            "closed while waiting for {}",
            String::from_utf8_lossy(needle)
        );
        seen.extend_from_slice(&chunk[..n]);
    }
}
