//! `sealtrail migrate`: copy an embedded log into PostgreSQL and prove the copy.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use sealtrail_core::note::NoteVerifier;
use sealtrail_keys::Backend;
use sealtrail_store::copy::copy_log;

use crate::output::progress;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The embedded log's data directory (its log.key proves the copy).
    #[arg(long)]
    from: PathBuf,
    /// The PostgreSQL URL to copy into (the schema must be empty).
    #[arg(long)]
    to: String,
    /// PostgreSQL schema for the copied log.
    #[arg(long, env = "SEALTRAIL_PG_SCHEMA", default_value = "sealtrail")]
    pg_schema: String,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(a: MigrateArgs) -> Result<ExitCode> {
    // Every key the log has had (its checkpoints may predate a rotation).
    let keys = sealtrail_keys::history_verifiers(&a.from)?;
    let verifiers: Vec<&dyn NoteVerifier> = keys.iter().map(|v| v as &dyn NoteVerifier).collect();
    let origin = match sealtrail_keys::read_history(&a.from)? {
        Some(h) => h.origin,
        None => {
            use sealtrail_core::note::NoteSigner;
            sealtrail_keys::load_signer(&a.from)?.name().to_string()
        }
    };
    let from = sealtrail_keys::open_store(&a.from, &Backend::Embedded)?;
    let to = sealtrail_keys::open_store(
        &a.from,
        &Backend::Postgres {
            url: a.to.clone(),
            schema: a.pg_schema.clone(),
        },
    )?;
    let bar = progress::bar("entries copied", a.json);
    let copied = copy_log(
        from.as_ref(),
        to.as_ref(),
        &verifiers,
        progress::reporter(&bar),
    );
    bar.finish_and_clear();
    let report = copied.context(
        "migration failed; the target schema may hold a partial copy: drop it before retrying",
    )?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "entries": report.entries,
                "checkpoints": report.checkpoints,
                "api_keys": report.api_keys,
                "root": report.root.to_base64(),
                "origin": origin,
                "verified": true,
            })
        );
    } else {
        println!(
            "migrated {} entries, {} checkpoints and {} API keys of {} into schema {:?}",
            report.entries, report.checkpoints, report.api_keys, origin, a.pg_schema
        );
        println!(
            "proven: same root {} at size {}, every checkpoint re-derived from the copied entries, fsck clean",
            report.root.to_base64(),
            report.entries
        );
    }
    Ok(ExitCode::SUCCESS)
}
