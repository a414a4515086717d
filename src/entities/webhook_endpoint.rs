//! A registered webhook endpoint and its delivery position (see `crate::webhooks`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub url: String,
    /// `whsec_<base64>`: the HMAC key, shown once at registration.
    pub secret: String,
    /// The audit actor that registered it (`api_key:<id>`).
    pub created_by: String,
    pub created_at: i64,
    /// The last event delivered (or skipped at registration): the next is the first above it.
    pub cursor: i64,
    /// Failed attempts at the next event, for the backoff.
    pub failures: i32,
    /// Not before this time (µs) is the next attempt made.
    pub next_attempt_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
