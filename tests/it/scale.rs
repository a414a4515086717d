//! Several `quire serve` nodes on one PostgreSQL database and one blob store: convergence of
//! concurrent writers on different nodes, cross-node fan-out, revocations and deletions reaching
//! every node. Every test needs PostgreSQL at 127.0.0.1:5432 (`make test` runs them).

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::common::pdf::one_page;
use crate::common::pg::TempDatabase;
use crate::common::ws::{create, ink, presence_events, Model, Ws};
use crate::common::{Options, Server};

/// Nodes sharing a database, a blob store and a root key.
pub(crate) struct Cluster {
    pub nodes: Vec<Server>,
    _db: Option<TempDatabase>,
    _blobs: Option<tempfile::TempDir>,
}

async fn cluster(n: usize) -> Cluster {
    let db = TempDatabase::create().await;
    let mut c = cluster_on(&db.url(), n).await;
    c._db = Some(db);
    c
}

async fn cluster_on(url: &str, n: usize) -> Cluster {
    let blobs = tempfile::tempdir().unwrap();
    let blob_url = format!("file://{}", blobs.path().display());
    let mut c = cluster_with(url, n, &blob_url, &[]).await;
    c._blobs = Some(blobs);
    c
}

/// `n` nodes on the database at `url` and the blob store at `blob_url` (with `env`, e.g. the
/// `AWS_*` variables).
pub(crate) async fn cluster_with(
    url: &str,
    n: usize,
    blob_url: &str,
    env: &[(String, String)],
) -> Cluster {
    let options = |root_key: Option<String>| {
        let mut env = env.to_vec();
        env.extend(root_key.map(|k| ("QUIRE_ROOT_KEY".to_string(), k)));
        Options {
            database_url: Some(url.to_string()),
            extra_args: vec!["--blob-url".into(), blob_url.to_string()],
            env,
            ..Default::default()
        }
    };
    let first = Server::start_with(options(None)).await;
    let root_key = std::fs::read_to_string(first.data_dir.join("root_key"))
        .expect("the first node wrote its root key")
        .trim()
        .to_string();
    let mut nodes = vec![first];
    for _ in 1..n {
        nodes.push(Server::start_with(options(Some(root_key.clone()))).await);
    }
    for node in &nodes {
        wait_ready(node).await;
    }
    Cluster {
        nodes,
        _db: None,
        _blobs: None,
    }
}

/// Waits until the node listens for the others' hints (`/readyz` answers 200).
async fn wait_ready(node: &Server) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = node.http.get(node.url("/readyz")).send().await.unwrap();
        if res.status() == reqwest::StatusCode::OK {
            let body: Value = res.json().await.unwrap();
            assert!(body["notification_queue_usage"].is_number(), "{body}");
            assert_eq!(body["listener"], "ok");
            return;
        }
        assert!(Instant::now() < deadline, "node never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A live client keeping a model of the layer from its acks and others' changes, and every
/// sequence number it has seen.
struct Client {
    ws: Ws,
    model: Model,
    seen: Vec<i64>,
    sent: std::collections::HashMap<String, (String, Option<Value>)>,
}

impl Client {
    async fn join(node: &Server, token: &str) -> Client {
        let ws = Ws::join(node, token, None).await;
        let model = Model::from_records(&ws.welcome["records"]);
        // What the snapshot covers counts as seen.
        let head = ws.welcome["head_seq"].as_i64().unwrap();
        Client {
            ws,
            model,
            seen: (1..=head).collect(),
            sent: Default::default(),
        }
    }

    /// Sends one change and reads until it is answered, applying whatever comes in between.
    async fn change(&mut self, change: Value) -> Value {
        let client_id = change["client_id"].as_str().unwrap().to_string();
        let id = change["id"].as_str().unwrap().to_string();
        let content = (change["op"] != "delete").then(|| change["content"].clone());
        self.sent.insert(client_id.clone(), (id, content));
        self.ws
            .send(json!({"type": "changes", "changes": [change]}))
            .await;
        loop {
            let v = self.next(Duration::from_secs(30)).await.expect("an answer");
            if v["client_id"] == client_id.as_str() && (v["type"] == "ack" || v["type"] == "reject")
            {
                return v;
            }
        }
    }

    /// The next message, applied to the model; `None` at the timeout. A closed socket fails
    /// the test: no session may be closed.
    async fn next(&mut self, wait: Duration) -> Option<Value> {
        let v = match self.ws.try_recv(wait).await {
            Ok(v) => v,
            Err(None) => return None,
            Err(Some(closed)) => panic!("a session was closed: {closed:?}"),
        };
        self.note(&v);
        Some(v)
    }

    /// Applies a message to the model (changes and acks).
    fn note(&mut self, v: &Value) {
        if v["type"] == "change" {
            self.seen.push(v["seq"].as_i64().unwrap());
            self.model.apply_change(v);
        } else if v["type"] == "ack" {
            let seq = v["seq"].as_i64().unwrap();
            self.seen.push(seq);
            if let Some((id, content)) = self.sent.remove(v["client_id"].as_str().unwrap()) {
                self.model.apply(id, seq, content);
            }
        }
    }

    /// Joins `node` again with `since` set to the newest sequence number seen, applying the
    /// changes the welcome carries.
    async fn rejoin(mut self, node: &Server, token: &str) -> Client {
        let since = self.seen.iter().max().copied().unwrap_or(0);
        let ws = Ws::join(node, token, Some(since)).await;
        for change in ws.welcome["changes"]
            .as_array()
            .expect("changes after since")
        {
            self.seen.push(change["seq"].as_i64().unwrap());
            self.model.apply_change(change);
        }
        self.ws = ws;
        self
    }

    /// Reads until the model reaches `head`.
    async fn drain_to(&mut self, head: i64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.seen.iter().max().copied().unwrap_or(0) < head {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                self.next(left).await.is_some(),
                "never reached head {head}; saw up to {:?}",
                self.seen.iter().max()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432 (make test runs it)"]
async fn postgres_three_nodes_converge_with_one_gap_free_sequence() {
    let c = cluster(3).await;
    let pdf = one_page("scale");
    c.nodes[0].upload_ok(pdf.clone(), "shared").await;
    let res = c.nodes[2]
        .backend(reqwest::Method::GET, "/api/documents/shared/file")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert_eq!(
        res.bytes().await.unwrap().as_ref(),
        pdf.as_slice(),
        "node 3 serves node 1's upload"
    );

    // 30 clients, 10 on each node; each creates, updates and deletes its own records and
    // updates a few records everybody shares.
    let mut clients = Vec::new();
    for i in 0..30 {
        let node = &c.nodes[i % 3];
        let token = node
            .token("shared", &format!("u{i}"), &["read-document", "write"])
            .await;
        clients.push(Client::join(node, &token).await);
    }
    let mut first = clients.remove(0);
    for s in 0..3 {
        let ack = first
            .change(create(&format!("s{s}"), &format!("common-{s}"), 0))
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    clients.insert(0, first);
    let runs = clients.into_iter().enumerate().map(|(i, mut client)| async move {
        let mut acked = 0;
        for round in 0..4 {
            let own = format!("r{i}-{round}");
            let changes = [
                create(&format!("{own}-c"), &own, 0),
                json!({"client_id": format!("{own}-u"), "op": "update", "id": own, "content": ink(0, "moved")}),
                json!({"client_id": format!("{own}-s"), "op": "update", "id": format!("common-{}", i % 3), "content": ink(0, &own)}),
            ];
            for change in changes {
                let answer = client.change(change).await;
                assert_eq!(answer["type"], "ack", "{answer}");
                acked += 1;
            }
            if round % 2 == 1 {
                let answer = client
                    .change(json!({"client_id": format!("{own}-d"), "op": "delete", "id": own}))
                    .await;
                assert_eq!(answer["type"], "ack", "{answer}");
                acked += 1;
            }
        }
        (client, acked)
    });
    let started = Instant::now();
    let finished = join_all(runs).await;
    let total: usize = finished.iter().map(|(_, n)| n).sum();
    println!(
        "30 clients on 3 nodes: {total} changes acknowledged in {:?}",
        started.elapsed()
    );

    let stored = c.nodes[1].records("shared").await;
    let head = stored["head_seq"].as_i64().expect("records carry the head");
    assert_eq!(
        head,
        total as i64 + 3,
        "one sequence number per acknowledged change"
    );
    let truth = Model::from_records(&stored["records"]).live();
    for (mut client, _) in finished {
        client.drain_to(head).await;
        let mut seen = client.seen.clone();
        seen.sort();
        let expected: Vec<i64> = (1..=head).collect();
        let from = seen.iter().position(|&s| s > 3).unwrap_or(seen.len());
        assert_eq!(
            &seen[from..],
            &expected[3..],
            "each change seen once, no gap"
        );
        assert_eq!(
            client.model.live(),
            truth,
            "a client's state is the database's"
        );
    }
    for node in &c.nodes {
        assert_eq!(
            Model::from_records(&node.records("shared").await["records"]).live(),
            truth
        );
    }
}

/// Batches of a node whose commit lost the race for the document's sequence row to another
/// node (the `conflict` kind of `quire_commit_failures_total`).
async fn lost_races(node: &Server) -> f64 {
    let text = node
        .http
        .get(node.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("quire_commit_failures_total{kind=\"conflict\"} "))
        .map_or(0.0, |v| v.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432 (make test runs it)"]
async fn postgres_nodes_writing_one_document_take_turns_instead_of_racing() {
    // Once a node has seen another node write the document (or lost one race to it), it
    // commits under the sequence row's lock: the nodes wait their turn, and no batch loses
    // again. (Racing optimistically, 12 writers on 3 nodes lose dozens of times here.)
    let c = cluster(3).await;
    c.nodes[0].upload_ok(one_page("turns"), "hot").await;
    let mut clients = Vec::new();
    for i in 0..12 {
        let node = &c.nodes[i % 3];
        let token = node
            .token("hot", &format!("u{i}"), &["read-document", "write"])
            .await;
        clients.push(Client::join(node, &token).await);
    }
    let runs = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut client)| async move {
            for n in 0..25 {
                let answer = client
                    .change(create(&format!("c{i}-{n}"), &format!("ink-{i}-{n}"), 0))
                    .await;
                assert_eq!(answer["type"], "ack", "{answer}");
            }
        });
    join_all(runs).await;
    let stored = c.nodes[2].records("hot").await;
    assert_eq!(stored["head_seq"], 300, "every change committed once");
    let mut lost = 0.0;
    for node in &c.nodes {
        lost += lost_races(node).await;
    }
    println!("races lost by 3 nodes over 300 concurrent changes to one document: {lost}");
    assert!(
        lost <= 3.0,
        "each node loses at most its first race, then takes turns; lost {lost}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432 (make test runs it)"]
async fn postgres_a_change_on_node_1_reaches_a_client_on_node_2() {
    let c = cluster(2).await;
    c.nodes[0].upload_ok(one_page("latency"), "doc").await;
    let writer_token = c.nodes[0]
        .token("doc", "w", &["read-document", "write"])
        .await;
    let reader_token = c.nodes[1].token("doc", "r", &["read-document"]).await;
    let mut writer = Client::join(&c.nodes[0], &writer_token).await;
    let mut reader = Client::join(&c.nodes[1], &reader_token).await;
    let mut latencies = Vec::new();
    for i in 0..20 {
        let sent = Instant::now();
        let ack = writer
            .change(create(&format!("c{i}"), &format!("ink-{i}"), 0))
            .await;
        assert_eq!(ack["type"], "ack");
        let seq = ack["seq"].as_i64().unwrap();
        reader.drain_to(seq).await;
        latencies.push(sent.elapsed());
    }
    latencies.sort();
    println!(
        "cross-node latency (write on node 1 to delivery on node 2, 20 changes): median {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies.last().unwrap()
    );
    assert_eq!(reader.model.live(), writer.model.live());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432 (make test runs it)"]
async fn postgres_revocation_and_deletion_close_sessions_on_every_node() {
    let c = cluster(3).await;
    c.nodes[0].upload_ok(one_page("close"), "doc").await;
    let minted = c.nodes[0]
        .mint(json!({"document_id": "doc", "user_id": "revoked", "permissions": ["read-document", "write"]}))
        .await;
    let token = minted["token"].as_str().unwrap().to_string();
    let mut held = Ws::join(&c.nodes[2], &token, None).await;
    let mut others = Vec::new();
    for node in &c.nodes {
        let t = node
            .token("doc", "stays", &["read-document", "write"])
            .await;
        others.push(Ws::join(node, &t, None).await);
    }

    let revoked_at = Instant::now();
    let res = c.nodes[0].revoke(&json!({"token": token})).await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let closed = loop {
        match held.try_recv(Duration::from_secs(1)).await {
            Ok(_) => continue,
            Err(Some(closed)) => break closed,
            Err(None) => panic!("the session on node 3 was not closed within a second"),
        }
    };
    assert!(revoked_at.elapsed() < Duration::from_secs(1));
    assert!(closed.reason.contains("revoked"), "{closed:?}");
    println!(
        "revocation on node 1 closed the session on node 3 in {:?}",
        revoked_at.elapsed()
    );
    // The token is refused on every node now.
    let mut again = Ws::open(&c.nodes[1]).await;
    again.send(json!({"type": "hello", "token": token})).await;
    while let Ok(v) = again.try_recv(Duration::from_secs(5)).await {
        assert_ne!(v["type"], "welcome", "a revoked token joined: {v}");
    }

    let res = c.nodes[1]
        .backend(reqwest::Method::DELETE, "/api/documents/doc")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::NO_CONTENT);
    for mut ws in others {
        let closed = loop {
            match ws.try_recv(Duration::from_secs(5)).await {
                Ok(_) => continue,
                Err(Some(closed)) => break closed,
                Err(None) => panic!("a session of the deleted document stayed open"),
            }
        };
        assert!(closed.reason.contains("deleted"), "{closed:?}");
    }
}

/// A client that reconnects with a `since` past what this node has seen (another node committed
/// it, and the hint has not arrived) gets those changes once this node caught up, never an
/// older snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432 (make test runs it)"]
async fn postgres_a_since_ahead_of_the_node_waits_for_its_catch_up() {
    use sea_orm::{ConnectionTrait, Database};
    let c = cluster(1).await;
    let node = &c.nodes[0];
    node.upload_ok(one_page("since"), "doc").await;
    let token = node.token("doc", "u", &["read-document", "write"]).await;
    let mut a = Ws::join(node, &token, None).await;
    assert_eq!(a.change(create("c1", "r1", 0)).await["seq"], 1);

    // Another node's commit, without its hint.
    let db = Database::connect(c._db.as_ref().unwrap().url())
        .await
        .unwrap();
    let content = ink(0, "elsewhere").to_string();
    db.execute_unprepared(&format!(
        "BEGIN; \
         INSERT INTO records (document_id, layer, id, kind, content, creator, seq, created_at, updated_at) \
           VALUES ('doc', '', 'other', 'annotation', '{content}', 'x', 2, 1, 1); \
         INSERT INTO changes (document_id, seq, layer, record_id, kind, op, content, author, creator, created_at, at) \
           VALUES ('doc', 2, '', 'other', 'annotation', 'create', '{content}', 'x', 'x', 1, 1); \
         UPDATE documents SET head_seq = 2 WHERE id = 'doc'; COMMIT;"
    ))
    .await
    .unwrap();

    let b = Ws::join(node, &token, Some(2)).await;
    assert_eq!(b.welcome["head_seq"], 2, "{}", b.welcome);
    assert!(b.welcome["records"].is_null(), "no snapshot: {}", b.welcome);
    // The first client heard of it too.
    let missed = a.recv_type("change").await;
    assert_eq!(missed["id"], "other");

    // A `since` the database does not have either gets the current snapshot.
    let c3 = Ws::join(node, &token, Some(50)).await;
    assert_eq!(c3.welcome["head_seq"], 2);
    assert_eq!(c3.welcome["records"].as_array().unwrap().len(), 2);
}

/// Deleting the last document of a blob on one node while the same bytes are uploaded on
/// another never leaves a document without its bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432 (make test runs it)"]
async fn postgres_a_blob_deleted_and_uploaded_on_two_nodes_at_once_keeps_its_bytes() {
    let c = cluster(2).await;
    blob_race(&c, 15).await;
}

/// Node 1 deletes the last document of a PDF while node 2 uploads the same bytes, `rounds`
/// times: the new document's bytes are always there, on every node.
pub(crate) async fn blob_race(c: &Cluster, rounds: usize) {
    let pdf = one_page("race");
    for round in 0..rounds {
        let old = format!("old-{round}");
        let new = format!("new-{round}");
        c.nodes[0].upload_ok(pdf.clone(), &old).await;
        let delete = async {
            let res = c.nodes[0]
                .backend(reqwest::Method::DELETE, &format!("/api/documents/{old}"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), reqwest::StatusCode::NO_CONTENT);
        };
        let upload = c.nodes[1].upload_ok(pdf.clone(), &new);
        tokio::join!(delete, upload);
        for node in &c.nodes {
            let res = node
                .backend(reqwest::Method::GET, &format!("/api/documents/{new}/file"))
                .send()
                .await
                .unwrap();
            assert_eq!(
                res.status(),
                reqwest::StatusCode::OK,
                "round {round}: the bytes are gone"
            );
            assert_eq!(res.bytes().await.unwrap().as_ref(), pdf.as_slice());
        }
        let res = c.nodes[1]
            .backend(reqwest::Method::DELETE, &format!("/api/documents/{new}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::NO_CONTENT);
    }
}

/// Node 2 is killed (SIGKILL) while clients on nodes 1 and 2 write; node 2's clients reconnect
/// to node 3 with `since` and resend what was not acknowledged. Every acknowledged change is
/// stored, none twice, and every client ends with the database's state and a gap-free sequence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432 (make test runs it)"]
async fn postgres_clients_of_a_killed_node_reconnect_to_another_and_lose_nothing() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let c = cluster(3).await;
    c.nodes[0].upload_ok(one_page("kill"), "doc").await;
    let token = c.nodes[0]
        .token("doc", "w", &["read-document", "write"])
        .await;
    let acked_total = AtomicUsize::new(0);
    const PER_CLIENT: usize = 30;

    let writer = |n: usize| {
        let (token, acked_total, c) = (token.clone(), &acked_total, &c);
        async move {
            let home = if n.is_multiple_of(2) { 1 } else { 0 };
            let mut client = Client::join(&c.nodes[home], &token).await;
            let mut acked: Vec<String> = Vec::new();
            let mut moved = false;
            let mut i = 0;
            while acked.len() < PER_CLIENT {
                let id = format!("w{n}-{i}");
                let change = create(&format!("{n}-{i}"), &id, 0);
                client.sent.insert(
                    format!("{n}-{i}"),
                    (id.clone(), Some(change["content"].clone())),
                );
                if !client
                    .ws
                    .send_raw(tokio_tungstenite::tungstenite::Message::Text(
                        json!({"type": "changes", "changes": [change]})
                            .to_string()
                            .into(),
                    ))
                    .await
                {
                    client = client.rejoin(&c.nodes[2], &token).await;
                    moved = true;
                    continue; // resend the same change
                }
                let answer = loop {
                    match client.ws.try_recv(Duration::from_secs(30)).await {
                        Ok(v) => {
                            client.note(&v);
                            if v["client_id"] == format!("{n}-{i}") {
                                break Some(v);
                            }
                        }
                        Err(Some(_)) => break None,
                        Err(None) => panic!("no answer from a live node"),
                    }
                };
                match answer {
                    None => {
                        client = client.rejoin(&c.nodes[2], &token).await;
                        moved = true;
                        // Resent below; it may have been committed before the kill.
                    }
                    Some(v) if v["type"] == "ack" => {
                        acked.push(id);
                        acked_total.fetch_add(1, Ordering::Relaxed);
                        i += 1;
                    }
                    Some(v) if v["code"] == "already_exists" => {
                        // Committed before the kill, unacknowledged: not stored twice.
                        acked.push(id);
                        i += 1;
                    }
                    Some(v) => panic!("unexpected answer {v}"),
                }
            }
            (client, acked, moved || home == 0)
        }
    };
    let killer = async {
        while acked_total.load(Ordering::Relaxed) < 60 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        unsafe { libc::kill(c.nodes[1].pid() as i32, libc::SIGKILL) };
    };
    let (finished, ()) = tokio::join!(join_all((0..6).map(writer)), killer);

    let stored = c.nodes[2].records("doc").await;
    let head = stored["head_seq"].as_i64().unwrap();
    let truth = Model::from_records(&stored["records"]).live();
    assert_eq!(
        truth.len(),
        6 * PER_CLIENT,
        "every acknowledged change, once"
    );
    for (mut client, acked, moved) in finished {
        assert!(moved, "node 2's clients moved to node 3");
        for id in &acked {
            assert!(truth.contains_key(id), "acknowledged {id} was lost");
        }
        client.drain_to(head).await;
        let mut seen = client.seen.clone();
        seen.sort();
        seen.dedup();
        assert_eq!(seen, (1..=head).collect::<Vec<_>>(), "gap-free");
        assert_eq!(client.model.live(), truth);
    }
}

/// PostgreSQL (a private instance) stops for eleven seconds under three nodes with writers on
/// each: writes are refused as `unavailable` meanwhile, no session closes, every node recovers
/// by itself (its listener reconnects, `/readyz` is ready again) and all nodes end with the
/// same state as the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL server binaries (make test runs it)"]
async fn postgres_restarted_under_three_nodes_refuses_writes_and_every_node_recovers() {
    use crate::outage::write_through;
    let mut pg = crate::common::pg::PrivatePostgres::new().await;
    let c = cluster_on(&pg.url(), 3).await;
    c.nodes[0].upload_ok(one_page("restart"), "doc").await;
    let token = c.nodes[0]
        .token("doc", "w", &["read-document", "write"])
        .await;
    let mut writers = Vec::new();
    for node in &c.nodes {
        writers.push(Ws::join(node, &token, None).await);
    }
    // Longer than the pool's 10-second connect timeout, so writes are refused, not delayed.
    let outage = Duration::from_secs(11);
    let stop_at = Instant::now() + Duration::from_millis(300) + outage + Duration::from_millis(500);
    let work = join_all(
        writers
            .into_iter()
            .enumerate()
            .map(|(n, ws)| write_through(ws, n, stop_at)),
    );
    let restart = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        pg.stop().await;
        tokio::time::sleep(outage).await;
        pg.start().await;
    };
    let (tallies, ()) = tokio::join!(work, restart);
    assert!(
        tallies.iter().any(|t| t.unavailable > 0),
        "writes were refused during the outage"
    );
    assert!(tallies.iter().all(|t| t.acked_after_outage));
    for node in &c.nodes {
        wait_ready(node).await;
    }

    // Every node converges on the database's state.
    let acked: usize = tallies.iter().map(|t| t.acked.len()).sum();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut states = Vec::new();
        for node in &c.nodes {
            states.push(Model::from_records(&node.records("doc").await["records"]).live());
        }
        if states.iter().all(|s| s.len() == acked && *s == states[0]) {
            for t in &tallies {
                for id in &t.acked {
                    assert!(states[0].contains_key(id), "acknowledged {id} lost");
                }
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nodes did not converge after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The listening connection is killed on the database side: each node listens again by itself,
/// and a change made meanwhile still reaches the other node's sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432 (make test runs it)"]
async fn postgres_a_dropped_listener_reconnects_and_documents_catch_up() {
    use sea_orm::{ConnectionTrait, Database};
    let c = cluster(2).await;
    c.nodes[0].upload_ok(one_page("listener"), "doc").await;
    let token = c.nodes[0]
        .token("doc", "u", &["read-document", "write"])
        .await;
    let mut writer = Client::join(&c.nodes[0], &token).await;
    let mut reader = Client::join(&c.nodes[1], &token).await;

    let db = Database::connect(c._db.as_ref().unwrap().url())
        .await
        .unwrap();
    let killed = db
        .query_all(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{}' AND query LIKE 'LISTEN%'",
                c._db.as_ref().unwrap().name()
            ),
        ))
        .await
        .unwrap();
    assert_eq!(killed.len(), 2, "one listening connection per node");

    let ack = writer.change(create("c1", "r1", 0)).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    reader.drain_to(ack["seq"].as_i64().unwrap()).await;
    assert_eq!(reader.model.live(), writer.model.live());

    let deadline = Instant::now() + Duration::from_secs(10);
    for node in &c.nodes {
        while !node
            .log_text()
            .contains("listening for other nodes' hints again")
        {
            assert!(Instant::now() < deadline, "a node did not listen again");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        wait_ready(node).await;
    }
}

/// `quire-bench --url` repeated spreads its clients over the nodes and reports the fan-out of
/// changes that crossed nodes (a smoke run; the figures are in docs/performance.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432 (make test runs it)"]
async fn postgres_bench_spreads_clients_over_nodes_and_reports_cross_node_fan_out() {
    let c = cluster(3).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let mut cmd = std::process::Command::new(crate::bench::exe());
    cmd.args(["fanout", "--clients", "6", "--total-rate", "60"])
        .args(["--duration", "1", "--warmup", "0.5", "--api-key"])
        .arg(crate::common::API_KEY)
        .arg("--json")
        .arg(&json);
    for node in &c.nodes {
        cmd.args(["--url", &node.base]);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run quire-bench"))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("cross-node fan-out"), "{stdout}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["disconnects"], 0, "{r}");
    assert_eq!(r["parameters"]["nodes"], 3, "{r}");
    assert!(
        r["cross_node_fanout_latency"]["count"].as_u64().unwrap() > 0,
        "{r}"
    );
}

/// Presence crosses nodes: a session on node 2 learns of one on node 1 (joined, with its state),
/// hears its state changes and its leaving; session ids differ across nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432 (make test runs it)"]
async fn postgres_presence_crosses_nodes() {
    let c = cluster(2).await;
    c.nodes[0].upload_ok(one_page("presence"), "doc").await;
    let ta = c.nodes[0].token("doc", "ann", &["read-document"]).await;
    let tb = c.nodes[1].token("doc", "bob", &["read-document"]).await;
    let mut a = Ws::join(&c.nodes[0], &ta, None).await;
    a.send(json!({"type": "presence", "state": {"page": 1}}))
        .await;
    let a_id = a.welcome["session_id"].as_str().unwrap().to_string();

    // Bob joins on node 2: Ann shows up in his welcome or right after it, with her state.
    let mut b = Ws::join(&c.nodes[1], &tb, None).await;
    let b_id = b.welcome["session_id"].as_str().unwrap().to_string();
    assert_ne!(a_id, b_id, "session ids are unique across nodes");
    let in_welcome = b.welcome["presence"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["session_id"] == a_id.as_str() && p["state"]["page"] == 1);
    if !in_welcome {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        'heard: loop {
            let v = b.recv_until(deadline).await.expect("Ann's presence");
            for v in presence_events(&v) {
                let entry = &v["session"];
                if v["event"] == "joined" && entry["session_id"] == a_id.as_str() {
                    if entry["state"]["page"] == 1 {
                        break 'heard;
                    }
                } else if v["event"] == "state"
                    && v["session_id"] == a_id.as_str()
                    && v["state"]["page"] == 1
                {
                    break 'heard;
                }
            }
        }
    }
    // Ann hears of Bob.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    'heard: loop {
        let v = a.recv_until(deadline).await.expect("Bob's presence");
        for v in presence_events(&v) {
            if v["event"] == "joined" && v["session"]["session_id"] == b_id.as_str() {
                assert_eq!(v["session"]["user_id"], "bob");
                break 'heard;
            }
        }
    }

    let sent = Instant::now();
    a.send(json!({"type": "presence", "state": {"page": 2}}))
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let v = b.recv_until(deadline).await.expect("Ann's new state");
        if presence_events(&v).iter().any(|v| {
            v["event"] == "state" && v["session_id"] == a_id.as_str() && v["state"]["page"] == 2
        }) {
            break;
        }
    }
    println!("presence crossed nodes in {:?}", sent.elapsed());

    drop(a);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let v = b.recv_until(deadline).await.expect("Ann leaving");
        if presence_events(&v)
            .iter()
            .any(|v| v["event"] == "left" && v["session_id"] == a_id.as_str())
        {
            break;
        }
    }
}
