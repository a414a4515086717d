//! The server's root key: where it comes from (configuration or the data dir, created on first
//! start with mode 0600) and the one thing it does, signing tokens.

use std::path::Path;

use biscuit_auth::error::Format;
use biscuit_auth::{KeyPair, PrivateKey, PublicKey};

use super::Error;

/// The server's root key pair: signs every token it mints. Only its public half is ever shared.
#[derive(Clone)]
pub struct RootKey {
    keypair: std::sync::Arc<KeyPair>,
}

/// File name of the root key inside the data directory.
const ROOT_KEY_FILE: &str = "root_key";

impl RootKey {
    /// Loads the root key from `configured` (a `ed25519-private/<hex>` string, e.g. from
    /// `QUIRE_ROOT_KEY`) or from the data directory, creating it there (mode 0600) on first start.
    pub fn load_or_create(data_dir: &Path, configured: Option<&str>) -> Result<RootKey, Error> {
        if let Some(text) = configured {
            return RootKey::parse(text);
        }
        let path = data_dir.join(ROOT_KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => RootKey::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let keypair = KeyPair::new();
                let text = format!("{}\n", keypair.private().to_prefixed_string());
                crate::fsutil::write_private_file(&path, text.as_bytes())
                    .map_err(|e| Error::RootKey(format!("cannot write {}: {e}", path.display())))?;
                tracing::info!(path = %path.display(), "created a new root key");
                Ok(RootKey {
                    keypair: std::sync::Arc::new(keypair),
                })
            }
            Err(e) => Err(Error::RootKey(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// Parses a `ed25519-private/<hex>` private key.
    pub fn parse(text: &str) -> Result<RootKey, Error> {
        let private: PrivateKey = text.trim().parse().map_err(|e: Format| {
            Error::RootKey(format!(
                "the root key is not a biscuit private key ({e}); expected ed25519-private/<hex>"
            ))
        })?;
        Ok(RootKey {
            keypair: std::sync::Arc::new(KeyPair::from(&private)),
        })
    }

    /// The public key that verifies every token this server mints.
    pub fn public(&self) -> PublicKey {
        self.keypair.public()
    }

    pub(super) fn keypair(&self) -> &KeyPair {
        &self.keypair
    }
}
