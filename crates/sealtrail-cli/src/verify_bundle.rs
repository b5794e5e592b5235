//! `sealtrail verify BUNDLE`: offline verification of an evidence bundle
//! (docs/formats.md §9, docs/evidence.md). Reads the ZIP, hands its members to
//! the core verifier and prints every failure with the entry it concerns.
//!
//! Exit status: 0 the bundle verifies, 1 it does not (including a damaged or
//! truncated ZIP: what can still be read is checked and reported), 2 the
//! command could not run (no such file, a malformed key).

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use sealtrail_core::bundle::{Failure, Member, Members, Problem, Report, Verifier, ENTRIES, KEYS};
use sealtrail_core::note::{Ed25519Verifier, NoteVerifier};
use zip::ZipArchive;

/// The bundle's members: through the ZIP's central directory, or, when
/// that is damaged (a truncated file), as recovered by reading the local
/// headers from the start.
struct ZipMembers<'a> {
    archive: Option<ZipArchive<Cursor<&'a [u8]>>>,
    recovered: HashMap<String, Vec<u8>>,
    /// Members listed but unreadable, with the reason.
    broken: HashMap<String, String>,
    buf: Vec<u8>,
    why: String,
    /// The member after the last one read.
    next: usize,
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
        self.next = at + 1;
        let read = match archive.by_index(at) {
            Ok(mut f) => f.read_to_end(&mut self.buf).map(|_| ()),
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

impl ZipMembers<'_> {
    /// The bytes of the member [`Members::get`] just returned as present.
    fn take_last(&mut self, name: &str) -> Vec<u8> {
        match self.archive {
            Some(_) => std::mem::take(&mut self.buf),
            None => self.recovered.remove(name).unwrap_or_default(),
        }
    }
}

/// What could be read of a damaged ZIP: the members, those cut short
/// (with the reason), and why reading stopped, if it did.
type Recovered = (
    HashMap<String, Vec<u8>>,
    HashMap<String, String>,
    Option<String>,
);

/// Members read one local header after another, up to where the file is
/// cut or damaged.
fn recover(bytes: &[u8]) -> Recovered {
    let mut cursor = Cursor::new(bytes);
    let mut members = HashMap::new();
    let mut broken = HashMap::new();
    loop {
        match zip::read::read_zipfile_from_stream(&mut cursor) {
            Ok(Some(mut f)) => {
                let name = f.name().to_string();
                let mut b = Vec::new();
                match f.read_to_end(&mut b) {
                    Ok(_) => {
                        members.insert(name, b);
                    }
                    Err(e) => {
                        broken.insert(name.clone(), e.to_string());
                        return (
                            members,
                            broken,
                            Some(format!("the file is cut or damaged in member {name}: {e}")),
                        );
                    }
                }
            }
            Ok(None) => return (members, broken, None),
            Err(e) => return (members, broken, Some(e.to_string())),
        }
    }
}

/// The trusted keys: `--vkey` (a key or a file of keys), `--vkey-file`,
/// or else the bundle's own `keys/log.vkey` (with a warning).
fn trusted_keys(
    vkey: Option<&str>,
    vkey_file: Option<&Path>,
    members: &mut ZipMembers<'_>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Ed25519Verifier>> {
    let text = match (vkey, vkey_file) {
        (Some(v), _) => {
            let v = v.trim();
            let path = Path::new(v);
            if !v.contains('+') && path.is_file() {
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the key file {v}"))?
            } else {
                v.to_string()
            }
        }
        (None, Some(f)) => std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the key file {}", f.display()))?,
        (None, None) => {
            warnings.push(
                "no trusted key given (--vkey or --vkey-file): checking against the key inside the bundle, which proves only that the bundle is consistent with itself, not that the log's operator signed it".into(),
            );
            match members.get(KEYS) {
                Member::Present(b) => String::from_utf8_lossy(b).into_owned(),
                _ => String::new(),
            }
        }
    };
    let keys = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            Ed25519Verifier::from_vkey(l)
                .map_err(|e| anyhow::anyhow!("{l:?} is not a valid verifier key: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    if keys.is_empty() && (vkey.is_some() || vkey_file.is_some()) {
        anyhow::bail!("no verifier key found in the given key or file");
    }
    Ok(keys)
}

pub fn run(
    path: &Path,
    vkey: Option<&str>,
    vkey_file: Option<&Path>,
    json: bool,
) -> Result<ExitCode> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut warnings = Vec::new();
    let mut zip_failures = Vec::new();
    let mut members = match ZipArchive::new(Cursor::new(&bytes[..])) {
        Ok(a) => ZipMembers {
            archive: Some(a),
            recovered: HashMap::new(),
            broken: HashMap::new(),
            buf: Vec::new(),
            why: String::new(),
            next: 0,
        },
        Err(e) => {
            let (recovered, broken, stop) = recover(&bytes);
            zip_failures.push(Failure {
                entry: None,
                member: path.display().to_string(),
                problem: Problem::MemberUnreadable(format!(
                    "not a complete ZIP file ({e}); {} members could be read from the start{}",
                    recovered.len(),
                    stop.map(|s| format!(" before: {s}")).unwrap_or_default()
                )),
            });
            ZipMembers {
                archive: None,
                recovered,
                broken,
                buf: Vec::new(),
                why: String::new(),
                next: 0,
            }
        }
    };
    let keys = match trusted_keys(vkey, vkey_file, &mut members, &mut warnings) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let trusted: Vec<&dyn NoteVerifier> = keys.iter().map(|k| k as &dyn NoteVerifier).collect();
    let mut report = verify(&mut members, &trusted);
    report.failures.splice(0..0, zip_failures);
    print(&report, &warnings, &keys, json);
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Reads `entries.jsonl` and feeds its lines to the verifier.
fn verify(members: &mut ZipMembers<'_>, trusted: &[&dyn NoteVerifier]) -> Report {
    let mut v = Verifier::new(members, trusted);
    let mut extra = Vec::new();
    // One copy of the decompressed lines, so that proofs can be read from
    // the same archive while they are checked.
    let entries = match members.get(ENTRIES) {
        // Taken out of the reader's buffer, not copied: it can be large.
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
    for l in entries.iter().flat_map(|e| e.split(|&b| b == b'\n')) {
        if !l.is_empty() {
            v.line(l, members);
        }
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

fn print(report: &Report, warnings: &[String], keys: &[Ed25519Verifier], json: bool) {
    if json {
        let mut v = report.to_json();
        v["warnings"] = serde_json::json!(warnings);
        v["trusted_keys"] = serde_json::json!(keys.iter().map(|k| k.to_vkey()).collect::<Vec<_>>());
        println!("{v}");
        return;
    }
    for w in warnings {
        eprintln!("WARNING: {w}");
    }
    for f in &report.failures {
        println!("FAIL {f}");
    }
    match &report.checkpoint {
        Some(c) => println!(
            "Checkpoint: {} size {} root {} ({})",
            c.origin,
            c.size,
            c.root.to_base64(),
            if report.checkpoint_signed {
                "signature verified"
            } else {
                "SIGNATURE NOT VERIFIED"
            }
        ),
        None => println!("Checkpoint: unreadable"),
    }
    if let Some(m) = &report.manifest {
        println!("Query: {}", m.query.describe());
    }
    let c = report.counts;
    println!(
        "Entries: {} ({} matches, {} with bodies, {} erased); {} inclusion proofs verified",
        c.entries, c.matches, c.bodies, c.erased, report.proven
    );
    let statement = report
        .manifest
        .as_ref()
        .map(|m| m.completeness.statement.clone())
        .unwrap_or_default();
    match (&report.claim, report.complete) {
        (Some(claim), true) => println!("Completeness: PROVEN ({claim}). {statement}"),
        (Some(claim), false) => {
            println!("Completeness: claimed for {claim} but NOT PROVEN (see the failures above)")
        }
        (None, _) => println!("Completeness: not claimed. {statement}"),
    }
    if report.ok() {
        println!("PASS: every check holds");
    } else {
        println!("FAIL: {} problem(s) found", report.failures.len());
    }
}
