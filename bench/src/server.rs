//! The server under test: a child process this benchmark starts (so its memory and CPU can be
//! read from /proc without the load generator's), or a server that is already running.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Where the server runs and how to reach it.
pub struct Target {
    pub base: String,
    /// Every node's URL (`base` first): clients are spread over them.
    pub bases: Vec<String>,
    pub api_key: String,
    child: Option<Child>,
    /// The processes of an external server (`--server-pid`), for its CPU and memory.
    external_pids: Vec<u32>,
    /// Arguments to restart a managed server with (cold-open measures a fresh process).
    restart: Option<(Vec<String>, PathBuf)>,
    _dir: Option<tempfile::TempDir>,
}

pub const BENCH_API_KEY: &str = "quire-bench-api-key-0123456789";

impl Target {
    /// Already running servers (several nodes of one deployment, or one).
    pub fn external(urls: &[String], api_key: &str, pids: &[u32]) -> Target {
        let bases: Vec<String> = urls
            .iter()
            .map(|u| u.trim_end_matches('/').to_string())
            .collect();
        Target {
            base: bases[0].clone(),
            bases,
            api_key: api_key.to_string(),
            child: None,
            external_pids: pids.to_vec(),
            restart: None,
            _dir: None,
        }
    }

    /// Starts `quire serve` as a child of this process (this binary re-executed with the hidden
    /// `serve-child` command), in a temporary data dir unless `database_url` says otherwise.
    pub fn managed(server_args: &[String]) -> std::io::Result<Target> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let args = server_args.to_vec();
        let (child, base) = spawn(&args, &data)?;
        Ok(Target {
            bases: vec![base.clone()],
            base,
            api_key: BENCH_API_KEY.to_string(),
            child: Some(child),
            external_pids: Vec::new(),
            restart: Some((args, data)),
            _dir: Some(dir),
        })
    }

    /// The server's processes whose CPU and memory a run reports: the child this benchmark
    /// started, or the `--server-pid`s given; empty when neither is known.
    pub fn pids(&self) -> Vec<u32> {
        match &self.child {
            Some(c) => vec![c.id()],
            None => self.external_pids.clone(),
        }
    }

    /// Stops and restarts a managed server on the same data; false for an external one.
    pub fn restart(&mut self) -> std::io::Result<bool> {
        let Some((args, data)) = self.restart.clone() else {
            return Ok(false);
        };
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            c.wait()?;
        }
        let (child, base) = spawn(&args, &data)?;
        self.child = Some(child);
        self.bases = vec![base.clone()];
        self.base = base;
        Ok(true)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }
}

fn spawn(args: &[String], data: &std::path::Path) -> std::io::Result<(Child, String)> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .arg("serve-child")
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(args)
        .env("QUIRE_API_KEY", BENCH_API_KEY)
        .env("QUIRE_LOG_FORMAT", "json")
        .env(
            "RUST_LOG",
            std::env::var("QUIRE_BENCH_SERVER_LOG")
                .unwrap_or_else(|_| "warn,quire::app=info".into()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if v["message"] == "listening" {
                    if let (Some(tx), Some(addr)) = (tx.take(), v["addr"].as_str()) {
                        let _ = tx.send(addr.to_string());
                    }
                    continue;
                }
            }
            eprintln!("[server] {line}");
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| std::io::Error::other("the server did not start within 60 s"))?;
    Ok((child, format!("http://{addr}")))
}

/// Resident memory of the processes together, in bytes; `None` if there are none or one cannot
/// be read.
pub fn rss_bytes(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&p| rss_of(p)).sum()
}

/// CPU seconds (user + system) the processes have used together; `None` if there are none or
/// one cannot be read.
pub fn cpu_seconds(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&p| cpu_of(p)).sum()
}

/// Resident memory of a process, in bytes (from /proc/PID/status).
fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU seconds (user + system) a process has used (from /proc/PID/stat).
fn cpu_of(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((utime + stime) / ticks)
}

/// Raises this process's open-file limit as far as allowed; returns the new soft limit.
pub fn raise_fd_limit() -> u64 {
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        let wanted = lim.rlim_max.min(1 << 20);
        if lim.rlim_cur < wanted {
            lim.rlim_cur = wanted;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
        lim.rlim_cur
    }
}
