//! WebSocket limits seen from a hostile or broken client: frame sizes declared in headers, slow
//! readers, token expiry, and the close codes each of them ends with.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::ws::{create, Ws};
use crate::common::{Options, Server, TIMEOUT};
use crate::live::server_with_doc;

/// The server's resident memory in KiB (`VmRSS` of the child process).
fn rss_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
        .expect("read the server's /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc status")
}

/// A WebSocket opened by hand (RFC 6455 handshake over a plain `TcpStream`), so a test can
/// write frames no library would produce.
async fn raw_socket(server: &Server) -> TcpStream {
    let addr = server.base.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET /api/client/ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(TIMEOUT, tcp.read(&mut byte))
            .await
            .expect("handshake answer in time")
            .unwrap();
        assert_eq!(n, 1, "connection closed during the handshake");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    tcp
}

const MASK: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

/// The header of a masked client frame (FIN set) declaring `len` payload bytes.
fn frame_header(opcode: u8, len: u64) -> Vec<u8> {
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
fn text_frame(text: &str) -> Vec<u8> {
    let mut out = frame_header(0x1, text.len() as u64);
    out.extend(text.bytes().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

/// Reads server frames (unmasked) until a close frame; returns its code, or `None` if the
/// connection ended without one.
async fn read_close_code(tcp: &mut TcpStream) -> Option<u16> {
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

/// Declares a 2^62-byte text frame, then streams up to `total` bytes of it in 64 KiB chunks
/// (with a pause between chunks when `slow`), stopping when the server stops reading.
async fn stream_huge_frame(mut tcp: TcpStream, total: usize, slow: bool) -> TcpStream {
    tcp.write_all(&frame_header(0x1, 1 << 62)).await.unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0;
    while sent < total {
        let write = tokio::time::timeout(Duration::from_secs(2), tcp.write_all(&chunk)).await;
        match write {
            Ok(Ok(())) => sent += chunk.len(),
            // Refused (reset), or the server stopped reading: either way, not buffered.
            _ => break,
        }
        if slow {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    tcp
}

/// Samples the server's RSS while `work` runs; returns the growth over the baseline in KiB.
async fn rss_growth_during<F: std::future::Future>(server: &Server, work: F) -> u64 {
    let baseline = rss_kib(server);
    let mut peak = baseline;
    tokio::pin!(work);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tokio::select! {
            _ = &mut work => break,
            _ = tick.tick() => peak = peak.max(rss_kib(server)),
        }
    }
    peak = peak.max(rss_kib(server));
    peak.saturating_sub(baseline)
}

#[tokio::test]
async fn a_frame_declaring_a_huge_length_is_refused_before_hello_without_buffering() {
    let server = Server::start().await;
    // Warm up: one ordinary socket, so the baseline includes a session's usual allocations.
    let mut warm = Ws::open(&server).await;
    warm.send(json!({"type": "ping"})).await;
    drop(warm);

    let growth = rss_growth_during(&server, async {
        let sockets = futures_util::future::join_all((0..100).map(|i| {
            let server = &server;
            async move {
                let tcp = raw_socket(server).await;
                stream_huge_frame(tcp, 4 << 20, i % 2 == 0).await
            }
        }))
        .await;
        drop(sockets);
    })
    .await;
    assert!(
        growth < 16 * 1024,
        "the server grew by {} MiB while 100 sockets declared 2^62-byte frames",
        growth / 1024
    );

    // The refusal is a close frame with the protocol's code, before hello…
    let mut tcp = raw_socket(&server).await;
    tcp.write_all(&frame_header(0x1, 1 << 62)).await.unwrap();
    assert_eq!(read_close_code(&mut tcp).await, Some(4000));
    // …and for a declared length just over the limit.
    let mut tcp = raw_socket(&server).await;
    tcp.write_all(&frame_header(0x1, 1024 * 1024 + 1))
        .await
        .unwrap();
    assert_eq!(read_close_code(&mut tcp).await, Some(4000));
}

#[tokio::test]
async fn a_frame_declaring_a_huge_length_is_refused_after_hello_without_buffering() {
    let server = server_with_doc(Options::default()).await;
    let token = server.token("doc", "u", &["all"]).await;
    let hello = text_frame(&json!({"type": "hello", "token": token}).to_string());
    let growth = rss_growth_during(&server, async {
        let sockets = futures_util::future::join_all((0..100).map(|i| {
            let (server, hello) = (&server, &hello);
            async move {
                let mut tcp = raw_socket(server).await;
                tcp.write_all(hello).await.unwrap();
                stream_huge_frame(tcp, 4 << 20, i % 2 == 0).await
            }
        }))
        .await;
        drop(sockets);
    })
    .await;
    assert!(
        growth < 16 * 1024,
        "the server grew by {} MiB while 100 joined sockets declared 2^62-byte frames",
        growth / 1024
    );

    let mut tcp = raw_socket(&server).await;
    tcp.write_all(&hello).await.unwrap();
    tcp.write_all(&frame_header(0x1, 1 << 62)).await.unwrap();
    assert_eq!(read_close_code(&mut tcp).await, Some(4000));

    // A frame within the limit still works after all that.
    let mut ws = Ws::join(&server, &token, None).await;
    assert_eq!(ws.change(create("c1", "r1", 0)).await["type"], "ack");
}
