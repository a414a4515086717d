//! Session tokens: minting, every denial reason, offline attenuation (by Quire's CLI and by an
//! independent biscuit implementation), revocation.

use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{cli, cli_output, expect_error, expect_json, pdf, Server};

async fn server_with_doc() -> Server {
    let server = Server::start().await;
    server
        .upload_ok(pdf::with_pages(2, "tokens"), "doc-1")
        .await;
    server.upload_ok(pdf::one_page("other"), "doc-2").await;
    server
}

async fn mint_status(server: &Server, body: Value) -> reqwest::Response {
    server
        .backend(Method::POST, "/api/sessions")
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn session(server: &Server, token: &str) -> reqwest::Response {
    server
        .client(token, "/api/client/session")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn minting_validates_every_field() {
    let server = server_with_doc().await;
    let ok = json!({"document_id": "doc-1", "user_id": "u1", "permissions": ["read-document"]});
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"document_id": "missing", "user_id": "u1", "permissions": ["read-document"]}),
            StatusCode::NOT_FOUND,
            "document_not_found",
        ),
        (
            json!({"document_id": "doc-1", "user_id": "u1", "permissions": ["read"]}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"document_id": "doc-1", "user_id": "u1", "permissions": []}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"document_id": "doc-1", "user_id": "u1", "permissions": ["write"], "collaboration_permissions": ["annotations:fly:all"]}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"document_id": "doc-1", "user_id": "u1", "permissions": ["write"], "expires_in": 7 * 24 * 3600 + 1}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"document_id": "doc-1", "user_id": "u1", "permissions": ["write"], "expires_in": 0}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"document_id": "doc-1", "app_document_id": "a", "user_id": "u1", "permissions": ["write"]}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"user_id": "u1", "permissions": ["write"]}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"document_id": "doc-1", "user_id": "", "permissions": ["write"]}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"document_id": "doc-1", "user_id": "u1", "permissions": ["write"], "surprise": 1}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"app_document_id": "../etc", "user_id": "u1", "permissions": ["write"]}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (body, status, code) in cases {
        let res = mint_status(&server, body.clone()).await;
        let got = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(got, status, "{body} -> {text}");
        assert!(text.contains(code), "{body} -> {text}");
    }
    let res = server
        .backend(Method::POST, "/api/sessions")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    mint_status(&server, ok).await.error_for_status().unwrap();
}

#[tokio::test]
async fn a_minted_token_states_its_grant_and_write_implies_full_access() {
    let server = server_with_doc().await;
    let minted = server
        .mint(json!({
            "document_id": "doc-1", "user_id": "u42", "user_name": "Ada Lovelace", "layer": "review",
            "default_group": "editors", "permissions": ["read-document", "write"], "expires_in": 600
        }))
        .await;
    assert_eq!(minted["user_id"], "u42");
    assert_eq!(minted["layer"], "review");
    assert_eq!(minted["permissions"], json!(["read-document", "write"]));
    let collab: Vec<&str> = minted["collaboration_permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        collab.contains(&"annotations:edit:all") && collab.contains(&"comments:reply:all"),
        "{collab:?}"
    );
    assert!(minted["revocation_id"].as_str().unwrap().len() >= 64);

    let token = minted["token"].as_str().unwrap();
    let s = expect_json(session(&server, token).await, StatusCode::OK).await;
    assert_eq!(s["user_name"], "Ada Lovelace");
    assert_eq!(s["default_group"], "editors");
    assert_eq!(s["page_count"], 2);
    assert_eq!(s["expires_at"], minted["expires_at"]);

    // `all` expands; explicit collaboration permissions are kept as given.
    let m = server
        .mint(json!({"document_id": "doc-1", "user_id": "u2", "permissions": ["all"],
                     "collaboration_permissions": ["annotations:view:all", "annotations:edit:self", "comments:reply:all"]}))
        .await;
    assert_eq!(
        m["permissions"],
        json!(["read-document", "write", "download"])
    );
    assert_eq!(
        m["collaboration_permissions"],
        json!([
            "annotations:view:all",
            "annotations:edit:self",
            "comments:reply:all"
        ])
    );
}

#[tokio::test]
async fn every_denial_names_its_reason() {
    let server = server_with_doc().await;
    let token = server.token("doc-1", "u1", &["read-document"]).await;

    expect_error(
        server
            .http
            .get(server.url("/api/client/session"))
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "missing_credentials",
    )
    .await;

    // Expired: an attenuation that expires now, and a token minted to expire at once.
    let expired = cli(
        &["token", "attenuate", "--token", &token, "--expires-in", "0"],
        None,
    );
    expect_error(
        session(&server, expired.trim()).await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
    )
    .await;
    let data = server.data_dir.to_str().unwrap();
    let minted_expired = cli(
        &[
            "token",
            "mint",
            "--document-id",
            "doc-1",
            "--user-id",
            "u1",
            "--permissions",
            "read-document",
            "--expires-in",
            "0",
            "--data-dir",
            data,
        ],
        None,
    );
    expect_error(
        session(&server, minted_expired.trim()).await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
    )
    .await;

    // Signed by another key: a token minted offline with a different root key (for an
    // app-provided id, as the other data dir has no documents).
    let other = tempfile::tempdir().unwrap();
    let foreign = cli(
        &[
            "token",
            "mint",
            "--app-document-id",
            "doc-1",
            "--user-id",
            "u1",
            "--permissions",
            "all",
            "--data-dir",
            other.path().to_str().unwrap(),
        ],
        None,
    );
    expect_error(
        session(&server, foreign.trim()).await,
        StatusCode::UNAUTHORIZED,
        "token_bad_signature",
    )
    .await;

    // Truncated, edited, or not a token at all.
    // (Padding is optional, so cut into the data.)
    let data = token.trim_end_matches('=');
    for cut in [1, 2, 3, 20, data.len() / 2] {
        let truncated = &data[..data.len() - cut];
        expect_error(
            session(&server, truncated).await,
            StatusCode::UNAUTHORIZED,
            "token_malformed",
        )
        .await;
    }
    let mut edited: Vec<char> = token.chars().collect();
    let mid = edited.len() / 2;
    edited[mid] = if edited[mid] == 'A' { 'B' } else { 'A' };
    let edited: String = edited.into_iter().collect();
    let body = expect_json(session(&server, &edited).await, StatusCode::UNAUTHORIZED).await;
    assert!(
        ["token_malformed", "token_bad_signature"].contains(&body["code"].as_str().unwrap()),
        "{body}"
    );
    expect_error(
        session(&server, "not-a-token").await,
        StatusCode::UNAUTHORIZED,
        "token_malformed",
    )
    .await;

    // For another document.
    let res = server
        .client(&token, "/api/client/session?document_id=doc-2")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "wrong_document").await;

    // A right missing: download needs `download`.
    let res = server
        .client(&token, "/api/client/document?download=true")
        .send()
        .await
        .unwrap();
    let body = expect_error(res, StatusCode::FORBIDDEN, "right_missing").await;
    assert!(
        body["message"].as_str().unwrap().contains("download"),
        "{body}"
    );
    let write_only = server.token("doc-1", "u1", &["write"]).await;
    expect_error(
        session(&server, &write_only).await,
        StatusCode::FORBIDDEN,
        "right_missing",
    )
    .await;

    // Nothing above changed the good token.
    expect_json(session(&server, &token).await, StatusCode::OK).await;
}

#[tokio::test]
async fn attenuation_narrows_and_can_never_widen() {
    let server = server_with_doc().await;
    let full = server.token("doc-1", "u1", &["all"]).await;

    let read_only = cli(
        &[
            "token",
            "attenuate",
            "--token",
            &full,
            "--permissions",
            "read-document",
        ],
        None,
    );
    let s = expect_json(session(&server, read_only.trim()).await, StatusCode::OK).await;
    assert_eq!(s["permissions"], json!(["read-document"]));
    let res = server
        .client(read_only.trim(), "/api/client/document?download=true")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "right_missing").await;

    // Asking for more than the parent had grants nothing extra.
    let widened = cli(
        &[
            "token",
            "attenuate",
            "--token",
            read_only.trim(),
            "--permissions",
            "read-document,write,download",
        ],
        None,
    );
    let s = expect_json(session(&server, widened.trim()).await, StatusCode::OK).await;
    assert_eq!(s["permissions"], json!(["read-document"]));

    let narrow_collab = cli(
        &[
            "token",
            "attenuate",
            "--token",
            &full,
            "--collaboration-permissions",
            "annotations:view:all,comments:reply:all",
        ],
        None,
    );
    let s = expect_json(session(&server, narrow_collab.trim()).await, StatusCode::OK).await;
    assert_eq!(
        s["collaboration_permissions"],
        json!(["annotations:view:all", "comments:reply:all"])
    );
    assert_eq!(
        s["permissions"],
        json!(["read-document", "write", "download"])
    );

    // Layer-bound: valid on its own layer, grants nothing elsewhere.
    let same_layer = cli(
        &["token", "attenuate", "--token", &full, "--layer", ""],
        None,
    );
    expect_json(session(&server, same_layer.trim()).await, StatusCode::OK).await;
    let other_layer = cli(
        &[
            "token",
            "attenuate",
            "--token",
            &full,
            "--layer",
            "reviewers",
        ],
        None,
    );
    expect_error(
        session(&server, other_layer.trim()).await,
        StatusCode::FORBIDDEN,
        "right_missing",
    )
    .await;

    // Inspect shows the blocks and verifies against the published key.
    let key = server.public_key().await;
    let shown = cli(
        &[
            "token",
            "inspect",
            "--public-key",
            &key,
            "--token",
            read_only.trim(),
        ],
        None,
    );
    assert!(
        shown.contains("signature: valid") && shown.contains("right_op"),
        "{shown}"
    );
    let foreign_key = "ed25519/0000000000000000000000000000000000000000000000000000000000000000";
    let out = cli_output(
        &[
            "token",
            "inspect",
            "--public-key",
            foreign_key,
            "--token",
            read_only.trim(),
        ],
        None,
    );
    assert!(!out.status.success());
    let unverified = cli(&["token", "inspect"], Some(read_only.trim()));
    assert!(
        unverified.contains("not checked") && unverified.contains("user(\"u1\")"),
        "{unverified}"
    );
}

#[tokio::test]
async fn revocation_by_id_or_by_token_cuts_off_descendants_only() {
    let server = server_with_doc().await;
    let minted = server
        .mint(json!({"document_id": "doc-1", "user_id": "u1", "permissions": ["all"]}))
        .await;
    let parent = minted["token"].as_str().unwrap().to_string();
    let child = cli(
        &[
            "token",
            "attenuate",
            "--token",
            &parent,
            "--permissions",
            "read-document",
        ],
        None,
    )
    .trim()
    .to_string();
    let grandchild = cli(
        &[
            "token",
            "attenuate",
            "--token",
            &child,
            "--expires-in",
            "600",
        ],
        None,
    )
    .trim()
    .to_string();

    // Revoking the child by token revokes it and its descendants, not its parent.
    let res = server.revoke(&json!({"token": child})).await;
    expect_json(res, StatusCode::OK).await;
    expect_error(
        session(&server, &child).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    expect_error(
        session(&server, &grandchild).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    expect_json(session(&server, &parent).await, StatusCode::OK).await;

    // Revoking the minted id revokes everything derived from it; revoking twice is fine.
    for _ in 0..2 {
        let res = server
            .revoke(&json!({"revocation_id": minted["revocation_id"]}))
            .await;
        expect_json(res, StatusCode::OK).await;
    }
    expect_error(
        session(&server, &parent).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;

    for bad in [
        json!({}),
        json!({"revocation_id": "xyz"}),
        json!({"token": "garbage"}),
        json!({"token": parent, "revocation_id": "ab"}),
    ] {
        let res = server.revoke(&bad).await;
        assert!(res.status().is_client_error(), "{bad}");
    }
}

/// The Python interpreter with biscuit-python installed (`make test` provides one as
/// `QUIRE_TEST_PYTHON`); panics (fails the test) when there is none.
fn biscuit_python() -> String {
    let python = std::env::var("QUIRE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import biscuit_auth"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{python} cannot import biscuit_auth; this test needs biscuit-python (`make test` provides it)"
    );
    python
}

fn python_attenuate(python: &str, token: &str, key: &str, datalog: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/attenuate.py");
    let out = Command::new(python)
        .args([script, token, key, datalog])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "attenuate.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test]
#[ignore = "needs biscuit-python (make test provides it)"]
async fn a_token_attenuated_by_biscuit_python_is_honoured_exactly() {
    let python = biscuit_python();
    let server = server_with_doc().await;
    let key = server.public_key().await;
    let full = server
        .mint(json!({"document_id": "doc-1", "user_id": "u1", "permissions": ["all"],
                     "collaboration_permissions": ["annotations:view:all", "annotations:edit:all", "comments:reply:all"]}))
        .await["token"]
        .as_str()
        .unwrap()
        .to_string();

    let narrowed = python_attenuate(
        &python,
        &full,
        &key,
        r#"check if right_op($r), ["read-document", "download"].contains($r) or collab_op($c);
           check if collab_op($c), ["annotations:view:all"].contains($c) or right_op($r);"#,
    );
    let s = expect_json(session(&server, &narrowed).await, StatusCode::OK).await;
    assert_eq!(s["permissions"], json!(["read-document", "download"]));
    assert_eq!(
        s["collaboration_permissions"],
        json!(["annotations:view:all"])
    );

    // A block that asserts rights as facts is refused: attenuation blocks hold checks only.
    let sneaky = python_attenuate(
        &python,
        &narrowed,
        &key,
        r#"right("doc-1", "write"); collab("doc-1", "annotations:edit:all");"#,
    );
    expect_error(
        session(&server, &sneaky).await,
        StatusCode::UNAUTHORIZED,
        "token_block_not_allowed",
    )
    .await;

    let expired = python_attenuate(
        &python,
        &full,
        &key,
        "check if time($t), $t < 2020-01-01T00:00:00Z;",
    );
    expect_error(
        session(&server, &expired).await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
    )
    .await;
    let elsewhere = python_attenuate(&python, &full, &key, r#"check if resource("doc-2");"#);
    expect_error(
        session(&server, &elsewhere).await,
        StatusCode::FORBIDDEN,
        "wrong_document",
    )
    .await;
}

#[tokio::test]
async fn secrets_never_reach_the_log_and_the_root_key_is_private() {
    let server = server_with_doc().await;
    let token = server.token("doc-1", "u1", &["all"]).await;
    expect_json(session(&server, &token).await, StatusCode::OK).await;
    let res = server
        .client(&token, "/api/client/document")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    expect_error(
        session(&server, &token[..40]).await,
        StatusCode::UNAUTHORIZED,
        "token_malformed",
    )
    .await;
    // The refused request is the last one: once its line is in, every line is.
    server.log_shows("\"status\":401", 1).await;
    assert!(
        server.log_text().contains("/api/client/session"),
        "requests are logged"
    );
    let log = server.log_text();
    assert!(!log.contains(&token[..40]), "a token reached the log");
    assert!(
        !log.contains(crate::common::API_KEY),
        "the API key reached the log"
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(server.data_dir.join("root_key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(&server.data_dir)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o077, 0, "the data dir is private");
    }
}

#[tokio::test]
async fn the_session_shows_the_expiry_an_attenuation_set() {
    let server = server_with_doc().await;
    let minted = server
        .mint(json!({"document_id": "doc-1", "user_id": "u1", "permissions": ["read-document"], "expires_in": 3600}))
        .await;
    let shorter = cli(
        &[
            "token",
            "attenuate",
            "--token",
            minted["token"].as_str().unwrap(),
            "--expires-in",
            "600",
        ],
        None,
    );
    let s = expect_json(session(&server, shorter.trim()).await, StatusCode::OK).await;
    let shown = time::OffsetDateTime::parse(
        s["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let in_600 = time::OffsetDateTime::now_utc() + time::Duration::seconds(600);
    assert!(
        (shown - in_600).abs() < time::Duration::seconds(30),
        "shown {shown}, attenuated to about {in_600}; minted {}",
        minted["expires_at"]
    );
}

#[tokio::test]
async fn a_huge_lifetime_is_refused_with_a_message_not_a_panic() {
    let huge = u64::MAX.to_string();
    let server = Server::start_with(crate::common::Options {
        // Even with no configured maximum to speak of.
        extra_args: vec!["--max-token-lifetime".into(), huge.clone()],
        ..Default::default()
    })
    .await;
    server.upload_ok(pdf::one_page("huge"), "doc-1").await;
    for expires_in in [json!(u64::MAX), json!(20u64 * 365 * 24 * 3600)] {
        let res = mint_status(
            &server,
            json!({"document_id": "doc-1", "user_id": "u1", "permissions": ["read-document"], "expires_in": expires_in}),
        )
        .await;
        let body = expect_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(
            body["message"].as_str().unwrap().contains("expires_in"),
            "{body}"
        );
    }
    // The server is still there, and a sane lifetime works.
    server
        .mint(json!({"document_id": "doc-1", "user_id": "u1", "permissions": ["read-document"], "expires_in": 60}))
        .await;

    let data = server.data_dir.to_str().unwrap();
    let out = cli_output(
        &[
            "token",
            "mint",
            "--document-id",
            "doc-1",
            "--user-id",
            "u1",
            "--permissions",
            "read-document",
            "--expires-in",
            &huge,
            "--data-dir",
            data,
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("--expires-in must be at most"), "{stderr}");

    let token = server.token("doc-1", "u1", &["read-document"]).await;
    let out = cli_output(
        &[
            "token",
            "attenuate",
            "--token",
            &token,
            "--expires-in",
            &huge,
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("--expires-in must be at most"), "{stderr}");
}

#[tokio::test]
async fn the_cli_mints_with_the_same_identity_limits_as_the_api() {
    let server = server_with_doc().await;
    let data = server.data_dir.to_str().unwrap();
    let long_layer = "l".repeat(129);
    let long_user = "u".repeat(257);
    for args in [
        ["--layer", long_layer.as_str(), "--user-id", "u1"],
        ["--layer", "", "--user-id", long_user.as_str()],
        ["--layer", "", "--user-id", " "],
    ] {
        let mut all = vec![
            "token",
            "mint",
            "--document-id",
            "doc-1",
            "--permissions",
            "read-document",
            "--data-dir",
            data,
        ];
        all.extend(args);
        let out = cli_output(&all, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains("bytes"), "{args:?}: {stderr}");
    }
    // A document that does not exist cannot be bound to.
    let out = cli_output(
        &[
            "token",
            "mint",
            "--document-id",
            "missing",
            "--user-id",
            "u1",
            "--permissions",
            "read-document",
            "--data-dir",
            data,
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no document `missing`"));
}
