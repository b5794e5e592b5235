//! `sealtrail verify BUNDLE` and `sealtrail verify --data DIR`: the flags;
//! the checks are sealtrail_offline's `bundle` and `fsck` (docs/verify.md),
//! with a progress bar on a terminal.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use sealtrail_offline::bundle_file::ReadOptions;
use sealtrail_offline::fsck::StoreCheck;

use crate::output::progress;

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
    /// Threads checking a bundle's entries (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
}

pub fn run(a: VerifyArgs) -> Result<ExitCode> {
    let bar = progress::bar("entries", a.json);
    let code = if let Some(bundle) = &a.bundle {
        let mut opts = ReadOptions::default();
        if let Some(t) = a.threads {
            opts.threads = usize::from(t);
        }
        sealtrail_offline::bundle::run_with_progress(
            bundle,
            a.vkey.as_deref(),
            a.vkey_file.as_deref(),
            a.json,
            opts,
            &mut progress::reporter(&bar),
        )
    } else {
        sealtrail_offline::fsck::run_with_progress(
            &StoreCheck {
                // clap requires --data when no bundle is given.
                data: a.data.unwrap_or_default(),
                vkey: a.vkey,
                database: a.database,
                pg_schema: a.pg_schema,
                json: a.json,
            },
            &mut progress::reporter(&bar),
        )
    };
    bar.finish_and_clear();
    Ok(code?)
}
