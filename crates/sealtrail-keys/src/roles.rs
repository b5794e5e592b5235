//! What a key does ([`KeyRole`]) and where it lives ([`KeySource`]): the
//! vocabulary of the key history, below everything that uses it.

use serde::{Deserialize, Serialize};

/// Where a key lived while it signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeySource {
    /// `DATA/log.key`.
    DataDir,
    /// A file outside the data directory (`--signing-key`).
    Path,
    /// An external signer (`--signer-command`).
    Command,
}

impl KeySource {
    pub fn as_str(self) -> &'static str {
        match self {
            KeySource::DataDir => "data-dir",
            KeySource::Path => "path",
            KeySource::Command => "command",
        }
    }
}

/// What a key does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyRole {
    /// Signs every checkpoint.
    Primary,
    /// A previous primary that still signs, until `overlap_until`.
    Overlap,
    /// No longer signs; kept to verify checkpoints it signed.
    Retired,
}
