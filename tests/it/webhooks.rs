//! Webhooks against a real HTTP receiver in the test: signed deliveries that verify, in order
//! per document; a receiver that is down gets them once it is back, across a SIGKILL and a
//! restart of Quire, each event always under the same id; bad registrations are refused.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::common::backend::{on_both_backends, Backend};
use crate::common::ws::{create, Ws};
use crate::common::{expect_error, expect_json, pdf, Options, Server, TIMEOUT};

/// One request the receiver got.
#[derive(Debug)]
struct Delivery {
    headers: HashMap<String, String>,
    body: String,
}

impl Delivery {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A minimal HTTP/1.1 receiver: answers every request 200 and hands it to the test.
struct Receiver {
    url: String,
    rx: mpsc::UnboundedReceiver<Delivery>,
}

impl Receiver {
    async fn start(listener: TcpListener) -> Receiver {
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut read = BufReader::new(read);
                    loop {
                        let mut headers = HashMap::new();
                        let mut line = String::new();
                        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        loop {
                            line.clear();
                            read.read_line(&mut line).await.unwrap();
                            let Some((k, v)) = line.trim_end().split_once(':') else {
                                break;
                            };
                            headers.insert(k.to_ascii_lowercase(), v.trim().to_string());
                        }
                        let len: usize = headers["content-length"].parse().unwrap();
                        let mut body = vec![0; len];
                        read.read_exact(&mut body).await.unwrap();
                        let body = String::from_utf8(body).unwrap();
                        let _ = tx.send(Delivery { headers, body });
                        let ok = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                        if write.write_all(ok.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Receiver { url, rx }
    }

    async fn next(&mut self) -> Delivery {
        tokio::time::timeout(TIMEOUT, self.rx.recv())
            .await
            .expect("a delivery in time")
            .unwrap()
    }
}

/// Verifies a delivery's signature as a receiver would (Standard Webhooks).
fn verify(secret: &str, d: &Delivery) {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    let signed = format!(
        "{}.{}.{}",
        d.headers["webhook-id"], d.headers["webhook-timestamp"], d.body
    );
    mac.update(signed.as_bytes());
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(d.headers["webhook-signature"], expected);
}

async fn register(server: &Server, url: &str) -> Value {
    let res = server
        .backend(Method::POST, "/api/webhooks")
        .json(&json!({ "url": url }))
        .send()
        .await
        .unwrap();
    expect_json(res, StatusCode::CREATED).await
}

fn fast_retries() -> Vec<String> {
    vec!["--webhook-retry-base-ms".into(), "50".into()]
}

on_both_backends!(signed_deliveries_verify_and_arrive_in_order_per_document);

async fn signed_deliveries_verify_and_arrive_in_order_per_document(backend: Backend) {
    let mut options = backend.options();
    options.extra_args.extend(fast_retries());
    let server = Server::start_with(options).await;
    let mut receiver = Receiver::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).await;
    let endpoint = register(&server, &receiver.url).await;
    let secret = endpoint["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(endpoint["created_by"], "api_key:bootstrap");

    server.upload_ok(pdf::with_pages(2, "a"), "a").await;
    server.upload_ok(pdf::with_pages(2, "b"), "b").await;
    let mut wa = Ws::join(&server, &server.token("a", "alice", &["all"]).await, None).await;
    let mut wb = Ws::join(&server, &server.token("b", "bob", &["all"]).await, None).await;
    for i in 0..3 {
        assert_eq!(
            wa.change(create(&format!("a{i}"), &format!("ia{i}"), 0))
                .await["type"],
            "ack"
        );
        if i < 2 {
            assert_eq!(
                wb.change(create(&format!("b{i}"), &format!("ib{i}"), 1))
                    .await["type"],
                "ack"
            );
        }
    }

    let mut seen: HashMap<String, Vec<Value>> = HashMap::new();
    let mut ids = HashSet::new();
    for _ in 0..9 {
        let d = receiver.next().await;
        verify(secret, &d);
        assert!(
            ids.insert(d.headers["webhook-id"].clone()),
            "ids are unique"
        );
        let v = d.json();
        let doc = v["data"]["document_id"].as_str().unwrap().to_string();
        seen.entry(doc).or_default().push(v);
    }
    for (doc, user, changes) in [("a", "alice", 3), ("b", "bob", 2)] {
        let events = &seen[doc];
        assert_eq!(events[0]["type"], "document.created");
        // The session's open, before any change it made; who, never the token.
        let opened = &events[1];
        assert_eq!(opened["type"], "session.opened", "{opened}");
        assert_eq!(opened["data"]["user_id"], user);
        assert_eq!(opened["data"]["layer"], "");
        assert!(opened["data"]["session_id"]
            .as_str()
            .is_some_and(|s| s.starts_with('s')));
        assert_eq!(
            opened["data"].as_object().unwrap().len(),
            5,
            "document_id, session_id, user_id, user_name, layer: {opened}"
        );
        let seqs: Vec<(i64, i64)> = events[2..]
            .iter()
            .map(|e| {
                assert_eq!(e["type"], "records.changed");
                (
                    e["data"]["from_seq"].as_i64().unwrap(),
                    e["data"]["to_seq"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(seqs, (1..=changes).map(|s| (s, s)).collect::<Vec<_>>());
    }

    // The dispatcher records an attempt once the receiver has answered: the last one may land
    // a moment after its delivery arrived here.
    let id = endpoint["id"].as_str().unwrap();
    let attempts = tokio::time::timeout(crate::common::TIMEOUT, async {
        loop {
            let v = server
                .get_json(&format!("/api/webhooks/{id}/attempts"))
                .await;
            if v["attempts"].as_array().is_some_and(|a| a.len() >= 9) {
                break v;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("every attempt is recorded");
    let attempts = attempts["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 9);
    assert!(attempts
        .iter()
        .all(|a| a["delivered"] == true && a["status"] == 200));
    let list = server.get_json("/api/webhooks").await;
    assert!(
        list["webhooks"][0]["secret"].is_null(),
        "the secret is shown once"
    );
}

#[tokio::test]
async fn a_receiver_that_was_down_gets_everything_after_a_sigkill_and_restart_once_per_id() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let options = Options {
        extra_args: fast_retries(),
        data_dir: Some(data.clone()),
        ..Options::default()
    };
    // A port with nothing listening: the receiver is down.
    let reserved = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = reserved.local_addr().unwrap();
    drop(reserved);
    let server = Server::start_with(options.clone()).await;
    let endpoint = register(&server, &format!("http://{addr}/hook")).await;
    let (id, secret) = (
        endpoint["id"].as_str().unwrap().to_string(),
        endpoint["secret"].as_str().unwrap().to_string(),
    );
    server.upload_ok(pdf::with_pages(1, "down"), "doc").await;
    for i in 0..2 {
        let res = server
            .backend(Method::POST, "/api/documents/doc/changes")
            .json(&json!({"changes": [create(&format!("c{i}"), &format!("r{i}"), 0)]}))
            .send()
            .await
            .unwrap();
        expect_json(res, StatusCode::OK).await;
    }
    // Attempts fail and are recorded, with backoff.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let a = server
            .get_json(&format!("/api/webhooks/{id}/attempts"))
            .await;
        let failed = a["attempts"].as_array().unwrap();
        if failed.len() >= 3 {
            assert!(failed
                .iter()
                .all(|a| a["delivered"] == false && a["error"].is_string()));
            assert!(failed
                .iter()
                .all(|a| a["webhook_id"] == failed[0]["webhook_id"]));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed attempts recorded: {a}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(server); // SIGKILL

    let mut receiver = Receiver::start(TcpListener::bind(addr).await.unwrap()).await;
    let server = Server::start_with(options).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        let d = receiver.next().await;
        verify(&secret, &d);
        got.push((d.headers["webhook-id"].clone(), d.json()));
    }
    let kinds: Vec<&str> = got
        .iter()
        .map(|(_, v)| v["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["document.created", "records.changed", "records.changed"]
    );
    let ids: HashSet<&String> = got.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 3);
    // Nothing more arrives: each event was delivered once.
    assert!(
        tokio::time::timeout(Duration::from_millis(600), receiver.rx.recv())
            .await
            .is_err(),
        "an event was delivered twice"
    );
    let list = server.get_json("/api/webhooks").await;
    assert_eq!(list["webhooks"][0]["failures"], 0);
}

#[tokio::test]
async fn bad_registrations_are_refused_and_register_nothing() {
    let server = Server::start().await;
    for (body, needle) in [
        (json!({"url": "ftp://example.com/"}), "http or https"),
        (json!({"url": "nope"}), "not a URL"),
        (json!({"url": "http://u:p@example.com/"}), "credentials"),
        (
            json!({"url": format!("http://e.com/{}", "a".repeat(3000))}),
            "at most",
        ),
        (json!({"url": "http://e.com/", "extra": 1}), "invalid JSON"),
    ] {
        let res = server
            .backend(Method::POST, "/api/webhooks")
            .json(&body)
            .send()
            .await
            .unwrap();
        let err = expect_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(err["message"].as_str().unwrap().contains(needle), "{err}");
    }
    assert_eq!(
        server.get_json("/api/webhooks").await["webhooks"],
        json!([])
    );
    let res = server
        .backend(Method::DELETE, "/api/webhooks/nope")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = server
        .backend(Method::GET, "/api/webhooks/nope/attempts")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = server
        .http
        .get(server.url("/api/webhooks"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
