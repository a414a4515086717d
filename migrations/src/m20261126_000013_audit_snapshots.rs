//! Audit snapshots: the records of one layer of one document as of a sequence number, so an
//! `at_seq` read replays only the audit rows after the newest snapshot at or below it, and the
//! audit retention can drop the rows a snapshot covers. Also an index on `audit_events.at` for
//! the retention's range deletes.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000013_audit_snapshots"
    }
}

#[derive(Iden)]
enum AuditSnapshots {
    Table,
    Id,
    DocumentId,
    DocumentCreatedAt,
    Layer,
    Seq,
    Base,
    Records,
    TakenAt,
}

#[derive(Iden)]
enum AuditEvents {
    Table,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditSnapshots::Table)
                    .col(
                        ColumnDef::new(AuditSnapshots::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AuditSnapshots::DocumentId)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditSnapshots::DocumentCreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditSnapshots::Layer)
                            .string_len(256)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditSnapshots::Seq).big_integer().not_null())
                    .col(ColumnDef::new(AuditSnapshots::Base).boolean().not_null())
                    .col(ColumnDef::new(AuditSnapshots::Records).text().not_null())
                    .col(
                        ColumnDef::new(AuditSnapshots::TakenAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_snapshots_layer_seq")
                    .table(AuditSnapshots::Table)
                    .col(AuditSnapshots::DocumentId)
                    .col(AuditSnapshots::Layer)
                    .col(AuditSnapshots::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_events_at")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("audit_events_at")
                    .table(AuditEvents::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(AuditSnapshots::Table).to_owned())
            .await
    }
}
