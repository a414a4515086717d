//! The client API: session info and the document bytes with Range, ETag and Content-Length.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::ws::Ws;
use crate::common::{expect_error, expect_json, pdf, Server};

#[tokio::test]
async fn the_document_is_served_with_ranges_and_etags() {
    let server = Server::start().await;
    let bytes = pdf::with_pages(5, "ranges");
    let doc = server.upload_ok(bytes.clone(), "doc").await;
    let token = server.token("doc", "u1", &["read-document"]).await;
    let len = bytes.len();

    let full = server
        .client(&token, "/api/client/document")
        .send()
        .await
        .unwrap();
    assert_eq!(full.status(), StatusCode::OK);
    let h = full.headers().clone();
    assert_eq!(h["content-type"], "application/pdf");
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["content-length"], len.to_string().as_str());
    let etag = h["etag"].to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"{}\"", doc["sha256"].as_str().unwrap()));
    assert_eq!(full.bytes().await.unwrap().as_ref(), bytes.as_slice());

    for (range, start, end) in [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, len - 1),
        ("bytes=-10", len - 10, len - 1),
    ] {
        let res = server
            .client(&token, "/api/client/document")
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            res.headers()["content-range"],
            format!("bytes {start}-{end}/{len}").as_str()
        );
        assert_eq!(
            res.headers()["content-length"],
            (end - start + 1).to_string().as_str()
        );
        assert_eq!(
            res.bytes().await.unwrap().as_ref(),
            &bytes[start..=end],
            "{range}"
        );
    }

    let res = server
        .client(&token, "/api/client/document")
        .header("range", format!("bytes={}-", len + 10))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        res.headers()["content-range"],
        format!("bytes */{len}").as_str()
    );

    let res = server
        .client(&token, "/api/client/document")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);

    // A stale If-Range means the whole document, not a range of a different one.
    let res = server
        .client(&token, "/api/client/document")
        .header("range", "bytes=0-9")
        .header("if-range", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().len(), len);

    let res = server
        .http
        .head(server.url("/api/client/document"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-length"], len.to_string().as_str());

    let dl = server
        .token("doc", "u1", &["read-document", "download"])
        .await;
    let res = server
        .client(&dl, "/api/client/document?download=true")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
}

#[tokio::test]
async fn an_app_provided_document_is_authorised_but_has_no_bytes() {
    let server = Server::start().await;
    let minted = server
        .mint(json!({"app_document_id": "app-doc-7", "user_id": "u1", "permissions": ["read-document", "write"]}))
        .await;
    assert_eq!(minted["app_document_id"], "app-doc-7");
    let token = minted["token"].as_str().unwrap();
    let s = expect_json(
        server
            .client(token, "/api/client/session")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(s["app_document_id"], "app-doc-7");
    assert_eq!(s["page_count"], serde_json::Value::Null);
    let res = server
        .client(token, "/api/client/document")
        .send()
        .await
        .unwrap();
    let body = expect_error(res, StatusCode::CONFLICT, "app_provided_document").await;
    assert!(
        body["message"].as_str().unwrap().contains("app-provided"),
        "{body}"
    );
}

#[tokio::test]
async fn a_deleted_document_is_gone_for_its_tokens_too() {
    let server = Server::start().await;
    server.upload_ok(pdf::one_page("gone"), "doc").await;
    let token = server.token("doc", "u1", &["read-document"]).await;
    let res = server
        .backend(reqwest::Method::DELETE, "/api/documents/doc")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = server
        .client(&token, "/api/client/document")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::NOT_FOUND, "document_not_found").await;
}

#[tokio::test]
async fn a_token_for_a_deleted_document_does_not_open_a_new_one_with_its_id() {
    let server = Server::start().await;
    server.upload_ok(pdf::one_page("first"), "doc").await;
    let old = server.token("doc", "u1", &["read-document"]).await;
    let data = server.data_dir.to_str().unwrap();
    let old_cli = crate::common::cli(
        &[
            "token",
            "mint",
            "--document-id",
            "doc",
            "--user-id",
            "u1",
            "--permissions",
            "read-document",
            "--data-dir",
            data,
        ],
        None,
    );
    // Used once, so its verification is cached.
    let ok = server
        .client(&old, "/api/client/session")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);

    let res = server
        .backend(reqwest::Method::DELETE, "/api/documents/doc")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    server.upload_ok(pdf::with_pages(2, "second"), "doc").await;

    for token in [old.as_str(), old_cli.trim()] {
        for path in ["/api/client/session", "/api/client/document"] {
            let body = expect_error(
                server.client(token, path).send().await.unwrap(),
                StatusCode::UNAUTHORIZED,
                "token_document_replaced",
            )
            .await;
            assert!(
                body["message"].as_str().unwrap().contains("deleted"),
                "{body}"
            );
        }
        let mut ws = Ws::open(&server).await;
        ws.send(json!({"type": "hello", "token": token})).await;
        let closed = ws.closed().await;
        assert_eq!(closed.code, 4004, "{closed:?}");
        assert!(closed.reason.contains("deleted"), "{closed:?}");
    }

    // A token minted now opens the new document.
    let new = server.token("doc", "u1", &["read-document"]).await;
    let s = expect_json(
        server
            .client(&new, "/api/client/session")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(s["page_count"], 2);
    Ws::join(&server, &new, None).await;
}
