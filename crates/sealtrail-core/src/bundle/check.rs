//! The checks of one `entries` line that depend on that line alone
//! (docs/formats.md §9.3 steps 3 and 4): it parses, its header is canonical
//! and names the line's index, its body matches the header's commitment, it
//! satisfies the query as its role says. They run on any thread, in any
//! order; what depends on the lines around it (order, times, the proof,
//! completeness) is the [`Verifier`](super::Verifier)'s, in bundle order.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Deserialize;

use super::fast;
use super::line::{EntryLine, LineError};
use super::manifest::{Manifest, StreamField};
use super::verify::{Failure, Problem};
use super::Role;
use crate::filter::EventFilter;
use crate::hash::{leaf_hash, Hash};
use crate::header::{commit_body, EntryHeader, HeaderError, StreamLink, HEADER_VERSION, SALT_LEN};

/// What every line is checked against: fixed for the whole bundle.
#[derive(Debug, Clone)]
pub struct LineRules {
    /// The manifest's query, when the manifest was read.
    pub query: Option<EventFilter>,
    pub with_bodies: bool,
    /// The claimed stream's field and id, when a stream claim is checked.
    pub stream: Option<(StreamField, String)>,
    /// Lines may carry `gaps` (version 2).
    pub v2: bool,
}

impl LineRules {
    pub fn of(manifest: Option<&Manifest>, stream: Option<(StreamField, String)>) -> Self {
        LineRules {
            query: manifest.map(|m| m.query.clone()),
            with_bodies: manifest.is_some_and(|m| m.with_bodies),
            stream,
            v2: manifest.is_some_and(|m| m.v >= 2),
        }
    }
}

/// A line after its own checks: what the checks in bundle order need.
#[derive(Debug, Clone)]
pub struct Checked {
    pub index: u64,
    pub role: Role,
    /// `SHA-256(0x00 ‖ header bytes)`, computed even when the header does
    /// not parse (the proof then says whether it was altered).
    pub leaf: Hash,
    /// The header's time, `prev` and stream facts, when it parsed.
    pub header: Option<HeaderFacts>,
    pub has_body: bool,
    /// A match without a body in a bundle exported with bodies.
    pub erased: bool,
    /// How many gap hashes the line carries (they were appended to the
    /// caller's buffer).
    pub gaps: usize,
    /// What the line's own checks found.
    pub failures: Vec<Failure>,
}

/// The parts of a parsed header that the checks in bundle order use.
#[derive(Debug, Clone, Copy)]
pub struct HeaderFacts {
    pub time: u64,
    pub prev: Option<Hash>,
    /// The header's id in the claimed stream's field is the stream's.
    pub in_stream: bool,
    pub link: Option<StreamLink>,
}

/// Checks lines one after another, reusing its buffers.
pub struct LineChecker {
    rules: Arc<LineRules>,
    header_text: Vec<u8>,
    body_text: Vec<u8>,
    canonical: Vec<u8>,
    gaps: Vec<Hash>,
    /// The last header read, whose strings the next one reuses.
    slot: Option<EntryHeader>,
}

/// What a line says besides its header and body text.
struct Parsed {
    index: u64,
    role: Role,
    /// The salt, when the line has a body.
    salt: Result<Option<[u8; SALT_LEN]>, LineError>,
    has_gaps_member: bool,
}

impl LineChecker {
    pub fn new(rules: Arc<LineRules>) -> Self {
        LineChecker {
            rules,
            header_text: Vec::new(),
            body_text: Vec::new(),
            canonical: Vec::new(),
            gaps: Vec::new(),
            slot: None,
        }
    }

    /// Checks line `line_no` (from 1) of `member`, without its newline; its
    /// gap hashes are appended to `gaps`. A line that does not parse is one
    /// failure, not naming an entry.
    pub fn check(
        &mut self,
        line: &[u8],
        line_no: u64,
        member: &str,
        gaps: &mut Vec<Hash>,
    ) -> Result<Checked, Failure> {
        let line_failure = |e: &dyn std::fmt::Display| Failure {
            entry: None,
            member: member.to_owned(),
            problem: Problem::Line(format!("line {line_no}: {e}")),
        };
        // The header and body text go to reused buffers: the fast reader
        // unescapes into them; the general parser's result is copied there.
        let parsed = match fast::parse_line(
            line,
            &mut self.header_text,
            &mut self.body_text,
            &mut self.gaps,
        ) {
            Some(f) => Parsed {
                index: f.index,
                role: f.role,
                salt: match (f.salt, f.has_body) {
                    (None, false) => Ok(None),
                    (Some(s), true) => salt_hex(s).map(Some),
                    _ => Err(LineError::HalfBody),
                },
                has_gaps_member: !self.gaps.is_empty(),
            },
            None => {
                let l = EntryLine::parse(line).map_err(|e| line_failure(&e))?;
                l.gap_hashes(&mut self.gaps).map_err(|e| line_failure(&e))?;
                self.header_text.clear();
                self.header_text.extend_from_slice(l.header.as_bytes());
                self.body_text.clear();
                let salt = l.salt_and_body().map(|sb| {
                    sb.map(|(salt, body)| {
                        self.body_text.extend_from_slice(body);
                        salt
                    })
                });
                Parsed {
                    index: l.index,
                    role: l.role,
                    salt,
                    has_gaps_member: l.gaps.is_some(),
                }
            }
        };
        if parsed.has_gaps_member && !self.rules.v2 {
            return Err(line_failure(
                &"\"gaps\" is a version 2 member; a version 1 bundle cannot have it",
            ));
        }
        gaps.extend_from_slice(&self.gaps);
        Ok(self.check_parsed(&parsed, member))
    }

    fn check_parsed(&mut self, parsed: &Parsed, member: &str) -> Checked {
        let index = parsed.index;
        let mut failures = Vec::new();
        let mut fail = |problem: Problem| {
            failures.push(Failure {
                entry: Some(index),
                member: member.to_owned(),
                problem,
            })
        };
        let header_bytes = &self.header_text[..];
        let body = &self.body_text[..];
        let leaf = leaf_hash(header_bytes);
        // The header is parsed into the last line's, reusing its strings.
        let mut slot = self.slot.take().unwrap_or_else(fast::blank_header);
        let header = match fast::parse_header_into(header_bytes, &mut slot) {
            Some(()) => Ok(slot),
            None => parse_header(header_bytes, &mut self.canonical),
        };
        let header = match header {
            Ok(h) => {
                if h.index != index {
                    fail(Problem::HeaderIndex {
                        header: h.index,
                        line: index,
                    });
                }
                Some(h)
            }
            Err(e) => {
                fail(Problem::Header(e.to_string()));
                None
            }
        };

        let mut has_body = false;
        let mut erased = false;
        match &parsed.salt {
            Ok(Some(salt)) => {
                has_body = true;
                if let Some(h) = &header {
                    if commit_body(salt, body) != h.body {
                        fail(Problem::BodyMismatch);
                    } else if let Err(e) = body_agrees(h, body) {
                        fail(Problem::Body(e));
                    }
                }
            }
            Ok(None) => erased = parsed.role == Role::Match && self.rules.with_bodies,
            Err(e) => fail(Problem::Body(e.to_string())),
        }

        let facts = header.as_ref().map(|h| {
            if let Some(query) = &self.rules.query {
                match parsed.role {
                    Role::Match => {
                        if let Err(e) = query.matches(h) {
                            fail(Problem::NotAMatch(e.to_string()));
                        }
                    }
                    Role::Stream => {
                        if query.matches(h).is_ok() {
                            fail(Problem::HiddenMatch);
                        }
                    }
                    Role::Before | Role::After => {}
                }
            }
            let (in_stream, link) = match &self.rules.stream {
                Some((field, id)) => {
                    let (got, link) = field.of(h);
                    (got == Some(id.as_str()), link)
                }
                None => (true, None),
            };
            HeaderFacts {
                time: h.time,
                prev: h.prev,
                in_stream,
                link,
            }
        });
        self.slot = header;
        Checked {
            index,
            role: parsed.role,
            leaf,
            header: facts,
            has_body,
            erased,
            gaps: self.gaps.len(),
            failures,
        }
    }
}

/// A salt as 64 lowercase hex digits.
fn salt_hex(s: &[u8]) -> Result<[u8; SALT_LEN], LineError> {
    let mut out = [0u8; SALT_LEN];
    if s.iter().any(u8::is_ascii_uppercase) || hex::decode_to_slice(s, &mut out).is_err() {
        return Err(LineError::Salt);
    }
    Ok(out)
}

/// Parses and canonical-checks entry bytes without a JSON tree: the
/// direct deserialiser, then a byte comparison with the canonical writer
/// (equal bytes are canonical, since the writer's output is).
fn parse_header(bytes: &[u8], out: &mut Vec<u8>) -> Result<EntryHeader, HeaderError> {
    let h: EntryHeader = match serde_json::from_slice(bytes) {
        Ok(h) => h,
        // The general parser gives the precise message (version, duplicates…).
        Err(_) => return EntryHeader::parse(bytes),
    };
    if h.v > HEADER_VERSION {
        return Err(HeaderError::UnsupportedVersion {
            found: u64::from(h.v),
        });
    }
    out.clear();
    h.write_entry_bytes(out)?;
    if out != bytes {
        return Err(HeaderError::NotCanonical);
    }
    Ok(h)
}

/// The fields of a body that must agree with its header.
#[derive(Deserialize)]
struct BodyIds<'a> {
    #[serde(borrow)]
    agent: AgentId<'a>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    session: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct AgentId<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
}

/// The body agrees with its header on agent id, kind, event id and session.
fn body_agrees(h: &EntryHeader, body: &[u8]) -> Result<(), String> {
    let ids: BodyIds<'_> = serde_json::from_slice(body)
        .map_err(|e| format!("not an event with agent.id and kind: {e}"))?;
    let mut bad = Vec::new();
    if ids.agent.id != h.agent {
        bad.push("agent.id");
    }
    if ids.kind != h.kind {
        bad.push("kind");
    }
    if ids.id.as_deref() != h.event_id.as_deref() {
        bad.push("id");
    }
    if ids.session.as_deref() != h.session.as_deref() {
        bad.push("session");
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!("its {} differ from the header's", bad.join(", ")))
    }
}
