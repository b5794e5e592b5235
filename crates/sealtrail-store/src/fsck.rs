//! Store verification (`sealtrail verify --data DIR`): re-derives every hash
//! from the stored bytes and reports each entry, body, stream link, tile node,
//! head or checkpoint that does not match, by location.
//!
//! It trusts nothing it reads: the leaf hash column, the frontier, the tile
//! nodes and the checkpoints are all recomputed from the entry bytes.

use std::collections::{BTreeSet, HashMap};

use sealtrail_core::checkpoint::SignedCheckpoint;
use sealtrail_core::frontier::Frontier;
use sealtrail_core::hash::{leaf_hash, Hash};
use sealtrail_core::header::EntryHeader;
use sealtrail_core::note::NoteVerifier;

use crate::{Store, StoreError};

/// One thing that is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `entry 41`, `tile node level 8 index 3`, `head`, `checkpoint 1000`.
    pub location: String,
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
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, location: impl Into<String>, what: impl Into<String>) {
        // Past this many the report is no longer useful to read.
        if self.problems.len() < 10_000 {
            self.problems.push(Problem {
                location: location.into(),
                what: what.into(),
            });
        }
    }
}

const CHUNK: u64 = 4096;

/// Checks the whole store. `verifiers` are the log's keys; with none,
/// checkpoint signatures are not checked (roots and sizes still are).
pub fn check(store: &dyn Store, verifiers: &[&dyn NoteVerifier]) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let head = store.head()?;
    let checkpoints = store.checkpoints()?;
    let wanted: BTreeSet<u64> = checkpoints.iter().map(|c| c.size).collect();
    let mut roots_at: HashMap<u64, Hash> = HashMap::new();
    if wanted.contains(&0) {
        roots_at.insert(0, Hash::EMPTY_ROOT);
    }

    let mut frontier = Frontier::new();
    let mut nodes: HashMap<u8, Vec<Hash>> = HashMap::new();
    let mut prev_leaf: Option<Hash> = None;
    let mut prev_time = 0u64;
    let mut streams: HashMap<String, (u64, u64)> = HashMap::new();
    let mut expected_index = 0u64;
    // Scan past the head too, to find entries that should not be there.
    let scan_end = head.size.saturating_add(CHUNK);
    let mut start = 0u64;
    while start < scan_end {
        let end = start + CHUNK;
        let chunk = store.entries(start, end)?;
        if chunk.is_empty() && start >= head.size {
            break;
        }
        for e in chunk {
            let loc = format!("entry {}", e.index);
            if e.index >= head.size {
                report.problem(
                    &loc,
                    format!("exists beyond the head of the log (size {})", head.size),
                );
                continue;
            }
            while expected_index < e.index {
                report.problem(format!("entry {expected_index}"), "is missing");
                expected_index += 1;
            }
            expected_index = e.index + 1;
            report.entries += 1;

            let computed = leaf_hash(&e.header);
            if computed != e.leaf_hash {
                report.problem(&loc, "stored leaf hash does not match the entry bytes");
            }
            match EntryHeader::parse(&e.header) {
                Err(err) => report.problem(&loc, format!("header unreadable: {err}")),
                Ok(h) => {
                    if h.index != e.index {
                        report.problem(
                            &loc,
                            format!("header says index {} (moved or reordered)", h.index),
                        );
                    }
                    if h.prev != prev_leaf && e.index > 0 {
                        report.problem(&loc, "prev does not match the previous entry's leaf hash (an entry before it was changed, removed or reordered)");
                    }
                    if h.time < prev_time {
                        report.problem(
                            &loc,
                            format!("time {} is before the previous entry's {prev_time}", h.time),
                        );
                    }
                    prev_time = h.time;
                    check_link(
                        &mut report,
                        &loc,
                        &mut streams,
                        crate::agent_stream_key(&h.agent),
                        Some(h.streams.agent),
                        e.index,
                    );
                    if let Some(s) = &h.session {
                        check_link(
                            &mut report,
                            &loc,
                            &mut streams,
                            crate::session_stream_key(s),
                            h.streams.session,
                            e.index,
                        );
                    }
                    match (&e.salt, &e.body) {
                        (Some(salt), Some(body)) => {
                            report.bodies += 1;
                            if let Err(err) = h.verify_body(salt, body) {
                                report.problem(&loc, format!("body: {err}"));
                            }
                        }
                        _ => report.erased += 1,
                    }
                }
            }
            prev_leaf = Some(computed);
            frontier.append_with(computed, |level, index, hash| {
                if level > 0 && level % 8 == 0 {
                    let row = nodes.entry(level).or_default();
                    if row.len() as u64 == index {
                        row.push(*hash);
                    }
                }
            });
            if wanted.contains(&frontier.size()) {
                roots_at.insert(frontier.size(), frontier.root());
            }
        }
        start = end;
    }
    while expected_index < head.size {
        report.problem(format!("entry {expected_index}"), "is missing");
        expected_index += 1;
    }

    for (level, computed) in &nodes {
        let stored = store.nodes(*level, 0, computed.len() as u64)?;
        for (i, c) in computed.iter().enumerate() {
            match stored.get(i) {
                Some(s) if s == c => {}
                Some(_) => report.problem(
                    format!("tile node level {level} index {i}"),
                    "does not match the entries under it",
                ),
                None => report.problem(format!("tile node level {level} index {i}"), "is missing"),
            }
        }
    }

    let root = frontier.root();
    report.root = Some(root);
    if head.root != root {
        report.problem(
            "head",
            format!("stored root {} but the entries give {root}", head.root),
        );
    }
    if head.frontier != frontier.nodes() {
        report.problem("head", "stored frontier does not match the entries");
    }
    if head.last_leaf != prev_leaf {
        report.problem("head", "stored last leaf does not match the last entry");
    }

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
            Err(err) => report.problem(&loc, format!("signature or format: {err}")),
            Ok(c) => {
                if c.size != cp.size {
                    report.problem(&loc, format!("note says size {}", c.size));
                }
                match roots_at.get(&c.size) {
                    Some(r) if *r == c.root => {}
                    Some(_) => report.problem(&loc, "signed root does not match the entries (the log was rewritten after signing)"),
                    None => report.problem(&loc, format!("signed size {} is larger than the log", c.size)),
                }
            }
        }
    }
    Ok(report)
}

fn check_link(
    report: &mut Report,
    loc: &str,
    streams: &mut HashMap<String, (u64, u64)>,
    key: String,
    link: Option<sealtrail_core::header::StreamLink>,
    index: u64,
) {
    let expected = streams.get(&key).copied();
    let Some(link) = link else {
        report.problem(loc, format!("has no stream link for {key}"));
        return;
    };
    let want_n = expected.map_or(1, |(n, _)| n + 1);
    let want_prev = expected.map(|(_, last)| last);
    if link.n != want_n || link.prev != want_prev {
        report.problem(
            loc,
            format!(
                "stream {key} link is n={} prev={:?}, expected n={want_n} prev={want_prev:?} (an entry of this stream is missing or was inserted)",
                link.n, link.prev
            ),
        );
    }
    streams.insert(key, (link.n, index));
}
