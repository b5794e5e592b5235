//! Files holding private keys, and the crash-safe writes every file of the
//! key state goes through: a temporary file, fsync'd, renamed, and the
//! directory fsync'd. Private keys are mode 0600 and their bytes are wiped
//! from memory once read or written.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use sealtrail_core::note::Ed25519Signer;

use crate::error::KeysError;

/// Writes `dir/name` via a temporary file, fsync'd, renamed, directory fsync'd.
pub(crate) fn write_atomic(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    mode: u32,
) -> Result<(), KeysError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let write_err = |cause| KeysError::Write {
        path: tmp.clone(),
        cause,
    };
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(write_err)?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(write_err)?;
    }
    rename(&tmp, &path)?;
    sync_dir(dir)
}

pub(crate) fn rename(from: &Path, to: &Path) -> Result<(), KeysError> {
    std::fs::rename(from, to).map_err(|cause| KeysError::Rename {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
        cause,
    })
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), KeysError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|cause| KeysError::SyncDir {
            dir: dir.to_path_buf(),
            cause,
        })
}

/// Writes a private key (mode 0600, fsync'd, atomically renamed).
pub(crate) fn write_skey(dir: &Path, name: &str, signer: &Ed25519Signer) -> Result<(), KeysError> {
    let mut text = signer.to_skey().into_bytes();
    text.push(b'\n');
    let r = write_atomic(dir, name, &text, 0o600);
    wipe(&mut text);
    r
}

/// Creates a key file that must not exist yet (mode 0600, fsync'd with its
/// directory): the key an operator asked for at `path`.
pub(crate) fn create_skey(path: &Path, signer: &Ed25519Signer) -> Result<(), KeysError> {
    let mut text = signer.to_skey().into_bytes();
    text.push(b'\n');
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(&text).and_then(|()| f.sync_all()));
    wipe(&mut text);
    written.map_err(|cause| KeysError::WriteNewKey {
        path: path.to_path_buf(),
        cause,
    })?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        sync_dir(dir)?;
    }
    Ok(())
}

pub(crate) fn wipe(buf: &mut [u8]) {
    buf.fill(0);
    std::hint::black_box(buf);
}

/// Reads a C2SP private key file.
pub fn read_skey(path: &Path) -> Result<Ed25519Signer, KeysError> {
    let mut bytes = std::fs::read(path).map_err(|cause| KeysError::ReadKey {
        path: path.to_path_buf(),
        cause,
    })?;
    let parsed = std::str::from_utf8(&bytes)
        .map_err(|_| KeysError::KeyNotUtf8 {
            path: path.to_path_buf(),
        })
        .and_then(|s| {
            Ed25519Signer::from_skey(s.trim()).map_err(|cause| KeysError::BadKeyFile {
                path: path.to_path_buf(),
                cause,
            })
        });
    wipe(&mut bytes);
    parsed
}
