//! Audit snapshots and retention: `at_seq` reads match a replay of what the test did before and
//! after snapshots were taken (and go on matching once the rows a snapshot covers are gone, so
//! the snapshot is what they read); the retention prunes old history, keeps every layer
//! readable from the newest pruned sequence number on, refuses earlier reads with 410
//! `history_pruned`, and drops deleted documents' history.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};

use crate::common::backend::{on_both_backends, Backend};
use crate::common::ws::{create, ink, Ws};
use crate::common::{expect_error, expect_json, pdf, Server, TIMEOUT};

on_both_backends!(
    at_seq_reads_from_snapshots_match_a_replay,
    the_retention_prunes_old_history_and_refuses_reads_before_it,
    the_retention_prunes_a_busy_layer_through_its_regular_snapshots
);

/// A layer's records: id → (rev, content).
type State = HashMap<String, (i64, Value)>;

/// A live session making scripted changes (creates, updates, deletes over a few ids) and the
/// state after each sequence number.
struct Script {
    ws: Ws,
    model: State,
    after: Vec<State>,
    step: u32,
}

impl Script {
    async fn start(server: &Server) -> Script {
        let token = server.token("doc", "alice", &["all"]).await;
        Script {
            ws: Ws::join(server, &token, None).await,
            model: State::new(),
            after: vec![State::new()],
            step: 0,
        }
    }

    async fn changes(&mut self, n: u32) {
        for _ in 0..n {
            let i = self.step;
            self.step += 1;
            let id = format!("ink-{}", i % 5);
            let change = match self.model.get(&id) {
                None => create(&format!("c{i}"), &id, i % 3),
                Some((rev, _)) if i.is_multiple_of(4) => {
                    json!({"client_id": format!("c{i}"), "op": "delete", "id": id, "base_rev": rev})
                }
                Some((rev, _)) => {
                    let mut content = ink(i % 3, &id);
                    content["bbox"] = json!([i, i, 100, 50]);
                    json!({"client_id": format!("c{i}"), "op": "update", "id": id, "base_rev": rev, "content": content})
                }
            };
            let ack = self.ws.change(change.clone()).await;
            assert_eq!(ack["type"], "ack", "{ack}");
            let seq = ack["seq"].as_i64().unwrap();
            assert_eq!(seq, self.after.len() as i64);
            if change["op"] == "delete" {
                self.model.remove(&id);
            } else {
                self.model.insert(id, (seq, change["content"].clone()));
            }
            self.after.push(self.model.clone());
        }
    }

    fn head(&self) -> i64 {
        self.after.len() as i64 - 1
    }
}

async fn records_at(server: &Server, at_seq: i64) -> State {
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

/// The server's JSON log lines whose message is `message`.
fn log_lines(server: &Server, message: &str) -> Vec<Value> {
    server
        .log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == message)
        .collect()
}

/// The values of `field` in the server's JSON log lines whose message is `message`.
fn logged(server: &Server, message: &str, field: &str) -> Vec<i64> {
    log_lines(server, message)
        .iter()
        .filter_map(|v| v[field].as_i64())
        .collect()
}

/// Reads before `oldest` are refused with 410 `history_pruned` naming it; reads from it on
/// match the script.
async fn reads_from(server: &Server, script: &Script, oldest: i64) {
    for seq in 0..oldest {
        let res = server
            .backend(
                Method::GET,
                &format!("/api/documents/doc/records?at_seq={seq}"),
            )
            .send()
            .await
            .unwrap();
        let body = expect_error(res, StatusCode::GONE, "history_pruned").await;
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains(&format!("oldest readable `at_seq` is {oldest}")),
            "{body}"
        );
    }
    for seq in oldest..=script.head() {
        assert_eq!(
            &records_at(server, seq).await,
            &script.after[seq as usize],
            "at_seq={seq}"
        );
    }
}

async fn at_seq_reads_from_snapshots_match_a_replay(backend: Backend) {
    let mut options = backend.options();
    options.extra_args.extend(
        [
            "--audit-snapshot-every",
            "5",
            "--audit-maintenance-interval",
            "0.05",
        ]
        .map(String::from),
    );
    let server = Server::start_with(options).await;
    server.upload_ok(pdf::with_pages(3, "snap"), "doc").await;
    let mut script = Script::start(&server).await;
    // Rounds of six changes: each round makes at least one snapshot due.
    for round in 1..=4 {
        script.changes(6).await;
        server.log_shows("audit snapshot taken", round).await;
    }
    script.changes(3).await;
    let snapshots = logged(&server, "audit snapshot taken", "seq");
    // Never closer than the interval: a snapshot is due after five changes since the last one.
    assert!(snapshots.len() >= 4, "{snapshots:?}");
    assert!(snapshots[0] >= 5, "{snapshots:?}");
    assert!(
        snapshots.windows(2).all(|w| w[1] - w[0] >= 5),
        "{snapshots:?}"
    );

    for (seq, expected) in script.after.iter().enumerate() {
        assert_eq!(
            &records_at(&server, seq as i64).await,
            expected,
            "at_seq={seq}"
        );
    }

    // Without the rows the first snapshot covers, reads from it on still match: they start from
    // the snapshot, not from the log.
    let first = snapshots[0];
    let db = Database::connect(backend.database_url(&server))
        .await
        .unwrap();
    let deleted = db
        .execute_unprepared(&format!(
            "DELETE FROM audit_events WHERE document_id = 'doc' AND seq <= {first}"
        ))
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(deleted, first as u64);
    for seq in first..=script.head() {
        assert_eq!(
            &records_at(&server, seq).await,
            &script.after[seq as usize],
            "at_seq={seq} after the rows under the snapshot went"
        );
    }
}

async fn the_retention_prunes_old_history_and_refuses_reads_before_it(backend: Backend) {
    // Three seconds of history (in days); the maintenance task runs every 50 ms.
    let days = format!("{}", 3.0 / 86_400.0);
    let mut options = backend.options();
    options.extra_args.extend([
        "--audit-retention-days".into(),
        days,
        "--audit-maintenance-interval".into(),
        "0.05".into(),
    ]);
    let server = Server::start_with(options).await;
    // A document deleted at once: its history goes with the retention.
    server.upload_ok(pdf::with_pages(1, "gone"), "gone").await;
    let res = server
        .backend(Method::POST, "/api/documents/gone/changes")
        .json(&json!({"changes": [create("g1", "g1", 0)]}))
        .send()
        .await
        .unwrap();
    expect_json(res, StatusCode::OK).await;
    let res = server
        .backend(Method::DELETE, "/api/documents/gone")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    server.upload_ok(pdf::with_pages(3, "kept"), "doc").await;
    let mut script = Script::start(&server).await;
    script.changes(10).await;
    let pruned_through = script.head();

    // Once the ten changes are older than the retention, the layer is pruned through 10.
    tokio::time::timeout(TIMEOUT, async {
        while !logged(&server, "audit history pruned", "through").contains(&pruned_through) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the history is pruned once older than the retention");

    script.changes(5).await;
    reads_from(&server, &script, pruned_through).await;
    // The live document agrees with the replay of its head.
    let live = server.records("doc").await;
    assert_eq!(
        live["records"].as_array().unwrap().len(),
        script.model.len()
    );

    // History keeps what is younger than the retention: the last five changes.
    let history = server
        .get_json("/api/documents/doc/history?kind=record.")
        .await;
    let seqs: Vec<i64> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (pruned_through + 1..=script.head()).collect::<Vec<_>>()
    );
    // The deleted document's history, its upload, change and deletion, is gone.
    let gone = server.get_json("/api/documents/gone/history").await;
    assert_eq!(gone["events"], json!([]), "{gone}");
}

async fn the_retention_prunes_a_busy_layer_through_its_regular_snapshots(backend: Backend) {
    let days = format!("{}", 3.0 / 86_400.0);
    let mut options = backend.options();
    options.extra_args.extend([
        "--audit-retention-days".into(),
        days,
        "--audit-snapshot-every".into(),
        "5".into(),
        "--audit-maintenance-interval".into(),
        "0.05".into(),
    ]);
    let server = Server::start_with(options).await;
    server.upload_ok(pdf::with_pages(3, "busy"), "doc").await;
    let mut script = Script::start(&server).await;
    // Rounds of exactly five changes: each snapshot lands on the round's last change.
    for round in 1..=2 {
        script.changes(5).await;
        server.log_shows("audit snapshot taken", round).await;
    }
    let regular: Vec<i64> = log_lines(&server, "audit snapshot taken")
        .iter()
        .filter(|v| v["base"] == false)
        .filter_map(|v| v["seq"].as_i64())
        .collect();
    assert_eq!(regular, [5, 10]);

    // The prune through 10 goes through the snapshot the task had taken anyway: none is taken
    // for it. (When the first round took longer than the slack, a tenth of the retention, part
    // of it may have been pruned first through a base snapshot of its own.)
    tokio::time::timeout(TIMEOUT, async {
        while !logged(&server, "audit history pruned", "through").contains(&10) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the history is pruned once older than the retention");
    let at_ten: Vec<Value> = log_lines(&server, "audit snapshot taken")
        .into_iter()
        .filter(|v| v["seq"] == 10)
        .collect();
    assert_eq!(at_ten.len(), 1, "{at_ten:?}");
    assert_eq!(at_ten[0]["base"], false);
    reads_from(&server, &script, 10).await;
}
