//! File-system helpers for files that hold secrets.

use std::io::Write;
use std::path::Path;

/// Writes `contents` to a new file readable only by its owner (mode 0600 on Unix). Fails if the
/// file already exists, so an existing secret is never overwritten.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}
