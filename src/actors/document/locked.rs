//! Committing a contended document under its sequence row's lock.
//!
//! When several nodes write one document, the optimistic group commit makes them race for its
//! sequence row, and the losers retry (see `store/locked.rs` for why that does not scale).
//! Once a document has lost a race, or has seen another node's changes, it is *contended* for
//! [`CONTENDED_FOR`]: each commit then locks the row first, applies what the other nodes
//! committed (read inside the same transaction), validates the pending changes against that,
//! and writes them before the lock is released. Nodes take turns instead of racing. A document
//! written by one node only goes back to the cheaper grouped commits once the period passes.
//!
//! Only on PostgreSQL: on SQLite there is one node, so nothing ever races.

use std::time::{Duration, Instant};

use actix::prelude::*;
use sea_orm::ConnectionTrait;

use super::commit::CATCH_UP_CHUNK;
use super::{DocumentActor, Phase};
use crate::store::{self, CommitError, Missed};

/// How long a document commits under the lock after the last sign of another writer.
pub(super) const CONTENDED_FOR: Duration = Duration::from_secs(10);

impl DocumentActor {
    /// Whether this document's commits take the sequence row's lock first.
    pub(super) fn contended(&self) -> bool {
        self.contended_until.is_some_and(|t| t > Instant::now())
    }

    /// Another writer commits to this document too: commit under the lock for a while.
    pub(super) fn mark_contended(&mut self) {
        if self.db.main.get_database_backend() == sea_orm::DbBackend::Postgres {
            self.contended_until = Some(Instant::now() + CONTENDED_FOR);
        }
    }

    /// Locks the sequence row, catches up inside the lock, applies the pending changes and
    /// commits them in the same transaction. Holds the actor as a commit does.
    pub(super) fn commit_under_lock(&mut self, ctx: &mut Context<Self>) {
        let Some(after) = self.head() else {
            return;
        };
        self.committing = true;
        let target = self.hinted_head;
        let (db, id) = (self.db.main.clone(), self.id.clone());
        ctx.spawn(
            async move { store::lock_head(&db, &id, after, CATCH_UP_CHUNK).await }
                .into_actor(self)
                .map(move |res, act, ctx| match res {
                    Err(e) => {
                        // The database is away (or the lock did not come in time): the pending
                        // changes fail exactly as a failed commit's do (`unavailable`).
                        tracing::warn!(document_id = %act.id, error = %e, "locking the document for a commit failed");
                        match act.apply_pending() {
                            Some((batch, applied)) => act.committed(
                                ctx,
                                batch,
                                Err(CommitError::Unavailable(e)),
                                applied,
                            ),
                            None => act.settle(ctx),
                        }
                    }
                    Ok((locked, missed)) => act.locked(ctx, locked, missed, target),
                }),
        );
    }

    /// The row is locked: applies what others committed, then this node's batch.
    fn locked(
        &mut self,
        ctx: &mut Context<Self>,
        locked: store::LockedHead,
        missed: Missed,
        target: i64,
    ) {
        if !self.absorb_missed(ctx, missed, target) {
            return;
        }
        let behind = match &self.phase {
            Phase::Ready(state) => self.hinted_head > state.head_seq,
            _ => true,
        };
        if behind {
            // More was committed than one read takes: catch up first (`settle` does), then
            // lock again.
            drop(locked);
            self.settle(ctx);
            return;
        }
        let Some((batch, applied)) = self.apply_pending() else {
            drop(locked);
            self.settle(ctx);
            return;
        };
        let now = applied.now();
        ctx.spawn(
            async move { store::commit_locked(locked, batch, now).await }
                .into_actor(self)
                .map(move |(batch, res), act, ctx| act.committed(ctx, batch, res, applied)),
        );
    }
}
