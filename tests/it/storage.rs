//! The storage round trip, run against every database backend: upload (raw and multipart),
//! dedupe, read, list with pagination, download with ranges, mint, open as a client, revoke,
//! meter, delete.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{expect_error, expect_json, pdf, Server};

pub async fn round_trip(server: &Server) {
    // Upload: raw with id and title, then multipart with the same bytes (shared blob).
    let bytes = pdf::with_pages(3, "round-trip");
    let created = server
        .upload_raw(bytes.clone(), "?id=contract-1&title=Contract")
        .await;
    let created = expect_json(created, StatusCode::CREATED).await;
    assert_eq!(created["id"], "contract-1");
    assert_eq!(created["title"], "Contract");
    assert_eq!(created["page_count"], 3);
    assert_eq!(created["byte_size"], bytes.len());
    let sha = created["sha256"].as_str().unwrap().to_string();
    assert_eq!(sha.len(), 64);

    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes.clone())
                .file_name("c.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        )
        .text("title", "Copy")
        .text("id", "contract-2");
    let res = server
        .backend(Method::POST, "/api/documents")
        .multipart(form)
        .send()
        .await
        .unwrap();
    let copy = expect_json(res, StatusCode::CREATED).await;
    assert_eq!(copy["sha256"], sha, "same bytes, same hash");
    assert_eq!(copy["title"], "Copy");

    // A duplicate id is a conflict and changes nothing.
    let dup = server
        .upload_raw(pdf::one_page("other"), "?id=contract-1")
        .await;
    expect_error(dup, StatusCode::CONFLICT, "document_already_exists").await;
    let res = server
        .backend(Method::GET, "/api/documents/contract-1")
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(res, StatusCode::OK).await["sha256"], sha);

    // Listing: newest first, paginated with a cursor.
    for i in 0..3 {
        server
            .upload_ok(pdf::one_page(&format!("page-{i}")), &format!("later-{i}"))
            .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/documents?limit=2&cursor={c}"),
            None => "/api/documents?limit=2".to_string(),
        };
        let page = server.get_json(&path).await;
        let docs = page["documents"].as_array().unwrap();
        assert!(docs.len() <= 2);
        seen.extend(docs.iter().map(|d| d["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["later-2", "later-1", "later-0", "contract-2", "contract-1"]
    );

    // Backend download: the exact bytes, and a range.
    let res = server
        .backend(Method::GET, "/api/documents/contract-1/file")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    assert_eq!(res.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let res = server
        .backend(Method::GET, "/api/documents/contract-1/file")
        .header("range", "bytes=0-7")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.bytes().await.unwrap().as_ref(), &bytes[..8]);

    // A client session: token, session info, document bytes, usage.
    let minted = server
        .mint(json!({"document_id": "contract-1", "user_id": "u1", "user_name": "Ada", "permissions": ["read-document"]}))
        .await;
    let token = minted["token"].as_str().unwrap();
    let session = expect_json(
        server
            .client(token, "/api/client/session")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(session["document_id"], "contract-1");
    assert_eq!(session["page_count"], 3);
    let res = server
        .client(token, "/api/client/document")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let usage = server.get_json("/api/usage?document_id=contract-1").await;
    assert_eq!(usage["total_opens"], 1);

    // Revocation persists in the database.
    let res = server
        .revoke(&json!({"revocation_id": minted["revocation_id"]}))
        .await;
    expect_json(res, StatusCode::OK).await;
    expect_error(
        server
            .client(token, "/api/client/session")
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;

    // Delete: the shared blob stays until its last document goes.
    let res = server
        .backend(Method::DELETE, "/api/documents/contract-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    expect_error(
        server
            .backend(Method::GET, "/api/documents/contract-1")
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "document_not_found",
    )
    .await;
    let res = server
        .backend(Method::GET, "/api/documents/contract-2/file")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.bytes().await.unwrap().as_ref(),
        bytes.as_slice(),
        "the shared blob survives"
    );
    let res = server
        .backend(Method::DELETE, "/api/documents/contract-2")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = server
        .backend(Method::DELETE, "/api/documents/contract-2")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::NOT_FOUND, "document_not_found").await;

    // A document larger than one 8 MiB part goes to the blob store in parts and comes back
    // whole, also across a part boundary.
    let big = crate::uploads::large_pdf(17);
    server.upload_ok(big.clone(), "big").await;
    let res = server
        .backend(Method::GET, "/api/documents/big/file")
        .send()
        .await
        .unwrap();
    assert!(res.bytes().await.unwrap().as_ref() == big.as_slice());
    let boundary = 8 * 1024 * 1024;
    let res = server
        .backend(Method::GET, "/api/documents/big/file")
        .header("range", format!("bytes={}-{}", boundary - 8, boundary + 7))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        res.bytes().await.unwrap().as_ref(),
        &big[boundary - 8..boundary + 8]
    );
    let res = server
        .backend(Method::DELETE, "/api/documents/big")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn storage_round_trip_on_embedded_sqlite() {
    let server = Server::start().await;
    round_trip(&server).await;
    // With the local blob store, the blob of the deleted pair is gone from disk too.
    let blobs = crate::common::files_under(&server.data_dir.join("blobs"));
    assert_eq!(
        blobs.len(),
        3,
        "only the three `later-*` blobs remain: {blobs:?}"
    );
}
