//! CORS: the client API answers configured origins (preflight included); backend routes never
//! send CORS headers.

use reqwest::{Method, StatusCode};

use crate::common::{pdf, Options, Server};

#[tokio::test]
async fn client_routes_allow_configured_origins_only() {
    let server = Server::start_with(Options {
        extra_args: vec![
            "--cors-origins".into(),
            "https://app.example.com,https://other.example.com".into(),
        ],
        ..Default::default()
    })
    .await;
    server.upload_ok(pdf::one_page("cors"), "doc").await;
    let token = server.token("doc", "u1", &["read-document"]).await;

    let preflight = server
        .http
        .request(Method::OPTIONS, server.url("/api/client/document"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization, range")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("range"),
        "{allowed}"
    );

    let res = server
        .client(&token, "/api/client/document")
        .header("origin", "https://app.example.com")
        .header("range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let exposed = res.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("content-range") && exposed.contains("etag"),
        "{exposed}"
    );

    let res = server
        .client(&token, "/api/client/session")
        .header("origin", "https://evil.example.net")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());

    let res = server
        .backend(Method::GET, "/api/documents")
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers().get("access-control-allow-origin").is_none(),
        "backend routes send no CORS headers"
    );
}
