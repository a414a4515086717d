//! Instant JSON documents (Nutrient's exchange format) to and from a layer's records.
//!
//! A record's content already is an Instant JSON object (see [`crate::records`]), so export
//! gathers a layer's records into the document shape (`format`, `annotations`, `comments`,
//! `formFieldValues`, `bookmarks`) with each record's id, and import is the reverse. Import is
//! planned here, purely: every item is validated with the same rules as a live change before
//! anything is submitted, and one bad item refuses the whole import with a report of every
//! rejected item and why.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::layers::{Batch, StoredRecord};
use crate::records;
use crate::wire::client::ChangeRequest;
use crate::wire::common::{Kind, Op};

/// The `format` Quire writes and accepts.
pub const FORMAT: &str = "https://pspdfkit.com/instant-json/v1";
/// Most items (annotations, comments, form-field values and bookmarks together) one import may
/// carry.
pub const MAX_IMPORT_ITEMS: usize = 10_000;
/// Largest Instant JSON body an import accepts.
pub const MAX_IMPORT_BYTES: usize = 16 * 1024 * 1024;

/// The document's sections and the record kind each holds.
const SECTIONS: [(&str, Kind); 4] = [
    ("annotations", Kind::Annotation),
    ("comments", Kind::Comment),
    ("formFieldValues", Kind::FormField),
    ("bookmarks", Kind::Bookmark),
];

/// Top-level keys accepted and ignored: they name objects inside a PDF that an import into
/// Quire has no counterpart for.
const IGNORED_KEYS: [&str; 3] = [
    "skippedPdfObjectIds",
    "skippedPdfFormFieldIds",
    "skippedPdfBookmarkIds",
];

/// A layer's records as an Instant JSON document. Each item is the record's content with its
/// `id`, and — where the content names none — the server's `creatorName`, `createdAt` and
/// `updatedAt`.
pub fn export(records: &[StoredRecord]) -> Value {
    let mut doc = Map::new();
    doc.insert("format".into(), Value::String(FORMAT.into()));
    for (section, kind) in SECTIONS {
        let items: Vec<Value> = records
            .iter()
            .filter(|r| r.kind == kind)
            .map(item_of)
            .collect();
        doc.insert(section.into(), Value::Array(items));
    }
    Value::Object(doc)
}

fn item_of(r: &StoredRecord) -> Value {
    let mut obj = match serde_json::from_str::<Value>(r.content.get()) {
        Ok(Value::Object(o)) => o,
        _ => Map::new(),
    };
    obj.insert("id".into(), Value::String(r.id.clone()));
    let server = [
        ("creatorName", r.creator_name.clone().map(Value::String)),
        ("createdAt", Some(Value::String(r.created_at.clone()))),
        ("updatedAt", Some(Value::String(r.updated_at.clone()))),
    ];
    for (key, value) in server {
        if let Some(v) = value {
            obj.entry(key).or_insert(v);
        }
    }
    Value::Object(obj)
}

/// One item an import refused.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Rejected {
    /// `annotations`, `comments`, `formFieldValues` or `bookmarks`.
    pub section: String,
    /// Position in its section, from 0.
    pub index: usize,
    #[schema(required = true)]
    pub id: Option<String>,
    pub message: String,
}

/// Why an import was refused as a whole.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    /// The body is not an Instant JSON document at all.
    #[error("{0}")]
    Malformed(String),
    /// Some items are invalid: nothing was imported.
    #[error("{} item(s) were rejected; nothing was imported", .0.len())]
    Items(Vec<Rejected>),
}

/// Plans the import of the Instant JSON document `body` into a layer now holding `target`:
/// the changes to submit (creates, or updates of records the layer already has with the same
/// id), comments after the annotations they belong to. `page_count` bounds page indexes.
pub fn plan_import(
    body: &[u8],
    page_count: Option<u32>,
    target: &[StoredRecord],
    user_id: &str,
    user_name: Option<&str>,
) -> Result<Vec<Batch>, Refused> {
    if body.len() > MAX_IMPORT_BYTES {
        return Err(Refused::Malformed(format!(
            "the document is {} bytes; the limit is {MAX_IMPORT_BYTES}",
            body.len()
        )));
    }
    // serde_json refuses nesting deeper than 128 levels, so depth is bounded too.
    let doc: Value =
        serde_json::from_slice(body).map_err(|e| Refused::Malformed(format!("not JSON: {e}")))?;
    let Value::Object(doc) = doc else {
        return Err(Refused::Malformed(
            "an Instant JSON document is a JSON object".into(),
        ));
    };
    match doc.get("format").and_then(Value::as_str) {
        Some(FORMAT) => {}
        _ => return Err(Refused::Malformed(format!("`format` must be \"{FORMAT}\""))),
    }
    for key in doc.keys() {
        let known = key == "format"
            || SECTIONS.iter().any(|(s, _)| s == key)
            || IGNORED_KEYS.contains(&key.as_str());
        if !known {
            return Err(Refused::Malformed(format!(
                "`{key}` is not supported in an import (sections: annotations, comments, formFieldValues, bookmarks)"
            )));
        }
    }
    let mut sections = Vec::new();
    let mut total = 0usize;
    for (name, kind) in SECTIONS {
        let items = match doc.get(name) {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(items)) => items.as_slice(),
            Some(_) => return Err(Refused::Malformed(format!("`{name}` must be an array"))),
        };
        total += items.len();
        sections.push((name, kind, items));
    }
    if total > MAX_IMPORT_ITEMS {
        return Err(Refused::Malformed(format!(
            "the document holds {total} items; one import may hold {MAX_IMPORT_ITEMS}"
        )));
    }

    let existing: HashMap<&str, Kind> = target.iter().map(|r| (r.id.as_str(), r.kind)).collect();
    let form_ids: HashMap<String, &str> = target
        .iter()
        .filter(|r| r.kind == Kind::FormField)
        .filter_map(|r| Some((field_name(r.content.get())?, r.id.as_str())))
        .collect();
    let annotation_ids: HashSet<&str> = sections[0]
        .2
        .iter()
        .filter_map(|i| i.get("id").and_then(Value::as_str))
        .chain(
            target
                .iter()
                .filter(|r| r.kind == Kind::Annotation)
                .map(|r| r.id.as_str()),
        )
        .collect();

    let mut rejected = Vec::new();
    let mut seen = HashSet::new();
    let mut phases: [Vec<ChangeRequest>; 2] = [Vec::new(), Vec::new()];
    for (name, kind, items) in sections {
        for (index, item) in items.iter().enumerate() {
            let id_given = item.get("id").and_then(Value::as_str).map(str::to_string);
            let reject = |message: String| Rejected {
                section: name.to_string(),
                index,
                id: id_given.clone(),
                message,
            };
            match plan_item(
                item,
                kind,
                page_count,
                &existing,
                &form_ids,
                &annotation_ids,
            ) {
                Ok(change) if !seen.insert(change.id.clone()) => rejected.push(reject(format!(
                    "id `{}` appears more than once in the document",
                    change.id
                ))),
                Ok(change) => phases[usize::from(kind == Kind::Comment)].push(change),
                Err(message) => rejected.push(reject(message)),
            }
        }
    }
    if !rejected.is_empty() {
        return Err(Refused::Items(rejected));
    }
    Ok(phases
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|changes| Batch {
            user_id: user_id.to_string(),
            user_name: user_name.map(str::to_string),
            changes,
        })
        .collect())
}

fn field_name(content: &str) -> Option<String> {
    serde_json::from_str::<Value>(content)
        .ok()?
        .get("name")?
        .as_str()
        .map(str::to_string)
}

/// One item as a change, or why it is refused.
fn plan_item(
    item: &Value,
    kind: Kind,
    page_count: Option<u32>,
    existing: &HashMap<&str, Kind>,
    form_ids: &HashMap<String, &str>,
    annotations: &HashSet<&str>,
) -> Result<ChangeRequest, String> {
    let Value::Object(obj) = item else {
        return Err("each item is a JSON object".into());
    };
    let mut content = obj.clone();
    let id = match content.remove("id") {
        Some(Value::String(id)) => id,
        Some(_) => return Err("`id` must be a string".into()),
        // A form-field value without an id updates the layer's value of that field, if any.
        None => match (kind, obj.get("name").and_then(Value::as_str)) {
            (Kind::FormField, Some(name)) if form_ids.contains_key(name) => {
                form_ids[name].to_string()
            }
            _ => uuid::Uuid::new_v4().simple().to_string(),
        },
    };
    records::validate_id(&id).map_err(|(_, m)| format!("`id`: {m}"))?;
    let raw = RawValue::from_string(Value::Object(content).to_string())
        .map_err(|e| format!("content: {e}"))?;
    records::validate(kind, &raw, page_count).map_err(|(_, m)| m)?;
    if kind == Kind::Comment {
        let root = obj.get("rootId").and_then(Value::as_str).unwrap_or("");
        if !annotations.contains(root) {
            return Err(format!(
                "`rootId` `{root}` names no annotation in the document or the layer"
            ));
        }
    }
    let op = match existing.get(id.as_str()) {
        Some(k) if *k != kind => {
            return Err(format!(
                "the layer already holds `{id}` as a {}",
                k.as_str()
            ))
        }
        Some(_) => Op::Update,
        None => Op::Create,
    };
    Ok(ChangeRequest {
        client_id: id.clone(),
        op,
        id,
        kind: Some(kind),
        content: Some(raw),
        base_rev: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(id: &str, kind: Kind, content: &str) -> StoredRecord {
        StoredRecord {
            id: id.into(),
            kind,
            content: RawValue::from_string(content.into()).unwrap(),
            creator: "u".into(),
            creator_name: Some("Ann".into()),
            group: None,
            rev: 1,
            created_at: "2026-11-26T00:00:00Z".into(),
            updated_at: "2026-11-26T00:00:00Z".into(),
        }
    }

    const INK: &str = r##"{"v":2,"type":"pspdfkit/ink","pageIndex":0,"bbox":[1,2,3,4],"lines":{"points":[[[1,2],[3,4]]],"intensities":[[1,1]]},"strokeColor":"#2563eb","creatorName":"Bob","createdAt":"x","updatedAt":"y"}"##;

    fn doc(annotations: &str, comments: &str) -> Vec<u8> {
        format!(r#"{{"format":"{FORMAT}","annotations":[{annotations}],"comments":[{comments}]}}"#)
            .into_bytes()
    }

    fn changes(batches: &[Batch]) -> Vec<(String, Op, Kind)> {
        batches
            .iter()
            .flat_map(|b| &b.changes)
            .map(|c| (c.id.clone(), c.op, c.kind.unwrap()))
            .collect()
    }

    #[test]
    fn export_then_import_gives_back_the_same_content() {
        let mut ink: Value = serde_json::from_str(INK).unwrap();
        ink["id"] = "a1".into();
        let body = doc(
            &ink.to_string(),
            r#"{"id":"c1","rootId":"a1","text":"hi","v":2}"#,
        );
        let batches = plan_import(&body, Some(1), &[], "u", None).unwrap();
        assert_eq!(
            changes(&batches),
            [
                ("a1".into(), Op::Create, Kind::Annotation),
                ("c1".into(), Op::Create, Kind::Comment)
            ]
        );
        let records: Vec<StoredRecord> = batches
            .iter()
            .flat_map(|b| &b.changes)
            .map(|c| stored(&c.id, c.kind.unwrap(), c.content.as_ref().unwrap().get()))
            .collect();
        let out = export(&records);
        assert_eq!(out["annotations"][0], ink);
        assert_eq!(out["comments"][0]["rootId"], "a1");
        assert_eq!(out["formFieldValues"], Value::Array(vec![]));
    }

    #[test]
    fn one_bad_item_refuses_the_whole_import_with_every_reason() {
        let body = doc(
            &format!(
                r#"{INK},{{"v":2,"type":"pspdfkit/ink","pageIndex":7,"bbox":[1,2,3,4],"lines":{{"points":[[[1,2]]]}}}},{{"id":"a b","v":2,"type":"pspdfkit/note","pageIndex":0,"bbox":[0,0,1,1]}}"#
            ),
            r#"{"rootId":"nowhere","text":"hi"}"#,
        );
        let Err(Refused::Items(items)) = plan_import(&body, Some(1), &[], "u", None) else {
            panic!("expected a refusal");
        };
        let summary: Vec<(&str, usize)> = items
            .iter()
            .map(|r| (r.section.as_str(), r.index))
            .collect();
        assert_eq!(
            summary,
            [("annotations", 1), ("annotations", 2), ("comments", 0)]
        );
        assert!(items[0].message.contains("outside"), "{}", items[0].message);
        assert!(items[1].message.contains("id"), "{}", items[1].message);
        assert!(items[2].message.contains("rootId"), "{}", items[2].message);
    }

    #[test]
    fn malformed_documents_are_refused_as_a_whole() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let cases: [(&[u8], &str); 6] = [
            (b"not json", "not JSON"),
            (b"[1]", "object"),
            (br#"{"format":"other"}"#, "format"),
            (
                br#"{"format":"https://pspdfkit.com/instant-json/v1","attachments":{}}"#,
                "attachments",
            ),
            (
                br#"{"format":"https://pspdfkit.com/instant-json/v1","annotations":{}}"#,
                "array",
            ),
            (deep.as_bytes(), "not JSON"),
        ];
        for (body, needle) in cases {
            match plan_import(body, Some(1), &[], "u", None) {
                Err(Refused::Malformed(m)) => assert!(m.contains(needle), "{m}"),
                other => panic!("{needle}: {other:?}"),
            }
        }
    }

    #[test]
    fn existing_ids_are_updated_and_kind_clashes_refused() {
        let target = [
            stored("a1", Kind::Annotation, INK),
            stored("f1", Kind::FormField, r#"{"name":"email","value":"x"}"#),
        ];
        let mut ink: Value = serde_json::from_str(INK).unwrap();
        ink["id"] = "a1".into();
        let body = format!(
            r#"{{"format":"{FORMAT}","annotations":[{ink}],"formFieldValues":[{{"name":"email","value":"y"}}]}}"#
        );
        let batches = plan_import(body.as_bytes(), Some(1), &target, "u", None).unwrap();
        assert_eq!(
            changes(&batches),
            [
                ("a1".into(), Op::Update, Kind::Annotation),
                ("f1".into(), Op::Update, Kind::FormField)
            ]
        );
        let clash = format!(r#"{{"format":"{FORMAT}","bookmarks":[{{"id":"a1"}}]}}"#);
        let Err(Refused::Items(items)) = plan_import(clash.as_bytes(), Some(1), &target, "u", None)
        else {
            panic!("expected a refusal");
        };
        assert!(items[0].message.contains("annotation"), "{items:?}");
    }

    #[test]
    fn duplicate_ids_in_one_document_are_refused() {
        let mut ink: Value = serde_json::from_str(INK).unwrap();
        ink["id"] = "a1".into();
        let body = doc(&format!("{ink},{ink}"), "");
        let Err(Refused::Items(items)) = plan_import(&body, Some(1), &[], "u", None) else {
            panic!("expected a refusal");
        };
        assert_eq!(items.len(), 1);
        assert!(items[0].message.contains("more than once"));
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "[a-z#0-9/ -]{0,12}".prop_map(Value::from),
            prop::sample::select(vec![
                "pspdfkit/ink",
                "pspdfkit/note",
                "pspdfkit/markup/highlight",
                "pspdfkit/text",
                "pspdfkit/shape/line",
                "pspdfkit/shape/polygon",
                "#ff0000",
                "a1",
                "plain",
            ])
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                proptest::collection::vec(
                    (
                        prop::sample::select(vec![
                            "v",
                            "type",
                            "pageIndex",
                            "bbox",
                            "rects",
                            "lines",
                            "points",
                            "id",
                            "rootId",
                            "text",
                            "name",
                            "value",
                            "startPoint",
                            "endPoint",
                            "strokeColor",
                            "opacity",
                        ]),
                        inner
                    ),
                    0..8
                )
                .prop_map(|kv| Value::Object(
                    kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                )),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        /// Documents of any shape are planned or refused cleanly, never with a panic; a planned
        /// import holds only changes whose content passes validation.
        #[test]
        fn any_document_is_planned_or_refused_cleanly(
            sections in proptest::collection::vec(
                (proptest::sample::select(vec!["annotations", "comments", "formFieldValues", "bookmarks"]),
                 proptest::collection::vec(json_value(), 0..4)),
                0..4,
            )
        ) {
            let mut doc = Map::new();
            doc.insert("format".into(), FORMAT.into());
            for (name, items) in sections {
                doc.insert(name.into(), Value::Array(items));
            }
            let body = Value::Object(doc).to_string();
            if let Ok(batches) = plan_import(body.as_bytes(), Some(2), &[], "u", None) {
                for c in batches.iter().flat_map(|b| &b.changes) {
                    proptest::prop_assert!(
                        records::validate(c.kind.unwrap(), c.content.as_ref().unwrap(), Some(2)).is_ok()
                    );
                }
            }
        }
    }
}
