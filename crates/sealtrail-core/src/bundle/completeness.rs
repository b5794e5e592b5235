//! Completeness (docs/formats.md §9.3 step 5): `completeness.json`, and the
//! checks that no entry of a stream, or of a time range, was left out.

use serde::{Deserialize, Serialize};

use super::manifest::StreamField;
use super::verify::Problem;
use super::Role;
use crate::filter::EventFilter;
use crate::hash::Hash;
use crate::header::StreamLink;
use crate::heads::{HeadRecord, HeadsProof, StreamHead};

/// `completeness.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletenessFile {
    pub stream: String,
    pub heads_proof: HeadsProofJson,
}

/// A heads proof (§8) in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadsProofJson {
    pub bucket: usize,
    pub records: Vec<HeadsRecordJson>,
    /// Base64 sibling hashes, leaf sibling first.
    pub path: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadsRecordJson {
    /// Hex key hash.
    pub key: Hash,
    pub n: u64,
    pub last: u64,
}

impl CompletenessFile {
    pub fn new(stream: String, proof: &HeadsProof) -> Self {
        CompletenessFile {
            stream,
            heads_proof: HeadsProofJson {
                bucket: proof.bucket,
                records: proof
                    .records
                    .iter()
                    .map(|r| HeadsRecordJson {
                        key: r.key,
                        n: r.head.n,
                        last: r.head.last,
                    })
                    .collect(),
                path: proof.path.iter().map(Hash::to_base64).collect(),
            },
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }

    /// Pretty JSON with a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Plain data: serialising to a Vec cannot fail.
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// The heads proof, with its path decoded.
    pub fn heads_proof(&self) -> Result<HeadsProof, String> {
        let path = self
            .heads_proof
            .path
            .iter()
            .map(|p| Hash::from_base64(p).map_err(|e| format!("heads proof path: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(HeadsProof {
            bucket: self.heads_proof.bucket,
            records: self
                .heads_proof
                .records
                .iter()
                .map(|r| HeadRecord {
                    key: r.key,
                    head: StreamHead {
                        n: r.n,
                        last: r.last,
                    },
                })
                .collect(),
            path,
        })
    }
}

/// What completeness needs of one entry.
#[derive(Debug, Clone, Copy)]
pub(super) struct Item {
    pub index: u64,
    pub role: Role,
    pub time: u64,
    /// The entry's id in the claimed stream's field (agent or session) is the stream's.
    pub in_stream: bool,
    pub link: Option<StreamLink>,
}

/// A failure found by a completeness check.
pub(super) type Found = (Option<u64>, &'static str, Problem);

fn found(out: &mut Vec<Found>, entry: Option<u64>, reason: String) {
    out.push((entry, super::ENTRIES, Problem::Completeness(reason)));
}

/// Stream completeness, checked as the entries stream by in index order:
/// only the previous entry of the chain is kept.
pub(super) struct StreamChain {
    key: String,
    field: StreamField,
    from: Option<u64>,
    to: Option<u64>,
    /// The chain's last entry so far.
    last: Option<Item>,
}

impl StreamChain {
    pub fn new(key: String, field: StreamField, query: &EventFilter) -> Self {
        StreamChain {
            key,
            field,
            from: query.from,
            to: query.to,
            last: None,
        }
    }

    /// The next entry of the chain (indexes increase).
    pub fn push(&mut self, it: Item, query: &EventFilter, out: &mut Vec<Found>) {
        let key = &self.key;
        let field = self.field.name();
        if !it.in_stream {
            found(out, Some(it.index), format!("{key}: entry {} is in the completeness chain but its {field} is not the stream's", it.index));
        }
        if it.link.is_none() {
            found(
                out,
                Some(it.index),
                format!("{key}: entry {} has no {field} stream link", it.index),
            );
        }
        if let Some(x) = self.last.filter(|x| x.role == Role::After) {
            found(
                out,
                Some(x.index),
                format!(
                    "{key}: entry {} is marked \"after\" but is not the last entry of the chain",
                    x.index
                ),
            );
        }
        match it.role {
            Role::Before => {
                if self.last.is_some() {
                    found(out, Some(it.index), format!("{key}: entry {} is marked \"before\" but is not the first entry of the chain", it.index));
                }
                match self.from {
                    Some(from) if it.time < from => {}
                    Some(from) => found(out, Some(it.index), format!("{key}: entry {} is marked \"before\" but its time {} is not before the range start {from}", it.index, it.time)),
                    None => found(out, Some(it.index), format!("{key}: entry {} is marked \"before\" but the range has no start", it.index)),
                }
            }
            Role::After => match self.to {
                Some(to) if it.time >= to => {}
                Some(to) => found(out, Some(it.index), format!("{key}: entry {} is marked \"after\" but its time {} is before the range end {to}", it.index, it.time)),
                None => found(out, Some(it.index), format!("{key}: entry {} is marked \"after\" but the range has no end", it.index)),
            },
            Role::Match | Role::Stream => {
                if let Err(e) = query.time_check(it.time) {
                    found(out, Some(it.index), format!("{key}: entry {} is in the range's chain but {e}", it.index));
                }
            }
        }
        // The link to the chain's previous entry.
        if let Some(link) = it.link {
            match (self.last, link.prev) {
                // The entry before the range may link further back: the
                // range starts after it.
                (None, _) if it.role == Role::Before => {}
                (None, None) if link.n == 1 => {}
                (None, None) => found(out, Some(it.index), format!("{key}: entry {} is the first of the chain and has no previous entry, but counts {} entries in the stream", it.index, link.n)),
                (None, Some(p)) => found(out, Some(p), format!("{key}: entry {} links to previous entry {p}, which is not in the bundle (an entry was left out)", it.index)),
                (Some(x), None) => found(out, Some(it.index), format!("{key}: entry {} says it is the stream's first entry, but entry {} of the stream comes before it", it.index, x.index)),
                (Some(x), Some(p)) if p == x.index => {
                    if let Some(xl) = x.link {
                        if link.n != xl.n + 1 {
                            found(out, Some(it.index), format!("{key}: entry {} counts {} entries in the stream, but follows entry {} which counts {}", it.index, link.n, x.index, xl.n));
                        }
                    }
                }
                (Some(x), Some(p)) if p > x.index => found(out, Some(p), format!("{key}: entry {} links to previous entry {p}, which is not in the bundle (an entry was left out)", it.index)),
                (Some(x), Some(p)) => found(out, Some(x.index), format!("{key}: entry {} links to previous entry {p}, so entry {} does not belong between them", it.index, x.index)),
            }
        }
        self.last = Some(it);
    }

    /// After the last entry: `head` is the stream's head from a verified
    /// heads proof, when there was one (`Some(None)`: the proof shows the
    /// stream had no entry).
    pub fn finish(self, head: Option<Option<StreamHead>>, out: &mut Vec<Found>) {
        let key = &self.key;
        let last = self.last;
        if last.map(|l| l.role) == Some(Role::After) {
            return;
        }
        // No entry after the range: the stream's head in the checkpoint must
        // be the chain's last entry (or absent, with an empty chain).
        let Some(head) = head else {
            found(out, last.map(|l| l.index), format!("{key}: the bundle has no entry of the stream after the range and no verified stream-heads proof, so entries after the last one shown could have been left out"));
            return;
        };
        match (last, head) {
            (None, None) => {}
            (None, Some(h)) => found(out, Some(h.last), format!("{key}: the checkpoint's stream head is entry {} (the stream has {} entries), but the bundle shows no entry of the stream", h.last, h.n)),
            (Some(l), None) => found(out, Some(l.index), format!("{key}: the checkpoint's stream-heads proof shows no entry of the stream, but the bundle has entry {}", l.index)),
            (Some(l), Some(h)) => {
                let n = l.link.map_or(0, |k| k.n);
                if h.last != l.index || h.n != n {
                    let entry = if h.last > l.index { h.last } else { l.index };
                    found(out, Some(entry), format!("{key}: the checkpoint's stream head is entry {} ({} entries), but the bundle's last entry of the stream is entry {} ({n} entries): entries after it were left out", h.last, h.n, l.index));
                }
            }
        }
    }
}

/// Range completeness, checked as the entries stream by in index order.
#[derive(Default)]
pub(super) struct RangeChain {
    before: Option<Item>,
    after: Option<Item>,
    first_match: Option<u64>,
    last_match: Option<u64>,
}

impl RangeChain {
    pub fn push(&mut self, it: Item, out: &mut Vec<Found>) {
        match it.role {
            Role::Match => {
                if let Some(a) = self.last_match {
                    let b = it.index;
                    if b > a + 1 {
                        let what = if b == a + 2 {
                            format!("entry {} is missing", a + 1)
                        } else {
                            format!("entries {} to {} are missing", a + 1, b - 1)
                        };
                        found(out, Some(a + 1), format!("time range: {what} (the range's entries must be consecutive; an entry was left out)"));
                    }
                }
                self.first_match.get_or_insert(it.index);
                self.last_match = Some(it.index);
            }
            Role::Before if self.before.is_none() => self.before = Some(it),
            Role::After if self.after.is_none() => self.after = Some(it),
            role => found(out, Some(it.index), format!("time range: entry {} has role {:?}, which a time-range bundle cannot have (or has twice)", it.index, role.as_str())),
        }
    }

    /// After the last entry, in a tree of `size`.
    pub fn finish(self, query: &EventFilter, size: u64, out: &mut Vec<Found>) {
        let (before, after) = (self.before, self.after);
        // Where the range starts and ends.
        let (start, end) = match (self.first_match, self.last_match) {
            (Some(f), Some(l)) => (f, l + 1),
            _ => match (before, after) {
                (_, Some(a)) => (a.index, a.index),
                (Some(b), None) => (b.index + 1, b.index + 1),
                (None, None) => (size, size),
            },
        };
        if start > 0 {
            match before {
                Some(b) if b.index + 1 == start => match query.from {
                    Some(from) if b.time < from => {}
                    _ => found(out, Some(b.index), format!("time range: entry {} before the range has time {}, which is not before the range start", b.index, b.time)),
                },
                Some(b) => found(out, Some(start - 1), format!("time range: the entry before the range should be entry {}, the bundle has entry {}", start - 1, b.index)),
                None => found(out, Some(start - 1), format!("time range: entry {} (just before the first entry shown) is not in the bundle, so earlier entries of the range could have been left out", start - 1)),
            }
        }
        if end < size {
            match after {
                Some(a) if a.index == end => match query.to {
                    Some(to) if a.time >= to => {}
                    _ => found(out, Some(a.index), format!("time range: entry {} after the range has time {}, which is not at or after the range end", a.index, a.time)),
                },
                Some(a) => found(out, Some(end), format!("time range: the entry after the range should be entry {end}, the bundle has entry {}", a.index)),
                None => found(out, Some(end), format!("time range: entry {end} (just after the last entry shown) is not in the bundle, so later entries of the range could have been left out")),
            }
        } else if let Some(a) = after {
            if a.index != end {
                found(
                    out,
                    Some(a.index),
                    format!(
                        "time range: entry {} is marked \"after\" but is not next to the range",
                        a.index
                    ),
                );
            }
        }
    }
}
