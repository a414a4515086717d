//! Actors: one `DocumentActor` per open document (the only writer of its state on this node),
//! one `SessionActor` per WebSocket, and the `DocumentRegistry` that connects them.

pub mod document;
pub mod outbox;
pub mod registry;
pub mod session;
pub mod state;
