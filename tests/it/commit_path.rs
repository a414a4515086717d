//! The commit path under failure and pressure: a database that holds its write lock, refuses a
//! value or goes away costs only the changes it touched; every change and every join is
//! answered; queues and documents are bounded.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::Method;
use sea_orm::sqlx::{sqlite::SqliteConnection, Connection, Executor};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::common::ws::{create, ink, Ws};
use crate::common::{Options, Server, TIMEOUT};
use crate::live::server_with_doc;

/// Holds SQLite's write lock from another connection, as a long-running writer would: the
/// server's commits wait (up to its busy timeout) while reads go on.
struct WriteLock(SqliteConnection);

impl WriteLock {
    async fn hold(server: &Server) -> WriteLock {
        let url = format!("sqlite://{}", server.data_dir.join("quire.db").display());
        let mut conn = SqliteConnection::connect(&url).await.expect("open SQLite");
        conn.execute("BEGIN IMMEDIATE")
            .await
            .expect("take the write lock");
        WriteLock(conn)
    }

    async fn release(mut self) {
        self.0.execute("ROLLBACK").await.expect("release the lock");
    }
}

/// Waits until the server's log holds `needle` `count` times.
async fn log_shows(server: &Server, needle: &str, count: usize) {
    tokio::time::timeout(TIMEOUT, async {
        while server.log_text().matches(needle).count() < count {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the log never showed `{needle}` {count} times"));
}

/// Makes sure the session has handed everything it sent before to its document: the pong
/// comes back after the session processed (and forwarded) every earlier frame.
async fn sync(ws: &mut Ws) {
    ws.send(json!({"type": "ping"})).await;
    ws.recv_type("pong").await;
}

/// Collects answers (acks and rejects) until `n` have arrived.
async fn answers(ws: &mut Ws, n: usize) -> Vec<Value> {
    let mut got = Vec::new();
    while got.len() < n {
        let v = ws.recv().await;
        if v["type"] == "ack" || v["type"] == "reject" {
            got.push(v);
        }
    }
    got
}

#[tokio::test]
async fn a_client_sending_hello_and_fifty_changes_while_a_commit_is_in_flight_gets_a_welcome_and_fifty_answers(
) {
    let server = server_with_doc(Options::default()).await;
    let token = server.token("doc", "u", &["all"]).await;
    let mut a = Ws::join(&server, &token, None).await;

    let lock = WriteLock::hold(&server).await;
    a.send(json!({"type": "changes", "changes": [create("a1", "a-rec", 0)]}))
        .await;
    sync(&mut a).await;

    let mut b = Ws::open(&server).await;
    b.send(json!({"type": "hello", "token": token})).await;
    for i in 0..50 {
        b.send(json!({"type": "changes", "changes": [create(&format!("b{i}"), &format!("b-rec-{i}"), 0)]}))
            .await;
    }
    log_shows(&server, "session joined", 2).await;
    lock.release().await;

    let welcome = b.recv_type("welcome").await;
    assert!(welcome["head_seq"].as_i64().unwrap() >= 0);
    let got = answers(&mut b, 50).await;
    assert!(got.iter().all(|v| v["type"] == "ack"), "{got:?}");
    let mut ids: Vec<&str> = got
        .iter()
        .map(|v| v["client_id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 50, "exactly one answer per change");
    assert_eq!(a.recv_type("ack").await["client_id"], "a1");
    assert_eq!(
        server.records("doc").await["records"]
            .as_array()
            .unwrap()
            .len(),
        51
    );
}

#[tokio::test]
async fn a_full_pending_queue_answers_busy_and_the_changes_succeed_once_it_drains() {
    let server = server_with_doc(Options {
        extra_args: vec!["--max-pending-changes".into(), "5".into()],
        ..Default::default()
    })
    .await;
    let token = server.token("doc", "u", &["all"]).await;
    let mut a = Ws::join(&server, &token, None).await;
    let lock = WriteLock::hold(&server).await;
    a.send(json!({"type": "changes", "changes": [create("first", "r0", 0)]}))
        .await;
    sync(&mut a).await;
    let batch: Vec<Value> = (1..=10)
        .map(|i| create(&format!("c{i}"), &format!("r{i}"), 0))
        .collect();
    a.send(json!({"type": "changes", "changes": batch.clone()}))
        .await;
    // Answered at once, while the commit is still held up.
    let busy = answers(&mut a, 10).await;
    for v in &busy {
        assert_eq!(v["type"], "reject", "{v}");
        assert_eq!(v["code"], "busy", "{v}");
    }
    lock.release().await;
    assert_eq!(a.recv_type("ack").await["client_id"], "first");
    a.send(json!({"type": "changes", "changes": batch[..5].to_vec()}))
        .await;
    let acks = answers(&mut a, 5).await;
    assert!(acks.iter().all(|v| v["type"] == "ack"), "{acks:?}");
}

#[tokio::test]
async fn a_document_at_its_record_limit_refuses_creates_with_limit_exceeded() {
    let server = server_with_doc(Options {
        extra_args: vec!["--max-records-per-document".into(), "3".into()],
        ..Default::default()
    })
    .await;
    let token = server.token("doc", "u", &["all"]).await;
    let mut a = Ws::join(&server, &token, None).await;
    for i in 0..3 {
        let v = a
            .change(create(&format!("c{i}"), &format!("r{i}"), 0))
            .await;
        assert_eq!(v["type"], "ack");
    }
    let refused = a.change(create("c3", "r3", 0)).await;
    assert_eq!(refused["code"], "limit_exceeded", "{refused}");
    // Updates within the limit and deletes still work; a delete makes room.
    let v = a
        .change(json!({"client_id": "u0", "op": "update", "id": "r0", "content": ink(1, "x")}))
        .await;
    assert_eq!(v["type"], "ack");
    let v = a
        .change(json!({"client_id": "d0", "op": "delete", "id": "r0"}))
        .await;
    assert_eq!(v["type"], "ack");
    assert_eq!(a.change(create("c4", "r3", 0)).await["type"], "ack");
    assert_eq!(
        server.records("doc").await["records"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn presence_a_client_cannot_represent_is_refused_for_that_session_alone() {
    let server = server_with_doc(Options::default()).await;
    let reader = server.token("doc", "reader", &["read-document"]).await;
    let writer = server.token("doc", "writer", &["all"]).await;
    let mut w = Ws::join(&server, &writer, None).await;
    let mut r = Ws::join(&server, &reader, None).await;
    for state in [
        r#"{"page": 1e999}"#,
        r#"{"page": -1e400, "x": [1e309]}"#,
        "1e999",
    ] {
        assert!(
            r.send_raw(Message::Text(
                format!(r#"{{"type":"presence","state":{state}}}"#).into()
            ))
            .await
        );
        let error = r.recv_type("error").await;
        assert_eq!(error["code"], "invalid", "{error}");
    }
    // Nobody was disconnected: both sessions still work.
    assert_eq!(w.change(create("c1", "r1", 0)).await["type"], "ack");
    let seen = r.recv_type("change").await;
    assert_eq!(seen["id"], "r1");
    r.send(json!({"type": "presence", "state": {"page": 2}}))
        .await;
    let state = w.recv_type("presence").await;
    assert_eq!(state["event"], "state");
    assert_eq!(state["state"], json!({"page": 2}));
}

#[tokio::test]
async fn a_since_older_than_the_retained_log_gets_a_snapshot_exactly_as_documented() {
    let server = server_with_doc(Options {
        extra_args: vec!["--change-log-retention".into(), "10".into()],
        ..Default::default()
    })
    .await;
    let token = server.token("doc", "u", &["all"]).await;
    let mut a = Ws::join(&server, &token, None).await;
    let batch: Vec<Value> = (0..20)
        .map(|i| create(&format!("c{i}"), &format!("r{i}"), 0))
        .collect();
    a.send(json!({"type": "changes", "changes": batch})).await;
    answers(&mut a, 20).await;

    let old = Ws::join(&server, &token, Some(5)).await;
    assert!(old.welcome["records"].is_array(), "{}", old.welcome);
    assert!(old.welcome["changes"].is_null(), "{}", old.welcome);
    let recent = Ws::join(&server, &token, Some(12)).await;
    assert_eq!(recent.welcome["changes"].as_array().unwrap().len(), 8);
    let rest = server.get_json("/api/documents/doc/records?since=5").await;
    assert!(
        rest["records"].is_array() && rest.get("changes").is_none(),
        "{rest}"
    );
}

#[tokio::test]
async fn record_content_comes_back_byte_for_byte_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        data_dir: Some(dir.path().join("data")),
        ..Default::default()
    };
    let server = server_with_doc(options.clone()).await;
    let token = server.token("doc", "u", &["all"]).await;
    let mut a = Ws::join(&server, &token, None).await;
    let content = r#"{ "v": 2,  "type": "pspdfkit/ink", "pageIndex": 0, "bbox": [1, 2, 3, 4], "lines": {"points": [[[1, 2], [3.50, 4]]]}, "zeta": 1, "alpha": "é" }"#;
    let frame = format!(
        r#"{{"type":"changes","changes":[{{"client_id":"c1","op":"create","id":"r1","kind":"annotation","content":{content}}}]}}"#
    );
    assert!(a.send_raw(Message::Text(frame.into())).await);
    assert_eq!(a.recv_type("ack").await["client_id"], "c1");
    drop(a);
    assert!(server.stop().success());

    let server = Server::start_with(options).await;
    let body = server
        .backend(Method::GET, "/api/documents/doc/records")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains(content), "{body}");
    let fresh = Ws::open(&server).await;
    drop(fresh);
}

#[tokio::test]
async fn updated_at_is_the_same_on_every_read_path() {
    let server = Server::start().await;
    for d in ["d1", "d2", "d3"] {
        server
            .upload_ok(crate::common::pdf::with_pages(1, d), d)
            .await;
    }
    // Three documents written at once, so their batches share group commits.
    join_all(["d1", "d2", "d3"].into_iter().map(|d| {
        let server = &server;
        async move {
            let token = server.token(d, "u", &["all"]).await;
            let mut ws = Ws::join(server, &token, None).await;
            for round in 0..10 {
                let batch: Vec<Value> = (0..5)
                    .map(|i| create(&format!("c{round}-{i}"), &format!("r{round}-{i}"), 0))
                    .collect();
                ws.send(json!({"type": "changes", "changes": batch})).await;
            }
            answers(&mut ws, 50).await;
        }
    }))
    .await;
    for d in ["d1", "d2", "d3"] {
        let records = server.records(d).await;
        let log = server
            .get_json(&format!("/api/documents/{d}/records?since=0"))
            .await;
        let changes = log["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 50);
        for r in records["records"].as_array().unwrap() {
            let c = changes.iter().find(|c| c["id"] == r["id"]).unwrap();
            assert_eq!(
                c["record"]["updated_at"], r["updated_at"],
                "{d}: {r} vs {c}"
            );
            assert_eq!(c["record"]["created_at"], r["created_at"]);
        }
    }
}

#[tokio::test]
async fn deleting_an_annotation_needs_the_right_to_delete_every_comment_in_its_thread() {
    let server = server_with_doc(Options::default()).await;
    let author = server
        .mint(json!({"document_id": "doc", "user_id": "alice", "permissions": ["read-document", "write"],
            "collaboration_permissions": ["annotations:view:all", "annotations:edit:self", "annotations:delete:self",
                "comments:view:all", "comments:reply:all", "comments:delete:self"]}))
        .await;
    let replier = server.token("doc", "bob", &["all"]).await;
    let mut a = Ws::join(&server, author["token"].as_str().unwrap(), None).await;
    let mut b = Ws::join(&server, &replier, None).await;
    assert_eq!(a.change(create("c1", "note", 0)).await["type"], "ack");
    let reply = json!({"client_id": "c2", "op": "create", "id": "bob-reply", "kind": "comment",
        "content": {"rootId": "note", "text": "mine"}});
    assert_eq!(b.change(reply).await["type"], "ack");

    let refused = a
        .change(json!({"client_id": "c3", "op": "delete", "id": "note"}))
        .await;
    assert_eq!(refused["code"], "not_permitted", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("comment"));
    let records = server.records("doc").await;
    assert_eq!(
        records["records"].as_array().unwrap().len(),
        2,
        "nothing was deleted"
    );

    // Someone allowed to delete every comment may delete the thread with its annotation.
    let v = b
        .change(json!({"client_id": "c4", "op": "delete", "id": "note"}))
        .await;
    assert_eq!(v["type"], "ack", "{v}");
    assert!(server.records("doc").await["records"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_backend_identity_longer_than_the_schema_holds_is_refused_as_invalid_with_the_field_named(
) {
    let server = server_with_doc(Options::default()).await;
    let long_name = "n".repeat(300);
    let long_layer = "l".repeat(200);
    for (body, field) in [
        (
            json!({"user_id": "svc", "user_name": long_name, "changes": [create("c1", "r1", 0)]}),
            "user_name",
        ),
        (
            json!({"layer": long_layer, "changes": [create("c2", "r2", 0)]}),
            "layer",
        ),
    ] {
        let res = server
            .backend(Method::POST, "/api/documents/doc/changes")
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let v: Value = res.json().await.unwrap();
        let text = v.to_string();
        assert!(
            text.contains("invalid") && text.contains(field),
            "{status}: {text}"
        );
    }
    assert!(server.records("doc").await["records"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_value_the_database_refuses_costs_only_its_own_batch() {
    let server = Server::start().await;
    for d in ["good", "bad"] {
        server
            .upload_ok(crate::common::pdf::with_pages(1, d), d)
            .await;
    }
    // A constraint the server does not know about stands in for any value the database might
    // refuse.
    let url = format!("sqlite://{}", server.data_dir.join("quire.db").display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    conn.execute(
        "CREATE TRIGGER poison BEFORE INSERT ON records WHEN NEW.content LIKE '%poison%' \
         BEGIN SELECT RAISE(ABORT, 'poisoned content'); END;",
    )
    .await
    .unwrap();
    let good_token = server.token("good", "u", &["all"]).await;
    let bad_token = server.token("bad", "u", &["all"]).await;
    let mut good = Ws::join(&server, &good_token, None).await;
    let mut bad = Ws::join(&server, &bad_token, None).await;
    let mut watcher = Ws::join(&server, &bad_token, None).await;

    let lock = WriteLock::hold(&server).await;
    good.send(json!({"type": "changes", "changes": [create("g0", "g0", 0)]}))
        .await;
    sync(&mut good).await;
    bad.send(json!({"type": "changes", "changes": [create("b0", "b0", 0)]}))
        .await;
    sync(&mut bad).await;
    // Queued behind the held lock, these two batches share the next group commit.
    good.send(json!({"type": "changes", "changes": [create("g1", "g1", 0)]}))
        .await;
    let poison = json!({"client_id": "b1", "op": "create", "id": "b1", "kind": "annotation",
        "content": ink(0, "poison")});
    bad.send(json!({"type": "changes", "changes": [poison]}))
        .await;
    sync(&mut good).await;
    sync(&mut bad).await;
    lock.release().await;

    let g = answers(&mut good, 2).await;
    assert!(g.iter().all(|v| v["type"] == "ack"), "{g:?}");
    let b = answers(&mut bad, 2).await;
    assert_eq!(b[0]["type"], "ack");
    assert_eq!(b[1]["type"], "reject");
    assert_eq!(b[1]["code"], "invalid", "{}", b[1]);
    // Memory was put back: the refused record does not exist, and the sessions go on.
    assert_eq!(bad.change(create("b2", "b2", 0)).await["type"], "ack");
    let ids: Vec<String> = server.records("bad").await["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["b0", "b2"]);
    let seen = watcher.recv_type("change").await;
    assert_eq!(seen["id"], "b0");
    assert_eq!(
        watcher.recv_type("change").await["id"],
        "b2",
        "the refused change was never fanned out"
    );
    assert_eq!(
        server.records("good").await["records"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}
