//! PostgreSQL for tests, two ways:
//!
//! - [`TempDatabase`]: a fresh database on the shared server at 127.0.0.1:5432 (user `postgres`,
//!   trust auth; `.ci/run` starts it), dropped afterwards. For tests that only need *a*
//!   PostgreSQL.
//! - [`PrivatePostgres`]: a server of the test's own (`initdb` into a temp dir, `postgres` on a
//!   free port), for tests that stop and start the database: stopping the shared one would break
//!   every other test running at the time.
//!
//! Both are prerequisites a plain `cargo test` may not have: tests that use them are marked
//! `#[ignore = "needs PostgreSQL ..."]` and carry `postgres` in their name, so `make test` runs
//! them (`cargo test --test it -- --ignored postgres`) where PostgreSQL is present, and fails under
//! `CI=true` where it is not. Inside a test, a missing PostgreSQL is a failure, never a silent
//! return.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{ConnectOptions, ConnectionTrait, Database};

/// The shared server's maintenance database, used to create and drop test databases.
pub const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// How long a server may take to start or to shut down.
const PG_TIMEOUT: Duration = Duration::from_secs(60);

/// A fresh database on the shared server at 127.0.0.1:5432, dropped on drop.
pub struct TempDatabase {
    name: String,
}

impl TempDatabase {
    /// Creates the database; panics (fails the test) when the server does not answer.
    pub async fn create() -> TempDatabase {
        let admin = Database::connect(ADMIN_URL).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at 127.0.0.1:5432 is not answering ({e}); this test needs it \
                 (`make test` runs PostgreSQL tests only when it answers; `.ci/run` starts it)"
            )
        });
        let name = format!("quire_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        TempDatabase { name }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside the test's runtime; use a small one of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(admin) = Database::connect(ADMIN_URL).await {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// The `bin` directory of the highest PostgreSQL version under `/usr/lib/postgresql` (Debian's
/// layout), or `$QUIRE_TEST_PG_BIN` when set. `None` when there is none.
pub fn server_binaries() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("QUIRE_TEST_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin)
}

/// A PostgreSQL server of the test's own: a temp data dir, 127.0.0.1 on a free port, trust auth,
/// its unix socket inside the temp dir. Killed (immediate shutdown) and removed on drop.
///
/// PostgreSQL refuses to run as root; when the tests run as root (CI does), `initdb` and
/// `postgres` run as the `postgres` OS user, which owns the temp dir.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// `(uid, gid)` to run as, when we are root.
    run_as: Option<(u32, u32)>,
    child: Option<Child>,
    logs: Arc<Mutex<Vec<String>>>,
}

impl PrivatePostgres {
    /// Runs `initdb` and starts the server; returns once it accepts connections.
    pub async fn new() -> PrivatePostgres {
        let bin = server_binaries().expect(
            "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (apt-get install \
             postgresql, or set QUIRE_TEST_PG_BIN); this test needs them",
        );
        let dir = tempfile::Builder::new()
            .prefix("quire-pg-")
            .tempdir()
            .expect("temp dir");
        let run_as = if unsafe { libc::geteuid() } == 0 {
            let ids = postgres_user().expect(
                "running as root, and there is no `postgres` OS user to run PostgreSQL as \
                 (it refuses to run as root)",
            );
            std::os::unix::fs::chown(dir.path(), Some(ids.0), Some(ids.1))
                .expect("chown the temp dir to postgres");
            Some(ids)
        } else {
            None
        };
        let mut pg = PrivatePostgres {
            dir,
            bin,
            port: 0,
            run_as,
            child: None,
            logs: Arc::new(Mutex::new(Vec::new())),
        };
        pg.initdb();
        // The free port is found by binding and releasing it; another process may take it in
        // between, so a start that fails to bind tries another port.
        for attempt in 1..=3 {
            pg.port = free_port();
            match pg.try_start().await {
                Ok(()) => return pg,
                Err(log) if attempt < 3 && log.contains("could not bind") => continue,
                Err(log) => panic!("postgres did not start; its log:\n{log}"),
            }
        }
        unreachable!()
    }

    /// A URL for the `postgres` database as user `postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The postmaster's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Every line the server logged so far, joined.
    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Fast shutdown (SIGINT: open sessions are disconnected, transactions rolled back, a
    /// checkpoint written); returns once the server has exited.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            panic!("stop: postgres is not running");
        };
        unsafe {
            libc::kill(child.id() as i32, libc::SIGINT);
        }
        let status = tokio::time::timeout(
            PG_TIMEOUT,
            tokio::task::spawn_blocking(move || child.wait()),
        )
        .await
        .unwrap_or_else(|_| panic!("postgres did not shut down within {PG_TIMEOUT:?}"))
        .expect("wait task")
        .expect("wait for postgres");
        assert!(
            status.success(),
            "postgres exited with {status:?}; its log:\n{}",
            self.log_text()
        );
    }

    /// Starts the server again on the same data dir and port; returns once it accepts
    /// connections.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "start: postgres is already running");
        if let Err(log) = self.try_start().await {
            panic!("postgres did not start again; its log:\n{log}");
        }
    }

    fn initdb(&self) {
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(self.data_dir())
            .args([
                "--username=postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Spawns `postgres` and polls a connection until it answers, the process exits (the `Err`
    /// carries its log) or the timeout passes.
    async fn try_start(&mut self) -> Result<(), String> {
        self.logs.lock().unwrap().clear();
        let mut child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                // Tests need no durability across an OS crash; a killed server loses nothing
                // either way, as its writes are in the OS cache.
                "-c",
                "fsync=off",
                "-c",
                "shared_buffers=16MB",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn postgres");
        let stderr = child.stderr.take().expect("stderr");
        let sink = self.logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[postgres] {line}");
                sink.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + PG_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("poll postgres") {
                return Err(format!("(exited with {status:?})\n{}", self.log_text()));
            }
            let mut options = ConnectOptions::new(self.url());
            options
                .max_connections(1)
                .connect_timeout(Duration::from_secs(1))
                .acquire_timeout(Duration::from_secs(1))
                .sqlx_logging(false);
            if let Ok(db) = Database::connect(options).await {
                let ok = db.execute_unprepared("SELECT 1").await.is_ok();
                let _ = db.close().await;
                if ok {
                    self.child = Some(child);
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "(not accepting connections within {PG_TIMEOUT:?})\n{}",
                    self.log_text()
                ));
            }
            // Between two connection attempts; readiness itself is what we wait for.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A command for one of the server binaries, run as the `postgres` user when we are root.
    fn command(&self, name: &str) -> Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(self.bin.join(name));
        cmd.current_dir(self.dir.path())
            .env_remove("PGDATA")
            .stdin(Stdio::null());
        if let Some((uid, gid)) = self.run_as {
            // std drops the supplementary groups when root sets a uid.
            cmd.uid(uid).gid(gid);
        }
        cmd
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // Immediate shutdown: the postmaster stops its children and releases shared memory.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGQUIT);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The uid and gid of the `postgres` OS user.
fn postgres_user() -> Option<(u32, u32)> {
    let name = std::ffi::CString::new("postgres").unwrap();
    // SAFETY: getpwnam returns a pointer to static storage or null; read it at once.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        None
    } else {
        Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}
