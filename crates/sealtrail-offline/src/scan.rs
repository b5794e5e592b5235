//! `sealtrail scan FILE`: try the sensitive-data engine (docs/pii.md) on a
//! file: what it finds, where, and why; with `--policy`, what the stored
//! event would look like after redaction.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sealtrail_pii::{Finding, RedactionPolicy, Redactor, ScanConfig, Scanner};

use crate::error::OfflineError;

/// What to scan and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOptions {
    /// The file: `.json` (one event), `.jsonl`/`.ndjson` (one per line), or
    /// any text; `-` reads stdin as text.
    pub file: PathBuf,
    /// Print one JSON finding per line (also when stdout is not a terminal).
    pub json: bool,
    /// Show the redacted events under this policy instead of the findings.
    /// Hashes use a throwaway key unless `key_file` is given.
    pub policy: Option<PathBuf>,
    /// The key for `hash` actions (e.g. a data directory's pii.key).
    pub key_file: Option<PathBuf>,
}

enum Input {
    Json(Vec<(String, serde_json::Value)>),
    Text(String),
}

fn read_input(a: &ScanOptions) -> Result<Input, OfflineError> {
    let bytes = if a.file.as_os_str() == "-" {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)
            .map_err(|cause| OfflineError::Stdin { cause })?;
        b
    } else {
        std::fs::read(&a.file).map_err(|cause| OfflineError::Read {
            path: a.file.clone(),
            cause,
        })?
    };
    let name = a.file.to_string_lossy();
    let text = String::from_utf8(bytes).map_err(|e| OfflineError::NotUtf8 {
        name: name.to_string(),
        valid_up_to: e.utf8_error().valid_up_to(),
    })?;
    if name.ends_with(".json") {
        let v = serde_json::from_str(&text).map_err(|cause| OfflineError::NotJson {
            name: name.to_string(),
            cause,
        })?;
        return Ok(Input::Json(vec![("$".into(), v)]));
    }
    if name.ends_with(".jsonl") || name.ends_with(".ndjson") {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v = serde_json::from_str(line).map_err(|cause| OfflineError::LineNotJson {
                name: name.to_string(),
                line: i + 1,
                cause,
            })?;
            out.push((format!("line {}", i + 1), v));
        }
        return Ok(Input::Json(out));
    }
    Ok(Input::Text(text))
}

/// Prints what the engine finds (exit status 1 when it finds something,
/// 2 when part of the input could not be scanned), or with a policy the
/// redacted events (exit status 1 when the policy changed something).
pub fn run(a: &ScanOptions) -> Result<ExitCode, OfflineError> {
    let input = read_input(a)?;
    if let Some(policy) = &a.policy {
        return redact(a, policy, input);
    }
    let json = a.json || !std::io::stdout().is_terminal();
    let scanner = sealtrail_pii::default_scanner();
    let mut found = 0usize;
    let mut failed = false;
    let mut show = |origin: &str, f: &Finding| {
        found += 1;
        if json {
            let mut v = serde_json::to_value(f).unwrap_or_default();
            v["source"] = serde_json::json!(origin);
            println!("{v}");
        } else {
            println!(
                "{origin}  {}  {}  bytes {}..{}  score {:.2}  {}",
                f.path,
                f.entity.as_str(),
                f.span.start,
                f.span.end,
                f.score,
                f.why
            );
        }
    };
    match input {
        Input::Text(t) => match scanner.scan_text(&t) {
            Ok(fs) => fs.iter().for_each(|f| show("text", f)),
            Err(e) => {
                eprintln!("error: cannot scan the text: {e}");
                failed = true;
            }
        },
        Input::Json(items) => {
            for (origin, v) in &items {
                let scan = scanner.scan_json(v);
                scan.findings.iter().for_each(|f| show(origin, f));
                for e in &scan.errors {
                    eprintln!("error: {origin} {}: not scanned: {}", e.path, e.error);
                    failed = true;
                }
            }
        }
    }
    if !json {
        eprintln!("{found} finding(s)");
    }
    Ok(ExitCode::from(if failed {
        2
    } else if found > 0 {
        1
    } else {
        0
    }))
}

fn redact(a: &ScanOptions, policy: &Path, input: Input) -> Result<ExitCode, OfflineError> {
    let text = std::fs::read_to_string(policy).map_err(|cause| OfflineError::ReadPolicy {
        path: policy.to_path_buf(),
        cause,
    })?;
    let policy = RedactionPolicy::from_json(&text).map_err(|cause| OfflineError::BadPolicy {
        path: policy.to_path_buf(),
        cause,
    })?;
    let key = match &a.key_file {
        Some(p) => std::fs::read(p).map_err(|cause| OfflineError::Read {
            path: p.clone(),
            cause,
        })?,
        None => {
            let mut k = vec![0u8; 32];
            getrandom::fill(&mut k).map_err(|e| OfflineError::NoRandomness(e.to_string()))?;
            k
        }
    };
    let redactor = Redactor::new(policy, &key, Scanner::new(ScanConfig::default()))
        .map_err(|cause| OfflineError::Redactor { cause })?;
    let items = match input {
        Input::Json(items) => items,
        Input::Text(t) => vec![("text".into(), serde_json::Value::String(t))],
    };
    let mut changed = false;
    for (origin, v) in items {
        let r = redactor.redact(&v);
        changed |= !r.summary.records.is_empty() || !r.summary.unscanned.is_empty();
        println!(
            "{}",
            serde_json::json!({"source": origin, "event": r.event, "summary": r.summary})
        );
    }
    Ok(ExitCode::from(u8::from(changed)))
}
