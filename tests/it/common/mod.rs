//! The test harness: starts the real `quire` binary on an ephemeral port with a temporary data
//! dir, and talks to it over HTTP like any client.

#![allow(dead_code)]

pub mod backend;
pub mod pdf;
pub mod pg;
pub mod raw_ws;
pub mod ws;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

/// The binary under test.
pub fn quire_bin() -> &'static str {
    env!("CARGO_BIN_EXE_quire")
}

/// How long to wait for the server to start or for any single request.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Options for [`Server::start_with`].
#[derive(Default, Clone)]
pub struct Options {
    pub database_url: Option<String>,
    pub extra_args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Reuse an existing data dir (e.g. to restart on the same state).
    pub data_dir: Option<PathBuf>,
}

/// A running `quire serve` child process; killed on drop.
pub struct Server {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    pub api_key: String,
    pub http: Client,
    pub logs: Arc<Mutex<Vec<String>>>,
}

/// The bootstrap API key every test server accepts.
pub const API_KEY: &str = "test-bootstrap-api-key-0123456789abcdef";

impl Server {
    /// A server on the embedded default (SQLite + local blobs in a fresh temp dir).
    pub async fn start() -> Server {
        Server::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Server {
        let (temp, data_dir) = match &options.data_dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let temp = tempfile::tempdir().expect("temp dir");
                let dir = temp.path().join("data");
                (Some(temp), dir)
            }
        };
        let mut cmd = Command::new(quire_bin());
        cmd.args([
            "--log-format",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data_dir)
        .args(&options.extra_args)
        .env("QUIRE_API_KEY", API_KEY)
        .env("RUST_LOG", "info")
        .env_remove("QUIRE_DATABASE_URL")
        .env_remove("QUIRE_BLOB_URL")
        .env_remove("QUIRE_ROOT_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        if let Some(url) = &options.database_url {
            cmd.args(["--database-url", url]);
        }
        for (k, v) in &options.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn quire serve");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if v["message"] == "listening" {
                        if let (Some(tx), Some(addr)) = (tx.take(), v["addr"].as_str()) {
                            let _ = tx.send(addr.to_string());
                        }
                    }
                }
                eprintln!("[server] {line}");
                sink.lock().unwrap().push(line);
            }
        });
        let addr = rx.recv_timeout(TIMEOUT).unwrap_or_else(|_| {
            panic!(
                "server did not start; its log:\n{}",
                logs.lock().unwrap().join("\n")
            )
        });
        Server {
            child,
            base: format!("http://{addr}"),
            data_dir,
            _temp: temp,
            api_key: API_KEY.to_string(),
            http: Client::builder().timeout(TIMEOUT).build().unwrap(),
            logs,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request with the backend API key.
    pub fn backend(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.api_key)
    }

    /// A request with a session token.
    pub fn client(&self, token: &str, path: &str) -> RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(token)
    }

    /// Uploads a PDF as a raw body; `query` is e.g. `?id=x&title=y`.
    pub async fn upload_raw(&self, bytes: Vec<u8>, query: &str) -> Response {
        self.backend(reqwest::Method::POST, &format!("/api/documents{query}"))
            .header("content-type", "application/pdf")
            .body(bytes)
            .send()
            .await
            .expect("upload")
    }

    /// Uploads a PDF that must be accepted; returns its metadata.
    pub async fn upload_ok(&self, bytes: Vec<u8>, id: &str) -> Value {
        let res = self.upload_raw(bytes, &format!("?id={id}")).await;
        expect_json(res, StatusCode::CREATED).await
    }

    /// Mints a session token that must be accepted; returns the whole response.
    pub async fn mint(&self, body: Value) -> Value {
        let res = self
            .backend(reqwest::Method::POST, "/api/sessions")
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_json(res, StatusCode::CREATED).await
    }

    /// Mints a token for `doc` with `permissions`; returns the token string.
    pub async fn token(&self, doc: &str, user: &str, permissions: &[&str]) -> String {
        let v = self
            .mint(json!({"document_id": doc, "user_id": user, "permissions": permissions}))
            .await;
        v["token"].as_str().unwrap().to_string()
    }

    /// A backend GET that must answer 200; returns its JSON body.
    pub async fn get_json(&self, path: &str) -> Value {
        let res = self
            .backend(reqwest::Method::GET, path)
            .send()
            .await
            .expect("backend GET");
        expect_json(res, StatusCode::OK).await
    }

    /// A document's committed records, as the backend reads them.
    pub async fn records(&self, doc: &str) -> Value {
        self.get_json(&format!("/api/documents/{doc}/records"))
            .await
    }

    /// `POST /api/tokens/revoke` with `body`.
    pub async fn revoke(&self, body: &Value) -> Response {
        self.backend(reqwest::Method::POST, "/api/tokens/revoke")
            .json(body)
            .send()
            .await
            .expect("revoke")
    }

    /// The root public key as `ed25519/<hex>`.
    pub async fn public_key(&self) -> String {
        let res = self
            .backend(reqwest::Method::GET, "/api/keys/public")
            .send()
            .await
            .unwrap();
        expect_json(res, StatusCode::OK).await["public_key"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The server process id (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every log line so far, joined.
    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Waits until the server's log holds `needle` at least `count` times (log lines arrive
    /// through a pipe, a moment after what they describe), or fails the test.
    pub async fn log_shows(&self, needle: &str, count: usize) {
        tokio::time::timeout(TIMEOUT, async {
            while self.log_text().matches(needle).count() < count {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the log never showed `{needle}` {count} times"));
    }

    /// Stops the server with SIGTERM and waits for it to exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().expect("wait for server")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts the status and returns the JSON body (printing it on mismatch).
pub async fn expect_json(res: Response, status: StatusCode) -> Value {
    let got = res.status();
    let text = res.text().await.unwrap_or_default();
    assert_eq!(got, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Asserts an error response: status, stable code, and a JSON body with a message.
pub async fn expect_error(res: Response, status: StatusCode, code: &str) -> Value {
    let body = expect_json(res, status).await;
    assert_eq!(body["code"], code, "unexpected error code: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "no message: {body}"
    );
    body
}

/// Runs the `quire` CLI with `args` and returns stdout, asserting success.
pub fn cli(args: &[&str], stdin: Option<&str>) -> String {
    let out = cli_output(args, stdin);
    assert!(
        out.status.success(),
        "quire {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs the `quire` CLI and returns its raw output, whatever the exit status.
pub fn cli_output(args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(quire_bin())
        .args(args)
        .env_remove("QUIRE_ROOT_KEY")
        .env_remove("QUIRE_DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn quire");
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

/// `../shared/testdata/pdfs`, the real-world corpus beside the clone (CI has it; a fresh clone
/// may not). Tests that use it are marked `#[ignore = "needs ../shared/testdata/pdfs ..."]` and
/// live in `testdata::`, which `make test` runs when the corpus is there; a test that calls this
/// without it fails rather than passing silently.
pub fn shared_pdfs() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/pdfs");
    assert!(
        dir.is_dir(),
        "{} is missing; this test needs the real-world PDF corpus (`make test` runs it only \
         when present)",
        dir.display()
    );
    dir
}

/// A fixture from `tests/fixtures`.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .expect("fixture")
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A `kB` field of a process's `/proc/<pid>/status` (`VmRSS`, `VmHWM`…), in KiB.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

/// The server's resident memory in KiB (`VmRSS` of the child process).
pub fn rss_kib(server: &Server) -> u64 {
    proc_status_kib(server.pid(), "VmRSS")
}

/// Samples the server's RSS while `work` runs; returns the growth over the baseline in KiB.
pub async fn rss_growth_during<F: std::future::Future>(server: &Server, work: F) -> u64 {
    let baseline = rss_kib(server);
    let mut peak = baseline;
    tokio::pin!(work);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tokio::select! {
            _ = &mut work => break,
            _ = tick.tick() => peak = peak.max(rss_kib(server)),
        }
    }
    peak = peak.max(rss_kib(server));
    peak.saturating_sub(baseline)
}
