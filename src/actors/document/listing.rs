//! Who is on a document now: its sessions on this node and those other nodes announced, for the
//! dashboard and for operators (`GET /api/documents/{id}/sessions`).

use actix::prelude::*;
use serde::Serialize;

use super::{DocumentActor, Stage};
use crate::actors::views::session_label;

/// Lists the document's live sessions. Answered from memory, at once.
#[derive(Message)]
#[rtype(result = "Vec<LiveSession>")]
pub struct ListSessions;

/// One live session of a document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LiveSession {
    /// The session id its peers see in presence messages.
    pub session_id: String,
    pub user_id: String,
    pub user_name: Option<String>,
    /// The session's layer; `null` for sessions on other nodes (they announce no layer).
    pub layer: Option<String>,
    /// `this` for this node, `other` for a session another node announced.
    pub node: &'static str,
}

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
