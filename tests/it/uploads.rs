//! Uploads cost the server bounded memory: bodies are spooled to disk, and PDFs are parsed in a
//! child process with limits on decompressed stream size, memory and time.

use std::io::Write;

use reqwest::StatusCode;

use crate::common::{expect_error, expect_json, files_under, proc_status_kib, Options, Server};
use crate::documents::assert_empty;

/// A one-page PDF followed by `streams` (each a dictionary body and its raw content) as objects
/// 4, 5, … with a valid cross-reference table.
fn pdf_with_streams(streams: &[(&str, &[u8])]) -> Vec<u8> {
    let mut objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>".to_vec(),
    ];
    for (dict, content) in streams {
        let mut object = format!("<< {dict} /Length {} >>\nstream\n", content.len()).into_bytes();
        object.extend_from_slice(content);
        object.extend_from_slice(b"\nendstream");
        objects.push(object);
    }
    quire::pdf::assemble(&objects)
}

/// A valid one-page PDF of about `mib` MiB (an uncompressed stream of filler).
pub fn large_pdf(mib: usize) -> Vec<u8> {
    let filler = vec![b'%'; mib * 1024 * 1024];
    pdf_with_streams(&[("", &filler)])
}

/// A PDF of a few hundred KiB whose object stream inflates to 256 MiB.
fn decompression_bomb() -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(b"5 0 ").unwrap();
    let spaces = vec![b' '; 1024 * 1024];
    for _ in 0..256 {
        encoder.write_all(&spaces).unwrap();
    }
    let compressed = encoder.finish().unwrap();
    assert!(compressed.len() < 512 * 1024, "{} bytes", compressed.len());
    pdf_with_streams(&[(
        "/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode",
        &compressed,
    )])
}

/// A field of `/proc/<pid>/status`, in KiB.
/// How far the server's peak resident memory rose above its current one while `f` ran, in MiB.
async fn peak_growth_mib<F: std::future::Future<Output = ()>>(server: &Server, f: F) -> u64 {
    let before = proc_status_kib(server.pid(), "VmRSS");
    f.await;
    let peak = proc_status_kib(server.pid(), "VmHWM");
    peak.saturating_sub(before) / 1024
}

#[tokio::test]
async fn a_60_mib_upload_is_spooled_to_disk_not_held_in_memory() {
    let server = Server::start().await;
    // Warm up the upload path so one-time allocations are not counted.
    server
        .upload_ok(crate::common::pdf::one_page("warm"), "warm")
        .await;
    let pdf = large_pdf(60);
    let size = pdf.len() as u64;
    let growth = peak_growth_mib(&server, async {
        let res = server.upload_raw(pdf, "?id=big").await;
        let doc = expect_json(res, StatusCode::CREATED).await;
        assert_eq!(doc["byte_size"], size);
        assert_eq!(doc["page_count"], 1);
    })
    .await;
    eprintln!("a 60 MiB upload raised the server's peak memory by {growth} MiB");
    // The bound: the blob is copied in 8 MiB parts, at most three buffered at once. Holding the
    // body (as before) costs its 60 MiB at least.
    assert!(
        growth < 32,
        "a 60 MiB upload raised the server's peak memory by {growth} MiB"
    );
    // The bytes come back whole, and nothing is left in the spool.
    let res = server
        .backend(reqwest::Method::GET, "/api/documents/big/file")
        .send()
        .await
        .unwrap();
    assert_eq!(res.bytes().await.unwrap().len() as u64, size);
    assert!(files_under(&server.data_dir.join("spool")).is_empty());
}

#[tokio::test]
async fn a_decompression_bomb_is_refused_as_too_costly_with_little_memory() {
    let server = Server::start().await;
    let bomb = decompression_bomb();
    let growth = peak_growth_mib(&server, async {
        let res = server.upload_raw(bomb, "").await;
        let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "pdf_too_costly").await;
        assert!(
            body["message"].as_str().unwrap().contains("inflates"),
            "{body}"
        );
    })
    .await;
    eprintln!("refusing the bomb raised the server's peak memory by {growth} MiB");
    assert!(
        growth < 16,
        "refusing the bomb raised the server's peak memory by {growth} MiB"
    );
    assert_empty(&server).await;
}

#[tokio::test]
async fn a_pdf_that_needs_more_memory_than_allowed_is_refused_and_the_server_lives() {
    let server = Server::start_with(Options {
        extra_args: vec!["--pdf-parse-memory".into(), (32 * 1024 * 1024).to_string()],
        ..Default::default()
    })
    .await;
    // The file fits in the allowance; parsing it (which copies its stream) does not.
    let res = server.upload_raw(large_pdf(20), "").await;
    let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "pdf_too_costly").await;
    assert!(
        body["message"].as_str().unwrap().contains("memory"),
        "{body}"
    );
    assert_empty(&server).await;
    // Small documents still go through.
    server
        .upload_ok(crate::common::pdf::one_page("after"), "after")
        .await;
}

#[tokio::test]
async fn a_multipart_upload_is_spooled_like_a_raw_one() {
    let server = Server::start().await;
    let pdf = large_pdf(9);
    let size = pdf.len() as u64;
    let form = reqwest::multipart::Form::new().text("id", "multi").part(
        "file",
        reqwest::multipart::Part::bytes(pdf)
            .mime_str("application/pdf")
            .unwrap(),
    );
    let res = server
        .backend(reqwest::Method::POST, "/api/documents")
        .multipart(form)
        .send()
        .await
        .unwrap();
    let doc = expect_json(res, StatusCode::CREATED).await;
    assert_eq!(doc["byte_size"], size);
    assert!(files_under(&server.data_dir.join("spool")).is_empty());
}
