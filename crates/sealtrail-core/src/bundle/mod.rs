//! Evidence bundles, version 1 (docs/formats.md §9): one ZIP file that answers a
//! query over the log and proves its answer offline.
//!
//! This module is the pure part: the member names, the manifest and the
//! `entries.jsonl` line format (for writers and readers), the completeness
//! file, the README text, and the verifier. It never touches a file, and
//! by default no ZIP: readers hand it member bytes through [`Members`], so
//! the same code runs in the CLI, in the server's tests and in a browser.
//! With the `zip` feature, [`zip`] reads a bundle's ZIP bytes (in memory).
//!
//! Verification is built to be fast on large bundles: headers are parsed
//! with a direct deserialiser (no JSON tree), proof files are checked
//! against the bundle checkpoint by a byte comparison instead of being
//! re-parsed as notes, and inclusion proofs share one cache of verified
//! nodes ([`proofs::BatchInclusion`]), so most proofs end after one or two
//! hashes.

mod check;
mod completeness;
mod fast;
pub mod gaps;
pub mod keys;
mod line;
mod manifest;
pub mod proofs;
mod readme;
pub mod synthetic;
mod verify;
pub mod write;
#[cfg(feature = "zip")]
pub mod zip;
#[cfg(feature = "zip")]
pub mod zip_write;

pub use crate::filter::QueryMismatch;
pub use check::{Checked, HeaderFacts, LineChecker, LineRules};
pub use completeness::{CompletenessFile, HeadsProofJson, HeadsRecordJson};
pub use line::{write_entry_line, EntryLine, LineError};
pub use manifest::{Completeness, Counts, Manifest, ManifestError, StreamField, TreeRef};
pub use readme::readme;
pub use verify::{check_chunk_names, verify_members, Failure, Problem, Report, Verifier};

/// `manifest.json`'s `format`.
pub const FORMAT: &str = "sealtrail-evidence-bundle";
/// The bundle version this code writes and the newest it reads.
pub const BUNDLE_VERSION: u64 = 2;

/// Member names.
pub const MANIFEST: &str = "manifest.json";
pub const CHECKPOINT: &str = "checkpoint";
pub const KEYS: &str = "keys/log.vkey";
pub const ENTRIES: &str = "entries.jsonl";
pub const COMPLETENESS: &str = "completeness.json";
pub const README: &str = "README.md";

/// `proofs/<index>.tlog-proof`.
pub fn proof_member(index: u64) -> String {
    format!("proofs/{index}.tlog-proof")
}

/// [`EntryHeader::parse`](crate::header::EntryHeader::parse) with a fast
/// path for bytes already in canonical form (what bundles and stores hold):
/// a direct reader that accepts only canonical bytes and gives the same
/// header, falling back to the general parser, which also gives the
/// precise error.
pub fn read_header(bytes: &[u8]) -> Result<crate::header::EntryHeader, crate::header::HeaderError> {
    // No UTF-8 check of the whole is needed: outside strings the fast
    // reader accepts only ASCII literals, and it checks each string.
    match fast::parse_header(bytes) {
        Some(h) => Ok(h),
        None => crate::header::EntryHeader::parse(bytes),
    }
}

/// [`read_header`] into `slot`, reusing the strings of the header read
/// there before (a store check reads every header of the log; once warm, a
/// canonical header costs no allocation).
pub fn read_header_into<'s>(
    bytes: &[u8],
    slot: &'s mut Option<crate::header::EntryHeader>,
) -> Result<&'s crate::header::EntryHeader, crate::header::HeaderError> {
    let h = slot.get_or_insert_with(fast::blank_header);
    if fast::parse_header_into(bytes, h).is_none() {
        // The general parser: the same header, or the precise error. The
        // slot's content after a failed fast read is unspecified: replace it.
        *h = crate::header::EntryHeader::parse(bytes)?;
    }
    Ok(h)
}

/// Version 2's `entries/<k>.jsonl`.
pub fn chunk_member(k: u64) -> String {
    format!("entries/{k}.jsonl")
}

/// The `k` of an `entries/<k>.jsonl` name (decimal, no leading zeros).
pub fn chunk_member_index(name: &str) -> Option<u64> {
    decimal_between(name, "entries/", ".jsonl")
}

/// A bundle's entries members among `names`, in reading order:
/// `entries.jsonl` (version 1) or `entries/0.jsonl`, `entries/1.jsonl`, …
/// (version 2; names do not sort in that order).
pub fn entries_members<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = names
        .filter(|n| *n == ENTRIES || chunk_member_index(n).is_some())
        .cloned()
        .collect();
    out.sort_by_key(|n| chunk_member_index(n));
    out
}

/// The entry index a proof member is named after, if the name is one.
pub fn proof_member_index(name: &str) -> Option<u64> {
    decimal_between(name, "proofs/", ".tlog-proof")
}

/// The number written between `prefix` and `suffix` in `name`: decimal
/// digits without a leading zero (one canonical name per number).
fn decimal_between(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    digits.parse().ok()
}

/// Why an entry is in the bundle (docs/formats.md §9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Satisfies the query.
    Match,
    /// In the completeness stream and the time range, but not a match.
    Stream,
    /// The stream's (or the log's) last entry before the range.
    Before,
    /// The stream's (or the log's) first entry at or after the range's end.
    After,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Match => "match",
            Role::Stream => "stream",
            Role::Before => "before",
            Role::After => "after",
        }
    }
}

/// A member as a reader found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member<'a> {
    Present(&'a [u8]),
    Absent,
    /// It is listed but cannot be read (bad checksum, cut short): the reason.
    Unreadable(&'a str),
}

/// Access to a bundle's members by name.
pub trait Members {
    fn get(&mut self, name: &str) -> Member<'_>;

    /// Every member's name, when the reader can list them.
    fn names(&self) -> Option<Vec<String>> {
        None
    }
}

impl Members for std::collections::BTreeMap<String, Vec<u8>> {
    fn get(&mut self, name: &str) -> Member<'_> {
        match std::collections::BTreeMap::get(self, name) {
            Some(b) => Member::Present(b),
            None => Member::Absent,
        }
    }

    fn names(&self) -> Option<Vec<String>> {
        Some(self.keys().cloned().collect())
    }
}

impl Members for std::collections::HashMap<String, Vec<u8>> {
    fn get(&mut self, name: &str) -> Member<'_> {
        match std::collections::HashMap::get(self, name) {
            Some(b) => Member::Present(b),
            None => Member::Absent,
        }
    }

    fn names(&self) -> Option<Vec<String>> {
        Some(self.keys().cloned().collect())
    }
}

#[cfg(test)]
mod tests;
