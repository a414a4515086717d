//! sea-orm entities, one file per table. The schema itself is defined by the `migrations` crate.

pub mod api_key;
pub mod change;
pub mod document;
pub mod page_geometry;
pub mod record;
pub mod revocation;
pub mod usage_event;
