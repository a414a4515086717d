//! Commits of a contended document under its sequence row's lock (PostgreSQL, several nodes).
//!
//! The committer's grouped transactions are optimistic: a batch is validated against what this
//! node knows and written only if the document's sequence row has not moved meanwhile. That is
//! the cheapest way when one node writes a document. When several nodes write the same one,
//! they keep losing that race to each other: each loss costs a rollback, a catch-up read and a
//! second try, during which the other nodes race again, and under steady load the retries pile
//! up (a p99 of hundreds of milliseconds for three nodes on one document).
//!
//! A document that has lost a race (see `DocumentActor::contended`) therefore commits the other
//! way for a while: [`lock_head`] opens a transaction, locks the sequence row (`FOR UPDATE`)
//! and reads, inside it, what the other nodes committed; the actor applies that, validates its
//! own batch against the result, and [`commit_locked`] writes it in the same transaction. The
//! nodes take turns on the row's lock instead of racing, and a batch can no longer lose.
//!
//! The lock is held only between those two steps (two round trips to the actor and the
//! batch's statements); a node that stops answering mid-way loses its connection and with it
//! the lock, and no writer waits for a lock longer than [`LOCK_TIMEOUT`].

use std::sync::{Arc, OnceLock};

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::log::read_missed_locking;
use super::{write_batch, Batch, CommitError, Missed};

/// How long a locked commit waits for another node's turn before it gives up (its changes are
/// then refused as `unavailable`, to be sent again).
pub const LOCK_TIMEOUT: &str = "5s";

/// Most locked transactions one node holds at once: each holds a pooled connection while it
/// waits for its turn, and the pool (32 connections) must keep room for everything else.
const MAX_LOCKED: usize = 12;

fn permits() -> Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS
        .get_or_init(|| Arc::new(Semaphore::new(MAX_LOCKED)))
        .clone()
}

/// An open transaction holding a document's sequence row lock.
pub struct LockedHead {
    txn: DatabaseTransaction,
    _permit: OwnedSemaphorePermit,
}

/// Opens a transaction, locks the sequence row of `document_id` and reads the changes after
/// `after` (at most `limit`). Dropping the returned [`LockedHead`] rolls back and unlocks.
pub async fn lock_head(
    db: &DatabaseConnection,
    document_id: &str,
    after: i64,
    limit: u64,
) -> Result<(LockedHead, Missed), DbErr> {
    let permit = permits()
        .acquire_owned()
        .await
        .map_err(|_| DbErr::Custom("the locked-commit permits are closed".into()))?;
    let txn = db.begin().await?;
    txn.execute_unprepared(&format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        .await?;
    let missed = read_missed_locking(&txn, document_id, after, limit, true).await?;
    Ok((
        LockedHead {
            txn,
            _permit: permit,
        },
        missed,
    ))
}

/// Writes `batch` in the locked transaction and commits it. The row cannot have moved, so the
/// outcome is written or failed (`Refused` when the database refused a value, `Conflict` for a
/// deadlock the database broke, to be tried again; otherwise `Unavailable`).
pub async fn commit_locked(
    locked: LockedHead,
    batch: Batch,
    now: i64,
) -> (Batch, Result<(), CommitError>) {
    let LockedHead { txn, _permit } = locked;
    let result = match write_batch(&txn, &batch, now).await {
        Ok(true) => txn.commit().await.map_err(CommitError::Unavailable),
        Ok(false) => Err(CommitError::Conflict(batch.old_head)),
        Err(e) if super::committer::must_retry(&e) => Err(CommitError::Conflict(batch.old_head)),
        Err(e) => Err(CommitError::from_batch(e)),
    };
    (batch, result)
}
