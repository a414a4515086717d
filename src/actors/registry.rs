//! `DocumentRegistry`: hands out the `DocumentActor` of a document id, starting it on first use
//! on one of the document arbiters (threads), and forgets it when it stops.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::db::Databases;
use actix::prelude::*;

use super::document::{CatchUp, CloseAll, DocumentActor, DocumentConfig, RemotePresence, Revoked};
use crate::wire::common::CloseReason;

/// Asks for the actor of a document, starting it if needed. The actor may turn out to be
/// stopping: a caller whose message then fails with a mailbox error asks again.
#[derive(Message)]
#[rtype(result = "Addr<DocumentActor>")]
pub struct Lookup {
    pub document_id: String,
}

/// Sent by a document actor when it has stopped.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stopped {
    pub document_id: String,
    pub instance: u64,
}

/// Closes a document's live sessions (it is being deleted); answered once they are closed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseDocument {
    pub document_id: String,
    pub reason: CloseReason,
}

/// Closes every live session holding one of these revoked token ids.
#[derive(Message)]
#[rtype(result = "()")]
pub struct BroadcastRevoked(pub Arc<HashSet<String>>);

/// Another node moved a document's head: the actor for it on this node, if any, catches up.
/// `None` for every document: hints may have been lost (the listener reconnected).
#[derive(Message)]
#[rtype(result = "()")]
pub struct HeadMoved(pub Option<(String, i64)>);

/// Another node's presence change for a document: the actor for it on this node, if any,
/// relays it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PresenceFrom(pub String, pub RemotePresence);

/// How long a shutdown waits for documents to store their snapshots
/// (`document/closing.rs`): at most this much longer than it took before they were stored.
pub const SHUTDOWN_SNAPSHOTS: std::time::Duration = std::time::Duration::from_secs(5);

/// Closes every session on this node (shutdown); answered once every document has stopped.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown(pub CloseReason);

/// The registry. See the module documentation.
pub struct DocumentRegistry {
    db: Databases,
    config: DocumentConfig,
    arbiters: Vec<ArbiterHandle>,
    documents: HashMap<String, (u64, Addr<DocumentActor>)>,
    next_instance: u64,
    bus: Arc<dyn crate::bus::Bus>,
}

impl DocumentRegistry {
    /// `arbiters` are the threads document actors run on, picked by a hash of the document id.
    pub fn new(
        db: Databases,
        config: DocumentConfig,
        arbiters: Vec<ArbiterHandle>,
    ) -> DocumentRegistry {
        DocumentRegistry {
            db,
            config,
            arbiters,
            documents: HashMap::new(),
            next_instance: 0,
            bus: Arc::new(crate::bus::NoBus),
        }
    }

    /// Document actors share presence with other nodes through `bus`.
    pub fn with_bus(mut self, bus: Arc<dyn crate::bus::Bus>) -> DocumentRegistry {
        self.bus = bus;
        self
    }

    fn arbiter_for(&self, id: &str) -> &ArbiterHandle {
        let hash = id
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
        &self.arbiters[(hash % self.arbiters.len() as u64) as usize]
    }
}

impl Actor for DocumentRegistry {
    type Context = Context<Self>;
}

/// The actor of a document if it is open on this node; never starts one (a listing must not
/// load a document).
#[derive(Message)]
#[rtype(result = "Option<Addr<DocumentActor>>")]
pub struct FindOpen {
    pub document_id: String,
}

impl Handler<FindOpen> for DocumentRegistry {
    type Result = MessageResult<FindOpen>;

    fn handle(&mut self, msg: FindOpen, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.documents
                .get(&msg.document_id)
                .map(|(_, addr)| addr.clone())
                .filter(Addr::connected),
        )
    }
}

impl Handler<Lookup> for DocumentRegistry {
    type Result = MessageResult<Lookup>;

    fn handle(&mut self, msg: Lookup, ctx: &mut Context<Self>) -> Self::Result {
        if let Some((_, addr)) = self.documents.get(&msg.document_id) {
            if addr.connected() {
                return MessageResult(addr.clone());
            }
        }
        self.next_instance += 1;
        let instance = self.next_instance;
        let (id, db, registry, config, bus) = (
            msg.document_id.clone(),
            self.db.clone(),
            ctx.address(),
            self.config.clone(),
            self.bus.clone(),
        );
        let addr = DocumentActor::start_in_arbiter(self.arbiter_for(&msg.document_id), move |_| {
            DocumentActor::new(id, instance, db, registry, config).with_bus(bus)
        });
        self.documents
            .insert(msg.document_id, (instance, addr.clone()));
        MessageResult(addr)
    }
}

impl Handler<Stopped> for DocumentRegistry {
    type Result = ();

    fn handle(&mut self, msg: Stopped, _: &mut Context<Self>) {
        if self
            .documents
            .get(&msg.document_id)
            .is_some_and(|(i, _)| *i == msg.instance)
        {
            self.documents.remove(&msg.document_id);
        }
    }
}

impl Handler<CloseDocument> for DocumentRegistry {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: CloseDocument, _: &mut Context<Self>) -> Self::Result {
        let addr = self.documents.remove(&msg.document_id).map(|(_, a)| a);
        Box::pin(async move {
            if let Some(addr) = addr {
                let _ = addr
                    .send(CloseAll {
                        reason: msg.reason,
                        snapshot_by: None,
                    })
                    .await;
            }
        })
    }
}

impl Handler<BroadcastRevoked> for DocumentRegistry {
    type Result = ();

    fn handle(&mut self, msg: BroadcastRevoked, _: &mut Context<Self>) {
        for (_, addr) in self.documents.values() {
            addr.do_send(Revoked(msg.0.clone()));
        }
    }
}

impl Handler<HeadMoved> for DocumentRegistry {
    type Result = ();

    fn handle(&mut self, msg: HeadMoved, _: &mut Context<Self>) {
        match msg.0 {
            Some((id, head)) => {
                if let Some((_, addr)) = self.documents.get(&id) {
                    addr.do_send(CatchUp(Some(head)));
                }
            }
            None => {
                for (_, addr) in self.documents.values() {
                    addr.do_send(CatchUp(None));
                }
            }
        }
    }
}

impl Handler<PresenceFrom> for DocumentRegistry {
    type Result = ();

    fn handle(&mut self, msg: PresenceFrom, _: &mut Context<Self>) {
        if let Some((_, addr)) = self.documents.get(&msg.0) {
            addr.do_send(msg.1);
        }
    }
}

impl Handler<Shutdown> for DocumentRegistry {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: Shutdown, _: &mut Context<Self>) -> Self::Result {
        let addrs: Vec<_> = self.documents.drain().map(|(_, (_, a))| a).collect();
        // Every document at once: each closes its sessions first, then stores its snapshot if
        // one is due, all by one deadline.
        let snapshot_by = Some(std::time::Instant::now() + SHUTDOWN_SNAPSHOTS);
        Box::pin(async move {
            futures_util::future::join_all(addrs.into_iter().map(|addr| {
                addr.send(CloseAll {
                    reason: msg.0.clone(),
                    snapshot_by,
                })
            }))
            .await;
        })
    }
}

/// Asks the registry for a document's actor and sends it `msg`, retrying when the actor it got
/// was stopping (its mailbox closed between lookup and send). Returns the actor and its answer.
pub async fn send_to_document<M>(
    registry: &Addr<DocumentRegistry>,
    document_id: &str,
    msg: impl Fn() -> M,
) -> Result<(Addr<DocumentActor>, M::Result), MailboxError>
where
    M: Message + Send + 'static,
    M::Result: Send,
    DocumentActor: Handler<M>,
{
    let mut last = MailboxError::Closed;
    for _ in 0..5 {
        let addr = registry
            .send(Lookup {
                document_id: document_id.to_string(),
            })
            .await?;
        match addr.send(msg()).await {
            Ok(res) => return Ok((addr, res)),
            Err(e) => last = e,
        }
    }
    Err(last)
}
