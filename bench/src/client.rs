//! Load-generator clients: backend REST calls and WebSocket sessions.

use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::server::Target;

pub type Sink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;
pub type Stream = SplitStream<WebSocketStream<MaybeTlsStream<TcpStream>>>;

/// Backend calls with the API key.
#[derive(Clone)]
pub struct Backend {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Backend {
    pub fn new(target: &Target) -> Backend {
        Backend {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("http client"),
            base: target.base.clone(),
            key: target.api_key.clone(),
        }
    }

    /// Uploads a generated document with id `id`.
    pub async fn upload(&self, id: &str) -> Result<(), String> {
        let res = self
            .http
            .post(format!("{}/api/documents?id={id}", self.base))
            .bearer_auth(&self.key)
            .header("content-type", "application/pdf")
            .body(quire::pdf::sample(4, id))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        match res.status().as_u16() {
            201 | 409 => Ok(()),
            s => Err(format!(
                "upload {id}: {s} {}",
                res.text().await.unwrap_or_default()
            )),
        }
    }

    /// Mints a full-access token for `user` on `doc`.
    pub async fn token(&self, doc: &str, user: &str) -> Result<String, String> {
        let res = self
            .http
            .post(format!("{}/api/sessions", self.base))
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            .body(json!({"document_id": doc, "user_id": user, "user_name": user, "permissions": ["all"], "expires_in": 86400}).to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body = res.bytes().await.map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        v["token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("mint failed: {v}"))
    }

    /// Creates `n` annotations on `doc` through the REST changes route, 100 per request.
    pub async fn seed(&self, doc: &str, n: usize) -> Result<(), String> {
        for start in (0..n).step_by(100) {
            let changes: Vec<Value> = (start..(start + 100).min(n))
                .map(|i| {
                    let id = format!("seed-{i}");
                    json!({"client_id": id, "op": "create", "kind": "annotation", "id": id, "content": annotation(i % 4, 0)})
                })
                .collect();
            let res = self
                .http
                .post(format!("{}/api/documents/{doc}/changes", self.base))
                .bearer_auth(&self.key)
                .header("content-type", "application/json")
                .body(json!({"changes": changes}).to_string())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !res.status().is_success() {
                return Err(format!("seeding: {}", res.text().await.unwrap_or_default()));
            }
        }
        Ok(())
    }
}

/// An ink annotation whose `customData.t` carries the send time (µs since the run started), so
/// a receiver can compute the fan-out latency on this process's clock.
pub fn annotation(page: usize, t_micros: u64) -> Value {
    json!({
        "v": 2, "type": "pspdfkit/ink", "pageIndex": page, "bbox": [10, 20, 100, 50],
        "lines": {"points": [[[10, 20], [60, 40], [110, 70]]], "intensities": [[1, 1, 1]]},
        "strokeColor": "#2293FB", "lineWidth": 4, "customData": {"t": t_micros},
    })
}

/// The same annotation as [`annotation`], as JSON text.
pub fn annotation_text(page: usize, t_micros: u64) -> String {
    format!(
        r##"{{"v":2,"type":"pspdfkit/ink","pageIndex":{page},"bbox":[10,20,100,50],"lines":{{"points":[[[10,20],[60,40],[110,70]]],"intensities":[[1,1,1]]}},"strokeColor":"#2293FB","lineWidth":4,"customData":{{"t":{t_micros}}}}}"##
    )
}

/// Opens a session and waits for its welcome; returns the split socket and the welcome.
pub async fn join(base: &str, token: &str) -> Result<(Sink, Stream, Value, Duration), String> {
    let url = format!("{}/api/client/ws", base.replace("http://", "ws://"));
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sink, mut stream) = ws.split();
    let started = Instant::now();
    sink.send(Message::Text(
        json!({"type": "hello", "token": token}).to_string().into(),
    ))
    .await
    .map_err(|e| e.to_string())?;
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(t))) => {
                // Time the arrival, not this process's parsing of a possibly large snapshot.
                let elapsed = started.elapsed();
                let v: Value = serde_json::from_str(&t).map_err(|e| e.to_string())?;
                if v["type"] == "welcome" {
                    return Ok((sink, stream, v, elapsed));
                }
            }
            Some(Ok(Message::Close(f))) => return Err(format!("closed before welcome: {f:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("socket ended before welcome".into()),
        }
    }
}
