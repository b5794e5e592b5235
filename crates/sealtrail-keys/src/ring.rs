//! The signing keys of one log in use: a [`KeyRing`] holds the primary key
//! and the keys still inside a rotation overlap, signs checkpoints with all
//! of them (C2SP signed notes carry several signatures; verifiers ignore
//! keys they do not know), notices an offline rotation
//! ([`KeyRing::refresh`]: a `stat` of the history file, which the
//! checkpointer calls before each checkpoint) and rotates a key kept in the
//! data directory.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sealtrail_core::checkpoint::{Checkpoint, SignedCheckpoint};
use sealtrail_core::note::{
    Ed25519Signer, Ed25519Verifier, Note, NoteSignature, NoteSigner, NoteVerifier,
};

use crate::error::KeysError;
use crate::history::{read_history, write_history, History, KeyHistoryEntry, HISTORY_VERSION};
use crate::layout::HISTORY_FILE;
use crate::load::{load_locked, stamp, Loaded};
use crate::lock::Lock;
use crate::options::SigningOptions;
use crate::roles::{KeyRole, KeySource};
use crate::rotation::{rotate_in, Rotation};
use crate::signer::{LocalSigner, LogSigner, SignerError};

/// Why a checkpoint could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Signer(#[from] SignerError),
    #[error("{0}")]
    Checkpoint(#[from] sealtrail_core::checkpoint::CheckpointError),
    #[error("{0}")]
    Note(#[from] sealtrail_core::note::NoteError),
}

/// The signing keys of one log. Cheap to share (`Arc`); safe to use from
/// request handlers and the checkpointer at once.
pub struct KeyRing {
    /// `None` for a ring built in memory ([`KeyRing::from_signer`]).
    data: Option<PathBuf>,
    opts: SigningOptions,
    origin: String,
    state: RwLock<Arc<Loaded>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("origin", &self.origin)
            .field("data", &self.data)
            .finish()
    }
}

impl KeyRing {
    /// Loads the keys of the log in `data` (creating the history of an
    /// older data directory from its key), records an external key that
    /// changed since the last start as a rotation, retires overlap keys
    /// whose overlap has ended, and deletes their files.
    pub fn load(data: &Path, opts: &SigningOptions) -> Result<Arc<KeyRing>, KeysError> {
        let loaded = load_locked(data, opts, crate::clock::now_micros())?;
        Ok(Arc::new(KeyRing {
            data: Some(data.to_path_buf()),
            opts: opts.clone(),
            origin: loaded.history.origin.clone(),
            state: RwLock::new(Arc::new(loaded)),
        }))
    }

    /// A ring of one key, kept in memory only (benchmarks, tests): no
    /// history file, no rotation.
    pub fn from_signer(signer: Ed25519Signer) -> Arc<KeyRing> {
        let origin = signer.name().to_owned();
        let local = LocalSigner::new(signer);
        let history = History {
            v: HISTORY_VERSION,
            origin: origin.clone(),
            keys: vec![KeyHistoryEntry::first(
                local.verifier(),
                KeySource::DataDir,
                crate::clock::now_micros(),
            )],
        };
        Arc::new(KeyRing {
            data: None,
            opts: SigningOptions::default(),
            origin,
            state: RwLock::new(Arc::new(Loaded {
                history,
                primary: Arc::new(local),
                overlap: Vec::new(),
                stamp: None,
            })),
        })
    }

    fn current(&self) -> Arc<Loaded> {
        match self.state.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, loaded: Loaded) {
        let mut g = match self.state.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *g = Arc::new(loaded);
    }

    /// The log's origin (every key's name).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The primary key's vkey: the one to publish for new verifiers.
    pub fn primary_vkey(&self) -> String {
        self.current().primary.verifier().to_vkey()
    }

    /// The keys signing now: the primary first, then overlap keys whose
    /// overlap has not ended at `now`.
    pub fn vkeys(&self, now: u64) -> Vec<String> {
        let s = self.current();
        std::iter::once(s.primary.verifier().to_vkey())
            .chain(
                s.overlap
                    .iter()
                    .filter(|(until, _)| *until > now)
                    .map(|(_, k)| k.verifier().to_vkey()),
            )
            .collect()
    }

    /// Every key the log ever had, to open checkpoints signed before a
    /// rotation.
    pub fn verifiers(&self) -> Vec<Ed25519Verifier> {
        self.current().history.verifiers()
    }

    /// The key history with roles as of `now`, oldest first (what
    /// `GET /v1/signing-keys` serves).
    pub fn history(&self, now: u64) -> Vec<KeyHistoryEntry> {
        self.current().history.as_of(now)
    }

    /// Rotations not yet appended to the log as events (made offline, or an
    /// external key that changed between two starts). Append each as a
    /// `signing_key.rotate` event, then call [`KeyRing::mark_logged`].
    pub fn pending_rotations(&self) -> Vec<Rotation> {
        let s = self.current();
        let h = &s.history;
        h.keys
            .iter()
            .filter(|k| !k.logged)
            .filter_map(|k| {
                let old = h
                    .keys
                    .iter()
                    .find(|o| Some(&o.key_id) == k.replaces.as_ref())?;
                Some(Rotation {
                    origin: h.origin.clone(),
                    old_key_id: old.key_id.clone(),
                    old_vkey: old.vkey.clone(),
                    new_key_id: k.key_id.clone(),
                    new_vkey: k.vkey.clone(),
                    new_source: k.source,
                    time: k.created,
                    overlap_until: old.overlap_until,
                })
            })
            .collect()
    }

    /// Records that the rotation to `new_key_id` is in the log.
    pub fn mark_logged(&self, new_key_id: &str) -> Result<(), KeysError> {
        let Some(data) = &self.data else {
            return Ok(());
        };
        {
            let _lock = Lock::take(data)?;
            let Some(mut h) = read_history(data)? else {
                return Ok(());
            };
            let mut changed = false;
            for k in h.keys.iter_mut().filter(|k| k.key_id == new_key_id) {
                changed |= !k.logged;
                k.logged = true;
            }
            if changed {
                write_history(data, &h)?;
            }
        }
        self.reload(crate::clock::now_micros())
    }

    /// Signs a checkpoint with every key signing at `now` (primary first).
    /// Every signature is made (and an external one verified) before the
    /// note is built: an external signer failing means no checkpoint.
    pub fn sign_checkpoint(&self, cp: Checkpoint, now: u64) -> Result<SignedCheckpoint, SignError> {
        cp.validate()?;
        let text = cp.to_text();
        let s = self.current();
        let signers = std::iter::once(&s.primary).chain(
            s.overlap
                .iter()
                .filter(|(until, _)| *until > now)
                .map(|(_, k)| k),
        );
        let mut signatures = Vec::new();
        for k in signers {
            let v = k.verifier();
            signatures.push(NoteSignature {
                name: v.name().to_owned(),
                key_id: v.key_id(),
                sig: k.try_sign(text.as_bytes())?,
            });
        }
        let note = Note::new(text, signatures)?;
        Ok(SignedCheckpoint {
            checkpoint: cp,
            note,
        })
    }

    /// Reloads the keys when the history file changed on disk (an offline
    /// rotation) and retires overlap keys whose overlap ended. Cheap when
    /// nothing changed: one `stat`. On error the keys loaded before stay.
    pub fn refresh(&self, now: u64) -> Result<(), KeysError> {
        let Some(data) = &self.data else {
            return Ok(());
        };
        let s = self.current();
        let expired = s
            .history
            .keys
            .iter()
            .any(|k| k.role == KeyRole::Overlap && k.overlap_until.is_some_and(|u| u <= now));
        if !expired && stamp(&data.join(HISTORY_FILE)) == s.stamp {
            return Ok(());
        }
        self.reload(now)
    }

    fn reload(&self, now: u64) -> Result<(), KeysError> {
        let Some(data) = &self.data else {
            return Ok(());
        };
        let loaded = load_locked(data, &self.opts, now)?;
        if loaded.history.origin != self.origin {
            return Err(KeysError::OriginChanged {
                data: data.clone(),
                found: loaded.history.origin.clone(),
                expected: self.origin.clone(),
            });
        }
        let before = self.current().primary.verifier().to_vkey();
        let after = loaded.primary.verifier().to_vkey();
        if before != after {
            tracing::info!(old = %before, new = %after, "signing key rotated: checkpoints are now signed by the new key");
        }
        self.replace(loaded);
        Ok(())
    }

    /// Generates a new primary key (same name, so a new key id), keeps the
    /// current one co-signing for `overlap`, and records both in the
    /// history. Only for a key kept in the data directory: an external key is
    /// rotated where it lives (docs/deploy.md).
    pub fn rotate(&self, overlap: Duration, now: u64) -> Result<Rotation, KeysError> {
        let Some(data) = &self.data else {
            return Err(KeysError::InMemoryRing);
        };
        let key_source = self.opts.source()?;
        if key_source != KeySource::DataDir {
            return Err(KeysError::ExternalRotation { key_source });
        }
        let rotation = rotate_in(data, overlap, now)?;
        self.reload(now)?;
        Ok(rotation)
    }

    /// The ring as a server without signing flags would load it; refuses a
    /// log whose primary key is external.
    fn load_for_rotation(data: &Path) -> Result<Arc<KeyRing>, KeysError> {
        if let Some(h) = read_history(data)? {
            if let Some(p) = h.primary() {
                if p.source != KeySource::DataDir {
                    return Err(KeysError::ExternalRotation {
                        key_source: p.source,
                    });
                }
            }
        }
        KeyRing::load(data, &SigningOptions::default())
    }
}

/// Rotates the key kept in `data` without a running ring (the offline
/// `sealtrail signing-key rotate`). A running server picks the new key up
/// at its next checkpoint.
pub fn rotate_offline(data: &Path, overlap: Duration, now: u64) -> Result<Rotation, KeysError> {
    // Loads (and so bootstraps or repairs) the history first.
    let ring = KeyRing::load_for_rotation(data)?;
    ring.rotate(overlap, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyfile::write_skey;
    use crate::testutil::*;
    use crate::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use sealtrail_core::note::NoteVerifier;
    use std::time::Duration;

    #[test]
    fn an_old_data_directory_gets_a_history() {
        let (dir, key) = data_dir();
        let ring = KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        assert_eq!(ring.origin(), ORIGIN);
        assert_eq!(ring.primary_vkey(), key.vkey());
        assert_eq!(ring.vkeys(now()), vec![key.vkey()]);
        let h = read_history(dir.path()).unwrap().unwrap();
        assert_eq!(h.v, HISTORY_VERSION);
        assert_eq!(h.keys.len(), 1);
        assert_eq!(h.keys[0].role, KeyRole::Primary);
        assert_eq!(h.keys[0].source, KeySource::DataDir);
        assert_eq!(h.keys[0].key_id, hex_id(key.verifier().key_id()));
        assert!(ring.pending_rotations().is_empty());
        // The history holds no private material.
        let text = std::fs::read_to_string(dir.path().join(HISTORY_FILE)).unwrap();
        assert!(!text.contains("PRIVATE"), "{text}");
        let signed = ring.sign_checkpoint(cp(1), now()).unwrap();
        assert!(opens_with(&signed.to_bytes(), &key.vkey()));
    }

    #[test]
    fn a_log_key_that_is_not_the_primary_is_refused() {
        let (dir, _) = data_dir();
        KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        write_skey(dir.path(), KEY_FILE, &generate(ORIGIN).unwrap()).unwrap();
        let e = KeyRing::load(dir.path(), &SigningOptions::default()).unwrap_err();
        assert!(format!("{e:#}").contains("names"), "{e:#}");
    }

    #[test]
    fn a_ring_on_an_external_signer() {
        let dir = tempfile::tempdir().unwrap();
        let bin = tempfile::tempdir().unwrap();
        let key = generate(ORIGIN).unwrap();
        let text = cp(9).to_text();
        let sig = STANDARD.encode(key.sign(text.as_bytes()));
        let cmd = script(
            bin.path(),
            "signer",
            &key.vkey(),
            &format!("cat >/dev/null; echo {sig}"),
        );
        let opts = SigningOptions {
            key_path: None,
            signer_command: Some(cmd.clone()),
        };
        let ring = KeyRing::load(dir.path(), &opts).unwrap();
        assert_eq!(ring.primary_vkey(), key.vkey());
        assert_eq!(ring.history(now())[0].source, KeySource::Command);
        let signed = ring.sign_checkpoint(cp(9), now()).unwrap();
        assert!(opens_with(&signed.to_bytes(), &key.vkey()));
        // Its answer for another checkpoint is wrong: no checkpoint.
        let e = ring.sign_checkpoint(cp(10), now()).unwrap_err();
        assert!(
            matches!(e, SignError::Signer(SignerError::BadSignature(_))),
            "{e}"
        );
        // Neither the history nor any file in the data directory holds the
        // command or a private key.
        for f in files(dir.path()) {
            let bytes = std::fs::read(dir.path().join(&f)).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains("PRIVATE") && !text.contains(&cmd),
                "{f}: {text}"
            );
        }
        let e = format!(
            "{:#}",
            ring.rotate(Duration::from_secs(1), now()).unwrap_err()
        );
        assert!(e.contains("external signer"), "{e}");
    }

    #[test]
    fn an_in_memory_ring() {
        let key = generate(ORIGIN).unwrap();
        let ring = KeyRing::from_signer(key.clone());
        ring.refresh(now()).unwrap();
        assert!(ring.rotate(Duration::ZERO, now()).is_err());
        let s = ring.sign_checkpoint(cp(1), now()).unwrap();
        assert!(opens_with(&s.to_bytes(), &key.vkey()));
    }
}
