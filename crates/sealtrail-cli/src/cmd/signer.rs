//! `sealtrail signer` (the reference external signer for `serve
//! --signer-command`) and `sealtrail signing-key rotate|list`: the flags;
//! the commands are sealtrail_offline's `signer` and `signing_key`.
//! Protocol and procedures: docs/deploy.md, "Signing keys".

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use sealtrail_offline::signer::SignerAction as Action;
use sealtrail_offline::signing_key::parse_overlap;

#[derive(Debug, Args)]
pub struct SignerArgs {
    /// The private key file (C2SP `PRIVATE+KEY+<name>+<id>+<key>`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// `vkey`: print the verifier key. `sign`: read a checkpoint's note text
    /// on stdin, print its base64 Ed25519 signature.
    #[arg(value_enum)]
    action: SignerAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignerAction {
    Vkey,
    Sign,
}

/// `sealtrail signer --key FILE (vkey|sign)`. It signs only checkpoint text
/// whose origin is the key's name, so the key cannot be made to sign
/// anything else.
pub fn run_signer(a: SignerArgs) -> Result<ExitCode> {
    let action = match a.action {
        SignerAction::Vkey => Action::Vkey,
        SignerAction::Sign => Action::Sign,
    };
    Ok(sealtrail_offline::signer::run(&a.key, action)?)
}

#[derive(Debug, Subcommand)]
pub enum SigningKeyCommand {
    /// Generate a new signing key for the log in --data; the current key keeps
    /// co-signing checkpoints until the overlap ends. A running server picks
    /// the new key up at its next checkpoint.
    Rotate(RotateArgs),
    /// The log's signing keys: primary, overlap and retired, with times.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Data directory of the log.
    #[arg(long, env = "SEALTRAIL_DATA", default_value = "sealtrail-data")]
    data: PathBuf,
    /// How long the old key keeps signing next to the new one (e.g. 24h,
    /// 7d, 30m; 0 stops it at once).
    #[arg(long, default_value = "24h", value_parser = parse_overlap)]
    overlap: Duration,
    /// Print the rotation as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Data directory of the log.
    #[arg(long, env = "SEALTRAIL_DATA", default_value = "sealtrail-data")]
    data: PathBuf,
    /// Print the history as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run_signing_key(c: SigningKeyCommand) -> Result<ExitCode> {
    Ok(match c {
        SigningKeyCommand::Rotate(a) => {
            sealtrail_offline::signing_key::rotate(&a.data, a.overlap, a.json)?
        }
        SigningKeyCommand::List(a) => sealtrail_offline::signing_key::list(&a.data, a.json)?,
    })
}
