//! `sealtrail verify BUNDLE`: offline verification of an evidence bundle
//! (docs/formats.md §9, docs/evidence.md). Reads the file, hands it to the
//! core's ZIP reader and verifier (`sealtrail_core::bundle::zip`, shared
//! with the fuzz target) and prints every failure with the entry it concerns.
//!
//! Exit status: 0 the bundle verifies, 1 it does not (including a damaged or
//! truncated ZIP: what can still be read is checked and reported), 2 the
//! command could not run (no such file, a malformed key).

use std::path::Path;
use std::process::ExitCode;

use sealtrail_core::bundle::zip::{verify_zip_with_progress, ZipLimits, ZipMembers};
use sealtrail_core::bundle::{Failure, Member, Members, Problem, Report, KEYS};
use sealtrail_core::note::{Ed25519Verifier, NoteVerifier};

use crate::error::OfflineError;
use crate::vkeys::key_arg_text;

/// The trusted keys: `--vkey` (a key or a file of keys), `--vkey-file`,
/// or else the bundle's own `keys/log.vkey` (with a warning).
fn trusted_keys(
    vkey: Option<&str>,
    vkey_file: Option<&Path>,
    members: &mut ZipMembers<'_>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Ed25519Verifier>, OfflineError> {
    let text = match (vkey, vkey_file) {
        (Some(v), _) => key_arg_text(v)?,
        (None, Some(f)) => std::fs::read_to_string(f).map_err(|cause| OfflineError::KeyFile {
            arg: f.display().to_string(),
            cause,
        })?,
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
            Ed25519Verifier::from_vkey(l).map_err(|cause| OfflineError::VkeyLine {
                line: l.to_string(),
                cause,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() && (vkey.is_some() || vkey_file.is_some()) {
        return Err(OfflineError::NoVkey);
    }
    Ok(keys)
}

/// `sealtrail verify BUNDLE`: checks the bundle at `path` against the
/// trusted keys and prints the report (one JSON object with `json`).
pub fn run(
    path: &Path,
    vkey: Option<&str>,
    vkey_file: Option<&Path>,
    json: bool,
) -> Result<ExitCode, OfflineError> {
    run_with_progress(path, vkey, vkey_file, json, &mut |_, _| {})
}

/// [`run`], telling `progress(done, total)` how many of the bundle's
/// entries are checked (the CLI draws a bar from it).
pub fn run_with_progress(
    path: &Path,
    vkey: Option<&str>,
    vkey_file: Option<&Path>,
    json: bool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ExitCode, OfflineError> {
    let bytes = std::fs::read(path).map_err(|cause| OfflineError::Read {
        path: path.to_path_buf(),
        cause,
    })?;
    let mut warnings = Vec::new();
    let (mut members, damage) = ZipMembers::open(&bytes, ZipLimits::default());
    let zip_failures: Vec<Failure> = damage
        .map(|why| Failure {
            entry: None,
            member: path.display().to_string(),
            problem: Problem::MemberUnreadable(why),
        })
        .into_iter()
        .collect();
    let keys = match trusted_keys(vkey, vkey_file, &mut members, &mut warnings) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let trusted: Vec<&dyn NoteVerifier> = keys.iter().map(|k| k as &dyn NoteVerifier).collect();
    let mut report = verify_zip_with_progress(&mut members, &trusted, progress);
    report.failures.splice(0..0, zip_failures);
    print(&report, &warnings, &keys, json);
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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
