//! A WebSocket test client speaking protocol v1.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{Server, TIMEOUT};

/// What a client sees of how its socket ended.
#[derive(Debug)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
}

/// A raw protocol connection.
pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub welcome: Value,
}

impl Ws {
    /// Opens a socket without saying hello.
    pub async fn open(server: &Server) -> Ws {
        let url = format!("{}/api/client/ws", server.base.replace("http://", "ws://"));
        let (stream, _) = tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect in time")
            .expect("connect");
        Ws {
            stream,
            welcome: Value::Null,
        }
    }

    /// Opens a socket whose receive buffer is tiny, for a client that reads slowly.
    pub async fn open_with_small_buffer(server: &Server) -> Ws {
        let addr: std::net::SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let tcp = socket.connect(addr).await.unwrap();
        let url = format!("ws://{addr}/api/client/ws");
        let (stream, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp))
            .await
            .expect("connect");
        Ws {
            stream,
            welcome: Value::Null,
        }
    }

    /// Opens a socket, says hello and waits for the welcome.
    pub async fn join(server: &Server, token: &str, since: Option<i64>) -> Ws {
        let mut ws = Ws::open(server).await;
        let mut hello = json!({"type": "hello", "token": token});
        if let Some(s) = since {
            hello["since"] = json!(s);
        }
        ws.send(hello).await;
        ws.welcome = ws.recv_type("welcome").await;
        ws
    }

    pub async fn send(&mut self, v: Value) {
        self.stream
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("send");
    }

    pub async fn send_raw(&mut self, msg: Message) -> bool {
        self.stream.send(msg).await.is_ok()
    }

    /// The next protocol message (pings are answered by the library and skipped).
    pub async fn recv(&mut self) -> Value {
        self.try_recv(TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("expected a message: {e:?}"))
    }

    /// The next message, or how the socket ended, or a timeout. `wait` bounds the whole call:
    /// control frames (pings) do not restart it.
    pub async fn try_recv(&mut self, wait: Duration) -> Result<Value, Option<Closed>> {
        self.recv_until(Instant::now() + wait).await
    }

    /// The next message before `deadline`, or how the socket ended, or `Err(None)` at the
    /// deadline.
    pub async fn recv_until(&mut self, deadline: Instant) -> Result<Value, Option<Closed>> {
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .map_err(|_| None)?;
            match next {
                Some(Ok(Message::Text(t))) => {
                    return Ok(serde_json::from_str(&t).expect("server sends JSON"))
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(Some(Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)).unwrap_or(1005),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    }))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {
                    return Err(Some(Closed {
                        code: 1006,
                        reason: String::new(),
                    }))
                }
            }
        }
    }

    /// Skips messages until one of `type` arrives.
    pub async fn recv_type(&mut self, ty: &str) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let v = self
                .recv_until(deadline)
                .await
                .unwrap_or_else(|e| panic!("waiting for {ty}: {e:?}"));
            if v["type"] == ty {
                return v;
            }
        }
    }

    /// Skips messages until a presence event `event` arrives (alone, or in a `batch` of
    /// several gathered over one server tick) and returns it.
    pub async fn recv_presence(&mut self, event: &str) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let v = self
                .recv_until(deadline)
                .await
                .unwrap_or_else(|e| panic!("waiting for presence {event}: {e:?}"));
            if let Some(found) = presence_events(&v)
                .into_iter()
                .find(|e| e["event"] == event)
            {
                return found;
            }
        }
    }

    /// Skips messages until the socket closes; returns the close code and reason. Fails when it
    /// is not closed within [`TIMEOUT`], whatever arrives meanwhile.
    pub async fn closed(&mut self) -> Closed {
        let deadline = Instant::now() + TIMEOUT;
        let mut skipped = Vec::new();
        loop {
            match self.recv_until(deadline).await {
                // The first few, for the failure message.
                Ok(v) if skipped.len() < 20 => skipped.push(v),
                Ok(_) => {}
                Err(Some(c)) => return c,
                Err(None) => panic!(
                    "the socket was not closed within {TIMEOUT:?}; it received instead: {skipped:?}"
                ),
            }
        }
    }

    /// Sends one change and waits for its ack or reject.
    pub async fn change(&mut self, change: Value) -> Value {
        let client_id = change["client_id"].clone();
        self.send(json!({"type": "changes", "changes": [change]}))
            .await;
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let v = self
                .recv_until(deadline)
                .await
                .unwrap_or_else(|e| panic!("waiting for the answer to {client_id}: {e:?}"));
            if (v["type"] == "ack" || v["type"] == "reject") && v["client_id"] == client_id {
                return v;
            }
        }
    }
}

/// An Instant JSON ink annotation on `page`.
/// The presence events `msg` carries: itself if it is a single one, the events of a `batch`,
/// none if it is not a presence message.
pub fn presence_events(msg: &Value) -> Vec<Value> {
    if msg["type"] != "presence" {
        return Vec::new();
    }
    match msg["events"].as_array() {
        Some(events) if msg["event"] == "batch" => events.clone(),
        _ => vec![msg.clone()],
    }
}

pub fn ink(page: u32, marker: &str) -> Value {
    json!({
        "v": 2, "type": "pspdfkit/ink", "pageIndex": page, "bbox": [10, 20, 100, 50],
        "lines": {"points": [[[10, 20], [60, 40], [110, 70]]], "intensities": [[1, 1, 1]]},
        "strokeColor": "#2293FB", "lineWidth": 4, "customData": {"marker": marker},
    })
}

/// A create change for an ink annotation.
pub fn create(client_id: &str, id: &str, page: u32) -> Value {
    json!({"client_id": client_id, "op": "create", "kind": "annotation", "id": id, "content": ink(page, id)})
}

/// A client-side model of a layer: id -> (rev, content); applies changes by revision so the
/// order of acks and broadcasts cannot matter.
#[derive(Default, Debug, Clone, PartialEq)]
pub struct Model {
    pub records: HashMap<String, (i64, Value)>,
    tombstones: HashMap<String, i64>,
}

impl Model {
    pub fn from_records(records: &Value) -> Model {
        let mut m = Model::default();
        for r in records.as_array().into_iter().flatten() {
            m.records.insert(
                r["id"].as_str().unwrap().to_string(),
                (r["rev"].as_i64().unwrap(), r["content"].clone()),
            );
        }
        m
    }

    /// Applies a `change` message.
    pub fn apply_change(&mut self, c: &Value) {
        let id = c["id"].as_str().unwrap().to_string();
        let seq = c["seq"].as_i64().unwrap();
        self.apply(
            id,
            seq,
            (c["op"] != "delete").then(|| c["record"]["content"].clone()),
        );
    }

    /// Applies a change at `seq`: `Some(content)` to set, `None` to delete.
    pub fn apply(&mut self, id: String, seq: i64, content: Option<Value>) {
        let current = self
            .records
            .get(&id)
            .map(|r| r.0)
            .or(self.tombstones.get(&id).copied())
            .unwrap_or(0);
        if seq <= current {
            return;
        }
        match content {
            Some(c) => {
                self.tombstones.remove(&id);
                self.records.insert(id, (seq, c));
            }
            None => {
                self.records.remove(&id);
                self.tombstones.insert(id, seq);
            }
        }
    }

    /// Just the live records, for comparisons.
    pub fn live(&self) -> HashMap<String, (i64, Value)> {
        self.records.clone()
    }
}
