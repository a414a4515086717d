//! WebSocket limits seen from a hostile or broken client: frame sizes declared in headers, slow
//! readers, token expiry, and the close codes each of them ends with.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::raw_ws::{frame_header, raw_socket, read_close_code, read_until, text_frame};
use crate::common::ws::{create, presence_events, Ws};
use crate::common::{rss_growth_during, Options, Server, TIMEOUT};
use crate::live::server_with_doc;

/// How a hostile client streams the payload of the huge frame it declared.
#[derive(Clone, Copy)]
enum Pace {
    /// 64 KiB writes back to back, up to 4 MiB.
    Fast,
    /// 4 KiB every 20 ms for 2 seconds: what a client does to stay under the radar.
    Slow,
}

/// Declares a 2^62-byte text frame, then streams its payload at `pace`, stopping early when
/// the server stops reading.
async fn stream_huge_frame(mut tcp: TcpStream, pace: Pace) -> TcpStream {
    tcp.write_all(&frame_header(0x1, 1 << 62)).await.unwrap();
    let (chunk, total, pause) = match pace {
        Pace::Fast => (64 * 1024, 4 << 20, Duration::ZERO),
        Pace::Slow => (4 * 1024, 400 * 1024, Duration::from_millis(20)),
    };
    let chunk = vec![b'x'; chunk];
    let mut sent = 0;
    while sent < total {
        let write = tokio::time::timeout(Duration::from_secs(2), tcp.write_all(&chunk)).await;
        match write {
            Ok(Ok(())) => sent += chunk.len(),
            // Refused (reset), or the server stopped reading: either way, not buffered.
            _ => break,
        }
        tokio::time::sleep(pause).await;
    }
    tcp
}

/// Half the sockets fast, half slow.
fn pace(i: usize) -> Pace {
    if i.is_multiple_of(2) {
        Pace::Fast
    } else {
        Pace::Slow
    }
}

/// Opens 100 sockets (joined with `hello` when given), then measures the server's RSS growth
/// while each declares a 2^62-byte frame and streams its payload, half fast, half slow. The
/// sessions' own cost is in the baseline: what is measured is what the frames cost.
async fn growth_while_100_sockets_declare_huge_frames(
    server: &Server,
    hello: Option<&[u8]>,
) -> u64 {
    let sockets = futures_util::future::join_all((0..100).map(|_| async move {
        let mut tcp = raw_socket(server).await;
        if let Some(hello) = hello {
            tcp.write_all(hello).await.unwrap();
            read_until(&mut tcp, b"\"welcome\"").await;
        }
        tcp
    }))
    .await;
    rss_growth_during(server, async {
        let sockets = futures_util::future::join_all(
            sockets
                .into_iter()
                .enumerate()
                .map(|(i, tcp)| stream_huge_frame(tcp, pace(i))),
        )
        .await;
        drop(sockets);
    })
    .await
}

#[tokio::test]
async fn a_frame_declaring_a_huge_length_is_refused_before_hello_without_buffering() {
    let server = Server::start().await;
    // Warm up: one ordinary socket, so the baseline includes a session's usual allocations.
    let mut warm = Ws::open(&server).await;
    warm.send(json!({"type": "ping"})).await;
    drop(warm);

    let growth = growth_while_100_sockets_declare_huge_frames(&server, None).await;
    assert!(
        growth < 16 * 1024,
        "the server grew by {} MiB while 100 sockets declared 2^62-byte frames",
        growth / 1024
    );

    // The refusal is a close frame with the protocol's code, before hello…
    let mut tcp = raw_socket(&server).await;
    tcp.write_all(&frame_header(0x1, 1 << 62)).await.unwrap();
    assert_eq!(read_close_code(&mut tcp).await, Some(4000));
    // …and for a declared length just over the limit.
    let mut tcp = raw_socket(&server).await;
    tcp.write_all(&frame_header(0x1, 1024 * 1024 + 1))
        .await
        .unwrap();
    assert_eq!(read_close_code(&mut tcp).await, Some(4000));
}

#[tokio::test]
async fn a_frame_declaring_a_huge_length_is_refused_after_hello_without_buffering() {
    let server = server_with_doc(Options::default()).await;
    let token = server.token("doc", "u", &["all"]).await;
    let hello = text_frame(&json!({"type": "hello", "token": token}).to_string());
    let growth = growth_while_100_sockets_declare_huge_frames(&server, Some(&hello)).await;
    assert!(
        growth < 16 * 1024,
        "the server grew by {} MiB while 100 joined sockets declared 2^62-byte frames",
        growth / 1024
    );

    let mut tcp = raw_socket(&server).await;
    tcp.write_all(&hello).await.unwrap();
    read_until(&mut tcp, b"\"welcome\"").await;
    tcp.write_all(&frame_header(0x1, 1 << 62)).await.unwrap();
    assert_eq!(read_close_code(&mut tcp).await, Some(4000));

    // A frame within the limit still works after all that.
    let mut ws = Ws::join(&server, &token, None).await;
    assert_eq!(ws.change(create("c1", "r1", 0)).await["type"], "ack");
}

#[tokio::test]
async fn a_client_still_sending_after_its_close_frame_is_not_reset() {
    // Closing a socket with unread bytes makes the kernel reset it, and a client library that
    // fails a write on the reset (tokio-tungstenite does) never reads the close frame waiting
    // for it. So after the close frame the server drains what the client still sends until
    // the client closes, or for a second: writes after the close frame must still succeed.
    let server = Server::start().await;
    let frame = text_frame(r#"{"type":"ping"}"#);
    for round in 0..5 {
        let mut tcp = raw_socket(&server).await;
        // Not a hello: the server closes at once.
        tcp.write_all(&frame).await.unwrap();
        assert_eq!(read_close_code(&mut tcp).await, Some(4000), "round {round}");
        // The server's end of the connection follows the close frame.
        let mut rest = [0u8; 16];
        let n = tokio::time::timeout(TIMEOUT, tcp.read(&mut rest))
            .await
            .expect("the server ends its half in time")
            .unwrap();
        assert_eq!(n, 0, "nothing after the close frame");
        for i in 0..200 {
            if let Err(e) = tcp.write_all(&frame).await {
                panic!("round {round}: write {i} after the close frame failed: {e}");
            }
            tokio::task::yield_now().await;
        }
    }
}

/// A client that stops reading while the backend writes changes of `pad` bytes is dropped
/// (others see it leave) and, once it reads again, finds a `4005 too_slow` close frame.
async fn slow_reader_gets_a_too_slow_close(options: Options, pad: usize) {
    let server = server_with_doc(options).await;
    let token = server.token("doc", "u", &["all"]).await;
    let mut slow = Ws::open_with_small_buffer(&server).await;
    slow.send(json!({"type": "hello", "token": token})).await;
    slow.welcome = slow.recv_type("welcome").await; // and no reading until it is dropped
    let slow_id = slow.welcome["session_id"].as_str().unwrap().to_string();
    let mut watcher = Ws::join(&server, &token, None).await;

    let pad = "x".repeat(pad);
    let mut dropped = false;
    'writing: for batch in 0..40 {
        let changes: Vec<_> = (0..10)
            .map(|i| {
                let id = format!("big-{batch}-{i}");
                let mut change = create(&id, &id, 0);
                change["content"]["pad"] = json!(pad);
                change
            })
            .collect();
        let res = server
            .backend(reqwest::Method::POST, "/api/documents/doc/changes")
            .json(&json!({"changes": changes}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::OK);
        // Drain what the watcher got so far, looking for the slow session's departure.
        while let Ok(v) = watcher.try_recv(Duration::from_millis(50)).await {
            if presence_events(&v)
                .iter()
                .any(|e| e["event"] == "left" && e["session_id"] == *slow_id)
            {
                dropped = true;
                break 'writing;
            }
        }
    }
    assert!(dropped, "the slow reader was never dropped");
    let closed = slow.closed().await;
    assert_eq!(closed.code, 4005, "{closed:?}");
    assert!(closed.reason.starts_with("too_slow: "), "{closed:?}");
}

#[tokio::test]
async fn a_slow_reader_over_the_outbox_byte_budget_gets_a_too_slow_close_frame() {
    // Default limits: 60 KB changes exhaust the 4 MiB byte budget long before 1024 messages.
    slow_reader_gets_a_too_slow_close(Options::default(), 60_000).await;
}

#[tokio::test]
async fn a_slow_reader_over_the_outbox_message_count_gets_a_too_slow_close_frame() {
    let options = Options {
        extra_args: vec!["--ws-outbox-capacity".into(), "64".into()],
        ..Default::default()
    };
    slow_reader_gets_a_too_slow_close(options, 20_000).await;
}

#[tokio::test]
async fn a_read_only_session_is_closed_when_its_token_expires_and_gets_nothing_after() {
    let server = server_with_doc(Options::default()).await;
    let writer_token = server.token("doc", "w", &["all"]).await;
    let minted_at = std::time::Instant::now();
    let reader_token = server
        .mint(json!({"document_id": "doc", "user_id": "r", "permissions": ["read-document"], "expires_in": 2}))
        .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let expiry = minted_at + Duration::from_secs(2);
    let mut reader = Ws::join(&server, &reader_token, None).await;
    let mut writer = Ws::join(&server, &writer_token, None).await;

    let done = std::sync::atomic::AtomicBool::new(false);
    let writing = async {
        let mut acks = Vec::new();
        let mut i = 0;
        while !done.load(std::sync::atomic::Ordering::Relaxed) && i < 200 {
            let ack = writer
                .change(create(&format!("c{i}"), &format!("r{i}"), 0))
                .await;
            assert_eq!(ack["type"], "ack", "{ack}");
            acks.push((ack["seq"].as_i64().unwrap(), std::time::Instant::now()));
            tokio::time::sleep(Duration::from_millis(50)).await;
            i += 1;
        }
        acks
    };
    let reading = async {
        let mut seqs = Vec::new();
        let closed = loop {
            match reader.try_recv(Duration::from_secs(5)).await {
                Ok(v) if v["type"] == "change" => seqs.push(v["seq"].as_i64().unwrap()),
                Ok(_) => {}
                Err(closed) => break closed,
            }
        };
        let at = std::time::Instant::now();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (closed, at, seqs)
    };
    let (acks, (closed, closed_at, seqs)) = tokio::join!(writing, reading);
    let closed = closed.expect("the expired session was not closed within 5 s of silence");
    assert_eq!(closed.code, 4002, "{closed:?}");
    assert!(
        closed_at <= expiry + Duration::from_secs(1),
        "closed {:?} after the token expired",
        closed_at - expiry
    );
    // Nothing committed after the expiry reached the expired session.
    let slack = Duration::from_millis(200);
    for seq in &seqs {
        let acked = acks.iter().find(|(s, _)| s == seq).map(|(_, at)| *at);
        assert!(
            acked.is_some_and(|at| at <= expiry + slack),
            "change {seq} reached the session after its token expired"
        );
    }
    assert!(!seqs.is_empty(), "the session received changes while valid");
}

/// Opens `/api/client/ws{query}`, says hello with `token`, and returns the first message or
/// how the socket closed.
async fn hello_at(server: &Server, query: &str, token: &str) -> Result<Value, (u16, String)> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let url = format!(
        "{}/api/client/ws{query}",
        server.base.replace("http://", "ws://")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let hello = json!({"type": "hello", "token": token}).to_string();
    ws.send(Message::Text(hello.into())).await.unwrap();
    loop {
        match tokio::time::timeout(TIMEOUT, ws.next())
            .await
            .expect("answer in time")
        {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Close(frame))) => {
                let frame = frame.expect("a close frame with a code");
                return Err((u16::from(frame.code), frame.reason.to_string()));
            }
            Some(Ok(_)) => continue,
            other => panic!("socket ended without a close frame: {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_upgrade_honours_document_id_and_refuses_a_token_for_another_document() {
    let server = server_with_doc(Options::default()).await;
    let token = server.token("doc", "u", &["read-document"]).await;
    let welcome = hello_at(&server, "?document_id=doc", &token).await.unwrap();
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    let (code, reason) = hello_at(&server, "?document_id=other", &token)
        .await
        .unwrap_err();
    assert_eq!(code, 4001, "{reason}");
    assert!(
        reason.starts_with("unauthorized: wrong_document"),
        "{reason}"
    );
}

#[tokio::test]
async fn content_nested_deeper_than_the_documented_limit_is_rejected_as_invalid() {
    let server = server_with_doc(Options::default()).await;
    let token = server.token("doc", "u", &["all"]).await;
    let mut ws = Ws::join(&server, &token, None).await;
    // The content object is level 1; `customData` adds the levels below it. (Built as text:
    // serde_json's own recursion limit would refuse to build the deeper one.)
    let change = |id: &str, levels: usize| {
        let arrays = levels - 1;
        let deep = format!("{}{}", "[".repeat(arrays), "]".repeat(arrays));
        let content = crate::common::ws::ink(0, "deep")
            .to_string()
            .replacen('{', &format!(r#"{{"customData":{deep},"#), 1)
            .replacen(r#""customData":{"marker":"deep"}"#, r#""note":"x""#, 1);
        format!(
            r#"{{"type":"changes","changes":[{{"client_id":"{id}","op":"create","kind":"annotation","id":"{id}","content":{content}}}]}}"#
        )
    };
    for (levels, expected) in [(127, "ack"), (128, "reject")] {
        let id = format!("deep{levels}");
        assert!(
            ws.send_raw(tokio_tungstenite::tungstenite::Message::Text(
                change(&id, levels).into()
            ))
            .await
        );
        let answer = loop {
            let v = ws.recv().await;
            if v["client_id"] == *id {
                break v;
            }
        };
        assert_eq!(answer["type"], expected, "{levels} levels: {answer}");
        if expected == "reject" {
            assert_eq!(answer["code"], "invalid", "{answer}");
        }
    }
}
