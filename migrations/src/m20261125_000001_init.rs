//! Managed documents, their records, API keys, token revocations and usage events.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000001_init"
    }
}

#[derive(Iden)]
enum Documents {
    Table,
    Id,
    Title,
    Sha256,
    ByteSize,
    PageCount,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum Records {
    Table,
    DocumentId,
    Layer,
    Id,
    Kind,
    Content,
    Creator,
    CreatorGroup,
    Seq,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum ApiKeys {
    Table,
    Id,
    Name,
    SecretHash,
    CreatedAt,
    RevokedAt,
}

#[derive(Iden)]
enum Revocations {
    Table,
    RevocationId,
    RevokedAt,
}

#[derive(Iden)]
enum UsageEvents {
    Table,
    Id,
    DocumentId,
    AppDocumentId,
    UserId,
    RevocationId,
    Day,
    OpenedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Documents::Table)
                    .col(
                        ColumnDef::new(Documents::Id)
                            .string_len(128)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Documents::Title).string_len(512).null())
                    .col(ColumnDef::new(Documents::Sha256).string_len(64).not_null())
                    .col(ColumnDef::new(Documents::ByteSize).big_integer().not_null())
                    .col(ColumnDef::new(Documents::PageCount).integer().not_null())
                    .col(
                        ColumnDef::new(Documents::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Documents::UpdatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("documents_created")
                    .table(Documents::Table)
                    .col(Documents::CreatedAt)
                    .col(Documents::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("documents_sha256")
                    .table(Documents::Table)
                    .col(Documents::Sha256)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Records::Table)
                    .col(
                        ColumnDef::new(Records::DocumentId)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Records::Layer).string_len(128).not_null())
                    .col(ColumnDef::new(Records::Id).string_len(128).not_null())
                    .col(ColumnDef::new(Records::Kind).string_len(32).not_null())
                    .col(ColumnDef::new(Records::Content).text().not_null())
                    .col(ColumnDef::new(Records::Creator).string_len(256).not_null())
                    .col(ColumnDef::new(Records::CreatorGroup).string_len(256).null())
                    .col(ColumnDef::new(Records::Seq).big_integer().not_null())
                    .col(ColumnDef::new(Records::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Records::UpdatedAt).big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(Records::DocumentId)
                            .col(Records::Layer)
                            .col(Records::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("records_document")
                            .from(Records::Table, Records::DocumentId)
                            .to(Documents::Table, Documents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(
                        ColumnDef::new(ApiKeys::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ApiKeys::Name).string_len(256).not_null())
                    .col(
                        ColumnDef::new(ApiKeys::SecretHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ApiKeys::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(ApiKeys::RevokedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Revocations::Table)
                    .col(
                        ColumnDef::new(Revocations::RevocationId)
                            .string_len(256)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Revocations::RevokedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(UsageEvents::Table)
                    .col(
                        ColumnDef::new(UsageEvents::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(UsageEvents::DocumentId)
                            .string_len(128)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(UsageEvents::AppDocumentId)
                            .string_len(128)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(UsageEvents::UserId)
                            .string_len(256)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UsageEvents::RevocationId)
                            .string_len(256)
                            .not_null(),
                    )
                    .col(ColumnDef::new(UsageEvents::Day).string_len(10).not_null())
                    .col(
                        ColumnDef::new(UsageEvents::OpenedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("usage_events_day")
                    .table(UsageEvents::Table)
                    .col(UsageEvents::Day)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            UsageEvents::Table.into_iden(),
            Revocations::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            Records::Table.into_iden(),
            Documents::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
