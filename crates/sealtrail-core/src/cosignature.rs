//! C2SP `tlog-cosignature`, Ed25519 type (`cosignature/v1`): a witness's
//! timestamped statement that a checkpoint is the largest consistent tree head it
//! has seen for that log.
//!
//! A cosignature is an ordinary signed-note signature line whose key id uses type
//! byte 0x04 and whose bytes are `timestamp (u64 BE) ‖ Ed25519 signature` over
//!
//! ```text
//! cosignature/v1\n
//! time <timestamp>\n
//! <the whole checkpoint note text>
//! ```
//!
//! [`CosignatureVerifier`] implements [`NoteVerifier`], so one verifier list can mix
//! log keys and witness keys when opening a checkpoint.

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};

use crate::checkpoint::Checkpoint;
use crate::note::{
    format_skey, format_vkey, key_id, parse_ed25519_vkey, parse_skey, wipe, KeyError, NoteSigner,
    NoteVerifier, SIG_TYPE_COSIGNATURE_V1, SIG_TYPE_ED25519,
};

/// Largest timestamp the spec allows: 2^63 − 1.
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// Length of an Ed25519 cosignature: 8-byte timestamp and 64-byte signature.
pub const COSIGNATURE_LEN: usize = 8 + 64;

/// Why a cosignature could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    #[error("cosignature timestamp {0} exceeds 2^63-1")]
    TimestampTooLarge(u64),
    #[error("invalid cosigner key: {0}")]
    Key(#[from] KeyError),
}

/// The signed message: header line, time line, then the checkpoint note text.
fn message(timestamp: u64, checkpoint_text: &[u8]) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    m.extend_from_slice(checkpoint_text);
    m
}

/// Reads the timestamp in front of a cosignature, if `sig` has the right length
/// and an in-range timestamp. Does not verify anything: use it on signatures that
/// [`crate::note::Note::verify`] already accepted.
pub fn cosignature_timestamp(sig: &[u8]) -> Option<u64> {
    if sig.len() != COSIGNATURE_LEN {
        return None;
    }
    let (ts, _) = sig.split_first_chunk::<8>()?;
    let t = u64::from_be_bytes(*ts);
    (t <= MAX_TIMESTAMP).then_some(t)
}

/// A witness signing key (Ed25519, cosignature/v1).
#[derive(Clone)]
pub struct CosignatureSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for CosignatureSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosignatureSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .field("seed", &"<redacted>")
            .finish()
    }
}

impl CosignatureSigner {
    /// Builds a witness key from a caller-generated 32-byte seed.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, KeyError> {
        crate::note::check_key_name(name).map_err(|reason| KeyError::Name {
            name: name.to_owned(),
            reason,
        })?;
        let mut seed = seed;
        let key = SigningKey::from_bytes(&seed);
        wipe(&mut seed);
        Ok(CosignatureSigner {
            name: name.to_owned(),
            key_id: key_id(
                name,
                SIG_TYPE_COSIGNATURE_V1,
                key.verifying_key().as_bytes(),
            ),
            key,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex8>+<base64(type ‖ seed)>` with type 0x04, or
    /// 0x01 (a plain note key reused for cosigning, as transparency-dev's
    /// `NewSignerForCosignatureV1` allows). The stated id must match the key under
    /// the stated type; the resulting signer always uses the 0x04 key id.
    pub fn from_skey(skey: &str) -> Result<Self, KeyError> {
        let parts = parse_skey(skey)?;
        if parts.sig_type != SIG_TYPE_COSIGNATURE_V1 && parts.sig_type != SIG_TYPE_ED25519 {
            return Err(KeyError::UnsupportedType {
                found: parts.sig_type,
                expected: SIG_TYPE_COSIGNATURE_V1,
            });
        }
        let signer = CosignatureSigner::from_seed(&parts.name, parts.seed)?;
        let computed = key_id(
            &parts.name,
            parts.sig_type,
            signer.key.verifying_key().as_bytes(),
        );
        if computed != parts.stated_id {
            return Err(KeyError::KeyIdMismatch {
                stated: parts.stated_id,
                computed,
            });
        }
        Ok(signer)
    }

    /// The private key with type byte 0x04. Secret: wipe it when done.
    pub fn to_skey(&self) -> String {
        format_skey(
            &self.name,
            self.key_id,
            SIG_TYPE_COSIGNATURE_V1,
            self.key.as_bytes(),
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// `timestamp ‖ signature` over the cosignature/v1 message for `checkpoint_text`
    /// (the note text: the checkpoint's lines, not its signatures).
    pub fn sign(&self, checkpoint_text: &str, timestamp: u64) -> Result<Vec<u8>, CosignatureError> {
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::TimestampTooLarge(timestamp));
        }
        Ok(self.sign_unchecked(checkpoint_text.as_bytes(), timestamp))
    }

    /// Cosigns a parsed checkpoint: only checkpoints, never arbitrary text.
    pub fn sign_checkpoint(
        &self,
        checkpoint: &Checkpoint,
        timestamp: u64,
    ) -> Result<Vec<u8>, CosignatureError> {
        self.sign(&checkpoint.to_text(), timestamp)
    }

    fn sign_unchecked(&self, msg: &[u8], timestamp: u64) -> Vec<u8> {
        let sig = self.key.sign(&message(timestamp, msg));
        let mut out = Vec::with_capacity(COSIGNATURE_LEN);
        out.extend_from_slice(&timestamp.to_be_bytes());
        out.extend_from_slice(&sig.to_bytes());
        out
    }

    /// A [`NoteSigner`] that cosigns at `timestamp`, for
    /// [`crate::note::Note::add_signatures`] / [`crate::checkpoint::SignedCheckpoint::add_signatures`].
    pub fn at(&self, timestamp: u64) -> Result<TimestampedCosigner<'_>, CosignatureError> {
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::TimestampTooLarge(timestamp));
        }
        Ok(TimestampedCosigner {
            signer: self,
            timestamp,
        })
    }

    /// The matching verifier.
    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// `<name>+<hex8>+<base64(0x04 ‖ pubkey)>`.
    pub fn vkey(&self) -> String {
        self.verifier().to_vkey()
    }
}

/// A [`CosignatureSigner`] bound to a timestamp (checked ≤ 2^63−1 when made).
#[derive(Debug, Clone, Copy)]
pub struct TimestampedCosigner<'a> {
    signer: &'a CosignatureSigner,
    timestamp: u64,
}

impl NoteSigner for TimestampedCosigner<'_> {
    fn name(&self) -> &str {
        &self.signer.name
    }
    fn key_id(&self) -> u32 {
        self.signer.key_id
    }
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.signer.sign_unchecked(msg, self.timestamp)
    }
}

/// A trusted witness key (Ed25519, cosignature/v1, type byte 0x04).
#[derive(Clone, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl fmt::Debug for CosignatureVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CosignatureVerifier({})", self.to_vkey())
    }
}

impl CosignatureVerifier {
    /// Parses `<name>+<hex8>+<base64(0x04 ‖ pubkey)>`.
    pub fn from_vkey(vkey: &str) -> Result<Self, KeyError> {
        let (name, key_id, key) = parse_ed25519_vkey(vkey, SIG_TYPE_COSIGNATURE_V1)?;
        Ok(CosignatureVerifier { name, key_id, key })
    }

    /// A verifier for a known witness public key; the 0x04 key id is derived.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, KeyError> {
        crate::note::check_key_name(name).map_err(|reason| KeyError::Name {
            name: name.to_owned(),
            reason,
        })?;
        Ok(CosignatureVerifier {
            name: name.to_owned(),
            key_id: key_id(name, SIG_TYPE_COSIGNATURE_V1, key.as_bytes()),
            key,
        })
    }

    pub fn to_vkey(&self) -> String {
        format_vkey(&self.name, SIG_TYPE_COSIGNATURE_V1, self.key.as_bytes())
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The timestamp of a valid cosignature of `msg` (the checkpoint note text),
    /// or `None` if it does not verify or the timestamp exceeds 2^63−1.
    pub fn verify_timestamped(&self, msg: &[u8], sig: &[u8]) -> Option<u64> {
        let timestamp = cosignature_timestamp(sig)?;
        let ed: [u8; 64] = sig.get(8..)?.try_into().ok()?;
        self.key
            .verify(&message(timestamp, msg), &Signature::from_bytes(&ed))
            .ok()
            .map(|()| timestamp)
    }
}

impl NoteVerifier for CosignatureVerifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.key_id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.verify_timestamped(msg, sig).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{OriginCheck, SignedCheckpoint};
    use crate::hash::sha256;
    use crate::note::{Ed25519Signer, Note};

    fn cp() -> Checkpoint {
        Checkpoint {
            origin: "example.com/log".into(),
            size: 7,
            root: sha256(b"r"),
            extensions: vec![],
        }
    }

    #[test]
    fn message_layout() {
        assert_eq!(
            message(1679315147, b"o\n1\nx\n"),
            b"cosignature/v1\ntime 1679315147\no\n1\nx\n"
        );
    }

    #[test]
    fn sign_verify_timestamp() {
        let w = CosignatureSigner::from_seed("witness.example/w1", [5; 32]).unwrap();
        let text = cp().to_text();
        let sig = w.sign(&text, 1_700_000_000).unwrap();
        assert_eq!(sig.len(), COSIGNATURE_LEN);
        let v = w.verifier();
        assert_eq!(
            v.verify_timestamped(text.as_bytes(), &sig),
            Some(1_700_000_000)
        );
        assert_eq!(cosignature_timestamp(&sig), Some(1_700_000_000));
        let mut bad = sig.clone();
        bad[7] ^= 1; // timestamp is signed
        assert_eq!(v.verify_timestamped(text.as_bytes(), &bad), None);
        assert_eq!(
            w.sign(&text, MAX_TIMESTAMP + 1).unwrap_err().to_string(),
            "cosignature timestamp 9223372036854775808 exceeds 2^63-1"
        );
        assert!(w.at(u64::MAX).is_err());
        assert!(w.sign(&text, MAX_TIMESTAMP).is_ok());
    }

    #[test]
    fn timestamp_above_limit_is_rejected_even_if_signed() {
        let w = CosignatureSigner::from_seed("w", [5; 32]).unwrap();
        let sig = w.sign_unchecked(b"t\n", u64::MAX);
        assert_eq!(w.verifier().verify_timestamped(b"t\n", &sig), None);
    }

    #[test]
    fn keys_round_trip_and_differ_from_note_keys() {
        let w = CosignatureSigner::from_seed("w.example", [6; 32]).unwrap();
        let v = CosignatureVerifier::from_vkey(&w.vkey()).unwrap();
        assert_eq!(v, w.verifier());
        let back = CosignatureSigner::from_skey(&w.to_skey()).unwrap();
        assert_eq!(back.vkey(), w.vkey());
        // A plain note key for the same seed is accepted and re-keyed to 0x04.
        let plain = Ed25519Signer::from_seed("w.example", [6; 32]).unwrap();
        let re = CosignatureSigner::from_skey(&plain.to_skey()).unwrap();
        assert_eq!(re.vkey(), w.vkey());
        assert_ne!(NoteSigner::key_id(&plain), w.key_id());
        assert!(matches!(
            CosignatureVerifier::from_vkey(&plain.vkey()),
            Err(KeyError::UnsupportedType {
                found: 1,
                expected: 4
            })
        ));
        assert!(!format!("{w:?}").contains("6, 6"));
    }

    #[test]
    fn mixed_verifier_list() {
        let log = Ed25519Signer::from_seed("example.com/log", [1; 32]).unwrap();
        let w1 = CosignatureSigner::from_seed("w1.example", [2; 32]).unwrap();
        let w2 = CosignatureSigner::from_seed("w2.example", [3; 32]).unwrap();
        let mut sc = SignedCheckpoint::sign(cp(), &[&log]).unwrap();
        sc.add_signatures(&[&w1.at(100).unwrap(), &w2.at(200).unwrap()])
            .unwrap();
        let (lv, v1, v2) = (log.verifier(), w1.verifier(), w2.verifier());
        let list: [&dyn NoteVerifier; 3] = [&lv, &v1, &v2];
        let (opened, sigs) =
            SignedCheckpoint::open_with(&sc.to_bytes(), &list, OriginCheck::MatchKeyName).unwrap();
        assert_eq!(opened.checkpoint, cp());
        assert_eq!(
            sigs.iter().map(|s| s.verifier).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        let times: Vec<_> = sigs
            .iter()
            .filter(|s| s.verifier > 0)
            .map(|s| cosignature_timestamp(&s.sig))
            .collect();
        assert_eq!(times, [Some(100), Some(200)]);
        // A cosignature alone does not make the origin's key: rejected by default.
        assert!(SignedCheckpoint::open(&sc.to_bytes(), &[&v1]).is_err());
        // A log key does not verify a cosignature (different id, different message).
        let note = Note::parse(&sc.to_bytes()).unwrap();
        let cos = &note.signatures()[1];
        assert!(!lv.verify(note.text().as_bytes(), &cos.sig));
    }
}
