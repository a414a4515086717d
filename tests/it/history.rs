//! The audit log: `GET /api/documents/{id}/history` and `?at_seq=` reads match a replay of what
//! the test did, also after the change log (`since`) was pruned; backend actions name the API
//! key that made them; bad queries are refused and change nothing.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::backend::{on_both_backends, Backend};
use crate::common::ws::{create, ink, Ws};
use crate::common::{cli, expect_error, expect_json, pdf, Options, Server};

on_both_backends!(history_and_at_seq_reads_match_a_replay_after_the_log_was_pruned);

type Snapshot = HashMap<String, (i64, Value)>;

async fn records_at(server: &Server, at_seq: i64) -> Snapshot {
    let body = server
        .get_json(&format!("/api/documents/doc/records?at_seq={at_seq}"))
        .await;
    assert_eq!(body["head_seq"], at_seq);
    body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                (r["rev"].as_i64().unwrap(), r["content"].clone()),
            )
        })
        .collect()
}

async fn history_and_at_seq_reads_match_a_replay_after_the_log_was_pruned(backend: Backend) {
    let mut options = backend.options();
    options
        .extra_args
        .extend(["--change-log-retention".into(), "4".into()]);
    let server = Server::start_with(options).await;
    server.upload_ok(pdf::with_pages(3, "history"), "doc").await;
    let token = server.token("doc", "alice", &["all"]).await;
    let mut ws = Ws::join(&server, &token, None).await;

    // A scripted mix of creates, updates and deletes; the state after each sequence number is
    // kept to compare with the replays.
    let mut model: Snapshot = HashMap::new();
    let mut after: Vec<Snapshot> = vec![model.clone()];
    for i in 0..40u32 {
        let id = format!("ink-{}", i % 7);
        let change = match model.get(&id) {
            None => create(&format!("c{i}"), &id, i % 3),
            Some((rev, _)) if i % 5 == 0 => {
                json!({"client_id": format!("c{i}"), "op": "delete", "id": id, "base_rev": rev})
            }
            Some((rev, _)) => {
                let mut content = ink(i % 3, &id);
                content["bbox"] = json!([i, i, 100, 50]);
                json!({"client_id": format!("c{i}"), "op": "update", "id": id, "base_rev": rev, "content": content})
            }
        };
        let ack = ws.change(change.clone()).await;
        assert_eq!(ack["type"], "ack", "{ack}");
        let seq = ack["seq"].as_i64().unwrap();
        assert_eq!(seq, after.len() as i64);
        if change["op"] == "delete" {
            model.remove(&id);
        } else {
            model.insert(id, (seq, change["content"].clone()));
        }
        after.push(model.clone());
    }
    let head = after.len() as i64 - 1;

    // The change log kept only the last few: an old `since` gets a snapshot, not changes.
    let since = server.get_json("/api/documents/doc/records?since=1").await;
    assert!(since["changes"].is_null(), "the log was pruned: {since}");

    for (seq, expected) in after.iter().enumerate() {
        assert_eq!(
            &records_at(&server, seq as i64).await,
            expected,
            "at_seq={seq}"
        );
    }
    // The head replayed is what the document holds.
    let live = server.records("doc").await;
    assert_eq!(
        live["records"],
        server
            .get_json(&format!("/api/documents/doc/records?at_seq={head}"))
            .await["records"]
    );

    // History pages: every change once, in order, by alice; then the upload and the mint.
    let mut seqs = Vec::new();
    let mut after_id: Option<i64> = None;
    loop {
        let cursor = after_id.map(|a| format!("&after={a}")).unwrap_or_default();
        let page = server
            .get_json(&format!(
                "/api/documents/doc/history?kind=record.&limit=7{cursor}"
            ))
            .await;
        for e in page["events"].as_array().unwrap() {
            assert_eq!(e["actor"], "alice");
            assert!(e["kind"].as_str().unwrap().starts_with("record."));
            seqs.push(e["seq"].as_i64().unwrap());
        }
        match page["next"].as_i64() {
            Some(next) => after_id = Some(next),
            None => break,
        }
    }
    assert_eq!(seqs, (1..=head).collect::<Vec<_>>());
    let others = server
        .get_json("/api/documents/doc/history?user=api_key:bootstrap")
        .await;
    let kinds: Vec<&str> = others["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["document.upload", "token.mint"]);
    assert_eq!(others["events"][1]["detail"]["user_id"], "alice");
    let nobody = server
        .get_json("/api/documents/doc/history?user=nobody&from=2000-01-01")
        .await;
    assert_eq!(nobody["events"], json!([]));
    let future = server
        .get_json("/api/documents/doc/history?from=2999-01-01")
        .await;
    assert_eq!(future["events"], json!([]));
}

#[tokio::test]
async fn backend_actions_are_recorded_with_the_api_key_id_and_outlive_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let data_arg = data.to_str().unwrap();
    let key = cli(
        &["keys", "create", "--name", "ci", "--data-dir", data_arg],
        None,
    )
    .trim()
    .to_string();
    let key_id = key
        .trim_start_matches("qk_")
        .split('_')
        .next()
        .unwrap()
        .to_string();
    let server = Server::start_with(Options {
        data_dir: Some(data.clone()),
        ..Default::default()
    })
    .await;
    let upload = server
        .http
        .post(server.url("/api/documents?id=doc"))
        .bearer_auth(&key)
        .header("content-type", "application/pdf")
        .body(pdf::with_pages(1, "audit"))
        .send()
        .await
        .unwrap();
    expect_json(upload, StatusCode::CREATED).await;
    let res = server
        .http
        .post(server.url("/api/documents/doc/changes"))
        .bearer_auth(&key)
        .json(&json!({"user_id": "carol", "changes": [create("c1", "r1", 0)]}))
        .send()
        .await
        .unwrap();
    expect_json(res, StatusCode::OK).await;
    let res = server
        .backend(Method::DELETE, "/api/documents/doc")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let history = server.get_json("/api/documents/doc/history").await;
    let events: Vec<(&str, &str)> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    let by_key = format!("api_key:{key_id}");
    assert_eq!(
        events,
        [
            ("document.upload", by_key.as_str()),
            ("record.create", "carol"),
            ("records.submit", by_key.as_str()),
            ("document.delete", "api_key:bootstrap")
        ]
    );
    assert_eq!(history["events"][0]["detail"]["pages"], 1);
    assert_eq!(
        history["events"][2]["detail"],
        json!({"user_id": "carol", "layer": "", "seqs": [1]})
    );
}

#[tokio::test]
async fn bad_history_and_at_seq_queries_are_refused_and_change_nothing() {
    let server = Server::start().await;
    server.upload_ok(pdf::with_pages(1, "bad"), "doc").await;
    let before = server.get_json("/api/documents/doc/history").await;
    for (path, needle) in [
        ("/api/documents/doc/records?at_seq=1", "between 0 and"),
        ("/api/documents/doc/records?at_seq=-1", "between 0 and"),
        ("/api/documents/doc/records?at_seq=0&since=0", "at most one"),
        ("/api/documents/doc/records?at_seq=x", "invalid query"),
        ("/api/documents/doc/history?limit=0", "limit"),
        ("/api/documents/doc/history?limit=501", "limit"),
        ("/api/documents/doc/history?from=soon", "from"),
        ("/api/documents/doc/history?after=-3", "after"),
        ("/api/documents/doc/history?colour=red", "invalid query"),
    ] {
        let res = server.backend(Method::GET, path).send().await.unwrap();
        let body = expect_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{path}: {body}"
        );
    }
    let res = server
        .backend(Method::GET, "/api/documents/nope/records?at_seq=0")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Without the API key: 401.
    let res = server
        .http
        .get(server.url("/api/documents/doc/history"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(server.get_json("/api/documents/doc/history").await, before);
    // A session token cannot use at_seq on the client API.
    let token = server.token("doc", "alice", &["all"]).await;
    let res = server
        .client(&token, "/api/client/records?at_seq=0")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}
