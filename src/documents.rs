//! The managed-document service: create (validate, store the blob once per hash, insert the row),
//! read, list, delete (with the blob when nothing references it any more). HTTP handlers and the
//! CLI call these; nothing else writes the `documents` table.

use std::path::PathBuf;

use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, SqlErr,
};

use crate::blobs::BlobStore;
use crate::entities::document;
use crate::pdf::Inspector;
use crate::spool::Spooled;
use crate::time_util::now_micros;

/// Document service failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no document with id `{0}`")]
    NotFound(String),
    #[error("a document with id `{0}` already exists")]
    AlreadyExists(String),
    #[error("invalid document id: {0}")]
    InvalidId(String),
    #[error("invalid title: {0}")]
    InvalidTitle(String),
    #[error("{0}")]
    InvalidLimit(String),
    #[error(transparent)]
    Pdf(#[from] crate::pdf::Error),
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Blob(#[from] crate::blobs::Error),
    #[error("spooling the upload: {0}")]
    Spool(std::io::Error),
}

/// What taking in an upload needs besides storage: where bodies are spooled while they arrive,
/// and the bounded PDF checker.
pub struct Intake {
    pub spool_dir: PathBuf,
    pub inspector: Inspector,
}

/// Longest accepted document id.
pub const MAX_ID_LEN: usize = 128;
/// Longest accepted title, in bytes.
pub const MAX_TITLE_LEN: usize = 512;
/// Most documents one list page returns.
pub const MAX_PAGE_SIZE: u64 = 200;
/// Documents per list page when the request names no `limit`.
pub const DEFAULT_PAGE_SIZE: u64 = 50;

/// Checks a requested page size: 1 to [`MAX_PAGE_SIZE`]. Out-of-range values are refused
/// rather than clamped, so a client never silently gets a different page than it asked for.
pub fn check_page_size(limit: u64) -> Result<u64, Error> {
    if (1..=MAX_PAGE_SIZE).contains(&limit) {
        Ok(limit)
    } else {
        Err(Error::InvalidLimit(format!(
            "`limit` must be 1 to {MAX_PAGE_SIZE}, got {limit}"
        )))
    }
}

/// Checks a caller-chosen document id: 1–128 of `A-Z a-z 0-9 . _ -`, not starting with a dot.
/// Ids appear in URLs and token facts, so nothing that could act as a path separator is allowed.
pub fn validate_id(id: &str) -> Result<(), Error> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(Error::InvalidId(format!(
            "must be 1 to {MAX_ID_LEN} characters"
        )));
    }
    if id.starts_with('.') {
        return Err(Error::InvalidId("must not start with a dot".into()));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(Error::InvalidId(format!(
            "character {c:?} is not allowed (use A-Z, a-z, 0-9, '.', '_' and '-')"
        )));
    }
    Ok(())
}

/// An upload, spooled to disk, to be validated and stored.
pub struct NewDocument {
    pub id: Option<String>,
    pub title: Option<String>,
    pub file: Spooled,
}

/// Validates and stores a new document. On any failure no row is left behind, the blob is
/// removed again unless another document references it, and the spool file is deleted (it goes
/// with `new` in every case).
pub async fn create(
    db: &DatabaseConnection,
    blobs: &BlobStore,
    inspector: &Inspector,
    new: NewDocument,
) -> Result<document::Model, Error> {
    if let Some(id) = &new.id {
        validate_id(id)?;
    }
    let title = match new
        .title
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
    {
        Some(t) if t.len() > MAX_TITLE_LEN => {
            return Err(Error::InvalidTitle(format!(
                "longer than {MAX_TITLE_LEN} bytes"
            )))
        }
        other => other,
    };
    let id = new
        .id
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    if document::Entity::find_by_id(id.clone())
        .one(db)
        .await?
        .is_some()
    {
        return Err(Error::AlreadyExists(id));
    }

    let file = new.file;
    let info = inspector.inspect_file(&file.path).await?;
    let sha256 = file.sha256.clone();

    let now = now_micros();
    let row = document::ActiveModel {
        id: Set(id.clone()),
        title: Set(title),
        sha256: Set(sha256.clone()),
        byte_size: Set(i64::try_from(file.len).unwrap_or(i64::MAX)),
        page_count: Set(info.page_count as i32),
        created_at: Set(now),
        updated_at: Set(now),
        head_seq: Set(0),
    };

    let _guard = blobs.lock(&sha256).await;
    let across = BlobLock::take(db, &sha256).await?;
    let created = create_row(db, blobs, row, &sha256, &file.path, id, &info.pages).await;
    across.release().await;
    created
}

/// Stores the blob (unless there) and references it: under the blob's locks, so that a delete
/// of its last other reference (on any node) cannot remove it in between.
async fn create_row(
    db: &DatabaseConnection,
    blobs: &BlobStore,
    row: document::ActiveModel,
    sha256: &str,
    path: &std::path::Path,
    id: String,
    pages: &[crate::exchange::geometry::PageGeometry],
) -> Result<document::Model, Error> {
    blobs.put_file(sha256, path).await?;
    match document::Entity::insert(row).exec_with_returning(db).await {
        Ok(model) => {
            // Without it the geometry is read again on first use: a warning, not a failure.
            if let Err(e) = crate::exchange::save_geometry(db, &model.id, pages).await {
                tracing::warn!(document_id = %model.id, error = %e, "could not record page geometry");
            }
            Ok(model)
        }
        Err(e) => {
            if !is_referenced(db, sha256).await.unwrap_or(true) {
                if let Err(cleanup) = blobs.delete(sha256).await {
                    tracing::warn!(error = %cleanup, sha256, "could not remove the blob of a failed upload");
                }
            }
            if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
                Err(Error::AlreadyExists(id))
            } else {
                Err(e.into())
            }
        }
    }
}

async fn is_referenced(db: &DatabaseConnection, sha256: &str) -> Result<bool, sea_orm::DbErr> {
    Ok(document::Entity::find()
        .filter(document::Column::Sha256.eq(sha256))
        .count(db)
        .await?
        > 0)
}

/// One document's metadata.
pub async fn get(db: &DatabaseConnection, id: &str) -> Result<document::Model, Error> {
    document::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound(id.to_string()))
}

/// A position in the newest-first listing: the last item of the previous page.
#[derive(Debug, Clone)]
pub struct Cursor {
    pub created_at: i64,
    pub id: String,
}

impl Cursor {
    /// Encodes the cursor as an opaque string for `next_cursor`.
    pub fn encode(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}:{}", self.created_at, self.id))
    }

    /// Decodes a string made by [`Cursor::encode`].
    pub fn decode(s: &str) -> Option<Cursor> {
        use base64::Engine;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (at, id) = raw.split_once(':')?;
        Some(Cursor {
            created_at: at.parse().ok()?,
            id: id.to_string(),
        })
    }
}

/// A page of `limit` (1 to [`MAX_PAGE_SIZE`]) documents, newest first, and the cursor of the
/// next page if there is one.
pub async fn list(
    db: &DatabaseConnection,
    limit: u64,
    after: Option<Cursor>,
) -> Result<(Vec<document::Model>, Option<Cursor>), Error> {
    let limit = check_page_size(limit)?;
    let mut query = document::Entity::find()
        .order_by_desc(document::Column::CreatedAt)
        .order_by_desc(document::Column::Id)
        .limit(limit + 1);
    if let Some(c) = after {
        query = query.filter(
            Condition::any()
                .add(document::Column::CreatedAt.lt(c.created_at))
                .add(
                    Condition::all()
                        .add(document::Column::CreatedAt.eq(c.created_at))
                        .add(document::Column::Id.lt(c.id)),
                ),
        );
    }
    let mut rows = query.all(db).await?;
    let next = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|d| Cursor {
            created_at: d.created_at,
            id: d.id.clone(),
        })
    } else {
        None
    };
    Ok((rows, next))
}

/// Deletes a document and its records (the foreign key cascades), then its blob if no other
/// document shares it.
pub async fn delete(db: &DatabaseConnection, blobs: &BlobStore, id: &str) -> Result<(), Error> {
    let doc = get(db, id).await?;
    let _guard = blobs.lock(&doc.sha256).await;
    let across = BlobLock::take(db, &doc.sha256).await?;
    let deleted = delete_row(db, blobs, id, &doc.sha256).await;
    across.release().await;
    deleted
}

/// Removes the document and, if it was the blob's last reference, the blob.
async fn delete_row(
    db: &DatabaseConnection,
    blobs: &BlobStore,
    id: &str,
    sha256: &str,
) -> Result<(), Error> {
    let res = document::Entity::delete_many()
        .filter(document::Column::Id.eq(id))
        .exec(db)
        .await?;
    if res.rows_affected == 0 {
        return Err(Error::NotFound(id.to_string()));
    }
    if !is_referenced(db, sha256).await? {
        blobs.delete(sha256).await?;
    }
    Ok(())
}

/// A lock on one blob hash shared by every node on the same PostgreSQL database: a transaction
/// holding an advisory lock, open while a blob is stored and referenced or unreferenced and
/// deleted. (The blob store's own lock covers this node; on SQLite there is only this node.)
struct BlobLock(Option<sea_orm::DatabaseTransaction>);

impl BlobLock {
    async fn take(db: &DatabaseConnection, sha256: &str) -> Result<BlobLock, sea_orm::DbErr> {
        use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(BlobLock(None));
        }
        let txn = db.begin().await?;
        txn.execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            [format!("quire-blob:{sha256}").into()],
        ))
        .await?;
        Ok(BlobLock(Some(txn)))
    }

    /// Ends the lock's transaction (it wrote nothing).
    async fn release(self) {
        if let Some(txn) = self.0 {
            if let Err(e) = txn.rollback().await {
                tracing::warn!(error = %e, "releasing a blob lock failed; it goes with its connection");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_outside_1_to_200_are_refused_not_clamped() {
        assert!(check_page_size(0).is_err());
        assert_eq!(check_page_size(1).unwrap(), 1);
        assert_eq!(check_page_size(MAX_PAGE_SIZE).unwrap(), MAX_PAGE_SIZE);
        let err = check_page_size(MAX_PAGE_SIZE + 1).unwrap_err();
        assert!(err.to_string().contains("1 to 200"), "{err}");
    }
}
