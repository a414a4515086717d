//! The dashboard and viewer (everything served at `/`) carry a strict Content-Security-Policy,
//! `frame-ancestors` from `--frame-ancestors`, and `X-Content-Type-Options: nosniff`.

use crate::common::{cli_output, Options, Server};

/// The CSP and nosniff headers of `GET path`.
async fn security_headers(server: &Server, path: &str) -> (String, String) {
    let res = server.http.get(server.url(path)).send().await.unwrap();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} on {path} ({})", res.status()))
            .to_string()
    };
    (
        header("content-security-policy"),
        header("x-content-type-options"),
    )
}

/// The sources of one directive of a policy.
fn directive<'a>(policy: &'a str, name: &str) -> Vec<&'a str> {
    policy
        .split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix(name).filter(|rest| rest.starts_with(' ')))
        .unwrap_or_else(|| panic!("no {name} in {policy}"))
        .split_whitespace()
        .collect()
}

#[tokio::test]
async fn the_dashboard_gets_a_strict_policy_and_may_not_be_framed_by_default() {
    let server = Server::start().await;
    // Whether or not the web assets are built, `/` and any asset path carry the headers.
    for path in ["/", "/quire.js", "/no-such-asset"] {
        let (csp, nosniff) = security_headers(&server, path).await;
        assert_eq!(nosniff, "nosniff");
        assert_eq!(directive(&csp, "default-src"), ["'none'"]);
        assert_eq!(directive(&csp, "script-src"), ["'self'"]);
        assert_eq!(directive(&csp, "style-src"), ["'self'"]);
        assert_eq!(directive(&csp, "worker-src"), ["'self'"]);
        assert_eq!(directive(&csp, "object-src"), ["'none'"]);
        assert_eq!(directive(&csp, "base-uri"), ["'none'"]);
        assert_eq!(directive(&csp, "frame-ancestors"), ["'none'"]);
        assert!(!csp.contains("unsafe"), "{csp}");
    }
    // The PDF.js worker may compile its WebAssembly decoders, and nothing more.
    let (worker, _) = security_headers(&server, "/pdf.worker.min.mjs").await;
    assert_eq!(
        directive(&worker, "script-src"),
        ["'self'", "'wasm-unsafe-eval'"]
    );
    assert!(!worker.contains("unsafe-inline") && !worker.contains("'unsafe-eval'"));
}

#[tokio::test]
async fn frame_ancestors_come_from_the_flag() {
    let server = Server::start_with(Options {
        extra_args: vec![
            "--frame-ancestors".into(),
            "'self' https://app.example.com".into(),
        ],
        ..Default::default()
    })
    .await;
    let (csp, _) = security_headers(&server, "/").await;
    assert_eq!(
        directive(&csp, "frame-ancestors"),
        ["'self'", "https://app.example.com"]
    );
    assert_eq!(directive(&csp, "script-src"), ["'self'"]);
}

#[test]
fn a_frame_ancestors_value_that_would_change_the_policy_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli_output(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--frame-ancestors",
            "'self'; script-src *",
        ],
        None,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is not a frame-ancestors source"),
        "{stderr}"
    );
}
