//! One entry of the audit log (append-only; see `crate::audit`). Record changes fill the record
//! columns (enough to replay a layer); other events describe themselves in `detail` (JSON).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    /// Increases with every entry: the order of the log and the history's page cursor.
    #[sea_orm(primary_key)]
    pub id: i64,
    pub document_id: Option<String>,
    /// When it happened (µs since the epoch).
    pub at: i64,
    /// `record.create`, `record.update`, `record.delete`, `document.upload`,
    /// `document.delete`, `token.mint`, `token.revoke`, `api_key.create`, `api_key.revoke`.
    pub kind: String,
    /// The user id of a session's change, `api_key:<id>` for a backend call (`api_key:bootstrap`
    /// for the configured key), or `cli` for the command line.
    pub actor: String,
    pub actor_name: Option<String>,
    pub seq: Option<i64>,
    pub layer: Option<String>,
    pub record_id: Option<String>,
    pub record_kind: Option<String>,
    /// The record's content after the change; absent for deletes.
    pub content: Option<String>,
    pub creator: Option<String>,
    pub creator_name: Option<String>,
    pub creator_group: Option<String>,
    pub created_at: Option<i64>,
    pub detail: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
