//! `sealtrail bench stages`: CPU time per event of each ingest stage, run
//! in one process without HTTP, on the events `sealtrail bench ingest` sends
//! (docs/benchmarks.md, "Issue 16: ingest").
//!
//! - **decode**: the server's `pipeline::decode::decode` over JSON-array
//!   bodies with scanning off: splitting the array, strict parsing,
//!   validation, the canonical body and its salted commitment;
//! - **pii**: what turning scanning and redaction on adds to the same call
//!   (the standard policy), i.e. decode with scanning minus decode without;
//! - **verdict**: the scope verdict of each event against an agent registry
//!   (a read lock, a map lookup, `scope_verdict`), as `enrich` does it;
//! - **seal**: the sequencer's sealer thread (ids, stream links, headers,
//!   leaf hashes, the frontier), from its thread's CPU clock;
//! - **store**: every other thread of the sequencer and the store (the
//!   writer's SQLite rows, segment writes and their fsync helper, WAL
//!   checkpoints), from the process's CPU time minus the sealer and the
//!   submitting thread.
//!
//! Stages 1–3 are timed on this thread's CPU clock; the sequencer runs on a
//! real data directory with fsync, `--in-flight` submissions of `--batch`
//! events at once, like the server under the closed-loop load.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use anyhow::{bail, Context};
use sealtrail_core::registry::{scope_verdict, AgentRecord, ScopeInput};
use sealtrail_keys::Backend;
use sealtrail_pii::{RedactionPolicy, ScanConfig};
use sealtrail_server::metrics::Metrics;
use sealtrail_server::pipeline::decode::{decode, Framing, PrepareWith, Slot};
use sealtrail_server::sensitive::Sensitive;
use sealtrail_server::sequencer::{PreparedEvent, Sequencer, SequencerConfig};
use serde_json::json;

use crate::ingest::{padding, Generator};
use crate::runtime::runtime;

/// Time each ingest stage per event, in one process, without HTTP.
#[derive(Debug, Clone, clap::Args)]
pub struct StagesArgs {
    /// Events to push through every stage.
    #[arg(long, default_value_t = 200_000)]
    pub events: u64,
    /// Events per request body (and per submission to the sequencer).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch: u32,
    /// Approximate size of one event's JSON in bytes.
    #[arg(long, default_value_t = 1024)]
    pub event_size: u32,
    /// Distinct agent ids the events come from.
    #[arg(long, default_value_t = 100)]
    pub agents: u32,
    /// Submissions in the sequencer at once.
    #[arg(long, default_value_t = 16)]
    pub in_flight: usize,
    /// Data directory for the log (default: a temporary one, removed after).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Print the results as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// CPU nanoseconds this thread has run (Linux `schedstat`; 0 elsewhere).
fn thread_cpu_ns() -> u64 {
    schedstat("/proc/thread-self/schedstat")
}

fn schedstat(path: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU nanoseconds of this process's live thread named `name` (the name is
/// cut to 15 bytes by the kernel).
fn named_thread_cpu_ns(name: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let cut = &name[..name.len().min(15)];
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == cut)
        })
        .map(|t| schedstat(&t.path().join("schedstat").to_string_lossy()))
        .sum()
}

/// CPU nanoseconds of the whole process, threads that have exited included.
fn process_cpu_ns() -> u64 {
    // utime and stime (fields 14 and 15) in clock ticks.
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    // USER_HZ is 100 on every Linux this runs on.
    ticks * 10_000_000
}

fn bodies(a: &StagesArgs) -> Vec<Vec<u8>> {
    let size = a.event_size as usize;
    let mut gen = Generator::new("stages", 0, 1, a.agents, size, padding(size));
    let n = a.events.div_ceil(u64::from(a.batch));
    (0..n).map(|_| gen.batch(a.batch as usize)).collect()
}

/// Decodes every body; CPU ns of this thread, and the prepared events if
/// `keep` (the timed passes drop each body's events at once, as a request
/// does once they are sealed, so the allocator reuses the same memory
/// instead of faulting in fresh pages).
fn decode_all(
    bodies: &[Vec<u8>],
    sensitive: Option<&Sensitive>,
    keep: bool,
) -> anyhow::Result<(u64, Vec<Vec<PreparedEvent>>)> {
    let with = PrepareWith {
        max_event_bytes: 1 << 20,
        sensitive,
    };
    let start = thread_cpu_ns();
    let mut out = Vec::with_capacity(bodies.len());
    for body in bodies {
        let slots: Vec<Slot> = decode(body, Framing::Json, 10_000, with)
            .map_err(|e| anyhow::anyhow!("a generated body was refused: {}", e.body.message))?;
        let events = slots
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("a generated event was refused: {}", e.message))?;
        if keep {
            out.push(events);
        }
    }
    Ok((thread_cpu_ns() - start, out))
}

/// What [`measure`] found: CPU µs per event of each stage, in order.
#[derive(Debug, Clone)]
pub struct Stages {
    pub events: u64,
    pub sealed: u64,
    /// `(stage, µs of CPU per event)`: decode, pii, verdict, seal, store.
    pub per_event_us: [(&'static str, f64); 5],
    /// Wall time of the seal and store stages.
    pub seal_and_store_wall_s: f64,
}

/// Runs every stage over the generated events and prints the figures.
pub fn run(a: StagesArgs) -> anyhow::Result<ExitCode> {
    let m = measure(&a)?;
    let (events, sealed, stages, wall_s) =
        (m.events, m.sealed, m.per_event_us, m.seal_and_store_wall_s);
    let in_flight = a.in_flight.max(1);
    let sum: f64 = stages.iter().map(|s| s.1).sum();
    if a.json {
        let mut o = serde_json::Map::new();
        for (k, v) in stages {
            o.insert(format!("{k}_us"), json!((v * 1000.0).round() / 1000.0));
        }
        o.insert("total_us".into(), json!((sum * 1000.0).round() / 1000.0));
        o.insert("events".into(), json!(events));
        o.insert("sealed".into(), json!(sealed));
        o.insert("seal_and_store_wall_s".into(), json!(wall_s));
        println!("{}", serde_json::Value::Object(o));
    } else {
        println!(
            "{events} events of ~{} B, {} per body/submission, {in_flight} submissions in flight",
            a.event_size, a.batch
        );
        for (k, v) in stages {
            println!("{k:>8}: {v:6.2} µs CPU/event");
        }
        println!("{:>8}: {sum:6.2} µs CPU/event", "total");
        println!(
            "sealed {sealed} in {wall_s:.2} s ({:.0}/s sealed and stored)",
            sealed as f64 / wall_s
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Generates the events and times each stage (module documentation).
pub fn measure(a: &StagesArgs) -> anyhow::Result<Stages> {
    if a.events == 0 {
        bail!("--events must be at least 1");
    }
    let bodies = bodies(a);
    let events = bodies.len() as u64 * u64::from(a.batch);
    let per = |ns: u64| ns as f64 / 1000.0 / events as f64;

    let sensitive = Sensitive::with(
        RedactionPolicy::standard(),
        &[7u8; 32],
        ScanConfig::default(),
    )
    .context("cannot build the scanner")?;
    // Warm up caches and the allocator on one body of each.
    decode_all(&bodies[..1], None, false)?;
    decode_all(&bodies[..1], Some(&sensitive), false)?;
    let (plain_ns, _) = decode_all(&bodies, None, false)?;
    let (scanned_ns, _) = decode_all(&bodies, Some(&sensitive), false)?;
    // What the sequencer gets: the scanned events, prepared untimed.
    let (_, mut prepared) = decode_all(&bodies, Some(&sensitive), true)?;

    // The verdict as `enrich::check` takes it: a read lock on the registry,
    // the agent's record (none: the load's agents are not registered, as in
    // `bench ingest`), `scope_verdict`, stored in the event.
    let registry: RwLock<HashMap<String, AgentRecord>> = RwLock::new(HashMap::new());
    let start = thread_cpu_ns();
    for p in prepared.iter_mut().flatten() {
        let input = ScopeInput {
            tool: p.tool.as_deref(),
            action: p.action.as_deref(),
            resource: p.resource.as_deref(),
            data_classes: &p.data_classes,
        };
        let verdict = match registry.read() {
            Ok(r) => scope_verdict(r.get(&p.agent), &input),
            Err(_) => scope_verdict(None, &input),
        };
        p.scope = Some(verdict);
    }
    let verdict_ns = thread_cpu_ns() - start;

    let tmp;
    let dir = match &a.data {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir().context("cannot make a temporary data directory")?;
            tmp.path().to_path_buf()
        }
    };
    sealtrail_keys::init(
        &dir,
        None,
        &Backend::Embedded,
        &sealtrail_keys::SigningOptions::default(),
        &sealtrail_server::access::owner_key_maker,
    )?;
    let store = sealtrail_keys::open_store(&dir, &Backend::Embedded)?;
    let (seq, seq_thread) = Sequencer::start(
        store,
        SequencerConfig::default(),
        Arc::new(Metrics::default()),
    )
    .context("cannot start the sequencer")?;
    let rt = runtime(0)?;
    let in_flight = a.in_flight.max(1);
    let (proc0, main0) = (process_cpu_ns(), thread_cpu_ns());
    let wall = Instant::now();
    let sealed: u64 = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        let mut sealed = 0u64;
        for chunk in prepared {
            if tasks.len() >= in_flight {
                sealed += joined(tasks.join_next().await)?;
            }
            let seq = seq.clone();
            tasks.spawn(async move { seq.submit(chunk).await });
        }
        while let Some(done) = tasks.join_next().await {
            sealed += joined(Some(done))?;
        }
        anyhow::Ok(sealed)
    })?;
    let wall_s = wall.elapsed().as_secs_f64();
    let sealer_ns = named_thread_cpu_ns("sealtrail-sealer");
    let main_ns = thread_cpu_ns() - main0;
    drop(seq);
    let _ = seq_thread.join();
    let total_ns = process_cpu_ns().saturating_sub(proc0);
    let store_ns = total_ns.saturating_sub(sealer_ns + main_ns);

    let stages = [
        ("decode", per(plain_ns)),
        ("pii", per(scanned_ns.saturating_sub(plain_ns))),
        ("verdict", per(verdict_ns)),
        ("seal", per(sealer_ns)),
        ("store", per(store_ns)),
    ];
    Ok(Stages {
        events,
        sealed,
        per_event_us: stages,
        seal_and_store_wall_s: wall_s,
    })
}

fn joined(
    done: Option<
        Result<
            Result<
                Vec<sealtrail_server::sequencer::SealOutcome>,
                sealtrail_server::sequencer::SubmitError,
            >,
            tokio::task::JoinError,
        >,
    >,
) -> anyhow::Result<u64> {
    let Some(done) = done else { return Ok(0) };
    let outcomes = done
        .context("submit task failed")?
        .map_err(|e| anyhow::anyhow!("the sequencer refused a submission: {e}"))?;
    Ok(outcomes.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_is_timed_and_every_event_sealed() {
        let a = StagesArgs {
            events: 600,
            batch: 100,
            event_size: 1024,
            agents: 10,
            in_flight: 4,
            data: None,
            json: true,
        };
        let m = measure(&a).expect("stages");
        assert_eq!((m.events, m.sealed), (600, 600));
        let names: Vec<&str> = m.per_event_us.iter().map(|s| s.0).collect();
        assert_eq!(names, ["decode", "pii", "verdict", "seal", "store"]);
        // The clocks are read from /proc: a zero would mean a thread was not found.
        for (stage, us) in m.per_event_us {
            assert!(us.is_finite() && us >= 0.0, "{stage}: {us}");
        }
        assert!(m.per_event_us[0].1 > 0.0, "decode was not timed");
        assert!(m.per_event_us[3].1 > 0.0, "the sealer thread was not found");
    }
}
