//! Webhooks: registered endpoints, the outbox of events (written in the transaction of the
//! change they describe), and every delivery attempt.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000012_webhooks"
    }
}

#[derive(Iden)]
enum WebhookEndpoints {
    Table,
    Id,
    Url,
    Secret,
    CreatedBy,
    CreatedAt,
    Cursor,
    Failures,
    NextAttemptAt,
}

#[derive(Iden)]
enum WebhookEvents {
    Table,
    Id,
    Kind,
    DocumentId,
    Payload,
    CreatedAt,
}

#[derive(Iden)]
enum WebhookAttempts {
    Table,
    Id,
    EndpointId,
    EventId,
    At,
    Status,
    Error,
    Delivered,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .col(
                        ColumnDef::new(WebhookEndpoints::Id)
                            .string_len(32)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(WebhookEndpoints::Url)
                            .string_len(2048)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookEndpoints::Secret)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookEndpoints::CreatedBy)
                            .string_len(300)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookEndpoints::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookEndpoints::Cursor)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookEndpoints::Failures)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookEndpoints::NextAttemptAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookEvents::Table)
                    .col(
                        ColumnDef::new(WebhookEvents::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(WebhookEvents::Kind)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookEvents::DocumentId)
                            .string_len(128)
                            .null(),
                    )
                    .col(ColumnDef::new(WebhookEvents::Payload).text().not_null())
                    .col(
                        ColumnDef::new(WebhookEvents::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookAttempts::Table)
                    .col(
                        ColumnDef::new(WebhookAttempts::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(WebhookAttempts::EndpointId)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookAttempts::EventId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(WebhookAttempts::At).big_integer().not_null())
                    .col(ColumnDef::new(WebhookAttempts::Status).integer().null())
                    .col(
                        ColumnDef::new(WebhookAttempts::Error)
                            .string_len(512)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(WebhookAttempts::Delivered)
                            .boolean()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_attempts_endpoint")
                    .table(WebhookAttempts::Table)
                    .col(WebhookAttempts::EndpointId)
                    .col(WebhookAttempts::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            WebhookAttempts::Table.into_iden(),
            WebhookEvents::Table.into_iden(),
            WebhookEndpoints::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
