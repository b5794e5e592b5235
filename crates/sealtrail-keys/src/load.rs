//! Loading a log's keys: under the lock, reconcile what is on disk (the
//! history, `log.key`, overlap key files, an external key) into the keys
//! that sign now. Creates the history of an older data directory, finishes
//! an interrupted rotation, records an external key that changed since the
//! last start as a rotation, retires overlaps that have ended and deletes
//! their files.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use sealtrail_core::note::NoteVerifier;

use crate::command::{CommandSigner, SIGNER_TIMEOUT};
use crate::error::KeysError;
use crate::history::{read_history, write_history, History, KeyHistoryEntry, HISTORY_VERSION};
use crate::key::hex_id;
use crate::keyfile::read_skey;
use crate::layout::{overlap_file, HISTORY_FILE, KEY_FILE};
use crate::lock::Lock;
use crate::options::SigningOptions;
use crate::roles::{KeyRole, KeySource};
use crate::rotation::{finish_pending_rotation, remove_stray_keys};
use crate::signer::{LocalSigner, LogSigner};

/// What a loaded ring holds.
pub(crate) struct Loaded {
    pub(crate) history: History,
    pub(crate) primary: Arc<dyn LogSigner>,
    /// Previous primaries still co-signing, with the end of their overlap.
    pub(crate) overlap: Vec<(u64, Arc<dyn LogSigner>)>,
    /// Identity of the history file when it was read.
    pub(crate) stamp: Option<Stamp>,
}

/// Identity of the history file: what a refresh compares to notice an
/// offline rotation with one `stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    ino: u64,
    mtime: i64,
    mtime_nsec: i64,
    len: u64,
}

pub(crate) fn stamp(path: &Path) -> Option<Stamp> {
    std::fs::metadata(path).ok().map(|m| Stamp {
        ino: m.ino(),
        mtime: m.mtime(),
        mtime_nsec: m.mtime_nsec(),
        len: m.len(),
    })
}

/// The primary signer as the options say.
fn open_primary(
    data: &Path,
    opts: &SigningOptions,
    history: Option<&History>,
) -> Result<Arc<dyn LogSigner>, KeysError> {
    Ok(match opts.source()? {
        KeySource::DataDir => {
            let path = data.join(KEY_FILE);
            if !path.exists() {
                if let Some(p) = history.and_then(History::primary) {
                    if p.source != KeySource::DataDir {
                        return Err(KeysError::KeyNotInDataDir {
                            data: data.to_path_buf(),
                            given: p.source,
                        });
                    }
                }
            }
            Arc::new(LocalSigner::new(read_skey(&path)?))
        }
        KeySource::Path => {
            let path = opts.key_path.clone().unwrap_or_default();
            Arc::new(LocalSigner::new(read_skey(&path)?))
        }
        KeySource::Command => {
            let cmd = opts.signer_command.clone().unwrap_or_default();
            Arc::new(CommandSigner::start(&cmd, SIGNER_TIMEOUT).map_err(KeysError::SignerCommand)?)
        }
    })
}

/// Under the lock: reads the history and keys, bootstraps or updates the
/// history, expires overlaps, removes stray key files, loads the signers.
pub(crate) fn load_locked(
    data: &Path,
    opts: &SigningOptions,
    now: u64,
) -> Result<Loaded, KeysError> {
    let source = opts.source()?;
    let _lock = Lock::take(data)?;
    let existing = read_history(data)?;
    if let (Some(h), KeySource::DataDir) = (&existing, source) {
        finish_pending_rotation(data, h)?;
    }
    let primary = open_primary(data, opts, existing.as_ref())?;
    let pv = primary.verifier().clone();
    let vkey = pv.to_vkey();
    let id = hex_id(pv.key_id());
    if source != KeySource::DataDir && data.join(KEY_FILE).exists() {
        tracing::warn!(
            "{} still holds a private key although the signing key is given with --signing-key/--signer-command; delete it if the data directory must hold no private key",
            data.join(KEY_FILE).display()
        );
    }
    let mut changed = false;
    let mut h = match existing {
        None => {
            // A data directory from before key histories (or a crash after
            // init wrote log.key): its key has always been the primary.
            let created = match source {
                KeySource::DataDir => std::fs::metadata(data.join(KEY_FILE))
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_micros() as u64)
                    .unwrap_or(now),
                _ => now,
            };
            changed = true;
            History {
                v: HISTORY_VERSION,
                origin: pv.name().to_owned(),
                keys: vec![KeyHistoryEntry::first(&pv, source, created)],
            }
        }
        Some(h) => h,
    };
    if pv.name() != h.origin {
        return Err(KeysError::KeyNameNotOrigin {
            vkey,
            name: pv.name().to_owned(),
            data: data.to_path_buf(),
            origin: h.origin,
        });
    }
    let primary_vkey = h.primary().map(|p| p.vkey.clone()).unwrap_or_default();
    if primary_vkey != vkey {
        if source == KeySource::DataDir {
            return Err(KeysError::KeyFileNotPrimary {
                path: data.join(KEY_FILE),
                key_id: id,
                primary: h
                    .primary()
                    .map(|p| p.key_id.clone())
                    .unwrap_or_else(|| "?".into()),
            });
        }
        if let Some(old) = h.keys.iter().find(|k| k.vkey == vkey) {
            return Err(KeysError::KeyReused {
                key_id: old.key_id.clone(),
                role: old.role,
            });
        }
        // The operator replaced an external key: the old one no longer signs.
        let mut replaced = None;
        for k in h.keys.iter_mut().filter(|k| k.role == KeyRole::Primary) {
            k.role = KeyRole::Retired;
            k.retired = Some(now);
            replaced = Some(k.key_id.clone());
        }
        tracing::info!(new = %vkey, "the external signing key changed since the last start: recorded as a rotation");
        h.keys.push(KeyHistoryEntry {
            key_id: id.clone(),
            vkey: vkey.clone(),
            role: KeyRole::Primary,
            source,
            created: now,
            overlap_until: None,
            retired: None,
            replaces: replaced,
            logged: false,
        });
        changed = true;
    }
    for k in h.keys.iter_mut().filter(|k| k.role == KeyRole::Primary) {
        if k.source != source {
            k.source = source;
            changed = true;
        }
    }
    // Overlaps that have ended.
    for k in h.keys.iter_mut() {
        if let (KeyRole::Overlap, Some(until)) = (k.role, k.overlap_until) {
            if until <= now {
                k.role = KeyRole::Retired;
                k.retired = Some(until);
                changed = true;
            }
        }
    }
    if changed {
        write_history(data, &h)?;
    }
    let keep: Vec<String> = h
        .keys
        .iter()
        .filter(|k| k.role == KeyRole::Overlap)
        .map(|k| overlap_file(&k.key_id))
        .collect();
    remove_stray_keys(data, &keep)?;
    let mut overlap: Vec<(u64, Arc<dyn LogSigner>)> = Vec::new();
    for k in h.keys.iter().filter(|k| k.role == KeyRole::Overlap) {
        let path = data.join(overlap_file(&k.key_id));
        match read_skey(&path) {
            Ok(s) if s.vkey() == k.vkey => {
                overlap.push((k.overlap_until.unwrap_or(0), Arc::new(LocalSigner::new(s))))
            }
            Ok(_) => {
                return Err(KeysError::OverlapKeyMismatch {
                    path,
                    key_id: k.key_id.clone(),
                })
            }
            Err(e) => tracing::warn!(
                key_id = %k.key_id,
                error = %e,
                "an overlap key is missing: checkpoints are signed by the primary key only"
            ),
        }
    }
    Ok(Loaded {
        history: h,
        primary,
        overlap,
        stamp: stamp(&data.join(HISTORY_FILE)),
    })
}
