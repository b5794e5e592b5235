//! `sealtrail signer --key FILE (vkey|sign)`: the reference external signer
//! for `serve --signer-command` (the key stays in a file the server need not
//! be able to read, e.g. under another user through sudo). The protocol and
//! what it signs are sealtrail_keys::command's; this is its I/O.
//! Procedures: docs/deploy.md, "Signing keys".

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::ExitCode;

use sealtrail_core::note::MAX_NOTE_SIZE;

use crate::error::OfflineError;

/// What the server asks the signer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerAction {
    /// Print the verifier key.
    Vkey,
    /// Read a checkpoint's note text on stdin, print its base64 Ed25519
    /// signature.
    Sign,
}

/// Answers one request with the key in `key`. It signs only checkpoint
/// text whose origin is the key's name, so the key cannot be made to sign
/// anything else.
pub fn run(key: &Path, action: SignerAction) -> Result<ExitCode, OfflineError> {
    if let Ok(m) = std::fs::metadata(key) {
        if m.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "warning: {} is readable by other users (mode {:o}); chmod 600 it",
                key.display(),
                m.permissions().mode() & 0o777
            );
        }
    }
    let signer = sealtrail_keys::read_skey(key)?;
    match action {
        SignerAction::Vkey => println!("{}", signer.vkey()),
        SignerAction::Sign => {
            let mut text = Vec::new();
            std::io::stdin()
                .take(MAX_NOTE_SIZE as u64 + 1)
                .read_to_end(&mut text)
                .map_err(|cause| OfflineError::NoteStdin { cause })?;
            println!("{}", sealtrail_keys::answer_sign(&signer, &text)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
