//! The committer: one queue of batches from every document actor (and usage events), committed
//! in groups, each group one transaction. See [`Committer`] and [`commit_group`].

use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, TransactionTrait};

use super::{advance_all, refused_by_database, write_batch, write_rows, Batch, CommitError};
use crate::entities::{usage_event, webhook_event};

use super::CHUNK;

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
        /// A webhook event written with the usage row (`session.opened`); boxed, as it is
        /// rare beside the batches.
        event: Option<Box<webhook_event::ActiveModel>>,
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
pub(super) fn must_retry(e: &DbErr) -> bool {
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
            crate::background::spawn(async move {
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

    /// Stores a usage event (and `event`, a webhook outbox row, if given) with the next group;
    /// resolves once it is committed.
    pub async fn record(
        &self,
        row: usage_event::ActiveModel,
        event: Option<webhook_event::ActiveModel>,
    ) -> Result<(), DbErr> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Job::Usage {
                row,
                event: event.map(Box::new),
                reply,
            })
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
    let mut events = Vec::new();
    for job in &group {
        match job {
            Job::Batch { batch, now: t, .. } => {
                now = now.max(*t);
                batches.push(batch);
            }
            Job::Usage { row, event, .. } => {
                usage.push(row.clone());
                events.extend(event.as_deref().cloned());
            }
        }
    }
    let started = std::time::Instant::now();
    let mut attempt = 1;
    let result = loop {
        let result = commit_group(db, &batches, usage.clone(), events.clone(), now).await;
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

/// What [`commit_group`] returns: one outcome per batch, in the order given, and the usage
/// rows' outcome.
type GroupOutcome = (Vec<BatchOutcome>, Result<(), DbErr>);

/// Commits a group in one transaction. First as a whole, without savepoints: every batch's
/// sequence row advanced, then the rows of all of them in a few multi-row statements (a handful
/// of statements per group rather than several per batch). Should the database refuse
/// a value, that transaction is rolled back (nothing of it was committed) and the group is
/// written again batch by batch, each in a savepoint ([`commit_group_by_batch`]), so a batch
/// the database refuses still costs only its own changes.
async fn commit_group(
    db: &DatabaseConnection,
    batches: &[&Batch],
    usage: Vec<usage_event::ActiveModel>,
    events: Vec<webhook_event::ActiveModel>,
    now: i64,
) -> Result<GroupOutcome, DbErr> {
    let mut documents: Vec<&str> = batches.iter().map(|b| b.document_id.as_str()).collect();
    documents.sort_unstable();
    documents.dedup();
    // Two batches of one document (never sent by one node's actor, which commits one batch at
    // a time) go the careful way.
    if documents.len() == batches.len() {
        match commit_group_whole(db, batches, &usage, &events, now).await {
            Ok(outcomes) => return Ok((outcomes, Ok(()))),
            // Only a value the database refused is worth writing again batch by batch: the
            // batches it does not touch go through. Anything else (the connection died, a
            // deadlock) fails the group as it would have failed any batch.
            Err(e) if !refused_by_database(&e) => return Err(e),
            Err(e) => {
                tracing::debug!(error = %e, "the database refused a group; writing it batch by batch");
            }
        }
    }
    commit_group_by_batch(db, batches, usage, events, now).await
}

/// The batches in document-id order: two nodes grouping the same documents lock their rows in
/// the same order and cannot deadlock.
fn document_order(batches: &[&Batch]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..batches.len()).collect();
    order.sort_by(|&a, &b| batches[a].document_id.cmp(&batches[b].document_id));
    order
}

/// The group in one transaction without savepoints; any error fails (and rolls back) all of it.
async fn commit_group_whole(
    db: &DatabaseConnection,
    batches: &[&Batch],
    usage: &[usage_event::ActiveModel],
    events: &[webhook_event::ActiveModel],
    now: i64,
) -> Result<Vec<BatchOutcome>, DbErr> {
    let txn = db.begin().await?;
    let written = async {
        let order = document_order(batches);
        let ordered: Vec<&Batch> = order.iter().map(|&i| batches[i]).collect();
        let flags = advance_all(&txn, &ordered, now).await?;
        let mut written = vec![false; batches.len()];
        for (&i, flag) in order.iter().zip(flags) {
            written[i] = flag;
        }
        let advanced: Vec<&Batch> = order
            .iter()
            .filter(|&&i| written[i])
            .map(|&i| batches[i])
            .collect();
        write_rows(&txn, &advanced).await?;
        if !usage.is_empty() {
            write_usage(&txn, usage.to_vec(), events.to_vec()).await?;
        }
        Ok::<_, DbErr>(written)
    }
    .await;
    let written = match written {
        Ok(written) => written,
        Err(e) => {
            // Rolled back now rather than when dropped, so the connection is free for the
            // retry at once.
            let _ = txn.rollback().await;
            return Err(e);
        }
    };
    txn.commit().await?;
    Ok(written
        .into_iter()
        .map(|w| {
            if w {
                BatchOutcome::Written
            } else {
                BatchOutcome::Moved
            }
        })
        .collect())
}

/// One transaction: every batch in its own savepoint, written in document-id order, then the
/// usage rows in a savepoint of their own. A batch the database refuses costs only its own
/// changes. Returns one outcome per batch, in the order given.
async fn commit_group_by_batch(
    db: &DatabaseConnection,
    batches: &[&Batch],
    usage: Vec<usage_event::ActiveModel>,
    events: Vec<webhook_event::ActiveModel>,
    now: i64,
) -> Result<GroupOutcome, DbErr> {
    let txn = db.begin().await?;
    let mut outcomes: Vec<Option<BatchOutcome>> = (0..batches.len()).map(|_| None).collect();
    for i in document_order(batches) {
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
        match write_usage(&savepoint, usage, events).await {
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
    events: Vec<webhook_event::ActiveModel>,
) -> Result<(), DbErr> {
    let mut usage = usage.into_iter().peekable();
    while usage.peek().is_some() {
        let chunk: Vec<_> = usage.by_ref().take(CHUNK).collect();
        usage_event::Entity::insert_many(chunk).exec(txn).await?;
    }
    // One by one, in queue order: outbox ids are delivery order.
    for event in events {
        webhook_event::Entity::insert(event).exec(txn).await?;
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
