//! Persistence of a document's live state: loading its records, committing a batch of changes
//! in one transaction (group commit), and reading the change log. Only the document actor calls
//! these.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QuerySelect, Set, TransactionTrait,
};
use serde_json::value::RawValue;

use crate::entities::{change, document, record, usage_event};
use crate::protocol::{Kind, Op};
use crate::records::Record;

mod log;
pub use log::{read_log, read_missed, Missed};

/// A document's state as loaded at actor start.
pub struct Loaded {
    pub head_seq: i64,
    /// Changes after this sequence number are all still in the log.
    pub log_floor: i64,
    pub page_count: u32,
    /// Records per layer, per id.
    pub layers: HashMap<String, HashMap<String, Record>>,
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

/// A stored record, as loaded. `content` is the text exactly as the client sent it (the SQLite
/// aggregate carries it as a JSON string, never re-encoded, so it comes back byte for byte).
#[derive(serde::Deserialize)]
struct StoredRecord {
    layer: String,
    id: String,
    kind: String,
    content: String,
    creator: String,
    creator_name: Option<String>,
    creator_group: Option<String>,
    seq: i64,
    created_at: i64,
    updated_at: i64,
}

/// All of a document's records. On SQLite the rows are aggregated into one JSON array inside
/// the database: sqlx hands SQLite rows over one at a time between threads, which dominated
/// the load of a large document (10,000 annotations: 80 ms down to a fraction).
async fn load_records(
    db: &impl ConnectionTrait,
    document_id: &str,
) -> Result<Vec<StoredRecord>, DbErr> {
    use sea_orm::{DbBackend, Statement};
    if db.get_database_backend() == DbBackend::Sqlite {
        let sql = "SELECT json_group_array(json_object('layer', layer, 'id', id, 'kind', kind, \
                   'content', content, 'creator', creator, 'creator_name', creator_name, \
                   'creator_group', creator_group, 'seq', seq, 'created_at', created_at, \
                   'updated_at', updated_at)) FROM records WHERE document_id = ?";
        let row = db
            .query_one(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                sql,
                [document_id.into()],
            ))
            .await?
            .ok_or_else(|| DbErr::Custom("aggregate query returned no row".into()))?;
        let text: String = row.try_get_by_index(0)?;
        return serde_json::from_str(&text)
            .map_err(|e| DbErr::Custom(format!("stored records: {e}")));
    }
    record::Entity::find()
        .filter(record::Column::DocumentId.eq(document_id))
        .all(db)
        .await?
        .into_iter()
        .map(|r| {
            Ok(StoredRecord {
                content: r.content,
                layer: r.layer,
                id: r.id,
                kind: r.kind,
                creator: r.creator,
                creator_name: r.creator_name,
                creator_group: r.creator_group,
                seq: r.seq,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
        })
        .collect()
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
    let rows = load_records(db, document_id).await?;
    let mut layers: HashMap<String, HashMap<String, Record>> = HashMap::new();
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
        layers,
    }))
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

/// How many rows one multi-row statement carries.
const CHUNK: usize = 200;

/// Writes one batch inside `txn`; false (and nothing written) when the sequence row has moved.
async fn write_batch(txn: &DatabaseTransaction, batch: &Batch, now: i64) -> Result<bool, DbErr> {
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

    // The final state of each touched record: later changes in the batch win.
    let mut finals: HashMap<(&str, &str), &LoggedChange> = HashMap::new();
    for c in &batch.changes {
        finals.insert((c.layer.as_str(), c.record.id.as_str()), c);
    }
    let mut upserts = Vec::new();
    let mut deletes: HashMap<&str, Vec<&str>> = HashMap::new();
    for ((layer, id), c) in finals {
        if c.op == Op::Delete {
            deletes.entry(layer).or_default().push(id);
        } else {
            let r = &c.record;
            upserts.push(record::ActiveModel {
                document_id: Set(batch.document_id.clone()),
                layer: Set(layer.to_string()),
                id: Set(r.id.clone()),
                kind: Set(r.kind.as_str().to_string()),
                content: Set(r.content.get().to_string()),
                creator: Set(r.creator.clone()),
                creator_group: Set(r.group.clone()),
                creator_name: Set(r.creator_name.clone()),
                seq: Set(r.rev),
                created_at: Set(r.created_at),
                updated_at: Set(r.updated_at),
            });
        }
    }
    for (layer, ids) in deletes {
        for chunk in ids.chunks(CHUNK) {
            record::Entity::delete_many()
                .filter(record::Column::DocumentId.eq(batch.document_id.as_str()))
                .filter(record::Column::Layer.eq(layer))
                .filter(record::Column::Id.is_in(chunk.iter().copied()))
                .exec(txn)
                .await?;
        }
    }
    let mut upserts = upserts.into_iter().peekable();
    while upserts.peek().is_some() {
        let chunk: Vec<_> = upserts.by_ref().take(CHUNK).collect();
        record::Entity::insert_many(chunk)
            .on_conflict(
                OnConflict::columns([
                    record::Column::DocumentId,
                    record::Column::Layer,
                    record::Column::Id,
                ])
                .update_columns([
                    record::Column::Kind,
                    record::Column::Content,
                    record::Column::Creator,
                    record::Column::CreatorGroup,
                    record::Column::CreatorName,
                    record::Column::Seq,
                    record::Column::UpdatedAt,
                ])
                .to_owned(),
            )
            .exec(txn)
            .await?;
    }
    for chunk in batch.changes.chunks(CHUNK) {
        let rows = chunk.iter().map(|c| change::ActiveModel {
            document_id: Set(batch.document_id.clone()),
            seq: Set(c.seq),
            layer: Set(c.layer.clone()),
            record_id: Set(c.record.id.clone()),
            kind: Set(c.record.kind.as_str().to_string()),
            op: Set(c.op.as_str().to_string()),
            content: Set((c.op != Op::Delete).then(|| c.record.content.get().to_string())),
            author: Set(c.author.clone()),
            author_name: Set(c.author_name.clone()),
            creator: Set(c.record.creator.clone()),
            creator_name: Set(c.record.creator_name.clone()),
            creator_group: Set(c.record.group.clone()),
            created_at: Set(c.record.created_at),
            // The change's own time, which is the record's `updated_at`: both read paths (the
            // records and the log) then show the same instant.
            at: Set(c.record.updated_at),
        });
        change::Entity::insert_many(rows).exec(txn).await?;
    }
    crate::audit::append_batch(txn, batch).await?;
    crate::webhooks::enqueue_batch(txn, batch).await?;
    if let Some(floor) = batch.prune_to {
        change::Entity::delete_many()
            .filter(change::Column::DocumentId.eq(batch.document_id.as_str()))
            .filter(change::Column::Seq.lte(floor))
            .exec(txn)
            .await?;
    }
    Ok(true)
}

/// Queues batches from every document actor (and usage events) and commits whatever is waiting
/// in one transaction: on SQLite, where there is one writer, this turns thousands of small
/// transactions per second into a few large ones, and no writer ever waits on SQLite's lock.
/// On PostgreSQL several workers run.
#[derive(Clone)]
pub struct Committer {
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
}

enum Job {
    Batch {
        batch: Batch,
        now: i64,
        reply: tokio::sync::oneshot::Sender<(Batch, Result<(), CommitError>)>,
    },
    Usage {
        row: usage_event::ActiveModel,
        reply: tokio::sync::oneshot::Sender<Result<(), DbErr>>,
    },
}

/// How often a group is tried when PostgreSQL aborts it for a deadlock or a serialization
/// failure (another node's transaction touched the same rows in between): the whole group is
/// run again, which is safe because nothing of it was committed.
const GROUP_ATTEMPTS: u32 = 4;

/// The SQLSTATE of an error, if the database gave one.
fn sqlstate(e: &DbErr) -> Option<String> {
    use sea_orm::sqlx;
    match e {
        DbErr::Exec(sea_orm::RuntimeErr::SqlxError(sqlx::Error::Database(db)))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(sqlx::Error::Database(db)))
        | DbErr::Conn(sea_orm::RuntimeErr::SqlxError(sqlx::Error::Database(db))) => {
            db.code().map(|c| c.into_owned())
        }
        _ => None,
    }
}

/// Whether a failed transaction is one PostgreSQL asks to be retried: a detected deadlock
/// (40P01) or a serialization failure (40001).
fn must_retry(e: &DbErr) -> bool {
    sqlstate(e).is_some_and(|c| is_retryable_state(&c))
}

fn is_retryable_state(code: &str) -> bool {
    matches!(code, "40P01" | "40001")
}

/// Most jobs one grouped transaction carries.
const MAX_GROUP: usize = 512;

impl Committer {
    /// Starts `workers` commit tasks on the current runtime.
    pub fn start(db: DatabaseConnection, workers: usize) -> Committer {
        let (jobs, rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..workers.max(1) {
            let (db, rx) = (db.clone(), rx.clone());
            actix_web::rt::spawn(async move {
                loop {
                    let mut group = Vec::new();
                    {
                        let mut rx = rx.lock().await;
                        match rx.recv().await {
                            Some(job) => group.push(job),
                            None => return,
                        }
                        while group.len() < MAX_GROUP {
                            match rx.try_recv() {
                                Ok(job) => group.push(job),
                                Err(_) => break,
                            }
                        }
                    }
                    run_group(&db, group).await;
                }
            });
        }
        Committer { jobs }
    }

    /// Whether the commit workers are running (`/readyz` reports not ready otherwise).
    pub fn is_running(&self) -> bool {
        !self.jobs.is_closed()
    }

    /// Commits `batch` with whatever else is waiting; resolves once it is durable (or failed).
    pub async fn commit(&self, batch: Batch, now: i64) -> (Batch, Result<(), CommitError>) {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let old_head = batch.old_head;
        let stopped = |what: &str| CommitError::Unavailable(DbErr::Custom(what.to_string()));
        if let Err(e) = self.jobs.send(Job::Batch { batch, now, reply }) {
            let Job::Batch { batch, .. } = e.0 else {
                unreachable!("sent a batch")
            };
            return (batch, Err(stopped("the committer has stopped")));
        }
        match rx.await {
            Ok(done) => done,
            Err(_) => (
                Batch {
                    document_id: String::new(),
                    old_head,
                    changes: Vec::new(),
                    prune_to: None,
                },
                Err(stopped("the committer stopped mid-commit")),
            ),
        }
    }

    /// Stores a usage event with the next group; resolves once it is committed.
    pub async fn record(&self, row: usage_event::ActiveModel) -> Result<(), DbErr> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Job::Usage { row, reply })
            .map_err(|_| DbErr::Custom("the committer has stopped".into()))?;
        rx.await
            .map_err(|_| DbErr::Custom("the committer stopped mid-commit".into()))?
    }
}

/// Commits one group of jobs in one transaction and answers each.
async fn run_group(db: &DatabaseConnection, group: Vec<Job>) {
    let mut now = 0;
    let mut batches = Vec::new();
    let mut usage = Vec::new();
    for job in &group {
        match job {
            Job::Batch { batch, now: t, .. } => {
                now = now.max(*t);
                batches.push(batch);
            }
            Job::Usage { row, .. } => usage.push(row.clone()),
        }
    }
    let started = std::time::Instant::now();
    let mut attempt = 1;
    let result = loop {
        let result = commit_group(db, &batches, usage.clone(), now).await;
        match result {
            Err(e) if attempt < GROUP_ATTEMPTS && must_retry(&e) => {
                tracing::warn!(error = %e, attempt, "group commit hit a deadlock or serialization failure; retrying");
                attempt += 1;
            }
            result => break result,
        }
    };
    let metrics = crate::metrics::get();
    // Groups of usage events alone carry no document batch and are not counted as batches.
    if !batches.is_empty() {
        metrics.commit_group_batches.observe(batches.len() as f64);
    }
    crate::metrics::observe_since(&metrics.commit_group_seconds, started);
    let (outcomes, usage_outcome): (Vec<Option<BatchOutcome>>, _) = match result {
        Ok((outcomes, usage)) => (outcomes.into_iter().map(Some).collect(), usage),
        Err(e) => {
            tracing::warn!(error = %e, "group commit failed");
            (Vec::new(), Err(DbErr::Custom(e.to_string())))
        }
    };
    let mut outcomes = outcomes.into_iter();
    for job in group {
        match job {
            Job::Batch { batch, reply, .. } => {
                let outcome = match outcomes.next().flatten() {
                    Some(BatchOutcome::Written) => Ok(()),
                    Some(BatchOutcome::Moved) => Err(CommitError::Conflict(batch.old_head)),
                    Some(BatchOutcome::Failed(e)) => Err(e),
                    None => Err(CommitError::Unavailable(DbErr::Custom(
                        "the group's transaction failed".into(),
                    ))),
                };
                let _ = reply.send((batch, outcome));
            }
            Job::Usage { reply, .. } => {
                let _ = reply.send(
                    usage_outcome
                        .as_ref()
                        .map(|_| ())
                        .map_err(|e| DbErr::Custom(e.to_string())),
                );
            }
        }
    }
}

/// What became of one batch of a group.
enum BatchOutcome {
    Written,
    /// Its sequence row had moved: nothing written.
    Moved,
    /// Its savepoint was rolled back; the rest of the group went on.
    Failed(CommitError),
}

/// One transaction: every batch in its own savepoint, written in document-id order (so two
/// nodes grouping the same documents lock their rows in the same order and cannot deadlock),
/// then the usage rows in a savepoint of their own. A batch the database refuses costs only its
/// own changes. Returns one outcome per batch, in the order given.
async fn commit_group(
    db: &DatabaseConnection,
    batches: &[&Batch],
    usage: Vec<usage_event::ActiveModel>,
    now: i64,
) -> Result<(Vec<BatchOutcome>, Result<(), DbErr>), DbErr> {
    let txn = db.begin().await?;
    let mut order: Vec<usize> = (0..batches.len()).collect();
    order.sort_by(|&a, &b| batches[a].document_id.cmp(&batches[b].document_id));
    let mut outcomes: Vec<Option<BatchOutcome>> = (0..batches.len()).map(|_| None).collect();
    for i in order {
        let savepoint = txn.begin().await?;
        let outcome = match write_batch(&savepoint, batches[i], now).await {
            Ok(true) => {
                savepoint.commit().await?;
                BatchOutcome::Written
            }
            Ok(false) => {
                savepoint.rollback().await?;
                BatchOutcome::Moved
            }
            // A deadlock or serialization failure aborts the whole group (it holds locks of
            // earlier batches): `run_group` runs it again from the start.
            Err(e) if must_retry(&e) => return Err(e),
            Err(e) => {
                // The rollback to the savepoint fails too when the connection is gone: then
                // the whole group fails, as it must.
                savepoint.rollback().await?;
                tracing::warn!(document_id = %batches[i].document_id, error = %e, "a batch failed; its savepoint was rolled back");
                BatchOutcome::Failed(CommitError::from_batch(e))
            }
        };
        outcomes[i] = Some(outcome);
    }
    let usage_outcome = if usage.is_empty() {
        Ok(())
    } else {
        let savepoint = txn.begin().await?;
        match write_usage(&savepoint, usage).await {
            Ok(()) => {
                savepoint.commit().await?;
                Ok(())
            }
            Err(e) => {
                savepoint.rollback().await?;
                tracing::warn!(error = %e, "usage rows failed; their savepoint was rolled back");
                Err(e)
            }
        }
    };
    txn.commit().await?;
    Ok((outcomes.into_iter().flatten().collect(), usage_outcome))
}

async fn write_usage(
    txn: &DatabaseTransaction,
    usage: Vec<usage_event::ActiveModel>,
) -> Result<(), DbErr> {
    let mut usage = usage.into_iter().peekable();
    while usage.peek().is_some() {
        let chunk: Vec<_> = usage.by_ref().take(CHUNK).collect();
        usage_event::Entity::insert_many(chunk).exec(txn).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_retryable_state;

    #[test]
    fn deadlocks_and_serialization_failures_are_retried_and_nothing_else() {
        assert!(is_retryable_state("40P01"));
        assert!(is_retryable_state("40001"));
        for other in ["23505", "22001", "08006", "57P01", "", "40P0"] {
            assert!(!is_retryable_state(other), "{other}");
        }
    }
}
