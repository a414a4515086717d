//! Backend authentication with API keys, and the `quire keys` CLI.

use reqwest::{Method, StatusCode};

use crate::common::{cli, cli_output, expect_error, expect_json, Options, Server};

#[tokio::test]
async fn backend_routes_require_a_valid_api_key() {
    let server = Server::start().await;
    let routes = [
        (Method::GET, "/api/documents"),
        (Method::POST, "/api/documents"),
        (Method::GET, "/api/documents/x"),
        (Method::GET, "/api/documents/x/file"),
        (Method::DELETE, "/api/documents/x"),
        (Method::POST, "/api/sessions"),
        (Method::POST, "/api/tokens/revoke"),
        (Method::GET, "/api/keys/public"),
        (Method::GET, "/api/usage"),
    ];
    for (method, path) in routes {
        let res = server
            .http
            .request(method.clone(), server.url(path))
            .send()
            .await
            .unwrap();
        expect_error(res, StatusCode::UNAUTHORIZED, "missing_credentials").await;
        let res = server
            .http
            .request(method.clone(), server.url(path))
            .bearer_auth("qk_0123456789abcdef_nope")
            .send()
            .await
            .unwrap();
        expect_error(res, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
        let res = server
            .http
            .request(method, server.url(path))
            .header("authorization", "Basic abc")
            .send()
            .await
            .unwrap();
        expect_error(res, StatusCode::UNAUTHORIZED, "missing_credentials").await;
    }
}

#[tokio::test]
async fn keys_created_with_the_cli_work_until_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Only `quire serve` creates a data dir; `quire keys` needs an existing one.
    std::fs::create_dir(&data).unwrap();
    let data_arg = data.to_str().unwrap();
    let key = cli(
        &[
            "keys",
            "create",
            "--name",
            "backend",
            "--data-dir",
            data_arg,
        ],
        None,
    )
    .trim()
    .to_string();
    assert!(key.starts_with("qk_"), "{key}");

    let server = Server::start_with(Options {
        data_dir: Some(data.clone()),
        ..Default::default()
    })
    .await;
    let res = server
        .http
        .get(server.url("/api/documents"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    expect_json(res, StatusCode::OK).await;
    // One changed character is refused.
    let mut wrong = key.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == '0' { '1' } else { '0' });
    let res = server
        .http
        .get(server.url("/api/documents"))
        .bearer_auth(&wrong)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "invalid_api_key").await;

    let listing = cli(&["keys", "list", "--data-dir", data_arg], None);
    let id = key.trim_start_matches("qk_").split('_').next().unwrap();
    assert!(
        listing.contains(id) && listing.contains("active") && listing.contains("backend"),
        "{listing}"
    );
    assert!(!listing.contains(&key), "the list never shows a secret");

    cli(&["keys", "revoke", id, "--data-dir", data_arg], None);
    let res = server
        .http
        .get(server.url("/api/documents"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    assert!(cli(&["keys", "list", "--data-dir", data_arg], None).contains("revoked"));
    let again = cli_output(&["keys", "revoke", id, "--data-dir", data_arg], None);
    assert!(
        !again.status.success(),
        "revoking twice reports that no active key has that id"
    );

    // The database stores only hashes: the key text appears nowhere in the data dir.
    for file in crate::common::files_under(&data) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
            "{} contains the API key",
            file.display()
        );
    }
}
