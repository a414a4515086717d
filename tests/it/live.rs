//! Live collaboration over real WebSockets: snapshots, acks and fan-out, conflicts, catch-up with
//! `since`, presence, REST through the same actor. Each test runs on SQLite and on PostgreSQL
//! (`common::backend`).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::backend::{on_both_backends, Backend};
use crate::common::ws::{create, ink, Model, Ws};
use crate::common::{expect_json, pdf, Options, Server};

on_both_backends!(
    a_change_is_acknowledged_then_fanned_out_and_persisted,
    conflicting_updates_on_a_stale_base_have_exactly_one_winner,
    a_client_that_missed_500_changes_gets_exactly_those_with_since,
    a_since_older_than_the_retained_log_gets_a_snapshot,
    presence_is_relayed_and_never_stored,
    backend_changes_reach_live_clients_at_once,
    deleting_the_document_closes_its_sessions,
    answers_come_in_request_order_and_content_is_kept_as_sent,
);

pub async fn server_with_doc(options: Options) -> Server {
    let server = Server::start_with(options).await;
    server.upload_ok(pdf::with_pages(3, "live"), "doc").await;
    server
}

async fn a_change_is_acknowledged_then_fanned_out_and_persisted(backend: Backend) {
    let server = server_with_doc(backend.options()).await;
    let ta = server.mint(json!({"document_id": "doc", "user_id": "alice", "user_name": "Alice", "permissions": ["all"]})).await;
    let tb = server
        .token("doc", "bob", &["read-document", "write"])
        .await;
    let mut a = Ws::join(&server, ta["token"].as_str().unwrap(), None).await;
    let mut b = Ws::join(&server, &tb, None).await;
    assert_eq!(a.welcome["protocol"], 1);
    assert_eq!(a.welcome["head_seq"], 0);
    assert_eq!(a.welcome["page_count"], 3);
    assert_eq!(a.welcome["records"], json!([]));
    assert_eq!(a.welcome["user"]["user_name"], "Alice");
    assert!(a.welcome["rights"]["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!("write")));

    let ack = a.change(create("c1", "ink-1", 1)).await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(ack["seq"], 1);
    assert_eq!(ack["rev"], 1);
    let change = b.recv_type("change").await;
    assert_eq!(change["seq"], 1);
    assert_eq!(change["op"], "create");
    assert_eq!(change["id"], "ink-1");
    assert_eq!(change["record"]["creator"], "alice");
    assert_eq!(change["record"]["creator_name"], "Alice");
    assert_eq!(change["record"]["content"], ink(1, "ink-1"));
    assert_eq!(change["author"]["user_id"], "alice");

    // Update with the right base, then delete.
    let mut moved = ink(1, "ink-1");
    moved["bbox"] = json!([20, 30, 100, 50]);
    let ack = b.change(json!({"client_id": "u1", "op": "update", "id": "ink-1", "base_rev": 1, "content": moved})).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(
        a.recv_type("change").await["record"]["content"]["bbox"],
        json!([20, 30, 100, 50])
    );

    // A fresh join and the REST read show the committed state.
    let c = Ws::join(&server, &tb, None).await;
    assert_eq!(c.welcome["head_seq"], 2);
    let records = c.welcome["records"].as_array().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["rev"], 2);
    let rest = server.records("doc").await;
    assert_eq!(
        rest["records"][0]["content"]["bbox"],
        json!([20, 30, 100, 50])
    );
    let client = expect_json(
        server
            .client(&tb, "/api/client/records")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(client["records"], rest["records"]);

    let ack = a
        .change(json!({"client_id": "d1", "op": "delete", "id": "ink-1"}))
        .await;
    assert_eq!(ack["seq"], 3);
    let del = b.recv_type("change").await;
    assert_eq!(
        (del["op"].as_str(), del["record"].is_null()),
        (Some("delete"), true)
    );
}

async fn conflicting_updates_on_a_stale_base_have_exactly_one_winner(backend: Backend) {
    let server = server_with_doc(backend.options()).await;
    let t = server.token("doc", "u", &["all"]).await;
    let mut a = Ws::join(&server, &t, None).await;
    let mut b = Ws::join(&server, &t, None).await;
    a.change(create("c", "shared", 0)).await;
    b.recv_type("change").await;
    let update = |cid: &str, marker: &str| json!({"client_id": cid, "op": "update", "id": "shared", "base_rev": 1, "content": ink(0, marker)});
    // Both send before either hears back.
    a.send(json!({"type": "changes", "changes": [update("ua", "from-a")]}))
        .await;
    b.send(json!({"type": "changes", "changes": [update("ub", "from-b")]}))
        .await;
    let mut outcomes = Vec::new();
    for ws in [&mut a, &mut b] {
        loop {
            let v = ws.recv().await;
            if v["type"] == "ack" || v["type"] == "reject" {
                outcomes.push(v);
                break;
            }
        }
    }
    let acks: Vec<_> = outcomes.iter().filter(|o| o["type"] == "ack").collect();
    let rejects: Vec<_> = outcomes.iter().filter(|o| o["type"] == "reject").collect();
    assert_eq!((acks.len(), rejects.len()), (1, 1), "{outcomes:?}");
    assert_eq!(rejects[0]["code"], "stale_base");
    let current = &rejects[0]["current"];
    assert_eq!(
        current["rev"], 2,
        "the reject carries the winner's record: {current}"
    );
    let winner = if acks[0]["client_id"] == "ua" {
        "from-a"
    } else {
        "from-b"
    };
    assert_eq!(current["content"]["customData"]["marker"], winner);
}

async fn a_client_that_missed_500_changes_gets_exactly_those_with_since(backend: Backend) {
    let server = server_with_doc(backend.options()).await;
    let t = server.token("doc", "u", &["all"]).await;
    let mut writer = Ws::join(&server, &t, None).await;
    writer.change(create("first", "r0", 0)).await;
    let reader = Ws::join(&server, &t, None).await;
    let seen = reader.welcome["head_seq"].as_i64().unwrap();
    assert_eq!(seen, 1);
    drop(reader);

    // 500 changes while the reader is away: creates and updates in batches of 50.
    for batch in 0..10 {
        let changes: Vec<Value> = (0..50)
            .map(|i| {
                let n = batch * 50 + i;
                if n % 2 == 0 {
                    create(&format!("c{n}"), &format!("r{}", n + 1), 0)
                } else {
                    json!({"client_id": format!("c{n}"), "op": "update", "id": "r0", "content": ink(0, &format!("v{n}"))})
                }
            })
            .collect();
        writer
            .send(json!({"type": "changes", "changes": changes}))
            .await;
        let mut acked = 0;
        while acked < 50 {
            let v = writer.recv().await;
            assert_ne!(v["type"], "reject", "{v}");
            if v["type"] == "ack" {
                acked += 1;
            }
        }
    }
    let back = Ws::join(&server, &t, Some(seen)).await;
    assert!(
        back.welcome["records"].is_null(),
        "a catch-up, not a snapshot"
    );
    let changes = back.welcome["changes"].as_array().unwrap();
    let seqs: Vec<i64> = changes.iter().map(|c| c["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (2..=501).collect::<Vec<_>>());
    assert_eq!(back.welcome["head_seq"], 501);

    // Applying them to what the reader had gives exactly the server's state.
    let rest = server.records("doc").await;
    let fresh = Model::from_records(&rest["records"]);
    let mut model = Model::default();
    model.apply("r0".into(), 1, Some(ink(0, "r0")));
    for c in changes {
        model.apply_change(c);
    }
    assert_eq!(model.live(), fresh.live());

    // The REST catch-up gives the same list.
    let since = expect_json(
        server
            .backend(
                Method::GET,
                &format!("/api/documents/doc/records?since={seen}"),
            )
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(since["changes"].as_array().unwrap().len(), 500);
}

async fn a_since_older_than_the_retained_log_gets_a_snapshot(backend: Backend) {
    let server = server_with_doc(Options {
        extra_args: vec!["--change-log-retention".into(), "100".into()],
        ..backend.options()
    })
    .await;
    let t = server.token("doc", "u", &["all"]).await;
    let mut w = Ws::join(&server, &t, None).await;
    for round in 0..3 {
        let changes: Vec<Value> = (0..100)
            .map(|i| create(&format!("c{round}-{i}"), &format!("r{round}-{i}"), 0))
            .collect();
        w.send(json!({"type": "changes", "changes": changes})).await;
        let mut acked = 0;
        while acked < 100 {
            if w.recv().await["type"] == "ack" {
                acked += 1;
            }
        }
    }
    let back = Ws::join(&server, &t, Some(5)).await;
    assert!(back.welcome["changes"].is_null());
    assert_eq!(back.welcome["records"].as_array().unwrap().len(), 300);
    assert_eq!(back.welcome["head_seq"], 300);
    // Recent history is still served as changes.
    let recent = Ws::join(&server, &t, Some(290)).await;
    assert_eq!(recent.welcome["changes"].as_array().unwrap().len(), 10);
}

async fn presence_is_relayed_and_never_stored(backend: Backend) {
    let server = server_with_doc(backend.options()).await;
    let ta = server.mint(json!({"document_id": "doc", "user_id": "alice", "user_name": "Alice", "permissions": ["read-document"]})).await;
    let tb = server.mint(json!({"document_id": "doc", "user_id": "bob", "user_name": "Bob", "permissions": ["read-document"]})).await;
    let mut a = Ws::join(&server, ta["token"].as_str().unwrap(), None).await;
    let mut b = Ws::join(&server, tb["token"].as_str().unwrap(), None).await;
    let joined = a.recv_presence("joined").await;
    assert_eq!(joined["session"]["user_name"], "Bob");
    assert_eq!(b.welcome["presence"][0]["user_id"], "alice");

    b.send(json!({"type": "presence", "state": {"page": 2}}))
        .await;
    let state = a.recv_presence("state").await;
    assert_eq!(state["state"], json!({"page": 2}));
    let c = Ws::join(&server, ta["token"].as_str().unwrap(), None).await;
    let bob = c.welcome["presence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["user_id"] == "bob")
        .unwrap()
        .clone();
    assert_eq!(bob["state"], json!({"page": 2}));

    let big = "x".repeat(5000);
    b.send(json!({"type": "presence", "state": {"blob": big}}))
        .await;
    assert_eq!(b.recv_type("error").await["code"], "presence_too_large");

    drop(b);
    // (Alice's second session may be announced in the same presence batch.)
    let left = a.recv_presence("left").await;
    assert_eq!(left["user_id"], "bob");
    let head = server.records("doc").await;
    assert_eq!(head["head_seq"], 0, "presence never becomes a change");
}

async fn backend_changes_reach_live_clients_at_once(backend: Backend) {
    let server = server_with_doc(backend.options()).await;
    let t = server.token("doc", "u", &["read-document"]).await;
    let mut a = Ws::join(&server, &t, None).await;
    let res = server
        .backend(Method::POST, "/api/documents/doc/changes")
        .json(&json!({"user_id": "importer", "changes": [create("b1", "from-backend", 2), {"client_id": "b2", "op": "update", "id": "nope", "content": {}}]}))
        .send()
        .await
        .unwrap();
    let body = expect_json(res, StatusCode::OK).await;
    assert_eq!(body["results"][0]["type"], "ack");
    assert_eq!(body["results"][1]["code"], "not_found");
    let change = a.recv_type("change").await;
    assert_eq!(change["record"]["creator"], "importer");

    for bad in [
        json!({"changes": []}),
        json!({"changes": "x"}),
        json!({"changes": [], "extra": 1}),
    ] {
        let res = server
            .backend(Method::POST, "/api/documents/doc/changes")
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let res = server
        .backend(Method::POST, "/api/documents/nope/changes")
        .json(&json!({"changes": [create("x", "y", 0)]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

async fn deleting_the_document_closes_its_sessions(backend: Backend) {
    let server = server_with_doc(backend.options()).await;
    let t = server.token("doc", "u", &["all"]).await;
    let mut a = Ws::join(&server, &t, None).await;
    let res = server
        .backend(Method::DELETE, "/api/documents/doc")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let closed = a.closed().await;
    assert_eq!(closed.code, 4004, "{closed:?}");
    assert!(closed.reason.starts_with("document_deleted"), "{closed:?}");
    // Joining afterwards is refused the same way.
    let mut again = Ws::open(&server).await;
    again.send(json!({"type": "hello", "token": t})).await;
    let closed = again.closed().await;
    assert!(closed.code == 4004 || closed.code == 4001, "{closed:?}");
    let _ = Duration::ZERO;
}

async fn answers_come_in_request_order_and_content_is_kept_as_sent(backend: Backend) {
    let server = server_with_doc(backend.options()).await;
    let t = server.token("doc", "u", &["all"]).await;
    let mut a = Ws::join(&server, &t, None).await;
    a.send(json!({"type": "changes", "changes": [
        create("1", "r1", 0),
        {"client_id": "2", "op": "update", "id": "r1", "base_rev": 99, "content": ink(0, "stale")},
        create("3", "r2", 0),
        {"client_id": "4", "op": "delete", "id": "ghost"},
    ]}))
    .await;
    let mut order = Vec::new();
    while order.len() < 4 {
        let v = a.recv().await;
        if v["type"] == "ack" || v["type"] == "reject" {
            order.push((
                v["client_id"].as_str().unwrap().to_string(),
                v["type"].as_str().unwrap().to_string(),
            ));
        }
    }
    let expected: Vec<(String, String)> =
        [("1", "ack"), ("2", "reject"), ("3", "ack"), ("4", "reject")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
    assert_eq!(order, expected);

    // Keys stay in the order the client wrote them (a parsed-and-reserialised object would sort them).
    let raw = r#"{"v":2,"type":"pspdfkit/note","pageIndex":0,"bbox":[1,2,3,4],"zeta":1,"alpha":{"y":1,"b":2}}"#;
    let frame = format!(
        r#"{{"type":"changes","changes":[{{"client_id":"5","op":"create","kind":"annotation","id":"ordered","content":{raw}}}]}}"#
    );
    a.send_raw(tokio_tungstenite::tungstenite::Message::Text(frame.into()))
        .await;
    a.recv_type("ack").await;
    let body = server
        .backend(Method::GET, "/api/documents/doc/records")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains(raw), "content kept byte for byte: {body}");
    let _ = Value::Null;
}
