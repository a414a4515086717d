//! One entry of a document's change log. The log is trimmed to the most recent changes (see
//! `--change-log-retention`); a client asking for older ones gets a snapshot instead.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "changes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub document_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub layer: String,
    pub record_id: String,
    pub kind: String,
    /// `create`, `update` or `delete`.
    pub op: String,
    /// The record's content after the change; absent for deletes.
    pub content: Option<String>,
    pub author: String,
    pub author_name: Option<String>,
    pub creator: String,
    pub creator_name: Option<String>,
    pub creator_group: Option<String>,
    /// When the record was created.
    pub created_at: i64,
    /// When this change was committed.
    pub at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
