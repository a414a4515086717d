//! Prometheus metrics: a scripted session moves every counter by exactly what it did; the
//! separate metrics listener serves them and the main listener then does not.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::common::ws::{create, Ws};
use crate::common::{pdf, Options, Server};

/// A scrape: `name{labels}` (as rendered) to value.
type Scrape = HashMap<String, f64>;

fn parse(text: &str) -> Scrape {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

pub(crate) async fn scrape_at(server: &Server, base: &str) -> Scrape {
    let res = server
        .http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    parse(&res.text().await.unwrap())
}

fn delta(before: &Scrape, after: &Scrape, key: &str) -> f64 {
    after.get(key).copied().unwrap_or(0.0) - before.get(key).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn a_scripted_session_moves_each_metric_by_exactly_what_it_did() {
    let server = Server::start().await;
    let before = scrape_at(&server, &server.base).await;

    server.upload_ok(pdf::with_pages(2, "metrics"), "doc").await;
    let token = server.token("doc", "alice", &["all"]).await;
    let mut ws = Ws::join(&server, &token, None).await;
    assert_eq!(ws.change(create("c1", "ink-1", 0)).await["type"], "ack");
    assert_eq!(ws.change(create("c2", "ink-2", 1)).await["type"], "ack");
    let dup = ws.change(create("c3", "ink-1", 0)).await;
    assert_eq!(dup["code"], "already_exists", "{dup}");
    let stale = ws
        .change(json!({"client_id": "c4", "op": "delete", "id": "ink-2", "base_rev": 7}))
        .await;
    assert_eq!(stale["code"], "stale_base", "{stale}");
    let during = scrape_at(&server, &server.base).await;
    assert_eq!(delta(&before, &during, "quire_live_sessions"), 1.0);
    assert!(ws.send_raw(Message::Close(None)).await);
    ws.closed().await;

    // The session actor stops just after its close frame: wait for the gauge to come back.
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let s = scrape_at(&server, &server.base).await;
        if delta(&before, &s, "quire_live_sessions") == 0.0 || Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let expect = [
        ("quire_live_sessions", 0.0),
        ("quire_open_documents", 1.0),
        ("quire_changes_committed_total", 2.0),
        (
            r#"quire_changes_rejected_total{reason="already_exists"}"#,
            1.0,
        ),
        (r#"quire_changes_rejected_total{reason="stale_base"}"#, 1.0),
        (r#"quire_changes_rejected_total{reason="busy"}"#, 0.0),
        // Each change was awaited before the next: two commits of one batch each.
        ("quire_commit_group_batches_count", 2.0),
        ("quire_commit_group_batches_sum", 2.0),
        (r#"quire_commit_failures_total{kind="conflict"}"#, 0.0),
        ("quire_pending_changes", 0.0),
        ("quire_outbox_drops_total", 0.0),
        (r#"quire_disconnects_total{code="normal"}"#, 1.0),
        (r#"quire_token_cache_total{result="miss"}"#, 1.0),
        (r#"quire_token_cache_total{result="hit"}"#, 0.0),
        ("quire_token_verify_seconds_count", 1.0),
        ("quire_pdf_parse_seconds_count", 1.0),
        (
            r#"quire_http_requests_total{method="POST",route="/api/documents",status="201"}"#,
            1.0,
        ),
        (
            r#"quire_http_requests_total{method="POST",route="/api/sessions",status="201"}"#,
            1.0,
        ),
        (
            r#"quire_http_requests_total{method="GET",route="/api/client/ws",status="101"}"#,
            1.0,
        ),
    ];
    let got: Vec<(&str, f64)> = expect
        .iter()
        .map(|(k, _)| (*k, delta(&before, &after, k)))
        .collect();
    assert_eq!(got, expect.to_vec(), "all metrics:\n{after:#?}");
    assert!(after["quire_commit_group_seconds_count"] >= 2.0);
}

#[tokio::test]
async fn a_separate_metrics_listener_serves_them_and_the_public_one_does_not() {
    let server = Server::start_with(Options {
        extra_args: vec!["--metrics-listen".into(), "127.0.0.1:0".into()],
        ..Options::default()
    })
    .await;
    server.log_shows("metrics listening", 1).await;
    let addr = server
        .log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["message"] == "metrics listening")
        .and_then(|v| v["addr"].as_str().map(str::to_string))
        .expect("the metrics address is logged");
    let scrape = scrape_at(&server, &format!("http://{addr}")).await;
    assert!(scrape.contains_key("quire_live_sessions"), "{scrape:?}");
    let public = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    // Only /metrics is served there.
    let other = server
        .http
        .get(format!("http://{addr}/api/documents"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unparsable_address_for_metrics_stops_the_start_with_a_clear_error() {
    let out = std::process::Command::new(crate::common::quire_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "nowhere",
        ])
        .env("QUIRE_DATA_DIR", tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot listen on nowhere"), "{stderr}");
}
