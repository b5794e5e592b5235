//! Append-only body segments: the event bodies (and their salts) live beside
//! the SQLite database, not inside its B-tree. Bodies are most of the bytes;
//! keeping them out of the B-tree is what makes ingest fast (DESIGN §4).
//!
//! A record is `salt (32 bytes) ‖ body`; its location `(segment, offset,
//! length of body)` is stored in the entry's row. Records are written and
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

/// Where one body lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLocation {
    pub segment: u32,
    pub offset: u64,
    pub len: u32,
}

fn segment_path(dir: &Path, segment: u32) -> PathBuf {
    dir.join(format!("{segment:08}.seg"))
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
        std::fs::create_dir_all(dir)?;
        let path = segment_path(dir, segment);
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(&path)?;
        let actual = file.metadata()?.len();
        if actual < committed_len {
            return Err(StoreError::Corrupt(format!(
                "body segment {} is {actual} bytes but {committed_len} bytes were committed; bodies are missing",
                path.display()
            )));
        }
        if actual > committed_len {
            file.set_len(committed_len)?;
            file.sync_all()?;
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
        records: &[(&[u8; SALT_LEN], &[u8])],
        buf: &mut Vec<u8>,
    ) -> Result<Vec<BodyLocation>, StoreError> {
        let total: u64 = records
            .iter()
            .map(|(_, b)| (SALT_LEN + b.len()) as u64)
            .sum();
        if self.len > 0 && self.len + total > SEGMENT_LIMIT {
            self.roll_over()?;
        }
        buf.clear();
        buf.reserve(total as usize);
        let mut locations = Vec::with_capacity(records.len());
        let mut offset = self.len;
        for (salt, body) in records {
            let len = u32::try_from(body.len()).map_err(|_| {
                StoreError::Io(format!("body of {} bytes is too large", body.len()))
            })?;
            buf.extend_from_slice(&salt[..]);
            buf.extend_from_slice(body);
            locations.push(BodyLocation {
                segment: self.segment,
                offset,
                len,
            });
            offset += (SALT_LEN + body.len()) as u64;
        }
        let start = self.len;
        let written = self
            .file
            .write_all_at(buf, start)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            self.cut_back(start);
            return Err(e.into());
        }
        self.len = offset;
        Ok(locations)
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
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(true)
            .open(segment_path(&self.dir, next))?;
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
        let mut files = self
            .files
            .lock()
            .map_err(|_| StoreError::Io("segment reader lock poisoned".into()))?;
        if let Some(f) = files.get(&segment) {
            return Ok(f.clone());
        }
        let f = std::sync::Arc::new(File::open(segment_path(&self.dir, segment))?);
        files.insert(segment, f.clone());
        Ok(f)
    }

    /// Reads `(salt, body)` at a location.
    pub fn read(&self, loc: BodyLocation) -> Result<([u8; SALT_LEN], Vec<u8>), StoreError> {
        let file = self.file(loc.segment)?;
        let mut buf = vec![0u8; SALT_LEN + loc.len as usize];
        file.read_exact_at(&mut buf, loc.offset).map_err(|e| {
            StoreError::Corrupt(format!(
                "body at segment {} offset {} ({} bytes) cannot be read: {e}",
                loc.segment, loc.offset, loc.len
            ))
        })?;
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&buf[..SALT_LEN]);
        buf.drain(..SALT_LEN);
        Ok((salt, buf))
    }
}

/// Makes a file creation durable (the directory entry, not just the data).
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}
