//! The audit log: an append-only history of who did what (record changes, uploads, deletions,
//! token mints and revocations, API keys). Unlike `changes`, it is never pruned by the change-log
//! retention and has no foreign key: the history of a deleted document outlives it.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000011_audit"
    }
}

#[derive(Iden)]
enum AuditEvents {
    Table,
    Id,
    DocumentId,
    At,
    Kind,
    Actor,
    ActorName,
    Seq,
    Layer,
    RecordId,
    RecordKind,
    Content,
    Creator,
    CreatorName,
    CreatorGroup,
    CreatedAt,
    Detail,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(
                        ColumnDef::new(AuditEvents::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::DocumentId)
                            .string_len(128)
                            .null(),
                    )
                    .col(ColumnDef::new(AuditEvents::At).big_integer().not_null())
                    .col(ColumnDef::new(AuditEvents::Kind).string_len(32).not_null())
                    .col(
                        ColumnDef::new(AuditEvents::Actor)
                            .string_len(300)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::ActorName)
                            .string_len(256)
                            .null(),
                    )
                    .col(ColumnDef::new(AuditEvents::Seq).big_integer().null())
                    .col(ColumnDef::new(AuditEvents::Layer).string_len(256).null())
                    .col(ColumnDef::new(AuditEvents::RecordId).string_len(128).null())
                    .col(
                        ColumnDef::new(AuditEvents::RecordKind)
                            .string_len(32)
                            .null(),
                    )
                    .col(ColumnDef::new(AuditEvents::Content).text().null())
                    .col(ColumnDef::new(AuditEvents::Creator).string_len(256).null())
                    .col(
                        ColumnDef::new(AuditEvents::CreatorName)
                            .string_len(256)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::CreatorGroup)
                            .string_len(256)
                            .null(),
                    )
                    .col(ColumnDef::new(AuditEvents::CreatedAt).big_integer().null())
                    .col(ColumnDef::new(AuditEvents::Detail).text().null())
                    .to_owned(),
            )
            .await?;
        // History pages of one document, and replays of one layer up to a sequence number.
        manager
            .create_index(
                Index::create()
                    .name("audit_events_document")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::DocumentId)
                    .col(AuditEvents::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_events_layer_seq")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::DocumentId)
                    .col(AuditEvents::Layer)
                    .col(AuditEvents::Seq)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditEvents::Table).to_owned())
            .await
    }
}
