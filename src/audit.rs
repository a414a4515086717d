//! The audit log: who did what, append-only. Record changes are appended in the transaction
//! that commits them ([`append_batches`], called from the committer), so the log and the records
//! can never disagree; other events (uploads, deletions, token mints and revocations, API keys)
//! are appended once they took effect ([`record`]). The change log's `since` retention does not
//! reach this table, so [`replay`] can rebuild a layer as of any sequence number the document
//! ever had, starting from the newest [`snapshots`] entry at or below it; only the configurable
//! audit retention ([`maintenance`]) deletes, and never the rows a retained snapshot needs.

use std::collections::HashMap;

use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::value::RawValue;

use crate::entities::audit_event::{self, Column, Entity};
use crate::records::Record;
use crate::store::Batch;
use crate::time_util::{micros_to_rfc3339, now_micros};
use crate::wire::common::{Kind, Op};
use crate::wire::rest::EntryView;

pub mod maintenance;
pub mod snapshots;

/// Most entries one history page returns.
pub const MAX_PAGE: u64 = 500;

/// Appends one entry per change of every batch in `batches`, inside their transaction, in
/// multi-row statements over the whole group (not one per batch).
pub async fn append_batches(txn: &DatabaseTransaction, batches: &[&Batch]) -> Result<(), DbErr> {
    let rows = batches.iter().flat_map(|batch| {
        batch.changes.iter().map(|c| {
            vec![
                Some(batch.document_id.clone()).into(),
                c.record.updated_at.into(),
                format!("record.{}", c.op.as_str()).into(),
                c.author.clone().into(),
                c.author_name.clone().into(),
                Some(c.seq).into(),
                Some(c.layer.clone()).into(),
                Some(c.record.id.clone()).into(),
                Some(c.record.kind.as_str().to_string()).into(),
                (c.op != Op::Delete)
                    .then(|| c.record.content.get().to_string())
                    .into(),
                Some(c.record.creator.clone()).into(),
                c.record.creator_name.clone().into(),
                c.record.group.clone().into(),
                Some(c.record.created_at).into(),
            ]
        })
    });
    RECORD_CHANGES.rows(txn, rows).await
}

/// The audit entries of record changes (`detail` stays null; `id` is assigned by the database).
const RECORD_CHANGES: crate::store::rows::Insert<audit_event::Column> = {
    use audit_event::Column as C;
    crate::store::rows::Insert {
        table: "audit_events",
        columns: &[
            C::DocumentId,
            C::At,
            C::Kind,
            C::Actor,
            C::ActorName,
            C::Seq,
            C::Layer,
            C::RecordId,
            C::RecordKind,
            C::Content,
            C::Creator,
            C::CreatorName,
            C::CreatorGroup,
            C::CreatedAt,
        ],
        upsert: None,
    }
};

/// An event other than a record change.
pub struct Event {
    pub document_id: Option<String>,
    /// `document.upload`, `document.delete`, `token.mint`, `token.revoke`, `api_key.create`,
    /// `api_key.revoke`.
    pub kind: &'static str,
    /// See [`audit_event::Model::actor`].
    pub actor: String,
    /// What the event was about (never a secret: no token or key text).
    pub detail: serde_json::Value,
}

/// Appends `event`. A failure is logged and returned; the caller decides whether the action it
/// describes may stand without it.
pub async fn record(db: &impl ConnectionTrait, event: Event) -> Result<(), DbErr> {
    let row = audit_event::ActiveModel {
        id: NotSet,
        document_id: Set(event.document_id),
        at: Set(now_micros()),
        kind: Set(event.kind.to_string()),
        actor: Set(event.actor),
        actor_name: Set(None),
        seq: Set(None),
        layer: Set(None),
        record_id: Set(None),
        record_kind: Set(None),
        content: Set(None),
        creator: Set(None),
        creator_name: Set(None),
        creator_group: Set(None),
        created_at: Set(None),
        detail: Set(Some(event.detail.to_string())),
    };
    Entity::insert(row).exec(db).await.map(|_| ()).inspect_err(
        |e| tracing::error!(error = %e, kind = event.kind, "appending to the audit log failed"),
    )
}

/// Which history entries to read.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub actor: Option<String>,
    /// An exact kind (`record.update`) or a prefix ending in `.` (`record.`).
    pub kind: Option<String>,
    /// `at >= from` (µs).
    pub from: Option<i64>,
    /// `at < to` (µs).
    pub to: Option<i64>,
    /// Entries with an id greater than this (the previous page's `next`).
    pub after: Option<i64>,
    pub limit: u64,
}

fn raw(text: Option<String>) -> Option<Box<RawValue>> {
    text.and_then(|t| RawValue::from_string(t).ok())
}

impl From<audit_event::Model> for EntryView {
    fn from(m: audit_event::Model) -> EntryView {
        EntryView {
            id: m.id,
            at: micros_to_rfc3339(m.at),
            kind: m.kind,
            actor: m.actor,
            actor_name: m.actor_name,
            seq: m.seq,
            layer: m.layer,
            record_id: m.record_id,
            record_kind: m.record_kind,
            content: raw(m.content),
            detail: raw(m.detail),
        }
    }
}

/// One page of a document's history, oldest first, and the cursor of the next page (when this
/// one was full).
pub async fn history(
    db: &impl ConnectionTrait,
    document_id: &str,
    filter: &Filter,
) -> Result<(Vec<EntryView>, Option<i64>), DbErr> {
    let limit = filter.limit.clamp(1, MAX_PAGE);
    let mut query = Entity::find().filter(Column::DocumentId.eq(document_id));
    if let Some(actor) = &filter.actor {
        query = query.filter(Column::Actor.eq(actor.as_str()));
    }
    if let Some(kind) = &filter.kind {
        query = match kind.strip_suffix('.') {
            Some(prefix) => query.filter(Column::Kind.starts_with(format!("{prefix}."))),
            None => query.filter(Column::Kind.eq(kind.as_str())),
        };
    }
    if let Some(from) = filter.from {
        query = query.filter(Column::At.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(Column::At.lt(to));
    }
    if let Some(after) = filter.after {
        query = query.filter(Column::Id.gt(after));
    }
    let rows = query.order_by_asc(Column::Id).limit(limit).all(db).await?;
    let next = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok((rows.into_iter().map(EntryView::from).collect(), next))
}

/// Why an `at_seq` read has no answer.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The audit retention pruned the rows before `oldest`, the oldest readable sequence
    /// number of the layer.
    #[error("the audit history before sequence number {oldest} was pruned")]
    Pruned { oldest: i64 },
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// The records of `layer` as they were just after sequence number `at_seq`, rebuilt from the
/// newest audit snapshot at or below `at_seq` and the audit rows after it (see
/// [`snapshots`]). Only entries from `since` (µs: the document's creation) count: a document
/// deleted and uploaded again under the same id starts its sequence numbers again.
pub async fn replay(
    db: &impl ConnectionTrait,
    document_id: &str,
    since: i64,
    layer: &str,
    at_seq: i64,
) -> Result<Vec<Record>, ReplayError> {
    let start = match snapshots::newest_at_or_below(db, document_id, since, layer, at_seq).await? {
        Some(snapshot) => snapshot,
        None => match snapshots::base(db, document_id, since, layer).await? {
            Some(base) => return Err(ReplayError::Pruned { oldest: base.seq }),
            None => snapshots::Start::empty(),
        },
    };
    let rows = Entity::find()
        .filter(Column::DocumentId.eq(document_id))
        .filter(Column::At.gte(since))
        .filter(Column::Layer.eq(layer))
        .filter(Column::Seq.gt(start.seq))
        .filter(Column::Seq.lte(at_seq))
        .order_by_asc(Column::Seq)
        .all(db)
        .await?;
    Ok(replay_rows_onto(start.records, rows))
}

/// Applies record-change entries in order: creates and updates set the record, deletes remove
/// it. Entries that are not record changes, or whose stored values do not parse, are skipped
/// (the log is written by this server only). The result is ordered by revision.
pub fn replay_rows(rows: impl IntoIterator<Item = audit_event::Model>) -> Vec<Record> {
    replay_rows_onto(Vec::new(), rows)
}

/// [`replay_rows`] starting from `records` (a snapshot) instead of an empty layer.
pub fn replay_rows_onto(
    start: Vec<Record>,
    rows: impl IntoIterator<Item = audit_event::Model>,
) -> Vec<Record> {
    let mut records: HashMap<String, Record> =
        start.into_iter().map(|r| (r.id.clone(), r)).collect();
    for row in rows {
        let (Some(seq), Some(id)) = (row.seq, row.record_id) else {
            continue;
        };
        if row.kind == "record.delete" {
            records.remove(&id);
            continue;
        }
        let (Some(kind), Some(content)) = (
            row.record_kind.as_deref().and_then(Kind::parse),
            row.content.and_then(|c| RawValue::from_string(c).ok()),
        ) else {
            continue;
        };
        records.insert(
            id.clone(),
            Record {
                id,
                kind,
                content,
                creator: row.creator.unwrap_or_default(),
                creator_name: row.creator_name,
                group: row.creator_group,
                rev: seq,
                created_at: row.created_at.unwrap_or(row.at),
                updated_at: row.at,
                root_id: None,
            },
        );
    }
    let mut list: Vec<Record> = records.into_values().collect();
    list.sort_by_key(|r| r.rev);
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, kind: &str, id: &str, content: Option<&str>) -> audit_event::Model {
        audit_event::Model {
            id: seq,
            document_id: Some("d".into()),
            at: seq * 10,
            kind: kind.into(),
            actor: "alice".into(),
            actor_name: None,
            seq: Some(seq),
            layer: Some("".into()),
            record_id: Some(id.into()),
            record_kind: Some("annotation".into()),
            content: content.map(str::to_string),
            creator: Some("alice".into()),
            creator_name: None,
            creator_group: None,
            created_at: Some(5),
            detail: None,
        }
    }

    #[test]
    fn a_replay_keeps_the_last_state_of_each_record_and_drops_deleted_ones() {
        let rows = vec![
            row(1, "record.create", "a", Some(r#"{"v":1}"#)),
            row(2, "record.create", "b", Some(r#"{"v":2}"#)),
            row(3, "record.update", "a", Some(r#"{"v":3}"#)),
            row(4, "record.delete", "b", None),
            row(5, "record.create", "b", Some(r#"{"v":5}"#)),
        ];
        let got: Vec<(String, i64, String)> = replay_rows(rows)
            .into_iter()
            .map(|r| (r.id, r.rev, r.content.get().to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a".to_string(), 3, r#"{"v":3}"#.to_string()),
                ("b".to_string(), 5, r#"{"v":5}"#.to_string()),
            ]
        );
    }

    #[test]
    fn entries_that_are_not_record_changes_or_do_not_parse_are_skipped() {
        let mut other = row(1, "document.upload", "x", None);
        other.seq = None;
        let broken = row(2, "record.create", "y", Some("{not json"));
        assert!(replay_rows(vec![other, broken]).is_empty());
    }
}
