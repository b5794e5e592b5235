//! Where the operator says the log's private key lives
//! (`--signing-key PATH`, `--signer-command CMD`, or neither).

use std::path::PathBuf;

use crate::error::KeysError;
use crate::roles::KeySource;

/// Where the log's private key lives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SigningOptions {
    /// Read the private key (C2SP `PRIVATE+KEY+…`) from this file instead of
    /// `DATA/log.key`.
    pub key_path: Option<PathBuf>,
    /// Sign through this external command (docs/deploy.md, "Signing keys").
    pub signer_command: Option<String>,
}

impl SigningOptions {
    /// Which kind of key these options name; both at once is an error.
    pub fn source(&self) -> Result<KeySource, KeysError> {
        match (&self.key_path, &self.signer_command) {
            (None, None) => Ok(KeySource::DataDir),
            (Some(_), None) => Ok(KeySource::Path),
            (None, Some(c)) if c.trim().is_empty() => Err(KeysError::EmptySignerCommand),
            (None, Some(_)) => Ok(KeySource::Command),
            (Some(_), Some(_)) => Err(KeysError::BothKeySources),
        }
    }
}
