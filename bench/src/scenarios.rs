//! The scenarios. Every one is bounded in time and connection count and talks only to the
//! target server (loopback when the benchmark starts it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{join, Backend};
use crate::drive::{drive, histogram, ClientResult, Run};
use crate::report::{median, Latency, Report};
use crate::server::{cpu_seconds, rss_bytes, Target};

/// Settings of a writing load.
#[derive(Debug, Clone)]
pub struct Load {
    pub docs: usize,
    pub clients_per_doc: usize,
    /// Changes per second each client sends.
    pub rate_per_client: f64,
    pub duration: Duration,
    pub warmup: Duration,
}

/// Names this run's documents apart from earlier runs' on the same server (whose records would
/// make this run's creates fail).
pub(crate) fn run_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        format!("{:x}{:x}", t.as_secs(), std::process::id())
    })
}

/// Opens `n` things at most `parallel` at a time.
pub(crate) async fn bounded<T, F, Fut>(n: usize, parallel: usize, f: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let sem = Arc::new(Semaphore::new(parallel));
    let futs = (0..n).map(|i| {
        let sem = sem.clone();
        let fut = f(i);
        async move {
            let _permit = sem.acquire().await.expect("semaphore open");
            fut.await
        }
    });
    futures_util::future::join_all(futs).await
}

/// `fanout` and `many-docs`: clients write at a steady rate; everyone measures what they see.
pub async fn writing(target: &Target, name: &str, load: Load) -> Result<Report, String> {
    let backend = Backend::new(target);
    let doc_ids: Vec<String> = (0..load.docs)
        .map(|d| format!("bench-{name}-{}-{d}", run_id()))
        .collect();
    bounded(doc_ids.len(), 16, |d| {
        let (b, id) = (backend.clone(), doc_ids[d].clone());
        async move { b.upload(&id).await }
    })
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    let total_clients = load.docs * load.clients_per_doc;
    let tokens = bounded(total_clients, 32, |i| {
        let (b, doc) = (backend.clone(), doc_ids[i / load.clients_per_doc].clone());
        async move { b.token(&doc, &format!("user-{i}")).await }
    })
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    eprintln!(
        "prepared {} documents and {total_clients} tokens; connecting",
        load.docs
    );
    let sockets = bounded(total_clients, 64, |i| {
        let nodes = &target.bases;
        let (base, token) = (nodes[i % nodes.len()].clone(), tokens[i].clone());
        async move { join(&base, &token).await }
    })
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    let node_count = target.bases.len();
    eprintln!(
        "{total_clients} sessions joined over {node_count} node(s); running {:?} warm-up + {:?}",
        load.warmup, load.duration
    );

    let run = Arc::new(Run {
        epoch: Instant::now(),
        window_start: load.warmup,
        window_end: load.warmup + load.duration,
        clients_per_doc: load.clients_per_doc,
        nodes: node_count,
        rate_per_client: load.rate_per_client,
        clients: total_clients,
        acks: AtomicU64::new(0),
        owed_in_window: (0..load.docs).map(|_| AtomicU64::new(0)).collect(),
        unanswered: (0..load.docs).map(|_| AtomicU64::new(0)).collect(),
    });
    let probe = Probe::start(target, &run);
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, (sink, stream, _, _))| {
            tokio::spawn(drive(
                i,
                i / load.clients_per_doc,
                sink,
                stream,
                run.clone(),
            ))
        })
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    for t in tasks {
        results.push(t.await.map_err(|e| e.to_string())?);
    }
    let mut report = Report {
        scenario: name.to_string(),
        ..Default::default()
    };
    report.parameters = json!({
        "documents": load.docs, "clients_per_document": load.clients_per_doc,
        "changes_per_second_per_client": load.rate_per_client,
        "offered_changes_per_second": load.rate_per_client * total_clients as f64,
        "duration_s": load.duration.as_secs_f64(), "warmup_s": load.warmup.as_secs_f64(), "nodes": node_count,
    });
    probe.finish(target, &mut report).await?;
    summarise(&mut report, &run, results, load.duration);
    Ok(report)
}

/// Progress output and the server's CPU time over the measured window.
pub(crate) struct Probe {
    progress: tokio::task::JoinHandle<()>,
    cpu: std::thread::JoinHandle<(Option<f64>, Option<f64>)>,
}

impl Probe {
    pub(crate) fn start(target: &Target, run: &Arc<Run>) -> Probe {
        let progress = {
            let run = run.clone();
            tokio::spawn(async move {
                let mut last = 0;
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let now = run.acks.load(Ordering::Relaxed);
                    eprintln!(
                        "  t={:>4.0}s  acks/s {:>8}",
                        run.epoch.elapsed().as_secs_f64(),
                        now - last
                    );
                    last = now;
                }
            })
        };
        // On a thread of its own: the runtime's workers may be too busy with the clients to
        // read the counters on time.
        let pids = target.pids();
        let (from, to) = (run.epoch + run.window_start, run.epoch + run.window_end);
        let cpu = std::thread::spawn(move || {
            std::thread::sleep(from.saturating_duration_since(Instant::now()));
            let start = cpu_seconds(&pids);
            std::thread::sleep(to.saturating_duration_since(Instant::now()));
            (start, cpu_seconds(&pids))
        });
        Probe { progress, cpu }
    }

    /// Stops the progress output; records the server's CPU and memory in `report`.
    pub(crate) async fn finish(self, target: &Target, report: &mut Report) -> Result<(), String> {
        self.progress.abort();
        let cpu = self.cpu;
        let (c0, c1) = tokio::task::spawn_blocking(move || cpu.join())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|_| "the CPU probe failed".to_string())?;
        if let (Some(a), Some(b)) = (c0, c1) {
            report.server_cpu_seconds = Some(b - a);
        }
        report.server_rss_mib = rss_bytes(&target.pids()).map(|b| b as f64 / 1048576.0);
        if target.pids().is_empty() {
            report.notes.push(NO_PID.into());
        }
        Ok(())
    }
}

/// Said in a report when the server's process is not known.
pub(crate) const NO_PID: &str =
    "server CPU and memory not measured: an external --url without --server-pid";

/// Merges the clients' results into `report`: rates, latencies, completeness and the server's
/// CPU per committed change and per delivery.
pub(crate) fn summarise(
    report: &mut Report,
    run: &Run,
    results: Vec<ClientResult>,
    duration: Duration,
) {
    let (mut ack, mut fanout, mut cross) = (histogram(), histogram(), histogram());
    let (mut acked, mut delivered, mut of_window) = (0, 0, 0);
    for r in results {
        ack.add(r.ack).expect("same bounds");
        fanout.add(r.fanout).expect("same bounds");
        cross.add(r.cross).expect("same bounds");
        acked += r.acks_in_window;
        delivered += r.deliveries_in_window;
        of_window += r.deliveries_of_window;
        report.errors += r.errors;
        report.disconnects += r.disconnects;
    }
    let secs = duration.as_secs_f64();
    report.measured_seconds = secs;
    report.committed_changes_per_second = Some(acked as f64 / secs);
    report.deliveries_per_second = Some(delivered as f64 / secs);
    report.ack_latency = Some(Latency::from_micros(&ack));
    if run.clients_per_doc > 1 {
        report.fanout_latency = Some(Latency::from_micros(&fanout));
        let expected = run.deliveries_expected();
        report.deliveries_expected = Some(expected);
        report.deliveries_received = Some(of_window);
        if of_window < expected {
            report.notes.push(format!(
                "{} of {expected} deliveries of the window's changes did not arrive",
                expected - of_window
            ));
        }
    }
    report.cross_node_fanout_latency =
        (run.nodes > 1 && !cross.is_empty()).then(|| Latency::from_micros(&cross));
    report.sessions = Some(run.clients as u64);
    if let Some(cpu) = report.server_cpu_seconds {
        report.server_cpu_per_change_us = (acked > 0).then(|| cpu * 1e6 / acked as f64);
        report.server_cpu_per_delivery_us = (delivered > 0).then(|| cpu * 1e6 / delivered as f64);
    }
}

/// `idle`: many connected, silent sessions; how much memory each costs the server.
pub async fn idle(
    target: &Target,
    sessions: usize,
    docs: usize,
    hold: Duration,
) -> Result<Report, String> {
    let backend = Backend::new(target);
    let docs = docs.clamp(1, sessions);
    let mut tokens = Vec::new();
    for d in 0..docs {
        let id = format!("bench-idle-{}-{d}", run_id());
        backend.upload(&id).await?;
        tokens.push(backend.token(&id, "idle-user").await?);
    }
    // One session first, so the server's pools and buffers exist before the baseline.
    let first = join(&target.base, &tokens[0]).await?;
    let pids = target.pids();
    let before = rss_bytes(&pids);
    let opened = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let results = bounded(sessions, 256, |i| {
        let (base, token, opened) = (
            target.base.clone(),
            tokens[i % docs].clone(),
            opened.clone(),
        );
        async move {
            let r = join(&base, &token).await;
            let n = opened.fetch_add(1, Ordering::Relaxed) + 1;
            if n % 1000 == 0 {
                eprintln!(
                    "  {n} sessions open ({:.1} s)",
                    started.elapsed().as_secs_f64()
                );
            }
            r
        }
    })
    .await;
    let mut live = Vec::new();
    let mut report = Report {
        scenario: "idle".into(),
        ..Default::default()
    };
    for r in results {
        match r {
            Ok((sink, stream, _, _)) => live.push((sink, stream)),
            Err(e) => {
                if report.errors == 0 {
                    report.notes.push(format!("first connection error: {e}"));
                }
                report.errors += 1;
            }
        }
    }
    let connected = live.len();
    eprintln!("{connected} idle sessions open; holding for {hold:?}");
    let cpu0 = cpu_seconds(&pids);
    tokio::time::sleep(hold).await;
    let after = rss_bytes(&pids);
    let cpu1 = cpu_seconds(&pids);
    // Still there? A ping on every socket must get a pong.
    let checks = futures_util::future::join_all(live.iter_mut().map(|(sink, stream)| async move {
        if sink
            .send(Message::Text(r#"{"type":"ping"}"#.into()))
            .await
            .is_err()
        {
            return false;
        }
        tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(Ok(m)) = stream.next().await {
                if let Message::Text(t) = m {
                    if t.contains("pong") {
                        return true;
                    }
                }
            }
            false
        })
        .await
        .unwrap_or(false)
    }))
    .await;
    report.disconnects = checks.iter().filter(|ok| !**ok).count() as u64;
    drop(first);
    report.parameters =
        json!({"sessions": sessions, "documents": docs, "hold_s": hold.as_secs_f64()});
    report.measured_seconds = hold.as_secs_f64();
    report.sessions = Some(connected as u64);
    if let (Some(b), Some(a)) = (before, after) {
        report.server_rss_mib = Some(a as f64 / 1048576.0);
        report.rss_per_session_kib =
            Some((a.saturating_sub(b)) as f64 / 1024.0 / connected.max(1) as f64);
    }
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        report.server_cpu_seconds = Some(b - a);
    }
    if pids.is_empty() {
        report.notes.push(NO_PID.into());
    }
    if connected < sessions {
        report
            .notes
            .push(format!("only {connected} of {sessions} sessions connected"));
    }
    Ok(report)
}

/// `cold-open`: a document holding `annotations` records; time from hello to welcome for the
/// first session after a server restart (cold: the actor loads from the database), over
/// `cold_runs` restarts, then warm.
pub async fn cold_open(
    target: &mut Target,
    annotations: usize,
    warm_joins: usize,
    cold_runs: usize,
) -> Result<Report, String> {
    let backend = Backend::new(target);
    let doc = format!("bench-cold-{}", run_id());
    backend.upload(&doc).await?;
    eprintln!("seeding {annotations} annotations");
    backend.seed(&doc, annotations).await?;
    let token = backend.token(&doc, "reader").await?;
    let mut report = Report {
        scenario: "cold-open".into(),
        ..Default::default()
    };
    let mut colds = Vec::with_capacity(cold_runs);
    let mut welcome = serde_json::Value::Null;
    for _ in 0..cold_runs.max(1) {
        let restarted = target.restart().map_err(|e| e.to_string())?;
        let (_, _, w, cold) = join(&target.base, &token).await?;
        colds.push(cold.as_secs_f64() * 1000.0);
        welcome = w;
        if !restarted {
            report
                .notes
                .push("external server: one join, and it may be warm".into());
            break;
        }
    }
    let records = welcome["records"].as_array().map(|r| r.len()).unwrap_or(0);
    if records != annotations {
        report.errors += 1;
        report.notes.push(format!(
            "welcome held {records} records, expected {annotations}"
        ));
    }
    report.cold_welcome_ms = Some(median(&colds));
    report.cold_welcome_runs_ms = colds;
    let mut warm = histogram();
    for _ in 0..warm_joins {
        let (_, _, _, t) = join(&target.base, &token).await?;
        let _ = warm.record(t.as_micros().max(1) as u64);
    }
    report.welcome_latency = Some(Latency::from_micros(&warm));
    report.parameters = json!({"annotations": annotations, "warm_joins": warm_joins, "cold_runs": cold_runs, "welcome_bytes": welcome.to_string().len()});
    report.server_rss_mib = rss_bytes(&target.pids()).map(|b| b as f64 / 1048576.0);
    Ok(report)
}
