//! False positives on machine identifiers, per kind (docs/benchmarks.md,
//! "PII scanning: machine identifiers").
//!
//! Generates the seeded corpus of `src/id_corpus.rs` (32 kinds:
//! UUIDs, ULIDs, digests, trace ids, timestamps, order numbers, semver
//! builds, pod names, ARNs, …) and scans every identifier twice: alone, and
//! inside a tool-call event that carries it in `id`, `parent`, `session`,
//! `agent.instance`, `tool.call_id`, a tool argument, a result and a
//! sentence. Prints one Markdown row per kind: identifiers with any finding
//! alone, events with any finding, and which entities were reported.
//!
//! cargo run --release -p sealtrail-pii --example id_corpus -- [--per-kind 4000] [--seed 14] [--show 3]

use std::collections::BTreeMap;
use std::time::Instant;

use sealtrail_pii::id_corpus;

fn arg(args: &[String], name: &str, default: u64) -> Result<u64, Box<dyn std::error::Error>> {
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or_else(|| format!("{name} needs a number"))?
            .parse()?),
        None => Ok(default),
    }
}

#[derive(Default)]
struct Row {
    n: usize,
    alone: usize,
    in_event: usize,
    entities: BTreeMap<String, usize>,
    examples: Vec<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let per_kind = usize::try_from(arg(&args, "--per-kind", 4000)?)?;
    let seed = arg(&args, "--seed", 14)?;
    let show = usize::try_from(arg(&args, "--show", 0)?)?;
    let scanner = sealtrail_pii::Scanner::default();

    let mut rows: BTreeMap<&str, Row> = BTreeMap::new();
    let started = Instant::now();
    let mut total = 0usize;
    for (kind, id) in id_corpus::corpus(seed, per_kind) {
        total += 1;
        let row = rows.entry(kind.name).or_default();
        row.n += 1;
        let alone = scanner.scan_text(&id)?;
        let event = scanner.scan_json(&id_corpus::event_with(kind, &id));
        if !alone.is_empty() {
            row.alone += 1;
        }
        if !event.findings.is_empty() || !event.errors.is_empty() {
            row.in_event += 1;
        }
        for f in alone.iter().chain(&event.findings) {
            *row.entities.entry(f.entity.to_string()).or_default() += 1;
        }
        if (!alone.is_empty() || !event.findings.is_empty()) && row.examples.len() < show {
            let why: Vec<String> = alone
                .iter()
                .chain(&event.findings)
                .map(|f| format!("{} at {} ({})", f.entity, f.path, f.why))
                .collect();
            row.examples.push(format!("{id}: {}", why.join("; ")));
        }
    }
    let seconds = started.elapsed().as_secs_f64();

    println!(
        "corpus: {total} identifiers, {} kinds, {per_kind} per kind, seed {seed}",
        rows.len()
    );
    println!();
    println!(
        "| kind | identifiers | with a finding alone | events with a finding | entities reported |"
    );
    println!("|---|---|---|---|---|");
    let (mut alone, mut in_event) = (0, 0);
    for id_kind in id_corpus::KINDS {
        let Some(row) = rows.get(id_kind.name) else {
            continue;
        };
        alone += row.alone;
        in_event += row.in_event;
        let entities: Vec<String> = row
            .entities
            .iter()
            .map(|(e, n)| format!("{e} {n}"))
            .collect();
        println!(
            "| {} | {} | {} | {} | {} |",
            id_kind.name,
            row.n,
            row.alone,
            row.in_event,
            if entities.is_empty() {
                "—".to_string()
            } else {
                entities.join(", ")
            }
        );
    }
    println!("| **all** | {total} | **{alone}** | **{in_event}** | |");
    println!();
    println!(
        "scanned {total} identifiers alone and in {total} events in {seconds:.2} s ({:.0} identifiers/s, both scans)",
        total as f64 / seconds
    );
    if show > 0 {
        for (kind, row) in &rows {
            for e in &row.examples {
                println!("{kind}: {e}");
            }
        }
    }
    Ok(())
}
