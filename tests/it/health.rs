//! Liveness, readiness and graceful shutdown.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::ws::ink;
use crate::common::{expect_json, pdf, Options, Server};

#[tokio::test]
async fn health_and_readiness_answer_and_sigterm_shuts_down_cleanly() {
    let server = Server::start().await;
    let h = expect_json(
        server
            .http
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(h["status"], "ok");
    let r = expect_json(
        server.http.get(server.url("/readyz")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(r["status"], "ready");
    let status = server.stop();
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
}

/// SIGTERM while the audit maintenance task is inside a transaction: the task is stopped while
/// the runtime still runs. (It used to be dropped with the runtime, and the pooled connection it
/// held panicked in sqlx: exit status 101 and a backtrace instead of a clean shutdown.)
#[tokio::test]
async fn sigterm_during_audit_maintenance_shuts_down_cleanly() {
    let server = Server::start_with(Options {
        extra_args: [
            "--audit-snapshot-every",
            "1",
            "--audit-maintenance-interval",
            "0.05",
        ]
        .map(String::from)
        .to_vec(),
        ..Options::default()
    })
    .await;
    server.upload_ok(pdf::with_pages(1, "busy"), "doc").await;
    // 1,000 record changes, each making a snapshot of up to 1,000 records due: the task then
    // takes snapshots back to back, each in a transaction of its own.
    for round in 0..10 {
        let changes: Vec<_> = (0..100)
            .map(|i| {
                let id = format!("ink-{round}-{i}");
                json!({"client_id": id, "op": "create", "kind": "annotation", "id": id, "content": ink(0, &id)})
            })
            .collect();
        expect_json(
            server
                .backend(reqwest::Method::POST, "/api/documents/doc/changes")
                .json(&json!({ "changes": changes }))
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await;
    }
    server.log_shows("audit snapshot taken", 2).await;
    let logs = server.logs.clone();
    let status = server.stop();
    let logs = logs.lock().unwrap().join("\n");
    assert!(!logs.contains("panicked"), "the server panicked:\n{logs}");
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
}

#[tokio::test]
async fn an_unusable_configuration_fails_fast_with_a_reason() {
    // A data dir of its own: a shared path in /tmp may hold another checkout's database.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let out = crate::common::cli_output(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data,
            "--database-url",
            "mysql://nope",
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL"));
    let out = crate::common::cli_output(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data,
            "--blob-url",
            "ftp://x",
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported scheme"));
}
