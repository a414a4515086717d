//! Content-addressed blob storage over `object_store`: a local directory by default, S3 in
//! production. A blob's key is derived from its SHA-256, so identical uploads share one blob.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;

/// Size of the parts a file is uploaded in (S3 wants at least 5 MiB for all but the last).
const PART_SIZE: usize = 8 * 1024 * 1024;

/// Blob store failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid blob store URL: {0}")]
    InvalidUrl(String),
    #[error("blob not found: {0}")]
    NotFound(String),
    #[error("blob store error: {0}")]
    Store(#[from] object_store::Error),
    #[error("reading the file to store: {0}")]
    Io(std::io::Error),
}

/// Number of lock stripes guarding put-versus-garbage-collect races per content hash.
const STRIPES: usize = 64;

/// The blob store, cheap to clone.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    stripes: Arc<Vec<tokio::sync::Mutex<()>>>,
}

impl BlobStore {
    /// Opens `file:///DIR` (created if missing, mode 0700) or `s3://BUCKET[/PREFIX]`.
    pub fn open(url: &str) -> Result<BlobStore, Error> {
        let parsed = url::Url::parse(url).map_err(|e| Error::InvalidUrl(format!("{url}: {e}")))?;
        let store: Arc<dyn ObjectStore> = match parsed.scheme() {
            "file" => {
                let dir = parsed.to_file_path().map_err(|_| {
                    Error::InvalidUrl(format!("{url}: expected file:///ABSOLUTE/PATH"))
                })?;
                crate::config::create_private_dir(&dir).map_err(|e| {
                    Error::InvalidUrl(format!("cannot create {}: {e}", dir.display()))
                })?;
                Arc::new(LocalFileSystem::new_with_prefix(&dir)?)
            }
            "s3" => {
                let s3 = object_store::aws::AmazonS3Builder::from_env()
                    .with_url(url)
                    .build()?;
                let prefix = parsed.path().trim_matches('/');
                if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(PrefixStore::new(s3, prefix))
                }
            }
            other => {
                return Err(Error::InvalidUrl(format!(
                    "unsupported scheme `{other}`: expected file:// or s3://"
                )))
            }
        };
        Ok(BlobStore {
            store,
            stripes: Arc::new((0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect()),
        })
    }

    fn path(sha256: &str) -> ObjectPath {
        ObjectPath::from(format!("sha256/{}/{sha256}", &sha256[..2]))
    }

    /// Serialises the put-then-reference and unreference-then-delete sequences for one hash on
    /// this node, so a blob is never deleted under a document that is being created.
    pub async fn lock(&self, sha256: &str) -> tokio::sync::MutexGuard<'_, ()> {
        let stripe = u8::from_str_radix(&sha256[..2], 16).unwrap_or(0) as usize % STRIPES;
        self.stripes[stripe].lock().await
    }

    /// Stores the file at `path` under its hash unless a blob with that hash is already there.
    /// The file is sent in parts, so memory stays bounded whatever its size; a failed transfer
    /// is aborted and leaves no blob.
    pub async fn put_file(&self, sha256: &str, path: &std::path::Path) -> Result<(), Error> {
        let key = Self::path(sha256);
        match self.store.head(&key).await {
            Ok(_) => return Ok(()),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let mut file = tokio::fs::File::open(path).await.map_err(Error::Io)?;
        let len = file.metadata().await.map_err(Error::Io)?.len();
        if len <= PART_SIZE as u64 {
            // One part's worth: a single request is cheaper than a multipart upload.
            let mut bytes = Vec::with_capacity(len as usize);
            file.read_to_end(&mut bytes).await.map_err(Error::Io)?;
            self.store
                .put(&key, PutPayload::from_bytes(Bytes::from(bytes)))
                .await?;
            return Ok(());
        }
        let upload = self.store.put_multipart(&key).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match file.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(Error::Io(e));
                }
            };
            // Waits while too many parts are in flight, so at most a few parts are buffered.
            if let Err(e) = writer.wait_for_capacity(2).await {
                let _ = writer.abort().await;
                return Err(e.into());
            }
            writer.write(&buf[..n]);
        }
        writer.finish().await?;
        Ok(())
    }

    /// Streams the blob, or the given byte range of it.
    pub async fn get(
        &self,
        sha256: &str,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes, Error>>, Error> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        match self.store.get_opts(&Self::path(sha256), options).await {
            Ok(res) => Ok(res.into_stream().map(|r| r.map_err(Error::from)).boxed()),
            Err(object_store::Error::NotFound { .. }) => Err(Error::NotFound(sha256.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the blob; deleting a missing blob is not an error.
    pub async fn delete(&self, sha256: &str) -> Result<(), Error> {
        match self.store.delete(&Self::path(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the store answers: used by `/readyz`.
    pub async fn check(&self) -> Result<(), Error> {
        match self.store.head(&ObjectPath::from("readyz-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
