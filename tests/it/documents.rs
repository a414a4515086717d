//! Upload validation: every bad input gets a clear error and leaves nothing behind.

use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{expect_error, files_under, fixture, pdf, Options, Server};

/// Asserts the server holds no document, no blob and no spooled upload.
pub async fn assert_empty(server: &Server) {
    let list = server.get_json("/api/documents").await;
    assert_eq!(
        list["documents"].as_array().unwrap().len(),
        0,
        "no row left behind: {list}"
    );
    let blobs = files_under(&server.data_dir.join("blobs"));
    assert!(blobs.is_empty(), "no orphan blob left behind: {blobs:?}");
    let spooled = files_under(&server.data_dir.join("spool"));
    assert!(spooled.is_empty(), "no spool file left behind: {spooled:?}");
}

#[tokio::test]
async fn a_non_pdf_body_is_422_and_leaves_nothing() {
    let server = Server::start().await;
    let res = server
        .upload_raw(b"hello, this is plain text".to_vec(), "")
        .await;
    let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "not_a_pdf").await;
    assert!(
        body["message"].as_str().unwrap().contains("%PDF-"),
        "{body}"
    );
    // A PDF header followed by garbage is damaged, not accepted.
    let res = server
        .upload_raw(b"%PDF-1.7\n\x00\x01garbage".to_vec(), "")
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "pdf_damaged").await;
    assert_empty(&server).await;
}

#[tokio::test]
async fn an_unsupported_content_type_is_415() {
    let server = Server::start().await;
    let res = server
        .backend(Method::POST, "/api/documents")
        .header("content-type", "text/plain")
        .body(pdf::one_page("x"))
        .send()
        .await
        .unwrap();
    expect_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert_empty(&server).await;
}

#[tokio::test]
async fn a_multipart_body_without_a_file_part_is_400() {
    let server = Server::start().await;
    let form = reqwest::multipart::Form::new().text("title", "no file");
    let res = server
        .backend(Method::POST, "/api/documents")
        .multipart(form)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_empty(&server).await;
}

#[tokio::test]
async fn a_pdf_that_needs_a_password_is_422() {
    let server = Server::start().await;
    let res = server.upload_raw(fixture("user_password.pdf"), "").await;
    let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "pdf_encrypted").await;
    assert!(
        body["message"].as_str().unwrap().contains("password"),
        "{body}"
    );
    assert_empty(&server).await;
}

#[tokio::test]
async fn invalid_ids_are_rejected_and_duplicates_conflict() {
    let server = Server::start().await;
    let long = "a".repeat(129);
    for bad in [
        "a%2Fb",
        "..",
        ".hidden",
        "a%5Cb",
        "caf%C3%A9",
        long.as_str(),
        "a%20b",
    ] {
        let res = server
            .upload_raw(pdf::one_page("x"), &format!("?id={bad}"))
            .await;
        expect_error(res, StatusCode::BAD_REQUEST, "invalid_document_id").await;
    }
    let long_title = "t".repeat(513);
    let res = server
        .upload_raw(pdf::one_page("x"), &format!("?title={long_title}"))
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_title").await;
    assert_empty(&server).await;

    server.upload_ok(pdf::one_page("first"), "doc-1").await;
    let res = server
        .upload_raw(pdf::one_page("second"), "?id=doc-1")
        .await;
    expect_error(res, StatusCode::CONFLICT, "document_already_exists").await;
    let blobs = files_under(&server.data_dir.join("blobs"));
    assert_eq!(
        blobs.len(),
        1,
        "the rejected upload left no blob: {blobs:?}"
    );
}

#[tokio::test]
async fn unknown_documents_are_404_with_a_json_body() {
    let server = Server::start().await;
    for (method, path) in [
        (Method::GET, "/api/documents/nope"),
        (Method::GET, "/api/documents/nope/file"),
        (Method::DELETE, "/api/documents/nope"),
    ] {
        let res = server.backend(method, path).send().await.unwrap();
        expect_error(res, StatusCode::NOT_FOUND, "document_not_found").await;
    }
}

/// Sends a request over a raw socket and returns the status line's code. The server must answer
/// without reading the whole body, so the test writes it while watching for the answer.
async fn raw_upload(
    server: &Server,
    headers: &str,
    body_chunks: usize,
    chunk: &[u8],
) -> (u16, String) {
    let addr = server.base.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST /api/documents HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/pdf\r\n{headers}\r\n",
        server.api_key
    );
    let chunked = headers.contains("chunked");
    let chunk = chunk.to_vec();
    let write = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        for _ in 0..body_chunks {
            if chunked {
                writer
                    .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .await?;
                writer.write_all(&chunk).await?;
                writer.write_all(b"\r\n").await?;
            } else {
                writer.write_all(&chunk).await?;
            }
        }
        std::io::Result::Ok(())
    });
    let mut response = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            let n = reader.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&response);
            if let Some((_, rest)) = text.split_once("\r\n\r\n") {
                if rest.contains('}') {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(crate::common::TIMEOUT, read)
        .await
        .expect("the server answered");
    write.abort();
    let text = String::from_utf8_lossy(&response).to_string();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

#[tokio::test]
async fn an_oversized_body_is_413_without_being_read() {
    let server = Server::start_with(Options {
        extra_args: vec!["--max-upload-bytes".into(), "100000".into()],
        ..Default::default()
    })
    .await;
    // Declared too large: refused from the headers alone (the body is never sent).
    let (code, text) = raw_upload(&server, "Content-Length: 50000000\r\n", 0, b"").await;
    assert_eq!(code, 413, "{text}");
    assert!(text.contains("payload_too_large"), "{text}");

    // Chunked with no declared length: refused once the limit is passed, long before the
    // 50 MB the client would send.
    let (code, text) = raw_upload(
        &server,
        "Transfer-Encoding: chunked\r\n",
        800,
        &[b'x'; 65536],
    )
    .await;
    assert_eq!(code, 413, "{text}");
    assert_empty(&server).await;

    // Just under the limit is fine.
    let mut ok = pdf::one_page("small");
    ok.resize(99_000, b' ');
    let res = server.upload_raw(ok, "").await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_list_limit_outside_1_to_200_is_400_not_clamped() {
    let server = Server::start().await;
    for limit in ["0", "201", "18446744073709551615"] {
        let res = server
            .backend(Method::GET, &format!("/api/documents?limit={limit}"))
            .send()
            .await
            .unwrap();
        let body = expect_error(res, StatusCode::BAD_REQUEST, "invalid_limit").await;
        assert!(
            body["message"].as_str().unwrap().contains("1 to 200"),
            "{body}"
        );
    }
    // Not a number at all: refused as a bad query string.
    let res = server
        .backend(Method::GET, "/api/documents?limit=-1")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    for limit in ["1", "200"] {
        let res = server
            .backend(Method::GET, &format!("/api/documents?limit={limit}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "limit={limit}");
    }
}
