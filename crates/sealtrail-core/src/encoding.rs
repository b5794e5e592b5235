//! Standard base64 (RFC 4648 §4, with padding), the only base64 the C2SP formats use.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

pub fn b64_encode(data: impl AsRef<[u8]>) -> String {
    STANDARD.encode(data)
}

/// Strict decode: padding required, no whitespace, canonical trailing bits.
pub fn b64_decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    STANDARD.decode(s)
}
