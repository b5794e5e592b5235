//! `sealtrail verify BUNDLE`: offline verification of an evidence bundle
//! (docs/formats.md §9 and §10, docs/evidence.md). Reads the file through
//! its central directory in bounded memory ([`crate::bundle_file`], on
//! every core), or, when the ZIP is damaged and small enough, recovers its
//! members from memory with the core's reader (shared with the fuzz
//! target); prints every failure with the entry it concerns.
//!
//! Exit status: 0 the bundle verifies, 1 it does not (including a damaged or
//! truncated ZIP: what can still be read is checked and reported), 2 the
//! command could not run (no such file, a malformed key).

use std::path::Path;
use std::process::ExitCode;

use sealtrail_core::bundle::keys::{own_keys_text, parse_vkeys, OWN_KEY_WARNING};
use sealtrail_core::bundle::zip::ZipMembers;
use sealtrail_core::bundle::{verify_members, Failure, Members, Problem, Report};

use crate::bundle_file::{self, ReadOptions};
use sealtrail_core::note::{Ed25519Verifier, NoteVerifier};

use crate::error::OfflineError;
use crate::vkeys::key_arg_text;

/// The trusted keys: `--vkey` (a key or a file of keys), `--vkey-file`,
/// or else the bundle's own `keys/log.vkey` (with a warning).
fn trusted_keys(
    vkey: Option<&str>,
    vkey_file: Option<&Path>,
    members: &mut dyn Members,
    warnings: &mut Vec<String>,
) -> Result<Vec<Ed25519Verifier>, OfflineError> {
    let text = match (vkey, vkey_file) {
        (Some(v), _) => key_arg_text(v)?,
        (None, Some(f)) => std::fs::read_to_string(f).map_err(|cause| OfflineError::KeyFile {
            arg: f.display().to_string(),
            cause,
        })?,
        (None, None) => {
            warnings.push(format!(
                "no trusted key given (--vkey or --vkey-file): {OWN_KEY_WARNING}"
            ));
            own_keys_text(members)
        }
    };
    let keys = parse_vkeys(&text).map_err(|e| OfflineError::VkeyLine {
        line: e.line,
        cause: e.cause,
    })?;
    if keys.is_empty() && (vkey.is_some() || vkey_file.is_some()) {
        return Err(OfflineError::NoVkey);
    }
    Ok(keys)
}

/// A verification, given the members and the trusted keys.
type Check<'a> = dyn FnMut(&mut dyn Members, &[&dyn NoteVerifier]) -> Report + 'a;

/// The largest damaged bundle that is recovered member by member, in
/// memory; a larger one whose central directory cannot be read is reported
/// as such.
const RECOVER_MAX: u64 = 1 << 30;

/// `sealtrail verify BUNDLE`: checks the bundle at `path` against the
/// trusted keys and prints the report (one JSON object with `json`).
pub fn run(
    path: &Path,
    vkey: Option<&str>,
    vkey_file: Option<&Path>,
    json: bool,
) -> Result<ExitCode, OfflineError> {
    run_with_progress(
        path,
        vkey,
        vkey_file,
        json,
        ReadOptions::default(),
        &mut |_, _| {},
    )
}

/// [`run`] with reading options, telling `progress(done, total)` how many
/// of the bundle's entries are checked (the CLI draws a bar from it).
pub fn run_with_progress(
    path: &Path,
    vkey: Option<&str>,
    vkey_file: Option<&Path>,
    json: bool,
    opts: ReadOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ExitCode, OfflineError> {
    let read_err = |cause| OfflineError::Read {
        path: path.to_path_buf(),
        cause,
    };
    let len = std::fs::metadata(path).map_err(read_err)?.len();
    let mut warnings = Vec::new();
    let keys_then = |members: &mut dyn Members,
                     warnings: &mut Vec<String>,
                     check: &mut Check<'_>| {
        let keys = trusted_keys(vkey, vkey_file, members, warnings)?;
        let trusted: Vec<&dyn NoteVerifier> = keys.iter().map(|k| k as &dyn NoteVerifier).collect();
        Ok::<_, OfflineError>((check(members, &trusted), keys))
    };
    let checked = match bundle_file::open(path, opts.limits) {
        Ok(mut members) => keys_then(&mut members, &mut warnings, &mut |m, trusted| {
            bundle_file::verify(path, m, trusted, opts, progress)
        }),
        Err(e) if len > RECOVER_MAX => {
            // Damaged and too large to recover in memory: say so.
            let report = Report {
                failures: vec![Failure {
                    entry: None,
                    member: path.display().to_string(),
                    problem: Problem::MemberUnreadable(format!(
                        "not a ZIP file whose central directory can be read ({e}); a damaged file of {len} bytes is not recovered member by member (the limit is {RECOVER_MAX} bytes): download it again"
                    )),
                }],
                ..Report::default()
            };
            Ok((report, Vec::new()))
        }
        Err(_) => {
            let bytes = std::fs::read(path).map_err(read_err)?;
            let (mut members, damage) = ZipMembers::open(&bytes, opts.limits);
            let zip_failures = damage.map(|why| Failure {
                entry: None,
                member: path.display().to_string(),
                problem: Problem::MemberUnreadable(why),
            });
            keys_then(&mut members, &mut warnings, &mut |m, trusted| {
                let mut report = verify_members(m, trusted);
                report.failures.splice(0..0, zip_failures.clone());
                report
            })
        }
    };
    let (report, keys) = match checked {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
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
        "Entries: {} ({} matches, {} with bodies, {} erased); {} proven in the checkpoint",
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
