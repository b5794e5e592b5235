//! Writing a bundle (format version 2, docs/formats.md §10) as a ZIP file
//! (feature `zip`), as the entries arrive: the small members first, then
//! the entries members, then the manifest, whose counts are known only at
//! the end. Nothing is held but the current line, so a writer over a
//! non-seekable stream (`ZipWriter::new_stream`) sends a bundle of any size
//! in constant memory.

use std::io::{Seek, Write};

use zip::result::ZipError;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::manifest::{Completeness, Manifest, TreeRef};
use super::write::{ChunkSink, EntriesWriter, WriteError, Written};
use super::{readme, CompletenessFile, Counts, Role, BUNDLE_VERSION, CHECKPOINT, COMPLETENESS};
use super::{FORMAT, KEYS, MANIFEST, README};
use crate::checkpoint::Checkpoint;
use crate::filter::EventFilter;
use crate::header::SALT_LEN;
use crate::proof::NodeSource;

/// Deflate level of the entries members: level 1 compresses entry lines
/// about as well as the default level at several times its speed
/// (docs/benchmarks.md, issue 16), and export speed is what a user waits on.
const ENTRIES_LEVEL: i64 = 1;

/// What a bundle answers: everything the manifest says besides the counts.
#[derive(Debug, Clone)]
pub struct BundleHead<'a> {
    /// The signed checkpoint, verbatim, and what it says.
    pub note: &'a [u8],
    pub checkpoint: &'a Checkpoint,
    /// The log's verifier key(s), one per line.
    pub vkey: &'a str,
    pub query: &'a EventFilter,
    pub with_bodies: bool,
    /// `completeness.json`, when the query claims a stream.
    pub completeness: Option<&'a CompletenessFile>,
    /// `sealtrail 0.1.0`.
    pub software: String,
    /// µs since the epoch.
    pub created: u64,
}

struct ZipSink<'z, W: Write + Seek> {
    zip: &'z mut ZipWriter<W>,
}

impl<W: Write + Seek> ChunkSink for ZipSink<'_, W> {
    type Error = ZipError;

    fn start(&mut self, name: &str) -> Result<(), ZipError> {
        let opts = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(ENTRIES_LEVEL));
        self.zip.start_file(name, opts)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ZipError> {
        Ok(self.zip.write_all(bytes)?)
    }
}

/// A bundle being written.
pub struct BundleWriter<'a, W: Write + Seek> {
    zip: ZipWriter<W>,
    head: BundleHead<'a>,
    entries: EntriesWriter,
}

fn small(zip: &mut ZipWriter<impl Write + Seek>, name: &str, bytes: &[u8]) -> Result<(), ZipError> {
    let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    zip.start_file(name, opts)?;
    Ok(zip.write_all(bytes)?)
}

impl<'a, W: Write + Seek> BundleWriter<'a, W> {
    /// Writes the checkpoint, the key and the completeness file.
    pub fn new(mut zip: ZipWriter<W>, head: BundleHead<'a>) -> Result<Self, ZipError> {
        small(&mut zip, CHECKPOINT, head.note)?;
        small(&mut zip, KEYS, format!("{}\n", head.vkey.trim()).as_bytes())?;
        if let Some(c) = head.completeness {
            small(&mut zip, COMPLETENESS, &c.to_bytes())?;
        }
        let entries = EntriesWriter::new(head.checkpoint.size, head.with_bodies);
        Ok(BundleWriter { zip, head, entries })
    }

    /// The counts so far (for progress).
    pub fn counts(&self) -> Counts {
        self.entries.counts()
    }

    /// Writes the next entry, in index order; `nodes` is the log's tree
    /// (the gap hashes before the entry are read from it).
    pub fn push<N: NodeSource>(
        &mut self,
        nodes: &N,
        index: u64,
        role: Role,
        header: &[u8],
        body: Option<(&[u8; SALT_LEN], &[u8])>,
    ) -> Result<(), WriteError<ZipError, N::Error>> {
        let mut sink = ZipSink { zip: &mut self.zip };
        self.entries
            .push(&mut sink, nodes, index, role, header, body)
    }

    /// Starts entries member `name`, for lines formatted elsewhere: an
    /// [`EntriesWriter`] on another thread whose [`ChunkSink`] hands its
    /// members and bytes over, so that this side only compresses.
    pub fn start_entries(&mut self, name: &str) -> Result<(), ZipError> {
        ZipSink { zip: &mut self.zip }.start(name)
    }

    /// Writes formatted entry lines into the member [`Self::start_entries`]
    /// started.
    pub fn write_entries(&mut self, lines: &[u8]) -> Result<(), ZipError> {
        ZipSink { zip: &mut self.zip }.write(lines)
    }

    /// Writes the gap hashes after the last entry, the manifest and the
    /// README, and finishes the ZIP; the manifest and the writer.
    pub fn finish<N: NodeSource>(
        mut self,
        nodes: &N,
    ) -> Result<(Manifest, W), WriteError<ZipError, N::Error>> {
        let written =
            std::mem::replace(&mut self.entries, EntriesWriter::new(0, false)).finish(nodes)?;
        self.finish_written(written).map_err(WriteError::Sink)
    }

    /// [`Self::finish`] for entries written elsewhere: `written` is what
    /// their [`EntriesWriter::finish`] returned.
    pub fn finish_written(self, written: Written) -> Result<(Manifest, W), ZipError> {
        let h = &self.head;
        let cp = h.checkpoint;
        let manifest = Manifest {
            format: FORMAT.into(),
            v: BUNDLE_VERSION,
            software: h.software.clone(),
            created: h.created,
            origin: cp.origin.clone(),
            checkpoint: TreeRef {
                size: cp.size,
                root: cp.root,
            },
            query: h.query.clone(),
            with_bodies: h.with_bodies,
            counts: written.counts,
            first_index: written.first_index,
            last_index: written.last_index,
            completeness: Completeness::for_query(h.query, cp.size, written.counts.matches),
            chunks: Some(written.chunks),
            gaps_after: Some(written.gaps_after),
        };
        let mut zip = self.zip;
        small(&mut zip, MANIFEST, &manifest.to_bytes())?;
        small(&mut zip, README, readme(&manifest, h.vkey).as_bytes())?;
        let out = zip.finish()?;
        Ok((manifest, out))
    }
}
