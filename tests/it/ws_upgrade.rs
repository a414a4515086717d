//! The server as src/http/server.rs puts it together: the WebSocket upgrade, which bypasses the
//! actix-web app (src/http/ws.rs), with the checks a route would make (path, origin, handshake,
//! query) and the app's errors, the bytes a client sends along with its upgrade request, and
//! what `HttpServer` did for plain connections at a graceful stop.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{Options, Server, TIMEOUT};
use crate::live::server_with_doc;

const KEY_HEADERS: &str =
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

/// Sends `GET {target}` with `headers` (each ending in CRLF) and `then` right behind it; the
/// answer's head, its body when the server closes after it, and the socket.
async fn request(
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
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = tokio::time::timeout(TIMEOUT, tcp.read(&mut chunk))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(
            n > 0,
            "closed before an answer: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&got[..head_end]).into_owned();
    let mut body = got[head_end..].to_vec();
    if !head.starts_with("HTTP/1.1 101") {
        // A refusal closes the connection after its body.
        tokio::time::timeout(TIMEOUT, tcp.read_to_end(&mut body))
            .await
            .expect("the refusal ends the connection")
            .unwrap();
    }
    (head, String::from_utf8_lossy(&body).into_owned(), tcp)
}

fn status(head: &str) -> u16 {
    head[9..12].parse().unwrap()
}

fn error_code(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["code"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_upgrade_from_another_origin_is_refused_and_same_or_listed_origins_open() {
    let server = Server::start_with(Options {
        extra_args: vec!["--cors-origins".into(), "https://app.example.com".into()],
        ..Default::default()
    })
    .await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let cases = [
        (Some("https://evil.example.net".to_string()), 403),
        (Some(format!("http://{addr}")), 101),
        (Some("https://app.example.com".to_string()), 101),
        (None, 101),
    ];
    for (origin, expected) in cases {
        let origin_header = origin
            .as_ref()
            .map(|o| format!("Origin: {o}\r\n"))
            .unwrap_or_default();
        let (head, body, _) = request(
            &server,
            "/api/client/ws",
            &format!("{KEY_HEADERS}{origin_header}"),
            b"",
        )
        .await;
        assert_eq!(status(&head), expected, "{origin:?}: {head}{body}");
        if expected == 403 {
            assert_eq!(error_code(&body), "origin_not_allowed", "{body}");
            assert!(body.contains("--cors-origins"), "{body}");
        }
    }
}

#[tokio::test]
async fn upgrades_that_cannot_open_a_session_get_the_apps_errors() {
    let server = Server::start().await;
    let cases = [
        // Another path: no WebSocket there.
        ("/api/documents", KEY_HEADERS.to_string(), 404, "not_found"),
        // The right path without a key: not a valid handshake.
        (
            "/api/client/ws",
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n".into(),
            400,
            "invalid_request",
        ),
        // A query the upgrade cannot read.
        (
            "/api/client/ws?document_id=a&document_id=b",
            KEY_HEADERS.to_string(),
            400,
            "invalid_request",
        ),
    ];
    for (target, headers, expected, code) in cases {
        let (head, body, _) = request(&server, target, &headers, b"").await;
        assert_eq!(status(&head), expected, "{target}: {head}{body}");
        assert_eq!(error_code(&body), code, "{target}: {body}");
        assert!(
            head.to_ascii_lowercase().contains("connection: close"),
            "{head}"
        );
    }
    // Without `Upgrade: websocket` the request reaches the app, which refuses it alike.
    let res = reqwest::get(format!("{}/api/client/ws", server.base))
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body = res.text().await.unwrap();
    assert!(body.contains("not a WebSocket upgrade"), "{body}");
    // The server still serves sessions after all that.
    crate::common::ws::Ws::open(&server).await;
}

/// A masked text frame, as a client sends it.
fn text_frame(text: &str) -> Vec<u8> {
    let mask = [7u8, 1, 9, 3];
    let mut out = vec![0x81];
    let len = text.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

#[tokio::test]
async fn a_hello_sent_along_with_the_upgrade_request_is_answered() {
    let server = server_with_doc(Options::default()).await;
    let token = server.token("doc", "u", &["all"]).await;
    let hello = text_frame(&json!({"type": "hello", "token": token}).to_string());
    let (head, mut seen, mut tcp) = request(&server, "/api/client/ws", KEY_HEADERS, &hello).await;
    assert_eq!(status(&head), 101, "{head}");
    let mut chunk = [0u8; 4096];
    while !seen.contains("\"welcome\"") {
        let n = tokio::time::timeout(TIMEOUT, tcp.read(&mut chunk))
            .await
            .expect("a welcome in time")
            .unwrap();
        assert!(n > 0, "closed before the welcome: {seen}");
        seen.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
}

#[tokio::test]
async fn a_graceful_stop_closes_idle_keep_alive_connections_at_once() {
    let server = Server::start().await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut tcp = TcpStream::connect(&addr).await.expect("connect");
    tcp.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut first = [0u8; 12];
    tcp.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    // The connection is now idle and kept alive for 5 s. The stop must close it when it begins,
    // not wait for the keep-alive to run out.
    let stopped = std::thread::spawn(move || server.stop());
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(4), tcp.read_to_end(&mut rest))
        .await
        .expect("the idle connection is closed before its keep-alive would have closed it")
        .unwrap();
    assert!(
        stopped.join().unwrap().success(),
        "the server exits cleanly"
    );
}
