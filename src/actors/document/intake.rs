//! How changes come in: from a session (`Submit`) or from the backend (`BackendSubmit`, and
//! `BackendSubmitAll` for all-or-nothing imports). Each is queued for the next commit, or
//! refused as `busy` when the document's queue is full.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::{
    BackendSubmit, BackendSubmitAll, DocumentActor, DocumentError, Origin, Outgoing, Pending,
    Submit,
};
use crate::actors::state::reject_all;
use crate::wire::client::ChangeRequest;
use crate::wire::common::RejectCode;
use crate::wire::server::{text, Outcome};

/// The answer to changes that do not fit in the document's queue: `busy` for each, counted.
fn busy(changes: &[ChangeRequest]) -> Vec<Outcome> {
    let outcomes = reject_all(
        changes,
        RejectCode::Busy,
        "the document has too many changes waiting to be committed; retry after a moment",
    );
    crate::metrics::get().count_outcomes(&outcomes);
    outcomes
}

impl Handler<Submit> for DocumentActor {
    type Result = ();
    fn handle(&mut self, msg: Submit, ctx: &mut Context<Self>) {
        let Some(session) = self.sessions.get(&msg.session_id) else {
            return;
        };
        let pending = Pending {
            origin: Origin::Session(msg.session_id),
            access: session.peer.access.clone(),
            layer: session.peer.layer.clone(),
            changes: msg.changes,
            attempts: 0,
            group: None,
        };
        if let Err(refused) = self.enqueue(pending) {
            let outcomes = busy(&refused.changes);
            for o in outcomes {
                self.send(msg.session_id, Outgoing::Text(text(&o)));
            }
            return;
        }
        self.start_commit(ctx);
    }
}

impl Handler<BackendSubmit> for DocumentActor {
    type Result = ResponseFuture<Result<Vec<Outcome>, DocumentError>>;
    fn handle(&mut self, msg: BackendSubmit, ctx: &mut Context<Self>) -> Self::Result {
        if self.head().is_none() {
            let id = self.id.clone();
            return Box::pin(async move { Err(DocumentError::NotFound(id)) });
        }
        let (tx, rx) = oneshot::channel();
        let pending = Pending {
            origin: Origin::Backend(tx),
            access: Arc::new(msg.access),
            layer: msg.layer,
            changes: msg.changes,
            attempts: 0,
            group: None,
        };
        if let Err(refused) = self.enqueue(pending) {
            let outcomes = busy(&refused.changes);
            return Box::pin(async move { Ok(outcomes) });
        }
        self.start_commit(ctx);
        Box::pin(async move { rx.await.map_err(|_| DocumentError::Unavailable) })
    }
}

impl Handler<BackendSubmitAll> for DocumentActor {
    type Result = ResponseFuture<Result<Vec<Outcome>, DocumentError>>;
    fn handle(&mut self, msg: BackendSubmitAll, ctx: &mut Context<Self>) -> Self::Result {
        if self.head().is_none() {
            let id = self.id.clone();
            return Box::pin(async move { Err(DocumentError::NotFound(id)) });
        }
        self.next_group += 1;
        let group = self.next_group;
        let mut replies = Vec::new();
        let mut pendings = Vec::new();
        for (access, changes) in msg.batches {
            let (tx, rx) = oneshot::channel();
            replies.push(rx);
            pendings.push(Pending {
                origin: Origin::Backend(tx),
                access: Arc::new(access),
                layer: msg.layer.clone(),
                changes,
                attempts: 0,
                group: Some(group),
            });
        }
        if let Err(refused) = self.enqueue_all(pendings) {
            let outcomes: Vec<Outcome> = refused.iter().flat_map(|p| busy(&p.changes)).collect();
            return Box::pin(async move { Ok(outcomes) });
        }
        self.start_commit(ctx);
        Box::pin(async move {
            let mut all = Vec::new();
            for rx in replies {
                all.extend(rx.await.map_err(|_| DocumentError::Unavailable)?);
            }
            Ok(all)
        })
    }
}
