//! Rights on the live protocol: every denial is a reject or a close with a reason. Each test runs
//! on SQLite and on PostgreSQL (`common::backend`).

use serde_json::json;

use crate::common::backend::{on_both_backends, Backend};
use crate::common::cli;
use crate::common::ws::{create, ink, Ws};
use crate::live::server_with_doc;

on_both_backends!(
    a_read_only_session_cannot_change_anything,
    edit_self_users_change_only_their_own_annotations,
    view_group_limits_what_the_welcome_and_broadcasts_include,
    a_layer_bound_session_sees_and_changes_only_its_layer,
    the_shared_snapshot_follows_every_change_and_stays_with_sessions_that_see_everything,
    bad_tokens_at_hello_and_revocation_and_expiry_close_with_a_reason,
);

async fn a_read_only_session_cannot_change_anything(backend: Backend) {
    let server = server_with_doc(backend.options()).await;
    let full = server.token("doc", "u1", &["all"]).await;
    let read_only = cli(
        &[
            "token",
            "attenuate",
            "--token",
            &full,
            "--permissions",
            "read-document",
        ],
        None,
    );
    let mut writer = Ws::join(&server, &full, None).await;
    writer.change(create("c0", "r1", 0)).await;
    let mut ro = Ws::join(&server, read_only.trim(), None).await;
    assert_eq!(
        ro.welcome["records"].as_array().unwrap().len(),
        1,
        "it still sees everything"
    );
    for change in [
        create("c1", "r2", 0),
        json!({"client_id": "c2", "op": "update", "id": "r1", "content": ink(0, "x")}),
        json!({"client_id": "c3", "op": "delete", "id": "r1"}),
    ] {
        let r = ro.change(change).await;
        assert_eq!(
            (r["type"].as_str(), r["code"].as_str()),
            (Some("reject"), Some("not_permitted")),
            "{r}"
        );
    }
    let rest = server.records("doc").await;
    assert_eq!(rest["head_seq"], 1, "nothing changed");
}

async fn edit_self_users_change_only_their_own_annotations(backend: Backend) {
    let server = server_with_doc(backend.options()).await;
    let mint = |user: &str| {
        json!({"document_id": "doc", "user_id": user, "permissions": ["read-document", "write"],
               "collaboration_permissions": ["annotations:view:all", "annotations:edit:self", "annotations:delete:self",
                                             "comments:view:all", "comments:reply:all"]})
    };
    let alice = server.mint(mint("alice")).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let bob = server.mint(mint("bob")).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut a = Ws::join(&server, &alice, None).await;
    let mut b = Ws::join(&server, &bob, None).await;
    assert_eq!(a.change(create("a1", "alices", 0)).await["type"], "ack");

    let r = b.change(json!({"client_id": "b1", "op": "update", "id": "alices", "content": ink(0, "bob was here")})).await;
    assert_eq!(r["code"], "not_permitted", "{r}");
    let r = b
        .change(json!({"client_id": "b2", "op": "delete", "id": "alices"}))
        .await;
    assert_eq!(r["code"], "not_permitted", "{r}");
    // But Bob may answer Alice's thread and edit his own annotation.
    let reply = json!({"client_id": "b3", "op": "create", "kind": "comment", "id": "c1",
                       "content": {"v": 2, "type": "pspdfkit/comment", "rootId": "alices", "text": {"format": "plain", "value": "Nice"}}});
    assert_eq!(b.change(reply).await["type"], "ack");
    assert_eq!(b.change(create("b4", "bobs", 1)).await["type"], "ack");
    let r = b
        .change(
            json!({"client_id": "b5", "op": "update", "id": "bobs", "content": ink(1, "moved")}),
        )
        .await;
    assert_eq!(r["type"], "ack");
    // A comment must belong to an existing annotation.
    let orphan = json!({"client_id": "b6", "op": "create", "kind": "comment", "id": "c2",
                        "content": {"rootId": "nope", "text": "hi"}});
    assert_eq!(b.change(orphan).await["code"], "invalid");
    // Deleting an annotation deletes its thread, so Alice, who may not delete Bob's comment,
    // cannot delete it: nothing is deleted.
    let r = a
        .change(json!({"client_id": "a2", "op": "delete", "id": "alices"}))
        .await;
    assert_eq!(r["code"], "not_permitted", "{r}");
    assert_eq!(
        server.records("doc").await["records"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // A session that may delete every comment in the thread takes the thread with it.
    let owner = server.token("doc", "owner", &["all"]).await;
    let mut o = Ws::join(&server, &owner, None).await;
    assert_eq!(
        o.change(json!({"client_id": "o1", "op": "delete", "id": "alices"}))
            .await["type"],
        "ack"
    );
    let fresh = Ws::join(&server, &alice, None).await;
    let ids: Vec<&str> = fresh.welcome["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["bobs"]);
}

async fn view_group_limits_what_the_welcome_and_broadcasts_include(backend: Backend) {
    let server = server_with_doc(backend.options()).await;
    let mint = |user: &str, group: &str, view: &str| {
        json!({"document_id": "doc", "user_id": user, "default_group": group, "permissions": ["read-document", "write"],
               "collaboration_permissions": [view, "annotations:edit:self"]})
    };
    let red1 = server
        .mint(mint("r1", "red", "annotations:view:group"))
        .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let red2 = server
        .mint(mint("r2", "red", "annotations:view:group"))
        .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let blue = server
        .mint(mint("b1", "blue", "annotations:view:group"))
        .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut b = Ws::join(&server, &blue, None).await;
    let mut r2 = Ws::join(&server, &red2, None).await;
    b.change(create("x", "blue-note", 0)).await;
    let mut r1 = Ws::join(&server, &red1, None).await;
    assert_eq!(
        r1.welcome["records"],
        json!([]),
        "the blue record is not in a red welcome"
    );
    r1.change(create("y", "red-note", 0)).await;
    let seen = r2.recv_type("change").await;
    assert_eq!(
        seen["id"], "red-note",
        "red sees red, and never saw blue's change first"
    );
    // Blue hears nothing of red's record: its next message is the answer to its own change.
    let own = b.change(create("z", "blue-2", 0)).await;
    assert_eq!(own["type"], "ack");
    let fresh = Ws::join(&server, &blue, None).await;
    let ids: Vec<&str> = fresh.welcome["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["blue-note", "blue-2"]);
}

async fn a_layer_bound_session_sees_and_changes_only_its_layer(backend: Backend) {
    let server = server_with_doc(backend.options()).await;
    let main = server.token("doc", "u", &["all"]).await;
    let review = server
        .mint(json!({"document_id": "doc", "user_id": "u", "layer": "review", "permissions": ["all"]}))
        .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut m = Ws::join(&server, &main, None).await;
    let mut r = Ws::join(&server, &review, None).await;
    assert_eq!(r.welcome["layer"], "review");
    m.change(create("m", "same-id", 0)).await;
    // The same id is free in another layer, and the main layer never hears of it.
    assert_eq!(r.change(create("r", "same-id", 2)).await["type"], "ack");
    assert_eq!(
        m.change(create("m2", "other", 0)).await["seq"],
        3,
        "one sequence across layers"
    );
    let main_fresh = Ws::join(&server, &main, None).await;
    let rec = &main_fresh.welcome["records"];
    assert_eq!(rec.as_array().unwrap().len(), 2);
    assert_eq!(rec[0]["content"]["pageIndex"], 0);
    let review_fresh = Ws::join(&server, &review, None).await;
    assert_eq!(review_fresh.welcome["records"].as_array().unwrap().len(), 1);
    assert_eq!(
        review_fresh.welcome["records"][0]["content"]["pageIndex"],
        2
    );
}

/// A document keeps the snapshot list it sends to sessions that see every record
/// (`DocState::keep_full_snapshot`): every welcome and REST read must still be the document as
/// it is now, and a session with narrower rights never gets that list.
async fn the_shared_snapshot_follows_every_change_and_stays_with_sessions_that_see_everything(
    backend: Backend,
) {
    let server = server_with_doc(backend.options()).await;
    let full = server.token("doc", "u1", &["all"]).await;
    let bob = server
        .mint(json!({"document_id": "doc", "user_id": "bob", "permissions": ["read-document", "write"],
                     "collaboration_permissions": ["annotations:view:self", "annotations:edit:self"]}))
        .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut writer = Ws::join(&server, &full, None).await;
    writer.change(create("c1", "r1", 0)).await;
    writer.change(create("c2", "r2", 1)).await;
    let mut b = Ws::join(&server, &bob, None).await;
    assert_eq!(b.change(create("b1", "bobs", 2)).await["type"], "ack");

    // What a full session must see: the REST read, records by revision.
    let listed = |records: &serde_json::Value| -> Vec<(String, i64)> {
        records
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap().to_string(),
                    r["rev"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let expect = |ids: &[(&str, i64)]| -> Vec<(String, i64)> {
        ids.iter().map(|(id, rev)| (id.to_string(), *rev)).collect()
    };
    // The first full welcome after a change is built for it, the second builds the kept list,
    // the third and later are sent from it: all the same.
    let mut welcomes = Vec::new();
    for _ in 0..3 {
        welcomes.push(Ws::join(&server, &full, None).await.welcome["records"].clone());
    }
    assert_eq!(welcomes[0], welcomes[1]);
    assert_eq!(welcomes[1], welcomes[2]);
    assert_eq!(
        listed(&welcomes[2]),
        expect(&[("r1", 1), ("r2", 2), ("bobs", 3)])
    );
    assert_eq!(
        listed(&server.records("doc").await["records"]),
        listed(&welcomes[2])
    );
    let narrow = Ws::join(&server, &bob, None).await;
    assert_eq!(
        listed(&narrow.welcome["records"]),
        expect(&[("bobs", 3)]),
        "a session that sees only its own records never gets the shared list"
    );

    // Each kind of change is in the next welcome and REST read, however many came before.
    writer
        .change(json!({"client_id": "c3", "op": "update", "id": "r1", "content": ink(0, "moved")}))
        .await;
    let after_update = expect(&[("r2", 2), ("bobs", 3), ("r1", 4)]);
    for _ in 0..3 {
        let w = Ws::join(&server, &full, None).await;
        assert_eq!(listed(&w.welcome["records"]), after_update);
        assert_eq!(
            w.welcome["records"][2]["content"]["customData"]["marker"],
            "moved"
        );
    }
    assert_eq!(
        listed(&server.records("doc").await["records"]),
        after_update
    );
    writer
        .change(json!({"client_id": "c4", "op": "delete", "id": "r2"}))
        .await;
    for _ in 0..3 {
        let w = Ws::join(&server, &full, None).await;
        assert_eq!(
            listed(&w.welcome["records"]),
            expect(&[("bobs", 3), ("r1", 4)])
        );
    }
    assert_eq!(
        listed(&server.records("doc").await["records"]),
        expect(&[("bobs", 3), ("r1", 4)])
    );
}

async fn bad_tokens_at_hello_and_revocation_and_expiry_close_with_a_reason(backend: Backend) {
    let server = server_with_doc(backend.options()).await;
    let minted = server
        .mint(json!({"document_id": "doc", "user_id": "u", "permissions": ["all"]}))
        .await;
    let token = minted["token"].as_str().unwrap().to_string();

    let expired = cli(
        &["token", "attenuate", "--token", &token, "--expires-in", "0"],
        None,
    );
    for (bad, code, name) in [
        (expired.trim().to_string(), 4002, "token_expired"),
        ("garbage".to_string(), 4001, "unauthorized"),
    ] {
        let mut ws = Ws::open(&server).await;
        ws.send(json!({"type": "hello", "token": bad})).await;
        let closed = ws.closed().await;
        assert_eq!(closed.code, code, "{closed:?}");
        assert!(closed.reason.starts_with(name), "{closed:?}");
    }

    // A token that expires while the session is live is cut off at its next change. Expiry is
    // checked in whole seconds (the token's `time` check), so a lifetime of n seconds lasts
    // between n − 1 and n: with 1, the join below lost the race in one CI run of many.
    let short = cli(
        &["token", "attenuate", "--token", &token, "--expires-in", "2"],
        None,
    );
    let mut live = Ws::join(&server, short.trim(), None).await;
    let mut other = Ws::join(&server, &token, None).await;
    // Wait for the expiry by observing the server's clock: a fresh hello with the same token
    // is refused once it has passed.
    loop {
        let mut probe = Ws::open(&server).await;
        probe
            .send(json!({"type": "hello", "token": short.trim()}))
            .await;
        match probe.try_recv(crate::common::TIMEOUT).await {
            Err(Some(c)) if c.code == 4002 => break,
            _ => continue,
        }
    }
    live.send(json!({"type": "changes", "changes": [create("late", "late", 0)]}))
        .await;
    let closed = live.closed().await;
    assert_eq!(closed.code, 4002, "{closed:?}");

    // Revoking closes the live session at once.
    let res = server
        .revoke(&json!({"revocation_id": minted["revocation_id"]}))
        .await;
    assert!(res.status().is_success());
    let closed = other.closed().await;
    assert_eq!(closed.code, 4003, "{closed:?}");
    assert!(closed.reason.starts_with("token_revoked"));
}
