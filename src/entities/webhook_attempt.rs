//! One attempt to deliver an event to an endpoint.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_attempts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub endpoint_id: String,
    pub event_id: i64,
    pub at: i64,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<i32>,
    /// Why the attempt failed when there was no answer (connection refused, timeout).
    pub error: Option<String>,
    pub delivered: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
