//! PDF export: the original plus an incremental update with the layer's annotations, checked
//! with tools nobody here wrote: qpdf (`--check`, `--json`) and poppler's `pdftoppm`. Both are
//! prerequisites (`.ci/run` installs them); a missing one fails the test.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{expect_error, expect_json, Server};

const FORMAT: &str = "https://pspdfkit.com/instant-json/v1";

fn tool(name: &str) -> Command {
    assert!(
        Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .is_ok_and(|o| o.status.success()),
        "{name} is required (apt-get install qpdf poppler-utils)"
    );
    Command::new(name)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn qpdf_check(path: &Path) {
    let out = tool("qpdf").arg("--check").arg(path).output().unwrap();
    assert!(
        out.status.success(),
        "qpdf --check: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Per page (in order), the annotations qpdf finds: (subtype, rect, contents, author, IRT?).
fn qpdf_annotations(path: &Path) -> Vec<Vec<HashMap<String, Value>>> {
    let out = tool("qpdf")
        .args(["--json", "--json-key=pages", "--json-key=qpdf"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let objects = &v["qpdf"][1];
    let get = |r: &str| objects[format!("obj:{r}")]["value"].clone();
    v["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let page = get(p["object"].as_str().unwrap());
            let annots = match &page["/Annots"] {
                Value::String(r) => get(r),
                other => other.clone(),
            };
            annots
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    let a = get(a.as_str().unwrap());
                    a.as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// Per page, (subtype, rect) as qpdf reported them.
fn kinds_and_rects(pages: &[Vec<HashMap<String, Value>>]) -> Vec<Vec<(String, Vec<f64>)>> {
    pages
        .iter()
        .map(|p| {
            p.iter()
                .map(|a| {
                    (
                        a["/Subtype"].as_str().unwrap().to_string(),
                        rect(&a["/Rect"]),
                    )
                })
                .collect()
        })
        .collect()
}

/// Per page, (subtype, rect) as pypdf reads them (Debian's `python3-pypdf`, run with the
/// system interpreter that has it).
fn pypdf_annotations(path: &Path) -> Vec<Vec<(String, Vec<f64>)>> {
    let script = r#"
import json, sys, pypdf
r = pypdf.PdfReader(sys.argv[1])
out = []
for page in r.pages:
    annots = page.get("/Annots") or []
    rows = []
    for a in annots:
        a = a.get_object()
        rows.append([str(a["/Subtype"]), [float(x) for x in a["/Rect"]]])
    out.append(rows)
print(json.dumps(out))
"#;
    let out = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("/usr/bin/python3 with pypdf is required (apt-get install python3-pypdf)");
    assert!(
        out.status.success(),
        "pypdf: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<Vec<(String, Vec<f64>)>> = serde_json::from_slice(&out.stdout).unwrap();
    // Rects as qpdf prints them (f32 values), for an exact comparison.
    v.into_iter()
        .map(|p| {
            p.into_iter()
                .map(|(k, r)| (k, r.into_iter().map(|x| (x as f32) as f64).collect()))
                .collect()
        })
        .collect()
}

fn shaped_pdf() -> Vec<u8> {
    let objects: Vec<Vec<u8>> = [
        "<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [5 0 R] >> >>",
        "<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 /MediaBox [0 0 612 792] >>",
        "<< /Type /Page /Parent 2 0 R >>",
        "<< /Type /Page /Parent 2 0 R /CropBox [100 50 500 700] /Rotate 270 >>",
        "<< /FT /Tx /T (email) >>",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    quire::pdf::assemble(&objects)
}

fn layer_doc() -> Value {
    json!({
        "format": FORMAT,
        "annotations": [
            {"id": "sq", "v": 2, "type": "pspdfkit/shape/rectangle", "pageIndex": 0, "bbox": [100, 100, 200, 150],
             "strokeColor": "#FF0000", "fillColor": "#00FF00", "strokeWidth": 4, "opacity": 0.5, "creatorName": "Ann", "note": "look"},
            {"id": "hl", "v": 2, "type": "pspdfkit/markup/highlight", "pageIndex": 1, "bbox": [20, 30, 100, 12],
             "rects": [[20, 30, 100, 12]], "color": "#FFFF00", "creatorName": "Ann"},
            {"id": "in", "v": 2, "type": "pspdfkit/ink", "pageIndex": 1, "bbox": [50, 50, 100, 100],
             "lines": {"points": [[[50, 50], [150, 150]]], "intensities": [[1, 1]]}, "strokeColor": "#0000FF", "lineWidth": 3},
            {"id": "ft", "v": 2, "type": "pspdfkit/text", "pageIndex": 0, "bbox": [300, 400, 200, 40],
             "text": {"format": "plain", "value": "Hello (PDF) é"}, "fontColor": "#000000", "fontSize": 14},
            {"id": "st", "v": 2, "type": "pspdfkit/stamp", "pageIndex": 0, "bbox": [300, 500, 150, 50], "stampType": "Approved"},
            {"id": "nt", "v": 2, "type": "pspdfkit/note", "pageIndex": 0, "bbox": [50, 600, 24, 24],
             "text": {"format": "plain", "value": "a note"}, "color": "#FFCC00"},
        ],
        "comments": [{"id": "re", "rootId": "sq", "text": "I agree", "creatorName": "Bob"}],
        "formFieldValues": [{"name": "email", "value": "a@b.c"}],
    })
}

async fn server_with_layer(doc_pdf: Vec<u8>, layer_doc: Value) -> Server {
    let server = Server::start().await;
    server.upload_ok(doc_pdf, "doc").await;
    let res = server
        .backend(Method::POST, "/api/documents/doc/document.json?layer=x")
        .json(&layer_doc)
        .send()
        .await
        .unwrap();
    let report = expect_json(res, StatusCode::OK).await;
    assert_eq!(report["rejected"], json!([]), "{report}");
    server
}

async fn get_pdf(server: &Server, query: &str) -> (Vec<u8>, String) {
    let res = server
        .backend(Method::GET, &format!("/api/documents/doc/pdf?{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    let summary = res.headers()["quire-export"].to_str().unwrap().to_string();
    (res.bytes().await.unwrap().to_vec(), summary)
}

fn rect(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 0.01)
}

#[tokio::test]
async fn exported_pdfs_pass_qpdf_and_carry_the_layer_as_annotations() {
    let original = shaped_pdf();
    let server = server_with_layer(original.clone(), layer_doc()).await;
    let (bytes, summary) = get_pdf(&server, "layer=x").await;
    assert_eq!(
        summary,
        "annotations=6, comments=1, form_fields=1, skipped=0"
    );
    // An incremental update: the original bytes, unchanged, then the update.
    assert_eq!(&bytes[..original.len()], &original[..]);
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "out.pdf", &bytes);
    qpdf_check(&path);

    let pages = qpdf_annotations(&path);
    let kinds: Vec<Vec<&str>> = pages
        .iter()
        .map(|p| p.iter().map(|a| a["/Subtype"].as_str().unwrap()).collect())
        .collect();
    assert_eq!(
        kinds,
        vec![
            vec!["/Square", "/FreeText", "/Stamp", "/Text", "/Text"],
            vec!["/Highlight", "/Ink"]
        ]
    );
    let square = &pages[0][0];
    // Page 0 is Letter, unrotated: [100, 100, 200, 150] from the top left.
    assert!(
        close(&rect(&square["/Rect"]), &[100.0, 542.0, 300.0, 692.0]),
        "{:?}",
        square["/Rect"]
    );
    assert_eq!(square["/T"], "u:Ann");
    assert_eq!(square["/Contents"], "u:look");
    assert_eq!(square["/NM"], "u:sq");
    assert!(close(&rect(&square["/C"]), &[1.0, 0.0, 0.0]));
    assert!(
        square["/AP"]["/N"].is_string(),
        "an appearance stream: {:?}",
        square["/AP"]
    );
    let reply = &pages[0][4];
    assert!(reply["/IRT"].is_string());
    assert_eq!(reply["/Contents"], "u:I agree");
    // Page 1: CropBox [100 50 500 700] turned 270°: displayed (20, 30) is user (500-30, 700-20).
    let highlight = &pages[1][0];
    assert!(
        close(&rect(&highlight["/Rect"]), &[458.0, 580.0, 470.0, 680.0]),
        "{:?}",
        highlight["/Rect"]
    );
    let free = &pages[0][1];
    assert_eq!(free["/Contents"], "u:Hello (PDF) é");

    // The form value is set, and viewers are asked to regenerate the field's appearance.
    let out = tool("qpdf")
        .args(["--json", "--json-key=acroform", "--json-key=qpdf"])
        .arg(&path)
        .output()
        .unwrap();
    let form: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(form["acroform"]["needappearances"], true);
    assert_eq!(form["qpdf"][1]["obj:5 0 R"]["value"]["/V"], "u:a@b.c");

    // pypdf (Debian's python3-pypdf) reads the same annotations.
    assert_eq!(pypdf_annotations(&path), kinds_and_rects(&pages));

    // The stored original is untouched.
    let res = server
        .backend(Method::GET, "/api/documents/doc/file")
        .send()
        .await
        .unwrap();
    assert_eq!(res.bytes().await.unwrap().to_vec(), original);
}

/// Renders page 1 at 72 dpi in grey; returns (width, height, pixels).
fn render(path: &Path) -> (usize, usize, Vec<u8>) {
    let prefix = path.with_extension("");
    let out = tool("pdftoppm")
        .args(["-r", "72", "-f", "1", "-l", "1", "-gray", "-singlefile"])
        .arg(path)
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pgm = std::fs::read(prefix.with_extension("pgm")).unwrap();
    // P5\n<w> <h>\n255\n<pixels>
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&pgm[start..at]).to_string());
    }
    let (w, h): (usize, usize) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    (w, h, pgm[at + 1..].to_vec())
}

/// The bounding box `[left, top, right, bottom]` of the pixels that differ.
fn diff_box(a: &(usize, usize, Vec<u8>), b: &(usize, usize, Vec<u8>)) -> Option<[usize; 4]> {
    assert_eq!((a.0, a.1), (b.0, b.1));
    let mut bx: Option<[usize; 4]> = None;
    for y in 0..a.1 {
        for x in 0..a.0 {
            let i = y * a.0 + x;
            if a.2[i].abs_diff(b.2[i]) > 8 {
                let r = bx.get_or_insert([x, y, x, y]);
                r[0] = r[0].min(x);
                r[1] = r[1].min(y);
                r[2] = r[2].max(x);
                r[3] = r[3].max(y);
            }
        }
    }
    bx
}

#[tokio::test]
async fn rendered_pages_change_exactly_where_the_annotations_are_and_flatten_burns_them_in() {
    let original = quire::pdf::sample(1, "render");
    let doc = json!({"format": FORMAT, "annotations": [
        {"id": "sq", "v": 2, "type": "pspdfkit/shape/rectangle", "pageIndex": 0, "bbox": [100, 100, 200, 150],
         "strokeColor": "#000000", "fillColor": "#808080", "strokeWidth": 4},
    ]});
    let server = server_with_layer(original.clone(), doc).await;
    let dir = tempfile::tempdir().unwrap();
    let before = render(&write(dir.path(), "orig.pdf", &original));
    for (query, annots) in [("layer=x", 1), ("layer=x&flatten=true", 0)] {
        let (bytes, _) = get_pdf(&server, query).await;
        let path = write(dir.path(), &format!("out{annots}.pdf"), &bytes);
        qpdf_check(&path);
        assert_eq!(qpdf_annotations(&path)[0].len(), annots, "{query}");
        let after = render(&path);
        let [l, t, r, b] = diff_box(&before, &after).expect("the annotation is visible");
        // The rectangle spans x 100–300 and y 100–250 (72 dpi: one pixel per point).
        assert!(
            l >= 99 && t >= 99 && r <= 301 && b <= 251,
            "{query}: {l},{t},{r},{b}"
        );
        assert!(
            l <= 102 && t <= 102 && r >= 297 && b >= 247,
            "{query}: {l},{t},{r},{b}"
        );
    }
}

#[tokio::test]
async fn client_export_needs_download_and_bad_queries_are_refused() {
    let server = server_with_layer(quire::pdf::sample(1, "c"), layer_doc_one_page()).await;
    let reader = server.token("doc", "u", &["read-document"]).await;
    let res = server
        .client(&reader, "/api/client/pdf")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "right_missing").await;
    let token = server
        .mint(json!({"document_id": "doc", "user_id": "u", "layer": "x", "permissions": ["read-document", "download"]}))
        .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = server
        .client(&token, "/api/client/pdf")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.bytes().await.unwrap().starts_with(b"%PDF-"));
    let res = server
        .backend(Method::GET, "/api/documents/doc/pdf?flatten=maybe")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = server
        .backend(Method::GET, "/api/documents/nope/pdf")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

fn layer_doc_one_page() -> Value {
    json!({"format": FORMAT, "annotations": [
        {"id": "a", "v": 2, "type": "pspdfkit/note", "pageIndex": 0, "bbox": [10, 10, 20, 20], "text": "n"},
    ]})
}
