//! `DATA/signing-keys.json`: every key the log ever had, with its role,
//! where it lived and when. Public material only: never a private key,
//! never the signer command (it may carry credentials).

use std::path::Path;

use sealtrail_core::note::{Ed25519Verifier, NoteVerifier};
use serde::{Deserialize, Serialize};

use crate::error::KeysError;
use crate::key::hex_id;
use crate::keyfile::{read_skey, write_atomic};
use crate::layout::{HISTORY_FILE, KEY_FILE};
use crate::lock::Lock;
use crate::roles::{KeyRole, KeySource};

/// Version of the history file this build reads and writes.
pub const HISTORY_VERSION: u64 = 1;

/// One key of the log, as the history file and `GET /v1/signing-keys` show
/// it. Public material only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyHistoryEntry {
    /// The 4-byte key id, 8 hex digits.
    pub key_id: String,
    /// The C2SP verifier key.
    pub vkey: String,
    pub role: KeyRole,
    pub source: KeySource,
    /// When the key became this log's (microseconds since the epoch).
    pub created: u64,
    /// For an overlap key: when it stops signing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap_until: Option<u64>,
    /// For a retired key: when it stopped signing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<u64>,
    /// The key id of the primary this key replaced (absent for the first key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// Whether the rotation that made this key primary has been appended to
    /// the log as a `signing_key.rotate` event
    /// ([`crate::KeyRing::mark_logged`]).
    #[serde(default = "yes")]
    pub logged: bool,
}

fn yes() -> bool {
    true
}

impl KeyHistoryEntry {
    /// The first key of a log: primary, replacing nothing, logged.
    pub(crate) fn first(verifier: &Ed25519Verifier, source: KeySource, created: u64) -> Self {
        KeyHistoryEntry {
            key_id: hex_id(verifier.key_id()),
            vkey: verifier.to_vkey(),
            role: KeyRole::Primary,
            source,
            created,
            overlap_until: None,
            retired: None,
            replaces: None,
            logged: true,
        }
    }
}

/// `DATA/signing-keys.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Format version ([`HISTORY_VERSION`]).
    pub v: u64,
    /// The log's origin, which is every key's name.
    pub origin: String,
    /// Every key the log ever had, oldest first; exactly one is primary.
    pub keys: Vec<KeyHistoryEntry>,
}

impl History {
    /// The primary's entry (a checked history has exactly one).
    pub fn primary(&self) -> Option<&KeyHistoryEntry> {
        self.keys.iter().find(|k| k.role == KeyRole::Primary)
    }

    /// Every key as a verifier (all parse in a checked history).
    pub fn verifiers(&self) -> Vec<Ed25519Verifier> {
        self.keys
            .iter()
            .filter_map(|k| Ed25519Verifier::from_vkey(&k.vkey).ok())
            .collect()
    }

    /// The entries with their role as of `now` (an overlap that has ended
    /// shows as retired, even before the file is updated).
    pub fn as_of(&self, now: u64) -> Vec<KeyHistoryEntry> {
        self.keys
            .iter()
            .map(|k| match k.overlap_until {
                Some(until) if k.role == KeyRole::Overlap && until <= now => KeyHistoryEntry {
                    role: KeyRole::Retired,
                    retired: Some(until),
                    ..k.clone()
                },
                _ => k.clone(),
            })
            .collect()
    }

    fn check(&self, path: &Path) -> Result<(), KeysError> {
        let path = || path.to_path_buf();
        if self.v > HISTORY_VERSION {
            return Err(KeysError::HistoryTooNew {
                path: path(),
                version: self.v,
                supported: HISTORY_VERSION,
            });
        }
        if self.v == 0 {
            return Err(KeysError::HistoryVersionZero { path: path() });
        }
        let primaries = self
            .keys
            .iter()
            .filter(|k| k.role == KeyRole::Primary)
            .count();
        if primaries != 1 {
            return Err(KeysError::HistoryPrimaries {
                path: path(),
                count: primaries,
            });
        }
        for k in &self.keys {
            let v =
                Ed25519Verifier::from_vkey(&k.vkey).map_err(|cause| KeysError::HistoryBadVkey {
                    path: path(),
                    vkey: k.vkey.clone(),
                    cause,
                })?;
            if v.name() != self.origin {
                return Err(KeysError::HistoryKeyName {
                    path: path(),
                    key_id: k.key_id.clone(),
                    name: v.name().to_owned(),
                    origin: self.origin.clone(),
                });
            }
            if k.key_id != hex_id(v.key_id()) {
                return Err(KeysError::HistoryKeyId {
                    path: path(),
                    key_id: k.key_id.clone(),
                    actual: hex_id(v.key_id()),
                });
            }
            if k.role == KeyRole::Overlap && k.overlap_until.is_none() {
                return Err(KeysError::HistoryOverlapUntil {
                    path: path(),
                    key_id: k.key_id.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Reads and checks `DATA/signing-keys.json`; `None` when there is none yet.
pub fn read_history(data: &Path) -> Result<Option<History>, KeysError> {
    let path = data.join(HISTORY_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(cause) => return Err(KeysError::Read { path, cause }),
    };
    let h: History = serde_json::from_slice(&bytes).map_err(|cause| KeysError::HistoryParse {
        path: path.clone(),
        cause,
    })?;
    h.check(&path)?;
    Ok(Some(h))
}

/// Every key the log in `data` ever had, from its history (or its
/// `log.key` for a directory that has no history yet); reads no private
/// key when there is a history. For fsck and migration.
pub fn history_verifiers(data: &Path) -> Result<Vec<Ed25519Verifier>, KeysError> {
    if let Some(h) = read_history(data)? {
        return Ok(h.verifiers());
    }
    let path = data.join(KEY_FILE);
    if !path.exists() {
        return Err(KeysError::NotADataDir {
            data: data.to_path_buf(),
        });
    }
    Ok(vec![read_skey(&path)?.verifier()])
}

/// Writes the history; the caller holds the [`Lock`].
pub(crate) fn write_history(data: &Path, h: &History) -> Result<(), KeysError> {
    let mut text = serde_json::to_vec_pretty(h).map_err(|cause| KeysError::HistorySerialize {
        path: data.join(HISTORY_FILE),
        cause,
    })?;
    text.push(b'\n');
    write_atomic(data, HISTORY_FILE, &text, 0o644)
}

/// Writes the first history of a log whose key is external (`init`).
pub(crate) fn write_initial_history(
    data: &Path,
    origin: &str,
    vkey: &str,
    source: KeySource,
    now: u64,
) -> Result<(), KeysError> {
    let v = Ed25519Verifier::from_vkey(vkey).map_err(|cause| KeysError::BadVkey {
        vkey: vkey.to_owned(),
        cause,
    })?;
    let h = History {
        v: HISTORY_VERSION,
        origin: origin.to_owned(),
        keys: vec![KeyHistoryEntry::first(&v, source, now)],
    };
    h.check(&data.join(HISTORY_FILE))?;
    let _lock = Lock::take(data)?;
    write_history(data, &h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use crate::*;
    use std::time::Duration;

    #[test]
    fn a_newer_history_version_is_refused() {
        let (dir, _) = data_dir();
        KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        let p = dir.path().join(HISTORY_FILE);
        let text = std::fs::read_to_string(&p)
            .unwrap()
            .replace("\"v\": 1", "\"v\": 2");
        std::fs::write(&p, text).unwrap();
        let e = format!("{:#}", read_history(dir.path()).unwrap_err());
        assert!(e.contains("version 2") && e.contains("version 1"), "{e}");
    }

    #[test]
    fn history_verifiers_read_no_private_key() {
        let (dir, key) = data_dir();
        assert_eq!(history_verifiers(dir.path()).unwrap(), vec![key.verifier()]);
        let ring = KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        let r = ring.rotate(Duration::ZERO, now()).unwrap();
        std::fs::remove_file(dir.path().join(KEY_FILE)).unwrap();
        let vkeys: Vec<String> = history_verifiers(dir.path())
            .unwrap()
            .iter()
            .map(|v| v.to_vkey())
            .collect();
        assert_eq!(vkeys, vec![r.old_vkey, r.new_vkey]);
        let empty = tempfile::tempdir().unwrap();
        assert!(history_verifiers(empty.path()).is_err());
    }
}
