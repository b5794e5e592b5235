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
    /// Version of the redaction policy that changed the body before it was
    /// committed; absent when nothing was redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted: Option<String>,
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
            redacted: None,
            streams: seal.streams,
            body: seal.body,
        }
    }

    /// The entry bytes: `JCS(header)`.
    ///
    /// Written directly rather than through a JSON tree: this runs once per
    /// event on the sequencer thread. Members are emitted in RFC 8785 order
    /// (all names are ASCII, so byte order is UTF-16 order); a test checks the
    /// output against the generic canonicaliser.
    pub fn to_entry_bytes(&self) -> Result<Vec<u8>, JcsError> {
        let mut out = Vec::with_capacity(512);
        self.write_entry_bytes(&mut out)?;
        Ok(out)
    }

    /// [`Self::to_entry_bytes`] into a caller's buffer.
    pub fn write_entry_bytes(&self, out: &mut Vec<u8>) -> Result<(), JcsError> {
        let mut w = ObjectWriter::new(out);
        w.opt_str("action", self.action.as_deref());
        w.str("agent", &self.agent);
        w.hash("body", &self.body);
        w.str_list("data_classes", &self.data_classes);
        w.opt_str("event_id", self.event_id.as_deref());
        w.int("index", self.index)?;
        w.opt_str("instance", self.instance.as_deref());
        w.str("kind", &self.kind);
        w.opt_str("outcome", self.outcome.as_deref());
        w.opt_str("parent", self.parent.as_deref());
        if let Some(prev) = &self.prev {
            w.hash("prev", prev);
        }
        w.opt_str("redacted", self.redacted.as_deref());
        w.opt_str("scope", self.scope.as_deref());
        if let Some(seq) = self.seq {
            w.int("seq", seq)?;
        }
        if let Some(gap) = &self.seq_gap {
            w.key("seq_gap");
            let mut g = ObjectWriter::new(w.out);
            g.int("expected", gap.expected)?;
            g.int("got", gap.got)?;
            g.close();
        }
        w.opt_str("session", self.session.as_deref());
        w.key("streams");
        {
            let mut s = ObjectWriter::new(w.out);
            s.key("agent");
            write_link(s.out, &self.streams.agent)?;
            if let Some(link) = &self.streams.session {
                s.key("session");
                write_link(s.out, link)?;
            }
            s.close();
        }
        if !self.subjects.is_empty() {
            w.key("subjects");
            w.out.push(b'[');
            for (i, h) in self.subjects.iter().enumerate() {
                if i > 0 {
                    w.out.push(b',');
                }
                write_hash(w.out, h);
            }
            w.out.push(b']');
        }
        w.int("time", self.time)?;
        w.opt_str("tool", self.tool.as_deref());
        w.int("v", u64::from(self.v))?;
        w.close();
        Ok(())
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

/// Writes the members of one JSON object, in the order they are given.
struct ObjectWriter<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> ObjectWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        ObjectWriter { out, first: true }
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        jcs::write_str(k, self.out);
        self.out.push(b':');
    }

    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        jcs::write_str(v, self.out);
    }

    fn opt_str(&mut self, k: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.str(k, v);
        }
    }

    fn str_list(&mut self, k: &str, v: &[String]) {
        if v.is_empty() {
            return;
        }
        self.key(k);
        self.out.push(b'[');
        for (i, s) in v.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            jcs::write_str(s, self.out);
        }
        self.out.push(b']');
    }

    fn hash(&mut self, k: &str, h: &Hash) {
        self.key(k);
        write_hash(self.out, h);
    }

    fn int(&mut self, k: &str, v: u64) -> Result<(), JcsError> {
        self.key(k);
        write_int(self.out, v)
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

fn write_int(out: &mut Vec<u8>, v: u64) -> Result<(), JcsError> {
    if v > jcs::MAX_SAFE_INTEGER {
        return Err(JcsError::UnsafeInteger {
            path: "header".into(),
            value: v.to_string(),
        });
    }
    let mut buf = itoa_buf(v);
    out.append(&mut buf);
    Ok(())
}

fn itoa_buf(mut v: u64) -> Vec<u8> {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    digits[i..].to_vec()
}

fn write_hash(out: &mut Vec<u8>, h: &Hash) {
    let mut buf = [0u8; 2 * crate::hash::HASH_LEN];
    // Cannot fail: the buffer is exactly twice the hash length.
    let _ = hex::encode_to_slice(h.0, &mut buf);
    out.push(b'"');
    out.extend_from_slice(&buf);
    out.push(b'"');
}

fn write_link(out: &mut Vec<u8>, link: &StreamLink) -> Result<(), JcsError> {
    let mut w = ObjectWriter::new(out);
    w.int("n", link.n)?;
    if let Some(prev) = link.prev {
        w.int("prev", prev)?;
    }
    w.close();
    Ok(())
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
    fn direct_writer_matches_the_generic_canonicaliser() {
        let mut seal = seal();
        let mut h = EntryHeader::new(&event(), seal.clone());
        assert_eq!(h.to_entry_bytes().unwrap(), jcs::to_canonical(&h).unwrap());
        // Sparse header: every optional member absent.
        seal.prev = None;
        seal.seq_gap = None;
        seal.scope = None;
        seal.subjects.clear();
        seal.data_classes.clear();
        seal.streams.session = None;
        seal.streams.agent.prev = None;
        let sparse = Event::from_json_slice(
            "{\"agent\":{\"id\":\"a\\\"q\\\\€\"},\"kind\":\"custom\"}".as_bytes(),
        )
        .unwrap();
        h = EntryHeader::new(&sparse, seal);
        assert_eq!(h.to_entry_bytes().unwrap(), jcs::to_canonical(&h).unwrap());
        h.index = u64::MAX;
        assert!(h.to_entry_bytes().is_err());
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
