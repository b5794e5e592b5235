//! `sealtrail scan FILE`: try the sensitive-data engine (docs/pii.md) on a
//! file: what it finds, where, and why; with `--policy`, what the stored
//! event would look like after redaction.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use sealtrail_pii::{Finding, RedactionPolicy, Redactor, ScanConfig, Scanner};

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

enum Input {
    Json(Vec<(String, serde_json::Value)>),
    Text(String),
}

fn read_input(a: &ScanArgs) -> Result<Input> {
    let bytes = if a.file.as_os_str() == "-" {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)?;
        b
    } else {
        std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?
    };
    let name = a.file.to_string_lossy();
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{name} is not UTF-8 (byte {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    if name.ends_with(".json") {
        let v = serde_json::from_str(&text).with_context(|| format!("{name} is not JSON"))?;
        return Ok(Input::Json(vec![("$".into(), v)]));
    }
    if name.ends_with(".jsonl") || name.ends_with(".ndjson") {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v = serde_json::from_str(line)
                .with_context(|| format!("{name} line {} is not JSON", i + 1))?;
            out.push((format!("line {}", i + 1), v));
        }
        return Ok(Input::Json(out));
    }
    Ok(Input::Text(text))
}

pub fn run(a: ScanArgs) -> Result<ExitCode> {
    let input = read_input(&a)?;
    if let Some(policy) = &a.policy {
        return redact(&a, policy, input);
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

fn redact(a: &ScanArgs, policy: &PathBuf, input: Input) -> Result<ExitCode> {
    let text = std::fs::read_to_string(policy)
        .with_context(|| format!("cannot read the policy {}", policy.display()))?;
    let policy = RedactionPolicy::from_json(&text)
        .with_context(|| format!("{} is not a valid redaction policy", policy.display()))?;
    let key = match &a.key_file {
        Some(p) => std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
        None => {
            let mut k = vec![0u8; 32];
            getrandom::fill(&mut k).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            k
        }
    };
    let redactor = Redactor::new(policy, &key, Scanner::new(ScanConfig::default()))
        .context("the policy or key is not usable")?;
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
