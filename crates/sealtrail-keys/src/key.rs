//! One Ed25519 key of a log: a fresh one, and its key id as the history
//! and file names write it.

use sealtrail_core::note::Ed25519Signer;

use crate::error::KeysError;

/// A key id (the first 4 bytes of the C2SP key hash) as 8 hex digits.
pub fn hex_id(id: u32) -> String {
    format!("{id:08x}")
}

/// A fresh Ed25519 key named `origin`.
pub fn generate(origin: &str) -> Result<Ed25519Signer, KeysError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeysError::NoRandomness(e.to_string()))?;
    let signer = Ed25519Signer::from_seed(origin, seed).map_err(|cause| KeysError::BadOrigin {
        origin: origin.to_owned(),
        cause,
    });
    crate::keyfile::wipe(&mut seed);
    signer
}
