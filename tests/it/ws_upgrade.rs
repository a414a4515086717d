//! The server as src/http/server.rs puts it together: the WebSocket upgrade, which bypasses the
//! actix-web app (src/http/ws.rs), with the checks a route would make (path, origin, handshake,
//! query) and the app's errors, the bytes a client sends along with its upgrade request, and
//! what `HttpServer` did for plain connections at a graceful stop.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::raw_ws::{read_until, request, text_frame, KEY_HEADERS};
use crate::common::{Options, Server};
use crate::live::server_with_doc;

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

#[tokio::test]
async fn a_hello_sent_along_with_the_upgrade_request_is_answered() {
    let server = server_with_doc(Options::default()).await;
    let token = server.token("doc", "u", &["all"]).await;
    let hello = text_frame(&json!({"type": "hello", "token": token}).to_string());
    let (head, _, mut tcp) = request(&server, "/api/client/ws", KEY_HEADERS, &hello).await;
    assert_eq!(status(&head), 101, "{head}");
    read_until(&mut tcp, b"\"welcome\"").await;
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
