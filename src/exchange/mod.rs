//! Exchange formats and exports: page geometry, layers, Instant JSON, XFDF.
//!
//! Conversions are pure functions ([`geometry`], [`instant_json`]); this module holds the few
//! services around them that touch storage (recording and reading page geometry).

pub mod appearance;
pub mod geometry;
pub mod instant_json;
pub mod layers;
pub mod pdf_annots;
pub mod pdf_export;
pub mod pdf_import;
pub mod xfdf;
pub mod xml;

use sea_orm::{DatabaseConnection, EntityTrait, Set};

use crate::entities::{document, page_geometry};
use crate::state::AppState;
use geometry::PageGeometry;

/// Why an exchange operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Blob(#[from] crate::blobs::Error),
    #[error(transparent)]
    Pdf(#[from] crate::pdf::Error),
    #[error("reading the stored document: {0}")]
    Io(#[from] std::io::Error),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Document(#[from] crate::actors::document::DocumentError),
    #[error("the document is reopening; retry")]
    Unavailable,
}

/// Records `pages` as `document_id`'s geometry (replacing any earlier record).
pub async fn save_geometry(
    db: &DatabaseConnection,
    document_id: &str,
    pages: &[PageGeometry],
) -> Result<(), Error> {
    let json = serde_json::to_string(pages).map_err(|e| Error::Corrupt(e.to_string()))?;
    let row = page_geometry::ActiveModel {
        document_id: Set(document_id.to_string()),
        pages: Set(json),
    };
    page_geometry::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(page_geometry::Column::DocumentId)
                .update_column(page_geometry::Column::Pages)
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// The recorded geometry of `document_id`, if any.
pub async fn stored_geometry(
    db: &DatabaseConnection,
    document_id: &str,
) -> Result<Option<Vec<PageGeometry>>, Error> {
    match page_geometry::Entity::find_by_id(document_id.to_string())
        .one(db)
        .await?
    {
        Some(row) => serde_json::from_str(&row.pages)
            .map(Some)
            .map_err(|e| Error::Corrupt(e.to_string())),
        None => Ok(None),
    }
}

/// `doc`'s page geometry: as recorded at upload, or — for documents uploaded before Quire
/// recorded it — read now from the stored bytes by the sandboxed parser (same memory, time and
/// concurrency bounds as an upload) and recorded for next time.
pub async fn geometry(state: &AppState, doc: &document::Model) -> Result<Vec<PageGeometry>, Error> {
    if let Some(pages) = stored_geometry(&state.db, &doc.id).await? {
        if !pages.is_empty() {
            return Ok(pages);
        }
    }
    let file = fetch_to_temp(state, doc).await?;
    let info = state.intake.inspector.inspect_file(file.path()).await?;
    save_geometry(&state.db, &doc.id, &info.pages).await?;
    tracing::info!(document_id = %doc.id, pages = info.pages.len(), "page geometry recorded on first use");
    Ok(info.pages)
}

/// Copies `doc`'s stored bytes into a temporary file in the spool directory (removed on drop).
pub async fn fetch_to_temp(
    state: &AppState,
    doc: &document::Model,
) -> Result<tempfile::NamedTempFile, Error> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let file = tempfile::NamedTempFile::new_in(&state.intake.spool_dir)?;
    let mut out = tokio::fs::File::create(file.path()).await?;
    let mut stream = state.blobs.get(&doc.sha256, None).await?;
    while let Some(chunk) = stream.next().await {
        out.write_all(&chunk?).await?;
    }
    out.flush().await?;
    Ok(file)
}
