//! Persistence of a document's live state: loading it (`load.rs`, and stored snapshots in
//! `snapshot.rs`), committing a batch of changes in one transaction (group commit), and reading
//! the change log. Only the document actor calls these.

use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, Value,
};
use serde_json::value::RawValue;

use crate::entities::{change, document, record};
use crate::records::Record;
use crate::wire::common::{Kind, Op};

mod committer;
mod load;
mod locked;
mod log;
pub(crate) mod rows;
pub mod snapshot;
pub use committer::Committer;
pub use load::{load, Loaded, LoadedRecords};
pub use locked::{commit_locked, lock_head, LockedHead};
pub use log::{read_log, read_missed, Missed};

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
