//! `sealtrail verify --data DIR`: fsck of a store. Re-derives every hash from
//! the stored bytes and names each entry, body, stream link, tile node, head
//! or checkpoint that does not match. Exit status: 0 clean, 1 problems found,
//! 2 the check could not run (docs/verify.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use sealtrail_core::note::NoteVerifier;
use sealtrail_keys::Backend;
use sealtrail_store::fsck::{self, Report};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// An evidence bundle (.zip) to verify offline (docs/evidence.md).
    #[arg(value_name = "BUNDLE", conflicts_with = "data")]
    bundle: Option<PathBuf>,
    /// The data directory of the log to check (its signing-keys.json, or
    /// log.key, gives the verifier keys; pass --vkey to check against a key
    /// you trust instead).
    #[arg(long, required_unless_present = "bundle")]
    data: Option<PathBuf>,
    /// The log's verifier key (vkey). Default: every key in DIR's history; for
    /// a bundle, its keys/log.vkey (with a warning).
    #[arg(long, env = "SEALTRAIL_VKEY")]
    vkey: Option<String>,
    /// A file holding the log's verifier key(s), one per line (bundles).
    #[arg(long, value_name = "FILE", conflicts_with = "vkey")]
    vkey_file: Option<PathBuf>,
    /// Check a log kept in PostgreSQL (the data directory then holds only the key).
    #[arg(long, env = "SEALTRAIL_DATABASE")]
    database: Option<String>,
    /// PostgreSQL schema of the log.
    #[arg(long, env = "SEALTRAIL_PG_SCHEMA", default_value = "sealtrail")]
    pg_schema: String,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(a: VerifyArgs) -> Result<ExitCode> {
    if let Some(bundle) = &a.bundle {
        return crate::verify_bundle::run(
            bundle,
            a.vkey.as_deref(),
            a.vkey_file.as_deref(),
            a.json,
        );
    }
    let report = check_store(&a)?;
    print_store_report(&report, a.json);
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// fsck of the store in `--data` (or PostgreSQL). An `Err` means the check
/// could not run (exit 2), not that the store is bad.
fn check_store(a: &VerifyArgs) -> Result<Report> {
    // clap requires --data when no bundle is given.
    let data = a.data.clone().unwrap_or_default();
    let keys = match &a.vkey {
        Some(v) => vec![sealtrail_core::note::Ed25519Verifier::from_vkey(v)
            .map_err(|e| anyhow::anyhow!("--vkey is not a valid verifier key: {e}"))?],
        // Every key the log has had (signing-keys.json), so that checkpoints
        // signed before a rotation verify too.
        None => sealtrail_keys::history_verifiers(&data)?,
    };
    let verifiers: Vec<&dyn NoteVerifier> = keys.iter().map(|v| v as &dyn NoteVerifier).collect();
    Ok(match &a.database {
        // Read-only: opening the store for writing would cut off and so
        // destroy bytes past the committed end of a segment.
        None => fsck::check_embedded(&data, &verifiers)
            .with_context(|| format!("cannot check the store in {}", data.display()))?,
        Some(url) => {
            let backend = Backend::Postgres {
                url: url.clone(),
                schema: a.pg_schema.clone(),
            };
            let store = sealtrail_keys::open_store(&data, &backend)?;
            fsck::check(store.as_ref(), &verifiers)?
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
