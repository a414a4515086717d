//! One writing client's loop, shared by `fanout`, `many-docs` and `hot-doc`: it sends changes at
//! a steady rate, times their acks and the changes it receives from the others, and counts what a
//! run needs to say whether every change reached every other client of its document.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{annotation_text, Sink, Stream};

/// After the window, a client leaves once every change of its document has its answer (its own
/// and the others': a change is fanned out when it is committed, as its ack goes out) and its
/// socket has then stayed this quiet (the others' last changes may still be on their way to
/// it). Waiting for the others' answers, not only its own, keeps a commit that stalls longer
/// than this on a loaded machine from making a client leave before the change reaches it.
const QUIET: Duration = Duration::from_millis(500);
/// After the window, how often a client that waits for the others' answers looks again.
const RECHECK: Duration = Duration::from_millis(20);
/// After the window, unanswered changes get this long before they count as errors.
const DRAIN: Duration = Duration::from_secs(5);

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
pub fn writer_of(record_id: &str) -> Option<usize> {
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

/// A latency histogram in microseconds (1 µs to 120 s, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds")
}

/// What every client of one run shares: the clock, the window and the counters.
pub struct Run {
    /// The run's clock: send times travel in the changes as microseconds since `epoch`.
    pub epoch: Instant,
    pub window_start: Duration,
    pub window_end: Duration,
    pub clients_per_doc: usize,
    /// Nodes the clients are spread over (client `i` is on node `i mod nodes`).
    pub nodes: usize,
    /// Changes per second each client sends.
    pub rate_per_client: f64,
    /// Clients in the run, to spread their schedules evenly over one period.
    pub clients: usize,
    /// Acks received so far (progress output).
    pub acks: AtomicU64,
    /// Per document: changes sent during the window and not rejected (each is owed to every
    /// other client of the document, whether or not its ack arrived in time).
    pub owed_in_window: Vec<AtomicU64>,
    /// Per document: changes sent and not yet answered (acknowledged or rejected).
    pub unanswered: Vec<AtomicU64>,
}

impl Run {
    fn in_window(&self, at: Duration) -> bool {
        at >= self.window_start && at < self.window_end
    }

    /// Deliveries the run owes: every change sent in the window and not rejected, to every
    /// other client of its document.
    pub fn deliveries_expected(&self) -> u64 {
        let others = self.clients_per_doc.saturating_sub(1) as u64;
        self.owed_in_window
            .iter()
            .map(|c| c.load(Ordering::Relaxed) * others)
            .sum()
    }
}

/// One client's results.
pub struct ClientResult {
    pub ack: Histogram<u64>,
    pub fanout: Histogram<u64>,
    /// Deliveries of changes written by a client on another node.
    pub cross: Histogram<u64>,
    pub acks_in_window: u64,
    /// Deliveries received during the window (the deliveries/s figure).
    pub deliveries_in_window: u64,
    /// Deliveries of changes sent during the window, whenever they arrived (completeness).
    pub deliveries_of_window: u64,
    pub errors: u64,
    pub disconnects: u64,
}

impl ClientResult {
    /// Nothing received yet.
    pub fn empty() -> ClientResult {
        ClientResult {
            ack: histogram(),
            fanout: histogram(),
            cross: histogram(),
            acks_in_window: 0,
            deliveries_in_window: 0,
            deliveries_of_window: 0,
            errors: 0,
            disconnects: 0,
        }
    }
}

/// Client `i` (of document `doc`) writes until the window ends, then waits for its answers and
/// the others' last changes.
pub async fn drive(
    i: usize,
    doc: usize,
    mut sink: Sink,
    mut stream: Stream,
    run: Arc<Run>,
) -> ClientResult {
    let mut r = ClientResult::empty();
    let mut sent_at: HashMap<u64, (Instant, bool)> = HashMap::new();
    let period = Duration::from_secs_f64(1.0 / run.rate_per_client);
    // Spread the clients' schedules evenly over one period so the load is smooth.
    let offset = period.mul_f64(i as f64 / run.clients.max(1) as f64);
    let start = tokio::time::Instant::from_std(run.epoch);
    let mut tick = tokio::time::interval_at(start + offset, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut n: u64 = 0;
    let end = start + run.window_end;
    let drain = tokio::time::sleep_until(end + DRAIN);
    tokio::pin!(drain);
    let quiet = tokio::time::sleep_until(end + QUIET);
    tokio::pin!(quiet);
    let mut recheck = tokio::time::interval_at(end, RECHECK);
    let answered = |run: &Run| run.unanswered[doc].load(Ordering::Relaxed) == 0;
    loop {
        let over = tokio::time::Instant::now() >= end;
        tokio::select! {
            _ = tick.tick(), if !over => {
                let at = run.epoch.elapsed();
                let t = at.as_micros() as u64;
                let id = format!("c{i}-{}", n % 10);
                let op = if n < 10 { "create" } else { "update" };
                // Built as text: a JSON tree per change costs the generator more than the frame
                // costs the server.
                let frame = format!(
                    r#"{{"type":"changes","changes":[{{"client_id":"{n}","op":"{op}","kind":"annotation","id":"{id}","content":{}}}]}}"#,
                    annotation_text((n % 4) as usize, t)
                );
                if run.in_window(at) {
                    run.owed_in_window[doc].fetch_add(1, Ordering::Relaxed);
                }
                sent_at.insert(n, (Instant::now(), run.in_window(at)));
                run.unanswered[doc].fetch_add(1, Ordering::Relaxed);
                n += 1;
                if sink.send(Message::Text(frame.into())).await.is_err() {
                    r.disconnects += 1;
                    break;
                }
            }
            msg = stream.next() => {
                let now = run.epoch.elapsed();
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => { r.disconnects += 1; break; }
                    Some(Ok(_)) => continue,
                };
                quiet.as_mut().reset((tokio::time::Instant::now() + QUIET).max(end + QUIET));
                // Read only the fields needed: the load generator must stay cheaper than the
                // server it loads.
                let v: Incoming = match serde_json::from_str(&text) { Ok(v) => v, Err(_) => { r.errors += 1; continue } };
                match v.ty {
                    "ack" => {
                        let cid: u64 = v.client_id.and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
                        if let Some((at, _)) = sent_at.remove(&cid) {
                            run.unanswered[doc].fetch_sub(1, Ordering::Relaxed);
                            if run.in_window(now) {
                                let _ = r.ack.record(at.elapsed().as_micros().max(1) as u64);
                                r.acks_in_window += 1;
                            }
                        }
                        run.acks.fetch_add(1, Ordering::Relaxed);
                    }
                    "change" => {
                        let Some(t) = v.record.and_then(|r| r.content).and_then(|c| c.custom_data).map(|d| d.t) else {
                            continue;
                        };
                        if run.in_window(Duration::from_micros(t)) {
                            r.deliveries_of_window += 1;
                        }
                        if run.in_window(now) {
                            let lat = (now.as_micros() as u64).saturating_sub(t).max(1);
                            let _ = r.fanout.record(lat);
                            if v.id.and_then(writer_of).is_some_and(|w| w % run.nodes != i % run.nodes) {
                                let _ = r.cross.record(lat);
                            }
                            r.deliveries_in_window += 1;
                        }
                    }
                    "reject" => {
                        r.errors += 1;
                        let cid: u64 = v.client_id.and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
                        if let Some((_, in_window)) = sent_at.remove(&cid) {
                            run.unanswered[doc].fetch_sub(1, Ordering::Relaxed);
                            if in_window {
                                run.owed_in_window[doc].fetch_sub(1, Ordering::Relaxed);
                            }
                        }
                    }
                    "error" => r.errors += 1,
                    _ => {}
                }
            }
            _ = &mut quiet, if over && sent_at.is_empty() && answered(&run) => break,
            _ = recheck.tick(), if over && sent_at.is_empty() => {}
            _ = &mut drain, if over => {
                r.errors += sent_at.len() as u64;
                break;
            }
        }
    }
    let _ = sink.close().await;
    r
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
