//! The bundle verifier (docs/formats.md §9.3). It reports every failure it
//! finds, each with the entry and member it concerns, rather than stopping
//! at the first.

use std::sync::Arc;

use super::check::{Checked, LineChecker, LineRules};
use super::completeness::{CompletenessFile, Found, Item, RangeChain, StreamChain};
use super::gaps::{gaps_between, Fold, Span};
use super::manifest::{Counts, Manifest, StreamField};
use super::proofs::{BatchInclusion, ProofFileError};
use super::{chunk_member, Member, Members, Role, CHECKPOINT, COMPLETENESS, ENTRIES, MANIFEST};
use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::hash::Hash;
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
    #[error("{0}")]
    SharedProof(String),
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
    /// Entries whose inclusion in the checkpoint verified (by their own
    /// proof in version 1, by the shared proof in version 2).
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

/// The bundle's checkpoint, as far as it could be read.
struct Tree {
    checkpoint: Checkpoint,
}

/// How entries are proven in the checkpoint.
enum Proof {
    /// Version 1: a proof file per entry.
    PerEntry(BatchInclusion),
    /// Version 2: entries and gap hashes fold into the root.
    Shared(SharedProof),
    /// The checkpoint could not be read.
    None,
}

/// The completeness claim being checked.
enum Chain {
    None,
    Stream(StreamChain),
    Range(RangeChain),
}

/// Verifies a bundle as its lines stream by: create it with the small
/// members, feed every line in bundle order with [`Verifier::line`] (or
/// check lines elsewhere with a [`LineChecker`] and hand them to
/// [`Verifier::accept`]), then [`Verifier::finish`].
pub struct Verifier {
    report: Report,
    manifest: Option<Manifest>,
    tree: Option<Tree>,
    proof: Proof,
    completeness: Option<Result<CompletenessFile, String>>,
    /// The claimed stream's key, when a stream claim is checked.
    stream_key: Option<String>,
    chain: Chain,
    rules: Arc<LineRules>,
    checker: LineChecker,
    /// The largest index seen so far (indexes must strictly increase).
    max_index: Option<u64>,
    /// Index and time of the last entry in order (times must not decrease).
    last_time: Option<(u64, u64)>,
    first_match: Option<u64>,
    last_match: Option<u64>,
    line_no: u64,
    /// Reused: a proof member's name, a line's gap hashes.
    name: String,
    gaps: Vec<Hash>,
    found: Vec<Found>,
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
        let rules = Arc::new(LineRules::of(manifest.as_ref(), None));
        let mut v = Verifier {
            report,
            manifest,
            tree: None,
            proof: Proof::None,
            completeness,
            stream_key: None,
            chain: Chain::None,
            checker: LineChecker::new(rules.clone()),
            rules,
            max_index: None,
            last_time: None,
            first_match: None,
            last_match: None,
            line_no: 0,
            name: String::new(),
            gaps: Vec::new(),
            found: Vec::new(),
        };
        if let Some(note) = note {
            v.open_checkpoint(note, trusted);
        }
        v.decide_claim();
        v
    }

    /// The bundle's version (1 when the manifest could not be read).
    pub fn version(&self) -> u64 {
        self.manifest.as_ref().map_or(1, |m| m.v)
    }

    /// How many entries the manifest says the bundle holds (0 without one):
    /// for progress bars, never trusted.
    pub fn expected_entries(&self) -> u64 {
        self.manifest.as_ref().map_or(0, |m| m.counts.entries)
    }

    /// Records a failure found elsewhere (a line that did not parse, seen by
    /// a [`LineChecker`] on another thread), in bundle order.
    pub fn failure(&mut self, f: Failure) {
        self.report.failures.push(f);
    }

    /// Version 2: how many `entries/<k>.jsonl` members the manifest names.
    pub fn chunks(&self) -> Option<u64> {
        self.manifest.as_ref().and_then(|m| m.chunks)
    }

    /// What every line is checked against, for checking lines elsewhere
    /// (other threads) with a [`LineChecker`].
    pub fn rules(&self) -> Arc<LineRules> {
        self.rules.clone()
    }

    /// Records a failure that concerns a member rather than an entry (one
    /// that cannot be read, say).
    pub fn member_failure(&mut self, member: &str, problem: Problem) {
        self.fail(None, member, problem);
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
        self.proof = if self.version() >= 2 {
            Proof::Shared(SharedProof::new(checkpoint.size, checkpoint.root))
        } else {
            Proof::PerEntry(BatchInclusion::new(&note, checkpoint.size, checkpoint.root))
        };
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
                    self.chain = Chain::Stream(StreamChain::new(key.clone(), field, &m.query));
                    self.stream_key = Some(key.clone());
                    self.rules = Arc::new(LineRules::of(
                        Some(m),
                        Some((field, id.to_owned())),
                    ));
                    self.checker = LineChecker::new(self.rules.clone());
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
                self.chain = Chain::Range(RangeChain::default());
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

    /// Checks one line (without its newline) of `entries.jsonl` (version 1,
    /// with the entry's proof read from `members`) or of `member` (version
    /// 2, where the line count restarts with each member).
    pub fn line(&mut self, line: &[u8], member: &str, members: &mut dyn Members) {
        self.line_no += 1;
        let mut gaps = std::mem::take(&mut self.gaps);
        gaps.clear();
        match self.checker.check(line, self.line_no, member, &mut gaps) {
            Ok(c) => self.accept(c, &gaps, member, members),
            Err(f) => self.report.failures.push(f),
        }
        self.gaps = gaps;
    }

    /// Starts the next `entries` member: line numbers restart.
    pub fn start_member(&mut self) {
        self.line_no = 0;
    }

    /// Takes a line checked by a [`LineChecker`] (with its gap hashes), in
    /// bundle order: the order, time, proof and completeness checks.
    pub fn accept(&mut self, c: Checked, gaps: &[Hash], member: &str, members: &mut dyn Members) {
        let index = c.index;
        let entry = Some(index);
        let counts = &mut self.report.counts;
        counts.entries += 1;
        counts.bodies += u64::from(c.has_body);
        counts.erased += u64::from(c.erased);
        if c.role == Role::Match {
            counts.matches += 1;
            self.first_match.get_or_insert(index);
            self.last_match = Some(index);
        }
        let in_order = match self.max_index {
            Some(max) if index <= max => {
                self.fail(
                    entry,
                    member,
                    Problem::Order {
                        index,
                        previous: max,
                    },
                );
                false
            }
            _ => {
                self.max_index = Some(index);
                true
            }
        };
        self.report.failures.extend(c.failures);
        let prev = c.header.and_then(|h| h.prev);
        match &mut self.proof {
            Proof::PerEntry(_) => self.check_proof(index, &c.leaf, members),
            Proof::Shared(shared) if in_order => {
                if let Err(p) = shared.push(index, &c.leaf, prev, gaps) {
                    self.fail(entry, member, p);
                }
            }
            Proof::Shared(_) | Proof::None => {}
        }
        let Some(h) = c.header else { return };
        if !in_order {
            return;
        }
        // Header times never decrease along the log (§4).
        if let Some((before, time)) = self.last_time {
            if h.time < time {
                self.fail(
                    entry,
                    member,
                    Problem::Header(format!(
                        "its time {} is earlier than the time {time} of entry {before}, which comes before it in the log",
                        h.time
                    )),
                );
            }
        }
        self.last_time = Some((index, h.time));
        let item = Item {
            index,
            role: c.role,
            time: h.time,
            in_stream: h.in_stream,
            link: h.link,
        };
        match &mut self.chain {
            Chain::None => {}
            Chain::Stream(s) => {
                if let Some(m) = &self.manifest {
                    s.push(item, &m.query, &mut self.found);
                }
            }
            Chain::Range(r) => r.push(item, &mut self.found),
        }
        self.flush_found();
    }

    /// Moves completeness failures to the report, naming `member` where
    /// they name the entries member.
    fn flush_found(&mut self) {
        // Version 2 spreads the entries over several members; a chain
        // failure concerns the entries, wherever they are.
        let entries = if self.version() >= 2 {
            "entries/*.jsonl"
        } else {
            ENTRIES
        };
        for (entry, member, problem) in self.found.drain(..) {
            let member = if member == ENTRIES { entries } else { member };
            self.report.failures.push(Failure {
                entry,
                member: member.to_owned(),
                problem,
            });
        }
    }

    fn check_proof(&mut self, index: u64, leaf: &Hash, members: &mut dyn Members) {
        let Proof::PerEntry(batch) = &mut self.proof else {
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

    /// Counts, the shared proof and completeness; the report.
    pub fn finish(mut self) -> Report {
        if let Proof::Shared(shared) = std::mem::replace(&mut self.proof, Proof::None) {
            let after = self
                .manifest
                .as_ref()
                .map(|m| m.gap_hashes_after())
                .unwrap_or_else(|| Ok(Vec::new()));
            match after.and_then(|after| shared.finish(&after)) {
                Ok(proven) => self.report.proven = proven,
                Err(e) => self.fail(None, MANIFEST, Problem::SharedProof(e)),
            }
        }
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
        let claimed = self.report.claim.is_some();
        match std::mem::replace(&mut self.chain, Chain::None) {
            Chain::Stream(s) => {
                let head = self.stream_key.clone().and_then(|k| self.stream_head(&k));
                s.finish(head, &mut self.found);
            }
            Chain::Range(r) => {
                let size = self.tree.as_ref().map_or(0, |t| t.checkpoint.size);
                r.finish(&m.query, size, &mut self.found);
            }
            Chain::None => {}
        }
        self.flush_found();
        // Completeness holds only if nothing at all failed: a claim over
        // entries that are not proven proves nothing.
        self.report.complete = claimed && self.report.failures.is_empty();
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

/// Version 2's shared proof (docs/formats.md §10.3), folded as the entries
/// arrive in index order.
struct SharedProof {
    size: u64,
    root: Hash,
    fold: Fold,
    /// The last entry folded.
    last: Option<u64>,
    entries: u64,
    /// Set once a line's gaps did not fit: the fold cannot reach the root.
    broken: Option<u64>,
    spans: Vec<Span>,
    /// The last leaf, and the first entry whose header's `prev` is not the
    /// leaf hash of the entry before it: where to look when the root does
    /// not match.
    last_leaf: Option<(u64, Hash)>,
    chain_break: Option<u64>,
}

impl SharedProof {
    fn new(size: u64, root: Hash) -> Self {
        SharedProof {
            size,
            root,
            fold: Fold::new(size),
            last: None,
            entries: 0,
            broken: None,
            spans: Vec::new(),
            last_leaf: None,
            chain_break: None,
        }
    }

    /// Folds `gaps` then the entry's leaf.
    fn push(
        &mut self,
        index: u64,
        leaf: &Hash,
        prev: Option<Hash>,
        gaps: &[Hash],
    ) -> Result<(), Problem> {
        if index >= self.size {
            self.broken.get_or_insert(index);
            return Err(Problem::Proof(ProofFileError::OutOfRange {
                index,
                size: self.size,
            }));
        }
        if let (Some((i, l)), Some(p)) = (self.last_leaf, prev) {
            if i + 1 == index && p != l && self.chain_break.is_none() {
                self.chain_break = Some(index);
            }
        }
        self.last_leaf = Some((index, *leaf));
        self.entries += 1;
        let want = self.fold_gaps(Some(index), gaps);
        self.last = Some(index);
        if self.broken.is_none() {
            if let Err(e) = self.fold.push(
                Span {
                    lo: index,
                    hi: index + 1,
                },
                *leaf,
            ) {
                self.broken = Some(index);
                return Err(Problem::SharedProof(e.to_string()));
            }
        }
        want.map_err(Problem::SharedProof)
    }

    /// Folds the gap hashes that must come before `next` (the end of the
    /// tree when `None`); an error when there are not exactly that many.
    fn fold_gaps(&mut self, next: Option<u64>, gaps: &[Hash]) -> Result<(), String> {
        self.spans.clear();
        gaps_between(self.last, next, self.size, &mut self.spans);
        if self.spans.len() != gaps.len() {
            let at = next.unwrap_or(self.size);
            self.broken.get_or_insert(at);
            return Err(format!(
                "{} gap hashes where the entries around them need {} (the shared proof does not fit the entries: an entry or a gap hash was added, removed or moved)",
                gaps.len(),
                self.spans.len()
            ));
        }
        if self.broken.is_none() {
            for (span, h) in self.spans.iter().zip(gaps) {
                if let Err(e) = self.fold.push(*span, *h) {
                    self.broken = Some(span.lo);
                    return Err(e.to_string());
                }
            }
        }
        Ok(())
    }

    /// Folds the gaps after the last entry; how many entries are proven.
    fn finish(mut self, gaps_after: &[Hash]) -> Result<u64, String> {
        if let Err(e) = self.fold_gaps(None, gaps_after) {
            return Err(format!("gaps_after: {e}; no entry is proven"));
        }
        if let Some(at) = self.broken {
            return Err(format!(
                "the shared proof breaks at entry {at} (see the failure there): no entry of the bundle is proven"
            ));
        }
        match self.fold.root() {
            Some(root) if root == self.root => Ok(self.entries),
            got => {
                let hint = match self.chain_break {
                    Some(i) => format!("; entry {i}'s header names a previous leaf hash other than entry {}'s: entry {} or {i} was altered", i - 1, i - 1),
                    None => String::new(),
                };
                Err(format!(
                    "the entries and gap hashes lead to the root {}, not the checkpoint's root {}: a header, a gap hash or the set of entries was altered, and no entry of the bundle is proven{hint}",
                    got.map_or_else(|| "(none)".to_string(), |r| r.to_hex()),
                    self.root.to_hex()
                ))
            }
        }
    }
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

/// Verifies a whole bundle held in `members`, one line after another.
pub fn verify_members(members: &mut dyn Members, trusted: &[&dyn NoteVerifier]) -> Report {
    let mut v = Verifier::new(members, trusted);
    let names: Vec<String> = match v.chunks() {
        Some(n) => {
            check_chunk_names(&mut v, members.names(), n);
            (0..n).map(chunk_member).collect()
        }
        None => vec![ENTRIES.to_owned()],
    };
    for name in names {
        v.start_member();
        let bytes = match members.get(&name) {
            Member::Present(b) => Some(b.to_vec()),
            Member::Absent => {
                v.fail(None, &name, Problem::MemberMissing);
                None
            }
            Member::Unreadable(why) => {
                let why = why.to_owned();
                v.fail(None, &name, Problem::MemberUnreadable(why));
                None
            }
        };
        for line in bytes.iter().flat_map(|b| b.split(|&c| c == b'\n')) {
            if !line.is_empty() {
                v.line(line, &name, members);
            }
        }
    }
    v.finish()
}

/// Version 2: an `entries/<k>.jsonl` member beyond the manifest's count is
/// a failure (entries a verifier would otherwise never read).
pub fn check_chunk_names(v: &mut Verifier, names: Option<Vec<String>>, chunks: u64) {
    for name in names.into_iter().flatten() {
        if let Some(k) = super::chunk_member_index(&name) {
            if k >= chunks {
                v.member_failure(
                    &name,
                    Problem::Manifest(format!(
                        "the manifest names {chunks} entries members, this is member {k}: entries beyond the manifest's count are not verified"
                    )),
                );
            }
        }
    }
}
