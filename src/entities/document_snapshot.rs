//! A document's stored snapshot: every record at one head, for a fast open
//! (see `crate::store::snapshot`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "document_snapshots")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub document_id: String,
    /// The document's head when the snapshot was taken: it is used only while the head is
    /// still this.
    pub head_seq: i64,
    /// The layout of `layers` (`crate::store::snapshot::FORMAT`).
    pub format: i32,
    /// Every layer's records: a JSON object from layer name to the layer's record list, as a
    /// welcome sends it, compressed (`crate::store::snapshot::pack`).
    pub layers: Vec<u8>,
    pub taken_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
