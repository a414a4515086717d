//! One metered client session open. Kept after its document is deleted: it is billing data.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub document_id: Option<String>,
    pub app_document_id: Option<String>,
    pub user_id: String,
    pub revocation_id: String,
    /// UTC day of the open, `YYYY-MM-DD`: grouping by it is portable across databases.
    pub day: String,
    pub opened_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
