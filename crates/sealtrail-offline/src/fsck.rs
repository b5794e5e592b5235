//! `sealtrail verify --data DIR`: fsck of a store. Re-derives every hash from
//! the stored bytes and names each entry, body, stream link, tile node, head
//! or checkpoint that does not match. Exit status: 0 clean, 1 problems found,
//! 2 the check could not run (docs/verify.md).

use std::path::PathBuf;
use std::process::ExitCode;

use sealtrail_core::note::{Ed25519Verifier, NoteVerifier};
use sealtrail_keys::Backend;
use sealtrail_store::fsck::{self, Report};

use crate::error::OfflineError;

/// What to check and how to report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreCheck {
    /// The data directory of the log: its signing-keys.json (or log.key)
    /// gives the verifier keys unless `vkey` is given.
    pub data: PathBuf,
    /// A verifier key the caller trusts, instead of the directory's keys.
    pub vkey: Option<String>,
    /// A PostgreSQL URL when the log is kept there.
    pub database: Option<String>,
    /// The PostgreSQL schema of the log.
    pub pg_schema: String,
    /// Print the report as one JSON object.
    pub json: bool,
}

/// Checks the store and prints the report; exit status 0 when it is
/// clean, 1 when problems were found.
pub fn run(a: &StoreCheck) -> Result<ExitCode, OfflineError> {
    run_with_progress(a, &mut |_, _| {})
}

/// [`run`], telling `progress(done, total)` how many entries are scanned
/// (the CLI draws a bar from it).
pub fn run_with_progress(
    a: &StoreCheck,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ExitCode, OfflineError> {
    let report = check_store(a, progress)?;
    print_store_report(&report, a.json);
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// fsck of the store in `data` (or PostgreSQL). An `Err` means the check
/// could not run (exit 2), not that the store is bad.
fn check_store(a: &StoreCheck, progress: &mut dyn FnMut(u64, u64)) -> Result<Report, OfflineError> {
    let data = &a.data;
    let keys =
        match &a.vkey {
            Some(v) => vec![Ed25519Verifier::from_vkey(v)
                .map_err(|cause| OfflineError::VkeyOption { cause })?],
            // Every key the log has had (signing-keys.json), so that checkpoints
            // signed before a rotation verify too.
            None => sealtrail_keys::history_verifiers(data)?,
        };
    let verifiers: Vec<&dyn NoteVerifier> = keys.iter().map(|v| v as &dyn NoteVerifier).collect();
    Ok(match &a.database {
        // Read-only: opening the store for writing would cut off and so
        // destroy bytes past the committed end of a segment.
        None => {
            fsck::check_embedded_with_progress(data, &verifiers, progress).map_err(|cause| {
                OfflineError::Fsck {
                    data: data.clone(),
                    cause,
                }
            })?
        }
        Some(url) => {
            let backend = Backend::Postgres {
                url: url.clone(),
                schema: a.pg_schema.clone(),
            };
            let store = sealtrail_keys::open_store(data, &backend)?;
            fsck::check_with_progress(store.as_ref(), &verifiers, progress)?
        }
    })
}

fn print_store_report(report: &Report, json: bool) {
    if json {
        let items = |list: &[fsck::Problem]| -> Vec<serde_json::Value> {
            list.iter()
                .map(|p| serde_json::json!({"location": p.location, "code": p.code, "problem": p.what}))
                .collect()
        };
        println!(
            "{}",
            serde_json::json!({
                "ok": report.ok(),
                "entries": report.entries,
                "bodies": report.bodies,
                "erased": report.erased,
                "checkpoints": report.checkpoints,
                "root": report.root.map(|r| r.to_base64()),
                "problems": items(&report.problems),
                "unlisted_problems": report.unlisted,
                "warnings": items(&report.warnings),
            })
        );
        return;
    }
    for p in &report.problems {
        println!("FAIL {p}");
    }
    if report.unlisted > 0 {
        println!("FAIL … and {} more problems not listed", report.unlisted);
    }
    for w in &report.warnings {
        println!("WARN {w}");
    }
    println!(
        "{}: {} entries ({} bodies, {} erased), {} checkpoints, root {}{}",
        if report.ok() { "OK" } else { "FAILED" },
        report.entries,
        report.bodies,
        report.erased,
        report.checkpoints,
        report.root.map(|r| r.to_base64()).unwrap_or_default(),
        if report.ok() {
            String::new()
        } else {
            format!("; {} problems", report.problem_count())
        }
    );
}
