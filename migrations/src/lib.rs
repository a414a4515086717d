//! Schema migrations for Quire, run at server start-up (`Migrator::up`).
//!
//! Every table is created through sea-query so the same migration runs on SQLite (the embedded
//! default) and PostgreSQL (production). Timestamps are stored as `BIGINT` microseconds since the
//! Unix epoch: portable, totally ordered, and free of time-zone surprises in either database.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_init;
mod m20261125_000002_live;
mod m20261126_000003_page_geometry;
mod m20261126_000011_audit;
mod m20261126_000012_webhooks;
mod m20261126_000013_audit_snapshots;
mod m20261127_000014_document_snapshots;

/// The ordered list of Quire's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_init::Migration),
            Box::new(m20261125_000002_live::Migration),
            Box::new(m20261126_000003_page_geometry::Migration),
            Box::new(m20261126_000011_audit::Migration),
            Box::new(m20261126_000012_webhooks::Migration),
            Box::new(m20261126_000013_audit_snapshots::Migration),
            Box::new(m20261127_000014_document_snapshots::Migration),
        ]
    }
}
