//! The durable spool: events that could not be delivered yet, on disk, in
//! order, until sealtrail takes them.
//!
//! Layout of the spool directory:
//! - `<instance>.spool`: one serialized event per line, appended and
//!   fdatasync'd per batch by the proxy process that owns it, which holds an
//!   exclusive `flock` on it for its whole life;
//! - `<instance>.spool.sent`: how many bytes of it were delivered (decimal);
//! - `rejected.jsonl`: events the server refused for good, with its answer.
//!
//! A proxy adopts every `.spool` file it can lock (left by a proxy that has
//! exited or crashed) and drains it too, so the spool survives restarts and
//! several proxies can share one directory. Delivery is at-least-once; the
//! event ids make the server drop a resent duplicate.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

const SEGMENT_EXT: &str = "spool";

/// Why the spool could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One spool file being drained.
#[derive(Debug)]
struct Segment {
    path: PathBuf,
    /// Holds the lock for as long as the segment is ours.
    file: File,
    /// Bytes already delivered.
    sent: u64,
    /// Bytes written so far.
    len: u64,
}

/// Lines read from the spool, to hand to the server.
#[derive(Debug)]
pub struct Batch {
    segment: usize,
    pub lines: Vec<Vec<u8>>,
    end: u64,
}

/// The spool directory, from one proxy's point of view.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    instance: String,
    /// Adopted segments first (older), then this process's own, if any.
    segments: Vec<Segment>,
    own: Option<usize>,
    /// No usable directory: nothing is written, events wait in memory.
    disabled: bool,
}

impl Spool {
    /// Opens (creating, mode 0700) the directory and adopts the segments
    /// no other live proxy holds.
    pub fn open(dir: &Path, instance: &str) -> Result<Spool, SpoolError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_err(dir))?;
        let mut spool = Spool {
            dir: dir.to_path_buf(),
            instance: instance.to_string(),
            segments: Vec::new(),
            own: None,
            disabled: false,
        };
        spool.adopt()?;
        Ok(spool)
    }

    /// A spool that stores nothing (its directory is unusable): the sender
    /// then keeps undelivered events in memory rather than stop the relay.
    pub fn disabled(dir: &Path) -> Spool {
        Spool {
            dir: dir.to_path_buf(),
            instance: String::new(),
            segments: Vec::new(),
            own: None,
            disabled: true,
        }
    }

    /// Takes over segments left by proxies that are gone.
    pub fn adopt(&mut self) -> Result<(), SpoolError> {
        let mut found: Vec<PathBuf> = fs::read_dir(&self.dir)
            .map_err(io_err(&self.dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == SEGMENT_EXT))
            .filter(|p| !self.segments.iter().any(|s| &s.path == p))
            .collect();
        // UUIDv7 instance names sort by start time: older runs first.
        found.sort();
        for path in found {
            let Ok(file) = OpenOptions::new().read(true).write(true).open(&path) else {
                continue;
            };
            if !try_lock(&file) {
                continue; // a live proxy owns it
            }
            let len = file.metadata().map_err(io_err(&path))?.len();
            let sent = read_sent(&path).min(len);
            let seg = Segment {
                path,
                file,
                sent,
                len,
            };
            if seg.sent >= seg.len {
                remove_segment(&seg);
            } else {
                let at = self.own.unwrap_or(self.segments.len());
                self.segments.insert(at, seg);
                if let Some(o) = self.own.as_mut() {
                    *o += 1;
                }
            }
        }
        Ok(())
    }

    /// Whether anything waits for delivery.
    pub fn is_empty(&self) -> bool {
        self.segments.iter().all(|s| s.sent >= s.len)
    }

    /// Appends events (one line each) durably.
    pub fn append(&mut self, lines: &[Vec<u8>]) -> Result<(), SpoolError> {
        if lines.is_empty() {
            return Ok(());
        }
        if self.disabled {
            return Err(SpoolError::Io {
                path: self.dir.clone(),
                source: io::Error::other("the spool directory is unusable"),
            });
        }
        let i = match self.own {
            Some(i) => i,
            None => {
                let seg = self.create_own()?;
                self.segments.push(seg);
                self.own = Some(self.segments.len() - 1);
                self.segments.len() - 1
            }
        };
        let seg = &mut self.segments[i];
        let mut buf = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for l in lines {
            buf.extend_from_slice(l);
            buf.push(b'\n');
        }
        seg.file
            .seek(SeekFrom::Start(seg.len))
            .and_then(|_| seg.file.write_all(&buf))
            .and_then(|_| seg.file.sync_data())
            .map_err(io_err(&seg.path))?;
        seg.len += buf.len() as u64;
        Ok(())
    }

    /// Created under a temporary name, locked, then renamed: no other proxy
    /// can adopt it in between.
    fn create_own(&self) -> Result<Segment, SpoolError> {
        let tmp = self.dir.join(format!(".{}.tmp", self.instance));
        let path = self.dir.join(format!("{}.{SEGMENT_EXT}", self.instance));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        if !try_lock(&file) {
            return Err(SpoolError::Io {
                path: tmp,
                source: io::Error::other("cannot lock a new spool file"),
            });
        }
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        Ok(Segment {
            path,
            file,
            sent: 0,
            len: 0,
        })
    }

    /// The next undelivered lines, oldest first: at most `max_lines` and
    /// about `max_bytes`.
    pub fn peek(
        &mut self,
        max_lines: usize,
        max_bytes: usize,
    ) -> Result<Option<Batch>, SpoolError> {
        let Some(i) = self.segments.iter().position(|s| s.sent < s.len) else {
            return Ok(None);
        };
        let seg = &mut self.segments[i];
        let mut reader = BufReader::new(&seg.file);
        reader
            .seek(SeekFrom::Start(seg.sent))
            .map_err(io_err(&seg.path))?;
        let mut lines = Vec::new();
        let (mut pos, mut bytes) = (seg.sent, 0usize);
        while pos < seg.len && lines.len() < max_lines && (bytes < max_bytes || lines.is_empty()) {
            let mut line = Vec::new();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(io_err(&seg.path))?;
            if n == 0 {
                break;
            }
            pos += n as u64;
            if line.last() != Some(&b'\n') {
                // A line cut short by a crash mid-append: never acknowledged
                // as spooled, and not a whole event. Skip it.
                tracing::warn!(path = %seg.path.display(), "skipping a torn last line in the spool");
                continue;
            }
            line.pop();
            if line.is_empty() {
                continue;
            }
            bytes += line.len();
            lines.push(line);
        }
        Ok(Some(Batch {
            segment: i,
            lines,
            end: pos.min(seg.len),
        }))
    }

    /// Marks a peeked batch as delivered; a fully delivered segment is
    /// removed (the own one is emptied and kept).
    pub fn commit(&mut self, batch: Batch) -> Result<(), SpoolError> {
        let Some(seg) = self.segments.get_mut(batch.segment) else {
            return Ok(());
        };
        seg.sent = batch.end.max(seg.sent);
        if seg.sent < seg.len {
            return write_sent(&seg.path, seg.sent);
        }
        if Some(batch.segment) == self.own {
            seg.file.set_len(0).map_err(io_err(&seg.path))?;
            seg.sent = 0;
            seg.len = 0;
            let _ = fs::remove_file(sent_path(&seg.path));
        } else {
            let seg = self.segments.remove(batch.segment);
            remove_segment(&seg);
            if let Some(o) = self.own.as_mut() {
                if *o > batch.segment {
                    *o -= 1;
                }
            }
        }
        Ok(())
    }

    /// Keeps events the server refused for good, with its reason.
    pub fn reject(&self, line: &[u8], why: &str) -> Result<(), SpoolError> {
        let path = self.dir.join("rejected.jsonl");
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err(&path))?;
        let record = serde_json::json!({
            "error": why,
            "event": String::from_utf8_lossy(line),
        });
        let mut buf = serde_json::to_vec(&record).unwrap_or_default();
        buf.push(b'\n');
        f.write_all(&buf)
            .and_then(|_| f.sync_data())
            .map_err(io_err(&path))
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        // An empty own segment is not worth leaving behind.
        if let Some(seg) = self.own.and_then(|i| self.segments.get(i)) {
            if seg.len == 0 {
                remove_segment(seg);
            }
        }
    }
}

fn sent_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".sent");
    PathBuf::from(p)
}

fn read_sent(path: &Path) -> u64 {
    fs::read_to_string(sent_path(path))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Written to a temporary file and renamed; not fsync'd: losing it only
/// means resending events the server will recognise as duplicates.
fn write_sent(path: &Path, sent: u64) -> Result<(), SpoolError> {
    let target = sent_path(path);
    let mut tmp = target.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, sent.to_string())
        .and_then(|_| fs::rename(&tmp, &target))
        .map_err(io_err(&target))
}

fn remove_segment(seg: &Segment) {
    // The .sent file first: a crash in between leaves a segment that is
    // resent in full, never one that is skipped.
    let _ = fs::remove_file(sent_path(&seg.path));
    let _ = fs::remove_file(&seg.path);
}

/// Non-blocking exclusive `flock`; released when the file is closed.
fn try_lock(file: &File) -> bool {
    // SAFETY: flock(2) on a descriptor this File owns.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: std::ops::Range<u32>) -> Vec<Vec<u8>> {
        n.map(|i| format!("{{\"n\":{i}}}").into_bytes()).collect()
    }

    #[test]
    fn append_peek_commit_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), "a").unwrap();
        assert!(s.is_empty());
        s.append(&lines(0..5)).unwrap();
        let b = s.peek(3, usize::MAX).unwrap().unwrap();
        assert_eq!(b.lines, lines(0..3));
        s.commit(b).unwrap();
        s.append(&lines(5..7)).unwrap();
        let b = s.peek(100, usize::MAX).unwrap().unwrap();
        assert_eq!(b.lines, lines(3..7));
        s.commit(b).unwrap();
        assert!(s.is_empty());
        assert!(s.peek(10, 10).unwrap().is_none());
    }

    #[test]
    fn a_later_process_adopts_what_is_left_but_not_a_live_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = Spool::open(dir.path(), "01-first").unwrap();
        first.append(&lines(0..4)).unwrap();
        let b = first.peek(1, usize::MAX).unwrap().unwrap();
        first.commit(b).unwrap();

        // While `first` lives, its segment is locked.
        let second = Spool::open(dir.path(), "02-second").unwrap();
        assert!(second.is_empty());
        drop(second);

        drop(first);
        let mut third = Spool::open(dir.path(), "03-third").unwrap();
        assert!(!third.is_empty());
        let b = third.peek(100, usize::MAX).unwrap().unwrap();
        assert_eq!(b.lines, lines(1..4));
        third.commit(b).unwrap();
        assert!(third.is_empty());
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_disabled_spool_refuses_appends_and_is_empty() {
        let mut s = Spool::disabled(Path::new("/nonexistent"));
        assert!(s.append(&lines(0..1)).is_err());
        assert!(s.is_empty() && s.peek(1, 1).unwrap().is_none());
    }

    #[test]
    fn torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("00-old.spool"),
            b"{\"n\":0}\n{\"n\":1}\n{\"n\"",
        )
        .unwrap();
        let mut s = Spool::open(dir.path(), "x").unwrap();
        let b = s.peek(100, usize::MAX).unwrap().unwrap();
        assert_eq!(b.lines, lines(0..2));
        s.commit(b).unwrap();
        assert!(s.is_empty());
    }

    #[test]
    fn byte_budget_bounds_a_batch_but_takes_at_least_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), "a").unwrap();
        s.append(&lines(0..10)).unwrap();
        let b = s.peek(100, 1).unwrap().unwrap();
        assert_eq!(b.lines.len(), 1);
    }
}
