//! The sealed-entry header: the bytes the log commits to for each event.
//!
//! The header is the tlog-tiles entry; its leaf hash is
//! `SHA-256(0x00 ‖ JCS(header))`. It holds only non-personal fields (what
//! queries and completeness checks need) and a salted commitment to the full
//! event, `SHA-256(salt ‖ JCS(event))`. The body and salt live beside the
//! tree: erasing them later leaves every proof intact, and the commitment
//! reveals nothing about what was erased.
//!
//! Wire form: canonical JSON (RFC 8785), hashes as lowercase hex, `time` in
//! microseconds since the Unix epoch (UTC, server clock). See docs/formats.md.

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::hash::{leaf_hash, Hash};
use crate::jcs::{self, JcsError, ParseLimits};

/// The header format version this code writes and the newest it reads.
pub const HEADER_VERSION: u32 = 1;
/// Length of the random salt behind each body commitment.
pub const SALT_LEN: usize = 32;

/// Position of an entry within one stream (all entries of an agent, or of a
/// session): the running count including this entry, and the index of the
/// stream's previous entry. Following `prev` from a stream head visits every
/// entry of the stream, which is what makes a filtered export provably complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamLink {
    pub n: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<u64>,
}

/// The stream links of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Streams {
    pub agent: StreamLink,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<StreamLink>,
}

/// An agent instance's own `seq` did not follow its previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeqGap {
    pub expected: u64,
    pub got: u64,
}

/// The sealed header of one log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryHeader {
    pub v: u32,
    pub index: u64,
    /// Server time in microseconds since the Unix epoch; non-decreasing.
    pub time: u64,
    /// Leaf hash of entry `index - 1`; absent only for entry 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<Hash>,
    pub agent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq_gap: Option<SeqGap>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_classes: Vec<String>,
    /// Keyed MACs of the data subjects (never the subjects themselves).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<Hash>,
    /// Scope verdict: `in_scope`, `out_of_scope: <reason>`, `unregistered_agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub streams: Streams,
    /// `SHA-256(salt ‖ JCS(event))`.
    pub body: Hash,
}

/// What the sequencer decides for an entry; everything else comes from the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    pub index: u64,
    pub time: u64,
    pub prev: Option<Hash>,
    pub streams: Streams,
    pub seq_gap: Option<SeqGap>,
    pub scope: Option<String>,
    pub subjects: Vec<Hash>,
    pub data_classes: Vec<String>,
    pub body: Hash,
}

/// A header that cannot be read or does not match what it should commit to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("header is not valid JSON: {0}")]
    Json(String),
    #[error("header has no numeric \"v\" field")]
    MissingVersion,
    #[error("header version {found} is newer than this software supports (up to {HEADER_VERSION}); upgrade sealtrail to read it")]
    UnsupportedVersion { found: u64 },
    #[error("header bytes are not in RFC 8785 canonical form")]
    NotCanonical,
    #[error("salt must be {SALT_LEN} bytes, got {0}")]
    SaltLength(usize),
    #[error(
        "body does not match the header's commitment (expected {expected}, computed {computed})"
    )]
    BodyMismatch { expected: Hash, computed: Hash },
    #[error(transparent)]
    Canonical(#[from] JcsError),
}

impl EntryHeader {
    /// Builds the header of `event` as sealed by the sequencer.
    pub fn new(event: &Event, seal: Seal) -> Self {
        EntryHeader {
            v: HEADER_VERSION,
            index: seal.index,
            time: seal.time,
            prev: seal.prev,
            agent: event.agent.id.clone(),
            instance: event.agent.instance.clone(),
            session: event.session.clone(),
            parent: event.parent.clone(),
            kind: event.kind.as_str().to_string(),
            action: event.action.clone(),
            tool: event.tool.as_ref().map(|t| t.name.clone()),
            outcome: event.outcome.map(|o| o.as_str().to_string()),
            event_id: event.id.clone(),
            seq: event.seq,
            seq_gap: seal.seq_gap,
            data_classes: seal.data_classes,
            subjects: seal.subjects,
            scope: seal.scope,
            streams: seal.streams,
            body: seal.body,
        }
    }

    /// The entry bytes: `JCS(header)`.
    pub fn to_entry_bytes(&self) -> Result<Vec<u8>, JcsError> {
        jcs::to_canonical(self)
    }

    /// The RFC 6962 leaf hash of the entry.
    pub fn leaf_hash(&self) -> Result<Hash, JcsError> {
        Ok(leaf_hash(&self.to_entry_bytes()?))
    }

    /// Reads entry bytes, refusing newer versions and non-canonical bytes
    /// (two encodings of one header would give two leaf hashes).
    pub fn parse(bytes: &[u8]) -> Result<Self, HeaderError> {
        let value = jcs::parse_strict(bytes, &ParseLimits::default())
            .map_err(|e| HeaderError::Json(e.to_string()))?;
        let version = value
            .get("v")
            .and_then(serde_json::Value::as_u64)
            .ok_or(HeaderError::MissingVersion)?;
        if version > u64::from(HEADER_VERSION) {
            return Err(HeaderError::UnsupportedVersion { found: version });
        }
        let header: EntryHeader =
            serde_json::from_value(value).map_err(|e| HeaderError::Json(e.to_string()))?;
        if header.to_entry_bytes()? != bytes {
            return Err(HeaderError::NotCanonical);
        }
        Ok(header)
    }

    /// Checks that `body` with `salt` is what this header committed to.
    pub fn verify_body(&self, salt: &[u8], body: &[u8]) -> Result<(), HeaderError> {
        let salt: &[u8; SALT_LEN] = salt
            .try_into()
            .map_err(|_| HeaderError::SaltLength(salt.len()))?;
        let computed = commit_body(salt, body);
        if computed == self.body {
            Ok(())
        } else {
            Err(HeaderError::BodyMismatch {
                expected: self.body,
                computed,
            })
        }
    }
}

/// `SHA-256(salt ‖ body)`, where `body` is `JCS(event)`.
pub fn commit_body(salt: &[u8; SALT_LEN], body: &[u8]) -> Hash {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(salt);
    h.update(body);
    Hash(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        Event::from_json_slice(
            br#"{"id":"e1","agent":{"id":"billing-agent","instance":"i-7"},"session":"s-1",
                "kind":"tool_call","action":"refund","outcome":"success","seq":4,
                "tool":{"name":"stripe.refund","arguments":{"amount":12.5}},
                "subjects":["alice@example.com"]}"#,
        )
        .unwrap()
    }

    fn seal() -> Seal {
        Seal {
            index: 7,
            time: 1_795_000_000_123_456,
            prev: Some(leaf_hash(b"six")),
            streams: Streams {
                agent: StreamLink {
                    n: 3,
                    prev: Some(5),
                },
                session: Some(StreamLink { n: 1, prev: None }),
            },
            seq_gap: Some(SeqGap {
                expected: 3,
                got: 4,
            }),
            scope: Some("in_scope".into()),
            subjects: vec![crate::hash::sha256(b"mac")],
            data_classes: vec!["pii".into()],
            body: commit_body(&[9; SALT_LEN], b"{}"),
        }
    }

    #[test]
    fn header_takes_only_non_personal_fields_from_the_event() {
        let h = EntryHeader::new(&event(), seal());
        let bytes = h.to_entry_bytes().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(r#"{"action":"refund","agent":"billing-agent","body":""#));
        assert!(text.contains(r#""tool":"stripe.refund""#));
        assert!(
            !text.contains("alice"),
            "subjects must appear only as MACs: {text}"
        );
        assert!(
            !text.contains("12.5"),
            "tool arguments stay in the body: {text}"
        );
        assert_eq!(EntryHeader::parse(&bytes).unwrap(), h);
        assert_eq!(h.leaf_hash().unwrap(), leaf_hash(&bytes));
    }

    #[test]
    fn parse_refuses_newer_versions_and_non_canonical_bytes() {
        let h = EntryHeader::new(&event(), seal());
        let text = String::from_utf8(h.to_entry_bytes().unwrap()).unwrap();
        let newer = text.replace(r#""v":1"#, r#""v":2"#);
        let err = EntryHeader::parse(newer.as_bytes()).unwrap_err();
        assert_eq!(err, HeaderError::UnsupportedVersion { found: 2 });
        assert!(err.to_string().contains("supports (up to 1)"));
        let spaced = text.replacen(',', ", ", 1);
        assert_eq!(
            EntryHeader::parse(spaced.as_bytes()),
            Err(HeaderError::NotCanonical)
        );
        let unknown = text.replacen('{', r#"{"zz":1,"#, 1);
        assert!(matches!(
            EntryHeader::parse(unknown.as_bytes()),
            Err(HeaderError::Json(_))
        ));
    }

    #[test]
    fn body_commitment_checks_salt_and_body() {
        let ev = event();
        let body = ev.canonical_bytes().unwrap();
        let salt = [42u8; SALT_LEN];
        let mut s = seal();
        s.body = commit_body(&salt, &body);
        let h = EntryHeader::new(&ev, s);
        h.verify_body(&salt, &body).unwrap();
        let mut other_salt = salt;
        other_salt[0] ^= 1;
        assert!(matches!(
            h.verify_body(&other_salt, &body),
            Err(HeaderError::BodyMismatch { .. })
        ));
        let mut other_body = body.clone();
        other_body[3] ^= 0x20;
        assert!(h.verify_body(&salt, &other_body).is_err());
        assert_eq!(
            h.verify_body(&salt[..31], &body),
            Err(HeaderError::SaltLength(31))
        );
    }

    #[test]
    fn any_byte_change_is_refused_or_changes_the_leaf() {
        let h = EntryHeader::new(&event(), seal());
        let bytes = h.to_entry_bytes().unwrap();
        let leaf = leaf_hash(&bytes);
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                if let Ok(parsed) = EntryHeader::parse(&b) {
                    assert_ne!(parsed.leaf_hash().unwrap(), leaf);
                    assert_ne!(parsed, h);
                }
            }
        }
    }
}
