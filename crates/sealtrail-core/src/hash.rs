//! RFC 6962 / RFC 9162 §2.1 hashing: SHA-256 with domain separation between
//! leaves (`0x00`) and interior nodes (`0x01`).

use std::fmt;

use sha2::{Digest, Sha256};

/// Length in bytes of every hash in the log.
pub const HASH_LEN: usize = 32;

/// A SHA-256 value: a leaf hash, a node hash or a tree root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; HASH_LEN]);

impl Hash {
    /// Root of the empty tree: `SHA-256("")` (RFC 6962 §2.1).
    pub const EMPTY_ROOT: Hash = Hash([
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9,
        0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52,
        0xb8, 0x55,
    ]);

    pub fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// Builds a hash from exactly 32 bytes; `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<Hash> {
        <[u8; HASH_LEN]>::try_from(bytes).ok().map(Hash)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(s: &str) -> Result<Hash, HashParseError> {
        let mut out = [0u8; HASH_LEN];
        hex::decode_to_slice(s, &mut out).map_err(|_| HashParseError::Hex(s.len()))?;
        Ok(Hash(out))
    }

    pub fn to_base64(&self) -> String {
        crate::encoding::b64_encode(self.0)
    }

    /// Parses standard (RFC 4648 §4, padded) base64 of exactly 32 bytes.
    pub fn from_base64(s: &str) -> Result<Hash, HashParseError> {
        let bytes = crate::encoding::b64_decode(s).map_err(|_| HashParseError::Base64)?;
        Hash::from_slice(&bytes).ok_or(HashParseError::Length(bytes.len()))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Hashes travel in JSON (headers, API answers) as 64 lowercase hex digits.
impl serde::Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 2 * HASH_LEN];
        // Cannot fail: the buffer is exactly twice the input length.
        let _ = hex::encode_to_slice(self.0, &mut buf);
        s.serialize_str(std::str::from_utf8(&buf).unwrap_or_default())
    }
}

impl<'de> serde::Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(serde::de::Error::custom("hash must be lowercase hex"));
        }
        Hash::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// Why a textual hash was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashParseError {
    #[error("expected 64 hex digits, got {0} characters or a non-hex digit")]
    Hex(usize),
    #[error("not valid standard base64")]
    Base64,
    #[error("expected a 32-byte hash, got {0} bytes")]
    Length(usize),
}

/// `SHA-256(0x00 ‖ data)`: the hash of a log entry.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    Hash(h.finalize().into())
}

/// `SHA-256(0x01 ‖ left ‖ right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 1 + 2 * HASH_LEN];
    buf[0] = 0x01;
    buf[1..33].copy_from_slice(&left.0);
    buf[33..].copy_from_slice(&right.0);
    Hash(Sha256::digest(buf).into())
}

/// Plain SHA-256.
pub fn sha256(data: &[u8]) -> Hash {
    Hash(Sha256::digest(data).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(sha256(b""), Hash::EMPTY_ROOT);
    }

    #[test]
    fn leaf_and_node_are_domain_separated() {
        let a = leaf_hash(b"");
        assert_eq!(
            a.to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let mut joined = vec![0x01];
        joined.extend_from_slice(&a.0);
        joined.extend_from_slice(&a.0);
        assert_eq!(node_hash(&a, &a), sha256(&joined));
        assert_ne!(node_hash(&a, &a), leaf_hash(&joined[1..]));
    }

    #[test]
    fn text_forms_round_trip_and_reject_garbage() {
        let h = sha256(b"x");
        assert_eq!(Hash::from_hex(&h.to_hex()), Ok(h));
        assert_eq!(Hash::from_base64(&h.to_base64()), Ok(h));
        assert!(Hash::from_hex("zz").is_err());
        assert_eq!(Hash::from_base64("AAAA"), Err(HashParseError::Length(3)));
    }
}
