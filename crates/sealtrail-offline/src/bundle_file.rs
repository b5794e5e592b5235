//! Verifying a bundle file without reading it into memory (docs/formats.md
//! §10): the small members through the ZIP's central directory, the
//! entries member by member (version 2) or line by line (version 1), each
//! member read with its size cap. Version 2's members are checked on
//! several threads, each with its own handle on the file; the checks that
//! depend on order (indexes, times, the shared proof, completeness) take
//! their results in bundle order on the calling thread.
//!
//! Memory is bounded by the caps, not by the bundle: each thread holds one
//! entries member (at most 64 MiB, 8 MiB as sealtrail writes them) and the
//! per-line results of one member, and the threads hand results over one at
//! a time.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use sealtrail_core::bundle::zip::{ZipLimits, ZipMembers};
use sealtrail_core::bundle::{
    check_chunk_names, chunk_member, Checked, Failure, LineChecker, LineRules, Member, Members,
    Problem, Report, Verifier, ENTRIES,
};
use sealtrail_core::hash::Hash;
use sealtrail_core::note::NoteVerifier;

/// A bundle file's members, read through its own handle.
pub type FileMembers = ZipMembers<BufReader<File>>;

/// The longest line of version 1's `entries.jsonl` that is read: a line
/// holds one entry (its body is at most a few MiB as JSON text).
const MAX_LINE: u64 = 64 << 20;

/// How to read.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// Threads checking version 2's entries members (1: on the calling
    /// thread only).
    pub threads: usize,
    pub limits: ZipLimits,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            limits: ZipLimits::default(),
        }
    }
}

/// Opens the bundle at `path` through its central directory. The buffer is
/// small: every member read starts with a seek, which empties it (version
/// 1 reads one small proof member per entry).
pub fn open(path: &Path, limits: ZipLimits) -> std::io::Result<FileMembers> {
    let file = File::open(path)?;
    ZipMembers::from_reader(BufReader::with_capacity(8 << 10, file), limits)
        .map_err(std::io::Error::other)
}

/// Verifies the bundle at `path`, whose members `members` reads (through
/// the file's central directory).
pub fn verify(
    path: &Path,
    members: &mut dyn Members,
    trusted: &[&dyn NoteVerifier],
    opts: ReadOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Report {
    let mut v = Verifier::new(members, trusted);
    match v.chunks() {
        Some(n) => {
            check_chunk_names(&mut v, members.names(), n);
            verify_chunks(path, &mut v, members, n, opts, progress);
        }
        None => verify_lines(path, &mut v, members, opts.limits, progress),
    }
    v.finish()
}

/// One entries member after its lines' own checks.
struct ChunkOut {
    name: String,
    /// Lines in order: checked, or a line that did not parse.
    items: Vec<Result<Checked, Failure>>,
    /// The lines' gap hashes, one after another.
    gaps: Vec<Hash>,
    /// Why the member could not be read, when it could not.
    problem: Option<Problem>,
}

/// Reads member `k` and checks each of its lines on its own.
fn check_chunk(members: &mut dyn Members, checker: &mut LineChecker, k: u64) -> ChunkOut {
    let name = chunk_member(k);
    let mut out = ChunkOut {
        name,
        items: Vec::new(),
        gaps: Vec::new(),
        problem: None,
    };
    match members.get(&out.name) {
        Member::Present(bytes) => {
            let mut start = 0;
            let mut line_no = 0;
            let ends = memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len()));
            for end in ends {
                let line = &bytes[start..end];
                start = end + 1;
                if line.is_empty() {
                    continue;
                }
                line_no += 1;
                let item = checker.check(line, line_no, &out.name, &mut out.gaps);
                out.items.push(item);
            }
        }
        Member::Absent => out.problem = Some(Problem::MemberMissing),
        Member::Unreadable(why) => out.problem = Some(Problem::MemberUnreadable(why.to_owned())),
    }
    out
}

/// Hands one member's results to the verifier, in order.
fn accept(v: &mut Verifier, members: &mut dyn Members, out: ChunkOut) -> u64 {
    v.start_member();
    if let Some(p) = out.problem {
        v.member_failure(&out.name, p);
    }
    let mut at = 0;
    let mut lines = 0;
    for item in out.items {
        match item {
            Ok(c) => {
                let end = at + c.gaps;
                let gaps = out.gaps.get(at..end).unwrap_or_default();
                at = end;
                lines += 1;
                v.accept(c, gaps, &out.name, members);
            }
            Err(f) => v.failure(f),
        }
    }
    lines
}

/// Version 2: members `0..n`, on `opts.threads` threads.
fn verify_chunks(
    path: &Path,
    v: &mut Verifier,
    members: &mut dyn Members,
    n: u64,
    opts: ReadOptions,
    progress: &mut dyn FnMut(u64, u64),
) {
    let total = v.expected_entries();
    let mut done = 0;
    let threads = opts.threads.clamp(1, n.clamp(1, 64) as usize);
    if threads == 1 {
        let mut checker = LineChecker::new(v.rules());
        for k in 0..n {
            let out = check_chunk(members, &mut checker, k);
            done += accept(v, members, out);
            progress(done, total.max(done));
        }
        return;
    }
    let rules = v.rules();
    std::thread::scope(|s| {
        let receivers: Vec<Receiver<ChunkOut>> = (0..threads)
            .map(|w| {
                // A rendezvous channel: a thread checks its next member only
                // once its last one was taken, so memory does not grow when
                // one thread runs ahead.
                let (tx, rx) = sync_channel(0);
                let rules = rules.clone();
                s.spawn(move || worker(path, rules, opts.limits, w as u64, threads as u64, n, tx));
                rx
            })
            .collect();
        for k in 0..n {
            let out = receivers[(k % threads as u64) as usize]
                .recv()
                .unwrap_or_else(|_| ChunkOut {
                    name: chunk_member(k),
                    items: Vec::new(),
                    gaps: Vec::new(),
                    problem: Some(Problem::MemberUnreadable(
                        "the thread reading it stopped".into(),
                    )),
                });
            done += accept(v, members, out);
            progress(done, total.max(done));
        }
    });
}

/// Checks members `first, first + step, …` below `n`, each through its own
/// handle on the file.
fn worker(
    path: &Path,
    rules: Arc<LineRules>,
    limits: ZipLimits,
    first: u64,
    step: u64,
    n: u64,
    tx: std::sync::mpsc::SyncSender<ChunkOut>,
) {
    let mut checker = LineChecker::new(rules);
    let mut members = open(path, limits);
    let mut k = first;
    while k < n {
        let out = match &mut members {
            Ok(m) => check_chunk(m, &mut checker, k),
            Err(e) => ChunkOut {
                name: chunk_member(k),
                items: Vec::new(),
                gaps: Vec::new(),
                problem: Some(Problem::MemberUnreadable(format!(
                    "cannot open the file again to read it: {e}"
                ))),
            },
        };
        if tx.send(out).is_err() {
            return;
        }
        k += step;
    }
}

/// Version 1: `entries.jsonl` line by line, through a second handle on the
/// file, while proofs are read through `members`.
fn verify_lines(
    path: &Path,
    v: &mut Verifier,
    members: &mut dyn Members,
    limits: ZipLimits,
    progress: &mut dyn FnMut(u64, u64),
) {
    let total = v.expected_entries();
    let mut second = match open(path, limits) {
        Ok(m) => m,
        Err(e) => {
            let why = format!("cannot open the file again to read it: {e}");
            v.member_failure(ENTRIES, Problem::MemberUnreadable(why));
            return;
        }
    };
    let Some(file) = second.stream(ENTRIES) else {
        v.member_failure(ENTRIES, Problem::MemberMissing);
        return;
    };
    let mut reader = BufReader::with_capacity(1 << 20, file.take(limits.entries));
    let mut line = Vec::new();
    let mut done = 0;
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut line)
        {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                v.member_failure(ENTRIES, Problem::MemberUnreadable(e.to_string()));
                return;
            }
        }
        if line.len() as u64 > MAX_LINE {
            v.member_failure(
                ENTRIES,
                Problem::MemberUnreadable(format!(
                    "line {} is longer than {MAX_LINE} bytes, the most this reader accepts for a line",
                    done + 1
                )),
            );
            return;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.is_empty() {
            continue;
        }
        v.line(&line, ENTRIES, members);
        done += 1;
        if done % 4096 == 0 {
            progress(done, total.max(done));
        }
    }
    // The member's own cap: more bytes after it were not read. Reading to
    // the member's end also checks its CRC.
    match reader.into_inner().into_inner().read(&mut [0u8]) {
        Ok(0) => {}
        Ok(_) => v.member_failure(
            ENTRIES,
            Problem::MemberUnreadable(format!(
                "larger than {} bytes decompressed, the most this reader accepts for it",
                limits.entries
            )),
        ),
        Err(e) => v.member_failure(ENTRIES, Problem::MemberUnreadable(e.to_string())),
    }
    progress(done, total.max(done));
}
