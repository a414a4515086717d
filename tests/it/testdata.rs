//! Every real-world PDF in `../shared/testdata/pdfs`, with page counts checked against
//! `pdfinfo` (poppler-utils), which was run once to write the expected values below. The corpus
//! is an extra beside the clone: these tests are ignored by a plain `cargo test` and run by
//! `make test` when it is there (always in CI).

use reqwest::StatusCode;

use crate::common::{expect_error, expect_json, shared_pdfs, Server};

/// `pdfinfo FILE | grep Pages`, for each file.
const PDFINFO_PAGES: &[(&str, i64)] = &[
    ("ArabicCIDTrueType.pdf", 1),
    ("annotation-freetext.pdf", 1),
    ("annotation-highlight.pdf", 1),
    ("annotation-square-circle.pdf", 1),
    ("annotation-text-widget.pdf", 1),
    ("empty.pdf", 1),
    // Encrypted, but with an empty user password: it opens without one, so it is accepted.
    ("empty_protected.pdf", 1),
    ("form_two_pages.pdf", 2),
    ("freeculture.pdf", 352),
    ("rotated.pdf", 1),
    ("tracemonkey.pdf", 14),
    ("tracemonkey_with_annotations.pdf", 14),
    // Damaged cross-reference table: lopdf recovers it, as pdfinfo does.
    ("xref_command_missing.pdf", 1),
];

#[tokio::test]
#[ignore = "needs ../shared/testdata/pdfs (make test runs it when present)"]
async fn every_shared_pdf_uploads_with_the_page_count_pdfinfo_reports() {
    let dir = shared_pdfs();
    let server = Server::start().await;
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".pdf"))
        .collect();
    names.sort();
    let expected: Vec<&str> = PDFINFO_PAGES.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names, expected,
        "the test data changed: rerun pdfinfo and update PDFINFO_PAGES"
    );
    for (name, pages) in PDFINFO_PAGES {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let res = server
            .upload_raw(bytes.clone(), &format!("?title={name}"))
            .await;
        let doc = expect_json(res, StatusCode::CREATED).await;
        assert_eq!(doc["page_count"], *pages, "{name}");
        assert_eq!(doc["byte_size"], bytes.len(), "{name}");
    }
}

#[tokio::test]
#[ignore = "needs ../shared/testdata/pdfs (make test runs it when present)"]
async fn the_same_shared_pdf_twice_is_stored_once() {
    let dir = shared_pdfs();
    let server = Server::start().await;
    let bytes = std::fs::read(dir.join("tracemonkey.pdf")).unwrap();
    let a = expect_json(
        server.upload_raw(bytes.clone(), "?id=a").await,
        StatusCode::CREATED,
    )
    .await;
    let b = expect_json(server.upload_raw(bytes, "?id=b").await, StatusCode::CREATED).await;
    assert_eq!(a["sha256"], b["sha256"]);
    assert_eq!(
        crate::common::files_under(&server.data_dir.join("blobs")).len(),
        1
    );
    let res = server
        .upload_raw(b"%PDF-1.4 but nothing else".to_vec(), "?id=c")
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "pdf_damaged").await;
}

/// Annotations made in other tools, imported from the corpus.
#[path = "testdata_annotations.rs"]
mod annotations;
