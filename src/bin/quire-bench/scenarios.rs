//! The scenarios. Every one is bounded in time and connection count and talks only to the
//! target server (loopback when the benchmark starts it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{annotation_text, join, Backend};
use crate::report::{Latency, Report};
use crate::server::{cpu_seconds, rss_bytes, Target};

/// The parts of a server message the load generator reads.
#[derive(serde::Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type")]
    ty: &'a str,
    client_id: Option<&'a str>,
    /// The record id; a benchmark record's id names its writer (`c<client>-<n>`).
    id: Option<&'a str>,
    record: Option<IncomingRecord>,
}

/// The client that wrote a benchmark record, from its id.
fn writer_of(record_id: &str) -> Option<usize> {
    record_id.strip_prefix('c')?.split('-').next()?.parse().ok()
}

#[derive(serde::Deserialize)]
struct IncomingRecord {
    content: Option<IncomingContent>,
}

#[derive(serde::Deserialize)]
struct IncomingContent {
    #[serde(rename = "customData")]
    custom_data: Option<Stamp>,
}

#[derive(serde::Deserialize)]
struct Stamp {
    t: u64,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds")
}

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

#[derive(Default)]
struct ClientResult {
    ack: Option<Histogram<u64>>,
    fanout: Option<Histogram<u64>>,
    /// Deliveries of changes written by a client on another node.
    cross: Option<Histogram<u64>>,
    acks_in_window: u64,
    deliveries_in_window: u64,
    errors: u64,
    disconnects: u64,
}

/// Opens `n` things at most `parallel` at a time.
async fn bounded<T, F, Fut>(n: usize, parallel: usize, f: F) -> Vec<T>
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
        .map(|d| format!("bench-{name}-{d}"))
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

    let epoch = Instant::now();
    let window_start = load.warmup;
    let window_end = load.warmup + load.duration;
    let acks = Arc::new(AtomicU64::new(0));
    let progress = {
        let acks = acks.clone();
        tokio::spawn(async move {
            let mut last = 0;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let now = acks.load(Ordering::Relaxed);
                eprintln!(
                    "  t={:>4.0}s  acks/s {:>8}",
                    epoch.elapsed().as_secs_f64(),
                    now - last
                );
                last = now;
            }
        })
    };
    let mut cpu_start = None;
    let pid = target.pid();
    let cpu_probe = tokio::spawn(async move {
        tokio::time::sleep(window_start).await;
        let start = pid.and_then(cpu_seconds);
        tokio::time::sleep(window_end - window_start).await;
        let end = pid.and_then(cpu_seconds);
        (start, end)
    });
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, (mut sink, mut stream, _, _))| {
            let acks = acks.clone();
            let period = Duration::from_secs_f64(1.0 / load.rate_per_client);
            tokio::spawn(async move {
                let mut r = ClientResult { ack: Some(histogram()), fanout: Some(histogram()), cross: Some(histogram()), ..Default::default() };
                let mut sent_at: std::collections::HashMap<u64, Instant> = std::collections::HashMap::new();
                // Stagger the clients' schedules so the load is smooth.
                let offset = period.mul_f64((i % 97) as f64 / 97.0);
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                let mut n: u64 = 0;
                let in_window = |at: Duration| at >= window_start && at < window_end;
                // After the window, unanswered changes get 5 s before they count as errors.
                let drain = tokio::time::sleep_until(tokio::time::Instant::from_std(epoch + window_end + Duration::from_secs(5)));
                tokio::pin!(drain);
                loop {
                    tokio::select! {
                        _ = tick.tick(), if epoch.elapsed() < window_end => {
                            let t = epoch.elapsed().as_micros() as u64;
                            let id = format!("c{i}-{}", n % 10);
                            let op = if n < 10 { "create" } else { "update" };
                            // Built as text: a JSON tree per change costs the generator more
                            // than the frame costs the server.
                            let frame = format!(
                                r#"{{"type":"changes","changes":[{{"client_id":"{n}","op":"{op}","kind":"annotation","id":"{id}","content":{}}}]}}"#,
                                annotation_text((n % 4) as usize, t)
                            );
                            sent_at.insert(n, Instant::now());
                            n += 1;
                            if sink.send(Message::Text(frame.into())).await.is_err() {
                                r.disconnects += 1;
                                break;
                            }
                        }
                        msg = stream.next() => {
                            let now = epoch.elapsed();
                            let text = match msg {
                                Some(Ok(Message::Text(t))) => t,
                                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => { r.disconnects += 1; break; }
                                Some(Ok(_)) => continue,
                            };
                            // Read only the fields needed: the load generator must stay cheaper
                            // than the server it loads.
                            let v: Incoming = match serde_json::from_str(&text) { Ok(v) => v, Err(_) => { r.errors += 1; continue } };
                            match v.ty {
                                "ack" => {
                                    let cid: u64 = v.client_id.and_then(|s| s.parse().ok()).unwrap_or(0);
                                    if let Some(at) = sent_at.remove(&cid) {
                                        if in_window(now) {
                                            let _ = r.ack.as_mut().unwrap().record(at.elapsed().as_micros().max(1) as u64);
                                            r.acks_in_window += 1;
                                        }
                                    }
                                    acks.fetch_add(1, Ordering::Relaxed);
                                }
                                "change" => {
                                    if let Some(t) = v.record.and_then(|r| r.content).and_then(|c| c.custom_data).map(|d| d.t) {
                                        if in_window(now) {
                                            let lat = (now.as_micros() as u64).saturating_sub(t).max(1);
                                            let _ = r.fanout.as_mut().unwrap().record(lat);
                                            if v.id.and_then(writer_of).is_some_and(|w| w % node_count != i % node_count) {
                                                let _ = r.cross.as_mut().unwrap().record(lat);
                                            }
                                            r.deliveries_in_window += 1;
                                        }
                                    }
                                }
                                "reject" | "error" => r.errors += 1,
                                _ => {}
                            }
                            // Leave once the window is over and every send is answered.
                            if now >= window_end && sent_at.is_empty() {
                                break;
                            }
                        }
                        _ = &mut drain, if epoch.elapsed() >= window_end => {
                            r.errors += sent_at.len() as u64;
                            break;
                        }
                    }
                }
                let _ = sink.close().await;
                r
            })
        })
        .collect();
    let mut ack = histogram();
    let mut fanout = histogram();
    let mut cross = histogram();
    let mut report = Report {
        scenario: name.to_string(),
        ..Default::default()
    };
    let (mut acked, mut delivered) = (0, 0);
    for t in tasks {
        let r = t.await.map_err(|e| e.to_string())?;
        ack.add(r.ack.unwrap()).expect("same bounds");
        fanout.add(r.fanout.unwrap()).expect("same bounds");
        cross.add(r.cross.unwrap()).expect("same bounds");
        acked += r.acks_in_window;
        delivered += r.deliveries_in_window;
        report.errors += r.errors;
        report.disconnects += r.disconnects;
    }
    progress.abort();
    let (c0, c1) = cpu_probe.await.map_err(|e| e.to_string())?;
    if cpu_start.is_none() {
        cpu_start = c0;
    }
    let secs = load.duration.as_secs_f64();
    report.parameters = json!({
        "documents": load.docs, "clients_per_document": load.clients_per_doc,
        "changes_per_second_per_client": load.rate_per_client,
        "offered_changes_per_second": load.rate_per_client * total_clients as f64,
        "duration_s": secs, "warmup_s": load.warmup.as_secs_f64(), "nodes": node_count,
    });
    report.measured_seconds = secs;
    report.committed_changes_per_second = Some(acked as f64 / secs);
    report.deliveries_per_second = Some(delivered as f64 / secs);
    report.ack_latency = Some(Latency::from_micros(&ack));
    report.fanout_latency = (load.clients_per_doc > 1).then(|| Latency::from_micros(&fanout));
    report.cross_node_fanout_latency =
        (node_count > 1 && !cross.is_empty()).then(|| Latency::from_micros(&cross));
    report.sessions = Some(total_clients as u64);
    if let Some(pid) = target.pid() {
        report.server_rss_mib = rss_bytes(pid).map(|b| b as f64 / 1048576.0);
        report.server_cpu_seconds = match (cpu_start, c1) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
    }
    Ok(report)
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
        let id = format!("bench-idle-{d}");
        backend.upload(&id).await?;
        tokens.push(backend.token(&id, "idle-user").await?);
    }
    // One session first, so the server's pools and buffers exist before the baseline.
    let first = join(&target.base, &tokens[0]).await?;
    let pid = target.pid();
    let before = pid.and_then(rss_bytes);
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
    let cpu0 = pid.and_then(cpu_seconds);
    tokio::time::sleep(hold).await;
    let after = pid.and_then(rss_bytes);
    let cpu1 = pid.and_then(cpu_seconds);
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
    if connected < sessions {
        report
            .notes
            .push(format!("only {connected} of {sessions} sessions connected"));
    }
    Ok(report)
}

/// `cold-open`: a document holding `annotations` records; time from hello to welcome for the
/// first session after a server restart (cold: the actor loads from the database), then warm.
pub async fn cold_open(
    target: &mut Target,
    annotations: usize,
    warm_joins: usize,
) -> Result<Report, String> {
    let backend = Backend::new(target);
    backend.upload("bench-cold").await?;
    eprintln!("seeding {annotations} annotations");
    backend.seed("bench-cold", annotations).await?;
    let token = backend.token("bench-cold", "reader").await?;
    let mut report = Report {
        scenario: "cold-open".into(),
        ..Default::default()
    };
    let restarted = target.restart().map_err(|e| e.to_string())?;
    if !restarted {
        report
            .notes
            .push("external server: the first join may be warm".into());
    }
    let (_, _, welcome, cold) = join(&target.base, &token).await?;
    let records = welcome["records"].as_array().map(|r| r.len()).unwrap_or(0);
    if records != annotations {
        report.errors += 1;
        report.notes.push(format!(
            "welcome held {records} records, expected {annotations}"
        ));
    }
    report.cold_welcome_ms = Some(cold.as_secs_f64() * 1000.0);
    let mut warm = histogram();
    for _ in 0..warm_joins {
        let (_, _, _, t) = join(&target.base, &token).await?;
        let _ = warm.record(t.as_micros().max(1) as u64);
    }
    report.welcome_latency = Some(Latency::from_micros(&warm));
    report.parameters = json!({"annotations": annotations, "warm_joins": warm_joins, "welcome_bytes": welcome.to_string().len()});
    if let Some(pid) = target.pid() {
        report.server_rss_mib = rss_bytes(pid).map(|b| b as f64 / 1048576.0);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_records_writer_is_read_from_its_id() {
        assert_eq!(super::writer_of("c12-3"), Some(12));
        assert_eq!(super::writer_of("c0-0"), Some(0));
        for other in ["x12-3", "c-3", "c", "", "cx-1"] {
            assert_eq!(super::writer_of(other), None, "{other}");
        }
    }
}
