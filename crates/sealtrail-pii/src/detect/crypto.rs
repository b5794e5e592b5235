//! Cryptocurrency addresses, each with its own checksum: Bitcoin legacy
//! Base58Check (P2PKH `1…`, P2SH `3…`), Bitcoin segwit Bech32 (BIP-173) and
//! Bech32m (BIP-350), and Ethereum `0x…` with the EIP-55 mixed-case checksum.

use sha2::{Digest, Sha256};
use sha3::Keccak256;

const BASE58: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Decodes Base58 into at most `N` bytes; `None` on a bad character or if
/// the value does not fit.
fn base58_decode<const N: usize>(s: &[u8]) -> Option<([u8; N], usize)> {
    let mut out = [0u8; N];
    let mut len = 0usize; // bytes in use, little-endian in out[..len]
    for &c in s {
        let mut carry = BASE58.iter().position(|&a| a == c)? as u32;
        for byte in out.iter_mut().take(len) {
            carry += u32::from(*byte) * 58;
            *byte = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            if len == N {
                return None;
            }
            out[len] = (carry & 0xff) as u8;
            len += 1;
            carry >>= 8;
        }
    }
    // Each leading '1' is a leading zero byte.
    let zeros = s.iter().take_while(|&&c| c == b'1').count();
    let total = len + zeros;
    if total > N {
        return None;
    }
    let mut be = [0u8; N];
    for i in 0..len {
        be[zeros + i] = out[len - 1 - i];
    }
    Some((be, total))
}

/// Bitcoin Base58Check address: 25 bytes, version 0x00 (P2PKH) or 0x05
/// (P2SH), checksum = first 4 bytes of SHA-256(SHA-256(version ‖ hash)).
pub(crate) fn bitcoin_base58(s: &[u8]) -> Option<&'static str> {
    if !(25..=35).contains(&s.len()) || !matches!(s[0], b'1' | b'3') {
        return None;
    }
    let (bytes, len) = base58_decode::<25>(s)?;
    if len != 25 {
        return None;
    }
    let kind = match bytes[0] {
        0x00 => "Bitcoin P2PKH, Base58Check valid",
        0x05 => "Bitcoin P2SH, Base58Check valid",
        _ => return None,
    };
    let check = Sha256::digest(Sha256::digest(&bytes[..21]));
    (check[..4] == bytes[21..]).then_some(kind)
}

const BECH32_CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const BECH32_CONST: u32 = 1;
const BECH32M_CONST: u32 = 0x2bc8_30a3;

fn bech32_polymod(values: impl Iterator<Item = u8>) -> u32 {
    const GEN: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    let mut chk: u32 = 1;
    for v in values {
        let top = chk >> 25;
        chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

/// Bitcoin segwit address (`bc1…` / `tb1…`): Bech32 for witness version 0,
/// Bech32m for versions 1–16, and a program length the version allows.
pub(crate) fn bitcoin_segwit(s: &[u8]) -> Option<&'static str> {
    if !(14..=90).contains(&s.len()) {
        return None;
    }
    let has_lower = s.iter().any(u8::is_ascii_lowercase);
    let has_upper = s.iter().any(u8::is_ascii_uppercase);
    if has_lower && has_upper {
        return None;
    }
    let lower: Vec<u8> = s.iter().map(u8::to_ascii_lowercase).collect();
    let sep = lower.iter().rposition(|&b| b == b'1')?;
    let (hrp, data) = (&lower[..sep], &lower[sep + 1..]);
    if hrp != b"bc" && hrp != b"tb" {
        return None;
    }
    if data.len() < 7 {
        return None;
    }
    let mut values = Vec::with_capacity(data.len());
    for c in data {
        values.push(BECH32_CHARSET.iter().position(|a| a == c)? as u8);
    }
    let expanded = hrp
        .iter()
        .map(|c| c >> 5)
        .chain(std::iter::once(0))
        .chain(hrp.iter().map(|c| c & 31))
        .chain(values.iter().copied());
    let constant = bech32_polymod(expanded);
    let payload = &values[..values.len() - 6];
    let version = *payload.first()?;
    let expected = if version == 0 {
        BECH32_CONST
    } else {
        BECH32M_CONST
    };
    if version > 16 || constant != expected {
        return None;
    }
    // Regroup the 5-bit program into bytes; padding must be zero and short.
    let mut acc = 0u32;
    let mut bits = 0u32;
    let mut prog_len = 0usize;
    for &v in &payload[1..] {
        acc = (acc << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            prog_len += 1;
        }
    }
    if bits >= 5 || acc & ((1 << bits) - 1) != 0 {
        return None;
    }
    if !(2..=40).contains(&prog_len) || (version == 0 && prog_len != 20 && prog_len != 32) {
        return None;
    }
    Some(if version == 0 {
        "Bitcoin segwit v0, Bech32 valid"
    } else {
        "Bitcoin segwit v1+, Bech32m valid"
    })
}

/// Ethereum address `0x` + 40 hex digits. All-lower or all-upper case has no
/// checksum; mixed case must match EIP-55 (Keccak-256 of the lower-case hex:
/// a letter is upper case exactly when its hash nibble is 8 or more).
/// Returns the reason and whether a checksum was verified.
pub(crate) fn ethereum(s: &[u8]) -> Option<(&'static str, bool)> {
    if s.len() != 42 || &s[..2] != b"0x" || !s[2..].iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let hex = &s[2..];
    let has_lower = hex.iter().any(u8::is_ascii_lowercase);
    let has_upper = hex.iter().any(u8::is_ascii_uppercase);
    if !(has_lower && has_upper) {
        return Some(("Ethereum address, no checksum (single case)", false));
    }
    let lower: Vec<u8> = hex.iter().map(u8::to_ascii_lowercase).collect();
    let hash = Keccak256::digest(&lower);
    for (i, &c) in hex.iter().enumerate() {
        if c.is_ascii_digit() {
            continue;
        }
        let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
        if (nibble >= 8) != c.is_ascii_uppercase() {
            return None;
        }
    }
    Some(("Ethereum address, EIP-55 checksum valid", true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base58check() {
        assert!(bitcoin_base58(b"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2").is_some());
        assert!(bitcoin_base58(b"3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy").is_some());
        assert!(bitcoin_base58(b"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3").is_none());
        assert!(bitcoin_base58(b"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN0").is_none());
        assert!(bitcoin_base58(b"1").is_none());
    }

    #[test]
    fn bech32() {
        assert!(bitcoin_segwit(b"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4").is_some());
        assert!(bitcoin_segwit(b"BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4").is_some());
        assert!(
            bitcoin_segwit(b"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0")
                .is_some()
        );
        // One character changed.
        assert!(bitcoin_segwit(b"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5").is_none());
        // Mixed case.
        assert!(bitcoin_segwit(b"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kV8f3t4").is_none());
    }

    #[test]
    fn eip55() {
        assert_eq!(
            ethereum(b"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
            Some(("Ethereum address, EIP-55 checksum valid", true))
        );
        assert!(ethereum(b"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD").is_none());
        assert_eq!(
            ethereum(b"0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed").map(|r| r.1),
            Some(false)
        );
        assert!(ethereum(b"0x5aaeb6053f3e94c9b9a09f33669435e7ef1beae").is_none());
    }
}
