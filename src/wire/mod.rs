//! Every type that crosses the wire, in one place: the live protocol's messages in both
//! directions and the REST API's request and response bodies.
//!
//! - [`client`]: what a client sends on the socket, and the one parser that reads it;
//! - [`server`]: what the server sends on the socket (welcome, change, ack, reject, presence,
//!   error), typed structs serialised once per message and shared by every session it goes to;
//! - [`common`]: what both directions and the REST API share (ops, kinds, records, reject and
//!   close codes);
//! - [`rest`]: the REST bodies the handlers in `crate::http` read and write;
//! - [`schema`]: the JSON Schema of the socket messages (`GET /api/protocol.schema.json`,
//!   committed as `docs/protocol.schema.json`), generated from the types here.
//!
//! Keeping them together is what lets the schemas (OpenAPI for REST, JSON Schema for the
//! socket) be generated from the code, and the web client's TypeScript types from the schemas,
//! so that no description of the wire is kept by hand. Wire bytes are fixed by these types:
//! changing a field here changes the protocol (docs/protocol.md, docs/api.md).

pub mod client;
pub mod common;
pub mod rest;
pub mod schema;
pub mod server;
