//! Append-only segments: the entry headers and the event bodies (with their
//! salts) live beside the SQLite database, not inside its B-tree. They are
//! most of the bytes, and SQLite's WAL writes everything twice; keeping them
//! out is what makes ingest fast (DESIGN §4; measured in docs/benchmarks.md).
//!
//! A record is `header ‖ salt (32 bytes) ‖ body`; its location `(segment,
//! offset, header length, body length)` is stored in the entry's row. Erasing
//! a body zeroes `salt ‖ body` in place; the header stays. Records are written and
//! fsync'd before the batch's database transaction commits, and the committed
//! end of the active segment is part of that transaction, so bytes past it
//! after a crash belong to an unacknowledged batch and are cut off on open.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::StoreError;

/// A segment is closed once it passes this size.
pub const SEGMENT_LIMIT: u64 = 1 << 30;
pub const SALT_LEN: usize = 32;

/// Where one record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLocation {
    pub segment: u32,
    pub offset: u64,
    pub header_len: u32,
    /// `None` once the body is erased.
    pub body_len: Option<u32>,
}

/// An append laid out but not yet written.
#[derive(Debug)]
pub struct PendingAppend {
    start: u64,
    end: u64,
    pub locations: Vec<RecordLocation>,
}

impl PendingAppend {
    /// The segment's length once these records are written.
    pub fn end(&self) -> u64 {
        self.end
    }
}

/// One record to append.
pub struct Record<'a> {
    pub header: &'a [u8],
    pub salt: &'a [u8; SALT_LEN],
    pub body: &'a [u8],
}

/// The file name of a segment: `00000000.seg`.
pub fn segment_name(segment: u32) -> String {
    format!("{segment:08}.seg")
}

fn segment_path(dir: &Path, segment: u32) -> PathBuf {
    dir.join(segment_name(segment))
}

/// Why a record cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("segment file {file} is missing")]
    NoSegment { file: String },
    #[error("segment file {file} cannot be opened: {message}")]
    Open { file: String, message: String },
    /// The segment ends before the record starts.
    #[error(
        "record is missing: {file} ends at byte {file_len}, the record was bytes {offset}..{end}"
    )]
    Missing {
        file: String,
        file_len: u64,
        offset: u64,
        end: u64,
    },
    /// The segment ends inside the record.
    #[error("record is cut short: {file} ends at byte {file_len}, inside the record (bytes {offset}..{end})")]
    Truncated {
        file: String,
        file_len: u64,
        offset: u64,
        end: u64,
    },
    #[error("record at byte {offset} of {file} cannot be read: {message}")]
    Unreadable {
        file: String,
        offset: u64,
        message: String,
    },
}

impl RecordError {
    /// A stable label for reports: `segment_missing`, `record_missing`,
    /// `record_truncated` or `record_unreadable`.
    pub fn code(&self) -> &'static str {
        match self {
            RecordError::NoSegment { .. } => "segment_missing",
            RecordError::Missing { .. } => "record_missing",
            RecordError::Truncated { .. } => "record_truncated",
            RecordError::Open { .. } | RecordError::Unreadable { .. } => "record_unreadable",
        }
    }
}

/// The writer of the active segment. Owned by the one writer of the store.
#[derive(Debug)]
pub struct SegmentWriter {
    dir: PathBuf,
    segment: u32,
    file: File,
    len: u64,
}

impl SegmentWriter {
    /// Opens the active segment at its committed length, cutting off any
    /// bytes an interrupted batch left behind.
    pub fn open(dir: &Path, segment: u32, committed_len: u64) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::io(format!("create directory {}", dir.display()), e))?;
        let path = segment_path(dir, segment);
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::io(format!("open segment {}", path.display()), e))?;
        let actual = file
            .metadata()
            .map_err(|e| StoreError::io(format!("read the size of segment {}", path.display()), e))?
            .len();
        if actual < committed_len {
            return Err(StoreError::Corrupt(format!(
                "body segment {} is {actual} bytes but {committed_len} bytes were committed; bodies are missing",
                path.display()
            )));
        }
        if actual > committed_len {
            file.set_len(committed_len)
                .and_then(|()| file.sync_all())
                .map_err(|e| {
                    StoreError::io(
                        format!(
                            "cut segment {} back to its committed {committed_len} bytes",
                            path.display()
                        ),
                        e,
                    )
                })?;
        }
        sync_dir(dir)?;
        Ok(SegmentWriter {
            dir: dir.to_path_buf(),
            segment,
            file,
            len: committed_len,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `(segment, committed length)` to record in the database.
    pub fn position(&self) -> (u32, u64) {
        (self.segment, self.len)
    }

    /// Appends records and makes them durable (one write, one fdatasync).
    /// On error nothing is considered written and the file is cut back.
    pub fn append(
        &mut self,
        records: &[Record<'_>],
        buf: &mut Vec<u8>,
    ) -> Result<Vec<RecordLocation>, StoreError> {
        let pending = self.prepare(records, buf)?;
        match self.write_durably(buf, &pending) {
            Ok(()) => {
                self.mark_written(&pending);
                Ok(pending.locations)
            }
            Err(e) => {
                self.cut_back(pending.start);
                Err(e)
            }
        }
    }

    /// Lays records out in `buf` and decides their locations (rolling over
    /// to a new segment if needed), without writing anything yet. Callers
    /// may then write in parallel with other work ([`Self::write_durably`]).
    pub fn prepare(
        &mut self,
        records: &[Record<'_>],
        buf: &mut Vec<u8>,
    ) -> Result<PendingAppend, StoreError> {
        let total: u64 = records
            .iter()
            .map(|r| (r.header.len() + SALT_LEN + r.body.len()) as u64)
            .sum();
        if self.len > 0 && self.len + total > SEGMENT_LIMIT {
            self.roll_over()?;
        }
        buf.clear();
        buf.reserve(total as usize);
        let mut locations = Vec::with_capacity(records.len());
        let mut offset = self.len;
        let dir = &self.dir;
        let too_large = |n: usize| {
            StoreError::Invalid(format!(
                "a record of {n} bytes is too large for a segment in {} (at most 4 GiB)",
                dir.display()
            ))
        };
        for r in records {
            let header_len =
                u32::try_from(r.header.len()).map_err(|_| too_large(r.header.len()))?;
            let body_len = u32::try_from(r.body.len()).map_err(|_| too_large(r.body.len()))?;
            buf.extend_from_slice(r.header);
            buf.extend_from_slice(&r.salt[..]);
            buf.extend_from_slice(r.body);
            locations.push(RecordLocation {
                segment: self.segment,
                offset,
                header_len,
                body_len: Some(body_len),
            });
            offset += (r.header.len() + SALT_LEN + r.body.len()) as u64;
        }
        Ok(PendingAppend {
            start: self.len,
            end: offset,
            locations,
        })
    }

    /// Writes a prepared append and fdatasyncs it. Takes `&self`, so it can
    /// run on another thread while the caller does other work.
    pub fn write_durably(&self, buf: &[u8], pending: &PendingAppend) -> Result<(), StoreError> {
        self.file
            .write_all_at(buf, pending.start)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| {
                let path = segment_path(&self.dir, self.segment);
                StoreError::io(format!("write segment {}", path.display()), e)
            })
    }

    /// The prepared records are durable and committed: the segment grows.
    pub fn mark_written(&mut self, pending: &PendingAppend) {
        self.len = pending.end;
    }

    /// Forgets records appended after `len` (their batch did not commit).
    pub fn rollback(&mut self, segment: u32, len: u64) {
        if segment == self.segment {
            self.cut_back(len);
            self.len = len;
        }
        // A batch that rolled over and then failed leaves an empty new
        // segment; the committed position still names the old one, and the
        // next open continues there.
    }

    fn cut_back(&mut self, len: u64) {
        // Best effort: if this fails the tail is cut on the next open anyway.
        let _ = self.file.set_len(len);
    }

    fn roll_over(&mut self) -> Result<(), StoreError> {
        let next = self.segment + 1;
        let path = segment_path(&self.dir, next);
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| StoreError::io(format!("create segment {}", path.display()), e))?;
        sync_dir(&self.dir)?;
        self.file = file;
        self.segment = next;
        self.len = 0;
        Ok(())
    }
}

/// Reads bodies; shared by all readers.
#[derive(Debug)]
pub struct SegmentReader {
    dir: PathBuf,
    files: Mutex<HashMap<u32, std::sync::Arc<File>>>,
}

impl SegmentReader {
    pub fn new(dir: &Path) -> Self {
        SegmentReader {
            dir: dir.to_path_buf(),
            files: Mutex::new(HashMap::new()),
        }
    }

    fn file(&self, segment: u32) -> Result<std::sync::Arc<File>, StoreError> {
        let mut files = self.files.lock().map_err(|_| {
            StoreError::Unavailable(format!(
                "the segment reader of {} failed earlier (lock poisoned); restart the server",
                self.dir.display()
            ))
        })?;
        if let Some(f) = files.get(&segment) {
            return Ok(f.clone());
        }
        let path = segment_path(&self.dir, segment);
        let f = File::open(&path)
            .map_err(|e| StoreError::io(format!("open segment {}", path.display()), e))?;
        let f = std::sync::Arc::new(f);
        files.insert(segment, f.clone());
        Ok(f)
    }

    /// Reads a record: the header, and `(salt, body)` unless erased.
    #[allow(clippy::type_complexity)]
    pub fn read(
        &self,
        loc: RecordLocation,
    ) -> Result<(Vec<u8>, Option<([u8; SALT_LEN], Vec<u8>)>), StoreError> {
        self.read_record(loc).map_err(|e| match e {
            // Opening can fail for passing reasons (too many open files).
            RecordError::Open { .. } => {
                StoreError::Unavailable(format!("{e} (in {}); retry later", self.dir.display()))
            }
            _ => StoreError::Corrupt(format!("{e} (in {})", self.dir.display())),
        })
    }

    /// Like [`Self::read`], saying precisely why a record cannot be read
    /// (fsck names each entry whose record is missing or cut short).
    #[allow(clippy::type_complexity)]
    pub fn read_record(
        &self,
        loc: RecordLocation,
    ) -> Result<(Vec<u8>, Option<([u8; SALT_LEN], Vec<u8>)>), RecordError> {
        let name = segment_name(loc.segment);
        let file = self.file(loc.segment).map_err(|e| {
            if segment_path(&self.dir, loc.segment).exists() {
                RecordError::Open {
                    file: name.clone(),
                    message: e.to_string(),
                }
            } else {
                RecordError::NoSegment { file: name.clone() }
            }
        })?;
        let hlen = loc.header_len as usize;
        let total = hlen + loc.body_len.map_or(0, |b| SALT_LEN + b as usize);
        let mut buf = vec![0u8; total];
        if let Err(e) = file.read_exact_at(&mut buf, loc.offset) {
            let end = loc.offset + total as u64;
            return Err(match file.metadata().map(|m| m.len()) {
                Ok(len) if len <= loc.offset => RecordError::Missing {
                    file: name,
                    file_len: len,
                    offset: loc.offset,
                    end,
                },
                Ok(len) if len < end => RecordError::Truncated {
                    file: name,
                    file_len: len,
                    offset: loc.offset,
                    end,
                },
                _ => RecordError::Unreadable {
                    file: name,
                    offset: loc.offset,
                    message: e.to_string(),
                },
            });
        }
        if loc.body_len.is_none() {
            return Ok((buf, None));
        }
        let mut rest = buf.split_off(hlen);
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&rest[..SALT_LEN]);
        rest.drain(..SALT_LEN);
        Ok((buf, Some((salt, rest))))
    }

    /// [`Self::read_record`] for many records at once: runs of records that
    /// lie one after another in a segment are read with one system call
    /// (fsck reads every record in order). A run that cannot be read whole
    /// is read record by record, for the precise error of each. `buf` is
    /// the caller's scratch space, kept between calls: a run is read into
    /// it without zeroing fresh pages for every run.
    #[allow(clippy::type_complexity)]
    pub fn read_records(
        &self,
        locs: &[RecordLocation],
        buf: &mut Vec<u8>,
    ) -> Vec<Result<(Vec<u8>, Option<([u8; SALT_LEN], Vec<u8>)>), RecordError>> {
        /// The longest run read at once.
        const RUN_BYTES: u64 = 4 << 20;
        let len = |l: &RecordLocation| {
            u64::from(l.header_len) + l.body_len.map_or(0, |b| (SALT_LEN as u64) + u64::from(b))
        };
        let mut out = Vec::with_capacity(locs.len());
        let mut i = 0;
        while i < locs.len() {
            let first = locs[i];
            let mut end = first.offset + len(&first);
            let mut j = i + 1;
            while let Some(next) = locs.get(j) {
                if next.segment != first.segment
                    || next.offset != end
                    || end - first.offset >= RUN_BYTES
                {
                    break;
                }
                end += len(next);
                j += 1;
            }
            let run = &locs[i..j];
            let n = (end - first.offset) as usize;
            if buf.len() < n {
                buf.resize(n, 0);
            }
            let buf = &mut buf[..n];
            let read = self
                .file(first.segment)
                .ok()
                .and_then(|f| f.read_exact_at(buf, first.offset).ok());
            match read {
                Some(()) => {
                    for l in run {
                        let at = (l.offset - first.offset) as usize;
                        let hlen = l.header_len as usize;
                        let header = buf[at..at + hlen].to_vec();
                        let body = l.body_len.map(|b| {
                            let mut salt = [0u8; SALT_LEN];
                            salt.copy_from_slice(&buf[at + hlen..at + hlen + SALT_LEN]);
                            let start = at + hlen + SALT_LEN;
                            (salt, buf[start..start + b as usize].to_vec())
                        });
                        out.push(Ok((header, body)));
                    }
                }
                None => out.extend(run.iter().map(|&l| self.read_record(l))),
            }
            i = j;
        }
        out
    }

    /// Reads only the header of a record.
    pub fn read_header(&self, loc: RecordLocation) -> Result<Vec<u8>, StoreError> {
        self.read(RecordLocation {
            body_len: None,
            ..loc
        })
        .map(|(h, _)| h)
    }
}

/// Makes a file creation durable (the directory entry, not just the data).
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(format!("sync directory {}", dir.display()), e))
}
