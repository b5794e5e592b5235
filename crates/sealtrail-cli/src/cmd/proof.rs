//! `sealtrail proof INDEX`: the flags; fetching and the offline check are
//! sealtrail_offline's `proof`.

use std::path::PathBuf;
use std::process::ExitCode;

use sealtrail_offline::proof::ProofOptions;

use crate::remote::ServerArgs;

/// Fetch an entry's inclusion proof and optionally verify it offline.
#[derive(Debug, clap::Args)]
pub struct ProofArgs {
    /// Index of the entry.
    pub index: u64,
    /// Prove inclusion in the tree of this size (must be a signed checkpoint's
    /// size; default: the latest checkpoint).
    #[arg(long)]
    pub size: Option<u64>,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Verify offline: recompute the leaf hash from the header, check the
    /// checkpoint signature with --vkey and the inclusion path, and check the
    /// body against its commitment. Prints the verdict instead of the proof.
    #[arg(long)]
    pub verify: bool,
    /// The log's verifier key (`<name>+<key id>+<base64>`, printed by
    /// `sealtrail init`), or a file holding it; required with --verify.
    #[arg(long, env = "SEALTRAIL_VKEY", value_name = "VKEY")]
    pub vkey: Option<String>,
    /// Write the .tlog-proof text to FILE instead of printing it.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print one JSON object (entry, proof, verdict).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ProofArgs) -> anyhow::Result<ExitCode> {
    let vkey = sealtrail_offline::proof::trusted_vkey(args.vkey.as_deref(), args.verify)?;
    let client = args.server.client()?;
    let opts = ProofOptions {
        index: args.index,
        size: args.size,
        output: args.output,
        json: args.json,
    };
    Ok(sealtrail_offline::proof::run(&client, &opts, vkey)?)
}
