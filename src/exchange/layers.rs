//! Layers: listing them, copying one into another, deleting one.
//!
//! Copies and deletions are changes like any other: they go through the document actor
//! ([`BackendSubmit`]), so live sessions on the target layer see them at once and the change
//! log (and `since` catch-up) records them. The plan of which changes to send is a pure function
//! ([`copy_plan`], [`delete_plan`]); the rest reads the layer and submits the plan.

use std::collections::{BTreeMap, HashMap};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::Error;
use crate::actors::document::{BackendSubmit, BackendSubmitAll, ReadRecords};
use crate::actors::registry::send_to_document;
use crate::auth::access::Access;
use crate::entities::record;
use crate::state::AppState;
use crate::wire::client::ChangeRequest;
use crate::wire::common::{Kind, Op};
use crate::wire::server::Outcome;

/// Changes sent to the document actor in one message: well under its pending-change bound
/// (`DocumentConfig::max_pending_changes`), so a large copy never meets `busy` from itself.
pub const SUBMIT_CHUNK: usize = 1_000;

/// A record as the document actor reports it (`GET …/records`).
#[derive(Debug, Clone, Deserialize)]
pub struct StoredRecord {
    pub id: String,
    pub kind: Kind,
    pub content: Box<RawValue>,
    pub creator: String,
    #[serde(default)]
    pub creator_name: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    pub rev: i64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Deserialize)]
struct Snapshot {
    records: Vec<StoredRecord>,
}

/// One layer and how many records of each kind it holds.
#[derive(Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct LayerSummary {
    pub layer: String,
    pub records: i64,
    pub annotations: i64,
    pub comments: i64,
    pub form_fields: i64,
    pub bookmarks: i64,
}

/// A document's layers with their record counts, from committed state (the actor acknowledges
/// a change only once committed). The default layer is `""`.
pub async fn list(state: &AppState, document_id: &str) -> Result<Vec<LayerSummary>, Error> {
    let rows: Vec<(String, String, i64)> = record::Entity::find()
        .select_only()
        .column(record::Column::Layer)
        .column(record::Column::Kind)
        .column_as(record::Column::Id.count(), "n")
        .filter(record::Column::DocumentId.eq(document_id))
        .group_by(record::Column::Layer)
        .group_by(record::Column::Kind)
        .into_tuple()
        .all(&state.db)
        .await?;
    Ok(summarise(rows))
}

/// Folds `(layer, kind, count)` rows into one summary per layer, sorted by name.
pub fn summarise(rows: Vec<(String, String, i64)>) -> Vec<LayerSummary> {
    let mut layers: BTreeMap<String, LayerSummary> = BTreeMap::new();
    for (layer, kind, n) in rows {
        let s = layers.entry(layer.clone()).or_insert(LayerSummary {
            layer,
            records: 0,
            annotations: 0,
            comments: 0,
            form_fields: 0,
            bookmarks: 0,
        });
        s.records += n;
        match Kind::parse(&kind) {
            Some(Kind::Annotation) => s.annotations += n,
            Some(Kind::Comment) => s.comments += n,
            Some(Kind::FormField) => s.form_fields += n,
            Some(Kind::Bookmark) => s.bookmarks += n,
            None => {}
        }
    }
    layers.into_values().collect()
}

/// A layer's records as committed, seen by `access` (`None`: the backend's unfiltered view).
pub async fn read(
    state: &AppState,
    document_id: &str,
    layer: &str,
    access: Option<Access>,
) -> Result<Vec<StoredRecord>, Error> {
    let (_, body) = send_to_document(&state.registry, document_id, || ReadRecords {
        layer: layer.to_string(),
        since: None,
        access: access.clone(),
    })
    .await
    .map_err(|_| Error::Unavailable)?;
    let snapshot: Snapshot =
        serde_json::from_str(&body?).map_err(|e| Error::Corrupt(e.to_string()))?;
    Ok(snapshot.records)
}

/// One batch of changes made under one identity.
#[derive(Debug)]
pub struct Batch {
    pub user_id: String,
    pub user_name: Option<String>,
    pub changes: Vec<ChangeRequest>,
}

/// Submits `batches` in order, in chunks of [`SUBMIT_CHUNK`], and returns every outcome.
pub async fn submit(
    state: &AppState,
    document_id: &str,
    layer: &str,
    batches: Vec<Batch>,
) -> Result<Vec<Outcome>, Error> {
    let mut outcomes = Vec::new();
    for batch in batches {
        let access = Access::backend(batch.user_id, batch.user_name);
        for chunk in batch.changes.chunks(SUBMIT_CHUNK) {
            let (_, results) = send_to_document(&state.registry, document_id, || BackendSubmit {
                access: access.clone(),
                layer: layer.to_string(),
                changes: chunk.to_vec(),
            })
            .await
            .map_err(|_| Error::Unavailable)?;
            outcomes.extend(results?);
        }
    }
    Ok(outcomes)
}

/// Submits `batches` as one all-or-nothing group: if any change is rejected, none is applied
/// (the others are answered `aborted`). For imports. The whole group must fit in the document's
/// pending queue (`--max-pending-changes`, `--max-pending-bytes`); otherwise it is answered
/// `busy`, every change, and nothing is applied.
pub async fn submit_all(
    state: &AppState,
    document_id: &str,
    layer: &str,
    batches: Vec<Batch>,
) -> Result<Vec<Outcome>, Error> {
    let batches: Vec<(Access, Vec<ChangeRequest>)> = batches
        .into_iter()
        .map(|b| (Access::backend(b.user_id, b.user_name), b.changes))
        .collect();
    let (_, results) = send_to_document(&state.registry, document_id, || BackendSubmitAll {
        layer: layer.to_string(),
        batches: batches.clone(),
    })
    .await
    .map_err(|_| Error::Unavailable)?;
    Ok(results?)
}

/// What a copy, delete or import did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// Changes committed.
    pub applied: usize,
    /// Changes refused, with the record id as `client_id`, the code and the reason.
    pub rejected: Vec<Outcome>,
    /// Items of the source that have no counterpart in Quire and were left out (an import from
    /// a PDF: annotation types Quire does not support); absent when none.
    #[serde(skip_serializing_if = "is_zero")]
    pub skipped: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Report {
    pub fn from_outcomes(outcomes: Vec<Outcome>) -> Report {
        let (applied, rejected): (Vec<_>, Vec<_>) = outcomes
            .into_iter()
            .partition(|o| matches!(o, Outcome::Ack { .. }));
        Report {
            applied: applied.len(),
            rejected,
            skipped: 0,
        }
    }
}

/// Changes grouped by their author (user id and name).
type ByAuthor = BTreeMap<(String, Option<String>), Vec<ChangeRequest>>;

/// The changes that copy `source` into a layer holding `target`: each record is created there
/// with its id, or updated where the target already has that id (the copy wins). Batches are
/// grouped by the record's creator, so authorship survives the copy; comments come after
/// everything else, so the annotations they belong to exist first.
pub fn copy_plan(source: &[StoredRecord], target: &[StoredRecord]) -> Vec<Batch> {
    let existing: HashMap<&str, Kind> = target.iter().map(|r| (r.id.as_str(), r.kind)).collect();
    let mut phases: [ByAuthor; 2] = [BTreeMap::new(), BTreeMap::new()];
    for r in source {
        let op = match existing.get(r.id.as_str()) {
            Some(_) => Op::Update,
            None => Op::Create,
        };
        let phase = usize::from(r.kind == Kind::Comment);
        phases[phase]
            .entry((r.creator.clone(), r.creator_name.clone()))
            .or_default()
            .push(ChangeRequest {
                client_id: r.id.clone(),
                op,
                id: r.id.clone(),
                kind: Some(r.kind),
                content: Some(r.content.clone()),
                base_rev: None,
            });
    }
    phases
        .into_iter()
        .flat_map(|p| p.into_iter())
        .map(|((user_id, user_name), changes)| Batch {
            user_id,
            user_name,
            changes,
        })
        .collect()
}

/// The changes that empty a layer: comments first (deleting an annotation may take its thread
/// with it), then everything else.
pub fn delete_plan(records: &[StoredRecord], user_id: &str) -> Vec<Batch> {
    let mut sorted: Vec<&StoredRecord> = records.iter().collect();
    sorted.sort_by_key(|r| (r.kind != Kind::Comment, r.rev));
    vec![Batch {
        user_id: user_id.to_string(),
        user_name: None,
        changes: sorted
            .into_iter()
            .map(|r| ChangeRequest {
                client_id: r.id.clone(),
                op: Op::Delete,
                id: r.id.clone(),
                kind: Some(r.kind),
                content: None,
                base_rev: None,
            })
            .collect(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, kind: Kind, creator: &str, rev: i64) -> StoredRecord {
        StoredRecord {
            id: id.into(),
            kind,
            content: RawValue::from_string("{}".into()).unwrap(),
            creator: creator.into(),
            creator_name: None,
            group: None,
            rev,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn a_copy_creates_new_records_updates_existing_ones_and_keeps_authors() {
        let source = [
            rec("c1", Kind::Comment, "bob", 3),
            rec("a1", Kind::Annotation, "bob", 1),
            rec("a2", Kind::Annotation, "ann", 2),
        ];
        let target = [rec("a2", Kind::Annotation, "eve", 9)];
        let plan = copy_plan(&source, &target);
        let summary: Vec<(String, Vec<(String, Op)>)> = plan
            .iter()
            .map(|b| {
                (
                    b.user_id.clone(),
                    b.changes.iter().map(|c| (c.id.clone(), c.op)).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("ann".into(), vec![("a2".into(), Op::Update)]),
                ("bob".into(), vec![("a1".into(), Op::Create)]),
                // Comments last, after the annotations they hang on.
                ("bob".into(), vec![("c1".into(), Op::Create)]),
            ]
        );
    }

    #[test]
    fn deleting_a_layer_removes_comments_before_annotations() {
        let records = [
            rec("a1", Kind::Annotation, "bob", 1),
            rec("c1", Kind::Comment, "bob", 2),
            rec("f1", Kind::FormField, "bob", 3),
        ];
        let ids: Vec<String> = delete_plan(&records, "backend")[0]
            .changes
            .iter()
            .map(|c| c.id.clone())
            .collect();
        assert_eq!(ids, ["c1", "a1", "f1"]);
    }

    #[test]
    fn layer_counts_are_summed_per_kind() {
        let rows = vec![
            ("r1".to_string(), "annotation".to_string(), 3),
            ("".to_string(), "comment".to_string(), 1),
            ("r1".to_string(), "comment".to_string(), 2),
        ];
        let s = summarise(rows);
        assert_eq!(s[0].layer, "");
        assert_eq!(s[0].records, 1);
        assert_eq!((s[1].records, s[1].annotations, s[1].comments), (5, 3, 2));
    }
}
