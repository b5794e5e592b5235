//! Rotating a key kept in the data directory, crash-safe: the new key is
//! written as `log.key.<new id>`, the old one copied to `log.key.<old id>`,
//! then the history names the new key primary (the commit point), then
//! `log.key.<new id>` is renamed over `log.key`. A load that finds the
//! history ahead of `log.key` finishes the rename
//! (`finish_pending_rotation`); key files the history does not reference
//! are deleted (`remove_stray_keys`).

use std::path::Path;
use std::time::Duration;

use sealtrail_core::note::NoteVerifier;
use serde::Serialize;

use crate::error::KeysError;
use crate::history::{read_history, write_history, History, KeyHistoryEntry};
use crate::key::{generate, hex_id};
use crate::keyfile::{read_skey, rename, sync_dir, write_skey};
use crate::layout::{overlap_file, overlap_file_id, KEY_FILE};
use crate::lock::Lock;
use crate::roles::{KeyRole, KeySource};

/// A key rotation: what the server logs as a `config_change` event with
/// action `signing_key.rotate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rotation {
    pub origin: String,
    pub old_key_id: String,
    pub old_vkey: String,
    pub new_key_id: String,
    pub new_vkey: String,
    pub new_source: KeySource,
    /// When it happened (microseconds since the epoch).
    pub time: u64,
    /// Until when the old key co-signs; `None`: it stopped at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlap_until: Option<u64>,
}

impl Rotation {
    /// The event's `change` member: `{target, before, after}`.
    pub fn change(&self) -> serde_json::Value {
        serde_json::json!({
            "target": "signing_key",
            "before": {"key_id": self.old_key_id, "vkey": self.old_vkey},
            "after": {
                "key_id": self.new_key_id,
                "vkey": self.new_vkey,
                "source": self.new_source.as_str(),
                "overlap_until": self.overlap_until,
            },
        })
    }
}

/// Finishes a rotation that stopped between its commit (the history names
/// the new primary) and the rename of `log.key.<new id>` over `log.key`.
pub(crate) fn finish_pending_rotation(data: &Path, h: &History) -> Result<(), KeysError> {
    let Some(p) = h.primary().filter(|p| p.source == KeySource::DataDir) else {
        return Ok(());
    };
    let pending = data.join(overlap_file(&p.key_id));
    if !pending.exists() {
        return Ok(());
    }
    let key = data.join(KEY_FILE);
    let current = if key.exists() {
        Some(read_skey(&key)?.vkey())
    } else {
        None
    };
    if current.as_deref() == Some(p.vkey.as_str()) {
        return Ok(());
    }
    if read_skey(&pending)?.vkey() != p.vkey {
        return Err(KeysError::PendingKeyMismatch {
            path: pending,
            key_id: p.key_id.clone(),
        });
    }
    rename(&pending, &key)?;
    sync_dir(data)?;
    tracing::info!(key_id = %p.key_id, "finished an interrupted signing key rotation");
    Ok(())
}

/// Deletes key files nothing refers to (ended overlaps, a rotation that
/// crashed before its commit) and temporary files; `keep` are the file
/// names of overlap keys still in use.
pub(crate) fn remove_stray_keys(data: &Path, keep: &[String]) -> Result<(), KeysError> {
    let entries = std::fs::read_dir(data).map_err(|cause| KeysError::List {
        dir: data.to_path_buf(),
        cause,
    })?;
    let mut removed = false;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let stray_tmp = name.starts_with(&format!(".{KEY_FILE}.")) && name.ends_with(".tmp");
        let stray_key = overlap_file_id(name).is_some() && !keep.iter().any(|k| k == name);
        if stray_tmp || stray_key {
            std::fs::remove_file(e.path()).map_err(|cause| KeysError::Delete {
                path: e.path(),
                cause,
            })?;
            removed = true;
        }
    }
    if removed {
        sync_dir(data)?;
    }
    Ok(())
}

/// The rotation itself, under the lock (see the module comment for the
/// order of writes).
pub(crate) fn rotate_in(data: &Path, overlap: Duration, now: u64) -> Result<Rotation, KeysError> {
    let _lock = Lock::take(data)?;
    let mut h = read_history(data)?.ok_or_else(|| KeysError::NoHistory {
        data: data.to_path_buf(),
    })?;
    finish_pending_rotation(data, &h)?;
    let old = read_skey(&data.join(KEY_FILE))?;
    let old_vkey = old.vkey();
    let old_id = hex_id(old.verifier().key_id());
    if h.primary().map(|p| p.vkey.as_str()) != Some(old_vkey.as_str()) {
        return Err(KeysError::NotRotated {
            path: data.join(KEY_FILE),
        });
    }
    let new = loop {
        let s = generate(&h.origin)?;
        let id = hex_id(s.verifier().key_id());
        // A key id must name one key of this log (1 in 2^32 chance).
        if !h.keys.iter().any(|k| k.key_id == id) {
            break s;
        }
    };
    let new_vkey = new.vkey();
    let new_id = hex_id(new.verifier().key_id());
    let overlap_micros = u64::try_from(overlap.as_micros()).unwrap_or(u64::MAX);
    let until = (overlap_micros > 0).then(|| now.saturating_add(overlap_micros));
    if until.is_some() {
        write_skey(data, &overlap_file(&old_id), &old)?;
    }
    write_skey(data, &overlap_file(&new_id), &new)?;
    for k in h.keys.iter_mut().filter(|k| k.role == KeyRole::Primary) {
        match until {
            Some(u) => {
                k.role = KeyRole::Overlap;
                k.overlap_until = Some(u);
            }
            None => {
                k.role = KeyRole::Retired;
                k.retired = Some(now);
            }
        }
    }
    h.keys.push(KeyHistoryEntry {
        key_id: new_id.clone(),
        vkey: new_vkey.clone(),
        role: KeyRole::Primary,
        source: KeySource::DataDir,
        created: now,
        overlap_until: None,
        retired: None,
        replaces: Some(old_id.clone()),
        logged: false,
    });
    // The commit point: from here the new key is the primary.
    write_history(data, &h)?;
    let pending = data.join(overlap_file(&new_id));
    rename(&pending, &data.join(KEY_FILE))?;
    sync_dir(data)?;
    Ok(Rotation {
        origin: h.origin.clone(),
        old_key_id: old_id,
        old_vkey,
        new_key_id: new_id,
        new_vkey,
        new_source: KeySource::DataDir,
        time: now,
        overlap_until: until,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyfile::write_skey;
    use crate::layout::{overlap_file, LOCK_FILE};
    use crate::testutil::*;
    use crate::*;
    use sealtrail_core::checkpoint::SignedCheckpoint;
    use sealtrail_core::note::{NoteSigner, NoteVerifier};
    use std::time::Duration;

    #[test]
    fn rotation_overlap_then_expiry() {
        let (dir, old) = data_dir();
        let ring = KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        let t0 = now();
        let r = ring.rotate(Duration::from_secs(60), t0).unwrap();
        assert_eq!(r.old_vkey, old.vkey());
        assert_ne!(r.new_vkey, old.vkey());
        assert_ne!(r.new_key_id, r.old_key_id);
        assert_eq!(r.overlap_until, Some(t0 + 60_000_000));
        assert_eq!(r.change()["target"], "signing_key");
        // Same name (the origin), new key id.
        let new = read_skey(&dir.path().join(KEY_FILE)).unwrap();
        assert_eq!(new.vkey(), r.new_vkey);
        assert_eq!(new.name(), ORIGIN);
        let kept = dir.path().join(overlap_file(&r.old_key_id));
        assert_eq!(read_skey(&kept).unwrap().vkey(), old.vkey());
        use std::os::unix::fs::PermissionsExt;
        for f in [dir.path().join(KEY_FILE), kept.clone()] {
            let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", f.display());
        }

        // During the overlap: primary first, then the old key; each alone opens it.
        assert_eq!(ring.primary_vkey(), r.new_vkey);
        assert_eq!(
            ring.vkeys(t0 + 1),
            vec![r.new_vkey.clone(), r.old_vkey.clone()]
        );
        let during = ring.sign_checkpoint(cp(2), t0 + 1).unwrap();
        assert_eq!(
            key_ids(&during),
            vec![r.new_key_id.clone(), r.old_key_id.clone()]
        );
        let bytes = during.to_bytes();
        assert!(opens_with(&bytes, &r.old_vkey));
        assert!(opens_with(&bytes, &r.new_vkey));
        // Every key of the history opens it too, as the checkpointer does.
        let all = ring.verifiers();
        assert_eq!(all.len(), 2);
        let trusted: Vec<&dyn NoteVerifier> = all.iter().map(|v| v as &dyn NoteVerifier).collect();
        SignedCheckpoint::open(&bytes, &trusted).unwrap();

        let roles: Vec<KeyRole> = ring.history(t0 + 1).iter().map(|k| k.role).collect();
        assert_eq!(roles, vec![KeyRole::Overlap, KeyRole::Primary]);

        // After the overlap: only the new key signs; the old one is retired
        // and its file deleted at the next refresh.
        let after = t0 + 60_000_000;
        assert_eq!(ring.vkeys(after), vec![r.new_vkey.clone()]);
        let late = ring.sign_checkpoint(cp(3), after).unwrap();
        assert_eq!(key_ids(&late), vec![r.new_key_id.clone()]);
        assert!(!opens_with(&late.to_bytes(), &r.old_vkey));
        assert!(opens_with(&late.to_bytes(), &r.new_vkey));
        let roles: Vec<KeyRole> = ring.history(after).iter().map(|k| k.role).collect();
        assert_eq!(roles, vec![KeyRole::Retired, KeyRole::Primary]);
        assert!(kept.exists(), "the file goes at the next refresh");
        ring.refresh(after).unwrap();
        assert!(!kept.exists());
        let h = read_history(dir.path()).unwrap().unwrap();
        assert_eq!(h.keys[0].role, KeyRole::Retired);
        assert_eq!(h.keys[0].retired, Some(after));
        assert_eq!(ring.verifiers().len(), 2, "retired keys still verify");

        // The rotation is pending until logged, across reloads.
        let pending = ring.pending_rotations();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].new_vkey, r.new_vkey);
        assert_eq!(pending[0].old_vkey, r.old_vkey);
        ring.mark_logged(&r.new_key_id).unwrap();
        assert!(ring.pending_rotations().is_empty());
        let again = KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        assert!(again.pending_rotations().is_empty());
        assert_eq!(again.primary_vkey(), r.new_vkey);
        let mut expect = vec![KEY_FILE.to_string(), HISTORY_FILE.into(), LOCK_FILE.into()];
        expect.sort();
        assert_eq!(files(dir.path()), expect);
    }

    #[test]
    fn zero_overlap_retires_at_once() {
        let (dir, old) = data_dir();
        let ring = KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        let t = now();
        let r = ring.rotate(Duration::ZERO, t).unwrap();
        assert_eq!(r.overlap_until, None);
        assert!(!dir.path().join(overlap_file(&r.old_key_id)).exists());
        let s = ring.sign_checkpoint(cp(1), t).unwrap();
        assert_eq!(key_ids(&s), vec![r.new_key_id.clone()]);
        assert!(!opens_with(&s.to_bytes(), &old.vkey()));
        assert_eq!(ring.history(t)[0].role, KeyRole::Retired);
    }

    #[test]
    fn an_offline_rotation_reaches_a_running_ring() {
        let (dir, old) = data_dir();
        let running = KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        let t = now();
        let r = rotate_offline(dir.path(), Duration::from_secs(3600), t).unwrap();
        // Not seen until the refresh (one stat).
        assert_eq!(running.primary_vkey(), old.vkey());
        running.refresh(t + 1).unwrap();
        assert_eq!(running.primary_vkey(), r.new_vkey);
        assert_eq!(running.vkeys(t + 1), vec![r.new_vkey.clone(), old.vkey()]);
        let s = running.sign_checkpoint(cp(7), t + 1).unwrap();
        assert_eq!(s.note.signatures().len(), 2);
        // A second rotation during the overlap: three keys sign.
        let r2 = rotate_offline(dir.path(), Duration::from_secs(60), t + 2).unwrap();
        running.refresh(t + 3).unwrap();
        assert_eq!(running.vkeys(t + 3).len(), 3);
        assert_eq!(running.vkeys(t + 3)[0], r2.new_vkey);
        // Unchanged history: refresh is a no-op.
        running.refresh(t + 4).unwrap();
        assert_eq!(running.vkeys(t + 4).len(), 3);
    }

    #[test]
    fn an_interrupted_rotation_is_finished_on_load() {
        let (dir, old) = data_dir();
        let ring = KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        let r = ring.rotate(Duration::from_secs(3600), now()).unwrap();
        drop(ring);
        // The state right after the commit, before the rename: log.key is
        // still the old key, the new one waits as log.key.<new id>.
        let d = dir.path();
        std::fs::copy(d.join(KEY_FILE), d.join(overlap_file(&r.new_key_id))).unwrap();
        write_skey(d, KEY_FILE, &old).unwrap();
        let ring = KeyRing::load(d, &SigningOptions::default()).unwrap();
        assert_eq!(ring.primary_vkey(), r.new_vkey);
        assert_eq!(read_skey(&d.join(KEY_FILE)).unwrap().vkey(), r.new_vkey);
        assert!(!d.join(overlap_file(&r.new_key_id)).exists());
        assert!(d.join(overlap_file(&r.old_key_id)).exists());
    }

    #[test]
    fn a_rotation_that_crashed_before_its_commit_leaves_nothing() {
        let (dir, old) = data_dir();
        KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        let stray = generate(ORIGIN).unwrap();
        let name = overlap_file(&hex_id(stray.verifier().key_id()));
        write_skey(dir.path(), &name, &stray).unwrap();
        std::fs::write(dir.path().join(format!(".{KEY_FILE}.tmp")), b"x").unwrap();
        let ring = KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        assert_eq!(ring.primary_vkey(), old.vkey());
        assert!(!dir.path().join(&name).exists());
        assert!(!dir.path().join(format!(".{KEY_FILE}.tmp")).exists());
    }
}
