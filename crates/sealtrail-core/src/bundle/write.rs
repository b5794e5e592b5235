//! Writing version 2's entries (docs/formats.md §10): each line with the gap
//! hashes that come before it, split into `entries/<k>.jsonl` members of
//! about [`CHUNK_BYTES`]. It streams: it keeps only the last index written,
//! so a writer's memory does not grow with the bundle.

use super::gaps::{gaps_between, Span};
use super::line::{write_entry_line, LineError};
use super::manifest::Counts;
use super::{chunk_member, Role};
use crate::hash::Hash;
use crate::header::SALT_LEN;
use crate::proof::{subtree_root, NodeSource, ProveError};

/// A writer starts a new entries member once the current one holds this
/// much (§10: readers accept up to [`MAX_CHUNK_BYTES`]).
pub const CHUNK_BYTES: usize = 8 << 20;
/// The largest entries member a reader accepts, decompressed.
pub const MAX_CHUNK_BYTES: u64 = 64 << 20;
/// The largest other member a reader accepts, decompressed.
pub const MAX_MEMBER_BYTES: u64 = 16 << 20;

/// Where the members go: a ZIP writer, or a map in tests.
pub trait ChunkSink {
    type Error;
    /// Starts member `name`; what is written next goes there.
    fn start(&mut self, name: &str) -> Result<(), Self::Error>;
    fn write(&mut self, bytes: &[u8]) -> Result<(), Self::Error>;
}

/// Members written into a map (tests, the synthetic log): the member being
/// written is remembered, since names do not sort in writing order
/// (`entries/10.jsonl` before `entries/9.jsonl`).
pub struct MapSink<'m> {
    pub members: &'m mut std::collections::BTreeMap<String, Vec<u8>>,
    current: Option<String>,
}

impl<'m> MapSink<'m> {
    pub fn new(members: &'m mut std::collections::BTreeMap<String, Vec<u8>>) -> Self {
        MapSink {
            members,
            current: None,
        }
    }
}

impl ChunkSink for MapSink<'_> {
    type Error = std::convert::Infallible;

    fn start(&mut self, name: &str) -> Result<(), Self::Error> {
        self.members.insert(name.to_owned(), Vec::new());
        self.current = Some(name.to_owned());
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Self::Error> {
        // `start` always comes first; a write without one has nowhere to go.
        if let Some(m) = self.current.as_ref().and_then(|c| self.members.get_mut(c)) {
            m.extend_from_slice(bytes);
        }
        Ok(())
    }
}

/// Why an entry could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError<S, N> {
    #[error("entry {index}: {source}")]
    Line { index: u64, source: LineError },
    #[error("entry {index} does not come after entry {last}: entries are written in index order")]
    Order { index: u64, last: u64 },
    #[error("entry {index} is not in the tree of size {size}")]
    OutOfTree { index: u64, size: u64 },
    #[error("the hash of leaves [{lo}, {hi}): {source}")]
    Node {
        lo: u64,
        hi: u64,
        source: ProveError<N>,
    },
    #[error("writing the bundle: {0}")]
    Sink(S),
}

/// What the manifest says of the entries once they are all written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub counts: Counts,
    pub first_index: Option<u64>,
    pub last_index: Option<u64>,
    pub chunks: u64,
    /// Base64, for the manifest's `gaps_after`.
    pub gaps_after: Vec<String>,
}

/// Writes entries in index order into `entries/<k>.jsonl` members.
pub struct EntriesWriter {
    size: u64,
    with_bodies: bool,
    last: Option<u64>,
    chunk_bytes: usize,
    written: Written,
    spans: Vec<Span>,
    gaps: Vec<Hash>,
    line: Vec<u8>,
}

impl EntriesWriter {
    /// For a tree of `size` leaves; bodies are written only for matches,
    /// and only when `with_bodies`.
    pub fn new(size: u64, with_bodies: bool) -> Self {
        EntriesWriter {
            size,
            with_bodies,
            last: None,
            chunk_bytes: 0,
            written: Written::default(),
            spans: Vec::new(),
            gaps: Vec::new(),
            line: Vec::new(),
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        self.written.counts
    }

    fn gap_hashes<N: NodeSource, E>(
        &mut self,
        next: Option<u64>,
        nodes: &N,
    ) -> Result<(), WriteError<E, N::Error>> {
        self.spans.clear();
        self.gaps.clear();
        gaps_between(self.last, next, self.size, &mut self.spans);
        for s in &self.spans {
            let h = subtree_root(nodes, s.lo, s.hi).map_err(|source| WriteError::Node {
                lo: s.lo,
                hi: s.hi,
                source,
            })?;
            self.gaps.push(h);
        }
        Ok(())
    }

    /// Writes the next entry (its index above the last one's) with the gap
    /// hashes before it, read from `nodes` (the log's tree).
    pub fn push<S: ChunkSink, N: NodeSource>(
        &mut self,
        sink: &mut S,
        nodes: &N,
        index: u64,
        role: Role,
        header: &[u8],
        body: Option<(&[u8; SALT_LEN], &[u8])>,
    ) -> Result<(), WriteError<S::Error, N::Error>> {
        if let Some(last) = self.last.filter(|&l| index <= l) {
            return Err(WriteError::Order { index, last });
        }
        if index >= self.size {
            return Err(WriteError::OutOfTree {
                index,
                size: self.size,
            });
        }
        self.gap_hashes(Some(index), nodes)?;
        let body = body.filter(|_| role == Role::Match && self.with_bodies);
        self.line.clear();
        write_entry_line(&mut self.line, index, role, &self.gaps, header, body)
            .map_err(|source| WriteError::Line { index, source })?;
        if self.written.chunks == 0 || self.chunk_bytes >= CHUNK_BYTES {
            sink.start(&chunk_member(self.written.chunks))
                .map_err(WriteError::Sink)?;
            self.written.chunks += 1;
            self.chunk_bytes = 0;
        }
        sink.write(&self.line).map_err(WriteError::Sink)?;
        self.chunk_bytes += self.line.len();
        self.last = Some(index);
        let w = &mut self.written;
        w.counts.entries += 1;
        w.counts.bodies += u64::from(body.is_some());
        if role == Role::Match {
            w.counts.matches += 1;
            w.counts.erased += u64::from(self.with_bodies && body.is_none());
            w.first_index.get_or_insert(index);
            w.last_index = Some(index);
        }
        Ok(())
    }

    /// The gap hashes after the last entry; what the manifest needs.
    pub fn finish<S, N: NodeSource>(
        mut self,
        nodes: &N,
    ) -> Result<Written, WriteError<S, N::Error>> {
        self.gap_hashes(None, nodes)?;
        self.written.gaps_after = self.gaps.iter().map(Hash::to_base64).collect();
        Ok(self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names that sort differently from the writing order each keep their
    /// own bytes (`entries/10.jsonl` sorts before `entries/9.jsonl`).
    #[test]
    fn a_map_sink_writes_to_the_member_it_started() {
        let mut members = std::collections::BTreeMap::new();
        let mut sink = MapSink::new(&mut members);
        for k in 0..12u64 {
            sink.start(&chunk_member(k)).unwrap();
            sink.write(format!("{k}\n").as_bytes()).unwrap();
        }
        for k in 0..12u64 {
            assert_eq!(members[&chunk_member(k)], format!("{k}\n").into_bytes());
        }
    }
}
