//! Helpers of the unit tests: a log key in a temporary data directory,
//! checkpoints, and shell-script signers.

use std::path::Path;

use sealtrail_core::checkpoint::{Checkpoint, SignedCheckpoint};
use sealtrail_core::hash::sha256;
use sealtrail_core::note::{Ed25519Signer, Ed25519Verifier};

use crate::key::{generate, hex_id};
use crate::keyfile::write_skey;
use crate::layout::KEY_FILE;

pub(crate) const ORIGIN: &str = "example.com/test-log";

pub(crate) fn now() -> u64 {
    crate::clock::now_micros()
}

pub(crate) fn cp(size: u64) -> Checkpoint {
    Checkpoint {
        origin: ORIGIN.into(),
        size,
        root: sha256(format!("root {size}").as_bytes()),
        extensions: vec![],
    }
}

/// A data directory holding only `log.key` (what `init` writes).
pub(crate) fn data_dir() -> (tempfile::TempDir, Ed25519Signer) {
    let dir = tempfile::tempdir().unwrap();
    let key = generate(ORIGIN).unwrap();
    write_skey(dir.path(), KEY_FILE, &key).unwrap();
    (dir, key)
}

pub(crate) fn opens_with(note: &[u8], vkey: &str) -> bool {
    let v = Ed25519Verifier::from_vkey(vkey).unwrap();
    SignedCheckpoint::open(note, &[&v]).is_ok()
}

pub(crate) fn key_ids(signed: &SignedCheckpoint) -> Vec<String> {
    signed
        .note
        .signatures()
        .iter()
        .map(|s| hex_id(s.key_id))
        .collect()
}

pub(crate) fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
/// A shell script signer that answers `vkey` with `vkey` and `sign`
/// with `sign_body` (shell code, stdin is the note text).
pub(crate) fn script(dir: &Path, name: &str, vkey: &str, sign_body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n  vkey) echo '{vkey}' ;;\n  sign) {sign_body} ;;\n  *) exit 64 ;;\nesac\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}
