//! The generated schemas: the committed copies (docs/protocol.schema.json, docs/openapi.json)
//! equal what the server serves, and every frame of a live session, in both directions, is valid
//! against the protocol schema, so the schema cannot drift from what is sent.
//!
//! To regenerate the committed copies after changing a wire type (src/wire):
//! `UPDATE_SCHEMAS=1 cargo test --test it wire_schema`, then `cd web && npm run gen:types`.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::common::ws::{create, ink, presence_events, Ws};
use crate::common::{pdf, Server};

/// A committed schema compared with what the server serves at `route`, or rewritten with it
/// when `UPDATE_SCHEMAS` is set.
async fn check_committed(server: &Server, route: &str, file: &str) {
    let served: Value = server
        .http
        .get(format!("{}{route}", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut text = serde_json::to_string_pretty(&served).unwrap();
    text.push('\n');
    let path = format!("{}/docs/{file}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "docs/{file} is not what {route} serves: regenerate it with \
         `UPDATE_SCHEMAS=1 cargo test --test it wire_schema`, then `cd web && npm run gen:types`"
    );
}

#[tokio::test]
async fn the_committed_schemas_are_what_the_server_serves() {
    let server = Server::start().await;
    let res = server
        .http
        .get(format!("{}/api/protocol.schema.json", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/schema+json"
    );
    check_committed(&server, "/api/protocol.schema.json", "protocol.schema.json").await;
    check_committed(&server, "/api/openapi.json", "openapi.json").await;
}

/// Validators for one direction each: the committed schema with its root narrowed to
/// `ClientMessage` or `ServerMessage`.
struct Schemas {
    client: jsonschema::Validator,
    server: jsonschema::Validator,
}

impl Schemas {
    fn load() -> Schemas {
        let path = format!("{}/docs/protocol.schema.json", env!("CARGO_MANIFEST_DIR"));
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let narrowed = |def: &str| {
            let mut s = schema.clone();
            let root = s.as_object_mut().unwrap();
            root.remove("anyOf");
            root.insert("$ref".into(), json!(format!("#/$defs/{def}")));
            jsonschema::draft202012::new(&s).expect("the schema compiles")
        };
        Schemas {
            client: narrowed("ClientMessage"),
            server: narrowed("ServerMessage"),
        }
    }
}

/// A socket whose every frame is checked against the schema, and the message types seen.
struct Checked<'s> {
    ws: Ws,
    schemas: &'s Schemas,
    seen: BTreeSet<String>,
}

impl<'s> Checked<'s> {
    async fn open(server: &Server, schemas: &'s Schemas) -> Checked<'s> {
        Checked {
            ws: Ws::open(server).await,
            schemas,
            seen: BTreeSet::new(),
        }
    }

    async fn send(&mut self, v: Value) {
        let errors: Vec<String> = self
            .schemas
            .client
            .iter_errors(&v)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "sent {v}, invalid: {errors:?}");
        self.seen
            .insert(format!("sent {}", v["type"].as_str().unwrap()));
        self.ws.send(v).await;
    }

    async fn recv(&mut self) -> Value {
        let v = self.ws.recv().await;
        let errors: Vec<String> = self
            .schemas
            .server
            .iter_errors(&v)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "received {v}, invalid: {errors:?}");
        let mut label = format!("received {}", v["type"].as_str().unwrap());
        if let Some(event) = v["event"].as_str() {
            label = format!("{label} {event}");
        }
        self.seen.insert(label);
        // The events a batch carries count as seen too.
        if v["event"] == "batch" {
            for event in presence_events(&v) {
                let event = event["event"].as_str().unwrap_or_default();
                self.seen.insert(format!("received presence {event}"));
            }
        }
        v
    }

    /// Receives (and checks) until a presence event of `event` arrives, alone or in a batch.
    async fn recv_presence(&mut self, event: &str) -> Value {
        loop {
            let v = self.recv_type("presence").await;
            if let Some(found) = presence_events(&v)
                .into_iter()
                .find(|e| e["event"] == event)
            {
                return found;
            }
        }
    }

    /// Receives (and checks) until a message of `ty` arrives.
    async fn recv_type(&mut self, ty: &str) -> Value {
        loop {
            let v = self.recv().await;
            if v["type"] == ty {
                return v;
            }
        }
    }

    async fn join(&mut self, token: &str, since: Option<i64>) -> Value {
        let mut hello = json!({"type": "hello", "token": token, "protocol": 1});
        if let Some(since) = since {
            hello["since"] = json!(since);
        }
        self.send(hello).await;
        self.recv_type("welcome").await
    }
}

#[tokio::test]
async fn every_frame_of_a_live_session_is_valid_against_the_protocol_schema() {
    let schemas = Schemas::load();
    // The schema is not vacuous: a frame of the wrong direction or shape is refused.
    assert!(!schemas.server.is_valid(&json!({"type": "ping"})));
    assert!(!schemas.client.is_valid(&json!({"type": "pong"})));
    assert!(!schemas
        .client
        .is_valid(&json!({"type": "hello", "token": "t", "extra": 1})));
    assert!(!schemas
        .server
        .is_valid(&json!({"type": "ack", "client_id": "c"})));

    let server = Server::start().await;
    server.upload_ok(pdf::with_pages(3, "schema"), "doc").await;
    let alice = server
        .mint(json!({"document_id": "doc", "user_id": "alice", "user_name": "Alice", "permissions": ["all"]}))
        .await;
    let bob = server
        .token("doc", "bob", &["read-document", "write"])
        .await;
    let reader = server.token("doc", "carol", &["read-document"]).await;

    // A snapshot welcome, an ack and a change fan-out.
    let mut a = Checked::open(&server, &schemas).await;
    a.join(alice["token"].as_str().unwrap(), None).await;
    assert_eq!(a.send_change(create("c1", "ink-1", 1)).await["type"], "ack");
    let mut b = Checked::open(&server, &schemas).await;
    let welcome = b.join(&bob, None).await;
    assert_eq!(welcome["records"].as_array().unwrap().len(), 1);
    a.recv_presence("joined").await;

    // Presence: a state, relayed; an object, a string and null are all states.
    for state in [
        json!({"page": 2, "selection": ["ink-1"]}),
        json!("x"),
        Value::Null,
    ] {
        b.send(json!({"type": "presence", "state": state})).await;
        let relayed = a.recv_presence("state").await;
        assert_eq!(relayed["state"], state);
    }

    // An update fanned out, a stale update rejected with the current record, a delete.
    let mut moved = ink(1, "ink-1");
    moved["bbox"] = json!([1, 2, 3, 4]);
    let update = json!({"client_id": "u1", "op": "update", "id": "ink-1", "kind": "annotation", "base_rev": 1, "content": moved});
    assert_eq!(b.send_change(update.clone()).await["type"], "ack");
    assert_eq!(a.recv_type("change").await["op"], "update");
    let mut stale = update;
    stale["client_id"] = json!("u2");
    let reject = a.send_change(stale).await;
    assert_eq!(reject["code"], "stale_base", "{reject}");
    assert_eq!(reject["current"]["rev"], 2);
    let delete = json!({"client_id": "d1", "op": "delete", "id": "ink-1"});
    assert_eq!(a.send_change(delete).await["type"], "ack");
    assert_eq!(b.recv_type("change").await["record"], Value::Null);

    // A reader's write is refused; a catch-up welcome lists the changes after `since`.
    let mut c = Checked::open(&server, &schemas).await;
    let welcome = c.join(&reader, Some(0)).await;
    assert_eq!(welcome["changes"].as_array().unwrap().len(), 3);
    // (Heard of before it leaves: a session that joins and leaves within one presence tick is
    // not announced at all.)
    assert_eq!(
        a.recv_presence("joined").await["session"]["user_id"],
        "carol"
    );
    assert_eq!(welcome["presence"].as_array().unwrap().len(), 2);
    let refused = c.send_change(create("c2", "ink-2", 1)).await;
    assert_eq!(refused["code"], "not_permitted", "{refused}");

    // An error that keeps the socket open, and a pong.
    c.send(json!({"type": "presence", "state": {"blob": "x".repeat(5000)}}))
        .await;
    assert_eq!(c.recv_type("error").await["code"], "presence_too_large");
    c.send(json!({"type": "ping"})).await;
    c.recv_type("pong").await;

    // A session leaving.
    let c_seen = c.seen.clone();
    drop(c);
    a.recv_presence("left").await;

    let seen: BTreeSet<String> = a
        .seen
        .iter()
        .chain(&b.seen)
        .chain(&c_seen)
        .cloned()
        .collect();
    for label in [
        "sent hello",
        "sent changes",
        "sent presence",
        "received welcome",
        "received ack",
        "received reject",
        "received change",
        "received presence joined",
        "received presence state",
        "received presence left",
        "received error",
        "sent ping",
        "received pong",
    ] {
        assert!(
            seen.contains(label),
            "no frame `{label}` was checked: {seen:?}"
        );
    }
}

impl Checked<'_> {
    /// Sends one change and receives (checking everything) until its ack or reject.
    async fn send_change(&mut self, change: Value) -> Value {
        let client_id = change["client_id"].clone();
        self.send(json!({"type": "changes", "changes": [change]}))
            .await;
        loop {
            let v = self.recv().await;
            if (v["type"] == "ack" || v["type"] == "reject") && v["client_id"] == client_id {
                return v;
            }
        }
    }
}
