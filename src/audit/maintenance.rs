//! The audit maintenance task: every `--audit-maintenance-interval` seconds it takes the
//! snapshots that are due (a layer with `--audit-snapshot-every` record changes since its newest
//! snapshot) and, with `--audit-retention-days`, prunes what is older than the retention.
//!
//! Snapshots: the task follows the audit log by id (a cursor in memory, from 0 at start-up, in
//! bounded steps) and counts new record rows per layer; those counts are only a hint: a snapshot
//! is taken after an exact count of the rows since the layer's newest snapshot.
//!
//! Retention: each layer of a live document with entries older than the cutoff is pruned
//! through a *base* snapshot (see [`prune_layer`]); reads from the base on still work, earlier
//! ones get `history_pruned`. Entries of deleted documents (or of an earlier document under the
//! same id), and events other than record changes, older than the cutoff are deleted outright.
//!
//! The first run is one interval after start-up, not at once: a restart's reconnect storm (every
//! document loaded again) does not compete with the task's count of the whole log.
//!
//! Several nodes on one database each run the task: they may take the same snapshot twice
//! (the same records, harmless) and prune in turn (each prune is one transaction).

use std::collections::HashMap;
use std::time::Duration;

use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};

use super::snapshots;
use super::ReplayError;
use crate::entities::audit_event::{self, Column as A};
use crate::entities::{audit_snapshot, document};
use crate::time_util::now_micros;

/// Audit ids one counting query covers.
const SCAN: i64 = 50_000;
/// Audit ids one run counts at most (a restart counts the whole log again, in steps of this).
const MAX_RUN: i64 = 2_000_000;
/// Snapshots one run takes of one layer at most (a backlog is caught up over the next runs).
const MAX_SNAPSHOTS_PER_LAYER: u32 = 100;
/// Layers whose change counts the task keeps between runs.
const MAX_PENDING: usize = 100_000;
/// Layers one retention query lists.
const PRUNE_PAGE: u64 = 1_000;

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
    crate::background::spawn(async move {
        let mut task = Task::default();
        let first = tokio::time::Instant::now() + config.interval;
        let mut tick = tokio::time::interval_at(first, config.interval);
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
    /// Record rows counted per (document, layer) since its last snapshot check: a hint (an
    /// exact count decides), at most [`MAX_PENDING`] layers.
    pending: HashMap<(String, String), u64>,
}

impl Task {
    /// Keeps the hints within [`MAX_PENDING`] layers: the layers furthest from a snapshot stay.
    /// A layer forgotten here only takes its snapshot later, once as many changes come again.
    fn bound_pending(&mut self, every: u64) {
        if self.pending.len() > MAX_PENDING {
            self.pending.retain(|_, n| *n >= every / 2);
        }
        if self.pending.len() > MAX_PENDING {
            self.pending.clear();
        }
    }

    /// One run: snapshots, then retention.
    pub async fn run(&mut self, db: &DatabaseConnection, config: &Config) -> Result<(), DbErr> {
        self.snapshots(db, config.snapshot_every).await?;
        if let Some(retention) = config.retention {
            let retention = retention.as_micros() as i64;
            let cutoff = now_micros().saturating_sub(retention);
            prune(db, cutoff, retention / 10).await?;
        }
        Ok(())
    }

    async fn snapshots(&mut self, db: &DatabaseConnection, every: u64) -> Result<(), DbErr> {
        let newest: Option<i64> = audit_event::Entity::find()
            .select_only()
            .column_as(A::Id.max(), "max")
            .into_tuple::<Option<i64>>()
            .one(db)
            .await?
            .flatten();
        let end = newest.unwrap_or(0).min(self.cursor.saturating_add(MAX_RUN));
        while self.cursor < end {
            let upper = end.min(self.cursor.saturating_add(SCAN));
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
            self.bound_pending(every);
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
            // One snapshot per `every` changes, however many came since the last run: a read
            // between two of them replays fewer than `every` entries.
            let mut taken = 0;
            while taken < MAX_SNAPSHOTS_PER_LAYER {
                let Some(seq) =
                    snapshots::nth_seq_since_newest(db, doc, since, layer, every).await?
                else {
                    break;
                };
                match build_snapshot(db, doc, since, layer, seq).await? {
                    Some(built) => built.store(db, false).await?,
                    None => break,
                }
                taken += 1;
            }
            let count = snapshots::rows_since_newest(db, doc, since, layer).await?;
            self.pending.insert(key, count);
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

/// Builds the snapshot of the layer at `seq`; `None` when the layer was pruned past `seq`
/// meanwhile (another node ran the retention).
async fn build_snapshot(
    db: &impl sea_orm::ConnectionTrait,
    doc: &str,
    since: i64,
    layer: &str,
    seq: i64,
) -> Result<Option<snapshots::Built>, DbErr> {
    match snapshots::build(db, doc, since, layer, seq).await {
        Ok(built) => Ok(Some(built)),
        Err(ReplayError::Database(e)) => Err(e),
        Err(ReplayError::Pruned { .. }) => Ok(None),
    }
}

/// Deletes what is older than `cutoff` (µs), keeping every live layer readable from the newest
/// pruned sequence number on (see [`prune_layer`] for `slack`).
pub async fn prune(db: &DatabaseConnection, cutoff: i64, slack: i64) -> Result<(), DbErr> {
    // Events other than record changes carry no state a read needs.
    audit_event::Entity::delete_many()
        .filter(A::At.lt(cutoff))
        .filter(A::Seq.is_null())
        .exec(db)
        .await?;
    // Every layer with old entries, a page at a time in (document, layer) order: a layer whose
    // entries wait (see `prune_layer`) never holds the others back.
    let mut after: Option<(String, String)> = None;
    loop {
        let mut query = audit_event::Entity::find()
            .select_only()
            .column(A::DocumentId)
            .column(A::Layer)
            .filter(A::At.lt(cutoff))
            .filter(A::Seq.is_not_null())
            .filter(A::DocumentId.is_not_null())
            .filter(A::Layer.is_not_null());
        if let Some((doc, layer)) = &after {
            query = query.filter(
                Condition::any().add(A::DocumentId.gt(doc.as_str())).add(
                    Condition::all()
                        .add(A::DocumentId.eq(doc.as_str()))
                        .add(A::Layer.gt(layer.as_str())),
                ),
            );
        }
        let layers: Vec<(String, String)> = query
            .group_by(A::DocumentId)
            .group_by(A::Layer)
            .order_by_asc(A::DocumentId)
            .order_by_asc(A::Layer)
            .limit(PRUNE_PAGE)
            .into_tuple()
            .all(db)
            .await?;
        let full = layers.len() as u64 == PRUNE_PAGE;
        for (doc, layer) in layers {
            prune_one(db, &doc, &layer, cutoff, slack).await?;
            after = Some((doc, layer));
        }
        if !full {
            return Ok(());
        }
    }
}

/// Prunes one layer with entries older than `cutoff`.
async fn prune_one(
    db: &DatabaseConnection,
    doc: &str,
    layer: &str,
    cutoff: i64,
    slack: i64,
) -> Result<(), DbErr> {
    let since = created_at(db, doc).await?;
    // Rows of a deleted document, or of an earlier one under the same id: no read reaches them
    // any more.
    let stale_before = since.map_or(cutoff, |s| s.min(cutoff));
    audit_event::Entity::delete_many()
        .filter(A::DocumentId.eq(doc))
        .filter(A::Layer.eq(layer))
        .filter(A::At.lt(stale_before))
        .exec(db)
        .await?;
    audit_snapshot::Entity::delete_many()
        .filter(audit_snapshot::Column::DocumentId.eq(doc))
        .filter(audit_snapshot::Column::DocumentCreatedAt.ne(since.unwrap_or(-1)))
        .exec(db)
        .await?;
    match since.filter(|&s| s < cutoff) {
        Some(since) => prune_layer(db, doc, since, layer, cutoff, slack).await,
        None => Ok(()),
    }
}

/// Prunes one layer of a live document whose entries up to sequence number T are older than
/// `cutoff`. The prune goes through the newest snapshot at or below T when it is newer than the
/// layer's base: the regular snapshots of a busy layer are reused, at no cost. Without one, a
/// new base snapshot is taken at T, but only once the oldest entry it would remove is `slack`
/// older than the cutoff: an entry outlives the retention by at most `slack` (a tenth of it),
/// and a layer changing slowly but steadily is not snapshotted on every run.
///
/// Everything is read first; then one transaction that only writes marks or stores the base and
/// deletes the entries up to it and the snapshots before it (on SQLite a transaction that reads
/// before it writes can be refused when another writer commits in between). Another node
/// pruning meanwhile leaves the newer of the two bases in force.
async fn prune_layer(
    db: &DatabaseConnection,
    doc: &str,
    since: i64,
    layer: &str,
    cutoff: i64,
    slack: i64,
) -> Result<(), DbErr> {
    use audit_snapshot::Column as S;
    let aged: Option<i64> = audit_event::Entity::find()
        .select_only()
        .column_as(A::Seq.max(), "max")
        .filter(A::DocumentId.eq(doc))
        .filter(A::Layer.eq(layer))
        .filter(A::At.gte(since))
        .filter(A::At.lt(cutoff))
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten();
    let Some(aged) = aged else {
        return Ok(());
    };
    let base = snapshots::base(db, doc, since, layer)
        .await?
        .map_or(0, |b| b.seq);
    let reusable: Option<(i64, i64)> = audit_snapshot::Entity::find()
        .select_only()
        .column(S::Id)
        .column(S::Seq)
        .filter(S::DocumentId.eq(doc))
        .filter(S::DocumentCreatedAt.eq(since))
        .filter(S::Layer.eq(layer))
        .filter(S::Seq.gt(base))
        .filter(S::Seq.lte(aged))
        .order_by_desc(S::Seq)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    let new_base = match reusable {
        Some(_) => None,
        None => {
            let oldest: Option<i64> = audit_event::Entity::find()
                .select_only()
                .column_as(A::At.min(), "min")
                .filter(A::DocumentId.eq(doc))
                .filter(A::Layer.eq(layer))
                .filter(A::At.gte(since))
                .filter(A::Seq.gt(base))
                .into_tuple::<Option<i64>>()
                .one(db)
                .await?
                .flatten();
            if oldest.is_none_or(|at| at >= cutoff.saturating_sub(slack)) {
                return Ok(());
            }
            match build_snapshot(db, doc, since, layer, aged).await? {
                Some(built) => Some(built),
                None => return Ok(()),
            }
        }
    };
    let txn = db.begin().await?;
    let through = match (reusable, new_base) {
        (Some((id, seq)), _) => {
            audit_snapshot::Entity::update_many()
                .col_expr(S::Base, sea_orm::sea_query::Expr::value(true))
                .filter(S::Id.eq(id))
                .exec(&txn)
                .await?;
            seq
        }
        (None, Some(built)) => {
            built.store(&txn, true).await?;
            aged
        }
        (None, None) => return txn.commit().await,
    };
    let rows = audit_event::Entity::delete_many()
        .filter(A::DocumentId.eq(doc))
        .filter(A::Layer.eq(layer))
        .filter(A::At.gte(since))
        .filter(A::Seq.lte(through))
        .exec(&txn)
        .await?
        .rows_affected;
    audit_snapshot::Entity::delete_many()
        .filter(S::DocumentId.eq(doc))
        .filter(S::DocumentCreatedAt.eq(since))
        .filter(S::Layer.eq(layer))
        .filter(S::Seq.lt(through))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!(
        document_id = doc,
        layer,
        through,
        rows,
        "audit history pruned"
    );
    Ok(())
}
