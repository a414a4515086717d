//! `hot-doc`: one document, many clients. A join storm (every client connects at once, and each
//! sends one presence state as soon as it has its welcome), then a steady writing load spread
//! over all of them: how long the storm takes, and what fan-out to that many sessions costs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{join, Backend};
use crate::drive::{drive, histogram, ClientResult, Run};
use crate::report::{Latency, Report};
use crate::scenarios::{summarise, Probe};
use crate::server::{cpu_seconds, Target};

/// A join that takes longer than this counts as failed.
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Settings of a `hot-doc` run.
#[derive(Debug, Clone)]
pub struct HotDoc {
    pub clients: usize,
    /// Changes per second across all clients.
    pub total_rate: f64,
    pub duration: Duration,
    pub warmup: Duration,
}

/// What one client reports once its join is over.
struct Joined {
    /// Connect → welcome.
    took: Duration,
    /// Since the storm started, when the welcome arrived.
    at: Duration,
}

pub async fn hot_doc(target: &Target, p: HotDoc) -> Result<Report, String> {
    let backend = Backend::new(target);
    let doc = &format!("bench-hot-doc-{}", crate::scenarios::run_id());
    backend.upload(doc).await?;
    let tokens = crate::scenarios::bounded(p.clients, 32, |i| {
        let b = backend.clone();
        async move { b.token(doc, &format!("user-{i}")).await }
    })
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    eprintln!("prepared {} tokens; join storm", p.clients);

    let pids = target.pids();
    let (joined_tx, mut joined_rx) = mpsc::unbounded_channel::<Result<Joined, String>>();
    let (run_tx, run_rx) = watch::channel::<Option<Arc<Run>>>(None);
    let storm_messages = Arc::new(AtomicU64::new(0));
    let cpu0 = cpu_seconds(&pids);
    let storm = Instant::now();
    let nodes = target.bases.clone();
    let tasks: Vec<_> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, token)| {
            let base = nodes[i % nodes.len()].clone();
            let (joined_tx, mut run_rx) = (joined_tx.clone(), run_rx.clone());
            let storm_messages = storm_messages.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let joined = tokio::time::timeout(JOIN_TIMEOUT, join(&base, &token)).await;
                let (mut sink, mut stream) = match joined {
                    Ok(Ok((sink, stream, _, _))) => (sink, stream),
                    Ok(Err(e)) => {
                        let _ = joined_tx.send(Err(e));
                        return None;
                    }
                    Err(_) => {
                        let _ = joined_tx.send(Err("no welcome within 60 s".into()));
                        return None;
                    }
                };
                let took = started.elapsed();
                let presence = json!({"type": "presence", "state": {"page": i % 4, "cursor": [i % 600, i / 600]}});
                if let Err(e) = sink.send(Message::Text(presence.to_string().into())).await {
                    let _ = joined_tx.send(Err(e.to_string()));
                    return None;
                }
                let _ = joined_tx.send(Ok(Joined {
                    took,
                    at: storm.elapsed(),
                }));
                drop(joined_tx);
                // Keep reading (the others' arrivals and presence) until the writing starts:
                // a client that stopped reading would be cut off as a slow reader.
                let run = loop {
                    tokio::select! {
                        changed = run_rx.changed() => {
                            match (changed, run_rx.borrow().clone()) {
                                (Ok(()), Some(run)) => break run,
                                (Ok(()), None) => continue,
                                (Err(_), _) => return None,
                            }
                        }
                        msg = stream.next() => match msg {
                            Some(Ok(_)) => { storm_messages.fetch_add(1, Ordering::Relaxed); }
                            _ => return Some(lost()),
                        }
                    }
                };
                Some(drive(i, 0, sink, stream, run).await)
            })
        })
        .collect();
    drop(joined_tx);

    let mut report = Report {
        scenario: "hot-doc".into(),
        ..Default::default()
    };
    let mut join_hist = histogram();
    let (mut ok, mut last) = (0u64, Duration::ZERO);
    // Every client reports once (joined or failed), then lets go of its sender.
    while let Some(j) = joined_rx.recv().await {
        match j {
            Ok(j) => {
                ok += 1;
                last = last.max(j.at);
                let _ = join_hist.record(j.took.as_micros().max(1) as u64);
                if ok % 250 == 0 {
                    eprintln!("  {ok} joined ({:.2} s)", storm.elapsed().as_secs_f64());
                }
            }
            Err(e) => {
                if report.errors == 0 {
                    report.notes.push(format!("first failed join: {e}"));
                }
                report.errors += 1;
            }
        }
    }
    let cpu1 = cpu_seconds(&pids);
    eprintln!(
        "{ok} of {} joined within {:.2} s; running {:?} warm-up + {:?}",
        p.clients,
        last.as_secs_f64(),
        p.warmup,
        p.duration
    );
    report.joined = Some(ok);
    report.all_joined_seconds = Some(last.as_secs_f64());
    report.join_latency = Some(Latency::from_micros(&join_hist));
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        report.join_cpu_seconds = Some(b - a);
    }
    if ok == 0 {
        return Err("no client joined".into());
    }

    let run = Arc::new(Run {
        epoch: Instant::now(),
        window_start: p.warmup,
        window_end: p.warmup + p.duration,
        clients_per_doc: ok as usize,
        nodes: nodes.len(),
        rate_per_client: p.total_rate / ok as f64,
        clients: ok as usize,
        acks: AtomicU64::new(0),
        owed_in_window: vec![AtomicU64::new(0)],
    });
    let probe = Probe::start(target, &run);
    run_tx
        .send(Some(run.clone()))
        .map_err(|_| "every client has gone".to_string())?;
    let mut results = Vec::with_capacity(tasks.len());
    for t in tasks {
        if let Some(r) = t.await.map_err(|e| e.to_string())? {
            results.push(r);
        }
    }
    report.notes.push(format!(
        "{} messages (arrivals and presence) reached the clients during the join storm",
        storm_messages.load(Ordering::Relaxed)
    ));
    report.parameters = json!({
        "documents": 1, "clients": p.clients, "offered_changes_per_second": p.total_rate,
        "presence_states_per_client": 1, "duration_s": p.duration.as_secs_f64(),
        "warmup_s": p.warmup.as_secs_f64(), "nodes": nodes.len(),
    });
    probe.finish(target, &mut report).await?;
    summarise(&mut report, &run, results, p.duration);
    Ok(report)
}

/// A client whose socket closed while it waited for the writing to start.
fn lost() -> ClientResult {
    ClientResult {
        disconnects: 1,
        ..ClientResult::empty()
    }
}
