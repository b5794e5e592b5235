//! `sealtrail bench populate`: build a real log of many entries (the
//! server's own validation, sequencer and store; synthetic server times
//! spread over days), which `sealtrail verify --data` accepts. And
//! `sealtrail bench query`: latency of selective query pages and of grouped
//! stats over such a log, through the store API (and over HTTP with
//! `--server`).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use sealtrail_core::time::{format_day, parse_time};
use sealtrail_keys::Backend;
use sealtrail_server::checkpointer::Checkpointer;
use sealtrail_server::metrics::Metrics;
use sealtrail_server::sequencer::{
    PreparedEvent, SealOutcome, Sequencer, SequencerConfig, TreeHead,
};
use sealtrail_server::tiles::StoreTiles;
use sealtrail_store::query::DAY_MICROS;
use sealtrail_store::{EventFilter, EventQuery, StatsGroup, StatsQuery};
use serde_json::json;

fn day_arg(s: &str) -> Result<u64, String> {
    let t = parse_time(s)?;
    if t % DAY_MICROS != 0 {
        return Err(format!("{s:?} is not a UTC midnight; give a date"));
    }
    Ok(t)
}

/// Build a real log of synthetic agent events for query benchmarks.
#[derive(Debug, Clone, clap::Args)]
pub struct PopulateArgs {
    /// Data directory to create (must not hold a log yet).
    #[arg(long)]
    pub data: PathBuf,
    /// Entries to seal.
    #[arg(long, default_value_t = 10_000_000)]
    pub entries: u64,
    /// Distinct agents (uniformly chosen).
    #[arg(long, default_value_t = 100)]
    pub agents: u64,
    /// Days the server times are spread over.
    #[arg(long, default_value_t = 30)]
    pub days: u64,
    /// First day (UTC date).
    #[arg(long, default_value = "2026-01-01", value_parser = day_arg)]
    pub start: u64,
    /// Approximate size of one event's JSON in bytes.
    #[arg(long, default_value_t = 400)]
    pub event_size: usize,
    /// Events per sequencer batch (one store transaction).
    #[arg(long, default_value_t = 2048)]
    pub batch: usize,
    /// Threads that make and validate events (the sequencer has two more).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// splitmix64: cheap, well-mixed pseudo-random numbers from a counter.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// `(kind, percent)`: the mix of a busy support agent.
const KINDS: [(&str, u64); 7] = [
    ("tool_call", 35),
    ("model_call", 35),
    ("decision", 10),
    ("data_access", 10),
    ("guardrail", 4),
    ("human_review", 3),
    ("alert", 3),
];
const TOOLS: [&str; 6] = [
    "orders.search",
    "customer.read",
    "refund.issue",
    "email.send",
    "db.query",
    "file.read",
];

/// Event `i` of a populated log (a pure function of `i`, so any thread can
/// make any event). Sessions: each agent has one live session per window
/// of `20 × agents` entries, about 20 events long.
fn event_json(i: u64, agents: u64, size: usize, padding: &str) -> Vec<u8> {
    let r = mix(i);
    let agent = r % agents;
    let session = mix(agent ^ (i / (20 * agents)).rotate_left(32));
    let mut p = (r >> 20) % 100;
    let kind = KINDS
        .iter()
        .find(|(_, pct)| {
            if p < *pct {
                true
            } else {
                p -= pct;
                false
            }
        })
        .map_or("custom", |(k, _)| *k);
    let outcome = match (r >> 40) % 100 {
        0..=84 => "success",
        85..=92 => "failure",
        93..=97 => "denied",
        _ => "pending",
    };
    let tool = TOOLS[((r >> 48) % TOOLS.len() as u64) as usize];
    let mut e = json!({
        "id": format!("pop-{i:012}"),
        "agent": {"id": format!("agent-{agent:03}"), "name": format!("support agent {agent}")},
        "session": format!("sess-{session:016x}"),
        "kind": kind,
        "outcome": outcome,
        "principal": "user:alice@example.com",
    });
    match kind {
        "tool_call" => {
            e["action"] = json!(tool.split('.').nth(1).unwrap_or("call"));
            e["tool"] = json!({"name": tool, "arguments": {"customer_id": format!("C-{:06}", r % 1_000_000)}});
        }
        "model_call" => {
            e["action"] = json!("llm.generate");
            e["model"] = json!({"provider": "bench", "name": "claude-sonnet-4", "input_tokens": 800 + r % 400, "output_tokens": 100 + r % 300});
        }
        "data_access" => {
            e["action"] = json!("read");
            e["data_classes"] = json!(if r % 5 == 0 {
                vec!["pci", "pii"]
            } else {
                vec!["pii"]
            });
        }
        _ => {}
    }
    let mut bytes = serde_json::to_vec(&e).unwrap_or_default();
    // Pad with an `output` text up to about `size` bytes.
    let fixed = bytes.len() + r#","output":"""#.len();
    if size > fixed && bytes.last() == Some(&b'}') {
        bytes.pop();
        bytes.extend_from_slice(br#","output":""#);
        bytes.extend_from_slice(&padding.as_bytes()[..(size - fixed).min(padding.len())]);
        bytes.extend_from_slice(b"\"}");
    }
    bytes
}

/// Validated, canonicalised events `[start, end)`, with fresh random salts.
fn prepare_chunk(
    start: u64,
    end: u64,
    a: &PopulateArgs,
    padding: &str,
    urandom: &mut std::fs::File,
) -> anyhow::Result<Vec<PreparedEvent>> {
    let mut salts = vec![[0u8; 32]; (end - start) as usize];
    urandom
        .read_exact(salts.as_flattened_mut())
        .context("cannot read /dev/urandom for body salts")?;
    (start..end)
        .zip(salts)
        .map(|(i, salt)| {
            let bytes = event_json(i, a.agents, a.event_size, padding);
            sealtrail_server::pipeline::decode::prepare(
                &bytes,
                // Synthetic events hold no personal data: no scanning.
                sealtrail_server::pipeline::decode::PrepareWith {
                    max_event_bytes: 1 << 20,
                    sensitive: None,
                },
                salt,
            )
            .map_err(|e| anyhow::anyhow!("generated event {i} is invalid: {}", e.message))
        })
        .collect()
}

/// Builds the log; `progress(sealed, total)` is told how many entries are
/// sealed as batches complete (the CLI draws a bar from it).
pub fn populate(a: PopulateArgs, progress: &mut dyn FnMut(u64, u64)) -> anyhow::Result<ExitCode> {
    if a.agents == 0 || a.days == 0 || a.entries == 0 {
        bail!("--entries, --agents and --days must be at least 1");
    }
    let init = sealtrail_keys::init(
        &a.data,
        None,
        &Backend::Embedded,
        &sealtrail_keys::SigningOptions::default(),
        &sealtrail_server::access::owner_key_maker,
    )?;
    let store = sealtrail_keys::open_store(&a.data, &Backend::Embedded)?;
    if store.head()?.size > 0 {
        bail!(
            "{} already holds a log; populate a new directory",
            a.data.display()
        );
    }
    // Server times spread evenly over the days by index (the sealer asks
    // once per batch, with the batch's first index).
    let span = a.days * DAY_MICROS - 1;
    let (start, total) = (a.start, a.entries);
    let clock = Arc::new(move |index: u64| {
        start + (u128::from(index.min(total)) * u128::from(span) / u128::from(total)) as u64
    });
    let metrics = Arc::new(Metrics::default());
    let config = SequencerConfig {
        batch_max: a.batch.max(1),
        ..SequencerConfig::default()
    };
    let (seq, seq_thread) =
        Sequencer::start_with_clock(store.clone(), config, metrics.clone(), clock)
            .context("cannot start the sequencer")?;

    // Generator threads make chunks of `batch` events; the main thread
    // keeps a few chunks in the sequencer at once so batches stay full.
    let chunk = a.batch.max(1) as u64;
    let chunks = total.div_ceil(chunk);
    let threads = a.threads.max(1) as u64;
    let padding: Arc<str> = crate::ingest::padding(a.event_size.max(64));
    let (tx, rx) = std::sync::mpsc::sync_channel::<anyhow::Result<Vec<PreparedEvent>>>(8);
    let args = Arc::new(a.clone());
    let mut makers = Vec::new();
    // Chunks go out in order: thread t makes chunks t, t + threads, …, and
    // each waits its turn through a shared counter.
    let turn = Arc::new((std::sync::Mutex::new(0u64), std::sync::Condvar::new()));
    for t in 0..threads {
        let (tx, args, padding, turn) = (tx.clone(), args.clone(), padding.clone(), turn.clone());
        makers.push(std::thread::spawn(move || -> anyhow::Result<()> {
            let mut urandom = std::fs::File::open("/dev/urandom")?;
            let mut k = t;
            while k < chunks {
                let (s, e) = (k * chunk, ((k + 1) * chunk).min(total));
                let made = prepare_chunk(s, e, &args, &padding, &mut urandom);
                let (lock, cv) = &*turn;
                let mut next = lock.lock().map_err(|_| anyhow::anyhow!("lock poisoned"))?;
                while *next != k {
                    next = cv
                        .wait(next)
                        .map_err(|_| anyhow::anyhow!("lock poisoned"))?;
                }
                let failed = made.is_err();
                if tx.send(made).is_err() || failed {
                    return Ok(());
                }
                *next += 1;
                cv.notify_all();
                k += threads;
            }
            Ok(())
        }));
    }
    drop(tx);

    let started = Instant::now();
    let rt = crate::runtime::runtime(0)?;
    let sealed = rt.block_on(async {
        let mut in_flight = tokio::task::JoinSet::new();
        let mut sealed = 0u64;
        for made in rx {
            let events = made?;
            let seq = seq.clone();
            in_flight.spawn(async move { seq.submit(events).await });
            while in_flight.len() >= 4 {
                sealed += count_sealed(in_flight.join_next().await)?;
            }
            progress(sealed, total);
        }
        while let Some(done) = in_flight.join_next().await {
            sealed += count_sealed(Some(done))?;
        }
        progress(sealed, total);
        anyhow::Ok(sealed)
    })?;
    for m in makers {
        m.join()
            .map_err(|_| anyhow::anyhow!("an event maker panicked"))??;
    }
    let head_rx = seq.head();
    let head = *head_rx.borrow();
    drop(seq);
    seq_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the sequencer panicked"))?;
    let seal_secs = started.elapsed().as_secs_f64();

    // One signed checkpoint over the whole log, as the server would sign.
    let checkpointer = Checkpointer {
        store: store.clone(),
        tiles: Arc::new(StoreTiles::new(store.clone())),
        keys: sealtrail_keys::KeyRing::from_signer(sealtrail_keys::load_signer(&a.data)?),
        origin: init.origin.clone(),
        interval: Duration::from_secs(1),
        metrics,
        shared: None,
        heads: std::sync::Mutex::new(None),
    };
    checkpointer
        .sign(
            TreeHead {
                size: head.size,
                root: head.root,
            },
            None,
        )
        .context("cannot sign the checkpoint")?;
    let total_secs = started.elapsed().as_secs_f64();
    // Closed first: the WAL is copied back and truncated on close.
    drop(checkpointer);
    drop(store);
    let bytes = dir_size(&a.data);
    let summary = json!({
        "entries": sealed,
        "agents": a.agents,
        "days": a.days,
        "first_day": format_day((a.start / DAY_MICROS) as i64),
        "seconds": total_secs,
        "seal_seconds": seal_secs,
        "entries_per_second": sealed as f64 / seal_secs,
        "bytes_on_disk": bytes,
        "origin": init.origin,
        "vkey": init.vkey,
        "owner_api_key": init.owner_api_key,
    });
    if a.json {
        println!("{summary}");
    } else {
        println!(
            "populated {}: {sealed} entries ({} agents, {} days from {}) in {total_secs:.1} s \
             ({:.0} entries/s sealed), {:.2} GB on disk",
            a.data.display(),
            a.agents,
            a.days,
            format_day((a.start / DAY_MICROS) as i64),
            sealed as f64 / seal_secs,
            bytes as f64 / 1e9
        );
        if let Some(k) = &init.owner_api_key {
            println!("owner API key (shown once): {k}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

type Submitted = Result<
    Result<Vec<SealOutcome>, sealtrail_server::sequencer::SubmitError>,
    tokio::task::JoinError,
>;

fn count_sealed(done: Option<Submitted>) -> anyhow::Result<u64> {
    let Some(done) = done else { return Ok(0) };
    let outcomes = done
        .context("submit task failed")?
        .map_err(|e| anyhow::anyhow!("sequencer refused a chunk: {e}"))?;
    Ok(outcomes
        .iter()
        .filter(|o| matches!(o, SealOutcome::Sealed(_)))
        .count() as u64)
}

/// Bytes under `dir` (files, recursively).
fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Measure selective query pages and grouped stats over a populated log.
#[derive(Debug, clap::Args)]
pub struct BenchQueryArgs {
    /// Data directory of the log (made by `sealtrail bench populate`).
    #[arg(long)]
    pub data: PathBuf,
    /// Query pages timed per shape (after 50 untimed).
    #[arg(long, default_value_t = 1000)]
    pub iterations: u32,
    /// Entries per page.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Grouped stats queries timed.
    #[arg(long, default_value_t = 20)]
    pub stats_iterations: u32,
    /// Seed of the random choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also time the same pages over HTTP against this server (serving the
    /// same log), with --api-key.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    #[arg(long, env = "SEALTRAIL_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// For an https:// --server: trust only this CA certificate (PEM).
    #[arg(long, env = "SEALTRAIL_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
    /// Print the results as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Latency percentiles in milliseconds.
fn summary(h: &Histogram<u64>) -> serde_json::Value {
    let ms = |us: u64| us as f64 / 1000.0;
    json!({
        "count": h.len(),
        "p50_ms": ms(h.value_at_quantile(0.50)),
        "p90_ms": ms(h.value_at_quantile(0.90)),
        "p99_ms": ms(h.value_at_quantile(0.99)),
        "max_ms": ms(h.max()),
    })
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 600_000_000, 3).context("histogram")
}

/// A query shape: which filters a random page uses.
struct Shape {
    name: &'static str,
    make: fn(&Choices, u64) -> EventQuery,
}

/// What random pages choose from.
struct Choices {
    agents: Vec<String>,
    days: Vec<i64>,
    kinds: Vec<String>,
    limit: u32,
}

impl Choices {
    fn pick<T>(v: &[T], r: u64) -> &T {
        &v[(r % v.len() as u64) as usize]
    }

    fn day_range(&self, r: u64) -> (Option<u64>, Option<u64>) {
        let d = *Self::pick(&self.days, r) as u64;
        (Some(d * DAY_MICROS), Some((d + 1) * DAY_MICROS))
    }
}

const SHAPES: [Shape; 4] = [
    Shape {
        name: "one agent, one day, one kind",
        make: |c, r| {
            let (from, to) = c.day_range(mix(r ^ 1));
            EventQuery {
                filter: EventFilter {
                    agent: Some(Choices::pick(&c.agents, r).clone()),
                    kind: Some(Choices::pick(&c.kinds, mix(r ^ 2)).clone()),
                    from,
                    to,
                    ..EventFilter::default()
                },
                limit: c.limit,
                ..EventQuery::default()
            }
        },
    },
    Shape {
        name: "one agent, one day, one kind, outcome denied",
        make: |c, r| {
            let (from, to) = c.day_range(mix(r ^ 1));
            EventQuery {
                filter: EventFilter {
                    agent: Some(Choices::pick(&c.agents, r).clone()),
                    kind: Some(Choices::pick(&c.kinds, mix(r ^ 2)).clone()),
                    outcome: Some("denied".into()),
                    from,
                    to,
                    ..EventFilter::default()
                },
                limit: c.limit,
                ..EventQuery::default()
            }
        },
    },
    Shape {
        name: "one day, data class pci",
        make: |c, r| {
            let (from, to) = c.day_range(r);
            EventQuery {
                filter: EventFilter {
                    data_class: Some("pci".into()),
                    from,
                    to,
                    ..EventFilter::default()
                },
                limit: c.limit,
                ..EventQuery::default()
            }
        },
    },
    Shape {
        name: "one day, no filter",
        make: |c, r| {
            let (from, to) = c.day_range(r);
            EventQuery {
                filter: EventFilter {
                    from,
                    to,
                    ..EventFilter::default()
                },
                limit: c.limit,
                ..EventQuery::default()
            }
        },
    },
];

fn client_query(q: &EventQuery) -> sealtrail_client::EventsQuery {
    sealtrail_client::EventsQuery {
        filter: q.filter.clone(),
        limit: Some(q.limit),
        ..Default::default()
    }
}

pub fn query(a: BenchQueryArgs) -> anyhow::Result<ExitCode> {
    let store = sealtrail_keys::open_store(&a.data, &Backend::Embedded)?;
    let size = store.head()?.size;
    if size == 0 {
        bail!(
            "{} holds no log; run `sealtrail bench populate` first",
            a.data.display()
        );
    }
    let names = |g: StatsGroup| -> anyhow::Result<Vec<String>> {
        Ok(store
            .stats(&StatsQuery {
                group_by: vec![g],
                ..StatsQuery::default()
            })?
            .into_iter()
            .filter_map(|r| r.agent.or(r.kind).or(r.day.map(|d| d.to_string())))
            .collect())
    };
    let choices = Choices {
        agents: names(StatsGroup::Agent)?,
        kinds: names(StatsGroup::Kind)?,
        days: names(StatsGroup::Day)?
            .iter()
            .filter_map(|d| d.parse().ok())
            .collect(),
        limit: a.limit,
    };
    let http = match (&a.server, &a.api_key) {
        (Some(url), Some(key)) => {
            let mut b = sealtrail_client::Client::builder(url, key);
            if let Some(ca) = &a.ca_cert {
                b = b.ca_cert_file(ca);
            }
            Some(b.build()?)
        }
        (Some(_), None) => bail!("--server needs --api-key (or SEALTRAIL_API_KEY)"),
        _ => None,
    };
    let rt = crate::runtime::runtime(0)?;
    let mut results = Vec::new();
    for shape in &SHAPES {
        let mut lat = histogram()?;
        let mut http_lat = histogram()?;
        let mut returned = 0u64;
        for i in 0..(50 + a.iterations) {
            let q = (shape.make)(&choices, mix(a.seed ^ u64::from(i)));
            let t = Instant::now();
            let page = store.query(&q)?;
            let us = t.elapsed().as_micros() as u64;
            if let Some(client) = &http {
                let cq = client_query(&q);
                let t = Instant::now();
                let answer = rt.block_on(client.events(&cq))?;
                let hus = t.elapsed().as_micros() as u64;
                if answer.events.len() != page.events.len() {
                    bail!("HTTP and store answers differ for {q:?}");
                }
                if i >= 50 {
                    http_lat.record(hus.max(1))?;
                }
            }
            if i >= 50 {
                lat.record(us.max(1))?;
                returned += page.events.len() as u64;
            }
        }
        results.push(json!({
            "shape": shape.name,
            "store": summary(&lat),
            "http": http.as_ref().map(|_| summary(&http_lat)),
            "mean_events_per_page": returned as f64 / f64::from(a.iterations.max(1)),
        }));
    }
    let mut stats_results = Vec::new();
    for (name, group_by) in [
        (
            "agent, kind, outcome, day",
            vec![
                StatsGroup::Agent,
                StatsGroup::Kind,
                StatsGroup::Outcome,
                StatsGroup::Day,
            ],
        ),
        ("day", vec![StatsGroup::Day]),
        ("agent", vec![StatsGroup::Agent]),
    ] {
        let mut lat = histogram()?;
        let mut rows = 0;
        for _ in 0..a.stats_iterations.max(1) {
            let t = Instant::now();
            let r = store.stats(&StatsQuery {
                group_by: group_by.clone(),
                ..StatsQuery::default()
            })?;
            lat.record((t.elapsed().as_micros() as u64).max(1))?;
            rows = r.len();
        }
        stats_results.push(json!({"group_by": name, "rows": rows, "store": summary(&lat)}));
    }
    let report = json!({
        "entries": size,
        "agents": choices.agents.len(),
        "days": choices.days.len(),
        "kinds": choices.kinds.len(),
        "first_day": choices.days.first().map(|d| format_day(*d)),
        "pages": results,
        "stats": stats_results,
    });
    if a.json {
        println!("{report}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{size} entries, {} agents, {} days, {} kinds; {} timed pages of up to {} per shape",
        choices.agents.len(),
        choices.days.len(),
        choices.kinds.len(),
        a.iterations,
        a.limit
    );
    for r in &results {
        let s = &r["store"];
        print!(
            "{:<46} store p50 {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms  ({:.1} events/page)",
            r["shape"].as_str().unwrap_or(""),
            s["p50_ms"].as_f64().unwrap_or(0.0),
            s["p99_ms"].as_f64().unwrap_or(0.0),
            s["max_ms"].as_f64().unwrap_or(0.0),
            r["mean_events_per_page"].as_f64().unwrap_or(0.0)
        );
        if let Some(h) = r["http"].as_object() {
            print!(
                "  http p50 {:.3} ms p99 {:.3} ms",
                h["p50_ms"].as_f64().unwrap_or(0.0),
                h["p99_ms"].as_f64().unwrap_or(0.0)
            );
        }
        println!();
    }
    for r in &stats_results {
        let s = &r["store"];
        println!(
            "stats grouped by {:<28} {:>6} rows  p50 {:>8.3} ms  max {:>8.3} ms",
            r["group_by"].as_str().unwrap_or(""),
            r["rows"],
            s["p50_ms"].as_f64().unwrap_or(0.0),
            s["max_ms"].as_f64().unwrap_or(0.0)
        );
    }
    Ok(ExitCode::SUCCESS)
}
