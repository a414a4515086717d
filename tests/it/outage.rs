//! PostgreSQL going away under live sessions: writes are refused with the retryable code and
//! never acknowledged, sessions stay open, `/readyz` says not ready, and everything recovers by
//! itself when the database returns. Runs on a private PostgreSQL instance that the test stops
//! and starts, so the shared one keeps serving the other tests.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::json;

use crate::common::pg::PrivatePostgres;
use crate::common::ws::{create, Ws};
use crate::common::{Options, Server, TIMEOUT};
use crate::live::server_with_doc;

/// What one writer saw: the changes acknowledged and those refused as `unavailable`.
#[derive(Default)]
pub struct Tally {
    pub acked: Vec<String>,
    pub unavailable: usize,
    pub acked_after_outage: bool,
}

/// Writes one change at a time until `stop_at`, then until one more is acknowledged: every
/// change must be answered (ack or `unavailable`) and the socket must never close.
pub async fn write_through(mut ws: Ws, n: usize, stop_at: Instant) -> Tally {
    let mut tally = Tally::default();
    let mut i = 0;
    loop {
        let id = format!("w{n}-{i}");
        i += 1;
        ws.send(json!({"type": "changes", "changes": [create(&id, &id, 0)]}))
            .await;
        let answer = loop {
            let v = ws
                .try_recv(TIMEOUT)
                .await
                .unwrap_or_else(|e| panic!("writer {n}: no answer to {id}: {e:?}"));
            if v["type"] == "ack" || v["type"] == "reject" {
                break v;
            }
        };
        assert_eq!(answer["client_id"], id.as_str(), "{answer}");
        if answer["type"] == "ack" {
            tally.acked.push(id);
            if Instant::now() >= stop_at {
                tally.acked_after_outage = true;
                return tally;
            }
        } else {
            assert_eq!(answer["code"], "unavailable", "writer {n}: {answer}");
            tally.unavailable += 1;
            // A client backs off before it retries.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL server binaries (make test runs it)"]
async fn postgres_stopped_for_ten_seconds_refuses_writes_closes_nobody_and_recovers() {
    let mut pg = PrivatePostgres::new().await;
    let server = server_with_doc(Options {
        database_url: Some(pg.url()),
        ..Default::default()
    })
    .await;
    let token = server.token("doc", "u", &["all"]).await;
    let writers = join_all((0..5).map(|_| Ws::join(&server, &token, None))).await;
    let mut reader = Ws::join(&server, &token, None).await;
    assert_eq!(reader_records(&server, &token).await, StatusCode::OK);

    let outage = Duration::from_secs(10);
    let started = Instant::now();
    // The writers keep going through the outage and stop at their first ack after it.
    let stop_at = started + outage + Duration::from_millis(500);
    let work = tokio::spawn({
        async move {
            join_all(
                writers
                    .into_iter()
                    .enumerate()
                    .map(|(n, ws)| write_through(ws, n, stop_at)),
            )
            .await
        }
    });

    pg.stop().await;
    let down = Instant::now();
    // While it is down: not ready, with no internal text; reads of the loaded document work.
    let res = server.http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = res.text().await.unwrap();
    assert!(body.contains("database"), "{body}");
    assert!(
        !body.to_lowercase().contains("connect") && !body.contains("os error"),
        "{body}"
    );
    assert_eq!(reader_records(&server, &token).await, StatusCode::OK);
    // The outage lasts ten seconds of wall time: that is the scenario, not a wait for an event.
    tokio::time::sleep(outage.saturating_sub(down.elapsed())).await;
    pg.start().await;

    let tallies = tokio::time::timeout(Duration::from_secs(60), work)
        .await
        .expect("the writers finish once the database is back")
        .unwrap();
    let refused: usize = tallies.iter().map(|t| t.unavailable).sum();
    assert!(refused > 0, "writes during the outage were refused");
    assert!(tallies.iter().all(|t| t.acked_after_outage));

    // Ready again, by itself.
    tokio::time::timeout(TIMEOUT, async {
        loop {
            let res = server.http.get(server.url("/readyz")).send().await.unwrap();
            if res.status() == StatusCode::OK {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("/readyz recovers");

    // Every acknowledged change is in the database; nothing else is.
    let acked: HashSet<String> = tallies.iter().flat_map(|t| t.acked.clone()).collect();
    let db = Database::connect(pg.url()).await.unwrap();
    let rows = db
        .query_all(Statement::from_string(
            DbBackend::Postgres,
            "SELECT id FROM records WHERE document_id = 'doc'",
        ))
        .await
        .unwrap();
    let stored: HashSet<String> = rows
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect();
    assert_eq!(
        stored, acked,
        "the database holds exactly the acknowledged changes"
    );

    // The reader saw every acknowledged change and was never closed.
    let mut seen = HashSet::new();
    while seen.len() < acked.len() {
        let v = reader.recv().await;
        if v["type"] == "change" {
            seen.insert(v["id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(seen, acked);
    assert!(started.elapsed() < Duration::from_secs(90));
}

/// A read of the loaded document through the client API.
async fn reader_records(server: &Server, token: &str) -> StatusCode {
    server
        .client(token, "/api/client/records")
        .send()
        .await
        .unwrap()
        .status()
}
