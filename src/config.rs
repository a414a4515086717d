//! Server configuration: every option is a flag and a `QUIRE_*` environment variable (flags win).

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

/// Where Quire keeps its state. Shared by `serve` and the offline commands (`keys`, `token mint`).
#[derive(Args, Debug, Clone)]
pub struct StorageArgs {
    /// Directory for the embedded database, local blobs and the root key.
    #[arg(long, env = "QUIRE_DATA_DIR", default_value = "./quire-data")]
    pub data_dir: PathBuf,

    /// Database URL: `sqlite://PATH` or `postgres://USER@HOST/DB`. Default: SQLite in the data dir.
    #[arg(long, env = "QUIRE_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl StorageArgs {
    /// The database URL to connect to, defaulting to SQLite inside the data directory.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("quire.db").display()))
    }

    /// Creates the data directory (mode 0700) if it does not exist. Only `quire serve` does
    /// this; the other commands use [`StorageArgs::require_data_dir`].
    pub fn create_data_dir(&self) -> std::io::Result<()> {
        create_private_dir(&self.data_dir)
    }

    /// Checks that the data directory exists, for the commands that use a server's state
    /// (`keys`, `token mint`). Creating an empty one there would hide a wrong working directory
    /// or a forgotten `--data-dir` behind a fresh database or a new root key.
    pub fn require_data_dir(&self) -> Result<(), String> {
        if self.data_dir.is_dir() {
            return Ok(());
        }
        let shown = std::path::absolute(&self.data_dir).unwrap_or_else(|_| self.data_dir.clone());
        Err(format!(
            "the data directory {} does not exist; pass --data-dir (or set QUIRE_DATA_DIR) to the one `quire serve` uses, or run `quire serve` to create it",
            shown.display()
        ))
    }

    /// Whether the database lives in the data dir (no `--database-url`).
    pub fn uses_embedded_database(&self) -> bool {
        self.database_url.is_none()
    }
}

/// Creates `dir` and its parents; the leaf gets mode 0700 on Unix.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Log output format.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Everything `quire serve` needs.
#[derive(Args, Debug, Clone)]
pub struct Config {
    #[command(flatten)]
    pub storage: StorageArgs,

    /// Address to listen on (`HOST:PORT`; port 0 picks a free port).
    #[arg(long, env = "QUIRE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Address to serve Prometheus metrics on (`GET /metrics`), so they need not be public.
    /// Unset: `/metrics` is served on `--listen` with the rest, without credentials.
    #[arg(long, env = "QUIRE_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,

    /// Milliseconds before the first retry of a failed webhook delivery; doubled per failure,
    /// up to 10 minutes.
    #[arg(long, env = "QUIRE_WEBHOOK_RETRY_BASE_MS", default_value_t = 1000)]
    pub webhook_retry_base_ms: u64,

    /// Blob store URL: `file:///ABSOLUTE/DIR` or `s3://BUCKET/PREFIX` (credentials and endpoint
    /// from the standard `AWS_*` variables). Default: `blobs/` inside the data dir.
    #[arg(long, env = "QUIRE_BLOB_URL")]
    pub blob_url: Option<String>,

    /// Largest accepted PDF upload, in bytes. Uploads are spooled to a file in the data dir as
    /// they arrive, so this bounds disk use per upload, not memory.
    #[arg(long, env = "QUIRE_MAX_UPLOAD_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub max_upload_bytes: u64,

    /// PDF uploads checked at once (each in a child process); others wait for a slot.
    #[arg(long, env = "QUIRE_PDF_PARSE_CONCURRENCY", default_value_t = 2)]
    pub pdf_parse_concurrency: usize,

    /// Seconds an upload waits for a parse slot before it is refused with 503 `busy`.
    #[arg(long, env = "QUIRE_PDF_PARSE_QUEUE_TIMEOUT", default_value_t = 10)]
    pub pdf_parse_queue_timeout: u64,

    /// Seconds one PDF check may take before it is stopped and the upload refused.
    #[arg(long, env = "QUIRE_PDF_PARSE_TIMEOUT", default_value_t = 30)]
    pub pdf_parse_timeout: u64,

    /// Memory one PDF check may use, in bytes (the file itself included).
    #[arg(long, env = "QUIRE_PDF_PARSE_MEMORY", default_value_t = 512 * 1024 * 1024)]
    pub pdf_parse_memory: u64,

    /// Most bytes one compressed stream of an uploaded PDF may inflate to.
    #[arg(long, env = "QUIRE_PDF_MAX_STREAM_BYTES", default_value_t = crate::pdf::DEFAULT_MAX_STREAM_BYTES)]
    pub pdf_max_stream_bytes: usize,

    /// Session token lifetime when a request names none, in seconds.
    #[arg(long, env = "QUIRE_DEFAULT_TOKEN_LIFETIME", default_value_t = 3600)]
    pub default_token_lifetime: u64,

    /// Longest session token lifetime a request may ask for, in seconds.
    #[arg(long, env = "QUIRE_MAX_TOKEN_LIFETIME", default_value_t = 7 * 24 * 3600)]
    pub max_token_lifetime: u64,

    /// Longest session token accepted, in bytes; longer ones are refused with `token_too_large`
    /// before anything else is done with them.
    #[arg(long, env = "QUIRE_MAX_TOKEN_BYTES", default_value_t = crate::auth::shape::DEFAULT_MAX_TOKEN_BYTES)]
    pub max_token_bytes: usize,

    /// Origins allowed to call the client API from a browser (comma-separated; `*` for any).
    #[arg(long, env = "QUIRE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Sites allowed to show the dashboard and viewer pages in a frame: the `frame-ancestors`
    /// sources of their Content-Security-Policy, space-separated (`'self'`,
    /// `https://app.example.com`). Default `'none'`: no site may frame them.
    #[arg(long, env = "QUIRE_FRAME_ANCESTORS", default_value = "'none'", value_parser = crate::http::assets::check_frame_ancestors)]
    pub frame_ancestors: String,

    /// A bootstrap API key accepted in addition to the keys created with `quire keys create`.
    #[arg(long, env = "QUIRE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// The root private key (`ed25519-private/<hex>`). Default: `root_key` in the data dir,
    /// created on first start.
    #[arg(long, env = "QUIRE_ROOT_KEY", hide_env_values = true)]
    pub root_key: Option<String>,

    /// Changes kept per document for clients that reconnect with `since`; older ones get a
    /// snapshot.
    #[arg(long, env = "QUIRE_CHANGE_LOG_RETENTION", default_value_t = 10_000)]
    pub change_log_retention: i64,

    /// Days of audit history kept (fractions allowed: 0.5 is twelve hours). Older entries are
    /// pruned by the audit maintenance task through a snapshot of each layer, so `at_seq` reads
    /// from the snapshot's sequence number on still work (docs/audit.md). Default: keep forever.
    #[arg(long, env = "QUIRE_AUDIT_RETENTION_DAYS", value_parser = parse_retention_days)]
    pub audit_retention_days: Option<f64>,

    /// Record changes of one layer between two audit snapshots: an `at_seq` read replays at
    /// most about this many audit rows after the newest snapshot at or below it.
    #[arg(long, env = "QUIRE_AUDIT_SNAPSHOT_EVERY", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub audit_snapshot_every: u64,

    /// Seconds between two runs of the audit maintenance task (snapshots and retention); the
    /// first run is one interval after start-up.
    #[arg(long, env = "QUIRE_AUDIT_MAINTENANCE_INTERVAL", default_value_t = 60.0, value_parser = parse_interval)]
    pub audit_maintenance_interval: f64,

    /// Seconds a document actor without sessions stays in memory.
    #[arg(long, env = "QUIRE_DOCUMENT_IDLE_TIMEOUT", default_value_t = 30)]
    pub document_idle_timeout: u64,

    /// Most records one document may hold, over all layers; past it a create is refused with
    /// `limit_exceeded`.
    #[arg(
        long,
        env = "QUIRE_MAX_RECORDS_PER_DOCUMENT",
        default_value_t = 100_000
    )]
    pub max_records_per_document: usize,

    /// Most bytes of record content one document may hold, over all layers; past it a create
    /// or update is refused with `limit_exceeded`.
    #[arg(long, env = "QUIRE_MAX_RECORD_BYTES_PER_DOCUMENT", default_value_t = 256 * 1024 * 1024)]
    pub max_record_bytes_per_document: usize,

    /// Most changes waiting for a document's next commit; past it changes are refused with
    /// `busy`.
    #[arg(long, env = "QUIRE_MAX_PENDING_CHANGES", default_value_t = 10_000)]
    pub max_pending_changes: usize,

    /// Most bytes of record content waiting for a document's next commit; past it changes are
    /// refused with `busy`.
    #[arg(long, env = "QUIRE_MAX_PENDING_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_pending_bytes: usize,

    /// Least milliseconds between two commits of one document. A busy document's changes that
    /// arrive within it are committed, acknowledged and fanned out together: one transaction and
    /// one socket write per session instead of one per change. A document that was quiet for
    /// this long commits at once. 0 commits every change as soon as it can.
    #[arg(long, env = "QUIRE_COMMIT_INTERVAL_MS", default_value_t = 5)]
    pub commit_interval_ms: u64,

    /// Least records a document holds for it to store a snapshot of them when it closes (idle,
    /// or at shutdown), so that its next open reads one row instead of every record; 0 stores
    /// none (docs/deploy.md, Snapshots).
    #[arg(long, env = "QUIRE_SNAPSHOT_MIN_RECORDS", default_value_t = 1_000)]
    pub snapshot_min_records: usize,

    /// Threads that run document actors (default: one per core).
    #[arg(long, env = "QUIRE_DOCUMENT_THREADS")]
    pub document_threads: Option<usize>,

    /// Frames per second a WebSocket client may send (bursts up to 5× that are absorbed).
    #[arg(long, env = "QUIRE_WS_FRAMES_PER_SECOND", default_value_t = 200)]
    pub ws_frames_per_second: u32,

    /// Messages queued for a WebSocket client before it counts as too slow and is disconnected.
    #[arg(long, env = "QUIRE_WS_OUTBOX_CAPACITY", default_value_t = 1024)]
    pub ws_outbox_capacity: usize,

    /// SQLite durability: `normal` survives a crash of the process, `full` also a power loss.
    #[arg(
        long,
        env = "QUIRE_SQLITE_SYNCHRONOUS",
        value_enum,
        default_value = "normal"
    )]
    pub sqlite_synchronous: crate::db::SqliteSync,

    /// Seconds to let in-flight requests finish after SIGTERM or SIGINT.
    #[arg(long, env = "QUIRE_SHUTDOWN_TIMEOUT", default_value_t = 10)]
    pub shutdown_timeout: u64,
}

impl Config {
    /// How uploads are checked: in a child process running this same executable
    /// (`quire inspect-pdf`), or in process when the executable cannot be found.
    pub fn inspector(&self) -> crate::pdf::InspectorConfig {
        // On Linux the running image itself, which stays executable even when an upgrade
        // replaces or deletes the file it was started from.
        let running = if cfg!(target_os = "linux") {
            Ok(PathBuf::from("/proc/self/exe"))
        } else {
            std::env::current_exe()
        };
        let program = match running {
            Ok(exe) => Some(exe),
            Err(e) => {
                tracing::warn!(error = %e, "cannot find the quire executable: PDFs are checked in process, without a memory ceiling");
                None
            }
        };
        crate::pdf::InspectorConfig {
            program,
            max_concurrent: self.pdf_parse_concurrency.max(1),
            queue_timeout: std::time::Duration::from_secs(self.pdf_parse_queue_timeout),
            timeout: std::time::Duration::from_secs(self.pdf_parse_timeout.max(1)),
            max_memory_bytes: self.pdf_parse_memory,
            max_stream_bytes: self.pdf_max_stream_bytes,
        }
    }

    /// The blob store URL, defaulting to a directory inside the data dir.
    pub fn blob_url(&self) -> std::io::Result<String> {
        if let Some(url) = &self.blob_url {
            return Ok(url.clone());
        }
        let dir = std::path::absolute(self.storage.data_dir.join("blobs"))?;
        Ok(format!("file://{}", dir.display()))
    }
}

/// `--audit-retention-days`: a finite number of days, more than 0 and at most a hundred years.
fn parse_retention_days(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(d) if d > 0.0 && d <= 36_500.0 => Ok(d),
        _ => Err("a number of days, more than 0 and at most 36500".into()),
    }
}

/// `--audit-maintenance-interval`: seconds, from 0.05 to a day.
fn parse_interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(d) if (0.05..=86_400.0).contains(&d) => Ok(d),
        _ => Err("a number of seconds from 0.05 to 86400".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_retention_and_interval_are_bounded() {
        assert_eq!(parse_retention_days("30"), Ok(30.0));
        assert_eq!(parse_retention_days("0.5"), Ok(0.5));
        for bad in ["0", "-1", "NaN", "inf", "36501", "thirty"] {
            assert!(parse_retention_days(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_interval("60"), Ok(60.0));
        for bad in ["0", "0.01", "NaN", "86401", "x"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }
}
