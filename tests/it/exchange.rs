//! Exchange: page geometry, layers (list, copy into a live layer, delete), Instant JSON import
//! and export. Each test runs on SQLite and on PostgreSQL (`common::backend`).

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};

use crate::common::backend::{on_both_backends, Backend};
use crate::common::ws::{create, ink, Ws};
use crate::common::{expect_error, expect_json, Options, Server};

on_both_backends!(
    upload_records_geometry_of_rotated_and_cropped_pages,
    geometry_missing_for_an_older_document_is_read_on_first_use,
    a_reviewer_layer_merged_into_the_main_layer_reaches_its_live_session,
    deleting_a_layer_removes_its_records_and_nothing_else,
    instant_json_round_trips_through_a_layer,
    a_bad_instant_json_import_is_refused_whole_and_changes_nothing,
    xfdf_round_trips_through_a_layer_on_rotated_and_cropped_pages,
    hostile_or_invalid_xfdf_is_refused_and_changes_nothing,
    records_exported_to_pdf_import_back_from_it,
    an_import_refused_at_commit_applies_nothing_and_says_why,
);

const FORMAT: &str = "https://pspdfkit.com/instant-json/v1";

/// Two pages: Letter rotated 90°, and an offset CropBox rotated 270° inherited from the tree.
fn shaped_pdf() -> Vec<u8> {
    let objects: Vec<Vec<u8>> = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 /MediaBox [0 0 612 792] >>",
        "<< /Type /Page /Parent 2 0 R /Rotate 90 >>",
        "<< /Type /Page /Parent 2 0 R /CropBox [100 50 500 700] /Rotate -90 >>",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    quire::pdf::assemble(&objects)
}

async fn server_with_shaped_doc(backend: &Backend) -> Server {
    let server = Server::start_with(backend.options()).await;
    server.upload_ok(shaped_pdf(), "doc").await;
    server
}

fn expected_pages() -> Value {
    json!([
        {"media_box": [0.0, 0.0, 612.0, 792.0], "crop_box": [0.0, 0.0, 612.0, 792.0], "rotate": 90},
        {"media_box": [0.0, 0.0, 612.0, 792.0], "crop_box": [100.0, 50.0, 500.0, 700.0], "rotate": 270},
    ])
}

async fn upload_records_geometry_of_rotated_and_cropped_pages(backend: Backend) {
    let server = server_with_shaped_doc(&backend).await;
    let pages = server.get_json("/api/documents/doc/pages").await;
    assert_eq!(pages["pages"], expected_pages());
    let res = server
        .backend(Method::GET, "/api/documents/nope/pages")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::NOT_FOUND, "document_not_found").await;
}

async fn geometry_missing_for_an_older_document_is_read_on_first_use(backend: Backend) {
    let server = server_with_shaped_doc(&backend).await;
    // As for a document uploaded before geometry was recorded.
    let db = Database::connect(backend.database_url(&server))
        .await
        .unwrap();
    db.execute_unprepared("DELETE FROM page_geometry")
        .await
        .unwrap();
    let pages = server.get_json("/api/documents/doc/pages").await;
    assert_eq!(pages["pages"], expected_pages());
    // …and recorded for next time.
    let row = db
        .query_one(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM page_geometry",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1);
}

async fn post(server: &Server, path: &str, body: Value) -> reqwest::Response {
    server
        .backend(Method::POST, path)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn a_reviewer_layer_merged_into_the_main_layer_reaches_its_live_session(backend: Backend) {
    let server = server_with_shaped_doc(&backend).await;
    let reviewer = server
        .mint(json!({"document_id": "doc", "user_id": "ann", "user_name": "Ann", "layer": "review-ann", "permissions": ["all"]}))
        .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut r = Ws::join(&server, &reviewer, None).await;
    assert_eq!(r.change(create("c1", "a1", 0)).await["type"], "ack");
    let comment = json!({"client_id": "c2", "op": "create", "kind": "comment", "id": "k1",
        "content": {"rootId": "a1", "text": "Please check"}});
    assert_eq!(r.change(comment).await["type"], "ack");

    let editor = server.token("doc", "ed", &["read-document"]).await;
    let mut main = Ws::join(&server, &editor, None).await;
    assert_eq!(main.welcome["records"], json!([]));

    let layers = server.get_json("/api/documents/doc/layers").await;
    assert_eq!(
        layers["layers"],
        json!([{"layer": "review-ann", "records": 2, "annotations": 1, "comments": 1, "form_fields": 0, "bookmarks": 0}])
    );

    let res = post(
        &server,
        "/api/documents/doc/layers/copy",
        json!({"from": "review-ann", "to": ""}),
    )
    .await;
    let report = expect_json(res, StatusCode::OK).await;
    assert_eq!(report, json!({"applied": 2, "rejected": []}));
    let first = main.recv_type("change").await;
    assert_eq!(first["record"]["id"], "a1");
    // The reviewer stays the author.
    assert_eq!(first["record"]["creator"], "ann");
    assert_eq!(main.recv_type("change").await["record"]["id"], "k1");

    let layers = server.get_json("/api/documents/doc/layers").await;
    let names: Vec<&str> = layers["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["layer"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["", "review-ann"]);

    // Copying again updates rather than duplicates.
    let res = post(
        &server,
        "/api/documents/doc/layers/copy",
        json!({"from": "review-ann", "to": ""}),
    )
    .await;
    assert_eq!(expect_json(res, StatusCode::OK).await["applied"], 2);
    assert_eq!(
        server.records("doc").await["records"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    for bad in [
        json!({"from": "review-ann", "to": "review-ann"}),
        json!({"from": "x".repeat(200), "to": ""}),
        json!({"to": ""}),
    ] {
        let res = post(&server, "/api/documents/doc/layers/copy", bad.clone()).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

async fn deleting_a_layer_removes_its_records_and_nothing_else(backend: Backend) {
    let server = server_with_shaped_doc(&backend).await;
    let changes = |layer: &str| {
        json!({"layer": layer, "changes": [
            create("c1", "a1", 0),
            {"client_id": "c2", "op": "create", "kind": "comment", "id": "k1", "content": {"rootId": "a1", "text": "hi"}},
        ]})
    };
    for layer in ["", "r"] {
        let res = post(&server, "/api/documents/doc/changes", changes(layer)).await;
        expect_json(res, StatusCode::OK).await;
    }
    let res = server
        .backend(Method::DELETE, "/api/documents/doc/layers?layer=r")
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_json(res, StatusCode::OK).await,
        json!({"applied": 2, "rejected": []})
    );
    let layers = server.get_json("/api/documents/doc/layers").await;
    assert_eq!(layers["layers"].as_array().unwrap().len(), 1);
    assert_eq!(layers["layers"][0]["layer"], "");
    assert_eq!(layers["layers"][0]["records"], 2);
}

fn instant_doc() -> Value {
    let mut a1 = ink(1, "m");
    a1["id"] = json!("a1");
    a1["creatorName"] = json!("Ann");
    a1["createdAt"] = json!("2026-01-02T03:04:05Z");
    a1["updatedAt"] = json!("2026-01-02T03:04:05Z");
    json!({
        "format": FORMAT,
        "annotations": [a1],
        "comments": [{"id": "k1", "v": 2, "type": "pspdfkit/comment", "rootId": "a1", "text": {"format": "plain", "value": "Looks good"},
            "creatorName": "Bob", "createdAt": "2026-01-02T03:04:05Z", "updatedAt": "2026-01-02T03:04:05Z"}],
        "formFieldValues": [{"id": "f1", "v": 1, "type": "pspdfkit/form-field-value", "name": "email", "value": "a@b.c",
            "createdAt": "2026-01-02T03:04:05Z", "updatedAt": "2026-01-02T03:04:05Z"}],
        "bookmarks": [{"id": "b1", "v": 1, "type": "pspdfkit/bookmark", "name": "Intro", "action": {"type": "goTo", "pageIndex": 1},
            "createdAt": "2026-01-02T03:04:05Z", "updatedAt": "2026-01-02T03:04:05Z"}],
    })
}

async fn instant_json_round_trips_through_a_layer(backend: Backend) {
    let server = server_with_shaped_doc(&backend).await;
    let res = post(
        &server,
        "/api/documents/doc/document.json?layer=imported&user_id=importer",
        instant_doc(),
    )
    .await;
    assert_eq!(
        expect_json(res, StatusCode::OK).await,
        json!({"applied": 4, "rejected": []})
    );
    let out = server
        .get_json("/api/documents/doc/document.json?layer=imported")
        .await;
    assert_eq!(out, instant_doc());
    // The default layer is untouched.
    let main = server.get_json("/api/documents/doc/document.json").await;
    assert_eq!(main["annotations"], json!([]));

    // The client export needs `download`, and shows the token's layer.
    let without = server.token("doc", "u", &["read-document"]).await;
    let res = server
        .client(&without, "/api/client/document.json")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "right_missing").await;
    let with = server
        .mint(json!({"document_id": "doc", "user_id": "u", "layer": "imported", "permissions": ["read-document", "download"]}))
        .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = server
        .client(&with, "/api/client/document.json")
        .send()
        .await
        .unwrap();
    let client = expect_json(res, StatusCode::OK).await;
    assert_eq!(client["annotations"][0]["id"], "a1");
}

async fn a_bad_instant_json_import_is_refused_whole_and_changes_nothing(backend: Backend) {
    let server = server_with_shaped_doc(&backend).await;
    let mut doc = instant_doc();
    let mut off_page = ink(5, "x");
    off_page["id"] = json!("a2");
    doc["annotations"].as_array_mut().unwrap().push(off_page);
    doc["bookmarks"][0]["name"] = json!(7);
    let res = post(&server, "/api/documents/doc/document.json", doc).await;
    let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "import_rejected").await;
    let rejected = body["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2, "{body}");
    assert_eq!(rejected[0]["section"], "annotations");
    assert_eq!(rejected[0]["index"], 1);
    assert!(rejected[0]["message"].as_str().unwrap().contains("outside"));
    assert_eq!(rejected[1]["section"], "bookmarks");

    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let bodies: Vec<Vec<u8>> = vec![
        b"{".to_vec(),
        deep.into_bytes(),
        json!({"format": "nope"}).to_string().into_bytes(),
        json!({"format": FORMAT, "annotations": [1]}).to_string().into_bytes(),
        json!({"format": FORMAT, "annotations": [{"v": 2, "type": "pspdfkit/ink", "pageIndex": "0", "bbox": [0, 0, 1, 1]}]}).to_string().into_bytes(),
        json!({"format": FORMAT, "annotations": [{"v": 2, "type": "pspdfkit/note", "pageIndex": 0, "bbox": [0, 0, 1, 1], "color": "url(x)"}]}).to_string().into_bytes(),
    ];
    for body in bodies {
        let res = server
            .backend(Method::POST, "/api/documents/doc/document.json")
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert!(
            res.status() == StatusCode::BAD_REQUEST
                || res.status() == StatusCode::UNPROCESSABLE_ENTITY,
            "{}: {}",
            String::from_utf8_lossy(&body[..body.len().min(80)]),
            res.status()
        );
    }
    let res = server
        .backend(Method::POST, "/api/documents/doc/document.json")
        .body(vec![b' '; 17 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Nothing changed anywhere.
    let records = server.records("doc").await;
    assert_eq!(records["head_seq"], 0);
    assert!(server.get_json("/api/documents/doc/layers").await["layers"]
        .as_array()
        .unwrap()
        .is_empty());
}

const XFDF: &str = r##"<?xml version="1.0" encoding="UTF-8"?>
<xfdf xmlns="http://ns.adobe.com/xfdf/" xml:space="preserve"><annots>
<square name="sq" page="1" rect="150,150,250,250" color="#112233" interior-color="#445566" width="2" opacity="0.5" title="Ann" creationdate="D:20260102030405Z" date="D:20260103040506Z"><contents>check this</contents></square>
<highlight name="hl" page="0" rect="110,600,200,620" color="#FFFF00" coords="110,620,200,620,110,600,200,600" title="Ann"/>
<text name="re" page="1" rect="150,150,250,250" inreplyto="sq" title="Bob" creationdate="D:20260104000000Z" date="D:20260104000000Z"><contents>agreed</contents></text>
</annots><fields><field name="email"><value>a@b.c</value></field></fields></xfdf>"##;

async fn post_xfdf(
    server: &Server,
    path: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    server
        .backend(Method::POST, path)
        .header("content-type", "application/vnd.adobe.xfdf")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn xfdf_round_trips_through_a_layer_on_rotated_and_cropped_pages(backend: Backend) {
    let server = server_with_shaped_doc(&backend).await;
    let res = post_xfdf(&server, "/api/documents/doc/document.xfdf?layer=x", XFDF).await;
    assert_eq!(
        expect_json(res, StatusCode::OK).await,
        json!({"applied": 4, "rejected": []})
    );
    // Page 1 has CropBox [100 50 500 700] turned 270°: the square is displayed at
    // (700 - 250, 500 - 250) = (450, 250).
    let doc = server
        .get_json("/api/documents/doc/document.json?layer=x")
        .await;
    let square = &doc["annotations"][0];
    assert_eq!(square["id"], "sq");
    assert_eq!(square["bbox"], json!([450.0, 250.0, 100.0, 100.0]));
    assert_eq!(doc["comments"][0]["rootId"], "sq");
    assert_eq!(doc["formFieldValues"][0]["value"], "a@b.c");

    let res = server
        .backend(Method::GET, "/api/documents/doc/document.xfdf?layer=x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/vnd.adobe.xfdf"
    );
    let out = res.text().await.unwrap();
    for needle in [
        r##"<square name="sq" page="1" rect="150,150,250,250" title="Ann" creationdate="D:20260102030405Z" date="D:20260103040506Z" color="#112233" interior-color="#445566" opacity="0.5" width="2"><contents>check this</contents></square>"##,
        r#"coords="110,620,200,620,110,600,200,600""#,
        r#"<text name="re" page="1" rect="150,150,250,250" inreplyto="sq" title="Bob""#,
        r#"<field name="email"><value>a@b.c</value></field>"#,
    ] {
        assert!(out.contains(needle), "{needle}\nnot in\n{out}");
    }

    let token = server
        .mint(json!({"document_id": "doc", "user_id": "u", "layer": "x", "permissions": ["read-document", "download"]}))
        .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = server
        .client(&token, "/api/client/document.xfdf")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains(r#"name="sq""#));
    let reader = server.token("doc", "u", &["read-document"]).await;
    let res = server
        .client(&reader, "/api/client/document.xfdf")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "right_missing").await;
}

async fn hostile_or_invalid_xfdf_is_refused_and_changes_nothing(backend: Backend) {
    let server = server_with_shaped_doc(&backend).await;
    let laughs = format!(
        r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">{}]><xfdf><annots><text page="0" rect="0,0,1,1"><contents>&lol9;</contents></text></annots></xfdf>"#,
        (1..10)
            .map(|i| format!(
                r#"<!ENTITY lol{i} "{}">"#,
                format!(
                    "&lol{};",
                    if i == 1 {
                        String::new()
                    } else {
                        (i - 1).to_string()
                    }
                )
                .repeat(10)
            ))
            .collect::<String>()
    );
    let external = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xfdf><annots><text page="0" rect="0,0,1,1"><contents>&e;</contents></text></annots></xfdf>"#.to_string();
    let deep = format!(
        "<xfdf>{}{}</xfdf>",
        "<a>".repeat(100_000),
        "</a>".repeat(100_000)
    );
    let undefined = r#"<xfdf><annots><text page="0" rect="0,0,1,1"><contents>&e;</contents></text></annots></xfdf>"#.to_string();
    let cases: Vec<(String, StatusCode, &str)> = vec![
        (laughs, StatusCode::BAD_REQUEST, "DTD"),
        (external, StatusCode::BAD_REQUEST, "DTD"),
        (deep, StatusCode::BAD_REQUEST, "nested"),
        (undefined, StatusCode::BAD_REQUEST, "&e;"),
        ("<xfdf".into(), StatusCode::BAD_REQUEST, "XML"),
        (
            r#"<xfdf><annots><square page="7" rect="0,0,1,1"/></annots></xfdf>"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "outside",
        ),
        (
            r#"<xfdf><annots><square page="0" rect="a,b,c,d"/></annots></xfdf>"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "number",
        ),
        (
            r#"<xfdf><annots><square page="0" rect="0,0,1,1" color="red"/></annots></xfdf>"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "colour",
        ),
    ];
    for (body, status, needle) in cases {
        let res = post_xfdf(&server, "/api/documents/doc/document.xfdf", body.clone()).await;
        assert_eq!(res.status(), status, "{}", &body[..body.len().min(80)]);
        let text = res.text().await.unwrap();
        assert!(text.contains(needle), "{needle}: {text}");
    }
    // A 50 MB attribute: past the body limit before any parsing.
    let huge = format!(r#"<xfdf a="{}"/>"#, "x".repeat(50 * 1024 * 1024));
    let res = post_xfdf(&server, "/api/documents/doc/document.xfdf", huge).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(server.records("doc").await["head_seq"], 0);
}

/// records → PDF → import from the PDF: the same annotations (type, page, rect within 0.01 pt,
/// colour, contents, author), on a rotated page and on one with an offset CropBox.
async fn records_exported_to_pdf_import_back_from_it(backend: Backend) {
    let server = server_with_shaped_doc(&backend).await;
    let doc = json!({"format": FORMAT, "annotations": [
        {"id": "sq", "v": 2, "type": "pspdfkit/shape/rectangle", "pageIndex": 0, "bbox": [10.5, 20.25, 100, 50],
         "strokeColor": "#FF0000", "creatorName": "Ann", "note": "look"},
        {"id": "hl", "v": 2, "type": "pspdfkit/markup/highlight", "pageIndex": 1, "bbox": [20, 30, 100, 12],
         "rects": [[20, 30, 100, 12]], "color": "#FFFF00", "creatorName": "Bob"},
    ], "comments": [{"id": "re", "rootId": "sq", "text": "agreed", "creatorName": "Cy"}]});
    let res = post(
        &server,
        "/api/documents/doc/document.json?layer=x",
        doc.clone(),
    )
    .await;
    expect_json(res, StatusCode::OK).await;
    let res = server
        .backend(Method::GET, "/api/documents/doc/pdf?layer=x")
        .send()
        .await
        .unwrap();
    let pdf = res.bytes().await.unwrap().to_vec();
    let res = server
        .upload_raw(pdf, "?id=back&import_annotations=true&layer=y")
        .await;
    let body = expect_json(res, StatusCode::CREATED).await;
    assert_eq!(body["annotations_import"]["applied"], 3, "{body}");
    let back = server
        .get_json("/api/documents/back/document.json?layer=y")
        .await;
    for a in doc["annotations"].as_array().unwrap() {
        let b = back["annotations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["id"] == a["id"])
            .unwrap();
        for key in [
            "type",
            "pageIndex",
            "creatorName",
            "note",
            "color",
            "strokeColor",
        ] {
            if a.get(key).is_some() {
                assert_eq!(a[key], b[key], "{key} of {}", a["id"]);
            }
        }
        for (x, y) in a["bbox"]
            .as_array()
            .unwrap()
            .iter()
            .zip(b["bbox"].as_array().unwrap())
        {
            assert!(
                (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 0.01,
                "{} vs {}",
                a["bbox"],
                b["bbox"]
            );
        }
    }
    assert_eq!(back["comments"][0]["rootId"], "sq");
    assert_eq!(back["comments"][0]["text"]["value"], "agreed");
}

/// The check before an import cannot see everything (here: the document's record limit, counted
/// over all layers); what the commit refuses still refuses the whole import.
async fn an_import_refused_at_commit_applies_nothing_and_says_why(backend: Backend) {
    let server = Server::start_with(Options {
        extra_args: vec!["--max-records-per-document".into(), "3".into()],
        ..backend.options()
    })
    .await;
    server.upload_ok(shaped_pdf(), "doc").await;
    // Four records (annotation, comment, form value and one more) against a limit of three.
    let res = post(
        &server,
        "/api/documents/doc/document.json?layer=imported&user_id=importer",
        instant_doc(),
    )
    .await;
    let report = expect_json(res, StatusCode::OK).await;
    assert_eq!(report["applied"], 0, "{report}");
    let rejected = report["rejected"].as_array().unwrap();
    assert!(
        rejected.iter().any(|r| r["code"] == "limit_exceeded"),
        "{report}"
    );
    assert!(rejected.iter().any(|r| r["code"] == "aborted"), "{report}");
    let out = server
        .get_json("/api/documents/doc/document.json?layer=imported")
        .await;
    assert_eq!(out["annotations"], json!([]), "{out}");
    assert_eq!(out["comments"], json!([]), "{out}");
}
