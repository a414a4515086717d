//! sea-orm entities, one file per table. The schema itself is defined by the `migrations` crate.

pub mod api_key;
pub mod audit_event;
pub mod audit_snapshot;
pub mod change;
pub mod document;
pub mod document_snapshot;
pub mod page_geometry;
pub mod record;
pub mod revocation;
pub mod usage_event;
pub mod webhook_attempt;
pub mod webhook_endpoint;
pub mod webhook_event;
