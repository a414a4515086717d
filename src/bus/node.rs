//! What this node does with the hints it hears: wakes the document actors it hosts, closes
//! sessions of deleted documents and of revoked tokens, forgets cached verifications.

use std::collections::HashSet;
use std::sync::Arc;

use actix::Addr;

use super::{Hint, Receiver};
use crate::actors::document::RemotePresence;
use crate::actors::registry::{
    BroadcastRevoked, CloseDocument, DocumentRegistry, HeadMoved, PresenceFrom,
};
use crate::auth::Authenticator;
use crate::wire::common::{CloseCode, CloseReason};

pub struct NodeReceiver {
    pub registry: Addr<DocumentRegistry>,
    pub authenticator: Authenticator,
}

impl Receiver for NodeReceiver {
    fn hint(&self, hint: Hint) {
        match hint {
            Hint::Head { d, h } => self.registry.do_send(HeadMoved(Some((d, h)))),
            Hint::Deleted { d } => {
                let reason = CloseReason::new(
                    CloseCode::DocumentDeleted,
                    format!("document `{d}` was deleted"),
                );
                self.registry.do_send(CloseDocument {
                    document_id: d,
                    reason,
                });
            }
            Hint::Presence { d, s, u, un, e, st } => self.registry.do_send(PresenceFrom(
                d,
                RemotePresence {
                    session: s,
                    user_id: u,
                    user_name: un,
                    kind: e,
                    state: st.and_then(|v| serde_json::value::to_raw_value(&v).ok()),
                },
            )),
            Hint::Revoked { r } => {
                let ids = Arc::new(r.into_iter().collect::<HashSet<_>>());
                self.authenticator.forget_revoked(&ids);
                self.registry.do_send(BroadcastRevoked(ids));
            }
        }
    }

    fn resync(&self) {
        self.registry.do_send(HeadMoved(None));
    }
}
