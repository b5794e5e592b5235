//! The bundle verifier (docs/formats.md §9.3). It reports every failure it
//! finds, each with the entry and member it concerns, rather than stopping
//! at the first.

use serde::Deserialize;
use std::borrow::Cow;

use super::completeness::{check_range, check_stream, CompletenessFile, Item};
use super::fast;
use super::line::{EntryLine, LineError};
use super::manifest::{Counts, Manifest, StreamField};
use super::proofs::{BatchInclusion, ProofFileError};
use super::{Member, Members, Role, CHECKPOINT, COMPLETENESS, ENTRIES, MANIFEST};
use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::hash::{leaf_hash, Hash};
use crate::header::{commit_body, EntryHeader, HeaderError, HEADER_VERSION, SALT_LEN};
use crate::heads::{root_from_extensions, StreamHead};
use crate::note::{Note, NoteVerifier};

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("missing")]
    MemberMissing,
    #[error("cannot be read: {0}")]
    MemberUnreadable(String),
    #[error("{0}")]
    Manifest(String),
    #[error("{0}")]
    Checkpoint(String),
    #[error("{0}")]
    Line(String),
    #[error("entry {index} comes after entry {previous}: indexes must strictly increase (entries were reordered or repeated)")]
    Order { index: u64, previous: u64 },
    #[error("header: {0}")]
    Header(String),
    #[error("the header's index is {header}, the line's is {line}")]
    HeaderIndex { header: u64, line: u64 },
    #[error("proof file {0} is missing")]
    ProofMissing(String),
    #[error("proof file {member} cannot be read: {reason}")]
    ProofUnreadable { member: String, reason: String },
    #[error("proof: {0}")]
    Proof(ProofFileError),
    #[error("body does not match the header's commitment")]
    BodyMismatch,
    #[error("body: {0}")]
    Body(String),
    #[error("marked as a match but does not satisfy the query: {0}")]
    NotAMatch(String),
    #[error("marked \"stream\" but satisfies the query: it should be a match (a match hidden without its body)")]
    HiddenMatch,
    #[error("{0}")]
    Counts(String),
    #[error("{0}")]
    Completeness(String),
}

/// One failure: the entry it concerns (when it concerns one), the member
/// where it was found, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub entry: Option<u64>,
    pub member: String,
    pub problem: Problem,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.entry {
            Some(i) => write!(f, "entry {i} ({}): {}", self.member, self.problem),
            None => write!(f, "{}: {}", self.member, self.problem),
        }
    }
}

/// The outcome of verifying a bundle.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub manifest: Option<Manifest>,
    /// The checkpoint everything was checked against, when it parsed.
    pub checkpoint: Option<Checkpoint>,
    /// True when the checkpoint's signature verified with a trusted key.
    pub checkpoint_signed: bool,
    /// What the bundle actually holds.
    pub counts: Counts,
    /// Entries whose inclusion proof verified.
    pub proven: u64,
    /// The completeness claim (`a:…`, `s:…`, `range`), if any.
    pub claim: Option<String>,
    /// True when a completeness claim was made and every check of it passed.
    pub complete: bool,
    pub failures: Vec<Failure>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    /// The failures that name `entry`.
    pub fn failures_for(&self, entry: u64) -> impl Iterator<Item = &Failure> {
        self.failures.iter().filter(move |f| f.entry == Some(entry))
    }

    /// One JSON object: `ok`, counts, checkpoint, completeness, `failures[]`.
    pub fn to_json(&self) -> serde_json::Value {
        let m = self.manifest.as_ref();
        serde_json::json!({
            "ok": self.ok(),
            "origin": self.checkpoint.as_ref().map(|c| c.origin.clone()),
            "checkpoint": self.checkpoint.as_ref().map(|c| serde_json::json!({
                "size": c.size, "root": c.root.to_hex(), "signature_verified": self.checkpoint_signed,
            })),
            "query": m.map(|m| serde_json::to_value(&m.query).unwrap_or_default()),
            "counts": {
                "entries": self.counts.entries,
                "matches": self.counts.matches,
                "bodies": self.counts.bodies,
                "erased": self.counts.erased,
                "proofs_verified": self.proven,
            },
            "first_index": m.and_then(|m| m.first_index),
            "last_index": m.and_then(|m| m.last_index),
            "completeness": {
                "claimed": self.claim,
                "proven": self.complete,
                "statement": m.map(|m| m.completeness.statement.clone()),
            },
            "failures": self.failures.iter().map(|f| serde_json::json!({
                "entry": f.entry, "member": f.member, "reason": f.problem.to_string(),
            })).collect::<Vec<_>>(),
        })
    }
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

/// The bundle's checkpoint, as far as it could be read.
struct Tree {
    checkpoint: Checkpoint,
}

/// Verifies a bundle as its `entries.jsonl` lines stream by: create it with
/// the small members, feed every line with [`Verifier::line`], then
/// [`Verifier::finish`].
pub struct Verifier {
    report: Report,
    manifest: Option<Manifest>,
    tree: Option<Tree>,
    batch: Option<BatchInclusion>,
    completeness: Option<Result<CompletenessFile, String>>,
    /// The claimed stream (field, id, key), when checkable.
    stream: Option<(StreamField, String, String)>,
    range: bool,
    items: Vec<Item>,
    /// The largest index seen so far (indexes must strictly increase).
    max_index: Option<u64>,
    /// Index and time of the last entry in order (times must not decrease).
    last_time: Option<(u64, u64)>,
    first_match: Option<u64>,
    last_match: Option<u64>,
    line_no: u64,
    /// Reused buffers: the canonical form of a header, a proof's name, a
    /// line's header and body text.
    canonical: Vec<u8>,
    name: String,
    header_text: Vec<u8>,
    body_text: Vec<u8>,
    /// The last header read, whose strings the next one reuses.
    slot: Option<EntryHeader>,
}

/// What a line says besides its header and body text.
struct Parsed {
    index: u64,
    role: Role,
    /// The salt, when the line has a body.
    salt: Result<Option<[u8; SALT_LEN]>, LineError>,
}

/// A salt as 64 lowercase hex digits.
fn salt_hex(s: &[u8]) -> Result<[u8; SALT_LEN], LineError> {
    let mut out = [0u8; SALT_LEN];
    if s.iter().any(u8::is_ascii_uppercase) || hex::decode_to_slice(s, &mut out).is_err() {
        return Err(LineError::Salt);
    }
    Ok(out)
}

fn member_bytes<'a>(
    report: &mut Report,
    name: &str,
    m: Member<'a>,
    required: bool,
) -> Option<&'a [u8]> {
    match m {
        Member::Present(b) => Some(b),
        Member::Absent => {
            if required {
                report.failures.push(Failure {
                    entry: None,
                    member: name.to_owned(),
                    problem: Problem::MemberMissing,
                });
            }
            None
        }
        Member::Unreadable(why) => {
            report.failures.push(Failure {
                entry: None,
                member: name.to_owned(),
                problem: Problem::MemberUnreadable(why.to_owned()),
            });
            None
        }
    }
}

impl Verifier {
    /// Reads `manifest.json`, `checkpoint` and `completeness.json`, and
    /// opens the checkpoint with the trusted keys.
    pub fn new(members: &mut dyn Members, trusted: &[&dyn NoteVerifier]) -> Verifier {
        let mut report = Report::default();
        let manifest =
            member_bytes(&mut report, MANIFEST, members.get(MANIFEST), true).and_then(|b| {
                match Manifest::parse(b) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        report.failures.push(Failure {
                            entry: None,
                            member: MANIFEST.into(),
                            problem: Problem::Manifest(e.to_string()),
                        });
                        None
                    }
                }
            });
        let note = member_bytes(&mut report, CHECKPOINT, members.get(CHECKPOINT), true)
            .map(<[u8]>::to_vec);
        let completeness =
            member_bytes(&mut report, COMPLETENESS, members.get(COMPLETENESS), false)
                .map(CompletenessFile::parse);
        let mut v = Verifier {
            report,
            manifest,
            tree: None,
            batch: None,
            completeness,
            stream: None,
            range: false,
            items: Vec::new(),
            max_index: None,
            last_time: None,
            first_match: None,
            last_match: None,
            line_no: 0,
            canonical: Vec::new(),
            name: String::new(),
            header_text: Vec::new(),
            body_text: Vec::new(),
            slot: None,
        };
        if let Some(note) = note {
            v.open_checkpoint(note, trusted);
        }
        v.decide_claim();
        v
    }

    fn fail(&mut self, entry: Option<u64>, member: &str, problem: Problem) {
        self.report.failures.push(Failure {
            entry,
            member: member.to_owned(),
            problem,
        });
    }

    fn open_checkpoint(&mut self, note: Vec<u8>, trusted: &[&dyn NoteVerifier]) {
        // Parse first without keys: a bad signature is reported, but the
        // entries are still checked against the root so that every other
        // problem is found too.
        let parsed = Note::parse(&note)
            .map_err(|e| e.to_string())
            .and_then(|n| Checkpoint::parse(n.text()).map_err(|e| e.to_string()));
        let checkpoint = match parsed {
            Ok(c) => c,
            Err(e) => {
                self.fail(
                    None,
                    CHECKPOINT,
                    Problem::Checkpoint(format!("not a signed checkpoint: {e}")),
                );
                return;
            }
        };
        match SignedCheckpoint::open(&note, trusted) {
            Ok(_) => self.report.checkpoint_signed = true,
            Err(e) => self.fail(
                None,
                CHECKPOINT,
                Problem::Checkpoint(format!(
                    "signature does not verify with the trusted key: {e}"
                )),
            ),
        }
        if let Some(m) = &self.manifest {
            let mut problems = Vec::new();
            if m.origin != checkpoint.origin {
                problems.push(format!(
                    "the manifest's origin {:?} is not the checkpoint's {:?}",
                    m.origin, checkpoint.origin
                ));
            }
            if m.checkpoint.size != checkpoint.size || m.checkpoint.root != checkpoint.root {
                problems.push(format!(
                    "the manifest names the tree of size {} and root {}, the checkpoint is of size {} and root {}",
                    m.checkpoint.size, m.checkpoint.root, checkpoint.size, checkpoint.root
                ));
            }
            for p in problems {
                self.fail(None, MANIFEST, Problem::Manifest(p));
            }
        }
        self.batch = Some(BatchInclusion::new(&note, checkpoint.size, checkpoint.root));
        self.report.checkpoint = Some(checkpoint.clone());
        self.tree = Some(Tree { checkpoint });
    }

    /// Which completeness claim will be checked.
    fn decide_claim(&mut self) {
        let Some(m) = &self.manifest else { return };
        let c = &m.completeness;
        let mut problem = None;
        if let Some(key) = &c.stream {
            self.report.claim = Some(key.clone());
            match StreamField::parse_key(key) {
                Some((field, id)) if m.query.allows_stream(key) => {
                    self.stream = Some((field, id.to_owned(), key.clone()));
                }
                _ => {
                    problem = Some(format!(
                        "completeness is claimed for stream {key:?}, which the query does not filter on"
                    ))
                }
            }
        } else if c.range == Some(true) {
            self.report.claim = Some("range".into());
            if m.query.is_time_only() {
                self.range = true;
            } else {
                problem = Some(
                    "completeness is claimed for the time range, but the query has other filters"
                        .into(),
                );
            }
        } else if c.proven {
            problem = Some(
                "completeness is claimed as proven but names neither a stream nor the range".into(),
            );
        }
        if c.proven != (c.stream.is_some() || c.range == Some(true)) {
            problem
                .get_or_insert_with(|| "completeness.proven does not agree with the claim".into());
        }
        if let Some(p) = problem {
            self.fail(None, MANIFEST, Problem::Manifest(p));
        }
    }

    /// Checks one line of `entries.jsonl` (without its newline) and the
    /// entry's proof, read from `members`.
    pub fn line(&mut self, line: &[u8], members: &mut dyn Members) {
        self.line_no += 1;
        // The header and body text go to reused buffers: the fast reader
        // unescapes into them; the general parser's result is copied there.
        let (mut htext, mut btext) = (
            std::mem::take(&mut self.header_text),
            std::mem::take(&mut self.body_text),
        );
        let parsed = match fast::parse_line(line, &mut htext, &mut btext) {
            Some(f) => Some(Parsed {
                index: f.index,
                role: f.role,
                salt: match (f.salt, f.has_body) {
                    (None, false) => Ok(None),
                    (Some(s), true) => salt_hex(s).map(Some),
                    _ => Err(LineError::HalfBody),
                },
            }),
            None => match EntryLine::parse(line) {
                Ok(l) => {
                    htext.clear();
                    htext.extend_from_slice(l.header.as_bytes());
                    btext.clear();
                    let salt = l.salt_and_body().map(|sb| {
                        sb.map(|(salt, body)| {
                            btext.extend_from_slice(body);
                            salt
                        })
                    });
                    Some(Parsed {
                        index: l.index,
                        role: l.role,
                        salt,
                    })
                }
                Err(e) => {
                    let n = self.line_no;
                    self.fail(None, ENTRIES, Problem::Line(format!("line {n}: {e}")));
                    None
                }
            },
        };
        if let Some(parsed) = parsed {
            self.check_line(&parsed, &htext, &btext, members);
        }
        self.header_text = htext;
        self.body_text = btext;
    }

    fn check_line(
        &mut self,
        parsed: &Parsed,
        header_bytes: &[u8],
        body: &[u8],
        members: &mut dyn Members,
    ) {
        let index = parsed.index;
        let entry = Some(index);
        self.report.counts.entries += 1;
        match self.max_index {
            Some(max) if index <= max => {
                self.fail(
                    entry,
                    ENTRIES,
                    Problem::Order {
                        index,
                        previous: max,
                    },
                );
            }
            _ => self.max_index = Some(index),
        }

        // The leaf hash is computed from the raw bytes even when the header
        // does not parse: the proof check then says whether it was altered.
        let leaf = leaf_hash(header_bytes);
        // The header is parsed into the last line's, reusing its strings.
        let mut slot = self.slot.take().unwrap_or_else(fast::blank_header);
        let parsed_header = match fast::parse_header_into(header_bytes, &mut slot) {
            Some(()) => Ok(slot),
            None => parse_header(header_bytes, &mut self.canonical),
        };
        let header = match parsed_header {
            Ok(h) => {
                if h.index != index {
                    self.fail(
                        entry,
                        ENTRIES,
                        Problem::HeaderIndex {
                            header: h.index,
                            line: index,
                        },
                    );
                }
                Some(h)
            }
            Err(e) => {
                self.fail(entry, ENTRIES, Problem::Header(e.to_string()));
                None
            }
        };
        self.check_proof(index, &leaf, members);

        match &parsed.salt {
            Ok(Some(salt)) => {
                self.report.counts.bodies += 1;
                if let Some(h) = &header {
                    if commit_body(salt, body) != h.body {
                        self.fail(entry, ENTRIES, Problem::BodyMismatch);
                    } else if let Err(e) = body_agrees(h, body) {
                        self.fail(entry, ENTRIES, Problem::Body(e));
                    }
                }
            }
            Ok(None) => {
                let with_bodies = self.manifest.as_ref().is_some_and(|m| m.with_bodies);
                if parsed.role == Role::Match && with_bodies {
                    self.report.counts.erased += 1;
                }
            }
            Err(e) => self.fail(entry, ENTRIES, Problem::Body(e.to_string())),
        }

        if parsed.role == Role::Match {
            self.report.counts.matches += 1;
            self.first_match.get_or_insert(index);
            self.last_match = Some(index);
        }
        let Some(h) = header else { return };
        // Header times never decrease along the log (§4).
        if self.max_index == Some(index) {
            if let Some((before, time)) = self.last_time {
                if h.time < time {
                    self.fail(
                        entry,
                        ENTRIES,
                        Problem::Header(format!(
                            "its time {} is earlier than the time {time} of entry {before}, which comes before it in the log",
                            h.time
                        )),
                    );
                }
            }
            self.last_time = Some((index, h.time));
        }
        if let Some(m) = &self.manifest {
            match parsed.role {
                Role::Match => {
                    if let Err(e) = m.query.matches(&h) {
                        self.fail(entry, ENTRIES, Problem::NotAMatch(e.to_string()));
                    }
                }
                Role::Stream => {
                    if m.query.matches(&h).is_ok() {
                        self.fail(entry, ENTRIES, Problem::HiddenMatch);
                    }
                }
                Role::Before | Role::After => {}
            }
        }
        if self.stream.is_some() || self.range {
            let (in_stream, link) = match &self.stream {
                Some((field, id, _)) => {
                    let (got, link) = field.of(&h);
                    (got == Some(id.as_str()), link)
                }
                None => (true, None),
            };
            self.items.push(Item {
                index,
                role: parsed.role,
                time: h.time,
                in_stream,
                link,
            });
        }
        self.slot = Some(h);
    }

    fn check_proof(&mut self, index: u64, leaf: &Hash, members: &mut dyn Members) {
        let Some(batch) = self.batch.as_mut() else {
            return;
        };
        use std::fmt::Write;
        self.name.clear();
        // Writing to a String cannot fail.
        let _ = write!(self.name, "proofs/{index}.tlog-proof");
        let result = match members.get(&self.name) {
            Member::Present(bytes) => batch.verify(index, leaf, bytes).map_err(Problem::Proof),
            Member::Absent => Err(Problem::ProofMissing(self.name.clone())),
            Member::Unreadable(why) => Err(Problem::ProofUnreadable {
                member: self.name.clone(),
                reason: why.to_owned(),
            }),
        };
        match result {
            Ok(()) => self.report.proven += 1,
            Err(p) => {
                let name = self.name.clone();
                self.fail(Some(index), &name, p)
            }
        }
    }

    /// Counts and completeness; the report.
    pub fn finish(mut self) -> Report {
        if let Some(m) = self.manifest.clone() {
            let got = self.report.counts;
            let want = m.counts;
            for (what, w, g) in [
                ("entries", want.entries, got.entries),
                ("matches", want.matches, got.matches),
                ("bodies", want.bodies, got.bodies),
                ("erased", want.erased, got.erased),
            ] {
                if w != g {
                    self.fail(
                        None,
                        MANIFEST,
                        Problem::Counts(format!(
                            "the manifest counts {w} {what}, the bundle has {g}"
                        )),
                    );
                }
            }
            for (what, w, g) in [
                ("first_index", m.first_index, self.first_match),
                ("last_index", m.last_index, self.last_match),
            ] {
                if w != g {
                    let show = |v: Option<u64>| v.map_or("none".to_string(), |v| v.to_string());
                    self.fail(
                        w.or(g),
                        MANIFEST,
                        Problem::Counts(format!(
                            "the manifest's {what} is {}, the bundle's is {}",
                            show(w),
                            show(g)
                        )),
                    );
                }
            }
            self.check_completeness(&m);
            self.report.manifest = Some(m);
        }
        self.report
    }

    fn check_completeness(&mut self, m: &Manifest) {
        let before = self.report.failures.len();
        let claimed = self.report.claim.is_some();
        let mut found = Vec::new();
        self.items.sort_by_key(|i| i.index);
        self.items.dedup_by_key(|i| i.index);
        if let Some((field, _, key)) = self.stream.clone() {
            let head = self.stream_head(&key);
            check_stream(&key, field, &m.query, &self.items, head, &mut found);
        } else if self.range {
            let size = self.tree.as_ref().map_or(0, |t| t.checkpoint.size);
            check_range(&m.query, &self.items, size, &mut found);
        }
        for (entry, member, problem) in found {
            self.fail(entry, member, problem);
        }
        // Completeness holds only if nothing at all failed: a claim over
        // entries that are not proven proves nothing.
        self.report.complete = claimed && before == 0 && self.report.failures.is_empty();
    }

    /// The stream's head from `completeness.json`, if it verifies.
    fn stream_head(&mut self, key: &str) -> Option<Option<StreamHead>> {
        let file = match self.completeness.take() {
            None => {
                self.fail(None, COMPLETENESS, Problem::MemberMissing);
                return None;
            }
            Some(Err(e)) => {
                self.fail(None, COMPLETENESS, Problem::Completeness(e));
                return None;
            }
            Some(Ok(f)) => f,
        };
        if file.stream != key {
            self.fail(
                None,
                COMPLETENESS,
                Problem::Completeness(format!(
                    "it is for stream {:?}, the manifest claims {key:?}",
                    file.stream
                )),
            );
            return None;
        }
        let tree = self.tree.as_ref()?;
        let result = root_from_extensions(&tree.checkpoint.extensions)
            .map_err(|e| e.to_string())
            .and_then(|root| {
                let proof = file.heads_proof()?;
                proof
                    .verify(key, &root, tree.checkpoint.size)
                    .map_err(|e| e.to_string())
            });
        match result {
            Ok(head) => Some(head),
            Err(e) => {
                self.fail(None, COMPLETENESS, Problem::Completeness(e));
                None
            }
        }
    }
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

/// Verifies a whole bundle held in `members`.
pub fn verify_members(members: &mut dyn Members, trusted: &[&dyn NoteVerifier]) -> Report {
    let mut v = Verifier::new(members, trusted);
    let entries = match members.get(ENTRIES) {
        Member::Present(b) => Some(b.to_vec()),
        Member::Absent => {
            v.fail(None, ENTRIES, Problem::MemberMissing);
            None
        }
        Member::Unreadable(why) => {
            let why = why.to_owned();
            v.fail(None, ENTRIES, Problem::MemberUnreadable(why));
            None
        }
    };
    if let Some(entries) = entries {
        for line in entries.split(|&b| b == b'\n') {
            if !line.is_empty() {
                v.line(line, members);
            }
        }
    }
    v.finish()
}
