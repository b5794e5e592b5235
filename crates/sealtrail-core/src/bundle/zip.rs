//! Reading a bundle's ZIP file (feature `zip`) from any reader: its members
//! through the central directory, or, for bytes in memory whose central
//! directory is damaged (a truncated download), as recovered from the local
//! headers; and the verification of the whole, one line after another.
//! `sealtrail verify BUNDLE` (which adds threads and files on top, in
//! `sealtrail-offline`) and the `bundle` fuzz target use this code.
//!
//! Every member is read with a size cap ([`ZipLimits`]): a bundle is
//! untrusted input, and a few kilobytes of deflate can claim gigabytes. A
//! member over its cap is reported unreadable, never read whole.

use std::collections::HashMap;
use std::io::{Cursor, Read, Seek};

use zip::ZipArchive;

use super::verify::{check_chunk_names, Failure, Problem, Report, Verifier};
use super::write::{MAX_CHUNK_BYTES, MAX_MEMBER_BYTES};
use super::{chunk_member, chunk_member_index, Member, Members, ENTRIES};
use crate::note::NoteVerifier;

/// Largest decompressed size read of each member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipLimits {
    /// Version 1's single `entries.jsonl`, which grows with the query's answer.
    pub entries: u64,
    /// Each of version 2's `entries/<k>.jsonl` members.
    pub chunk: u64,
    /// Every other member: the manifest, checkpoint, keys, completeness
    /// file, README and each proof are kilobytes in a real bundle.
    pub member: u64,
}

impl Default for ZipLimits {
    /// What `sealtrail verify` allows: version 1's `entries.jsonl` up to 64
    /// GiB (it is read line by line), each version 2 entries member up to
    /// 64 MiB and every other member up to 16 MiB (docs/formats.md §10).
    fn default() -> Self {
        ZipLimits {
            entries: 64 << 30,
            chunk: MAX_CHUNK_BYTES,
            member: MAX_MEMBER_BYTES,
        }
    }
}

impl ZipLimits {
    pub fn of(&self, name: &str) -> u64 {
        if name == ENTRIES {
            self.entries
        } else if chunk_member_index(name).is_some() {
            self.chunk
        } else {
            self.member
        }
    }
}

/// Reads at most `cap` bytes of `r` into `out`; an error naming the cap when
/// there is more.
pub fn read_capped(r: impl Read, cap: u64, out: &mut Vec<u8>) -> std::io::Result<()> {
    r.take(cap.saturating_add(1)).read_to_end(out)?;
    if out.len() as u64 > cap {
        out.clear();
        return Err(std::io::Error::other(format!(
            "larger than {cap} bytes decompressed, the most this reader accepts for it"
        )));
    }
    Ok(())
}

/// A bundle's members, read from its ZIP on demand.
pub struct ZipMembers<R> {
    archive: Option<ZipArchive<R>>,
    recovered: HashMap<String, Vec<u8>>,
    /// Members listed but unreadable, with the reason.
    broken: HashMap<String, String>,
    buf: Vec<u8>,
    why: String,
    /// The member after the last one read.
    next: usize,
    limits: ZipLimits,
}

impl<R: Read + Seek> Members for ZipMembers<R> {
    fn names(&self) -> Option<Vec<String>> {
        match &self.archive {
            Some(a) => Some(a.file_names().map(str::to_owned).collect()),
            None => Some(self.recovered.keys().cloned().collect()),
        }
    }

    fn get(&mut self, name: &str) -> Member<'_> {
        if let Some(why) = self.broken.get(name) {
            return Member::Unreadable(why);
        }
        let Some(archive) = self.archive.as_mut() else {
            return match self.recovered.get(name) {
                Some(b) => Member::Present(b),
                None => Member::Absent,
            };
        };
        self.buf.clear();
        // Proofs are stored in the order they are asked for: try the member
        // after the last one read before looking the name up.
        let at = match archive.name_for_index(self.next) {
            Some(n) if n == name => Some(self.next),
            _ => archive.index_for_name(name),
        };
        let Some(at) = at else {
            return Member::Absent;
        };
        self.next = at.saturating_add(1);
        let cap = self.limits.of(name);
        let read = match archive.by_index(at) {
            Ok(f) => read_capped(f, cap, &mut self.buf),
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        match read {
            Ok(()) => Member::Present(&self.buf),
            Err(e) => {
                self.why = e.to_string();
                Member::Unreadable(&self.why)
            }
        }
    }
}

impl<R: Read + Seek> ZipMembers<R> {
    /// Opens the ZIP that `reader` reads (its central directory is read now).
    pub fn from_reader(reader: R, limits: ZipLimits) -> zip::result::ZipResult<Self> {
        Ok(ZipMembers {
            archive: Some(ZipArchive::new(reader)?),
            ..ZipMembers::without_archive(limits)
        })
    }

    /// No archive yet: members are recovered from local headers, or none.
    fn without_archive(limits: ZipLimits) -> Self {
        ZipMembers {
            archive: None,
            recovered: HashMap::new(),
            broken: HashMap::new(),
            buf: Vec::new(),
            why: String::new(),
            next: 0,
            limits,
        }
    }

    /// The bytes of the member [`Members::get`] just returned as present,
    /// taken rather than copied.
    pub fn take_last(&mut self, name: &str) -> Vec<u8> {
        match self.archive {
            Some(_) => std::mem::take(&mut self.buf),
            None => self.recovered.remove(name).unwrap_or_default(),
        }
    }

    /// A reader over member `name`'s decompressed bytes (checked against
    /// its CRC at the end), for reading a large member line by line.
    pub fn stream(&mut self, name: &str) -> Option<zip::read::ZipFile<'_, R>> {
        self.archive.as_mut()?.by_name(name).ok()
    }
}

impl<'a> ZipMembers<Cursor<&'a [u8]>> {
    /// Opens the ZIP in `bytes`. When its central directory cannot be read,
    /// the members are recovered one local header after another, and the
    /// second value says what was wrong (a failure of the bundle file).
    pub fn open(bytes: &'a [u8], limits: ZipLimits) -> (Self, Option<String>) {
        let mut members = ZipMembers::without_archive(limits);
        match ZipArchive::new(Cursor::new(bytes)) {
            Ok(a) => {
                members.archive = Some(a);
                (members, None)
            }
            Err(e) => {
                let stop = members.recover(bytes);
                let damage = format!(
                    "not a complete ZIP file ({e}); {} members could be read from the start{}",
                    members.recovered.len(),
                    stop.map(|s| format!(" before: {s}")).unwrap_or_default()
                );
                (members, Some(damage))
            }
        }
    }

    /// Members read one local header after another, up to where the file
    /// is cut or damaged; why reading stopped, if it did.
    fn recover(&mut self, bytes: &[u8]) -> Option<String> {
        let mut cursor = Cursor::new(bytes);
        loop {
            match zip::read::read_zipfile_from_stream(&mut cursor) {
                Ok(Some(f)) => {
                    let name = f.name().to_string();
                    let mut b = Vec::new();
                    match read_capped(f, self.limits.of(&name), &mut b) {
                        Ok(()) => {
                            self.recovered.insert(name, b);
                        }
                        Err(e) => {
                            self.broken.insert(name.clone(), e.to_string());
                            return Some(format!(
                                "the file is cut or damaged in member {name}: {e}"
                            ));
                        }
                    }
                }
                Ok(None) => return None,
                Err(e) => return Some(e.to_string()),
            }
        }
    }
}

/// Verifies the bundle whose members are `members`, one line after another.
pub fn verify_zip<R: Read + Seek>(
    members: &mut ZipMembers<R>,
    trusted: &[&dyn NoteVerifier],
) -> Report {
    verify_zip_with_progress(members, trusted, &mut |_, _| {})
}

/// [`verify_zip`], telling `progress(done, total)` how many entries are
/// checked (`total` as the manifest counts them), after each member (a
/// command draws a bar from it).
pub fn verify_zip_with_progress<R: Read + Seek>(
    members: &mut ZipMembers<R>,
    trusted: &[&dyn NoteVerifier],
    progress: &mut dyn FnMut(u64, u64),
) -> Report {
    let mut v = Verifier::new(members, trusted);
    let total = v.expected_entries();
    let names: Vec<String> = match v.chunks() {
        Some(n) => {
            check_chunk_names(&mut v, members.names(), n);
            (0..n).map(chunk_member).collect()
        }
        None => vec![ENTRIES.to_owned()],
    };
    let mut extra = Vec::new();
    let mut done = 0;
    for name in names {
        v.start_member();
        let bytes = match members.get(&name) {
            Member::Present(_) => Some(members.take_last(&name)),
            Member::Absent => {
                extra.push((name.clone(), Problem::MemberMissing));
                None
            }
            Member::Unreadable(why) => {
                extra.push((name.clone(), Problem::MemberUnreadable(why.to_owned())));
                None
            }
        };
        for l in bytes.iter().flat_map(|b| b.split(|&c| c == b'\n')) {
            if !l.is_empty() {
                v.line(l, &name, members);
                done += 1;
            }
        }
        progress(done, total.max(done));
    }
    let mut report = v.finish();
    report
        .failures
        .extend(extra.into_iter().map(|(member, problem)| Failure {
            entry: None,
            member,
            problem,
        }));
    report
}

/// A bundle as ZIP bytes (stored or deflated members), for tests, seeds
/// and test vectors.
pub fn write_zip(
    members: &std::collections::BTreeMap<String, Vec<u8>>,
) -> Result<Vec<u8>, zip::result::ZipError> {
    use std::io::Write as _;
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        zip.start_file(name.as_str(), deflated)?;
        zip.write_all(bytes)?;
    }
    Ok(zip.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::synthetic::SyntheticLog;
    use crate::filter::EventFilter;

    fn small_bundle() -> (SyntheticLog, Vec<u8>) {
        let mut log = SyntheticLog::new("example.com/log").unwrap();
        for i in 0..6u64 {
            log.append(["a", "b"][(i % 2) as usize], Some("s"), "tool_call", 10 + i)
                .unwrap();
        }
        let q = EventFilter {
            agent: Some("a".into()),
            ..EventFilter::default()
        };
        let members = log.bundle(&q, true).unwrap();
        let zip = write_zip(&members).unwrap();
        (log, zip)
    }

    #[test]
    fn a_written_bundle_reads_back_and_verifies() {
        let (log, zip) = small_bundle();
        let v = log.verifier();
        let (mut m, damage) = ZipMembers::open(&zip, ZipLimits::default());
        assert_eq!(damage, None);
        let report = verify_zip(&mut m, &[&v as &dyn NoteVerifier]);
        assert!(report.ok(), "{:?}", report.failures);
        assert!(report.complete);
    }

    #[test]
    fn a_cut_file_is_recovered_member_by_member() {
        let (log, zip) = small_bundle();
        let v = log.verifier();
        let (mut m, damage) = ZipMembers::open(&zip[..zip.len() - 30], ZipLimits::default());
        assert!(damage.is_some_and(|d| d.contains("not a complete ZIP file")));
        // Every member sits before the central directory: all are recovered.
        let report = verify_zip(&mut m, &[&v as &dyn NoteVerifier]);
        assert!(report.ok(), "{:?}", report.failures);
    }

    /// A member past its cap is unreadable, whatever its header claims, and
    /// is never read beyond the cap.
    #[test]
    fn members_over_their_cap_are_unreadable() {
        let (log, zip) = small_bundle();
        let v = log.verifier();
        let tight = ZipLimits {
            entries: 64,
            chunk: 64,
            member: 1 << 20,
        };
        let (mut m, _) = ZipMembers::open(&zip, tight);
        let report = verify_zip(&mut m, &[&v as &dyn NoteVerifier]);
        assert!(
            report.failures.iter().any(|f| f.member == chunk_member(0)
                && matches!(&f.problem, Problem::MemberUnreadable(w) if w.contains("larger than 64 bytes"))),
            "{:?}",
            report.failures
        );
        let (mut m, _) = ZipMembers::open(
            &zip[..zip.len() - 30],
            ZipLimits {
                entries: 1 << 20,
                chunk: 1 << 20,
                member: 16,
            },
        );
        assert!(matches!(
            m.get(super::super::MANIFEST),
            Member::Unreadable(_) | Member::Absent
        ));
        // A bomb: 8 MiB of zeros deflate to a few kilobytes.
        let mut bomb = std::collections::BTreeMap::new();
        bomb.insert(ENTRIES.to_string(), vec![b'0'; 8 << 20]);
        let bytes = write_zip(&bomb).unwrap();
        assert!(bytes.len() < 64 << 10, "{}", bytes.len());
        let (mut m, _) = ZipMembers::open(&bytes, tight);
        assert!(matches!(m.get(ENTRIES), Member::Unreadable(w) if w.contains("larger than")));
        assert!(m.buf.capacity() < 1 << 20, "{}", m.buf.capacity());
    }
}
