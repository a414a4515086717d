//! Running the PDF parser where it cannot hurt the server: in a child process (`quire
//! inspect-pdf`, hidden from `--help`) with a ceiling on its memory, a wall-clock limit after
//! which it is killed, and a bound on how many run at once.
//!
//! lopdf bounds each decompressed stream, but not the document: a file can hold many streams
//! just under the bound, and parsed objects take many times the bytes of their text (a 100 MiB
//! array of zeros becomes gigabytes of `Object`s). Rather than guess at every way a parse can
//! grow, the child gets a fixed allowance; a parse that needs more dies alone, and its upload is
//! refused with `pdf_too_costly`. A child that runs too long is killed, so its permit is only
//! returned once nothing of it is left running.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

pub use super::exchange_child::ExportPdfArgs;
use super::exchange_child::{export_files, read_annotations};
use super::{inspect_with, Error, Info};

/// How the server checks uploaded PDFs.
#[derive(Debug, Clone)]
pub struct InspectorConfig {
    /// The `quire` executable to run as `quire inspect-pdf`. `None` parses in this process on a
    /// blocking thread (with the concurrency and stream bounds, but no memory ceiling and no way
    /// to stop a parse that overruns): for tools and unit tests only.
    pub program: Option<PathBuf>,
    /// Parses that may run at once; further uploads wait for a slot.
    pub max_concurrent: usize,
    /// How long an upload waits for a parse slot before it is refused with 503 `busy`.
    pub queue_timeout: Duration,
    /// Wall-clock limit of one parse; past it the child is killed and the upload refused.
    pub timeout: Duration,
    /// Memory one parse may use (the child's data segment limit), file bytes included.
    pub max_memory_bytes: u64,
    /// Most bytes one stream may decompress to (see [`super::inspect_with`]).
    pub max_stream_bytes: usize,
}

impl Default for InspectorConfig {
    fn default() -> Self {
        InspectorConfig {
            program: None,
            max_concurrent: 2,
            queue_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_memory_bytes: 512 * 1024 * 1024,
            max_stream_bytes: super::DEFAULT_MAX_STREAM_BYTES,
        }
    }
}

/// Checks PDFs within the configured bounds. Cheap to share (`Arc` it).
pub struct Inspector {
    config: InspectorConfig,
    permits: Arc<Semaphore>,
}

/// What the child reports on its standard output: one JSON object.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub(super) enum Report {
    Valid {
        page_count: u32,
        /// Absent from reports of older executables: the geometry is then read on first use.
        #[serde(default)]
        pages: Vec<crate::exchange::geometry::PageGeometry>,
    },
    /// `quire export-pdf` wrote its output file.
    Exported {
        summary: crate::exchange::pdf_export::Summary,
    },
    NotPdf {
        message: String,
    },
    Encrypted,
    Damaged {
        message: String,
    },
    TooCostly {
        message: String,
    },
    Failed {
        message: String,
    },
}

impl From<Result<Info, Error>> for Report {
    fn from(outcome: Result<Info, Error>) -> Report {
        match outcome {
            Ok(info) => Report::Valid {
                page_count: info.page_count,
                pages: info.pages,
            },
            Err(Error::NotPdf(message)) => Report::NotPdf { message },
            Err(Error::Encrypted) => Report::Encrypted,
            Err(Error::Damaged(message)) => Report::Damaged { message },
            Err(Error::TooCostly(message)) => Report::TooCostly { message },
            Err(Error::Internal(message)) => Report::Failed { message },
            Err(e @ Error::Busy) => Report::Failed {
                message: e.to_string(),
            },
        }
    }
}

impl From<Report> for Result<Info, Error> {
    fn from(report: Report) -> Self {
        match report {
            Report::Valid { page_count, pages } => Ok(Info { page_count, pages }),
            Report::NotPdf { message } => Err(Error::NotPdf(message)),
            Report::Encrypted => Err(Error::Encrypted),
            Report::Damaged { message } => Err(Error::Damaged(message)),
            Report::TooCostly { message } => Err(Error::TooCostly(message)),
            Report::Failed { message } => Err(Error::Internal(message)),
            Report::Exported { .. } => Err(Error::Internal(
                "the parser answered an inspection with an export report".into(),
            )),
        }
    }
}

impl Report {
    /// The outcome of an export: its summary, or why it failed.
    pub(super) fn into_export(self) -> Result<crate::exchange::pdf_export::Summary, Error> {
        match self {
            Report::Exported { summary } => Ok(summary),
            Report::Valid { .. } => Err(Error::Internal(
                "the parser answered an export with an inspection report".into(),
            )),
            other => Err(Result::<Info, Error>::from(other)
                .err()
                .unwrap_or_else(|| Error::Internal("unreachable".into()))),
        }
    }
}

impl Inspector {
    pub fn new(config: InspectorConfig) -> Inspector {
        let permits = Arc::new(Semaphore::new(config.max_concurrent.max(1)));
        Inspector { config, permits }
    }

    pub fn config(&self) -> &InspectorConfig {
        &self.config
    }

    /// Checks the PDF in the file at `path`: waits up to the queue timeout for a slot (else
    /// [`Error::Busy`]), then parses within the memory and time limits.
    pub async fn inspect_file(&self, path: &Path) -> Result<Info, Error> {
        let permit = tokio::time::timeout(
            self.config.queue_timeout,
            self.permits.clone().acquire_owned(),
        )
        .await
        .map_err(|_| Error::Busy)?
        .map_err(|_| Error::Internal("the parse slots were closed".into()))?;
        let started = std::time::Instant::now();
        let parsed = self.parse(permit, path).await;
        crate::metrics::observe_since(&crate::metrics::get().pdf_parse_seconds, started);
        parsed
    }

    /// Parses with the slot `permit` taken.
    async fn parse(
        &self,
        permit: tokio::sync::OwnedSemaphorePermit,
        path: &Path,
    ) -> Result<Info, Error> {
        match &self.config.program {
            Some(program) => self.run_child(program, path).await,
            None => {
                let path = path.to_path_buf();
                let max_stream_bytes = self.config.max_stream_bytes;
                // The permit moves into the blocking task: if the wait below gives up, the slot
                // stays taken until the parse really ends, so the concurrency bound holds.
                let parse = tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    let bytes = std::fs::read(&path)
                        .map_err(|e| Error::Internal(format!("reading the upload: {e}")))?;
                    inspect_with(&bytes, max_stream_bytes)
                });
                match tokio::time::timeout(self.config.timeout, parse).await {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(_)) => Err(Error::Damaged("the parser failed on it".into())),
                    Err(_) => Err(self.timed_out()),
                }
            }
        }
    }

    fn timed_out(&self) -> Error {
        Error::TooCostly(format!(
            "opening it took longer than the {} s the server allows",
            self.config.timeout.as_secs_f32()
        ))
    }

    async fn run_child(&self, program: &Path, path: &Path) -> Result<Info, Error> {
        let args = vec![
            "inspect-pdf".into(),
            "--max-memory-bytes".into(),
            self.config.max_memory_bytes.to_string().into(),
            "--max-stream-bytes".into(),
            self.config.max_stream_bytes.to_string().into(),
            path.into(),
        ];
        self.run_program(program, args).await?.into()
    }

    /// Runs `program args` within the memory and time limits and reads its report.
    async fn run_program(
        &self,
        program: &Path,
        args: Vec<std::ffi::OsString>,
    ) -> Result<Report, Error> {
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            // The child needs nothing from the environment, and must not see the server's
            // secrets (API key, root key, database and S3 credentials).
            .env_clear()
            .env("RUST_LOG", "off")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Dropping the wait (the timeout below) kills the child.
            .kill_on_drop(true);
        let child = command
            .spawn()
            .map_err(|e| Error::Internal(format!("starting {}: {e}", program.display())))?;
        let output = match tokio::time::timeout(self.config.timeout, child.wait_with_output()).await
        {
            Ok(Ok(output)) => output,
            Ok(Err(e)) => return Err(Error::Internal(format!("waiting for the parser: {e}"))),
            Err(_) => return Err(self.timed_out()),
        };
        match serde_json::from_slice::<Report>(&output.stdout) {
            Ok(report) => Ok(report),
            // No report: the child died. Out of its memory allowance is by far the likeliest
            // cause (an allocation failure aborts it); a crash on the file is the other.
            Err(_) => {
                tracing::warn!(status = %output.status, "the PDF parser child stopped without a report");
                Err(out_of_memory(self.config.max_memory_bytes))
            }
        }
    }

    /// Checks the PDF at `path` like [`Self::inspect_file`] and writes the annotations it
    /// already holds to `out` as an Instant JSON document (see
    /// [`crate::exchange::pdf_import`]), within the same bounds.
    pub async fn read_annotations(&self, path: &Path, out: &Path) -> Result<Info, Error> {
        let permit = tokio::time::timeout(
            self.config.queue_timeout,
            self.permits.clone().acquire_owned(),
        )
        .await
        .map_err(|_| Error::Busy)?
        .map_err(|_| Error::Internal("the parse slots were closed".into()))?;
        match &self.config.program {
            Some(program) => {
                let args = vec![
                    "inspect-pdf".into(),
                    "--max-memory-bytes".into(),
                    self.config.max_memory_bytes.to_string().into(),
                    "--max-stream-bytes".into(),
                    self.config.max_stream_bytes.to_string().into(),
                    "--annotations-out".into(),
                    out.into(),
                    path.into(),
                ];
                let report = self.run_program(program, args).await;
                drop(permit);
                report?.into()
            }
            None => {
                let (path, out) = (path.to_path_buf(), out.to_path_buf());
                let max_stream_bytes = self.config.max_stream_bytes;
                let work = tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    read_annotations(&path, &out, max_stream_bytes)
                });
                match tokio::time::timeout(self.config.timeout, work).await {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(_)) => Err(Error::Damaged("the parser failed on it".into())),
                    Err(_) => Err(self.timed_out()),
                }
            }
        }
    }

    /// Writes the PDF at `pdf` with the Instant JSON document at `doc` (see
    /// [`crate::exchange::pdf_export`]) to `out`, within the same slots, memory and time limits
    /// as an upload check: exporting parses the PDF too.
    pub async fn export_pdf(
        &self,
        pdf: &Path,
        doc: &Path,
        out: &Path,
        flatten: bool,
    ) -> Result<crate::exchange::pdf_export::Summary, Error> {
        let permit = tokio::time::timeout(
            self.config.queue_timeout,
            self.permits.clone().acquire_owned(),
        )
        .await
        .map_err(|_| Error::Busy)?
        .map_err(|_| Error::Internal("the parse slots were closed".into()))?;
        match &self.config.program {
            Some(program) => {
                let mut args: Vec<std::ffi::OsString> = vec![
                    "export-pdf".into(),
                    "--max-memory-bytes".into(),
                    self.config.max_memory_bytes.to_string().into(),
                    "--max-stream-bytes".into(),
                    self.config.max_stream_bytes.to_string().into(),
                ];
                if flatten {
                    args.push("--flatten".into());
                }
                args.extend([pdf.into(), doc.into(), out.into()]);
                let report = self.run_program(program, args).await;
                drop(permit);
                report?.into_export()
            }
            None => {
                let (pdf, doc, out) = (pdf.to_path_buf(), doc.to_path_buf(), out.to_path_buf());
                let max_stream_bytes = self.config.max_stream_bytes;
                let work = tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    export_files(&pdf, &doc, &out, flatten, max_stream_bytes)
                });
                match tokio::time::timeout(self.config.timeout, work).await {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(_)) => Err(Error::Damaged("the writer failed on it".into())),
                    Err(_) => Err(self.timed_out()),
                }
            }
        }
    }
}

fn out_of_memory(max_memory_bytes: u64) -> Error {
    Error::TooCostly(format!(
        "opening it needs more than the {} MiB of memory the server allows",
        max_memory_bytes / (1024 * 1024)
    ))
}

/// The arguments of the child's command, `inspect-pdf`: every executable that runs a server
/// (`quire`, and `quire-bench`'s server) offers it, since the server runs its own executable.
#[derive(Debug, clap::Args)]
pub struct InspectPdfArgs {
    #[arg(long)]
    pub max_memory_bytes: u64,
    #[arg(long)]
    pub max_stream_bytes: usize,
    /// Also read the PDF's annotations (see [`crate::exchange::pdf_import`]) into this file, as
    /// an Instant JSON document.
    #[arg(long)]
    pub annotations_out: Option<PathBuf>,
    pub path: std::path::PathBuf,
}

impl InspectPdfArgs {
    /// Runs the child's side; see [`child_main`].
    pub fn run(&self) -> ExitCode {
        match &self.annotations_out {
            None => child_main(&self.path, self.max_memory_bytes, self.max_stream_bytes),
            Some(out) => {
                if let Err(e) = limit_memory(self.max_memory_bytes) {
                    return report(Err(Error::Internal(format!(
                        "setting the memory limit: {e}"
                    ))));
                }
                report(read_annotations(&self.path, out, self.max_stream_bytes))
            }
        }
    }
}

/// The child's side (`quire inspect-pdf`): limits its own memory, parses the file and writes one
/// JSON report to standard output.
pub fn child_main(path: &Path, max_memory_bytes: u64, max_stream_bytes: usize) -> ExitCode {
    if let Err(e) = limit_memory(max_memory_bytes) {
        // Without its ceiling the child must not parse: that is the point of running it.
        return report(Err(Error::Internal(format!(
            "setting the memory limit: {e}"
        ))));
    }
    let outcome = std::fs::read(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::OutOfMemory => out_of_memory(max_memory_bytes),
            _ => Error::Internal(format!("reading the upload: {e}")),
        })
        .and_then(|bytes| inspect_with(&bytes, max_stream_bytes));
    report(outcome)
}

pub(super) fn report(outcome: Result<Info, Error>) -> ExitCode {
    write_report(Report::from(outcome))
}

pub(super) fn write_report(report: Report) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let written = serde_json::to_writer(&mut out, &report).is_ok() && out.flush().is_ok();
    if written {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Sets this process's data segment limit (heap and private mappings; the executable's code is
/// not counted, so the limit means what it says whatever the binary's size).
#[cfg(unix)]
pub(super) fn limit_memory(bytes: u64) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    let resource = libc::RLIMIT_DATA;
    #[cfg(not(target_os = "linux"))]
    let resource = libc::RLIMIT_AS;
    let limit = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: bytes as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct we pass and touches no memory of ours.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(unix))]
pub(super) fn limit_memory(_bytes: u64) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_survives_the_trip_through_the_report() {
        let outcomes: Vec<Result<Info, Error>> = vec![
            Ok(Info {
                page_count: 1,
                pages: vec![crate::exchange::geometry::PageGeometry::new(None, None, 90)],
            }),
            Err(Error::NotPdf("x".into())),
            Err(Error::Encrypted),
            Err(Error::Damaged("y".into())),
            Err(Error::TooCostly("z".into())),
        ];
        for outcome in outcomes {
            let expected = format!("{outcome:?}");
            let json = serde_json::to_string(&Report::from(outcome)).unwrap();
            let back: Result<Info, Error> = serde_json::from_str::<Report>(&json).unwrap().into();
            assert_eq!(format!("{back:?}"), expected);
        }
    }

    #[tokio::test]
    async fn an_upload_that_finds_every_slot_taken_is_refused_as_busy() {
        let inspector = Inspector::new(InspectorConfig {
            max_concurrent: 1,
            queue_timeout: Duration::from_millis(20),
            ..InspectorConfig::default()
        });
        let _taken = inspector.permits.clone().acquire_owned().await.unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), crate::pdf::sample(1, "b")).unwrap();
        assert!(matches!(
            inspector.inspect_file(file.path()).await,
            Err(Error::Busy)
        ));
    }

    /// An executable script standing in for `quire inspect-pdf`.
    #[cfg(unix)]
    fn fake_child(dir: &Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("fake-quire");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        path
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_parse_past_the_time_limit_is_killed_and_refused_as_too_costly() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let program = fake_child(
            dir.path(),
            &format!("echo $$ > {}; exec sleep 30", pid_file.display()),
        );
        let inspector = Inspector::new(InspectorConfig {
            program: Some(program),
            timeout: Duration::from_millis(300),
            ..InspectorConfig::default()
        });
        let started = std::time::Instant::now();
        let outcome = inspector.inspect_file(&dir.path().join("any.pdf")).await;
        assert!(
            matches!(&outcome, Err(Error::TooCostly(m)) if m.contains("longer than")),
            "{outcome:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        // The child is gone (killed, then reaped), not left running.
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status"));
            let gone = status.map_or(true, |s| s.contains("State:\tZ"));
            if gone {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "child {pid} still runs"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Its slot is free again.
        assert_eq!(inspector.permits.available_permits(), 2);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_child_that_dies_without_a_report_is_refused_as_too_costly() {
        let dir = tempfile::tempdir().unwrap();
        let program = fake_child(dir.path(), "kill -ABRT $$");
        let inspector = Inspector::new(InspectorConfig {
            program: Some(program),
            ..InspectorConfig::default()
        });
        let outcome = inspector.inspect_file(&dir.path().join("any.pdf")).await;
        assert!(
            matches!(&outcome, Err(Error::TooCostly(m)) if m.contains("memory")),
            "{outcome:?}"
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_child_sees_none_of_the_servers_environment() {
        let dir = tempfile::tempdir().unwrap();
        let program = fake_child(
            dir.path(),
            r#"if [ -z "$QUIRE_SANDBOX_TEST_SECRET" ]; then echo '{"outcome":"valid","page_count":1}'; else echo '{"outcome":"valid","page_count":2}'; fi"#,
        );
        std::env::set_var("QUIRE_SANDBOX_TEST_SECRET", "secret");
        let inspector = Inspector::new(InspectorConfig {
            program: Some(program),
            ..InspectorConfig::default()
        });
        let outcome = inspector.inspect_file(&dir.path().join("any.pdf")).await;
        assert_eq!(outcome.unwrap().page_count, 1);
    }

    #[tokio::test]
    async fn in_process_inspection_counts_pages_of_a_file() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), crate::pdf::sample(2, "s")).unwrap();
        let inspector = Inspector::new(InspectorConfig::default());
        assert_eq!(
            inspector
                .inspect_file(file.path())
                .await
                .unwrap()
                .page_count,
            2
        );
    }
}
