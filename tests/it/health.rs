//! Liveness, readiness and graceful shutdown.

use reqwest::StatusCode;

use crate::common::{expect_json, Server};

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
