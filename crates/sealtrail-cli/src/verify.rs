//! `sealtrail verify --data DIR`: fsck of a store. Re-derives every hash from
//! the stored bytes and names each entry, body, stream link, tile node, head
//! or checkpoint that does not match.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use sealtrail_core::note::NoteVerifier;
use sealtrail_server::datadir::{self, Backend};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The data directory of the log to check (its log.key gives the
    /// verifier key; pass --vkey to check against a key you trust instead).
    #[arg(long)]
    data: PathBuf,
    /// The log's verifier key (vkey). Default: derived from DIR/log.key.
    #[arg(long, env = "SEALTRAIL_VKEY")]
    vkey: Option<String>,
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
    let verifier = match &a.vkey {
        Some(v) => sealtrail_core::note::Ed25519Verifier::from_vkey(v)
            .map_err(|e| anyhow::anyhow!("--vkey is not a valid verifier key: {e}"))?,
        None => datadir::load_signer(&a.data)?.verifier(),
    };
    let backend = match &a.database {
        None => Backend::Embedded,
        Some(url) => Backend::Postgres {
            url: url.clone(),
            schema: a.pg_schema.clone(),
        },
    };
    let store = datadir::open_store(&a.data, &backend)?;
    let report = sealtrail_store::fsck::check(store.as_ref(), &[&verifier as &dyn NoteVerifier])?;
    if a.json {
        let problems: Vec<_> = report
            .problems
            .iter()
            .map(|p| serde_json::json!({"location": p.location, "problem": p.what}))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "ok": report.ok(),
                "entries": report.entries,
                "bodies": report.bodies,
                "erased": report.erased,
                "checkpoints": report.checkpoints,
                "root": report.root.map(|r| r.to_base64()),
                "problems": problems,
            })
        );
    } else {
        for p in &report.problems {
            println!("FAIL {p}");
        }
        println!(
            "{}: {} entries ({} bodies, {} erased), {} checkpoints, root {}",
            if report.ok() { "OK" } else { "FAILED" },
            report.entries,
            report.bodies,
            report.erased,
            report.checkpoints,
            report.root.map(|r| r.to_base64()).unwrap_or_default()
        );
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
