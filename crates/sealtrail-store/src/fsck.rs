//! Store verification (`sealtrail verify --data DIR`): re-derives every hash
//! from the stored bytes and reports each entry, body, stream link, tile node,
//! head or checkpoint that does not match, by location.
//!
//! It trusts nothing it reads: the leaf hash column, the frontier, the tile
//! nodes and the checkpoints are all recomputed from the entry bytes.
//!
//! An embedded data directory is read through [`EmbeddedFiles`], read-only:
//! opening it as a [`crate::sqlite::SqliteStore`] would cut bytes past the
//! committed end of the segment (destroying what an investigator may want to
//! see) and refuse a truncated segment outright, where fsck must name each
//! entry whose record is gone.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use sealtrail_core::checkpoint::SignedCheckpoint;
use sealtrail_core::frontier::Frontier;
use sealtrail_core::hash::{leaf_hash, Hash, HASH_LEN};
use sealtrail_core::header::{EntryHeader, HeaderError, StreamLink};
use sealtrail_core::heads::{self, HeadsAudit, HeadsMismatch};
use sealtrail_core::note::NoteVerifier;

use crate::column::{frontier_length, hash_from, to_u64};
use crate::segment::{segment_name, RecordLocation, SegmentReader, SALT_LEN};
use crate::{LogHead, Store, StoreError, StoredCheckpoint};

/// One thing that is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `entry 41`, `tile node level 8 index 3`, `head`, `checkpoint 1000`,
    /// `segment 00000000.seg`.
    pub location: String,
    /// A stable label of what is wrong (`body_mismatch`, `missing`, …; the
    /// list is in docs/verify.md).
    pub code: &'static str,
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.what)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub entries: u64,
    pub bodies: u64,
    pub erased: u64,
    pub checkpoints: u64,
    pub root: Option<Hash>,
    pub problems: Vec<Problem>,
    /// Problems found past the first 10,000 (counted, not listed).
    pub unlisted: u64,
    /// Things worth knowing that are not proven wrong (entries no signed
    /// checkpoint covers yet).
    pub warnings: Vec<Problem>,
}

/// Past this many the report is no longer useful to read.
const MAX_PROBLEMS: usize = 10_000;

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Every problem found, listed or not.
    pub fn problem_count(&self) -> u64 {
        self.problems.len() as u64 + self.unlisted
    }

    fn problem(
        &mut self,
        location: impl Into<String>,
        code: &'static str,
        what: impl Into<String>,
    ) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem {
                location: location.into(),
                code,
                what: what.into(),
            });
        } else {
            self.unlisted += 1;
        }
    }

    fn warning(
        &mut self,
        location: impl Into<String>,
        code: &'static str,
        what: impl Into<String>,
    ) {
        if self.warnings.len() < MAX_PROBLEMS {
            self.warnings.push(Problem {
                location: location.into(),
                code,
                what: what.into(),
            });
        }
    }
}

/// An entry's record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBytes {
    pub header: Vec<u8>,
    /// `(salt, body)`; `None` once erased.
    pub body: Option<([u8; SALT_LEN], Vec<u8>)>,
}

/// Why an entry's record could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordProblem {
    pub code: &'static str,
    pub what: String,
}

/// One entry as fsck reads it: what its row claims, and its record or why
/// the record cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedEntry {
    pub index: u64,
    /// The leaf hash the store keeps for this entry, if readable.
    pub stored_leaf: Option<Hash>,
    pub record: Result<RecordBytes, RecordProblem>,
}

/// What the second thread works out for a readable record: its leaf hash
/// and its header's facts (hashes, parsing and key hashing are most of the
/// work), so that the checking thread only compares, in order.
#[derive(Debug, Clone)]
struct Prepared {
    leaf: Hash,
    header: Result<Facts, HeaderError>,
}

/// What the checks in log order need of a header that was read.
#[derive(Debug, Clone)]
struct Facts {
    index: u64,
    time: u64,
    prev: Option<Hash>,
    /// The agent stream's key hash (`SHA-256("a:" ‖ agent)`) and link.
    agent: (Hash, StreamLink),
    /// The session stream's key hash and link (absent link: a problem).
    session: Option<(Hash, Option<StreamLink>)>,
    /// The body against the header's commitment; `None` once erased.
    body: Option<Result<(), HeaderError>>,
}

/// Prepares records on the second thread, reusing one header's strings
/// and one key buffer for all of them.
#[derive(Default)]
struct Preparer {
    slot: Option<EntryHeader>,
    key: String,
}

impl Preparer {
    fn prepare(&mut self, r: &RecordBytes) -> Prepared {
        let leaf = leaf_hash(&r.header);
        let header = sealtrail_core::bundle::read_header_into(&r.header, &mut self.slot).map(|h| {
            crate::agent_stream_key_into(&h.agent, &mut self.key);
            let agent = (heads::key_hash(&self.key), h.streams.agent);
            let session = h.session.as_deref().map(|s| {
                crate::session_stream_key_into(s, &mut self.key);
                (heads::key_hash(&self.key), h.streams.session)
            });
            Facts {
                index: h.index,
                time: h.time,
                prev: h.prev,
                agent,
                session,
                body: r
                    .body
                    .as_ref()
                    .map(|(salt, body)| h.verify_body(salt, body)),
            }
        });
        Prepared { leaf, header }
    }
}

/// The stream key named in a message about entry bytes `header`: parsed
/// again, since only a failing check needs it.
fn stream_key_of(header: &[u8], session: bool) -> String {
    match sealtrail_core::bundle::read_header(header) {
        Ok(h) if session => h
            .session
            .as_deref()
            .map_or_else(String::new, crate::session_stream_key),
        Ok(h) => crate::agent_stream_key(&h.agent),
        Err(_) => String::new(),
    }
}

/// An entry's location in the report (`entry 41`), made into text only
/// when a problem is reported.
#[derive(Debug, Clone, Copy)]
struct EntryLoc(u64);

impl From<EntryLoc> for String {
    fn from(l: EntryLoc) -> String {
        format!("entry {}", l.0)
    }
}

/// What fsck reads: a [`Store`] (through [`StoreSource`]) or an embedded
/// data directory opened read-only ([`EmbeddedFiles`]).
pub trait FsckSource {
    fn head(&self) -> Result<LogHead, StoreError>;
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError>;
    fn nodes(&self, level: u8, start: u64, end: u64) -> Result<Vec<Hash>, StoreError>;
    /// Entries of `[start, end)` in index order (missing ones absent). A
    /// record that cannot be read is reported in its entry, not as an error.
    fn scan(&self, start: u64, end: u64) -> Result<Vec<ScannedEntry>, StoreError>;
    /// Checks of the container itself (segment files), before any entry.
    fn preflight(&self, _head: &LogHead, _report: &mut Report) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Any [`Store`] as an fsck source.
pub struct StoreSource<'a>(pub &'a dyn Store);

impl FsckSource for StoreSource<'_> {
    fn head(&self) -> Result<LogHead, StoreError> {
        self.0.head()
    }

    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        self.0.checkpoints()
    }

    fn nodes(&self, level: u8, start: u64, end: u64) -> Result<Vec<Hash>, StoreError> {
        self.0.nodes(level, start, end)
    }

    fn scan(&self, start: u64, end: u64) -> Result<Vec<ScannedEntry>, StoreError> {
        let whole = |e: crate::StoredEntry| ScannedEntry {
            index: e.index,
            stored_leaf: Some(e.leaf_hash),
            record: Ok(RecordBytes {
                header: e.header,
                body: e.salt.zip(e.body),
            }),
        };
        match self.0.entries(start, end) {
            Ok(entries) => Ok(entries.into_iter().map(whole).collect()),
            // One unreadable record fails the whole range: read entry by
            // entry to find which.
            Err(StoreError::Corrupt(_)) => {
                let mut out = Vec::new();
                for index in start..end {
                    match self.0.entry(index) {
                        Ok(Some(e)) => out.push(whole(e)),
                        Ok(None) => {}
                        Err(StoreError::Corrupt(what)) => out.push(ScannedEntry {
                            index,
                            stored_leaf: self.0.leaf_hashes(index, index + 1)?.pop(),
                            record: Err(RecordProblem {
                                code: "record_unreadable",
                                what,
                            }),
                        }),
                        Err(other) => return Err(other),
                    }
                }
                Ok(out)
            }
            Err(other) => Err(other),
        }
    }
}

/// Entries read, hashed and checked at a time. Small enough that a chunk's
/// records (about 2 MB with 1 KiB bodies) are freed and allocated again
/// within the allocator's purge delay: with 4,096 the memory went back to
/// the system between chunks and every chunk faulted in fresh zeroed pages
/// (9 % of fsck's time in `clear_page`).
const CHUNK: u64 = 1024;

/// Checks a whole store. `verifiers` are the log's keys; with none,
/// checkpoint signatures are not checked (roots and sizes still are).
pub fn check(store: &dyn Store, verifiers: &[&dyn NoteVerifier]) -> Result<Report, StoreError> {
    check_source(&StoreSource(store), verifiers)
}

/// [`check`], telling `progress(done, total)` how many entries are scanned.
pub fn check_with_progress(
    store: &dyn Store,
    verifiers: &[&dyn NoteVerifier],
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report, StoreError> {
    check_source_with_progress(&StoreSource(store), verifiers, progress)
}

/// Checks an embedded data directory without writing to it.
pub fn check_embedded(dir: &Path, verifiers: &[&dyn NoteVerifier]) -> Result<Report, StoreError> {
    check_source(&EmbeddedFiles::open(dir)?, verifiers)
}

/// [`check_embedded`], telling `progress(done, total)` how many entries
/// are scanned.
pub fn check_embedded_with_progress(
    dir: &Path,
    verifiers: &[&dyn NoteVerifier],
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report, StoreError> {
    check_source_with_progress(&EmbeddedFiles::open(dir)?, verifiers, progress)
}

/// What the scan carries from one entry to the next.
#[derive(Default)]
struct Scan {
    frontier: Frontier,
    /// Tile-level nodes (level a multiple of 8) recomputed from the entries.
    nodes: HashMap<u8, Vec<Hash>>,
    prev_leaf: Option<Hash>,
    /// The leaf before `prev_leaf`: an entry chaining to it skipped one.
    prev2_leaf: Option<Hash>,
    /// The previous entry's header was readable and claimed its position.
    prev_in_place: bool,
    prev_time: u64,
    /// Stream key hash → (count, index of its last entry). Seeded foldhash
    /// as in the store's writer: agents choose their names, so their key
    /// hashes' low bits could be ground to collide under an unseeded hash.
    streams: crate::FastMap<Hash, (u64, u64)>,
    /// Entries whose header could not be read: their streams are unknown,
    /// so a stream link that skips one of them is not blamed.
    unreadable: BTreeSet<u64>,
    roots_at: HashMap<u64, Hash>,
    /// Replays the stream heads to check each checkpoint's heads line.
    heads: Option<HeadsAudit>,
    heads_mismatches: Vec<HeadsMismatch>,
}

/// Checks whatever `src` reads.
pub fn check_source(
    src: &dyn FsckSource,
    verifiers: &[&dyn NoteVerifier],
) -> Result<Report, StoreError> {
    check_source_with_progress(src, verifiers, &mut |_, _| {})
}

/// [`check_source`], calling `progress(done, total)` after each chunk of
/// entries scanned (`total`: the head's size).
pub fn check_source_with_progress(
    src: &dyn FsckSource,
    verifiers: &[&dyn NoteVerifier],
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let head = src.head()?;
    src.preflight(&head, &mut report)?;
    let checkpoints = src.checkpoints()?;
    let wanted: BTreeSet<u64> = checkpoints.iter().map(|c| c.size).collect();
    let mut scan = Scan::default();
    // What each checkpoint's stream-heads line claims (docs/formats.md §8);
    // the signature itself is checked below with the rest of the note.
    let claims = checkpoints
        .iter()
        .map(|cp| {
            let claimed = sealtrail_core::note::Note::parse(&cp.note)
                .ok()
                .and_then(|n| sealtrail_core::checkpoint::Checkpoint::parse(n.text()).ok())
                .and_then(|c| heads::root_from_extensions(&c.extensions).ok());
            (cp.size, claimed)
        })
        .collect();
    let mut audit = HeadsAudit::new(claims);
    scan.heads_mismatches = audit.start();
    scan.heads = Some(audit);
    if wanted.contains(&0) {
        scan.roots_at.insert(0, Hash::EMPTY_ROOT);
    }

    let mut expected_index = 0u64;
    // Scan past the head too, to find entries that should not be there.
    let scan_end = head.size.saturating_add(CHUNK);
    // Reading and the checks in order stay on this thread (the source is
    // not shared); the hashes of each chunk (leaves and body commitments,
    // most of the work) are computed on a second thread, one chunk behind.
    std::thread::scope(|s| -> Result<(), StoreError> {
        let (to_hash, chunks) = std::sync::mpsc::sync_channel::<Vec<ScannedEntry>>(1);
        let (hashed_tx, hashed) =
            std::sync::mpsc::sync_channel::<Vec<(ScannedEntry, Option<Prepared>)>>(1);
        s.spawn(move || {
            let mut preparer = Preparer::default();
            for chunk in chunks {
                let out = chunk
                    .into_iter()
                    .map(|e| {
                        let p = e.record.as_ref().ok().map(|r| preparer.prepare(r));
                        (e, p)
                    })
                    .collect();
                if hashed_tx.send(out).is_err() {
                    return;
                }
            }
        });
        let mut check_chunk = |chunk: Vec<(ScannedEntry, Option<Prepared>)>, end: u64| {
            for (e, prepared) in chunk {
                let loc = EntryLoc(e.index);
                if e.index >= head.size {
                    report.problem(
                        loc,
                        "beyond_head",
                        format!(
                            "exists beyond the head of the log (size {}): added after the log was sealed",
                            head.size
                        ),
                    );
                    continue;
                }
                while expected_index < e.index {
                    report.problem(
                        format!("entry {expected_index}"),
                        "missing",
                        "is missing (its row was deleted)",
                    );
                    expected_index += 1;
                }
                expected_index = e.index + 1;
                report.entries += 1;
                check_entry(&mut report, &mut scan, &wanted, loc, e, prepared);
            }
            progress(end.min(head.size), head.size);
        };
        // The chunk sent to the hashing thread and not checked yet (its end).
        let mut pending: Option<u64> = None;
        let mut start = 0u64;
        loop {
            let end = start + CHUNK;
            let more = start < scan_end;
            let chunk = if more {
                src.scan(start, end)?
            } else {
                Vec::new()
            };
            let last = !more || (chunk.is_empty() && start >= head.size);
            if !last {
                // The hashing thread ends only when this side hangs up.
                let _ = to_hash.send(chunk);
            }
            if let Some(prev_end) = pending.take() {
                if let Ok(done) = hashed.recv() {
                    check_chunk(done, prev_end);
                }
            }
            if last {
                return Ok(());
            }
            pending = Some(end);
            start = end;
        }
    })?;
    while expected_index < head.size {
        report.problem(
            format!("entry {expected_index}"),
            "missing",
            "is missing (its row was deleted or the log was truncated)",
        );
        expected_index += 1;
    }

    let mut levels: Vec<_> = scan.nodes.iter().collect();
    levels.sort_by_key(|(level, _)| **level);
    for (level, computed) in levels {
        let mut stored: Vec<Option<Hash>> = src
            .nodes(*level, 0, computed.len() as u64)?
            .into_iter()
            .map(Some)
            .collect();
        if stored.len() != computed.len() {
            // Nodes come back without their indexes: find which are gone.
            stored = (0..computed.len() as u64)
                .map(|i| Ok(src.nodes(*level, i, i + 1)?.pop()))
                .collect::<Result<_, StoreError>>()?;
        }
        for (i, c) in computed.iter().enumerate() {
            let loc = format!("tile node level {level} index {i}");
            match stored.get(i).copied().flatten() {
                Some(s) if s == *c => {}
                Some(_) => report.problem(
                    loc,
                    "tile_node_mismatch",
                    format!(
                        "does not match the entries under it ({}..{})",
                        (i as u64) << level,
                        ((i as u64 + 1) << level) - 1
                    ),
                ),
                None => report.problem(loc, "tile_node_missing", "is missing"),
            }
        }
    }

    let root = scan.frontier.root();
    report.root = Some(root);
    if head.root != root {
        report.problem(
            "head",
            "head_root",
            format!("stored root {} but the entries give {root}", head.root),
        );
    }
    if head.frontier != scan.frontier.nodes() {
        report.problem(
            "head",
            "head_frontier",
            "stored frontier does not match the entries",
        );
    }
    if head.last_leaf != scan.prev_leaf {
        report.problem(
            "head",
            "head_last_leaf",
            "stored last leaf does not match the last entry",
        );
    }

    let mut signed_size = None;
    for cp in &checkpoints {
        report.checkpoints += 1;
        let loc = format!("checkpoint {}", cp.size);
        let parsed = if verifiers.is_empty() {
            sealtrail_core::note::Note::parse(&cp.note)
                .map_err(|e| e.to_string())
                .and_then(|n| {
                    sealtrail_core::checkpoint::Checkpoint::parse(n.text())
                        .map_err(|e| e.to_string())
                })
        } else {
            SignedCheckpoint::open(&cp.note, verifiers)
                .map(|s| s.checkpoint)
                .map_err(|e| e.to_string())
        };
        match parsed {
            Err(err) => report.problem(
                &loc,
                "checkpoint_signature",
                format!("signature or format: {err}"),
            ),
            Ok(c) => {
                if c.size != cp.size {
                    report.problem(
                        &loc,
                        "checkpoint_size",
                        format!("note says size {}", c.size),
                    );
                }
                // Signed by the key: what it covers is vouched for (or, if
                // its root does not match, reported as such just below).
                signed_size = signed_size.max(Some(c.size));
                match scan.roots_at.get(&c.size) {
                    Some(r) if *r == c.root => {}
                    Some(_) => report.problem(
                        &loc,
                        "checkpoint_root",
                        "signed root does not match the entries (the log was changed after signing)",
                    ),
                    None => report.problem(
                        &loc,
                        "checkpoint_beyond_log",
                        format!("signed size {} is larger than the log", c.size),
                    ),
                }
            }
        }
    }
    for m in std::mem::take(&mut scan.heads_mismatches) {
        let loc = format!("checkpoint {}", m.size);
        match m.claimed {
            Some(claimed) => report.problem(
                loc,
                "checkpoint_stream_heads",
                format!(
                    "signed stream-heads root {claimed} does not match the entries' stream heads {}",
                    m.computed
                ),
            ),
            None => report.warning(
                loc,
                "no_stream_heads",
                "has no sealtrail-stream-heads/v1 line (signed by an older sealtrail): exports cannot prove stream completeness at this size",
            ),
        }
    }
    // Report order: container, entries by index, tiles, head, checkpoints
    // (an inserted entry is found only at the entry after it).
    report.problems.sort_by_key(report_order);
    // Entries past the last checkpoint are vouched for by nobody yet: after
    // a crash that is normal (the next start signs them), but an entry added
    // without the key looks exactly like this.
    let covered = signed_size.unwrap_or(0);
    if head.size > covered {
        report.warning(
            if head.size - covered == 1 {
                format!("entry {covered}")
            } else {
                format!("entries {covered}..{}", head.size - 1)
            },
            "unsigned",
            format!(
                "not covered by a signed checkpoint (the largest covers {covered} entries): \
                 sealed after the last checkpoint (a crash before the next one?) or added without the log's key"
            ),
        );
    }
    Ok(report)
}

fn report_order(p: &Problem) -> (u8, u64) {
    let number = |prefix: &str| {
        p.location
            .strip_prefix(prefix)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    match p.location.split(' ').next() {
        Some("segment") => (0, 0),
        Some("entry") => (1, number("entry ")),
        Some("tile") => (2, 0),
        Some("head") => (3, 0),
        _ => (4, number("checkpoint ")),
    }
}

/// Checks one entry and advances the scan.
fn check_entry(
    report: &mut Report,
    scan: &mut Scan,
    wanted: &BTreeSet<u64>,
    loc: EntryLoc,
    e: ScannedEntry,
    prepared: Option<Prepared>,
) {
    let leaf = match e.record {
        Err(p) => {
            report.problem(loc, p.code, p.what);
            scan.unreadable.insert(e.index);
            scan.prev_in_place = false;
            // Best effort: go on with the leaf the row claims, so that the
            // entries after this one are still checked on their own.
            let Some(stored) = e.stored_leaf else {
                report.problem(loc, "leaf_unreadable", "stored leaf hash is unreadable");
                return;
            };
            stored
        }
        Ok(record) => {
            let p = prepared.unwrap_or_else(|| Preparer::default().prepare(&record));
            let computed = p.leaf;
            if e.stored_leaf != Some(computed) {
                report.problem(
                    loc,
                    "leaf_mismatch",
                    "stored leaf hash does not match the entry bytes (the header or the leaf hash was changed)",
                );
            }
            let in_place = check_header(report, scan, loc, e.index, &record, p.header);
            scan.prev_in_place = in_place;
            computed
        }
    };
    scan.prev2_leaf = scan.prev_leaf;
    scan.prev_leaf = Some(leaf);
    let nodes = &mut scan.nodes;
    scan.frontier.append_with(leaf, |level, index, hash| {
        if level > 0 && level % 8 == 0 {
            let row = nodes.entry(level).or_default();
            if row.len() as u64 == index {
                row.push(*hash);
            }
        }
    });
    if wanted.contains(&scan.frontier.size()) {
        scan.roots_at
            .insert(scan.frontier.size(), scan.frontier.root());
    }
}

/// Checks a readable record; true when its header claims its position.
fn check_header(
    report: &mut Report,
    scan: &mut Scan,
    loc: EntryLoc,
    index: u64,
    r: &RecordBytes,
    header: Result<Facts, HeaderError>,
) -> bool {
    let h = match header {
        Ok(h) => h,
        Err(err) => {
            report.problem(
                loc,
                "header_unreadable",
                format!("header unreadable: {err}"),
            );
            scan.unreadable.insert(index);
            return false;
        }
    };
    if h.index != index {
        let why = if h.index < index {
            "an entry was inserted before it, or it was moved"
        } else {
            "an entry before it was removed, or it was moved"
        };
        report.problem(
            loc,
            "index_mismatch",
            format!("header says index {} ({why})", h.index),
        );
    }
    if index > 1 && h.prev != scan.prev_leaf && h.prev == scan.prev2_leaf && scan.prev_in_place {
        // This entry chains to the one two back, and the one in between
        // claims its place: that one is not part of the chain the log built.
        report.problem(
            format!("entry {}", index - 1),
            "inserted",
            format!(
                "was inserted: entry {index} follows entry {} directly in the hash chain",
                index - 2
            ),
        );
    } else if index > 0 && h.prev != scan.prev_leaf {
        report.problem(
            loc,
            "prev_mismatch",
            "prev does not match the previous entry's leaf hash (an entry before it was changed, removed or reordered)",
        );
    }
    if h.time < scan.prev_time {
        report.problem(
            loc,
            "time_order",
            format!(
                "time {} is before the previous entry's {}",
                h.time, scan.prev_time
            ),
        );
    }
    scan.prev_time = h.time;
    if let Some(audit) = scan.heads.as_mut() {
        let found = audit.push_hashed(index, &h.agent.0, h.session.as_ref().map(|s| &s.0));
        scan.heads_mismatches.extend(found);
    }
    // Stream links name entries by the index their header claims: a moved
    // entry is reported once (above), not again by every later link.
    let (agent, agent_link) = h.agent;
    check_link(report, scan, loc, &agent, Some(agent_link), h.index, || {
        stream_key_of(&r.header, false)
    });
    if let Some((session, link)) = h.session {
        check_link(report, scan, loc, &session, link, h.index, || {
            stream_key_of(&r.header, true)
        });
    }
    match h.body {
        Some(checked) => {
            report.bodies += 1;
            if let Err(err) = checked {
                report.problem(
                    loc,
                    "body_mismatch",
                    format!("body or salt: {err} (the body or its salt was changed)"),
                );
            }
        }
        None => report.erased += 1,
    }
    h.index == index
}

/// Checks an entry's link in the stream whose key hashes to `kh`; `key`
/// names the stream in a message.
fn check_link(
    report: &mut Report,
    scan: &mut Scan,
    loc: EntryLoc,
    kh: &Hash,
    link: Option<StreamLink>,
    index: u64,
    key: impl Fn() -> String,
) {
    let expected = scan.streams.get(kh).copied();
    let Some(link) = link else {
        report.problem(
            loc,
            "stream_link",
            format!("has no stream link for {}", key()),
        );
        return;
    };
    let want_n = expected.map_or(1, |(n, _)| n + 1);
    let want_prev = expected.map(|(_, last)| last);
    // An unreadable header in between may have belonged to this stream.
    let after = want_prev.map_or(0, |p| p + 1);
    let blind = after < index && scan.unreadable.range(after..index).next().is_some();
    if (link.n != want_n || link.prev != want_prev) && !blind {
        report.problem(
            loc,
            "stream_link",
            format!(
                "stream {} link is n={} prev={:?}, expected n={want_n} prev={want_prev:?} (an entry of this stream is missing or was inserted)",
                key(),
                link.n,
                link.prev
            ),
        );
    }
    scan.streams.insert(*kh, (link.n, index));
}

/// An embedded data directory (`log.db` and `segments/`) opened read-only:
/// one SQLite read transaction (a consistent snapshot even while a server
/// writes) and the segment files read directly.
pub struct EmbeddedFiles {
    conn: Connection,
    /// `log.db`, for messages.
    db: PathBuf,
    segments: SegmentReader,
    seg_dir: PathBuf,
    /// Where runs of records are read (up to 4 MiB), kept between chunks.
    scratch: std::cell::RefCell<Vec<u8>>,
}

/// A SQLite error of `what` on `db`.
fn sql_err(db: &Path, what: &str, e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase
            ) =>
        {
            StoreError::Corrupt(format!("{}: {e}", db.display()))
        }
        rusqlite::Error::SqliteFailure(f, _) => StoreError::Database {
            what: format!("cannot {what} in {}", db.display()),
            message: e.to_string(),
            code: Some(format!("SQLite {:?} ({})", f.code, f.extended_code)),
        },
        _ => StoreError::Database {
            what: format!("cannot {what} in {}", db.display()),
            message: e.to_string(),
            code: None,
        },
    }
}

fn i64_param(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl EmbeddedFiles {
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = dir.join("log.db");
        if !db.is_file() {
            return Err(StoreError::io(
                format!("open the log in {}", dir.display()),
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "it has no log.db: not the data directory of an embedded sealtrail log",
                ),
            ));
        }
        let conn = Connection::open_with_flags(
            &db,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| sql_err(&db, "open the log", e))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| sql_err(&db, "open the log", e))?;
        // Every read below sees the same committed state.
        conn.execute_batch("BEGIN")
            .map_err(|e| sql_err(&db, "open the log", e))?;
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sql_err(&db, "open the log", e))?;
        let found: u32 = version.as_deref().unwrap_or("0").parse().map_err(|_| {
            StoreError::Corrupt(format!(
                "{}: table meta: schema_version is {version:?}, not a version number",
                db.display()
            ))
        })?;
        if found > crate::sqlite::SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found,
                supported: crate::sqlite::SCHEMA_VERSION,
            });
        }
        let seg_dir = dir.join("segments");
        Ok(EmbeddedFiles {
            conn,
            db,
            segments: SegmentReader::new(&seg_dir),
            seg_dir,
            scratch: std::cell::RefCell::new(Vec::new()),
        })
    }

    /// `(active segment, committed length)` from the head row.
    fn committed_segment(&self) -> Result<(u32, u64), StoreError> {
        let (seg, len): (u32, i64) = self
            .conn
            .query_row(
                "SELECT segment, segment_len FROM head WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| sql_err(&self.db, "read the log head (table head)", e))?;
        Ok((seg, to_u64(len, "head.segment_len")?))
    }
}

impl FsckSource for EmbeddedFiles {
    fn head(&self) -> Result<LogHead, StoreError> {
        let (size, root, frontier, last_time, last_leaf): (
            i64,
            Vec<u8>,
            Vec<u8>,
            i64,
            Option<Vec<u8>>,
        ) = self
            .conn
            .query_row(
                "SELECT size, root, frontier, last_time, last_leaf FROM head WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .map_err(|e| sql_err(&self.db, "read the log head (table head)", e))?;
        if frontier.len() % HASH_LEN != 0 {
            return Err(frontier_length(frontier.len()));
        }
        Ok(LogHead {
            size: to_u64(size, "head.size")?,
            root: hash_from(&root, "head.root")?,
            frontier: frontier
                .chunks_exact(HASH_LEN)
                .filter_map(Hash::from_slice)
                .collect(),
            last_time: to_u64(last_time, "head.last_time")?,
            last_leaf: last_leaf
                .map(|l| hash_from(&l, "head.last_leaf"))
                .transpose()?,
        })
    }

    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT size, note, time FROM checkpoints ORDER BY size")
            .map_err(|e| sql_err(&self.db, "read the checkpoints (table checkpoints)", e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(|e| sql_err(&self.db, "read the checkpoints (table checkpoints)", e))?;
        rows.map(|r| {
            let (size, note, time) =
                r.map_err(|e| sql_err(&self.db, "read the checkpoints (table checkpoints)", e))?;
            Ok(StoredCheckpoint {
                size: to_u64(size, "checkpoints.size")?,
                note,
                time: to_u64(time, "checkpoints.time")?,
            })
        })
        .collect()
    }

    fn nodes(&self, level: u8, start: u64, end: u64) -> Result<Vec<Hash>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT hash FROM nodes WHERE level = ?1 AND idx >= ?2 AND idx < ?3 ORDER BY idx",
            )
            .map_err(|e| sql_err(&self.db, "read tree nodes (table nodes)", e))?;
        let rows = stmt
            .query_map(params![level, i64_param(start), i64_param(end)], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .map_err(|e| sql_err(&self.db, "read tree nodes (table nodes)", e))?;
        rows.map(|r| {
            r.map_err(|e| sql_err(&self.db, "read tree nodes (table nodes)", e))
                .and_then(|b| hash_from(&b, "nodes.hash"))
        })
        .collect()
    }

    fn scan(&self, start: u64, end: u64) -> Result<Vec<ScannedEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT idx, leaf, seg, off, hlen, blen FROM entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
            )
            .map_err(|e| sql_err(&self.db, "read entries (table entries)", e))?;
        let rows = stmt
            .query_map(params![i64_param(start), i64_param(end)], |r| {
                // The leaf hash read in place, without a Vec per row.
                let leaf = r.get_ref(1)?;
                let leaf = leaf.as_blob().map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(1, leaf.data_type(), Box::new(e))
                })?;
                Ok((
                    r.get::<_, i64>(0)?,
                    Hash::from_slice(leaf),
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                ))
            })
            .map_err(|e| sql_err(&self.db, "read entries (table entries)", e))?;
        // The rows first, then their records, read in runs.
        let mut found = Vec::with_capacity(usize::try_from(end - start).unwrap_or(0));
        for row in rows {
            let (idx, leaf, seg, off, hlen, blen) =
                row.map_err(|e| sql_err(&self.db, "read entries (table entries)", e))?;
            let index = to_u64(idx, "entries.idx")?;
            let location = (|| {
                Ok(RecordLocation {
                    segment: u32::try_from(seg).map_err(|_| format!("segment number {seg}"))?,
                    offset: u64::try_from(off).map_err(|_| format!("record offset {off}"))?,
                    header_len: u32::try_from(hlen).map_err(|_| format!("header length {hlen}"))?,
                    body_len: blen
                        .map(|b| u32::try_from(b).map_err(|_| format!("body length {b}")))
                        .transpose()?,
                })
            })()
            .map_err(|what: String| RecordProblem {
                code: "row_unreadable",
                what: format!("row holds an impossible {what}"),
            });
            found.push((index, leaf, location));
        }
        let locs: Vec<RecordLocation> = found
            .iter()
            .filter_map(|(_, _, l)| l.as_ref().ok().copied())
            .collect();
        let mut records = self
            .segments
            .read_records(&locs, &mut self.scratch.borrow_mut())
            .into_iter();
        let mut out = Vec::with_capacity(found.len());
        for (index, stored_leaf, location) in found {
            let record = location.and_then(|_| {
                records
                    .next()
                    .unwrap_or_else(|| {
                        Err(crate::segment::RecordError::Unreadable {
                            file: String::new(),
                            offset: 0,
                            message: "no record read for this row".into(),
                        })
                    })
                    .map(|(header, body)| RecordBytes { header, body })
                    .map_err(|e| RecordProblem {
                        code: e.code(),
                        what: e.to_string(),
                    })
            });
            out.push(ScannedEntry {
                index,
                stored_leaf,
                record,
            });
        }
        Ok(out)
    }

    fn preflight(&self, _head: &LogHead, report: &mut Report) -> Result<(), StoreError> {
        let (segment, committed) = self.committed_segment()?;
        let name = segment_name(segment);
        match std::fs::metadata(self.seg_dir.join(&name)) {
            Ok(m) if m.len() < committed => report.problem(
                format!("segment {name}"),
                "segment_truncated",
                format!(
                    "is {} bytes but {committed} bytes were committed: the records past byte {} are gone",
                    m.len(),
                    m.len()
                ),
            ),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && committed > 0 => report.problem(
                format!("segment {name}"),
                "segment_missing",
                format!("is missing but {committed} bytes were committed"),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StoreError::io(
                    format!("read segment {}", self.seg_dir.join(&name).display()),
                    e,
                ))
            }
        }
        Ok(())
    }
}
