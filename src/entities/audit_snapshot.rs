//! One audit snapshot: a layer's records as of a sequence number (see `crate::audit::snapshots`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_snapshots")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub document_id: String,
    /// The `created_at` of the document (µs) the snapshot belongs to: an id reused after a
    /// delete starts its sequence numbers again.
    pub document_created_at: i64,
    pub layer: String,
    /// The records are those just after this sequence number.
    pub seq: i64,
    /// Whether the audit rows of this layer up to `seq` were pruned: reads before `seq` are
    /// refused.
    pub base: bool,
    /// The records, a JSON array (see `crate::audit::snapshots::Stored`).
    pub records: String,
    pub taken_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
