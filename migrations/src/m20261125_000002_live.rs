//! Live collaboration: the document's sequence row, record authors' names, and the change log.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000002_live"
    }
}

#[derive(Iden)]
enum Documents {
    Table,
    Id,
    HeadSeq,
}

#[derive(Iden)]
enum Records {
    Table,
    CreatorName,
}

#[derive(Iden)]
enum Changes {
    Table,
    DocumentId,
    Seq,
    Layer,
    RecordId,
    Kind,
    Op,
    Content,
    Author,
    AuthorName,
    Creator,
    CreatorName,
    CreatorGroup,
    CreatedAt,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The sequence row: every commit advances it conditionally (`WHERE head_seq = old`), so
        // the database, not a node's memory, decides the order of changes.
        manager
            .alter_table(
                Table::alter()
                    .table(Documents::Table)
                    .add_column(
                        ColumnDef::new(Documents::HeadSeq)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Records::Table)
                    .add_column(ColumnDef::new(Records::CreatorName).string_len(256).null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Changes::Table)
                    .col(
                        ColumnDef::new(Changes::DocumentId)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Changes::Seq).big_integer().not_null())
                    .col(ColumnDef::new(Changes::Layer).string_len(256).not_null())
                    .col(ColumnDef::new(Changes::RecordId).string_len(128).not_null())
                    .col(ColumnDef::new(Changes::Kind).string_len(32).not_null())
                    .col(ColumnDef::new(Changes::Op).string_len(16).not_null())
                    .col(ColumnDef::new(Changes::Content).text().null())
                    .col(ColumnDef::new(Changes::Author).string_len(256).not_null())
                    .col(ColumnDef::new(Changes::AuthorName).string_len(256).null())
                    .col(ColumnDef::new(Changes::Creator).string_len(256).not_null())
                    .col(ColumnDef::new(Changes::CreatorName).string_len(256).null())
                    .col(ColumnDef::new(Changes::CreatorGroup).string_len(256).null())
                    .col(ColumnDef::new(Changes::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Changes::At).big_integer().not_null())
                    .primary_key(Index::create().col(Changes::DocumentId).col(Changes::Seq))
                    .foreign_key(
                        ForeignKey::create()
                            .name("changes_document")
                            .from(Changes::Table, Changes::DocumentId)
                            .to(Documents::Table, Documents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Changes::Table).to_owned())
            .await
    }
}
