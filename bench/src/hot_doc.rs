//! `hot-doc`: one document, many clients. A join storm (every client connects at once, and each
//! sends one presence state as soon as it has its welcome), then a steady writing load spread
//! over all of them: how long the storm takes, and what fan-out to that many sessions costs.
//!
//! The storm is over when every client has its welcome *and* knows every other client with its
//! presence state (the server sends presence on a tick, after the welcomes): only then does the
//! writing start, so the storm's messages are all counted as the storm's, whatever the timing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::borrow::Cow;
use std::collections::HashMap;

use futures_util::{SinkExt, StreamExt};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{join, Backend};
use crate::drive::{drive, histogram, ClientResult, Run};
use crate::report::{Latency, Report};
use crate::scenarios::{summarise, Probe};
use crate::server::{cpu_seconds, Target};

/// A join that takes longer than this counts as failed.
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);

/// How long after the last welcome the clients may take to hear of every other client's
/// presence; a client that has not by then counts as an error.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

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
    // How many others each client should know, once every join is over; each client reports
    // (when, since the storm started) the moment it knows them all with their presence.
    let (peers_tx, peers_rx) = watch::channel::<Option<usize>>(None);
    let (settled_tx, mut settled_rx) = mpsc::unbounded_channel::<Duration>();
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
            let (mut peers_rx, settled_tx) = (peers_rx.clone(), settled_tx.clone());
            let storm_messages = storm_messages.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let joined = tokio::time::timeout(JOIN_TIMEOUT, join(&base, &token)).await;
                let (mut sink, mut stream, welcome) = match joined {
                    Ok(Ok((sink, stream, welcome, _))) => (sink, stream, welcome),
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
                let at = storm.elapsed();
                let _ = joined_tx.send(Ok(Joined { took, at }));
                drop(joined_tx);
                let mut listener = Listener::new(Peers::from_welcome(&welcome), at, settled_tx);
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
                        changed = peers_rx.changed(), if listener.listening() => {
                            let want = *peers_rx.borrow();
                            match (changed, want) {
                                (Ok(()), Some(want)) => listener.told(want),
                                (Ok(()), None) => {}
                                (Err(_), _) => return None,
                            }
                        }
                        msg = stream.next() => match msg {
                            Some(Ok(Message::Text(text))) => {
                                storm_messages.fetch_add(1, Ordering::Relaxed);
                                listener.heard(text.as_str(), storm.elapsed());
                            }
                            Some(Ok(_)) => { storm_messages.fetch_add(1, Ordering::Relaxed); }
                            _ => return Some(lost()),
                        }
                    }
                };
                Some(drive(i, 0, sink, stream, run).await)
            })
        })
        .collect();
    drop((joined_tx, settled_tx));

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
    // Everyone who joined should come to know the other `ok - 1`.
    let _ = peers_tx.send(Some(ok as usize - 1));
    let mut settled = 0u64;
    let mut settled_at = last;
    let _ = tokio::time::timeout(SETTLE_TIMEOUT, async {
        while let Some(at) = settled_rx.recv().await {
            settled += 1;
            settled_at = settled_at.max(at);
            if settled == ok {
                break;
            }
        }
    })
    .await;
    if settled < ok {
        report.notes.push(format!(
            "{} of {ok} clients did not hear of every other client's presence within {:?}",
            ok - settled,
            SETTLE_TIMEOUT
        ));
        report.errors += ok - settled;
    }
    eprintln!(
        "{settled} of {ok} knew everyone's presence within {:.2} s",
        settled_at.as_secs_f64()
    );
    report.presence_settled_seconds = Some(settled_at.as_secs_f64());

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
        unanswered: vec![AtomicU64::new(0)],
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

/// What one client knows of the others on the document: session id → whether it has heard
/// that session's presence state. Built from the welcome's presence list, then kept up to date
/// by the presence events (single or batched) the server sends.
#[derive(Default)]
struct Peers(HashMap<String, bool>);

impl Peers {
    fn from_welcome(welcome: &Value) -> Self {
        let mut peers = Self::default();
        for entry in welcome["presence"].as_array().into_iter().flatten() {
            if let Ok(entry) = Entry::deserialize(entry) {
                peers.set(entry.session_id, entry.state.is_some());
            }
        }
        peers
    }

    /// The others this client knows with a presence state.
    fn with_state(&self) -> usize {
        self.0.values().filter(|has| **has).count()
    }

    /// Whether a message is a presence event (the server writes `type` first), without
    /// parsing it.
    fn is_presence(text: &str) -> bool {
        text.starts_with(r#"{"type":"presence""#)
    }

    /// Applies a message if it is a presence event; anything else is ignored.
    fn apply(&mut self, text: &str) {
        if !Self::is_presence(text) {
            return;
        }
        if let Ok(event) = serde_json::from_str::<Event>(text) {
            self.event(event);
        }
    }

    fn event(&mut self, e: Event) {
        match (e.event.as_deref(), e.session, e.session_id) {
            (Some("joined"), Some(s), _) => self.set(s.session_id, s.state.is_some()),
            (Some("state"), _, Some(id)) => self.set(id, true),
            (Some("left"), _, Some(id)) => {
                self.0.remove(id.as_ref());
            }
            (Some("batch"), _, _) => e.events.into_iter().for_each(|e| self.event(e)),
            _ => {}
        }
    }

    fn set(&mut self, id: Cow<str>, has_state: bool) {
        self.0.insert(id.into_owned(), has_state);
    }
}

/// A presence event as far as [`Peers`] reads it: one type for the single events and the batch
/// (fields a kind does not have are absent), read straight from the text with the states
/// skipped, so that a client of a 1,000-session storm does not build a tree of every message.
#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow)]
    event: Option<Cow<'a, str>>,
    #[serde(borrow)]
    session_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    session: Option<Entry<'a>>,
    #[serde(borrow, default)]
    events: Vec<Event<'a>>,
}

/// A session in a `joined` event or the welcome's list; `state` is `None` when it is `null`.
#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow)]
    session_id: Cow<'a, str>,
    state: Option<IgnoredAny>,
}

/// One client waiting to know every other: it reports when (since the storm started) the
/// message that completed its picture arrived. Until every join is over (and so how many others
/// there are) it only keeps what it hears, unparsed, so that parsing does not compete with the
/// joins it would be timing.
struct Listener {
    peers: Peers,
    /// When the welcome arrived: the answer if the welcome already showed everyone.
    welcomed_at: Duration,
    /// Presence heard before `want` was known, with its arrival.
    unread: Vec<(String, Duration)>,
    want: Option<usize>,
    /// Taken once the report is sent.
    settled_tx: Option<mpsc::UnboundedSender<Duration>>,
}

impl Listener {
    fn new(peers: Peers, welcomed_at: Duration, tx: mpsc::UnboundedSender<Duration>) -> Self {
        Self {
            peers,
            welcomed_at,
            unread: Vec::new(),
            want: None,
            settled_tx: Some(tx),
        }
    }

    /// Whether it has yet to report.
    fn listening(&self) -> bool {
        self.settled_tx.is_some()
    }

    /// Every join is over: `want` others are on the document.
    fn told(&mut self, want: usize) {
        self.want = Some(want);
        self.check(self.welcomed_at);
        for (text, at) in std::mem::take(&mut self.unread) {
            if !self.listening() {
                break;
            }
            self.peers.apply(&text);
            self.check(at);
        }
    }

    fn heard(&mut self, text: &str, at: Duration) {
        if !self.listening() || !Peers::is_presence(text) {
            return;
        }
        if self.want.is_none() {
            self.unread.push((text.to_owned(), at));
            return;
        }
        self.peers.apply(text);
        self.check(at);
    }

    fn check(&mut self, at: Duration) {
        if self
            .want
            .is_some_and(|want| self.peers.with_state() >= want)
        {
            if let Some(tx) = self.settled_tx.take() {
                let _ = tx.send(at);
            }
        }
    }
}

/// A client whose socket closed while it waited for the writing to start.
fn lost() -> ClientResult {
    ClientResult {
        disconnects: 1,
        ..ClientResult::empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_follow_the_welcome_and_single_and_batched_events() {
        let welcome = json!({"type": "welcome", "presence": [
            {"session_id": "a", "user_id": "u", "user_name": null, "state": {"page": 1}},
            {"session_id": "b", "user_id": "u", "user_name": null, "state": null},
        ]});
        let mut peers = Peers::from_welcome(&welcome);
        assert_eq!(peers.with_state(), 1);
        peers.apply(
            r#"{"type":"presence","event":"state","session_id":"b","user_id":"u","state":1}"#,
        );
        assert_eq!(peers.with_state(), 2);
        peers.apply(
            r#"{"type":"presence","event":"batch","events":[
                {"event":"joined","session":{"session_id":"c","user_id":"u","user_name":null,"state":null}},
                {"event":"left","session_id":"a","user_id":"u"},
                {"event":"state","session_id":"c","user_id":"u","state":[]}]}"#,
        );
        assert_eq!(peers.with_state(), 2);
        assert_eq!(peers.0.len(), 2);
        // Anything that is not presence is left alone.
        peers.apply(r#"{"type":"change","session_id":"d"}"#);
        peers.apply("not json");
        assert_eq!(peers.0.len(), 2);
    }

    #[test]
    fn a_listener_reports_when_the_message_that_completed_its_picture_arrived() {
        let secs = Duration::from_secs;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut l = Listener::new(Peers::default(), secs(1), tx);
        l.heard(
            r#"{"type":"presence","event":"joined","session":{"session_id":"a","state":null}}"#,
            secs(2),
        );
        l.heard(r#"{"type":"change"}"#, secs(3));
        l.heard(
            r#"{"type":"presence","event":"state","session_id":"a","state":1}"#,
            secs(4),
        );
        l.heard(
            r#"{"type":"presence","event":"joined","session":{"session_id":"b","state":2}}"#,
            secs(5),
        );
        // Nothing is parsed, or reported, before it knows how many to expect.
        assert!(l.peers.0.is_empty() && rx.try_recv().is_err());
        l.told(1);
        assert_eq!(rx.try_recv().unwrap(), secs(4));
        assert!(!l.listening());

        // A welcome that already shows everyone settles at the welcome.
        let (tx, mut rx) = mpsc::unbounded_channel();
        let welcome = json!({"presence": [{"session_id": "a", "state": 1}]});
        let mut l = Listener::new(Peers::from_welcome(&welcome), secs(1), tx);
        l.told(1);
        assert_eq!(rx.try_recv().unwrap(), secs(1));

        // After being told, it reports as soon as the picture is complete.
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut l = Listener::new(Peers::default(), secs(1), tx);
        l.told(1);
        assert!(rx.try_recv().is_err());
        l.heard(
            r#"{"type":"presence","event":"joined","session":{"session_id":"a","state":0}}"#,
            secs(6),
        );
        assert_eq!(rx.try_recv().unwrap(), secs(6));
    }
}
