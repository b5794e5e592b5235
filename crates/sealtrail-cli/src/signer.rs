//! `sealtrail signer`: a reference external signer for `serve
//! --signer-command` (the key stays in a file the server need not be able to
//! read, e.g. under another user through sudo), and `sealtrail signing-key
//! rotate|list`: offline rotation and the key history of a data directory.
//! Protocol and procedures: docs/deploy.md, "Signing keys".

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clap::{Args, Subcommand, ValueEnum};
use sealtrail_core::checkpoint::Checkpoint;
use sealtrail_core::note::{NoteSigner, MAX_NOTE_SIZE};
use sealtrail_keys::{self as signing, KeyHistoryEntry};
use sealtrail_server::query::format_time;

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
    if let Ok(m) = std::fs::metadata(&a.key) {
        if m.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "warning: {} is readable by other users (mode {:o}); chmod 600 it",
                a.key.display(),
                m.permissions().mode() & 0o777
            );
        }
    }
    let signer = signing::read_skey(&a.key)?;
    match a.action {
        SignerAction::Vkey => println!("{}", signer.vkey()),
        SignerAction::Sign => {
            let mut text = Vec::new();
            std::io::stdin()
                .take(MAX_NOTE_SIZE as u64 + 1)
                .read_to_end(&mut text)
                .context("cannot read the note text from stdin")?;
            if text.len() > MAX_NOTE_SIZE {
                bail!("the note text is larger than {MAX_NOTE_SIZE} bytes");
            }
            let text = std::str::from_utf8(&text).context("the note text is not UTF-8")?;
            let cp = Checkpoint::parse(text)
                .map_err(|e| anyhow::anyhow!("refusing to sign: not a checkpoint: {e}"))?;
            if cp.origin != signer.name() {
                bail!(
                    "refusing to sign: the checkpoint's origin is {:?}, this key is for {:?}",
                    cp.origin,
                    signer.name()
                );
            }
            println!("{}", STANDARD.encode(signer.sign(text.as_bytes())));
        }
    }
    Ok(ExitCode::SUCCESS)
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
    match c {
        SigningKeyCommand::Rotate(a) => rotate(a),
        SigningKeyCommand::List(a) => list(a),
    }
}

fn rotate(a: RotateArgs) -> Result<ExitCode> {
    check_data_dir(&a.data)?;
    let now = sealtrail_server::clock::now_micros();
    let r = signing::rotate_offline(&a.data, a.overlap, now)?;
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("Rotated the signing key of {}", r.origin);
    println!("  old key: {}", r.old_vkey);
    println!("  new key: {}", r.new_vkey);
    match r.overlap_until {
        Some(u) => println!(
            "The old key co-signs checkpoints until {}; give verifiers the new key before then.",
            format_time(u)
        ),
        None => println!("The old key no longer signs."),
    }
    Ok(ExitCode::SUCCESS)
}

fn list(a: ListArgs) -> Result<ExitCode> {
    check_data_dir(&a.data)?;
    let now = sealtrail_server::clock::now_micros();
    let Some(h) = signing::read_history(&a.data)? else {
        // A data directory the server has not started on since key
        // histories exist: its log.key is the only key.
        let v = signing::history_verifiers(&a.data)?;
        let vkeys: Vec<String> = v.iter().map(|v| v.to_vkey()).collect();
        if a.json {
            println!("{}", serde_json::json!({"keys": vkeys, "history": null}));
        } else {
            for k in vkeys {
                println!("primary  {k}  (no history yet: it is written at the next start)");
            }
        }
        return Ok(ExitCode::SUCCESS);
    };
    let keys = h.as_of(now);
    if a.json {
        println!(
            "{}",
            serde_json::json!({"v": h.v, "origin": h.origin, "keys": keys})
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("origin: {}", h.origin);
    for k in &keys {
        println!("{}", describe(k));
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(k: &KeyHistoryEntry) -> String {
    let role = serde_json::to_value(k.role)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut s = format!(
        "{:<8} {}  {}  since {}",
        role,
        k.key_id,
        k.source.as_str(),
        format_time(k.created)
    );
    if let Some(u) = k
        .overlap_until
        .filter(|_| k.role != signing::KeyRole::Retired)
    {
        s.push_str(&format!("  co-signs until {}", format_time(u)));
    }
    if let Some(r) = k.retired {
        s.push_str(&format!("  retired {}", format_time(r)));
    }
    s.push_str(&format!("\n         {}", k.vkey));
    s
}

fn check_data_dir(data: &Path) -> Result<()> {
    if !data.is_dir() {
        bail!("{} is not a directory", data.display());
    }
    Ok(())
}

/// `24h`, `7d`, `30m`, `90s`, `0`, or a bare number of seconds.
fn parse_overlap(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {s:?}; use s, m, h or d (e.g. 24h)"
            ))
        }
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 24h, 7d, 30m)"))?;
    Duration::try_from_secs_f64(n * scale).map_err(|_| format!("{s:?} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlaps() {
        assert_eq!(parse_overlap("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_overlap("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_overlap("0"), Ok(Duration::ZERO));
        assert_eq!(parse_overlap("1.5m"), Ok(Duration::from_secs(90)));
        assert!(parse_overlap("3w").is_err());
        assert!(parse_overlap("-1h").is_err());
        assert!(parse_overlap("").is_err());
    }
}
