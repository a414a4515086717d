//! One annotation, comment, form-field value or bookmark in a document's layer.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub document_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub layer: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub kind: String,
    /// The record's JSON content, stored as text so both databases treat it alike.
    pub content: String,
    pub creator: String,
    pub creator_group: Option<String>,
    pub creator_name: Option<String>,
    /// Sequence number of the record's last change.
    pub seq: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
