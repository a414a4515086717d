//! The document actor with real storage (SQLite in a temp dir) and stand-in sessions: what it
//! does when a session's outbox is gone before the session said it was leaving.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use sea_orm::{ActiveModelTrait, Set};

use super::*;
use crate::actors::outbox::{outbox, OutboxLimits, OutboxReceiver};
use crate::actors::registry::{DocumentRegistry, Lookup};
use crate::auth::access::Access;
use crate::entities::document;

/// Stands in for a session actor: records the kicks it gets.
struct Probe(Arc<Mutex<Vec<CloseReason>>>);

impl Actor for Probe {
    type Context = Context<Self>;
}

impl Handler<Kick> for Probe {
    type Result = ();
    fn handle(&mut self, msg: Kick, _: &mut Context<Self>) {
        self.0.lock().unwrap().push(msg.0);
    }
}

fn peer(session_id: u64) -> (Peer, OutboxReceiver) {
    let (outbox, rx) = outbox(OutboxLimits {
        messages: 64,
        bytes: 1 << 20,
    });
    let control = Probe(Arc::default()).start().recipient();
    let peer = Peer {
        session_id,
        access: Arc::new(Access::backend(format!("u{session_id}"), None)),
        layer: String::new(),
        revocation_ids: Vec::new(),
        outbox,
        control,
        rights: Arc::from(serde_json::value::to_raw_value(&serde_json::json!({})).unwrap()),
    };
    (peer, rx)
}

/// A registry over a fresh SQLite database holding one document, `doc`.
async fn registry(dir: &std::path::Path, idle: Duration) -> Addr<DocumentRegistry> {
    let url = format!("sqlite://{}", dir.join("quire.db").display());
    let dbs = crate::db::open(&url, Default::default()).await.unwrap();
    document::ActiveModel {
        id: Set("doc".into()),
        title: Set(None),
        sha256: Set("0".repeat(64)),
        byte_size: Set(1),
        page_count: Set(1),
        created_at: Set(1),
        updated_at: Set(1),
        head_seq: Set(0),
    }
    .insert(&dbs.main)
    .await
    .unwrap();
    let config = DocumentConfig {
        idle_timeout: idle,
        ..DocumentConfig::default()
    };
    DocumentRegistry::new(dbs, config, vec![Arbiter::current()]).start()
}

/// The actor of `doc`, started by a fresh registry.
async fn open(dir: &std::path::Path, idle: Duration) -> Addr<DocumentActor> {
    registry(dir, idle)
        .await
        .send(Lookup {
            document_id: "doc".into(),
        })
        .await
        .unwrap()
}

async fn join(doc: &Addr<DocumentActor>, peer: Peer) {
    doc.send(Join { peer, since: None }).await.unwrap();
}

/// The next text frame in `rx`, parsed.
async fn next(rx: &mut OutboxReceiver) -> serde_json::Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a message in time")
            .expect("the outbox is open");
        if let Outgoing::Text(text) = msg {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[actix::test]
async fn a_session_whose_outbox_closed_leaves_the_presence_list_of_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let doc = open(dir.path(), Duration::from_secs(30)).await;
    let (alive, mut alive_rx) = peer(1);
    join(&doc, alive).await;
    assert_eq!(next(&mut alive_rx).await["type"], "welcome");

    // A session whose writer is already gone (its socket failed) joins: its welcome cannot be
    // delivered, so it is dropped. Joined and left within one presence tick, it is never
    // mentioned to the others; a session joining next does not find it in its welcome.
    let (dead, dead_rx) = peer(2);
    drop(dead_rx);
    join(&doc, dead).await;
    let (third, mut third_rx) = peer(3);
    join(&doc, third).await;
    let welcome = next(&mut third_rx).await;
    assert_eq!(
        welcome["presence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["session_id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [crate::wire::server::session_label(1).as_str()],
        "{welcome}"
    );
    let joined = next(&mut alive_rx).await;
    assert_eq!(joined["event"], "joined", "{joined}");
    assert_eq!(
        joined["session"]["session_id"],
        crate::wire::server::session_label(3).as_str(),
        "{joined}"
    );
}

/// A session the others were told of, whose writer then goes away, is announced as left.
#[actix::test]
async fn a_session_whose_outbox_closed_after_it_was_announced_is_announced_as_left() {
    let dir = tempfile::tempdir().unwrap();
    let doc = open(dir.path(), Duration::from_secs(30)).await;
    let (alive, mut alive_rx) = peer(1);
    join(&doc, alive).await;
    assert_eq!(next(&mut alive_rx).await["type"], "welcome");
    let (other, mut other_rx) = peer(2);
    join(&doc, other).await;
    assert_eq!(next(&mut other_rx).await["type"], "welcome");
    assert_eq!(next(&mut alive_rx).await["event"], "joined");
    drop(other_rx);
    // The next message to session 2 finds its outbox closed.
    doc.send(SetPresence {
        session_id: 1,
        state: serde_json::value::RawValue::from_string("{}".into()).unwrap(),
    })
    .await
    .unwrap();
    let left = next(&mut alive_rx).await;
    assert_eq!(left["event"], "left", "{left}");
    assert_eq!(
        left["session_id"],
        crate::wire::server::session_label(2).as_str()
    );
}

#[actix::test]
async fn a_document_whose_only_session_lost_its_outbox_still_stops_when_idle() {
    let dir = tempfile::tempdir().unwrap();
    let doc = open(dir.path(), Duration::from_millis(200)).await;
    let (dead, dead_rx) = peer(1);
    drop(dead_rx);
    join(&doc, dead).await;
    tokio::time::timeout(Duration::from_secs(10), async {
        while doc.connected() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the idle document stopped");
}

/// A join storm: 300 sessions joining one after the other reach the first session as a few
/// presence batches, not one message per join (with one message each, its 64-message outbox
/// would overflow and it would be dropped as too slow).
#[actix::test]
async fn a_join_storm_reaches_the_others_as_a_few_presence_batches() {
    let dir = tempfile::tempdir().unwrap();
    let doc = open(dir.path(), Duration::from_secs(30)).await;
    let (first, mut first_rx) = peer(1);
    join(&doc, first).await;
    assert_eq!(next(&mut first_rx).await["type"], "welcome");
    let mut others = Vec::new();
    for id in 2..=301 {
        let (p, rx) = peer(id);
        join(&doc, p).await;
        others.push(rx);
    }
    let mut heard = std::collections::HashSet::new();
    let mut messages = 0;
    while heard.len() < 300 {
        let msg = next(&mut first_rx).await;
        assert_eq!(msg["type"], "presence", "{msg}");
        messages += 1;
        let events = match msg["events"].as_array() {
            Some(events) => events.clone(),
            None => vec![msg.clone()],
        };
        for e in events {
            assert_eq!(e["event"], "joined", "{e}");
            heard.insert(e["session"]["session_id"].as_str().unwrap().to_string());
        }
    }
    assert!(messages <= 50, "{messages} presence messages for 300 joins");
    // The last to join lists everyone else in its welcome.
    let mut last = others.pop().unwrap();
    let welcome = next(&mut last).await;
    assert_eq!(welcome["presence"].as_array().unwrap().len(), 300);
}
