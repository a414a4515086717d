//! Persistence of a document's live state: loading its records, committing a batch of changes
//! in one transaction (group commit), and reading the change log. Only the document actor calls
//! these.

use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QuerySelect, TransactionTrait, Value,
};
use serde_json::value::RawValue;

use crate::entities::{change, document, record};
use crate::records::Record;
use crate::wire::common::{Kind, Op};

mod committer;
mod locked;
mod log;
pub(crate) mod rows;
pub mod snapshot;
pub use committer::Committer;
pub use locked::{commit_locked, lock_head, LockedHead};
pub use log::{read_log, read_missed, Missed};

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

/// Why a commit failed. The document actor refuses the batch's changes either way; the kind
/// decides the code it gives and what it does next.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The sequence row moved under us: another writer (another node) committed first, or the
    /// document was deleted.
    #[error("the document's sequence moved from {0}: another writer committed or the document was deleted")]
    Conflict(i64),
    /// The database refused a value of this batch (a constraint or a type limit): retrying the
    /// same changes will fail again. Only this batch's savepoint was rolled back.
    #[error("the database refused the batch: {0}")]
    Refused(DbErr),
    /// The database could not be reached or failed: retrying later may succeed.
    #[error("the database is unavailable: {0}")]
    Unavailable(DbErr),
}

impl CommitError {
    /// Classifies a database error met while writing one batch.
    fn from_batch(e: DbErr) -> CommitError {
        if refused_by_database(&e) {
            CommitError::Refused(e)
        } else {
            CommitError::Unavailable(e)
        }
    }
}

/// Whether the database refused a value (data exception, constraint violation) rather than
/// failing to run the statement at all.
fn refused_by_database(e: &DbErr) -> bool {
    use sea_orm::sqlx;
    let (DbErr::Exec(sea_orm::RuntimeErr::SqlxError(sqlx::Error::Database(db)))
    | DbErr::Query(sea_orm::RuntimeErr::SqlxError(sqlx::Error::Database(db)))) = e
    else {
        return false;
    };
    let code = db.code().unwrap_or_default();
    if code.len() == 5 {
        // PostgreSQL SQLSTATE: class 22 is a data exception (a value too long for its
        // column, out of range…), class 23 an integrity constraint violation.
        return code.starts_with("22") || code.starts_with("23");
    }
    // SQLite result codes: SQLITE_TOOBIG (18), SQLITE_CONSTRAINT (19), SQLITE_MISMATCH (20),
    // SQLITE_RANGE (25); the low byte is the primary code of an extended one.
    code.parse::<u32>()
        .is_ok_and(|c| matches!(c & 0xff, 18 | 19 | 20 | 25))
}

fn raw(text: String) -> Result<Box<RawValue>, DbErr> {
    RawValue::from_string(text)
        .map_err(|e| DbErr::Custom(format!("stored record content is not JSON: {e}")))
}

fn root_of(kind: Kind, content: &RawValue) -> Option<String> {
    if kind != Kind::Comment {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Root {
        #[serde(rename = "rootId")]
        root_id: Option<String>,
    }
    serde_json::from_str::<Root>(content.get())
        .ok()
        .and_then(|r| r.root_id)
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

/// One committed change as stored in the log.
#[derive(Debug, Clone)]
pub struct LoggedChange {
    pub seq: i64,
    pub layer: String,
    pub op: Op,
    pub author: String,
    pub author_name: Option<String>,
    /// The record after the change (for deletes: as it was, with the delete's sequence number).
    pub record: Record,
}

/// A batch of changes to commit in one transaction.
pub struct Batch {
    pub document_id: String,
    pub old_head: i64,
    pub changes: Vec<LoggedChange>,
    /// Delete log entries at or below this sequence number.
    pub prune_to: Option<i64>,
}

impl Batch {
    pub fn new_head(&self) -> i64 {
        self.changes.last().map(|c| c.seq).unwrap_or(self.old_head)
    }
}

use rows::CHUNK;

/// Writes one batch inside `txn`; false (and nothing written) when the sequence row has moved.
async fn write_batch(txn: &DatabaseTransaction, batch: &Batch, now: i64) -> Result<bool, DbErr> {
    if !advance(txn, batch, now).await? {
        return Ok(false);
    }
    write_rows(txn, &[batch]).await?;
    Ok(true)
}

/// Moves `batch`'s document from its old head to its new one (the conditional update that
/// makes a batch lose against another writer); false when the sequence row had moved.
async fn advance(txn: &DatabaseTransaction, batch: &Batch, now: i64) -> Result<bool, DbErr> {
    let advanced = document::Entity::update_many()
        .col_expr(document::Column::HeadSeq, Expr::value(batch.new_head()))
        .col_expr(document::Column::UpdatedAt, Expr::value(now))
        .filter(document::Column::Id.eq(batch.document_id.as_str()))
        .filter(document::Column::HeadSeq.eq(batch.old_head))
        .exec(txn)
        .await?;
    if advanced.rows_affected != 1 {
        return Ok(false);
    }
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        // The hint other nodes wake up on; delivered only if this transaction commits.
        crate::bus::pg::notify_in(
            txn,
            &crate::bus::Hint::head(&batch.document_id, batch.new_head()),
        )
        .await?;
    }
    Ok(true)
}

/// Batches whose conditional head update goes into one statement, at most (in chunks of
/// [`rows::chunk_len`], so that the statements stay prepared).
const ADVANCE_CHUNK: usize = 64;

/// [`advance`] for many batches of distinct documents. On SQLite (one writer: no lock order to
/// keep) one `UPDATE … RETURNING` moves every head that is where its batch expects it; on
/// PostgreSQL each document is updated on its own, in the order given (document-id order, so
/// nodes lock rows in one order). One flag per batch, in the order given.
async fn advance_all(
    txn: &DatabaseTransaction,
    batches: &[&Batch],
    now: i64,
) -> Result<Vec<bool>, DbErr> {
    use sea_orm::sea_query::{CaseStatement, Cond, Query};
    let backend = txn.get_database_backend();
    if backend != sea_orm::DbBackend::Sqlite {
        let mut advanced = Vec::with_capacity(batches.len());
        for batch in batches {
            advanced.push(advance(txn, batch, now).await?);
        }
        return Ok(advanced);
    }
    let mut moved: std::collections::HashSet<String> = std::collections::HashSet::new();
    for chunk in rows::chunks(batches, ADVANCE_CHUNK) {
        let mut heads = CaseStatement::new();
        let mut expected = Cond::any();
        for batch in chunk {
            let id = Expr::col(document::Column::Id).eq(batch.document_id.as_str());
            heads = heads.case(id.clone(), Expr::val(batch.new_head()));
            expected =
                expected.add(id.and(Expr::col(document::Column::HeadSeq).eq(batch.old_head)));
        }
        let heads = heads.finally(Expr::col(document::Column::HeadSeq));
        let update = Query::update()
            .table(document::Entity)
            .value(document::Column::HeadSeq, heads)
            .value(document::Column::UpdatedAt, now)
            .cond_where(expected)
            .returning_col(document::Column::Id)
            .to_owned();
        for row in txn.query_all(backend.build(&update)).await? {
            moved.insert(row.try_get_by_index(0)?);
        }
    }
    Ok(batches
        .iter()
        .map(|b| moved.contains(&b.document_id))
        .collect())
}

/// Writes the rows of `batches` (each already [`advance`]d, at most one per document): the
/// records, the log, the audit entries and the webhook events, each kind in multi-row
/// statements over all the batches together.
/// The records' upsert: a change's record replaces what was stored under its id.
const RECORDS: rows::Insert<record::Column> = {
    use record::Column as C;
    rows::Insert {
        table: "records",
        columns: &[
            C::DocumentId,
            C::Layer,
            C::Id,
            C::Kind,
            C::Content,
            C::Creator,
            C::CreatorGroup,
            C::CreatorName,
            C::Seq,
            C::CreatedAt,
            C::UpdatedAt,
        ],
        upsert: Some((
            &[C::DocumentId, C::Layer, C::Id],
            &[
                C::Kind,
                C::Content,
                C::Creator,
                C::CreatorGroup,
                C::CreatorName,
                C::Seq,
                C::UpdatedAt,
            ],
        )),
    }
};

/// The change log's insert.
const LOG: rows::Insert<change::Column> = {
    use change::Column as C;
    rows::Insert {
        table: "changes",
        columns: &[
            C::DocumentId,
            C::Seq,
            C::Layer,
            C::RecordId,
            C::Kind,
            C::Op,
            C::Content,
            C::Author,
            C::AuthorName,
            C::Creator,
            C::CreatorName,
            C::CreatorGroup,
            C::CreatedAt,
            C::At,
        ],
        upsert: None,
    }
};

async fn write_rows(txn: &DatabaseTransaction, batches: &[&Batch]) -> Result<(), DbErr> {
    let mut upserts: Vec<Vec<Value>> = Vec::new();
    for batch in batches {
        // The final state of each touched record: later changes in the batch win.
        let mut finals: HashMap<(&str, &str), &LoggedChange> = HashMap::new();
        for c in &batch.changes {
            finals.insert((c.layer.as_str(), c.record.id.as_str()), c);
        }
        let mut deletes: HashMap<&str, Vec<&str>> = HashMap::new();
        for ((layer, id), c) in finals {
            if c.op == Op::Delete {
                deletes.entry(layer).or_default().push(id);
            } else {
                let r = &c.record;
                upserts.push(vec![
                    batch.document_id.clone().into(),
                    layer.to_string().into(),
                    r.id.clone().into(),
                    r.kind.as_str().into(),
                    r.content.get().into(),
                    r.creator.clone().into(),
                    r.group.clone().into(),
                    r.creator_name.clone().into(),
                    r.rev.into(),
                    r.created_at.into(),
                    r.updated_at.into(),
                ]);
            }
        }
        for (layer, ids) in deletes {
            for chunk in rows::chunks(&ids, CHUNK) {
                record::Entity::delete_many()
                    .filter(record::Column::DocumentId.eq(batch.document_id.as_str()))
                    .filter(record::Column::Layer.eq(layer))
                    .filter(record::Column::Id.is_in(chunk.iter().copied()))
                    .exec(txn)
                    .await?;
            }
        }
    }
    RECORDS.rows(txn, upserts).await?;
    let log = batches.iter().flat_map(|batch| {
        batch.changes.iter().map(|c| {
            vec![
                batch.document_id.clone().into(),
                c.seq.into(),
                c.layer.clone().into(),
                c.record.id.clone().into(),
                c.record.kind.as_str().into(),
                c.op.as_str().into(),
                (c.op != Op::Delete)
                    .then(|| c.record.content.get().to_string())
                    .into(),
                c.author.clone().into(),
                c.author_name.clone().into(),
                c.record.creator.clone().into(),
                c.record.creator_name.clone().into(),
                c.record.group.clone().into(),
                c.record.created_at.into(),
                // The change's own time, which is the record's `updated_at`: both read paths
                // (the records and the log) then show the same instant.
                c.record.updated_at.into(),
            ]
        })
    });
    LOG.rows(txn, log).await?;
    crate::audit::append_batches(txn, batches).await?;
    crate::webhooks::enqueue_batches(txn, batches).await?;
    for batch in batches {
        if let Some(floor) = batch.prune_to {
            change::Entity::delete_many()
                .filter(change::Column::DocumentId.eq(batch.document_id.as_str()))
                .filter(change::Column::Seq.lte(floor))
                .exec(txn)
                .await?;
        }
    }
    Ok(())
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
