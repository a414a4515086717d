//! Stored snapshots (`store::snapshot`): a large document closed at shutdown or when idle opens
//! again from one stored row, and shows exactly what its records show; a snapshot of an older
//! head, or one that cannot be read, is passed over for the records themselves.

use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{json, Value};

use crate::common::backend::{on_both_backends, Backend};
use crate::common::ws::{create, Ws};
use crate::common::{Options, Server};
use crate::live::server_with_doc;

on_both_backends!(
    a_restart_opens_a_large_document_from_its_snapshot_exactly_as_from_its_records,
    an_unreadable_snapshot_is_passed_over_for_the_records,
    an_idle_document_stores_its_snapshot_and_its_deletion_removes_it,
);

/// Servers that store a snapshot of documents of 4 records or more.
fn options(backend: &Backend, dir: &tempfile::TempDir, extra: &[&str]) -> Options {
    let mut extra_args = vec!["--snapshot-min-records".to_string(), "4".to_string()];
    extra_args.extend(extra.iter().map(|a| a.to_string()));
    Options {
        data_dir: Some(dir.path().join("data")),
        extra_args,
        ..backend.options()
    }
}

/// The head of the stored snapshot of `doc`, if any, read straight from the database.
async fn stored_head(url: &str, doc: &str) -> Option<i64> {
    let db = Database::connect(url).await.unwrap();
    let sql = format!("SELECT head_seq FROM document_snapshots WHERE document_id = '{doc}'");
    let row = db
        .query_one(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()?;
    Some(row.try_get_by_index::<i64>(0).unwrap())
}

/// The server's count of one stored-snapshot event (`quire_document_snapshots_total`).
async fn snapshot_events(server: &Server, event: &str) -> f64 {
    let scrape = crate::metrics::scrape_at(server, &server.base).await;
    let key = format!(r#"quire_document_snapshots_total{{event="{event}"}}"#);
    scrape
        .get(key.as_str())
        .copied()
        .unwrap_or_else(|| panic!("no {key}"))
}

/// Replaces the stored snapshot's bytes.
async fn store(db: &sea_orm::DatabaseConnection, bytes: Vec<u8>) {
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => "UPDATE document_snapshots SET layers = $1",
        _ => "UPDATE document_snapshots SET layers = ?",
    };
    let res = db
        .execute(Statement::from_sql_and_values(backend, sql, [bytes.into()]))
        .await
        .unwrap();
    assert_eq!(res.rows_affected(), 1);
}

/// Sends `changes` and waits for as many answers, every one an ack.
async fn commit(ws: &mut Ws, changes: Vec<Value>) {
    let n = changes.len();
    ws.send(json!({"type": "changes", "changes": changes}))
        .await;
    let mut answered = 0;
    while answered < n {
        let v = ws.recv().await;
        if v["type"] == "ack" || v["type"] == "reject" {
            assert_eq!(v["type"], "ack", "{v}");
            answered += 1;
        }
    }
}

/// Joins as `token`, commits the annotations `r1` to `r{n}`, and leaves.
async fn create_records(server: &Server, token: &str, n: usize) {
    let mut ws = Ws::join(server, token, None).await;
    let creates = (1..=n)
        .map(|i| create(&format!("c{i}"), &format!("r{i}"), 0))
        .collect();
    commit(&mut ws, creates).await;
}

/// A session that sees only its own annotations.
async fn bob(server: &Server) -> String {
    server
        .mint(json!({"document_id": "doc", "user_id": "bob", "permissions": ["read-document", "write"],
                     "collaboration_permissions": ["annotations:view:self", "annotations:edit:self"]}))
        .await["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// What the sessions of each layer are shown, joining at once (one may see only its own
/// annotations): the main layer's and `review`'s welcomes' records and heads, and the
/// backend's read of the main layer.
async fn shown(server: &Server) -> Value {
    let main = server.token("doc", "u", &["all"]).await;
    let review = server
        .mint(json!({"document_id": "doc", "user_id": "v", "layer": "review", "permissions": ["all"]}))
        .await;
    let bob = bob(server).await;
    let (a, b, c) = tokio::join!(
        Ws::join(server, &main, None),
        Ws::join(server, review["token"].as_str().unwrap(), None),
        Ws::join(server, &bob, None),
    );
    json!({
        "main": [a.welcome["head_seq"], a.welcome["records"]],
        "review": [b.welcome["head_seq"], b.welcome["records"]],
        "bob": [c.welcome["head_seq"], c.welcome["records"]],
        "rest": server.records("doc").await,
    })
}

async fn a_restart_opens_a_large_document_from_its_snapshot_exactly_as_from_its_records(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_doc(options(&backend, &dir, &[])).await;
    let url = backend.database_url(&server);
    let token = server.token("doc", "u", &["all"]).await;
    create_records(&server, &token, 3).await;
    assert!(server.stop().success());
    assert_eq!(
        stored_head(&url, "doc").await,
        None,
        "3 records: below the minimum"
    );

    let server = Server::start_with(options(&backend, &dir, &[])).await;
    let mut a = Ws::join(&server, &token, None).await;
    let comment = json!({"client_id": "c5", "op": "create", "kind": "comment", "id": "r5",
        "content": {"rootId": "r1", "text": "é \"quoted\" \\ 😀"}});
    let bookmark = json!({"client_id": "c6", "op": "create", "kind": "bookmark", "id": "b1",
        "content": {"name": "Chapter\n1", "action": {"type": "goTo", "pageIndex": 1}}});
    let update = json!({"client_id": "c7", "op": "update", "id": "r2",
        "content": crate::common::ws::ink(2, "moved")});
    let delete = json!({"client_id": "c8", "op": "delete", "id": "r3"});
    commit(
        &mut a,
        vec![create("c4", "r4", 1), comment, bookmark, update, delete],
    )
    .await;
    let review = server
        .mint(json!({"document_id": "doc", "user_id": "v", "user_name": "Vé", "layer": "review", "permissions": ["all"]}))
        .await;
    let mut b = Ws::join(&server, review["token"].as_str().unwrap(), None).await;
    commit(&mut b, vec![create("x1", "x1", 0)]).await;
    let mut c = Ws::join(&server, &bob(&server).await, None).await;
    commit(&mut c, vec![create("y1", "bobs", 0)]).await;
    let before = shown(&server).await;
    assert_eq!(before["bob"][1].as_array().unwrap().len(), 1, "{before}");
    drop((a, b, c));
    let logs = server.logs.clone();
    assert!(server.stop().success());
    assert!(logs.lock().unwrap().join("\n").contains("snapshot stored"));
    let head = before["main"][0].as_i64().unwrap();
    assert_eq!(stored_head(&url, "doc").await, Some(head));

    // Opened from the snapshot: the same records, byte for byte where a client can tell.
    let server = Server::start_with(options(&backend, &dir, &[])).await;
    assert_eq!(shown(&server).await, before);
    server.log_shows(r#""from_snapshot":true"#, 1).await;
    assert_eq!(snapshot_events(&server, "opened").await, 1.0);

    // A change sent with the hello of a restart's first session: it waits for the records
    // and is committed after them.
    assert!(server.stop().success());
    let server = Server::start_with(options(&backend, &dir, &[])).await;
    let mut a = Ws::open(&server).await;
    a.send(json!({"type": "hello", "token": token})).await;
    a.send(json!({"type": "changes", "changes": [create("c9", "r9", 0)]}))
        .await;
    let welcome = a.recv_type("welcome").await;
    assert_eq!(welcome["records"], before["main"][1]);
    assert_eq!(a.recv_type("ack").await["client_id"], "c9");

    // The snapshot is of an older head now. A crash stores no new one, and the next open
    // reads the records.
    let after = shown(&server).await;
    assert_ne!(after, before);
    drop(a);
    drop(server); // SIGKILL
    assert_eq!(stored_head(&url, "doc").await, Some(head));
    let server = Server::start_with(options(&backend, &dir, &[])).await;
    assert_eq!(shown(&server).await, after);
    server.log_shows(r#""from_snapshot":false"#, 1).await;
    assert!(!server.log_text().contains(r#""from_snapshot":true"#));
}

async fn an_unreadable_snapshot_is_passed_over_for_the_records(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_doc(options(&backend, &dir, &[])).await;
    let url = backend.database_url(&server);
    let token = server.token("doc", "u", &["all"]).await;
    create_records(&server, &token, 5).await;
    let before = shown(&server).await;
    assert!(server.stop().success());
    assert!(stored_head(&url, "doc").await.is_some());
    let db = Database::connect(&url).await.unwrap();
    // Bytes that are not a compressed snapshot: their stated length is past the most read back.
    store(&db, vec![0xff; 64]).await;

    let server = Server::start_with(options(&backend, &dir, &[])).await;
    assert_eq!(shown(&server).await, before);
    server
        .log_shows(
            "the stored snapshot is unreadable; the records are read instead",
            1,
        )
        .await;
    assert_eq!(snapshot_events(&server, "unreadable").await, 1.0);
    assert_eq!(snapshot_events(&server, "opened").await, 0.0);
    server.log_shows(r#""from_snapshot":false"#, 1).await;

    // JSON, but not records: a session may be welcomed from it before the records are read,
    // and is then told to reconnect; the snapshot is deleted, and the next open reads the
    // records' rows.
    assert!(server.stop().success());
    assert!(
        stored_head(&url, "doc").await.is_some(),
        "stored again at shutdown"
    );
    store(
        &db,
        lz4_flex::block::compress_prepend_size(br#"{"":[{"id":"r1"}]}"#),
    )
    .await;
    let server = Server::start_with(options(&backend, &dir, &[])).await;
    let mut a = Ws::join(&server, &token, None).await;
    if a.welcome["records"] != before["main"][1] {
        // Welcomed from the snapshot's list before its records were read (else the records
        // failed first, and the join went to the document reopened from the rows).
        assert_eq!(a.welcome["records"], json!([{"id": "r1"}]));
        let closed = a.closed().await;
        assert_eq!(
            (closed.code, closed.reason.as_str()),
            (
                4008,
                "reconnect: the document is reopening on this server; reconnect"
            )
        );
    }
    server
        .log_shows("the stored snapshot's records are unreadable", 1)
        .await;
    server.log_shows("document closed", 1).await;
    assert_eq!(snapshot_events(&server, "opened").await, 1.0);
    assert_eq!(snapshot_events(&server, "unreadable").await, 1.0);
    assert_eq!(stored_head(&url, "doc").await, None);
    assert_eq!(shown(&server).await, before);
}

async fn an_idle_document_stores_its_snapshot_and_its_deletion_removes_it(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let idle = ["--document-idle-timeout", "1"];
    let server = server_with_doc(options(&backend, &dir, &idle)).await;
    let url = backend.database_url(&server);
    let token = server.token("doc", "u", &["all"]).await;
    create_records(&server, &token, 4).await;
    let before = shown(&server).await;
    server.log_shows("snapshot stored", 1).await;
    server.log_shows("document closed", 1).await;
    let head = before["main"][0].as_i64().unwrap();
    assert_eq!(stored_head(&url, "doc").await, Some(head));

    // Opened again on the same server, from the snapshot.
    assert_eq!(shown(&server).await, before);
    server.log_shows(r#""from_snapshot":true"#, 1).await;
    assert_eq!(snapshot_events(&server, "stored").await, 1.0);
    assert_eq!(snapshot_events(&server, "opened").await, 1.0);
    assert_eq!(snapshot_events(&server, "not_stored").await, 0.0);

    let res = server
        .backend(reqwest::Method::DELETE, "/api/documents/doc")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(stored_head(&url, "doc").await, None);
}
