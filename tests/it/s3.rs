//! The storage suite against a real S3-compatible server (moto's, from PyPI), started here on an
//! ephemeral port: the same code path as production's `--blob-url s3://bucket/prefix`. Ignored by a
//! plain `cargo test`; `make test` runs it with moto from its venv.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Options, Server};

/// A moto S3 server; killed on drop.
struct S3Server {
    child: Child,
    endpoint: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl S3Server {
    /// Starts moto's server; panics (fails the test) when it cannot be run.
    async fn start() -> S3Server {
        let bin = std::env::var("QUIRE_TEST_MOTO").unwrap_or_else(|_| "moto_server".into());
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("no S3-compatible server ({bin}: {e}); this test needs moto_server (`make test` provides it, as QUIRE_TEST_MOTO)")
            });
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        // Wait until it accepts connections.
        let deadline = Instant::now() + Duration::from_secs(60);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "moto_server did not start");
            tokio::task::yield_now().await;
        }
        server
    }
}

#[tokio::test]
#[ignore = "needs moto_server (make test provides it)"]
async fn storage_round_trip_on_s3() {
    let s3 = S3Server::start().await;
    let http = reqwest::Client::new();
    let res = http
        .put(format!("{}/quire-test", s3.endpoint))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "create bucket: {}", res.status());
    let env = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT", s3.endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let server = Server::start_with(Options {
        extra_args: vec!["--blob-url".into(), "s3://quire-test/tenant-a".into()],
        env,
        ..Default::default()
    })
    .await;
    let ready = server.http.get(server.url("/readyz")).send().await.unwrap();
    assert!(ready.status().is_success());
    crate::storage::round_trip(&server).await;

    // The blobs live in the bucket under the prefix: the three `later-*` documents remain.
    let listing = http
        .get(format!("{}/quire-test?prefix=tenant-a/", s3.endpoint))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        listing.matches("<Key>tenant-a/sha256/").count(),
        3,
        "{listing}"
    );
    assert!(
        crate::common::files_under(&server.data_dir.join("blobs")).is_empty(),
        "nothing written locally"
    );
}

/// Three nodes on one PostgreSQL database and one S3 bucket (moto): a document uploaded
/// through node 1 is served by node 3, and the delete-while-uploading race across nodes never
/// loses the bytes. Needs PostgreSQL too (its name puts it in that group as well).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto_server and PostgreSQL at 127.0.0.1:5432 (make test provides them)"]
async fn postgres_three_nodes_share_one_bucket() {
    let s3 = S3Server::start().await;
    let res = reqwest::Client::new()
        .put(format!("{}/quire-nodes", s3.endpoint))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "create bucket: {}", res.status());
    let env: Vec<(String, String)> = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT", s3.endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let db = crate::common::pg::TempDatabase::create().await;
    let c = crate::scale::cluster_with(&db.url(), 3, "s3://quire-nodes/shared", &env).await;
    let pdf = crate::common::pdf::one_page("bucket");
    c.nodes[0].upload_ok(pdf.clone(), "doc").await;
    let res = c.nodes[2]
        .backend(reqwest::Method::GET, "/api/documents/doc/file")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().as_ref(), pdf.as_slice());
    crate::scale::blob_race(&c, 5).await;
}
