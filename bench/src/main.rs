//! `quire-bench`: a load generator for Quire and the benchmark of its performance targets.
//!
//! It starts a server itself (embedded SQLite in a temporary directory, or `--database-url`) or
//! targets a running one (`--url`, `--api-key`), prepares documents and tokens through the
//! backend API, opens real WebSocket sessions and drives one scenario. Latencies come from HDR
//! histograms on this process's clock. See docs/performance.md.

mod client;
mod drive;
mod hot_doc;
mod report;
mod scenarios;
mod server;

use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "quire-bench",
    about = "Load generator and benchmarks for Quire"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// Target a running server instead of starting one. Repeat it to spread the clients over
    /// several nodes of one deployment (client `i` joins the `i mod n`-th); fan-out latency is
    /// then also reported for deliveries that crossed nodes.
    #[arg(long, requires = "api_key")]
    url: Vec<String>,
    /// API key of the running server.
    #[arg(long)]
    api_key: Option<String>,
    /// Process id of the running server (repeat for several processes or nodes), so a run with
    /// `--url` still reports the server's CPU and memory; without it they are not measured.
    #[arg(long = "server-pid", requires = "url")]
    server_pids: Vec<u32>,
    /// Database for the server this benchmark starts (default: SQLite in a temp dir).
    #[arg(long)]
    database_url: Option<String>,
    /// Extra `quire serve` flags for the started server (repeat: `--server-arg=--sqlite-synchronous=full`).
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up seconds, not measured.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
}

#[derive(Subcommand)]
enum Command {
    /// One document, many clients: fan-out latency.
    Fanout {
        #[arg(long, default_value_t = 100)]
        clients: usize,
        /// Changes per second across all clients.
        #[arg(long, default_value_t = 1000.0)]
        total_rate: f64,
        #[command(flatten)]
        common: Common,
    },
    /// Many documents, few clients each: committed changes per second.
    ManyDocs {
        #[arg(long, default_value_t = 200)]
        docs: usize,
        #[arg(long, default_value_t = 5)]
        clients: usize,
        /// Changes per second per client.
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        #[command(flatten)]
        common: Common,
    },
    /// One document, very many clients: a join storm with presence, then fan-out to all.
    HotDoc {
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// Changes per second across all clients.
        #[arg(long, default_value_t = 100.0)]
        total_rate: f64,
        #[command(flatten)]
        common: Common,
    },
    /// Many connected, silent sessions: memory per session.
    Idle {
        #[arg(long, default_value_t = 10_000)]
        sessions: usize,
        /// Documents the sessions are spread over (presence is all-to-all within a document).
        #[arg(long, default_value_t = 100)]
        docs: usize,
        #[command(flatten)]
        common: Common,
    },
    /// Open a document that holds many annotations: time to the welcome snapshot.
    ColdOpen {
        #[arg(long, default_value_t = 10_000)]
        annotations: usize,
        #[arg(long, default_value_t = 10)]
        warm_joins: usize,
        /// Restarts of the server, each followed by one cold join: a single cold open varies by
        /// ±10% between runs, so the report gives their median and range.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=50))]
        cold_runs: u32,
        #[command(flatten)]
        common: Common,
    },
    /// Internal: the server process the benchmark starts (`quire serve` with the same flags).
    #[command(hide = true)]
    ServeChild(Box<quire::config::Config>),
    /// Internal: the server checks each upload by running its own executable with this
    /// command (`quire inspect-pdf`); the benchmark's server is this executable.
    #[command(hide = true)]
    InspectPdf(quire::pdf::sandbox::InspectPdfArgs),
    /// Internal: the server's PDF export child (`quire export-pdf`).
    #[command(hide = true)]
    ExportPdf(quire::pdf::sandbox::ExportPdfArgs),
}

/// Upper bounds that keep a run from turning into a flood.
const MAX_SESSIONS: usize = 60_000;
const MAX_SECONDS: f64 = 600.0;
/// Most nodes one run spreads its clients over.
const MAX_URLS: usize = 16;

fn target(common: &Common) -> Result<server::Target, String> {
    match (common.url.is_empty(), &common.api_key) {
        (false, Some(key)) => {
            if common.url.len() > MAX_URLS {
                return Err(format!("at most {MAX_URLS} --url"));
            }
            for url in &common.url {
                let host = url::Url::parse(url)
                    .map_err(|e| format!("{url}: {e}"))?
                    .host_str()
                    .unwrap_or("")
                    .to_string();
                if !(host == "localhost"
                    || host == "::1"
                    || host == "[::1]"
                    || host.starts_with("127."))
                {
                    return Err(
                        "quire-bench only targets servers on this machine (loopback addresses)"
                            .into(),
                    );
                }
            }
            Ok(server::Target::external(
                &common.url,
                key,
                &common.server_pids,
            ))
        }
        _ => {
            let mut args = common.server_args.clone();
            if let Some(db) = &common.database_url {
                args.push("--database-url".into());
                args.push(db.clone());
            }
            server::Target::managed(&args).map_err(|e| format!("starting the server: {e}"))
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Command::InspectPdf(args) = &cli.command {
        return args.run();
    }
    if let Command::ExportPdf(args) = &cli.command {
        return args.run();
    }
    if let Command::ServeChild(config) = cli.command {
        quire::telemetry::init(quire::config::LogFormat::Json);
        return match actix_web::rt::System::new().block_on(quire::app::serve(*config)) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let limit = server::raise_fd_limit();
    eprintln!("open-file limit: {limit}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match runtime.block_on(run(cli.command, limit)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, fd_limit: u64) -> Result<(), String> {
    let (report, json) = match command {
        Command::Fanout {
            clients,
            total_rate,
            common,
        } => {
            check(&common, clients)?;
            check_rate(total_rate)?;
            let t = target(&common)?;
            let load = writing_load(&common, 1, clients, total_rate / clients as f64);
            (scenarios::writing(&t, "fanout", load).await?, common.json)
        }
        Command::ManyDocs {
            docs,
            clients,
            rate,
            common,
        } => {
            check(&common, docs.saturating_mul(clients))?;
            check_rate(rate)?;
            let t = target(&common)?;
            let load = writing_load(&common, docs, clients, rate);
            (
                scenarios::writing(&t, "many-docs", load).await?,
                common.json,
            )
        }
        Command::HotDoc {
            clients,
            total_rate,
            common,
        } => {
            check(&common, clients)?;
            check_rate(total_rate)?;
            warn_fd_limit(fd_limit, clients);
            let t = target(&common)?;
            let p = hot_doc::HotDoc {
                clients,
                total_rate,
                duration: Duration::from_secs_f64(common.duration),
                warmup: Duration::from_secs_f64(common.warmup),
            };
            (hot_doc::hot_doc(&t, p).await?, common.json)
        }
        Command::Idle {
            sessions,
            docs,
            common,
        } => {
            check(&common, sessions)?;
            warn_fd_limit(fd_limit, sessions);
            let t = target(&common)?;
            let mut r =
                scenarios::idle(&t, sessions, docs, Duration::from_secs_f64(common.duration))
                    .await?;
            if (fd_limit as usize) < sessions + 1000 {
                r.notes.push(format!(
                    "open-file limit {fd_limit} could not be raised enough for {sessions} sessions"
                ));
            }
            (r, common.json)
        }
        Command::ColdOpen {
            annotations,
            warm_joins,
            cold_runs,
            common,
        } => {
            let mut t = target(&common)?;
            (
                scenarios::cold_open(&mut t, annotations, warm_joins, cold_runs as usize).await?,
                common.json,
            )
        }
        Command::ServeChild(_) | Command::InspectPdf(_) | Command::ExportPdf(_) => {
            unreachable!("handled in main")
        }
    };
    println!("{}", report.table());
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Each session costs a descriptor here and one in the server (a child of this process, so it
/// inherits the raised limit; a server started by hand needs `ulimit -n` raised likewise).
fn warn_fd_limit(fd_limit: u64, sessions: usize) {
    if (fd_limit as usize) < sessions + 1000 {
        eprintln!("warning: the open-file limit {fd_limit} is below {sessions} sessions + 1000; connections will fail");
    }
}

/// The load of a writing scenario (`fanout`, `many-docs`), timed by `common`.
fn writing_load(
    common: &Common,
    docs: usize,
    clients_per_doc: usize,
    rate_per_client: f64,
) -> scenarios::Load {
    scenarios::Load {
        docs,
        clients_per_doc,
        rate_per_client,
        duration: Duration::from_secs_f64(common.duration),
        warmup: Duration::from_secs_f64(common.warmup),
    }
}

/// Changes per second (per client or in total) must be a positive, finite, bounded figure.
fn check_rate(rate: f64) -> Result<(), String> {
    if rate > 0.0 && rate <= 1_000_000.0 {
        Ok(())
    } else {
        Err("a rate must be above 0 and at most 1,000,000 changes/s".into())
    }
}

fn check(common: &Common, sessions: usize) -> Result<(), String> {
    if sessions == 0 || sessions > MAX_SESSIONS {
        return Err(format!("sessions must be 1 to {MAX_SESSIONS}"));
    }
    if !(common.duration > 0.0 && common.duration + common.warmup <= MAX_SECONDS) {
        return Err(format!(
            "duration plus warm-up must be positive and at most {MAX_SECONDS} s"
        ));
    }
    Ok(())
}
