//! Commit pacing: a busy document commits at most once per `commit_interval`.
//!
//! Every commit carries fixed costs that do not depend on how many changes it holds: a
//! transaction on the committer, a wake-up of the actor when it returns, and, above all, one
//! message and one socket write per session it fans out to. A document written as fast as its
//! clients can type (a hundred clients, a thousand changes a second) used to commit each change
//! on its own as soon as the previous commit returned, so every session got one write per change.
//! Pacing groups what arrives within an interval into one commit and one write per session.
//!
//! The rule ([`crate::time_util::pace`], unit-tested there):
//!
//! - a commit starting at least `interval` after the previous one started goes at once: a
//!   document that was quiet pays no latency at all (one user typing, a backend import);
//! - a commit that would start sooner waits until `interval` has passed since the previous one
//!   started, and takes everything that arrived meanwhile;
//! - a commit that took longer than the interval is followed at once (it paced itself);
//! - an interval of zero turns pacing off.
//!
//! While a commit waits nothing else waits for it: joins, reads and presence go on, since no
//! commit is in flight. The wait is bounded by the interval, and the pending queue keeps its
//! bounds (`busy` past them).

use std::time::Instant;

use actix::prelude::*;

use super::DocumentActor;
use crate::time_util::pace;

impl DocumentActor {
    /// Whether the next commit must wait for its turn; if so, a timer starts it when due (one
    /// timer at a time).
    pub(super) fn must_wait_for_pace(&mut self, ctx: &mut Context<Self>) -> bool {
        if self.pace_timer {
            return true;
        }
        let Some(wait) = pace(
            self.last_commit_start,
            Instant::now(),
            self.config.commit_interval,
        ) else {
            return false;
        };
        self.pace_timer = true;
        ctx.run_later(wait, |act, ctx| {
            act.pace_timer = false;
            act.start_commit(ctx);
        });
        true
    }

    /// Records that a commit starts now, for the next one's pace.
    pub(super) fn commit_starts(&mut self) {
        self.last_commit_start = Some(Instant::now());
    }
}
