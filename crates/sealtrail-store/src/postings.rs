//! Posting lists: the embedded store's query index.
//!
//! For every filterable value (an agent, a session, a kind, a data class, …)
//! each batch writes ONE row holding the indexes of the batch's entries with
//! that value: `(field, value, last) → (first, deltas)`. A batch of 2,048
//! entries thus writes about a row per distinct value instead of a B-tree
//! entry per column per entry (measured: see docs/decisions.md). Each
//! value's rows are in log order (keyed by their last index), so the
//! entries of a value in an index range are a B-tree seek and a sequential
//! read; several filters are intersected by leapfrogging their lists, so a
//! query touches no entry row that does not match.

use std::collections::VecDeque;

use crate::{EntryColumns, EventQuery, StoreError};

/// What a posting list is of. The numbers are stored: never reuse one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Field {
    Agent = 1,
    /// Value: the session's number (index of its first entry), 8 bytes big-endian.
    Session = 2,
    Kind = 3,
    Action = 4,
    Tool = 5,
    Outcome = 6,
    /// The part of a scope verdict before `:`.
    ScopeClass = 7,
    /// The whole scope verdict.
    Scope = 8,
    DataClass = 9,
    /// A subject MAC (32 bytes).
    Subject = 10,
}

/// Most indexes in one row; a larger group is split.
pub const MAX_CHUNK: usize = 4096;

/// One stored row of a posting list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostingRow {
    pub field: Field,
    pub value: Vec<u8>,
    pub first: u64,
    pub last: u64,
    /// LEB128 gaps between consecutive indexes after `first`.
    pub gaps: Vec<u8>,
}

/// The session's number as a posting value: big-endian, so that newer
/// sessions sort after older ones and their rows go at the end of the tree.
pub fn session_value(sid: u64) -> [u8; 8] {
    sid.to_be_bytes()
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The indexes of a row, in order.
pub fn decode(first: u64, gaps: &[u8]) -> Result<Vec<u64>, StoreError> {
    let mut out = vec![first];
    let (mut cur, mut v, mut shift) = (first, 0u64, 0u32);
    for &b in gaps {
        if shift > 63 {
            return Err(StoreError::Corrupt(
                "table postings: a posting list varint is too long".into(),
            ));
        }
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            cur = cur.checked_add(v).ok_or_else(|| {
                StoreError::Corrupt("table postings: a posting list overflows".into())
            })?;
            out.push(cur);
            (v, shift) = (0, 0);
        } else {
            shift += 7;
        }
    }
    if shift != 0 {
        return Err(StoreError::Corrupt(
            "table postings: a posting list ends inside a varint".into(),
        ));
    }
    Ok(out)
}

/// Rows for a sorted list of indexes, split at [`MAX_CHUNK`].
fn rows_of(field: Field, value: &[u8], ids: &[u64], out: &mut Vec<PostingRow>) {
    for chunk in ids.chunks(MAX_CHUNK) {
        let mut gaps = Vec::with_capacity(chunk.len());
        for w in chunk.windows(2) {
            put_varint(&mut gaps, w[1] - w[0]);
        }
        out.push(PostingRow {
            field,
            value: value.to_vec(),
            first: chunk[0],
            last: chunk[chunk.len() - 1],
            gaps,
        });
    }
}

/// One entry as the posting lists see it.
pub struct Source<'a> {
    pub index: u64,
    pub columns: &'a EntryColumns,
    /// The session's number, when it has a session.
    pub sid: Option<u64>,
}

/// The rows a batch of entries (in index order) adds, sorted by key so
/// that inserts walk the tree in order.
pub fn build<'a>(entries: impl IntoIterator<Item = Source<'a>>) -> Vec<PostingRow> {
    let mut lists: crate::FastMap<(Field, &[u8]), Vec<u64>> = crate::FastMap::default();
    let mut sessions: crate::FastMap<u64, Vec<u64>> = crate::FastMap::default();
    for s in entries {
        let c = s.columns;
        let i = s.index;
        let mut add = |f: Field, v: &'a [u8]| lists.entry((f, v)).or_default().push(i);
        add(Field::Agent, c.agent.as_bytes());
        add(Field::Kind, c.kind.as_bytes());
        for (f, v) in [
            (Field::Action, &c.action),
            (Field::Tool, &c.tool),
            (Field::Outcome, &c.outcome),
            (Field::Scope, &c.scope),
        ] {
            if let Some(v) = v {
                add(f, v.as_bytes());
            }
        }
        if let Some(scope) = &c.scope {
            add(
                Field::ScopeClass,
                crate::query::scope_class(scope).as_bytes(),
            );
        }
        for (n, d) in c.data_classes.iter().enumerate() {
            // A tag given twice is posted once.
            if !c.data_classes[..n].contains(d) {
                add(Field::DataClass, d.as_bytes());
            }
        }
        for (n, h) in c.subjects.iter().enumerate() {
            if !c.subjects[..n].contains(h) {
                add(Field::Subject, &h.0[..]);
            }
        }
        if let Some(sid) = s.sid {
            sessions.entry(sid).or_default().push(i);
        }
    }
    let mut out = Vec::with_capacity(lists.len() + sessions.len());
    let mut keyed: Vec<_> = lists.into_iter().collect();
    keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for ((f, v), ids) in keyed {
        rows_of(f, v, &ids, &mut out);
    }
    let mut sessions: Vec<_> = sessions.into_iter().collect();
    sessions.sort_unstable();
    for (sid, ids) in sessions {
        rows_of(Field::Session, &session_value(sid), &ids, &mut out);
    }
    out
}

/// The lists a query intersects, the usually sparsest first (leapfrogging
/// starts from it). `sid` is the number of the query's session.
pub fn filters_of(q: &EventQuery, sid: Option<u64>) -> Vec<(Field, Vec<u8>)> {
    let text = |f: Field, v: &Option<String>| v.as_ref().map(|v| (f, v.as_bytes().to_vec()));
    let q = &q.filter;
    let scope = q.scope.as_ref().map(|s| {
        if s.contains(':') {
            (Field::Scope, s.as_bytes().to_vec())
        } else {
            (Field::ScopeClass, s.as_bytes().to_vec())
        }
    });
    [
        q.subject.map(|h| (Field::Subject, h.0.to_vec())),
        sid.map(|s| (Field::Session, session_value(s).to_vec())),
        text(Field::Agent, &q.agent),
        text(Field::Tool, &q.tool),
        text(Field::Action, &q.action),
        text(Field::DataClass, &q.data_class),
        scope,
        text(Field::Kind, &q.kind),
        text(Field::Outcome, &q.outcome),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A stored row as read back: `(first, last, gaps)`.
pub type Chunk = (u64, u64, Vec<u8>);

/// Reads the rows of one list whose last index is at least `from`, in
/// order, at most `n` of them.
pub trait ChunkSource {
    fn chunks(
        &mut self,
        field: Field,
        value: &[u8],
        from: u64,
        n: usize,
    ) -> Result<Vec<Chunk>, StoreError>;
}

/// Rows fetched per read of a list.
const FETCH: usize = 16;

/// One filter's list, read lazily forward.
struct Stream {
    field: Field,
    value: Vec<u8>,
    buffered: VecDeque<Chunk>,
    /// The front chunk decoded, and the position in it.
    decoded: Option<(Vec<u64>, usize)>,
    /// No rows after the buffered ones.
    done: bool,
}

impl Stream {
    /// The smallest index ≥ `target` in the list, if any.
    fn seek(
        &mut self,
        src: &mut impl ChunkSource,
        target: u64,
        fetched: &mut usize,
    ) -> Result<Option<u64>, StoreError> {
        loop {
            while self.buffered.front().is_some_and(|c| c.1 < target) {
                self.buffered.pop_front();
                self.decoded = None;
            }
            if self.buffered.is_empty() {
                if self.done {
                    return Ok(None);
                }
                // A B-tree seek straight to the first row that can hold `target`.
                let rows = src.chunks(self.field, &self.value, target, FETCH)?;
                *fetched += rows.len();
                self.done = rows.len() < FETCH;
                self.buffered.extend(rows);
                self.decoded = None;
                continue;
            }
            let front = &self.buffered[0];
            let (ids, pos) = match &mut self.decoded {
                Some(d) => d,
                None => self.decoded.insert((decode(front.0, &front.2)?, 0)),
            };
            *pos += ids[*pos..].partition_point(|&i| i < target);
            if let Some(&i) = ids.get(*pos) {
                return Ok(Some(i));
            }
            // Cannot happen (the chunk's last is ≥ target), but move on safely.
            self.buffered.pop_front();
            self.decoded = None;
        }
    }
}

/// The result of intersecting lists over an index range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matches {
    pub indexes: Vec<u64>,
    /// Set when more may match after the last index examined.
    pub next_cursor: Option<u64>,
}

/// The first `limit` indexes in `[lo, hi)` found in every list of
/// `filters`, by leapfrogging: each list seeks to the largest index any
/// other is at, until they agree. Stops early, with a cursor, once `budget`
/// rows were read.
pub fn intersect(
    src: &mut impl ChunkSource,
    filters: &[(Field, Vec<u8>)],
    (lo, hi): (u64, u64),
    limit: usize,
    budget: usize,
) -> Result<Matches, StoreError> {
    let mut streams: Vec<Stream> = filters
        .iter()
        .map(|(f, v)| Stream {
            field: *f,
            value: v.clone(),
            buffered: VecDeque::new(),
            decoded: None,
            done: false,
        })
        .collect();
    let mut indexes = Vec::new();
    let mut fetched = 0usize;
    let mut target = lo;
    'outer: while target < hi {
        if fetched >= budget && target > lo {
            // Everything below `target` was looked at.
            return Ok(Matches {
                indexes,
                next_cursor: Some(target - 1),
            });
        }
        let mut agreed = true;
        for s in &mut streams {
            match s.seek(src, target, &mut fetched)? {
                None => break 'outer,
                Some(i) if i >= hi => break 'outer,
                Some(i) if i > target => {
                    target = i;
                    agreed = false;
                    break;
                }
                Some(_) => {}
            }
        }
        if agreed {
            indexes.push(target);
            if indexes.len() == limit {
                return Ok(Matches {
                    indexes,
                    next_cursor: Some(target),
                });
            }
            target += 1;
        }
    }
    Ok(Matches {
        indexes,
        next_cursor: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lists in memory, chunked like a store would hold them.
    struct Mem(Vec<PostingRow>);

    impl ChunkSource for Mem {
        fn chunks(
            &mut self,
            field: Field,
            value: &[u8],
            from: u64,
            n: usize,
        ) -> Result<Vec<Chunk>, StoreError> {
            Ok(self
                .0
                .iter()
                .filter(|r| r.field == field && r.value == value && r.last >= from)
                .take(n)
                .map(|r| (r.first, r.last, r.gaps.clone()))
                .collect())
        }
    }

    fn cols(agent: &str, kind: &str, classes: &[&str]) -> EntryColumns {
        EntryColumns {
            agent: agent.into(),
            kind: kind.into(),
            data_classes: classes.iter().map(|c| c.to_string()).collect(),
            ..EntryColumns::default()
        }
    }

    #[test]
    fn varints_round_trip() {
        let ids = [5u64, 6, 200, 201, 70_000, 1 << 40, (1 << 40) + 1];
        let mut out = Vec::new();
        rows_of(Field::Agent, b"a", &ids, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(decode(out[0].first, &out[0].gaps).unwrap(), ids);
        assert!(decode(1, &[0x80]).is_err());
        assert!(decode(1, &[0xff; 11]).is_err());
    }

    #[test]
    fn large_groups_split() {
        let ids: Vec<u64> = (0..10_000).map(|i| i * 3).collect();
        let mut out = Vec::new();
        rows_of(Field::Kind, b"k", &ids, &mut out);
        assert_eq!(out.len(), 3);
        let back: Vec<u64> = out
            .iter()
            .flat_map(|r| decode(r.first, &r.gaps).unwrap())
            .collect();
        assert_eq!(back, ids);
    }

    /// 100 batches of 10 entries; agent i % 3, kind i % 4, pii on i % 5 == 0.
    fn store() -> (Mem, Vec<EntryColumns>) {
        let all: Vec<EntryColumns> = (0..1000u64)
            .map(|i| {
                cols(
                    &format!("a{}", i % 3),
                    &format!("k{}", i % 4),
                    if i % 5 == 0 { &["pii", "pii"] } else { &[] },
                )
            })
            .collect();
        let mut rows = Vec::new();
        for b in 0..100u64 {
            rows.extend(build((b * 10..(b + 1) * 10).map(|i| Source {
                index: i,
                columns: &all[i as usize],
                sid: Some(i / 7 * 7),
            })));
        }
        // The store keeps rows in key order.
        rows.sort_by(|x, y| (x.field, &x.value, x.last).cmp(&(y.field, &y.value, y.last)));
        (Mem(rows), all)
    }

    #[test]
    fn intersections_find_exactly_the_matches() {
        let (mut mem, _) = store();
        let f = |field, v: &str| (field, v.as_bytes().to_vec());
        let want = |p: &dyn Fn(u64) -> bool, lo: u64, hi: u64| -> Vec<u64> {
            (lo..hi).filter(|&i| p(i)).collect()
        };
        let q = [f(Field::Agent, "a1"), f(Field::Kind, "k2")];
        let got = intersect(&mut mem, &q, (0, 1000), 1000, usize::MAX).unwrap();
        assert_eq!(got.indexes, want(&|i| i % 3 == 1 && i % 4 == 2, 0, 1000));
        assert_eq!(got.next_cursor, None);
        let q = [f(Field::DataClass, "pii"), f(Field::Agent, "a0")];
        let got = intersect(&mut mem, &q, (123, 877), 1000, usize::MAX).unwrap();
        assert_eq!(got.indexes, want(&|i| i % 5 == 0 && i % 3 == 0, 123, 877));
        let q = [(Field::Session, session_value(350).to_vec())];
        let got = intersect(&mut mem, &q, (0, 1000), 1000, usize::MAX).unwrap();
        assert_eq!(got.indexes, (350..357).collect::<Vec<_>>());
        // Pages: limit, then continue after the cursor.
        let q = [f(Field::Kind, "k1")];
        let page = intersect(&mut mem, &q, (0, 1000), 10, usize::MAX).unwrap();
        assert_eq!(page.indexes.len(), 10);
        assert_eq!(page.next_cursor, Some(37));
        let next = intersect(&mut mem, &q, (38, 1000), 10, usize::MAX).unwrap();
        assert_eq!(next.indexes[0], 41);
        // Nothing: an unknown value, an empty intersection, an empty range.
        for q in [
            vec![f(Field::Agent, "zz")],
            vec![f(Field::Kind, "k1"), f(Field::Kind, "k2")],
        ] {
            let got = intersect(&mut mem, &q, (0, 1000), 10, usize::MAX).unwrap();
            assert_eq!((got.indexes.len(), got.next_cursor), (0, None));
        }
        let got = intersect(&mut mem, &[f(Field::Kind, "k1")], (5, 5), 10, 9).unwrap();
        assert_eq!((got.indexes.len(), got.next_cursor), (0, None));
    }

    #[test]
    fn a_small_budget_pages_through_everything() {
        let (mut mem, _) = store();
        let q = [(Field::Kind, b"k1".to_vec()), (Field::Kind, b"k3".to_vec())];
        // No matches at all: pages come back empty, with cursors, until the end.
        let mut lo = 0;
        let mut pages = 0;
        loop {
            let got = intersect(&mut mem, &q, (lo, 1000), 10, 1).unwrap();
            assert!(got.indexes.is_empty());
            pages += 1;
            match got.next_cursor {
                Some(c) => {
                    assert!(c >= lo, "progress");
                    lo = c + 1;
                }
                None => break,
            }
        }
        assert!(pages > 1);
        let q = [(Field::Agent, b"a2".to_vec())];
        let mut all: Vec<u64> = Vec::new();
        let mut lo = 0;
        loop {
            let got = intersect(&mut mem, &q, (lo, 1000), 1000, 1).unwrap();
            all.extend(&got.indexes);
            match got.next_cursor {
                Some(c) => lo = c + 1,
                None => break,
            }
        }
        assert_eq!(all, (0..1000).filter(|i| i % 3 == 2).collect::<Vec<_>>());
    }
}
