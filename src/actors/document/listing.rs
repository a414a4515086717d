//! Who is on a document now: its sessions on this node and those other nodes announced, for the
//! dashboard and for operators (`GET /api/documents/{id}/sessions`).

use actix::prelude::*;

use super::{DocumentActor, Stage};
use crate::wire::rest::LiveSession;
use crate::wire::server::session_label;

/// Lists the document's live sessions. Answered from memory, at once.
#[derive(Message)]
#[rtype(result = "Vec<LiveSession>")]
pub struct ListSessions;

impl Handler<ListSessions> for DocumentActor {
    type Result = MessageResult<ListSessions>;

    fn handle(&mut self, _: ListSessions, _: &mut Context<Self>) -> Self::Result {
        let mut list: Vec<LiveSession> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.stage != Stage::Registered)
            .map(|(id, s)| LiveSession {
                session_id: session_label(*id),
                user_id: s.peer.access.user_id.clone(),
                user_name: s.peer.access.user_name.clone(),
                layer: Some(s.peer.layer.clone()),
                node: "this",
            })
            .collect();
        list.extend(self.remote.iter().map(|(session_id, peer)| {
            let (user_id, user_name) = peer.who();
            LiveSession {
                session_id: session_id.clone(),
                user_id: user_id.to_string(),
                user_name: user_name.map(str::to_string),
                layer: None,
                node: "other",
            }
        }));
        list.sort_by(|a, b| (&a.user_id, &a.session_id).cmp(&(&b.user_id, &b.session_id)));
        MessageResult(list)
    }
}
