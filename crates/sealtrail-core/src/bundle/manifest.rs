//! `manifest.json` (docs/formats.md §9.2): what a bundle answers (an
//! [`EventFilter`], the one filter type) and the completeness it claims.

use serde::{Deserialize, Serialize};

use super::{BUNDLE_VERSION, FORMAT};
use crate::filter::EventFilter;
use crate::hash::Hash;
use crate::header::EntryHeader;

/// The manifest of a bundle. Unknown members are refused: a v1 reader
/// knows every v1 member, and new ones come with a new `v`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub v: u64,
    /// The software that wrote the bundle (`sealtrail 0.1.0`).
    pub software: String,
    /// When the bundle was written, µs since the epoch.
    pub created: u64,
    pub origin: String,
    pub checkpoint: TreeRef,
    /// The filter the bundle answers (every member written, `null` when unset).
    pub query: EventFilter,
    /// Whether the export included bodies (a match without one is then erased).
    pub with_bodies: bool,
    pub counts: Counts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_index: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_index: Option<u64>,
    pub completeness: Completeness,
    /// Version 2: the number of `entries/<k>.jsonl` members (§10.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<u64>,
    /// Version 2: the gap hashes after the last entry, base64 (§10.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gaps_after: Option<Vec<String>>,
}

/// The tree a bundle is proven against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeRef {
    pub size: u64,
    /// Hex, as in headers.
    pub root: Hash,
}

/// Counts of what the bundle holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    /// Lines of `entries.jsonl`.
    pub entries: u64,
    /// `match` lines.
    pub matches: u64,
    /// Lines with a body.
    pub bodies: u64,
    /// `match` lines without a body, when bodies were exported.
    pub erased: u64,
}

/// What the bundle claims about completeness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Completeness {
    pub proven: bool,
    /// `a:<agent>` or `s:<session>`: every entry of that stream in the range is here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// True: every entry of the log in the range is here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<bool>,
    /// For people; verifiers check the claim, never the text.
    pub statement: String,
}

/// Which header field a stream follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamField {
    Agent,
    Session,
}

impl StreamField {
    pub fn name(self) -> &'static str {
        match self {
            StreamField::Agent => "agent",
            StreamField::Session => "session",
        }
    }

    /// The stream key (`a:…` / `s:…`) of a stream id.
    pub fn key(self, id: &str) -> String {
        match self {
            StreamField::Agent => crate::heads::agent_key(id),
            StreamField::Session => crate::heads::session_key(id),
        }
    }

    /// Splits a stream key into field and id.
    pub fn parse_key(key: &str) -> Option<(StreamField, &str)> {
        if let Some(id) = key.strip_prefix("a:") {
            Some((StreamField::Agent, id))
        } else {
            key.strip_prefix("s:").map(|id| (StreamField::Session, id))
        }
    }

    /// The header's id and link for this stream.
    pub fn of(self, h: &EntryHeader) -> (Option<&str>, Option<crate::header::StreamLink>) {
        match self {
            StreamField::Agent => (Some(h.agent.as_str()), Some(h.streams.agent)),
            StreamField::Session => (h.session.as_deref(), h.streams.session),
        }
    }
}

/// Why a manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest.json is not valid JSON: {0}")]
    Json(String),
    #[error("manifest.json format is {0:?}, expected {FORMAT:?}")]
    Format(String),
    #[error("manifest.json has no numeric \"v\"")]
    MissingVersion,
    #[error("bundle version {found} is newer than this software supports (up to {BUNDLE_VERSION}); upgrade sealtrail to verify it")]
    UnsupportedVersion { found: u64 },
    #[error("manifest.json: {0}")]
    Field(String),
}

/// What a bundle can prove of its filter.
impl EventFilter {
    /// The stream whose completeness an export of this query proves, if
    /// any: the session's when the query names one (usually the smaller
    /// stream), else the agent's.
    pub fn completeness_stream(&self) -> Option<(StreamField, &str)> {
        if let Some(s) = &self.session {
            Some((StreamField::Session, s))
        } else {
            self.agent.as_deref().map(|a| (StreamField::Agent, a))
        }
    }

    /// True when a stream claim for `key` is one this query can make.
    pub fn allows_stream(&self, key: &str) -> bool {
        match StreamField::parse_key(key) {
            Some((StreamField::Agent, id)) => self.agent.as_deref() == Some(id),
            Some((StreamField::Session, id)) => self.session.as_deref() == Some(id),
            None => false,
        }
    }
}

impl Completeness {
    /// The claim a writer makes for `query` at a checkpoint of `size`, with
    /// the statement an auditor reads.
    pub fn for_query(query: &EventFilter, size: u64, matches: u64) -> Completeness {
        if let Some((field, id)) = query.completeness_stream() {
            let key = field.key(id);
            let others = if query.is_time_only_but(field) {
                String::new()
            } else {
                " (the entries of the stream that do not match the other filters are included as headers only, role \"stream\")".to_string()
            };
            Completeness {
                proven: true,
                statement: format!(
                    "Complete for the {} stream {key}: every entry of {} {id:?} {} in the log up to checkpoint size {size} is in this bundle{others}; {matches} of them match the query. The stream links in the headers, the stream's entries just before and after the range, and (when there is none after) the stream's head committed in the signed checkpoint prove that no entry was left out.",
                    field.name(), field.name(), query.time_text()
                ),
                stream: Some(key),
                range: None,
            }
        } else if query.is_time_only() {
            Completeness {
                proven: true,
                statement: format!(
                    "Complete for the time range: every entry of the log {} up to checkpoint size {size} is in this bundle ({matches} entries, consecutive indexes); the entries just before and after them show where the range starts and ends.",
                    query.time_text()
                ),
                stream: None,
                range: Some(true),
            }
        } else {
            Completeness {
                proven: false,
                statement: format!(
                    "Not proven complete: the {matches} matching entries are proven authentic and unaltered (each is in the signed checkpoint of size {size} and matches its commitments), but this bundle does not prove that they are all the entries matching the query. Completeness can be proven for a filter by agent or by session (with any other filters), or by time alone."
                ),
                stream: None,
                range: None,
            }
        }
    }
}

impl EventFilter {
    fn time_text(&self) -> String {
        match (self.from, self.to) {
            (Some(f), Some(t)) => format!("with {f} ≤ time < {t} (µs since the epoch)"),
            (Some(f), None) => format!("with time ≥ {f} (µs since the epoch)"),
            (None, Some(t)) => format!("with time < {t} (µs since the epoch)"),
            (None, None) => "at any time".to_string(),
        }
    }

    /// True when the only filters are the time range and this stream's field.
    fn is_time_only_but(&self, field: StreamField) -> bool {
        let mut q = self.clone();
        match field {
            StreamField::Agent => q.agent = None,
            StreamField::Session => q.session = None,
        }
        q.is_time_only()
    }
}

impl Manifest {
    /// Reads a manifest: the format and version are checked first, so a
    /// newer bundle is refused with a message that says so.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
        let format = value.get("format").and_then(|f| f.as_str()).unwrap_or("");
        if format != FORMAT {
            return Err(ManifestError::Format(format.to_owned()));
        }
        let v = value
            .get("v")
            .and_then(serde_json::Value::as_u64)
            .ok_or(ManifestError::MissingVersion)?;
        if v > BUNDLE_VERSION {
            return Err(ManifestError::UnsupportedVersion { found: v });
        }
        let m: Manifest = serde_path_to_error::deserialize(value)
            .map_err(|e| ManifestError::Field(e.to_string()))?;
        match (m.v, m.chunks.is_some(), m.gaps_after.is_some()) {
            (2, true, true) => {}
            (2, _, _) => {
                return Err(ManifestError::Field(
                    "a version 2 manifest needs \"chunks\" and \"gaps_after\"".into(),
                ))
            }
            (_, false, false) => {}
            (v, _, _) => {
                return Err(ManifestError::Field(format!(
                    "\"chunks\" and \"gaps_after\" are version 2 members; a version {v} manifest cannot have them"
                )))
            }
        }
        match (&m.completeness.stream, m.completeness.range) {
            (Some(_), Some(true)) => Err(ManifestError::Field(
                "completeness claims both a stream and the range".into(),
            )),
            _ => Ok(m),
        }
    }

    /// The gap hashes after the last entry, decoded.
    pub fn gap_hashes_after(&self) -> Result<Vec<Hash>, String> {
        self.gaps_after
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, g)| {
                Hash::from_base64(g)
                    .map_err(|_| format!("gaps_after[{i}] is not a base64 SHA-256 hash"))
            })
            .collect()
    }

    /// Pretty JSON with a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain data to a Vec cannot fail.
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }
}
