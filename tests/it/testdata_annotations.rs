//! Annotations made in other tools (the shared corpus) import into records with the right types,
//! pages and rects, checked against what qpdf reads from the same files. Needs the corpus and
//! qpdf (`make test` runs it when the corpus is there; `.ci/run` installs qpdf).

use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::{expect_json, shared_pdfs, Server};
use quire::exchange::geometry::PageGeometry;

/// qpdf's view: per annotation (not popups, widgets or links), its page, subtype and rect.
fn qpdf_annotations(path: &std::path::Path) -> Vec<(usize, String, [f64; 4])> {
    let out = Command::new("qpdf")
        .args(["--json", "--json-key=pages", "--json-key=qpdf"])
        .arg(path)
        .output()
        .expect("qpdf is required (apt-get install qpdf)");
    let v: Value = serde_json::from_slice(&out.stdout).expect("qpdf --json output");
    let objects = &v["qpdf"][1];
    let get = |r: &str| objects[format!("obj:{r}")]["value"].clone();
    let mut found = Vec::new();
    for (i, p) in v["pages"].as_array().unwrap().iter().enumerate() {
        let page = get(p["object"].as_str().unwrap());
        let annots = match &page["/Annots"] {
            Value::String(r) => get(r),
            other => other.clone(),
        };
        for a in annots.as_array().into_iter().flatten() {
            let a = get(a.as_str().unwrap());
            let subtype = a["/Subtype"].as_str().unwrap().trim_start_matches('/');
            if ["Popup", "Widget", "Link"].contains(&subtype) {
                continue;
            }
            let r: Vec<f64> = a["/Rect"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            found.push((i, subtype.to_string(), [r[0], r[1], r[2], r[3]]));
        }
    }
    found
}

const TYPES: &[(&str, &str)] = &[
    ("FreeText", "pspdfkit/text"),
    ("Ink", "pspdfkit/ink"),
    ("Highlight", "pspdfkit/markup/highlight"),
    ("Stamp", "pspdfkit/stamp"),
    ("Square", "pspdfkit/shape/rectangle"),
    ("Circle", "pspdfkit/shape/ellipse"),
];

#[tokio::test]
#[ignore = "needs ../shared/testdata/pdfs (make test runs it when present)"]
async fn annotations_in_shared_pdfs_import_with_their_types_pages_and_rects() {
    let dir = shared_pdfs();
    let server = Server::start().await;
    for (i, name) in [
        "tracemonkey_with_annotations.pdf",
        "annotation-highlight.pdf",
        "annotation-freetext.pdf",
        "annotation-square-circle.pdf",
    ]
    .iter()
    .enumerate()
    {
        let path = dir.join(name);
        let expected = qpdf_annotations(&path);
        assert!(!expected.is_empty(), "{name}");
        let id = format!("d{i}");
        let res = server
            .upload_raw(
                std::fs::read(&path).unwrap(),
                &format!("?id={id}&import_annotations=true&layer=pdf"),
            )
            .await;
        let body = expect_json(res, StatusCode::CREATED).await;
        assert_eq!(
            body["annotations_import"]["applied"].as_u64(),
            Some(expected.len() as u64),
            "{name}: {body}"
        );
        let pages: Vec<PageGeometry> = serde_json::from_value(
            server.get_json(&format!("/api/documents/{id}/pages")).await["pages"].clone(),
        )
        .unwrap();
        let doc = server
            .get_json(&format!("/api/documents/{id}/document.json?layer=pdf"))
            .await;
        let got = doc["annotations"].as_array().unwrap();
        assert_eq!(got.len(), expected.len(), "{name}");
        for ((page, subtype, rect), a) in expected.iter().zip(got) {
            let ty = TYPES.iter().find(|(s, _)| s == subtype).unwrap().1;
            assert_eq!(a["type"], ty, "{name}");
            assert_eq!(a["pageIndex"], *page, "{name}");
            let want = pages[*page].pdf_to_bbox(quire::exchange::geometry::normalise(*rect));
            let bbox: Vec<f64> = a["bbox"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            for (w, g) in want.iter().zip(&bbox) {
                assert!(
                    (w - g).abs() < 0.01,
                    "{name} {subtype}: {want:?} vs {bbox:?}"
                );
            }
        }
    }
    // The backend route does the same for a document already uploaded.
    let res = server
        .backend(
            Method::POST,
            "/api/documents/d1/import-pdf-annotations?layer=again",
        )
        .send()
        .await
        .unwrap();
    let report = expect_json(res, StatusCode::OK).await;
    assert_eq!(report["applied"], 1, "{report}");
}
