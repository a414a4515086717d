//! The rules of change application, one test each: what is accepted, what is refused and why,
//! and that a refused change or a rolled-back batch leaves the state exactly as it was.

use std::collections::HashMap;
use std::time::SystemTime;

use serde_json::value::RawValue;

use super::*;
use crate::auth::rights::Permission;
use crate::auth::tokens::{DocumentRef, Grant};

fn user(id: &str, collab: &[&str]) -> Access {
    Access::from_grant(&Grant {
        document: DocumentRef::Managed("d".into()),
        user_id: id.into(),
        user_name: None,
        layer: "".into(),
        default_group: None,
        permissions: vec![Permission::ReadDocument, Permission::Write],
        collaboration_permissions: collab.iter().map(|c| c.parse().unwrap()).collect(),
        expires_at: SystemTime::now(),
        document_created: None,
    })
}

fn editor(id: &str) -> Access {
    Access::backend(id.into(), None)
}

fn state() -> DocState {
    DocState::new(0, 0, Some(3), HashMap::new(), DocLimits::default())
}

fn ink(marker: &str) -> Box<RawValue> {
    RawValue::from_string(format!(
        r#"{{"v":2,"type":"pspdfkit/ink","pageIndex":0,"bbox":[0,0,1,1],"lines":{{"points":[[[0,0]]]}},"name":"{marker}"}}"#
    ))
    .unwrap()
}

fn comment(root: &str) -> Box<RawValue> {
    RawValue::from_string(format!(r#"{{"rootId":"{root}","text":"hi"}}"#)).unwrap()
}

fn req(op: Op, id: &str, kind: Option<Kind>, content: Option<Box<RawValue>>) -> ChangeRequest {
    ChangeRequest {
        client_id: format!("c-{id}"),
        op,
        id: id.into(),
        kind,
        content,
        base_rev: None,
    }
}

fn create(id: &str) -> ChangeRequest {
    req(Op::Create, id, Some(Kind::Annotation), Some(ink(id)))
}

/// Applies one request as the next change; returns its outcome.
fn apply(s: &mut DocState, who: &Access, r: ChangeRequest, undo: &mut Undo) -> Outcome {
    let mut log = Vec::new();
    let next = s.head_seq + 1;
    let out = s.apply(who, "", r, next, 1, &mut log, undo);
    s.head_seq += log.len() as i64;
    out
}

fn code(o: &Outcome) -> Option<RejectCode> {
    match o {
        Outcome::Ack { .. } => None,
        Outcome::Reject { code, .. } => Some(*code),
    }
}

/// A comparable picture of every record: layer, id, revision, content.
fn snapshot(s: &DocState) -> Vec<(String, String, i64, String)> {
    let mut all: Vec<_> = s
        .layers
        .iter()
        .flat_map(|(l, rs)| {
            rs.values()
                .map(move |r| (l.clone(), r.id.clone(), r.rev, r.content.get().to_string()))
        })
        .collect();
    all.sort();
    all
}

#[test]
fn a_create_is_acknowledged_with_the_next_sequence_number() {
    let mut s = state();
    let out = apply(&mut s, &editor("a"), create("r1"), &mut Undo::default());
    assert!(
        matches!(out, Outcome::Ack { seq: 1, rev: 1, .. }),
        "{out:?}"
    );
    assert_eq!(s.record_count(), 1);
}

#[test]
fn a_second_create_of_the_same_id_is_already_exists_with_the_record() {
    let mut s = state();
    apply(&mut s, &editor("a"), create("r1"), &mut Undo::default());
    let out = apply(&mut s, &editor("a"), create("r1"), &mut Undo::default());
    match out {
        Outcome::Reject { code, current, .. } => {
            assert_eq!(code, RejectCode::AlreadyExists);
            assert!(current.is_some());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_stale_base_is_refused_with_the_current_record() {
    let mut s = state();
    apply(&mut s, &editor("a"), create("r1"), &mut Undo::default());
    apply(
        &mut s,
        &editor("a"),
        req(Op::Update, "r1", None, Some(ink("v2"))),
        &mut Undo::default(),
    );
    let mut stale = req(Op::Update, "r1", None, Some(ink("v3")));
    stale.base_rev = Some(1);
    let out = apply(&mut s, &editor("b"), stale, &mut Undo::default());
    match out {
        Outcome::Reject { code, current, .. } => {
            assert_eq!(code, RejectCode::StaleBase);
            assert!(current.unwrap().get().contains("v2"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn without_write_every_change_is_not_permitted() {
    let mut s = state();
    let mut reader = user("r", &["annotations:view:all"]);
    reader.write = false;
    let out = apply(&mut s, &reader, create("r1"), &mut Undo::default());
    assert_eq!(code(&out), Some(RejectCode::NotPermitted));
    assert_eq!(s.record_count(), 0);
}

#[test]
fn edit_self_may_change_only_its_own_records() {
    let mut s = state();
    let own = user(
        "me",
        &[
            "annotations:view:all",
            "annotations:edit:self",
            "annotations:delete:self",
        ],
    );
    apply(
        &mut s,
        &editor("other"),
        create("theirs"),
        &mut Undo::default(),
    );
    apply(&mut s, &own, create("mine"), &mut Undo::default());
    let upd = |id: &str| req(Op::Update, id, None, Some(ink("x")));
    assert_eq!(
        code(&apply(&mut s, &own, upd("mine"), &mut Undo::default())),
        None
    );
    assert_eq!(
        code(&apply(&mut s, &own, upd("theirs"), &mut Undo::default())),
        Some(RejectCode::NotPermitted)
    );
    let del = req(Op::Delete, "theirs", None, None);
    assert_eq!(
        code(&apply(&mut s, &own, del, &mut Undo::default())),
        Some(RejectCode::NotPermitted)
    );
}

#[test]
fn a_record_the_session_cannot_see_is_not_found() {
    let mut s = state();
    apply(
        &mut s,
        &editor("other"),
        create("hidden"),
        &mut Undo::default(),
    );
    let viewer = user("me", &["annotations:view:self", "annotations:edit:all"]);
    let out = apply(
        &mut s,
        &viewer,
        req(Op::Update, "hidden", None, Some(ink("x"))),
        &mut Undo::default(),
    );
    assert_eq!(code(&out), Some(RejectCode::NotFound));
}

#[test]
fn deleting_an_annotation_deletes_its_thread_only_when_every_comment_may_be_deleted() {
    let mut s = state();
    let alice = user(
        "alice",
        &[
            "annotations:view:all",
            "annotations:edit:self",
            "annotations:delete:self",
            "comments:view:all",
            "comments:reply:all",
            "comments:delete:self",
        ],
    );
    apply(&mut s, &alice, create("note"), &mut Undo::default());
    let reply = |id: &str| req(Op::Create, id, Some(Kind::Comment), Some(comment("note")));
    apply(&mut s, &alice, reply("own-reply"), &mut Undo::default());
    apply(
        &mut s,
        &editor("bob"),
        reply("bob-reply"),
        &mut Undo::default(),
    );
    let before = snapshot(&s);

    let out = apply(
        &mut s,
        &alice,
        req(Op::Delete, "note", None, None),
        &mut Undo::default(),
    );
    assert_eq!(code(&out), Some(RejectCode::NotPermitted));
    assert_eq!(snapshot(&s), before, "a refused cascade deletes nothing");

    let mut log = Vec::new();
    let out = s.apply(
        &editor("bob"),
        "",
        req(Op::Delete, "note", None, None),
        s.head_seq + 1,
        2,
        &mut log,
        &mut Undo::default(),
    );
    assert_eq!(code(&out), None);
    let deleted: Vec<&str> = log.iter().map(|c| c.record.id.as_str()).collect();
    assert_eq!(deleted, ["note", "bob-reply", "own-reply"]);
    assert_eq!(s.record_count(), 0);
}

#[test]
fn a_comment_needs_an_annotation_in_the_same_layer_as_its_root() {
    let mut s = state();
    let out = apply(
        &mut s,
        &editor("a"),
        req(
            Op::Create,
            "c1",
            Some(Kind::Comment),
            Some(comment("nowhere")),
        ),
        &mut Undo::default(),
    );
    assert_eq!(code(&out), Some(RejectCode::Invalid));
}

#[test]
fn the_record_limit_refuses_creates_but_not_updates_or_deletes() {
    let mut s = DocState::new(
        0,
        0,
        Some(1),
        HashMap::new(),
        DocLimits {
            max_records: 2,
            max_record_bytes: usize::MAX,
        },
    );
    let a = editor("a");
    for id in ["r1", "r2"] {
        assert_eq!(
            code(&apply(&mut s, &a, create(id), &mut Undo::default())),
            None
        );
    }
    assert_eq!(
        code(&apply(&mut s, &a, create("r3"), &mut Undo::default())),
        Some(RejectCode::LimitExceeded)
    );
    let upd = req(Op::Update, "r1", None, Some(ink("longer content")));
    assert_eq!(code(&apply(&mut s, &a, upd, &mut Undo::default())), None);
    let del = req(Op::Delete, "r1", None, None);
    assert_eq!(code(&apply(&mut s, &a, del, &mut Undo::default())), None);
    assert_eq!(
        code(&apply(&mut s, &a, create("r3"), &mut Undo::default())),
        None
    );
}

#[test]
fn the_byte_limit_counts_what_an_update_replaces() {
    let small = ink("a").get().len();
    let mut s = DocState::new(
        0,
        0,
        Some(1),
        HashMap::new(),
        DocLimits {
            max_records: 10,
            max_record_bytes: small + 2,
        },
    );
    let a = editor("a");
    assert_eq!(
        code(&apply(&mut s, &a, create("r"), &mut Undo::default())),
        None
    );
    // Replacing the content with one two bytes longer fits; a second record does not.
    let upd = req(Op::Update, "r", None, Some(ink("abc")));
    assert_eq!(code(&apply(&mut s, &a, upd, &mut Undo::default())), None);
    assert_eq!(
        code(&apply(&mut s, &a, create("q"), &mut Undo::default())),
        Some(RejectCode::LimitExceeded)
    );
    assert_eq!(s.record_bytes(), ink("abc").get().len());
}

#[test]
fn rolling_back_a_batch_restores_every_record_and_the_totals_exactly() {
    let mut s = state();
    let a = editor("a");
    apply(&mut s, &a, create("keep"), &mut Undo::default());
    apply(&mut s, &a, create("note"), &mut Undo::default());
    apply(
        &mut s,
        &a,
        req(
            Op::Create,
            "reply",
            Some(Kind::Comment),
            Some(comment("note")),
        ),
        &mut Undo::default(),
    );
    let (before, count, bytes, head) =
        (snapshot(&s), s.record_count(), s.record_bytes(), s.head_seq);

    // One batch: a create, two updates of the same record, a create then delete, a cascade.
    let mut undo = Undo::default();
    apply(&mut s, &a, create("new"), &mut undo);
    apply(
        &mut s,
        &a,
        req(Op::Update, "keep", None, Some(ink("v2"))),
        &mut undo,
    );
    apply(
        &mut s,
        &a,
        req(Op::Update, "keep", None, Some(ink("v3"))),
        &mut undo,
    );
    apply(&mut s, &a, create("brief"), &mut undo);
    apply(&mut s, &a, req(Op::Delete, "brief", None, None), &mut undo);
    apply(&mut s, &a, req(Op::Delete, "note", None, None), &mut undo);
    assert!(!undo.is_empty());
    assert_ne!(snapshot(&s), before);

    undo.rollback(&mut s);
    s.head_seq = head;
    assert_eq!(snapshot(&s), before);
    assert_eq!((s.record_count(), s.record_bytes()), (count, bytes));
}

#[test]
fn a_refused_change_records_nothing_to_undo() {
    let mut s = state();
    let mut undo = Undo::default();
    let out = apply(
        &mut s,
        &editor("a"),
        req(Op::Update, "missing", None, Some(ink("x"))),
        &mut undo,
    );
    assert_eq!(code(&out), Some(RejectCode::NotFound));
    assert!(undo.is_empty());
}

/// Changes another node committed are absorbed as they are (no rules, no limits), keeping the
/// counts in step, and a stale base sent here afterwards is refused against the new state.
#[test]
fn absorbed_changes_from_another_node_move_the_head_and_revalidate_what_follows() {
    let mut theirs = state();
    let mut log = Vec::new();
    let mut undo = Undo::default();
    let who = editor("u1");
    theirs.apply(&who, "", create("a"), 1, 1, &mut log, &mut undo);
    let moved = req(Op::Update, "a", None, Some(ink("moved")));
    theirs.apply(&who, "", moved, 2, 2, &mut log, &mut undo);
    let mut ours = state();
    for change in &log {
        ours.absorb(change);
    }
    assert_eq!(ours.head_seq, 2);
    assert_eq!(snapshot(&ours), snapshot(&theirs));
    assert_eq!(ours.record_count(), 1);
    assert_eq!(ours.record_bytes(), theirs.record_bytes());

    let mut stale = req(Op::Update, "a", None, Some(ink("late")));
    stale.base_rev = Some(1);
    let outcome = apply(&mut ours, &who, stale, &mut Undo::default());
    assert_eq!(code(&outcome), Some(RejectCode::StaleBase));

    let mut delete = Vec::new();
    theirs.apply(
        &who,
        "",
        req(Op::Delete, "a", None, None),
        3,
        3,
        &mut delete,
        &mut undo,
    );
    ours.absorb(&delete[0]);
    assert_eq!(
        (ours.head_seq, ours.record_count(), ours.record_bytes()),
        (3, 0, 0)
    );
}

/// Asks for the kept list of the main layer twice (it is built at the second ask) and returns
/// it.
fn kept(s: &mut DocState) -> Option<String> {
    s.keep_full_snapshot("");
    s.keep_full_snapshot("");
    s.full_snapshot("").map(|l| l.get().to_string())
}

/// The main layer's records as a snapshot's list, built afresh.
fn built(s: &DocState) -> String {
    serde_json::to_string(&s.views("", |_| true)).unwrap()
}

#[test]
fn the_kept_snapshot_is_built_at_the_second_ask_and_is_the_list_built_afresh() {
    let mut s = state();
    let a = editor("a");
    apply(&mut s, &a, create("r2"), &mut Undo::default());
    apply(&mut s, &a, create("r1"), &mut Undo::default());
    s.keep_full_snapshot("");
    assert!(s.full_snapshot("").is_none(), "one ask builds nothing");
    s.keep_full_snapshot("");
    let list = s.full_snapshot("").unwrap().get().to_string();
    assert_eq!(list, built(&s));
    let ids: Vec<String> = serde_json::from_str::<Vec<serde_json::Value>>(&list)
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["r2", "r1"], "by revision");
}

#[test]
fn every_change_to_a_layer_drops_its_kept_snapshot_and_only_its_own() {
    let mut s = state();
    let a = editor("a");
    apply(&mut s, &a, create("r1"), &mut Undo::default());
    s.apply(
        &a,
        "other",
        create("o1"),
        2,
        2,
        &mut Vec::new(),
        &mut Undo::default(),
    );
    s.head_seq = 2;
    let steps: [(&str, ChangeRequest); 3] = [
        ("create", create("r2")),
        ("update", req(Op::Update, "r1", None, Some(ink("v2")))),
        ("delete", req(Op::Delete, "r2", None, None)),
    ];
    for (what, change) in steps {
        assert!(kept(&mut s).is_some());
        for _ in 0..2 {
            s.keep_full_snapshot("other");
        }
        let out = apply(&mut s, &a, change, &mut Undo::default());
        assert!(matches!(out, Outcome::Ack { .. }), "{what}: {out:?}");
        assert!(s.full_snapshot("").is_none(), "{what} drops the list");
        assert!(
            s.full_snapshot("other").is_some(),
            "{what} keeps the other layer's"
        );
        assert_eq!(kept(&mut s).unwrap(), built(&s), "{what}");
    }
}

#[test]
fn a_rolled_back_batch_and_an_absorbed_change_drop_the_kept_snapshot() {
    let mut s = state();
    let a = editor("a");
    apply(&mut s, &a, create("r1"), &mut Undo::default());
    let before = kept(&mut s).unwrap();
    let mut undo = Undo::default();
    apply(&mut s, &a, create("r2"), &mut undo);
    assert_eq!(kept(&mut s).unwrap(), built(&s), "the batch is in the list");
    undo.rollback(&mut s);
    s.head_seq = 1;
    assert!(s.full_snapshot("").is_none(), "the rollback drops it");
    assert_eq!(
        kept(&mut s).unwrap(),
        before,
        "and the list is as before the batch"
    );

    let mut theirs = state();
    let mut log = Vec::new();
    theirs.apply(&a, "", create("r1"), 1, 1, &mut log, &mut Undo::default());
    theirs.apply(&a, "", create("x"), 2, 2, &mut log, &mut Undo::default());
    s.absorb(&log[1]);
    assert!(s.full_snapshot("").is_none(), "an absorbed change drops it");
    assert_eq!(kept(&mut s).unwrap(), built(&s));
}

#[test]
fn no_snapshot_is_kept_for_a_layer_without_records() {
    let mut s = state();
    assert_eq!(kept(&mut s), None);
    s.keep_full_snapshot("never-written");
    s.keep_full_snapshot("never-written");
    assert!(s.full_snapshot("never-written").is_none());
    assert!(s.snapshots.is_empty(), "asking leaves nothing behind");
}
