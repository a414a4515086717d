//! The audit maintenance task: every `--audit-maintenance-interval` seconds it takes the
//! snapshots that are due (a layer with `--audit-snapshot-every` record changes since its newest
//! snapshot) and, with `--audit-retention-days`, prunes what is older than the retention.
//!
//! Snapshots: the task follows the audit log by id (a cursor in memory, from 0 at start-up, a
//! bounded number of rows per run) and counts new record rows per layer; those counts are only a
//! hint: a snapshot is taken after an exact count of the rows since the layer's newest snapshot.
//!
//! Retention, per layer of a live document with rows older than the cutoff, in one transaction:
//! a base snapshot at the newest such sequence number, then the rows up to it and the older
//! snapshots are deleted. Reads from that number on still work; earlier ones get
//! `history_pruned`. Rows of deleted documents (or of an earlier document under the same id),
//! and events other than record changes, older than the cutoff are deleted outright.

use std::collections::HashMap;
use std::time::Duration;

use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use super::snapshots;
use super::ReplayError;
use crate::entities::audit_event::{self, Column as A};
use crate::entities::{audit_snapshot, document};
use crate::time_util::now_micros;

/// Audit rows one run reads past the cursor at most.
const SCAN: u64 = 50_000;
/// Layers one run prunes at most (the rest wait for the next run).
const PRUNE_BATCH: u64 = 1_000;

/// What the task does.
#[derive(Debug, Clone)]
pub struct Config {
    /// Audit entries older than this are pruned; `None` keeps them forever.
    pub retention: Option<Duration>,
    /// Record changes of a layer between two snapshots.
    pub snapshot_every: u64,
    pub interval: Duration,
}

/// Starts the task on the current runtime.
pub fn start(db: DatabaseConnection, config: Config) {
    actix_web::rt::spawn(async move {
        let mut task = Task::default();
        let mut tick = tokio::time::interval(config.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = task.run(&db, &config).await {
                tracing::warn!(error = %e, "audit maintenance failed; retrying at the next interval");
            }
        }
    });
}

/// The task's memory between runs.
#[derive(Default)]
pub struct Task {
    /// Audit rows up to this id have been counted.
    cursor: i64,
    /// Record rows counted per (document, layer) since its last snapshot check.
    pending: HashMap<(String, String), u64>,
}

impl Task {
    /// One run: snapshots, then retention.
    pub async fn run(&mut self, db: &DatabaseConnection, config: &Config) -> Result<(), DbErr> {
        self.snapshots(db, config.snapshot_every).await?;
        if let Some(retention) = config.retention {
            let cutoff = now_micros().saturating_sub(retention.as_micros() as i64);
            prune(db, cutoff).await?;
        }
        Ok(())
    }

    async fn snapshots(&mut self, db: &DatabaseConnection, every: u64) -> Result<(), DbErr> {
        let ids: Vec<i64> = audit_event::Entity::find()
            .select_only()
            .column(A::Id)
            .filter(A::Id.gt(self.cursor))
            .order_by_asc(A::Id)
            .limit(SCAN)
            .into_tuple()
            .all(db)
            .await?;
        let Some(&upper) = ids.last() else {
            return Ok(());
        };
        let counts: Vec<(Option<String>, Option<String>, i64)> = audit_event::Entity::find()
            .select_only()
            .column(A::DocumentId)
            .column(A::Layer)
            .column_as(A::Id.count(), "count")
            .filter(A::Id.gt(self.cursor))
            .filter(A::Id.lte(upper))
            .filter(A::Seq.is_not_null())
            .group_by(A::DocumentId)
            .group_by(A::Layer)
            .into_tuple()
            .all(db)
            .await?;
        self.cursor = upper;
        for (doc, layer, count) in counts {
            let (Some(doc), Some(layer)) = (doc, layer) else {
                continue;
            };
            *self.pending.entry((doc, layer)).or_default() += count.max(0) as u64;
        }
        let due: Vec<(String, String)> = self
            .pending
            .iter()
            .filter(|(_, &n)| n >= every)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            let (doc, layer) = &key;
            let Some(since) = created_at(db, doc).await? else {
                self.pending.remove(&key);
                continue;
            };
            let (count, max) = snapshots::rows_since_newest(db, doc, since, layer).await?;
            match max {
                Some(seq) if count >= every => {
                    snapshot_or_log(db, doc, since, layer, seq, false).await?;
                    self.pending.remove(&key);
                }
                _ => {
                    self.pending.insert(key, count);
                }
            }
        }
        Ok(())
    }
}

/// The `created_at` of the live document `id`, if there is one.
async fn created_at(db: &impl sea_orm::ConnectionTrait, id: &str) -> Result<Option<i64>, DbErr> {
    document::Entity::find_by_id(id.to_string())
        .select_only()
        .column(document::Column::CreatedAt)
        .into_tuple::<i64>()
        .one(db)
        .await
}

async fn snapshot_or_log(
    db: &impl sea_orm::ConnectionTrait,
    doc: &str,
    since: i64,
    layer: &str,
    seq: i64,
    base: bool,
) -> Result<(), DbErr> {
    match snapshots::take(db, doc, since, layer, seq, base).await {
        Ok(()) => Ok(()),
        Err(ReplayError::Database(e)) => Err(e),
        // Already pruned past `seq` (another node ran the retention meanwhile): nothing to do.
        Err(ReplayError::Pruned { .. }) => Ok(()),
    }
}

/// Deletes what is older than `cutoff` (µs), keeping every live layer readable from the newest
/// pruned sequence number on.
pub async fn prune(db: &DatabaseConnection, cutoff: i64) -> Result<(), DbErr> {
    // Events other than record changes carry no state a read needs.
    audit_event::Entity::delete_many()
        .filter(A::At.lt(cutoff))
        .filter(A::Seq.is_null())
        .exec(db)
        .await?;
    let layers: Vec<(Option<String>, Option<String>)> = audit_event::Entity::find()
        .select_only()
        .column(A::DocumentId)
        .column(A::Layer)
        .filter(A::At.lt(cutoff))
        .filter(A::Seq.is_not_null())
        .group_by(A::DocumentId)
        .group_by(A::Layer)
        .limit(PRUNE_BATCH)
        .into_tuple()
        .all(db)
        .await?;
    for (doc, layer) in layers {
        let (Some(doc), Some(layer)) = (doc, layer) else {
            continue;
        };
        let since = created_at(db, &doc).await?;
        // Rows of a deleted document, or of an earlier one under the same id: no read reaches
        // them any more.
        let stale_before = since.map_or(cutoff, |s| s.min(cutoff));
        audit_event::Entity::delete_many()
            .filter(A::DocumentId.eq(doc.as_str()))
            .filter(A::Layer.eq(layer.as_str()))
            .filter(A::At.lt(stale_before))
            .exec(db)
            .await?;
        audit_snapshot::Entity::delete_many()
            .filter(audit_snapshot::Column::DocumentId.eq(doc.as_str()))
            .filter(audit_snapshot::Column::DocumentCreatedAt.ne(since.unwrap_or(-1)))
            .exec(db)
            .await?;
        let Some(since) = since.filter(|&s| s < cutoff) else {
            continue;
        };
        prune_layer(db, &doc, since, &layer, cutoff).await?;
    }
    Ok(())
}

/// Prunes one layer of a live document: a base snapshot at the newest sequence number older
/// than `cutoff`, then the rows up to it and the snapshots before it go, in one transaction.
async fn prune_layer(
    db: &DatabaseConnection,
    doc: &str,
    since: i64,
    layer: &str,
    cutoff: i64,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    let through: Option<i64> = audit_event::Entity::find()
        .select_only()
        .column_as(A::Seq.max(), "max")
        .filter(A::DocumentId.eq(doc))
        .filter(A::Layer.eq(layer))
        .filter(A::At.gte(since))
        .filter(A::At.lt(cutoff))
        .into_tuple::<Option<i64>>()
        .one(&txn)
        .await?
        .flatten();
    let Some(through) = through else {
        return txn.commit().await;
    };
    let existing = snapshots::base(&txn, doc, since, layer).await?;
    if existing.is_none_or(|b| b.seq < through) {
        snapshot_or_log(&txn, doc, since, layer, through, true).await?;
    }
    let rows = audit_event::Entity::delete_many()
        .filter(A::DocumentId.eq(doc))
        .filter(A::Layer.eq(layer))
        .filter(A::At.gte(since))
        .filter(A::Seq.lte(through))
        .exec(&txn)
        .await?
        .rows_affected;
    audit_snapshot::Entity::delete_many()
        .filter(audit_snapshot::Column::DocumentId.eq(doc))
        .filter(audit_snapshot::Column::DocumentCreatedAt.eq(since))
        .filter(audit_snapshot::Column::Layer.eq(layer))
        .filter(audit_snapshot::Column::Seq.lt(through))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!(document_id = doc, layer, through, rows, "audit history pruned");
    Ok(())
}
