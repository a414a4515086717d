//! Usage metering: session opens per document and per day.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{expect_error, expect_json, pdf, Server};

#[tokio::test]
async fn opens_are_counted_per_document_and_day() {
    let server = Server::start().await;
    server.upload_ok(pdf::one_page("a"), "doc-a").await;
    server.upload_ok(pdf::one_page("b"), "doc-b").await;
    let a1 = server.token("doc-a", "u1", &["read-document"]).await;
    let a2 = server.token("doc-a", "u2", &["read-document"]).await;
    let b1 = server.token("doc-b", "u1", &["read-document"]).await;
    let app = server
        .mint(
            json!({"app_document_id": "app-1", "user_id": "u9", "permissions": ["read-document"]}),
        )
        .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    for t in [&a1, &a1, &a2, &b1, &app] {
        expect_json(
            server
                .client(t, "/api/client/session")
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await;
    }
    // A refused open is not metered.
    let res = server
        .client(&a1, "/api/client/session?document_id=doc-b")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let all = server.get_json("/api/usage").await;
    assert_eq!(all["total_opens"], 5);
    let rows = all["usage"].as_array().unwrap();
    let day = time::OffsetDateTime::now_utc().date().to_string();
    let row = |id: &str| {
        rows.iter()
            .find(|r| r["document_id"] == id || r["app_document_id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(row("doc-a")["opens"], 3);
    assert_eq!(row("doc-a")["unique_users"], 2);
    assert_eq!(row("doc-a")["day"], day.as_str());
    assert_eq!(row("doc-b")["opens"], 1);
    assert_eq!(row("app-1")["opens"], 1);

    let only_a = server.get_json("/api/usage?document_id=doc-a").await;
    assert_eq!(only_a["total_opens"], 3);
    let future = server.get_json("/api/usage?from=2999-01-01").await;
    assert_eq!(future["total_opens"], 0);
    let range = expect_json(
        server
            .backend(
                Method::GET,
                &format!("/api/usage?from={day}&to=2999-01-01T00:00:00Z"),
            )
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(range["total_opens"], 5);
    let res = server
        .backend(Method::GET, "/api/usage?from=yesterday")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
}
