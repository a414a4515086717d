//! Document snapshots: a large document's records at its head, stored when its actor closes
//! (idle, or the server shutting down), so that the next open reads one row instead of every
//! record and sends its welcome from the stored list as it is. A snapshot is used only while
//! the document's head is still the one it was taken at.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000014_document_snapshots"
    }
}

#[derive(Iden)]
enum DocumentSnapshots {
    Table,
    DocumentId,
    HeadSeq,
    Format,
    Layers,
    TakenAt,
}

#[derive(Iden)]
enum Documents {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DocumentSnapshots::Table)
                    .col(
                        ColumnDef::new(DocumentSnapshots::DocumentId)
                            .string_len(128)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(DocumentSnapshots::HeadSeq)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DocumentSnapshots::Format)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(DocumentSnapshots::Layers).blob().not_null())
                    .col(
                        ColumnDef::new(DocumentSnapshots::TakenAt)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("document_snapshots_document")
                            .from(DocumentSnapshots::Table, DocumentSnapshots::DocumentId)
                            .to(Documents::Table, Documents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DocumentSnapshots::Table).to_owned())
            .await
    }
}
