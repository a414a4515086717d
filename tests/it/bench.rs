//! Smoke runs of every benchmark scenario (seconds, small sizes), so the benchmark never rots.
//! The figures themselves live in docs/performance.md, measured with release builds.

use std::process::Command;

use serde_json::Value;

fn bench(args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_quire-bench"))
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run quire-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "quire-bench {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("scenario:"), "prints a table: {stdout}");
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

#[test]
fn the_fanout_and_many_docs_scenarios_run_and_report() {
    let r = bench(&[
        "fanout",
        "--clients",
        "5",
        "--total-rate",
        "50",
        "--duration",
        "1",
        "--warmup",
        "0.5",
    ]);
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["disconnects"], 0, "{r}");
    assert!(
        r["committed_changes_per_second"].as_f64().unwrap() > 10.0,
        "{r}"
    );
    assert!(r["fanout_latency"]["count"].as_u64().unwrap() > 0, "{r}");
    assert!(r["server_cpu_seconds"].as_f64().is_some(), "{r}");

    let r = bench(&[
        "many-docs",
        "--docs",
        "3",
        "--clients",
        "2",
        "--rate",
        "10",
        "--duration",
        "1",
        "--warmup",
        "0.5",
    ]);
    assert_eq!(r["errors"], 0, "{r}");
    assert!(r["ack_latency"]["p99_ms"].as_f64().unwrap() > 0.0, "{r}");
}

#[test]
fn the_idle_and_cold_open_scenarios_run_and_report() {
    let r = bench(&["idle", "--sessions", "50", "--duration", "0.5"]);
    assert_eq!(r["sessions"], 50, "{r}");
    assert_eq!(r["disconnects"], 0, "{r}");
    assert!(r["rss_per_session_kib"].as_f64().is_some(), "{r}");

    let r = bench(&["cold-open", "--annotations", "300", "--warm-joins", "2"]);
    assert_eq!(r["errors"], 0, "{r}");
    assert!(r["cold_welcome_ms"].as_f64().unwrap() > 0.0, "{r}");
}
