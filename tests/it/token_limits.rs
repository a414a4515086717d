//! Hostile session tokens: whatever a token holder appends, verification is refused or done
//! within milliseconds, off the workers that serve everyone else.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use biscuit_auth::{BlockBuilder, UnverifiedBiscuit};
use reqwest::StatusCode;
use serde_json::json;

use crate::common::ws::{create, Ws};
use crate::common::{expect_error, expect_json, pdf, Options, Server, TIMEOUT};

/// Appends a block with `datalog` to `token`, as anyone holding it can, offline.
fn append(token: &str, datalog: &str) -> String {
    UnverifiedBiscuit::from_base64(token)
        .unwrap()
        .append(BlockBuilder::new().code(datalog).unwrap())
        .unwrap()
        .to_base64()
        .unwrap()
}

/// 60 facts and a check joining four copies of them: 13 million combinations to evaluate.
fn costly_facts_block() -> String {
    let mut code: String = (0..60).map(|i| format!("f({i});\n")).collect();
    code += "check if f($a), f($b), f($c), f($d), $a + $b + $c + $d == -1;\n";
    code
}

/// CPU time (user + system) the process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_micros(ticks * 1_000_000 / hz)
}

async fn session_status(server: &Server, token: &str) -> (StatusCode, String) {
    let res = server
        .client(token, "/api/client/session")
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap();
    (
        status,
        body["code"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn every_hostile_shape_is_refused_with_its_own_code() {
    let server = Server::start().await;
    server.upload_ok(pdf::one_page("shapes"), "doc").await;
    let token = server.token("doc", "u1", &["all"]).await;

    let cases: Vec<(String, &str)> = vec![
        (append(&token, &costly_facts_block()), "token_block_not_allowed"),
        // Rules only: they would derive facts from the authority block's.
        (
            append(
                &token,
                "x($a, $b, $c, $d) <- collab($a, $b), collab($c, $d);\ncheck if x($a, $b, $c, $d);",
            ),
            "token_block_not_allowed",
        ),
        // Checks only, but joining the largest relation four times.
        (
            append(
                &token,
                "check if collab($a, $b), collab($c, $d), collab($e, $f), collab($g, $h), $b == $h;",
            ),
            "token_too_complex",
        ),
        // Checks only, with more predicates than allowed.
        (
            append(
                &token,
                "check if resource($a), resource($b), time($c), time($d), right_op($e);",
            ),
            "token_too_complex",
        ),
        // A regular expression, compiled at every evaluation.
        (
            append(&token, "check if resource($d), $d.matches(\"^(a+)+$\");"),
            "token_too_complex",
        ),
        // A closure over a set, nested.
        (
            append(
                &token,
                "check if [1, 2, 3].all($x -> [1, 2, 3].all($y -> $x + $y > 0));",
            ),
            "token_too_complex",
        ),
        // More checks in a block than allowed.
        (
            append(
                &token,
                &(0..17).map(|i| format!("check if time($t), $t > {i};\n")).collect::<String>(),
            ),
            "token_too_complex",
        ),
        // Too many blocks, each harmless.
        (
            (0..8).fold(token.clone(), |t, _| append(&t, "check if true;")),
            "token_too_many_blocks",
        ),
        // Too large.
        (
            append(
                &token,
                &format!("check if resource(\"{}\");", "x".repeat(5000)),
            ),
            "token_too_large",
        ),
    ];
    // Each is refused, and cheaply: measured over 20 requests (CPU time is counted in ticks).
    const TRIES: u32 = 20;
    for (hostile, code) in cases {
        let cpu_before = cpu_time(server.pid());
        for _ in 0..TRIES {
            let (status, got) = session_status(&server, &hostile).await;
            assert_eq!((status, got.as_str()), (StatusCode::UNAUTHORIZED, code));
        }
        let per_request = (cpu_time(server.pid()) - cpu_before) / TRIES;
        assert!(
            per_request < Duration::from_millis(5),
            "{code}: {per_request:?} of server CPU per refusal"
        );
    }

    // Within the bounds, a checks-only attenuation from another library still works, and seven
    // attenuations are accepted.
    let narrowed = append(
        &token,
        "check if right_op($r), [\"read-document\"].contains($r) or collab_op($c);\n\
         check if resource($d), layer($d, \"\");\n\
         check if time($t), $t < 2100-01-01T00:00:00Z;",
    );
    let s = expect_json(
        server
            .client(&narrowed, "/api/client/session")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(s["permissions"], json!(["read-document"]));
    let seven = (0..7).fold(token.clone(), |t, _| append(&t, "check if true;"));
    let (status, _) = session_status(&server, &seven).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_token_size_limit_is_configurable() {
    let server = Server::start_with(Options {
        extra_args: vec!["--max-token-bytes".into(), "700".into()],
        ..Options::default()
    })
    .await;
    server.upload_ok(pdf::one_page("size"), "doc").await;
    let token = server.token("doc", "u1", &["read-document"]).await;
    assert!(
        token.len() <= 700,
        "a minted token is {} bytes",
        token.len()
    );
    expect_json(
        server
            .client(&token, "/api/client/session")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let longer = append(&token, "check if true;");
    assert!(longer.len() > 700);
    let body = expect_error(
        server
            .client(&longer, "/api/client/session")
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "token_too_large",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("700"), "{body}");
}

/// p50 of `n` sequential `/healthz` round trips.
async fn healthz_p50(server: &Server, n: usize) -> Duration {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let res = server
            .http
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        times.push(start.elapsed());
    }
    times.sort();
    times[n / 2]
}

/// Worst time, over `n` changes, from one session sending a change to another receiving it.
async fn fan_out_worst(a: &mut Ws, b: &mut Ws, n: usize, tag: &str) -> Duration {
    let mut worst = Duration::ZERO;
    for i in 0..n {
        let id = format!("{tag}-{i}");
        let start = Instant::now();
        a.send(json!({"type": "changes", "changes": [create(&id, &id, 0)]}))
            .await;
        loop {
            let v = b.recv_type("change").await;
            if v["id"] == id.as_str() {
                break;
            }
        }
        worst = worst.max(start.elapsed());
    }
    worst
}

#[tokio::test]
async fn a_flood_of_costly_tokens_is_refused_cheaply_and_hurts_no_one_else() {
    let server = Arc::new(Server::start().await);
    server.upload_ok(pdf::one_page("flood"), "doc").await;
    let token = server.token("doc", "u1", &["all"]).await;
    let hostile = Arc::new(append(&token, &costly_facts_block()));
    let mut a = Ws::join(&server, &token, None).await;
    let mut b = Ws::join(&server, &token, None).await;

    // Baselines, with nothing else going on.
    healthz_p50(&server, 20).await;
    let healthz_before = healthz_p50(&server, 50).await;
    let fan_out_before = fan_out_worst(&mut a, &mut b, 10, "before").await;

    // 200 clients present the costly token as fast as they can while we measure.
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicUsize::new(0));
    let flooding = Arc::new(tokio::sync::Notify::new());
    let cpu_before = cpu_time(server.pid());
    let attackers: Vec<_> = (0..200)
        .map(|_| {
            let (server, hostile, stop, refused, flooding) = (
                server.clone(),
                hostile.clone(),
                stop.clone(),
                refused.clone(),
                flooding.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let res = server
                        .client(&hostile, "/api/client/session")
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
                    let body: serde_json::Value = res.json().await.unwrap();
                    assert_eq!(body["code"], "token_block_not_allowed");
                    if refused.fetch_add(1, Ordering::Relaxed) == 199 {
                        flooding.notify_one();
                    }
                }
            })
        })
        .collect();
    // Measure once the flood is under way: 200 refusals answered.
    tokio::time::timeout(TIMEOUT, flooding.notified())
        .await
        .expect("200 costly tokens refused in time");
    let healthz_during = healthz_p50(&server, 50).await;
    let fan_out_during = fan_out_worst(&mut a, &mut b, 10, "during").await;
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        attacker.await.unwrap();
    }
    let cpu = cpu_time(server.pid()) - cpu_before;
    let requests = refused.load(Ordering::Relaxed);

    let per_request = cpu / requests as u32;
    eprintln!(
        "{requests} costly tokens refused; server CPU {cpu:?} ({per_request:?} each); \
         healthz p50 {healthz_before:?} -> {healthz_during:?}; \
         fan-out worst {fan_out_before:?} -> {fan_out_during:?}"
    );
    assert!(
        per_request < Duration::from_millis(5),
        "{requests} refusals used {cpu:?} of server CPU"
    );
    // Generous bounds: the test's own 200 clients share the machine's cores with the server.
    assert!(
        healthz_during < (healthz_before * 20).max(Duration::from_millis(100)),
        "healthz p50 went from {healthz_before:?} to {healthz_during:?} under the flood"
    );
    assert!(
        fan_out_during < (fan_out_before * 20).max(Duration::from_millis(500)),
        "fan-out went from {fan_out_before:?} to {fan_out_during:?} under the flood"
    );
}
