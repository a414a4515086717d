//! Smoke runs of every benchmark scenario (seconds, small sizes), so the benchmark never rots.
//! The figures themselves live in docs/performance.md, measured with release builds.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// The `quire-bench` executable. It is a workspace member of its own (so building the server does
/// not build the load generator), which cargo does not build for this package's tests: it is
/// built here, once per test run, by the cargo running the tests, into the same target directory
/// and profile.
pub fn exe() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        // This test binary is <target>/<profile dir>/deps/it-<hash>.
        let me = std::env::current_exe().unwrap();
        let profile_dir = me.parent().unwrap().parent().unwrap().to_path_buf();
        let target = profile_dir.parent().unwrap();
        let profile = match profile_dir.file_name().unwrap().to_str().unwrap() {
            "debug" => "dev",
            other => other,
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "quire-bench",
                "--profile",
                profile,
            ])
            .env("CARGO_TARGET_DIR", target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo to build quire-bench");
        assert!(status.success(), "building quire-bench failed");
        profile_dir.join("quire-bench")
    })
    .clone()
}

fn bench(args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let out = Command::new(exe())
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
    assert!(r["server_cpu_per_change_us"].as_f64().unwrap() > 0.0, "{r}");
    assert!(
        r["server_cpu_per_delivery_us"].as_f64().unwrap() > 0.0,
        "{r}"
    );
    assert_eq!(r["deliveries_received"], r["deliveries_expected"], "{r}");
    assert!(r["deliveries_expected"].as_u64().unwrap() > 0, "{r}");

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
    assert!(r["server_cpu_per_change_us"].as_f64().unwrap() > 0.0, "{r}");
    assert_eq!(r["deliveries_received"], r["deliveries_expected"], "{r}");
}

#[test]
fn the_hot_doc_scenario_joins_everyone_with_presence_then_fans_out() {
    let r = bench(&[
        "hot-doc",
        "--clients",
        "30",
        "--total-rate",
        "30",
        "--duration",
        "1",
        "--warmup",
        "0.5",
    ]);
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["disconnects"], 0, "{r}");
    assert_eq!(r["joined"], 30, "{r}");
    let joined = r["all_joined_seconds"].as_f64().unwrap();
    assert!(joined > 0.0, "{r}");
    // The writing started only once every client knew every other with its presence.
    assert!(
        r["presence_settled_seconds"].as_f64().unwrap() >= joined,
        "{r}"
    );
    assert_eq!(r["join_latency"]["count"], 30, "{r}");
    assert!(r["fanout_latency"]["count"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["deliveries_received"], r["deliveries_expected"], "{r}");
    assert!(
        r["server_cpu_per_delivery_us"].as_f64().unwrap() > 0.0,
        "{r}"
    );
    // The clients heard the others arrive (and their presence) before the writing started.
    let storm = r["notes"].as_array().unwrap().iter().any(|n| {
        n.as_str()
            .and_then(|n| n.split(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| n > 0)
    });
    assert!(storm, "{r}");
}

/// Against a server it did not start, the report says the server's CPU is not measured, unless
/// its process id is given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_server_is_measured_only_with_its_pid() {
    let server = crate::common::Server::start().await;
    let run = |pid: Option<u32>| {
        let mut args = vec![
            "fanout".to_string(),
            "--clients".into(),
            "3".into(),
            "--total-rate".into(),
            "30".into(),
            "--duration".into(),
            "0.5".into(),
            "--warmup".into(),
            "0.2".into(),
            "--url".into(),
            server.base.clone(),
            "--api-key".into(),
            crate::common::API_KEY.into(),
        ];
        if let Some(pid) = pid {
            args.extend(["--server-pid".into(), pid.to_string()]);
        }
        tokio::task::spawn_blocking(move || {
            bench(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
    };
    let r = run(None).await.unwrap();
    assert!(r["server_cpu_per_change_us"].is_null(), "{r}");
    assert!(
        r["notes"].to_string().contains("not measured"),
        "the report says so: {r}"
    );
    let r = run(Some(server.pid())).await.unwrap();
    assert!(r["server_cpu_per_change_us"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["server_rss_mib"].as_f64().unwrap() > 0.0, "{r}");
}

#[test]
fn the_idle_and_cold_open_scenarios_run_and_report() {
    let r = bench(&["idle", "--sessions", "50", "--duration", "0.5"]);
    assert_eq!(r["sessions"], 50, "{r}");
    assert_eq!(r["disconnects"], 0, "{r}");
    assert!(r["rss_per_session_kib"].as_f64().is_some(), "{r}");

    let r = bench(&[
        "cold-open",
        "--annotations",
        "300",
        "--warm-joins",
        "2",
        "--cold-runs",
        "3",
    ]);
    assert_eq!(r["errors"], 0, "{r}");
    let runs: Vec<f64> = r["cold_welcome_runs_ms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(runs.len(), 3, "one cold open per restart: {r}");
    assert!(runs.iter().all(|&ms| ms > 0.0), "{r}");
    let mut sorted = runs.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(
        r["cold_welcome_ms"].as_f64().unwrap(),
        sorted[1],
        "the median: {r}"
    );
}
