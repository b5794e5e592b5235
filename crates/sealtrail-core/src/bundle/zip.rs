//! Reading a bundle's ZIP file held in memory (feature `zip`): its members
//! through the central directory, or, when that is damaged (a truncated
//! download), as recovered from the local headers, and the verification of
//! the whole. `sealtrail verify BUNDLE` and the `bundle` fuzz target use
//! exactly this code.
//!
//! Every member is read with a size cap ([`ZipLimits`]): a bundle is
//! untrusted input, and a few kilobytes of deflate can claim gigabytes. A
//! member over its cap is reported unreadable, never read whole.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use zip::ZipArchive;

use super::verify::{Failure, Problem, Report, Verifier};
use super::{Member, Members, ENTRIES};
use crate::note::NoteVerifier;

/// Largest decompressed size read of each member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipLimits {
    /// `entries.jsonl`, which grows with the query's answer.
    pub entries: u64,
    /// Every other member: the manifest, checkpoint, keys, completeness
    /// file, README and each proof are kilobytes in a real bundle.
    pub member: u64,
}

impl Default for ZipLimits {
    /// What `sealtrail verify` allows: `entries.jsonl` up to 64 GiB (a
    /// bundle is read into memory whole, so the machine is the real limit),
    /// every other member up to 64 MiB.
    fn default() -> Self {
        ZipLimits {
            entries: 64 << 30,
            member: 64 << 20,
        }
    }
}

impl ZipLimits {
    fn of(&self, name: &str) -> u64 {
        if name == ENTRIES {
            self.entries
        } else {
            self.member
        }
    }
}

/// Reads at most `cap` bytes of `r` into `out`; an error naming the cap when
/// there is more.
fn read_capped(r: impl Read, cap: u64, out: &mut Vec<u8>) -> std::io::Result<()> {
    r.take(cap.saturating_add(1)).read_to_end(out)?;
    if out.len() as u64 > cap {
        out.clear();
        return Err(std::io::Error::other(format!(
            "larger than {cap} bytes decompressed, the most this reader accepts for it"
        )));
    }
    Ok(())
}

/// A bundle's members, read from its ZIP bytes on demand.
pub struct ZipMembers<'a> {
    archive: Option<ZipArchive<Cursor<&'a [u8]>>>,
    recovered: HashMap<String, Vec<u8>>,
    /// Members listed but unreadable, with the reason.
    broken: HashMap<String, String>,
    buf: Vec<u8>,
    why: String,
    /// The member after the last one read.
    next: usize,
    limits: ZipLimits,
}

impl Members for ZipMembers<'_> {
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

impl<'a> ZipMembers<'a> {
    /// Opens the ZIP in `bytes`. When its central directory cannot be read,
    /// the members are recovered one local header after another, and the
    /// second value says what was wrong (a failure of the bundle file).
    pub fn open(bytes: &'a [u8], limits: ZipLimits) -> (ZipMembers<'a>, Option<String>) {
        let mut members = ZipMembers {
            archive: None,
            recovered: HashMap::new(),
            broken: HashMap::new(),
            buf: Vec::new(),
            why: String::new(),
            next: 0,
            limits,
        };
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

    /// The bytes of the member [`Members::get`] just returned as present,
    /// taken rather than copied (`entries.jsonl` can be large).
    pub fn take_last(&mut self, name: &str) -> Vec<u8> {
        match self.archive {
            Some(_) => std::mem::take(&mut self.buf),
            None => self.recovered.remove(name).unwrap_or_default(),
        }
    }
}

/// Verifies the bundle whose members are `members`: reads `entries.jsonl`
/// once and feeds its lines to the verifier, reading proofs from the same
/// archive as it goes.
pub fn verify_zip(members: &mut ZipMembers<'_>, trusted: &[&dyn NoteVerifier]) -> Report {
    verify_zip_with_progress(members, trusted, &mut |_, _| {})
}

/// [`verify_zip`], telling `progress(done, total)` how many of the
/// entries' lines are checked, after each one (a command draws a bar from it).
pub fn verify_zip_with_progress(
    members: &mut ZipMembers<'_>,
    trusted: &[&dyn NoteVerifier],
    progress: &mut dyn FnMut(u64, u64),
) -> Report {
    let mut v = Verifier::new(members, trusted);
    let mut extra = Vec::new();
    let entries = match members.get(ENTRIES) {
        Member::Present(_) => Some(members.take_last(ENTRIES)),
        Member::Absent => {
            extra.push((ENTRIES, Problem::MemberMissing));
            None
        }
        Member::Unreadable(why) => {
            extra.push((ENTRIES, Problem::MemberUnreadable(why.to_owned())));
            None
        }
    };
    let lines = || {
        entries
            .iter()
            .flat_map(|e| e.split(|&b| b == b'\n'))
            .filter(|l| !l.is_empty())
    };
    let total = lines().count() as u64;
    for (done, l) in (1..).zip(lines()) {
        v.line(l, members);
        progress(done, total);
    }
    let mut report = v.finish();
    report
        .failures
        .extend(extra.into_iter().map(|(member, problem)| Failure {
            entry: None,
            member: member.into(),
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
            member: 1 << 20,
        };
        let (mut m, _) = ZipMembers::open(&zip, tight);
        let report = verify_zip(&mut m, &[&v as &dyn NoteVerifier]);
        assert!(
            report.failures.iter().any(|f| f.member == ENTRIES
                && matches!(&f.problem, Problem::MemberUnreadable(w) if w.contains("larger than 64 bytes"))),
            "{:?}",
            report.failures
        );
        let (mut m, _) = ZipMembers::open(
            &zip[..zip.len() - 30],
            ZipLimits {
                entries: 1 << 20,
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
