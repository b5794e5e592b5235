//! `sealtrail scan FILE`: the flags; the scan is sealtrail_offline's
//! (docs/pii.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use sealtrail_offline::scan::ScanOptions;

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The file: `.json` (one event), `.jsonl`/`.ndjson` (one per line), or
    /// any text; `-` reads stdin as text.
    file: PathBuf,
    /// Print one JSON finding per line (the default when piped).
    #[arg(long)]
    json: bool,
    /// Show the redacted events under this policy (JSON, docs/pii.md)
    /// instead of the findings. Hashes use a throwaway key unless
    /// --key-file is given.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// The key for `hash` actions (e.g. a data directory's pii.key).
    #[arg(long, requires = "policy")]
    key_file: Option<PathBuf>,
}

pub fn run(a: ScanArgs) -> Result<ExitCode> {
    Ok(sealtrail_offline::scan::run(&ScanOptions {
        file: a.file,
        json: a.json,
        policy: a.policy,
        key_file: a.key_file,
    })?)
}
