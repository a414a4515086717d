//! The live server under stress and abuse: convergence of many writers, durability across
//! SIGKILL, malformed input, bursts and slow readers. Each test runs on SQLite and on PostgreSQL
//! (`common::backend`).

use std::collections::{HashMap, HashSet};

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::common::backend::{on_both_backends, Backend};
use crate::common::ws::{create, ink, presence_events, Model, Ws};
use crate::common::{Options, Server};
use crate::live::server_with_doc;

on_both_backends!(
    twenty_concurrent_clients_converge_to_what_a_fresh_join_and_a_restart_return,
    every_acknowledged_change_survives_sigkill,
    malformed_input_gets_a_clear_close_and_changes_nothing,
    a_slow_reader_is_disconnected_while_others_keep_receiving,
    a_commit_that_lost_the_race_catches_up_and_is_acknowledged,
    a_lost_race_past_the_log_refuses_and_asks_to_reconnect,
    shutdown_closes_live_sessions_with_a_reason,
);

/// One of 20 clients: creates its own records, updates its own and others' (last writer wins),
/// deletes some, and tracks what it sees. Returns its model once the last change it expects
/// (`until`) has arrived.
async fn writer(server: &Server, token: String, n: usize) -> Ws {
    let mut ws = Ws::join(server, &token, None).await;
    let mut changes = Vec::new();
    for i in 0..5 {
        changes.push(create(
            &format!("{n}-c{i}"),
            &format!("w{n}-{i}"),
            (i % 3) as u32,
        ));
    }
    for i in 0..5 {
        changes.push(json!({"client_id": format!("{n}-u{i}"), "op": "update", "id": format!("w{n}-{i}"), "content": ink(0, &format!("{n}-{i}-v2"))}));
    }
    // Contended records: every client writes the same two ids without a base.
    for shared in ["shared-a", "shared-b"] {
        changes.push(json!({"client_id": format!("{n}-{shared}"), "op": "update", "id": shared, "content": ink(1, &format!("{n}"))}));
    }
    changes.push(json!({"client_id": format!("{n}-d"), "op": "delete", "id": format!("w{n}-4")}));
    ws.send(json!({"type": "changes", "changes": changes}))
        .await;
    ws
}

async fn twenty_concurrent_clients_converge_to_what_a_fresh_join_and_a_restart_return(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        data_dir: Some(dir.path().join("data")),
        ..backend.options()
    };
    let server = server_with_doc(options.clone()).await;
    let token = server.token("doc", "u", &["all"]).await;
    let mut seed = Ws::join(&server, &token, None).await;
    seed.change(create("s1", "shared-a", 0)).await;
    seed.change(create("s2", "shared-b", 0)).await;
    drop(seed);

    let clients = join_all((0..20).map(|n| writer(&server, token.clone(), n))).await;
    // Each client sent 13 changes; all are acknowledged (none conflict: no base revisions).
    let expected_head = 2 + 20 * 13;
    let models = join_all(clients.into_iter().map(|mut ws| async move {
        let mut model = Model::from_records(&ws.welcome["records"]);
        let mut pending: HashMap<String, Value> = HashMap::new();
        let mut head = ws.welcome["head_seq"].as_i64().unwrap();
        while head < expected_head as i64 {
            let v = ws.recv().await;
            match v["type"].as_str() {
                Some("change") => {
                    head = head.max(v["seq"].as_i64().unwrap());
                    model.apply_change(&v);
                }
                Some("ack") => {
                    head = head.max(v["seq"].as_i64().unwrap());
                    pending.insert(v["client_id"].as_str().unwrap().to_string(), v);
                }
                Some("reject") => panic!("unexpected reject: {v}"),
                _ => {}
            }
        }
        (model, pending)
    }))
    .await;
    // Replay each client's own acked changes into its model (it knows what it sent).
    let mut finals = Vec::new();
    for (n, (mut model, acks)) in models.into_iter().enumerate() {
        assert_eq!(acks.len(), 13, "client {n} got every ack");
        for (cid, ack) in &acks {
            let seq = ack["seq"].as_i64().unwrap();
            let suffix = cid.split_once('-').unwrap().1;
            let (id, content) = match suffix {
                s if s.starts_with('c') => (
                    format!("w{n}-{}", &s[1..]),
                    Some(ink(
                        s[1..].parse::<u32>().unwrap() % 3,
                        &format!("w{n}-{}", &s[1..]),
                    )),
                ),
                s if s.starts_with('u') => (
                    format!("w{n}-{}", &s[1..]),
                    Some(ink(0, &format!("{n}-{}-v2", &s[1..]))),
                ),
                "d" => (format!("w{n}-4"), None),
                shared => (shared.to_string(), Some(ink(1, &format!("{n}")))),
            };
            model.apply(id, seq, content);
        }
        finals.push(model.live());
    }
    for m in &finals[1..] {
        assert_eq!(m, &finals[0], "every client holds the same state");
    }
    let fresh = Ws::join(&server, &token, None).await;
    assert_eq!(fresh.welcome["head_seq"], expected_head);
    assert_eq!(
        Model::from_records(&fresh.welcome["records"]).live(),
        finals[0],
        "a fresh join agrees"
    );
    assert_eq!(finals[0].len(), 2 + 20 * 4);

    let status = server.stop();
    assert!(status.success());
    let restarted = Server::start_with(options).await;
    let after = restarted.records("doc").await;
    assert_eq!(after["head_seq"], expected_head);
    assert_eq!(
        Model::from_records(&after["records"]).live(),
        finals[0],
        "a restart agrees"
    );
}

async fn every_acknowledged_change_survives_sigkill(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        data_dir: Some(dir.path().join("data")),
        ..backend.options()
    };
    let server = server_with_doc(options.clone()).await;
    let token = server.token("doc", "u", &["all"]).await;

    // Five clients write as fast as the server acknowledges, in windows of 20 changes, one of
    // which is always invalid (and must be rejected, and absent after the restart).
    let writers = (0..5).map(|n| {
        let token = token.clone();
        let server = &server;
        async move {
            let mut ws = Ws::join(server, &token, None).await;
            let mut acked = HashSet::new();
            let mut rejected = HashSet::new();
            for round in 0.. {
                let mut changes: Vec<Value> =
                    (0..19).map(|i| create(&format!("{n}-{round}-{i}"), &format!("k{n}-{round}-{i}"), 0)).collect();
                changes.push(json!({"client_id": format!("{n}-{round}-bad"), "op": "create", "kind": "annotation",
                                    "id": format!("bad{n}-{round}"), "content": {"v": 2, "type": "pspdfkit/ink", "pageIndex": 99, "bbox": [0, 0, 1, 1]}}));
                if !ws.send_raw(Message::Text(json!({"type": "changes", "changes": changes}).to_string().into())).await {
                    break;
                }
                let mut answered = 0;
                while answered < 20 {
                    match ws.try_recv(crate::common::TIMEOUT).await {
                        Ok(v) if v["type"] == "ack" => {
                            acked.insert(v["client_id"].as_str().unwrap().replacen(&format!("{n}-"), &format!("k{n}-"), 1));
                            answered += 1;
                        }
                        Ok(v) if v["type"] == "reject" => {
                            rejected.insert(format!("bad{n}-{round}"));
                            answered += 1;
                        }
                        Ok(_) => {}
                        Err(_) => return (acked, rejected),
                    }
                }
            }
            (acked, rejected)
        }
    });
    let killer = async {
        // Kill once the clients have had 600 changes acknowledged between them.
        let mut probe = Ws::join(&server, &token, None).await;
        loop {
            let v = probe.recv().await;
            if v["type"] == "change" && v["seq"].as_i64().unwrap() >= 600 {
                break;
            }
        }
        unsafe { libc::kill(server.pid() as i32, libc::SIGKILL) };
    };
    let (results, ()) = tokio::join!(join_all(writers), killer);
    drop(server);

    let restarted = Server::start_with(options).await;
    let after = restarted.records("doc").await;
    let present: HashSet<String> = after["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let mut total_acked = 0;
    for (acked, rejected) in results {
        total_acked += acked.len();
        for id in &acked {
            // client ids `n-round-i` map to record ids `kn-round-i`
            assert!(present.contains(id), "acknowledged change {id} was lost");
        }
        for id in &rejected {
            assert!(!present.contains(id), "rejected change {id} is present");
        }
    }
    assert!(
        total_acked >= 500,
        "the clients were writing when the server died ({total_acked} acks)"
    );
    assert!(
        present.len() >= total_acked,
        "records: {} acked: {total_acked}",
        present.len()
    );
}

async fn malformed_input_gets_a_clear_close_and_changes_nothing(backend: Backend) {
    let server = server_with_doc(backend.options()).await;
    let token = server.token("doc", "u", &["all"]).await;
    let mut bystander = Ws::join(&server, &token, None).await;
    bystander.change(create("b0", "before", 0)).await;

    let cases: Vec<(Message, bool, &str)> = vec![
        (Message::Text("{not json".into()), false, "invalid message"),
        (
            Message::Text(r#"{"type":"launch_missiles"}"#.into()),
            false,
            "unknown message type",
        ),
        (
            Message::Binary(vec![0u8, 159, 146, 150].into()),
            false,
            "binary frames",
        ),
        (
            Message::Text(
                json!({"type": "changes", "changes": [create("x", "early", 0)]})
                    .to_string()
                    .into(),
            ),
            false,
            "first message must be hello",
        ),
        (
            Message::Text(
                json!({"type": "changes", "changes": [create("x", "y", 0)], "extra": true})
                    .to_string()
                    .into(),
            ),
            true,
            "unknown field",
        ),
        (
            Message::Text(json!({"type": "hello", "token": token}).to_string().into()),
            true,
            "hello was already sent",
        ),
        (
            Message::Text(
                format!(
                    r#"{{"type":"ping","pad":"{}"}}"#,
                    "x".repeat(2 * 1024 * 1024)
                )
                .into(),
            ),
            true,
            "bad frame",
        ),
    ];
    for (msg, after_hello, needle) in cases {
        let mut ws = if after_hello {
            Ws::join(&server, &token, None).await
        } else {
            Ws::open(&server).await
        };
        ws.send_raw(msg).await;
        let closed = ws.closed().await;
        assert_eq!(closed.code, 4000, "{needle}: {closed:?}");
        assert!(closed.reason.contains(needle), "{needle}: {closed:?}");
    }

    // Invalid changes are rejected one by one, with reasons.
    let mut ws = Ws::join(&server, &token, None).await;
    for (change, code) in [
        (
            json!({"client_id": "i1", "op": "create", "kind": "annotation", "id": "bad/id", "content": ink(0, "x")}),
            "invalid",
        ),
        (
            json!({"client_id": "i2", "op": "create", "kind": "annotation", "id": "p", "content": ink(7, "x")}),
            "invalid",
        ),
        (
            json!({"client_id": "i3", "op": "create", "id": "nokind", "content": ink(0, "x")}),
            "invalid",
        ),
        (
            json!({"client_id": "i4", "op": "create", "kind": "annotation", "id": "big", "content": {"v": 2, "type": "pspdfkit/note", "pageIndex": 0, "bbox": [0,0,1,1], "pad": "x".repeat(70_000)}}),
            "too_large",
        ),
        (
            json!({"client_id": "i5", "op": "create", "kind": "annotation", "id": "before", "content": ink(0, "x")}),
            "already_exists",
        ),
        (
            json!({"client_id": "i6", "op": "delete", "id": "ghost"}),
            "not_found",
        ),
    ] {
        let r = ws.change(change).await;
        assert_eq!(r["code"], code, "{r}");
    }
    let many: Vec<Value> = (0..101)
        .map(|i| create(&format!("m{i}"), &format!("m{i}"), 0))
        .collect();
    ws.send(json!({"type": "changes", "changes": many})).await;
    assert_eq!(ws.recv_type("reject").await["code"], "too_large");

    // 10,000 frames in a burst: the sender is cut off, the others carry on.
    let mut flood = Ws::join(&server, &token, None).await;
    let mut sent = 0;
    for _ in 0..10_000 {
        if !flood
            .send_raw(Message::Text(r#"{"type":"ping"}"#.into()))
            .await
        {
            break;
        }
        sent += 1;
    }
    let closed = flood.closed().await;
    assert_eq!(closed.code, 4006, "after {sent} frames: {closed:?}");
    assert_eq!(
        bystander.change(create("b1", "after", 0)).await["type"],
        "ack",
        "other sessions keep working"
    );
    let records = server.records("doc").await;
    let ids: Vec<&str> = records["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["before", "after"], "nothing else changed");

    // No hello within 5 seconds closes the socket.
    let mut silent = Ws::open(&server).await;
    let closed = silent.closed().await;
    assert_eq!(closed.code, 4007, "{closed:?}");
}

async fn a_slow_reader_is_disconnected_while_others_keep_receiving(backend: Backend) {
    let server = server_with_doc(Options {
        extra_args: vec!["--ws-outbox-capacity".into(), "64".into()],
        ..backend.options()
    })
    .await;
    let token = server.token("doc", "u", &["all"]).await;
    let mut slow = Ws::open_with_small_buffer(&server).await;
    slow.send(json!({"type": "hello", "token": token})).await;
    slow.welcome = slow.recv_type("welcome").await; // and never read again
    let slow_id = slow.welcome["session_id"].as_str().unwrap().to_string();
    let mut readers = Vec::new();
    for _ in 0..10 {
        readers.push(Ws::join(&server, &token, None).await);
    }
    // 400 changes of ~60 KB each, through the backend, 20 per request.
    let pad = "x".repeat(60_000);
    let total = 400;
    let writer = async {
        for batch in 0..total / 20 {
            let changes: Vec<Value> = (0..20)
                .map(|i| {
                    let id = format!("big-{batch}-{i}");
                    let mut content = ink(0, &id);
                    content["pad"] = json!(pad);
                    json!({"client_id": id, "op": "create", "kind": "annotation", "id": id, "content": content})
                })
                .collect();
            let res = server
                .backend(Method::POST, "/api/documents/doc/changes")
                .json(&json!({"changes": changes}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        }
    };
    let reading = join_all(readers.iter_mut().map(|ws| {
        let slow_id = slow_id.clone();
        async move {
            let (mut changes, mut saw_slow_leave) = (0, false);
            while changes < total || !saw_slow_leave {
                let v = ws.recv().await;
                if v["type"] == "change" {
                    changes += 1;
                } else if presence_events(&v)
                    .iter()
                    .any(|e| e["event"] == "left" && e["session_id"] == slow_id.as_str())
                {
                    saw_slow_leave = true;
                }
            }
            changes
        }
    }));
    let ((), counts) = tokio::join!(writer, reading);
    assert!(
        counts.iter().all(|&c| c == total),
        "every reader got every change: {counts:?}"
    );
    drop(slow);
}

/// A commit that lost the race to another writer (the sequence row moved under the actor, as
/// when another node committed first) keeps the session open: the actor reads what it missed
/// from the log, fans it out, and commits the change again after it.
async fn a_commit_that_lost_the_race_catches_up_and_is_acknowledged(backend: Backend) {
    use sea_orm::{ConnectionTrait, Database};
    let server = server_with_doc(backend.options()).await;
    let token = server.token("doc", "u", &["all"]).await;
    let mut a = Ws::join(&server, &token, None).await;
    assert_eq!(a.change(create("c1", "r1", 0)).await["seq"], 1);

    // Another writer (as another node would) commits seq 2: its record, its log entry and the
    // sequence row, in one transaction.
    let db = Database::connect(backend.database_url(&server))
        .await
        .unwrap();
    let content = ink(0, "elsewhere").to_string().replace('\'', "''");
    db.execute_unprepared(&format!(
        "BEGIN; \
         INSERT INTO records (document_id, layer, id, kind, content, creator, seq, created_at, updated_at) \
           VALUES ('doc', '', 'other', 'annotation', '{content}', 'x', 2, 1, 1); \
         INSERT INTO changes (document_id, seq, layer, record_id, kind, op, content, author, creator, created_at, at) \
           VALUES ('doc', 2, '', 'other', 'annotation', 'create', '{content}', 'x', 'x', 1, 1); \
         UPDATE documents SET head_seq = 2 WHERE id = 'doc'; COMMIT;"
    ))
    .await
    .unwrap();

    a.send(json!({"type": "changes", "changes": [create("c2", "r2", 0)]}))
        .await;
    let missed = a.recv_type("change").await;
    assert_eq!(
        (missed["seq"].as_i64(), missed["id"].as_str()),
        (Some(2), Some("other"))
    );
    let ack = a.recv_type("ack").await;
    assert_eq!(
        (ack["client_id"].as_str(), ack["seq"].as_i64()),
        (Some("c2"), Some(3)),
        "{ack}"
    );

    let b = Ws::join(&server, &token, None).await;
    assert_eq!(b.welcome["head_seq"], 3);
    let ids: Vec<&str> = b.welcome["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["r1", "other", "r2"]);
}

/// When the log no longer holds what the actor missed (the sequence row moved with no log
/// entries, as after a pruned log), it refuses the batch as `unavailable` and closes its sessions
/// with `reconnect`; reconnecting gets the document as stored and the change goes through.
async fn a_lost_race_past_the_log_refuses_and_asks_to_reconnect(backend: Backend) {
    use sea_orm::{ConnectionTrait, Database};
    let server = server_with_doc(backend.options()).await;
    let token = server.token("doc", "u", &["all"]).await;
    let mut a = Ws::join(&server, &token, None).await;
    assert_eq!(a.change(create("c1", "r1", 0)).await["seq"], 1);
    let db = Database::connect(backend.database_url(&server))
        .await
        .unwrap();
    db.execute_unprepared("UPDATE documents SET head_seq = head_seq + 10 WHERE id = 'doc'")
        .await
        .unwrap();

    a.send(json!({"type": "changes", "changes": [create("c2", "r2", 0)]}))
        .await;
    let r = a.recv_type("reject").await;
    assert_eq!(r["code"], "unavailable", "{r}");
    let closed = a.closed().await;
    assert_eq!(closed.code, 4008, "{closed:?}");
    // Nothing of the refused change was stored.
    assert_eq!(
        server.records("doc").await["records"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let mut b = Ws::join(&server, &token, Some(1)).await;
    assert_eq!(b.welcome["head_seq"], 11);
    let r = b.change(create("c2", "r2", 0)).await;
    assert_eq!(
        (r["type"].as_str(), r["seq"].as_i64()),
        (Some("ack"), Some(12)),
        "{r}"
    );
}

async fn shutdown_closes_live_sessions_with_a_reason(backend: Backend) {
    let server = server_with_doc(backend.options()).await;
    let token = server.token("doc", "u", &["all"]).await;
    let mut a = Ws::join(&server, &token, None).await;
    let usage = server.get_json("/api/usage").await;
    assert_eq!(
        usage["total_opens"], 1,
        "a WebSocket join is a metered open"
    );
    let pid = server.pid();
    let waiter = std::thread::spawn(move || server.stop());
    let closed = a.closed().await;
    assert_eq!(closed.code, 1001, "{closed:?}");
    assert!(closed.reason.starts_with("shutting_down"), "{closed:?}");
    assert!(
        waiter.join().unwrap().success(),
        "server {pid} exits cleanly"
    );
}
