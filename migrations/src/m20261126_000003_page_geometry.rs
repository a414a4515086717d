//! Page geometry: every page's MediaBox, CropBox and rotation, so annotation positions convert
//! exactly between Instant JSON, XFDF and PDF user space. One row per document (the pages as a
//! JSON array): the geometry is always read and written whole.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000003_page_geometry"
    }
}

#[derive(Iden)]
enum Documents {
    Table,
    Id,
}

#[derive(Iden)]
enum PageGeometry {
    Table,
    DocumentId,
    Pages,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PageGeometry::Table)
                    .col(
                        ColumnDef::new(PageGeometry::DocumentId)
                            .string_len(128)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(PageGeometry::Pages).text().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("page_geometry_document")
                            .from(PageGeometry::Table, PageGeometry::DocumentId)
                            .to(Documents::Table, Documents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PageGeometry::Table).to_owned())
            .await
    }
}
