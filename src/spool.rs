//! Upload bodies spooled to a temporary file as they arrive, hashed on the way and cut off at the
//! size limit, so an upload costs the server a small buffer of memory whatever its size.
//!
//! The file lives in the spool directory inside the data dir (mode 0700; the file itself 0600)
//! and is deleted when the [`Spooled`] upload (or an unfinished [`Spool`]) is dropped: a refused
//! or failed upload leaves nothing behind. Files left by a crash are removed at start-up
//! ([`prepare_dir`]).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tempfile::TempPath;
use tokio::io::AsyncWriteExt;

/// Why a body could not be spooled.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the body exceeds the limit of {0} bytes")]
    TooLarge(u64),
    #[error("spool file: {0}")]
    Io(#[from] std::io::Error),
}

/// A body being written to its temporary file.
pub struct Spool {
    file: tokio::io::BufWriter<tokio::fs::File>,
    path: TempPath,
    hasher: Sha256,
    len: u64,
    limit: u64,
}

/// A complete body on disk, with its length and SHA-256. The file is deleted on drop.
pub struct Spooled {
    pub path: TempPath,
    pub len: u64,
    pub sha256: String,
}

/// Creates the spool directory (mode 0700) and removes whatever a previous run left in it.
pub fn prepare_dir(dir: &Path) -> std::io::Result<()> {
    crate::config::create_private_dir(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            if let Err(e) = std::fs::remove_file(entry.path()) {
                tracing::warn!(error = %e, path = %entry.path().display(), "could not remove a leftover upload file");
            }
        }
    }
    Ok(())
}

/// The spool directory inside a data dir.
pub fn dir_in(data_dir: &Path) -> PathBuf {
    data_dir.join("spool")
}

impl Spool {
    /// Starts a spool file in `dir` for a body of at most `limit` bytes.
    pub async fn create(dir: &Path, limit: u64) -> Result<Spool, Error> {
        let dir = dir.to_path_buf();
        // `tempfile` creates the file with mode 0600 and a random name, atomically.
        let (file, path) =
            tokio::task::spawn_blocking(move || tempfile::NamedTempFile::new_in(dir))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))??
                .into_parts();
        Ok(Spool {
            file: tokio::io::BufWriter::with_capacity(256 * 1024, tokio::fs::File::from_std(file)),
            path,
            hasher: Sha256::new(),
            len: 0,
            limit,
        })
    }

    /// Appends a chunk; fails as soon as the body passes the limit.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), Error> {
        let len = self.len.saturating_add(chunk.len() as u64);
        if len > self.limit {
            return Err(Error::TooLarge(self.limit));
        }
        self.hasher.update(chunk);
        self.file.write_all(chunk).await?;
        self.len = len;
        Ok(())
    }

    /// Flushes the file and returns the complete body.
    pub async fn finish(mut self) -> Result<Spooled, Error> {
        self.file.flush().await?;
        self.file.get_mut().sync_data().await?;
        Ok(Spooled {
            path: self.path,
            len: self.len,
            sha256: hex::encode(self.hasher.finalize()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_spooled_body_has_its_bytes_hash_and_length_and_goes_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::create(dir.path(), 10).await.unwrap();
        spool.write(b"hello ").await.unwrap();
        spool.write(b"pdf").await.unwrap();
        let done = spool.finish().await.unwrap();
        assert_eq!(std::fs::read(&done.path).unwrap(), b"hello pdf");
        assert_eq!(done.len, 9);
        assert_eq!(done.sha256, hex::encode(Sha256::digest(b"hello pdf")));
        let path = done.path.to_path_buf();
        drop(done);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn a_body_past_the_limit_is_refused_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::create(dir.path(), 4).await.unwrap();
        spool.write(b"abcd").await.unwrap();
        assert!(matches!(spool.write(b"e").await, Err(Error::TooLarge(4))));
        drop(spool);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    proptest::proptest! {
        /// However a body is cut into chunks, the spool holds exactly its bytes and hash, or
        /// refuses it exactly when it passes the limit.
        #[test]
        fn any_chunking_spools_the_exact_body_or_refuses_it_at_the_limit(
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), 0..12),
            limit in 0u64..2000,
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let dir = tempfile::tempdir().unwrap();
            let body: Vec<u8> = chunks.concat();
            let outcome = rt.block_on(async {
                let mut spool = Spool::create(dir.path(), limit).await?;
                for chunk in &chunks {
                    spool.write(chunk).await?;
                }
                spool.finish().await
            });
            match outcome {
                Ok(done) => {
                    proptest::prop_assert!(body.len() as u64 <= limit);
                    proptest::prop_assert_eq!(std::fs::read(&done.path).unwrap(), body.clone());
                    proptest::prop_assert_eq!(done.len, body.len() as u64);
                    proptest::prop_assert_eq!(done.sha256, hex::encode(Sha256::digest(&body)));
                }
                Err(Error::TooLarge(l)) => {
                    proptest::prop_assert_eq!(l, limit);
                    proptest::prop_assert!(body.len() as u64 > limit);
                }
                Err(e) => proptest::prop_assert!(false, "{e}"),
            }
            proptest::prop_assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn spool_files_are_private_to_the_server_user() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::create(dir.path(), 4).await.unwrap();
        let done = spool.finish().await.unwrap();
        let mode = std::fs::metadata(&done.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }
}
