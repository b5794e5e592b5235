//! Reads JSONL samples `{"id": …, "text": "…"}` on stdin, scans each text,
//! and writes one JSONL line of findings per sample, then a summary line
//! with the pure scanning time (no I/O, no JSON parsing), for the Presidio
//! comparison in `bench/pii/`.
//!
//! cargo run --release -p sealtrail-pii --example score -- [--repeat N] < samples.jsonl

use std::io::{BufRead, Write};
use std::time::Instant;

use serde_json::{json, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let repeat: usize = match args.iter().position(|a| a == "--repeat") {
        Some(i) => args.get(i + 1).ok_or("--repeat needs a number")?.parse()?,
        None => 1,
    };
    let mut samples: Vec<(Value, String)> = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line)?;
        let text = v["text"].as_str().ok_or("sample without text")?.to_string();
        samples.push((v["id"].clone(), text));
    }
    let scanner = sealtrail_pii::Scanner::default();
    let bytes: usize = samples.iter().map(|(_, t)| t.len()).sum();

    // The untimed first round also loads the phone metadata (lazily, once).
    let results: Vec<_> = samples
        .iter()
        .map(|(_, text)| scanner.scan_text(text).unwrap_or_default())
        .collect();
    let started = Instant::now();
    for _ in 0..repeat.max(1) {
        for (_, text) in &samples {
            std::hint::black_box(scanner.scan_text(std::hint::black_box(text)).ok());
        }
    }
    let seconds = started.elapsed().as_secs_f64() / repeat.max(1) as f64;

    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    for ((id, text), findings) in samples.iter().zip(&results) {
        // Presidio counts in characters; give both.
        let chars = |b: usize| text.get(..b).map_or(0, |s| s.chars().count());
        let list: Vec<Value> = findings
            .iter()
            .map(|f| {
                json!({
                    "entity": f.entity,
                    "start": chars(f.span.start),
                    "end": chars(f.span.end),
                    "score": f.score,
                    "why": f.why,
                })
            })
            .collect();
        writeln!(out, "{}", json!({"id": id, "findings": list}))?;
    }
    writeln!(
        out,
        "{}",
        json!({"summary": {"samples": samples.len(), "bytes": bytes, "scan_seconds": seconds, "repeat": repeat}})
    )?;
    Ok(())
}
