//! One line of `entries.jsonl` (docs/formats.md §9.1).

use std::borrow::Cow;

use serde::Deserialize;

use super::Role;
use crate::hash::Hash;
use crate::header::SALT_LEN;
use crate::jcs;

/// A parsed line. Strings borrow from the line when they hold no escapes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryLine<'a> {
    pub index: u64,
    pub role: Role,
    /// Version 2: the base64 gap hashes consumed before this entry's leaf
    /// (docs/formats.md §10.2); absent means none.
    #[serde(default)]
    pub gaps: Option<Vec<String>>,
    /// The entry bytes (§4) as text.
    #[serde(borrow)]
    pub header: Cow<'a, str>,
    /// 64 lowercase hex digits, or null.
    #[serde(borrow)]
    pub salt: Option<Cow<'a, str>>,
    /// The body bytes (§3) as text, or null.
    #[serde(borrow)]
    pub body: Option<Cow<'a, str>>,
}

/// A body with the salt of its commitment.
pub type SaltedBody<'a> = ([u8; SALT_LEN], &'a [u8]);

/// Why a line could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("line is not a valid entry line: {0}")]
    Json(String),
    #[error("the {0} is not valid UTF-8")]
    NotUtf8(&'static str),
    #[error("salt must be {} lowercase hex digits", 2 * SALT_LEN)]
    Salt,
    #[error("salt and body must both be present or both be null")]
    HalfBody,
    #[error("gaps[{0}] is not a base64 SHA-256 hash")]
    Gap(usize),
}

impl<'a> EntryLine<'a> {
    /// Parses one line (without its newline).
    pub fn parse(line: &'a [u8]) -> Result<EntryLine<'a>, LineError> {
        serde_json::from_slice(line).map_err(|e| LineError::Json(e.to_string()))
    }

    /// The salt and body, when both are present.
    pub fn salt_and_body(&self) -> Result<Option<SaltedBody<'_>>, LineError> {
        match (&self.salt, &self.body) {
            (None, None) => Ok(None),
            (Some(salt), Some(body)) => {
                let mut out = [0u8; SALT_LEN];
                if salt.bytes().any(|b| b.is_ascii_uppercase())
                    || hex::decode_to_slice(salt.as_bytes(), &mut out).is_err()
                {
                    return Err(LineError::Salt);
                }
                Ok(Some((out, body.as_bytes())))
            }
            _ => Err(LineError::HalfBody),
        }
    }

    /// The gap hashes, decoded into `out` (cleared first).
    pub fn gap_hashes(&self, out: &mut Vec<Hash>) -> Result<(), LineError> {
        out.clear();
        for (i, g) in self.gaps.iter().flatten().enumerate() {
            out.push(Hash::from_base64(g).map_err(|_| LineError::Gap(i))?);
        }
        Ok(())
    }
}

/// Appends one line (with its `\n`) to `out`: `{"index":…,"role":…,
/// ["gaps":[…],]"header":…,"salt":…,"body":…}`. A version 1 line has no gaps.
pub fn write_entry_line(
    out: &mut Vec<u8>,
    index: u64,
    role: Role,
    gaps: &[Hash],
    header: &[u8],
    body: Option<(&[u8; SALT_LEN], &[u8])>,
) -> Result<(), LineError> {
    let header = std::str::from_utf8(header).map_err(|_| LineError::NotUtf8("header"))?;
    out.extend_from_slice(b"{\"index\":");
    // Into the line directly: no String per entry (writing to a Vec cannot fail).
    let _ = std::io::Write::write_fmt(out, format_args!("{index}"));
    out.extend_from_slice(b",\"role\":\"");
    out.extend_from_slice(role.as_str().as_bytes());
    if !gaps.is_empty() {
        out.extend_from_slice(b"\",\"gaps\":[");
        for (i, g) in gaps.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(g.to_base64().as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(b"],\"header\":");
    } else {
        out.extend_from_slice(b"\",\"header\":");
    }
    jcs::write_str(header, out);
    match body {
        Some((salt, body)) => {
            let body = std::str::from_utf8(body).map_err(|_| LineError::NotUtf8("body"))?;
            out.extend_from_slice(b",\"salt\":\"");
            let mut hex = [0u8; 2 * SALT_LEN];
            // The lengths match: encoding cannot fail.
            let _ = hex::encode_to_slice(salt, &mut hex);
            out.extend_from_slice(&hex);
            out.extend_from_slice(b"\",\"body\":");
            jcs::write_str(body, out);
            out.push(b'}');
        }
        None => out.extend_from_slice(b",\"salt\":null,\"body\":null}"),
    }
    out.push(b'\n');
    Ok(())
}
