//! `GET /api/documents/{id}/sessions`: who is on a document now, for the dashboard.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::ws::Ws;
use crate::common::{expect_error, Options};
use crate::live::server_with_doc;

#[tokio::test]
async fn the_live_sessions_of_a_document_are_listed_and_leave_the_list_when_they_close() {
    let server = server_with_doc(Options::default()).await;
    let none = server.get_json("/api/documents/doc/sessions").await;
    assert_eq!(none, json!({"document_id": "doc", "sessions": []}));

    let alice = server
        .mint(json!({"document_id": "doc", "user_id": "alice", "user_name": "Alice", "permissions": ["all"]}))
        .await;
    let bob = server
        .mint(json!({"document_id": "doc", "user_id": "bob", "layer": "review", "permissions": ["read-document"]}))
        .await;
    let a = Ws::join(&server, alice["token"].as_str().unwrap(), None).await;
    let mut b = Ws::join(&server, bob["token"].as_str().unwrap(), None).await;
    let listed = server.get_json("/api/documents/doc/sessions").await;
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{listed}");
    assert_eq!(sessions[0]["user_id"], "alice");
    assert_eq!(sessions[0]["user_name"], "Alice");
    assert_eq!(sessions[0]["layer"], "");
    assert_eq!(sessions[0]["node"], "this");
    assert_eq!(sessions[0]["session_id"], a.welcome["session_id"]);
    assert_eq!(sessions[1]["user_id"], "bob");
    assert_eq!(sessions[1]["layer"], "review");

    // Alice leaves: Bob hears it, and the list follows.
    drop(a);
    let left = b.recv_presence("left").await;
    assert_eq!(left["user_id"], "alice", "{left}");
    let listed = server.get_json("/api/documents/doc/sessions").await;
    let users: Vec<&str> = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["bob"]);
}

#[tokio::test]
async fn the_sessions_of_an_unknown_document_are_not_found_and_need_the_api_key() {
    let server = server_with_doc(Options::default()).await;
    let res = server
        .backend(Method::GET, "/api/documents/nope/sessions")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::NOT_FOUND, "document_not_found").await;
    let res = server
        .http
        .get(server.url("/api/documents/doc/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
