//! Loading a document's live state when its actor starts: the head, the log's floor and the
//! records, read from their rows or, when one is current, from a stored snapshot
//! ([`super::snapshot`]), all in one read snapshot of the database.

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QuerySelect, TransactionTrait,
};

use super::{raw, root_of, snapshot};
use crate::entities::{change, document, record};
use crate::records::Record;
use crate::wire::common::Kind;

/// A document's state as loaded at actor start.
pub struct Loaded {
    pub head_seq: i64,
    /// Changes after this sequence number are all still in the log.
    pub log_floor: i64,
    pub page_count: u32,
    pub records: LoadedRecords,
    /// The head of the document's stored snapshot, whether it was used or not (it is used only
    /// at this head): the actor stores a new one when it closes at another head.
    pub snapshot_head: Option<i64>,
}

/// Where a loaded document's records are.
pub enum LoadedRecords {
    /// Read from their rows: per layer, per id.
    Rows(snapshot::Layers),
    /// In the lists of a stored snapshot taken at the document's head, checked as JSON; read
    /// into records by [`snapshot::records_of`] while the first welcomes go out.
    Snapshot(snapshot::Lists),
}

/// A stored record but its content, as SQLite's aggregate gives it: an array of the fields in
/// this order (serde reads a struct from an array as from an object), with the length in bytes
/// of the record's content in the text of all contents.
#[derive(serde::Deserialize)]
struct StoredMeta {
    layer: String,
    id: String,
    kind: String,
    content_bytes: usize,
    creator: String,
    creator_name: Option<String>,
    creator_group: Option<String>,
    seq: i64,
    created_at: i64,
    updated_at: i64,
}

/// All of a document's records, `content` exactly as the client sent it. On SQLite the rows
/// are aggregated inside the database: sqlx
/// hands SQLite rows over one at a time between threads, which dominated the load of a large
/// document (10,000 annotations: 80 ms down to a fraction). Two aggregates run over the same
/// rows in the same order: the records but their content, as one JSON array of arrays, and
/// every record's content, concatenated as it is stored. Content is JSON text already: escaped
/// into a JSON string by SQLite and parsed back out here, it was the larger part of the load.
async fn load_records(
    db: &impl ConnectionTrait,
    document_id: &str,
) -> Result<Vec<record::Model>, DbErr> {
    use sea_orm::{DbBackend, Statement};
    if db.get_database_backend() == DbBackend::Sqlite {
        // The fields in `StoredMeta`'s order.
        let sql = "SELECT json_group_array(json_array(layer, id, kind, octet_length(content), \
                   creator, creator_name, creator_group, seq, created_at, updated_at)), \
                   group_concat(content, '') FROM records WHERE document_id = ?";
        let row = db
            .query_one(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                sql,
                [document_id.into()],
            ))
            .await?
            .ok_or_else(|| DbErr::Custom("aggregate query returned no row".into()))?;
        let meta: String = row.try_get_by_index(0)?;
        // NULL when the document has no records.
        let contents: Option<String> = row.try_get_by_index(1)?;
        let meta: Vec<StoredMeta> = serde_json::from_str(&meta)
            .map_err(|e| DbErr::Custom(format!("stored records: {e}")))?;
        return split_contents(document_id, meta, contents.as_deref().unwrap_or_default());
    }
    record::Entity::find()
        .filter(record::Column::DocumentId.eq(document_id))
        .all(db)
        .await
}

/// Gives each record of `document_id` its content: the next `content_bytes` of `contents`, in
/// order.
fn split_contents(
    document_id: &str,
    meta: Vec<StoredMeta>,
    contents: &str,
) -> Result<Vec<record::Model>, DbErr> {
    let mismatch = || DbErr::Custom("stored records: content lengths do not add up".into());
    let mut rest = contents;
    let mut records = Vec::with_capacity(meta.len());
    for m in meta {
        if m.content_bytes > rest.len() || !rest.is_char_boundary(m.content_bytes) {
            return Err(mismatch());
        }
        let (content, tail) = rest.split_at(m.content_bytes);
        rest = tail;
        records.push(record::Model {
            document_id: document_id.to_string(),
            layer: m.layer,
            id: m.id,
            kind: m.kind,
            content: content.to_string(),
            creator: m.creator,
            creator_name: m.creator_name,
            creator_group: m.creator_group,
            seq: m.seq,
            created_at: m.created_at,
            updated_at: m.updated_at,
        });
    }
    if !rest.is_empty() {
        return Err(mismatch());
    }
    Ok(records)
}

/// Loads a managed document's records; `None` when the document does not exist.
///
/// Everything is read in one snapshot (a REPEATABLE READ, read-only transaction on PostgreSQL;
/// a read transaction in SQLite's WAL), so the records, the head and the log floor agree even
/// while other nodes commit.
pub async fn load(db: &DatabaseConnection, document_id: &str) -> Result<Option<Loaded>, DbErr> {
    use sea_orm::{AccessMode, IsolationLevel};
    let txn = if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        db.begin_with_config(
            Some(IsolationLevel::RepeatableRead),
            Some(AccessMode::ReadOnly),
        )
        .await?
    } else {
        db.begin().await?
    };
    let loaded = load_in(&txn, document_id).await?;
    txn.commit().await?;
    Ok(loaded)
}

async fn load_in(db: &DatabaseTransaction, document_id: &str) -> Result<Option<Loaded>, DbErr> {
    let Some(doc) = document::Entity::find_by_id(document_id.to_string())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let snapshot_head = snapshot::stored_head(db, document_id).await?;
    let from_snapshot = match snapshot_head.filter(|&h| h == doc.head_seq) {
        Some(head) => snapshot::read_at(db, document_id, head)
            .await?
            .and_then(|bytes| {
                snapshot::unpack(&bytes)
                    .and_then(|text| snapshot::parse_lists(&text))
                    .inspect_err(|e| {
                        crate::metrics::get().count_snapshot("unreadable");
                        tracing::warn!(document_id, error = %e,
                            "the stored snapshot is unreadable; the records are read instead")
                    })
                    .ok()
            }),
        None => None,
    };
    let records = match from_snapshot {
        Some(lists) => LoadedRecords::Snapshot(lists),
        None => LoadedRecords::Rows(records_by_layer(load_records(db, document_id).await?)?),
    };
    let oldest: Option<i64> = change::Entity::find()
        .select_only()
        .column_as(change::Column::Seq.min(), "oldest")
        .filter(change::Column::DocumentId.eq(document_id))
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten();
    Ok(Some(Loaded {
        head_seq: doc.head_seq,
        log_floor: oldest.map(|s| s - 1).unwrap_or(doc.head_seq),
        page_count: doc.page_count.max(0) as u32,
        records,
        snapshot_head,
    }))
}

/// The stored records, per layer and per id.
fn records_by_layer(rows: Vec<record::Model>) -> Result<snapshot::Layers, DbErr> {
    // Each layer's map is sized for its records up front: grown one doubling at a time, a
    // map of 10,000 records moved every record a dozen times on a cold open.
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for row in &rows {
        *counts.entry(row.layer.as_str()).or_default() += 1;
    }
    let mut layers: snapshot::Layers = counts
        .into_iter()
        .map(|(layer, n)| (layer.to_string(), HashMap::with_capacity(n)))
        .collect();
    for row in rows {
        let kind = Kind::parse(&row.kind)
            .ok_or_else(|| DbErr::Custom(format!("unknown record kind {}", row.kind)))?;
        let content = raw(row.content)?;
        let root_id = root_of(kind, &content);
        layers.entry(row.layer).or_default().insert(
            row.id.clone(),
            Record {
                id: row.id,
                kind,
                content,
                creator: row.creator,
                creator_name: row.creator_name,
                group: row.creator_group,
                rev: row.seq,
                created_at: row.created_at,
                updated_at: row.updated_at,
                root_id,
            },
        );
    }
    Ok(layers)
}

#[cfg(test)]
mod split_tests {
    use super::*;

    fn meta(id: &str, content_bytes: usize) -> StoredMeta {
        StoredMeta {
            layer: String::new(),
            id: id.into(),
            kind: "annotation".into(),
            content_bytes,
            creator: "u".into(),
            creator_name: None,
            creator_group: None,
            seq: 1,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn each_record_gets_its_bytes_of_the_concatenated_contents() {
        let a = r#"{"text":"é ✓"}"#;
        let b = r#"{ "v" : 2 }"#;
        let records = split_contents(
            "doc",
            vec![meta("a", a.len()), meta("b", b.len())],
            &[a, b].concat(),
        )
        .unwrap();
        let got: Vec<_> = records
            .iter()
            .map(|r| (r.id.as_str(), r.content.as_str()))
            .collect();
        assert_eq!(got, [("a", a), ("b", b)]);
        assert!(records.iter().all(|r| r.document_id == "doc"));
        assert!(split_contents("doc", Vec::new(), "").unwrap().is_empty());
    }

    #[test]
    fn lengths_that_do_not_add_up_are_an_error() {
        let text = r#"{"a":"é"}{}"#;
        // Too long, too short, and inside a character.
        assert!(split_contents("doc", vec![meta("a", 99)], text).is_err());
        assert!(split_contents("doc", vec![meta("a", 2)], text).is_err());
        assert!(split_contents("doc", vec![meta("a", 7), meta("b", 5)], text).is_err());
    }
}
