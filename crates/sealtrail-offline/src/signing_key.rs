//! `sealtrail signing-key rotate|list`: offline rotation and the key
//! history of a data directory (docs/deploy.md, "Signing keys").

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use sealtrail_core::time::format_time;
use sealtrail_keys::{KeyHistoryEntry, KeyRole};

use crate::error::OfflineError;

/// `sealtrail signing-key rotate`: a new signing key for the log in `data`;
/// the current one keeps co-signing checkpoints for `overlap`. A running
/// server picks the new key up at its next checkpoint.
pub fn rotate(data: &Path, overlap: Duration, json: bool) -> Result<ExitCode, OfflineError> {
    check_data_dir(data)?;
    let now = sealtrail_keys::clock::now_micros();
    let r = sealtrail_keys::rotate_offline(data, overlap, now)?;
    if json {
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

/// `sealtrail signing-key list`: the log's keys (primary, overlap, retired)
/// with their times.
pub fn list(data: &Path, json: bool) -> Result<ExitCode, OfflineError> {
    check_data_dir(data)?;
    let now = sealtrail_keys::clock::now_micros();
    let Some(h) = sealtrail_keys::read_history(data)? else {
        // A data directory the server has not started on since key
        // histories exist: its log.key is the only key.
        let v = sealtrail_keys::history_verifiers(data)?;
        let vkeys: Vec<String> = v.iter().map(|v| v.to_vkey()).collect();
        if json {
            println!("{}", serde_json::json!({"keys": vkeys, "history": null}));
        } else {
            for k in vkeys {
                println!("primary  {k}  (no history yet: it is written at the next start)");
            }
        }
        return Ok(ExitCode::SUCCESS);
    };
    let keys = h.as_of(now);
    if json {
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
    if let Some(u) = k.overlap_until.filter(|_| k.role != KeyRole::Retired) {
        s.push_str(&format!("  co-signs until {}", format_time(u)));
    }
    if let Some(r) = k.retired {
        s.push_str(&format!("  retired {}", format_time(r)));
    }
    s.push_str(&format!("\n         {}", k.vkey));
    s
}

fn check_data_dir(data: &Path) -> Result<(), OfflineError> {
    if !data.is_dir() {
        return Err(OfflineError::NotADirectory {
            path: data.to_path_buf(),
        });
    }
    Ok(())
}

/// `24h`, `7d`, `30m`, `90s`, `0`, or a bare number of seconds (the one
/// duration syntax, `sealtrail_core::time::parse_duration`).
pub fn parse_overlap(s: &str) -> Result<Duration, String> {
    sealtrail_core::time::parse_duration(s)
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
