//! `sealtrail bench ingest`: drive a running server with realistic synthetic
//! agent events and report sustained throughput and acknowledgement latency.
//!
//! Closed loop by default: `--concurrency` workers each send a batch, wait for
//! the answer, and send the next. With `--rate` the load is open loop: request
//! `k` is due at `start + k · batch/rate` whichever worker takes it, and
//! latency is also measured from that due time, so a stalled server cannot
//! hide its stall by slowing the load down (coordinated omission).
//!
//! Latency is per request: request sent → answer read (the ack of the batch).
//! Requests sent during `--warmup` are not counted.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use sealtrail_client::metrics::prometheus_value;
use sealtrail_client::{Client, ClientError, EventResult, Wait, CONTENT_TYPE_JSON};
use serde::Serialize;
use serde_json::json;

use sealtrail_core::time::parse_duration;

use crate::runtime::runtime;

/// The load: how much, how fast, how big. The server to drive (URL, key,
/// CA) comes with the CLI's shared server flags, which it flattens in front
/// of these.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Requests in flight at once (one per worker).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub concurrency: u32,
    /// Events per request.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
    /// Approximate size of one event's JSON in bytes (the `output` text is
    /// padded to reach it; events are never smaller than their fixed fields).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub event_size: u32,
    /// How long to measure, after the warmup: 30s, 500ms, 2m, 1.5s.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Target events/s across all workers (open loop); default: as fast as
    /// the server answers (closed loop).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Distinct agent ids the events come from.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub agents: u32,
    /// Load before measuring starts (not counted).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Ask for `?wait=checkpoint` (measures time to an inclusion proof).
    #[arg(long)]
    pub wait_checkpoint: bool,
    /// Client runtime threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the results as one JSON object.
    #[arg(long)]
    pub json: bool,
}

// ---------------------------------------------------------------------------
// The event generator.

const TOOLS: [(&str, &str); 6] = [
    ("search_orders", "orders.search"),
    ("get_customer", "customer.read"),
    ("issue_refund", "refund.issue"),
    ("send_email", "email.send"),
    ("query_database", "db.query"),
    ("read_file", "file.read"),
];
const MODELS: [&str; 3] = ["claude-sonnet-4", "gpt-4.1", "gemini-2.5-pro"];
const STEPS_PER_SESSION: u32 = 20;

#[derive(Serialize)]
struct AgentOut<'a> {
    id: &'a str,
    name: &'a str,
    version: &'static str,
    instance: &'a str,
}

#[derive(Serialize)]
struct ToolArgs<'a> {
    customer_id: &'a str,
    query: &'static str,
    limit: u32,
}

#[derive(Serialize)]
struct ToolOut<'a> {
    name: &'static str,
    call_id: &'a str,
    arguments: ToolArgs<'a>,
}

#[derive(Serialize)]
struct ModelOut {
    provider: &'static str,
    name: &'static str,
    input_tokens: u64,
    output_tokens: u64,
}

/// One event; `output` must stay the last field (the padding is spliced in).
#[derive(Serialize)]
struct BenchEvent<'a> {
    id: &'a str,
    agent: AgentOut<'a>,
    session: &'a str,
    seq: u64,
    kind: &'static str,
    action: &'static str,
    outcome: &'static str,
    principal: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool: Option<ToolOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<ModelOut>,
    occurred_at: &'a str,
    output: &'static str,
}

struct AgentState {
    id: String,
    name: String,
    seq: u64,
    session: String,
    sessions: u64,
    steps_left: u32,
}

/// Makes realistic events cheaply: fixed fields serialized with serde, the
/// bulk (`output`) copied from one pre-built padding string.
pub struct Generator {
    run_id: String,
    worker: u32,
    instance: String,
    agents: Vec<AgentState>,
    next_agent: usize,
    counter: u64,
    padding: Arc<str>,
    event_size: usize,
    scratch: String,
    scratch2: String,
    customer: String,
}

/// Text that looks like a model or tool output (ASCII, nothing to escape).
pub fn padding(len: usize) -> Arc<str> {
    const TEXT: &str = "The customer asked about order status and refund eligibility. \
        I looked up the order history, checked the return window and the payment method, \
        and summarised the policy that applies. ";
    TEXT.chars().cycle().take(len).collect::<String>().into()
}

impl Generator {
    /// Worker `worker` of `workers` speaks for agents `worker`, `worker +
    /// workers`, … below `agents` (or for agent `worker % agents` when there
    /// are fewer agents than workers), as its own agent instance.
    pub fn new(
        run_id: &str,
        worker: u32,
        workers: u32,
        agents: u32,
        event_size: usize,
        padding: Arc<str>,
    ) -> Self {
        let instance = format!("bench-{run_id}-w{worker}");
        let workers = workers.max(1);
        let agents = agents.max(1);
        let mine: Vec<u32> = if agents >= workers {
            (worker..agents).step_by(workers as usize).collect()
        } else {
            vec![worker % agents]
        };
        let agents = mine
            .into_iter()
            .map(|a| AgentState {
                id: format!("bench-agent-{a:04}"),
                name: format!("support agent {a}"),
                seq: 0,
                session: String::new(),
                sessions: 0,
                steps_left: 0,
            })
            .collect();
        Generator {
            run_id: run_id.to_string(),
            worker,
            instance,
            agents,
            next_agent: 0,
            counter: 0,
            padding,
            event_size,
            scratch: String::new(),
            scratch2: String::new(),
            customer: String::new(),
        }
    }

    /// Appends one event's JSON to `out`.
    pub fn write_event(&mut self, occurred_at: &str, out: &mut Vec<u8>) {
        let n = self.agents.len();
        let a = self.next_agent % n;
        self.next_agent = self.next_agent.wrapping_add(1);
        self.counter += 1;
        let counter = self.counter;
        let agent = &mut self.agents[a];
        agent.seq += 1;
        if agent.steps_left == 0 {
            agent.sessions += 1;
            agent.steps_left = STEPS_PER_SESSION;
            agent.session = format!(
                "sess-{}-w{}-{}-{}",
                self.run_id, self.worker, agent.id, agent.sessions
            );
        }
        agent.steps_left -= 1;

        self.scratch.clear();
        let _ = write!(self.scratch, "{}-{}-{}", self.run_id, self.worker, counter);
        self.scratch2.clear();
        let _ = write!(self.scratch2, "call_{:x}", counter);
        self.customer.clear();
        let _ = write!(
            self.customer,
            "C-{:06}",
            counter.wrapping_mul(7919) % 1_000_000
        );
        let model_turn = counter % 2 == 0;
        let (tool_name, action) = TOOLS[(counter / 2) as usize % TOOLS.len()];
        let event = BenchEvent {
            id: &self.scratch,
            agent: AgentOut {
                id: &agent.id,
                name: &agent.name,
                version: "1.4.2",
                instance: &self.instance,
            },
            session: &agent.session,
            seq: agent.seq,
            kind: if model_turn {
                "model_call"
            } else {
                "tool_call"
            },
            action: if model_turn { "llm.generate" } else { action },
            outcome: "success",
            principal: "user:alice@example.com",
            tool: (!model_turn).then(|| ToolOut {
                name: tool_name,
                call_id: &self.scratch2,
                arguments: ToolArgs {
                    customer_id: &self.customer,
                    query: "status:open refund:eligible",
                    limit: 20,
                },
            }),
            model: model_turn.then(|| ModelOut {
                provider: "bench",
                name: MODELS[(counter / 2) as usize % MODELS.len()],
                input_tokens: 800 + counter % 400,
                output_tokens: 100 + counter % 300,
            }),
            occurred_at,
            output: "",
        };
        let start = out.len();
        // Cannot fail: plain structs of strings and integers into a Vec.
        let _ = serde_json::to_writer(&mut *out, &event);
        // The JSON ends in `"output":""}`: splice the padding into that string.
        let fixed = out.len() - start;
        let pad = self
            .event_size
            .saturating_sub(fixed)
            .min(self.padding.len());
        out.truncate(out.len() - 2);
        out.extend_from_slice(&self.padding.as_bytes()[..pad]);
        out.extend_from_slice(b"\"}");
    }

    /// A JSON array body of `n` events.
    pub fn batch(&mut self, n: usize) -> Vec<u8> {
        let now = rfc3339_now();
        let mut body = Vec::with_capacity(n * (self.event_size + 16) + 2);
        body.push(b'[');
        for i in 0..n {
            if i > 0 {
                body.push(b',');
            }
            self.write_event(&now, &mut body);
        }
        body.push(b']');
        body
    }
}

/// UTC now as RFC 3339 with microseconds.
fn rfc3339_now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs(), d.subsec_micros())
}

/// RFC 3339 with microseconds, the one formatter in `sealtrail_core::time`.
fn rfc3339(secs: u64, micros: u32) -> String {
    sealtrail_core::time::format_time(secs * 1_000_000 + u64::from(micros))
}

// ---------------------------------------------------------------------------
// The load loop.

struct Ctx {
    client: Client,
    wait: Wait,
    batch_size: usize,
    start: Instant,
    measure_start: Instant,
    end: Instant,
    /// Open loop: time between two requests' due times.
    interval: Option<Duration>,
    ticket: AtomicU64,
    stop: AtomicBool,
    fatal: Mutex<Option<String>>,
}

fn histogram() -> Histogram<u64> {
    // Microseconds, 1 µs to 1 h, 3 significant digits. Cannot fail with these bounds.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

struct Stats {
    latency: Histogram<u64>,
    /// Open loop only: due time → answer.
    latency_from_due: Histogram<u64>,
    requests: u64,
    events: u64,
    bytes: u64,
    accepted: u64,
    duplicates: u64,
    rejected: u64,
    errors: BTreeMap<String, u64>,
    last_done: Option<Instant>,
}

impl Stats {
    fn new() -> Self {
        Stats {
            latency: histogram(),
            latency_from_due: histogram(),
            requests: 0,
            events: 0,
            bytes: 0,
            accepted: 0,
            duplicates: 0,
            rejected: 0,
            errors: BTreeMap::new(),
            last_done: None,
        }
    }

    fn merge(&mut self, o: Stats) {
        let _ = self.latency.add(&o.latency);
        let _ = self.latency_from_due.add(&o.latency_from_due);
        self.requests += o.requests;
        self.events += o.events;
        self.bytes += o.bytes;
        self.accepted += o.accepted;
        self.duplicates += o.duplicates;
        self.rejected += o.rejected;
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.last_done = self.last_done.max(o.last_done);
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Errors that will not go away by sending more: stop the run.
fn is_fatal(e: &ClientError) -> bool {
    match e {
        ClientError::Transport { .. } => true,
        ClientError::Api { status, .. } => matches!(status, 401 | 403 | 404 | 405 | 415),
        _ => false,
    }
}

async fn worker(ctx: Arc<Ctx>, mut gen: Generator) -> Stats {
    let mut stats = Stats::new();
    loop {
        if ctx.stop.load(Ordering::Relaxed) {
            break;
        }
        let due = match ctx.interval {
            Some(interval) => {
                let k = ctx.ticket.fetch_add(1, Ordering::Relaxed);
                let due = ctx.start + interval.mul_f64(k as f64);
                if due >= ctx.end {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                Some(due)
            }
            None => None,
        };
        let body = gen.batch(ctx.batch_size);
        let bytes = body.len() as u64;
        let sent = Instant::now();
        if sent >= ctx.end {
            break;
        }
        let measuring = due.unwrap_or(sent) >= ctx.measure_start;
        let result = ctx
            .client
            .ingest_raw(body, CONTENT_TYPE_JSON, ctx.wait)
            .await;
        let done = Instant::now();
        if !measuring {
            if let Err(e) = &result {
                if is_fatal(e) {
                    stop(&ctx, e);
                    break;
                }
            }
            continue;
        }
        stats.requests += 1;
        stats.events += ctx.batch_size as u64;
        stats.bytes += bytes;
        stats.last_done = Some(done);
        match result {
            Ok(answer) => {
                let _ = stats.latency.record(micros(done - sent));
                if let Some(due) = due {
                    let _ = stats.latency_from_due.record(micros(done - due));
                }
                for r in &answer.results {
                    match r {
                        EventResult::Sealed(_) => stats.accepted += 1,
                        EventResult::Duplicate(_) => stats.duplicates += 1,
                        EventResult::Rejected(e) => {
                            stats.rejected += 1;
                            *stats
                                .errors
                                .entry(format!("rejected:{}", e.code))
                                .or_default() += 1;
                        }
                    }
                }
            }
            Err(e) => {
                *stats.errors.entry(e.code()).or_default() += 1;
                if is_fatal(&e) {
                    stop(&ctx, &e);
                    break;
                }
                if e.is_overloaded() && ctx.interval.is_none() {
                    // Closed loop: honour the server's backpressure.
                    let left = ctx.end.saturating_duration_since(Instant::now());
                    let wait = e.retry_after().unwrap_or(Duration::from_millis(100));
                    tokio::time::sleep(wait.min(left)).await;
                }
            }
        }
    }
    stats
}

fn stop(ctx: &Ctx, e: &ClientError) {
    ctx.stop.store(true, Ordering::Relaxed);
    if let Ok(mut f) = ctx.fatal.lock() {
        f.get_or_insert_with(|| e.to_string());
    }
}

fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "{:x}",
        (nanos as u64) ^ (u64::from(std::process::id()) << 40)
    )
}

// ---------------------------------------------------------------------------
// Reporting.

#[derive(Debug, Serialize)]
struct LatencyMs {
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
    mean: f64,
}

impl LatencyMs {
    fn of(h: &Histogram<u64>) -> Option<LatencyMs> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| (us as f64 / 1000.0 * 1000.0).round() / 1000.0;
        Some(LatencyMs {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: (h.mean() / 1000.0 * 1000.0).round() / 1000.0,
        })
    }

    fn line(&self) -> String {
        format!(
            "p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2} ms",
            self.p50, self.p90, self.p99, self.p999, self.max
        )
    }
}

fn fmt_bytes(b: f64) -> String {
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    }
}

/// Runs the load against `server` (its URL, for the report) with a client
/// made from `client` (the server, key, project and CA already set).
pub fn run(
    server: &str,
    client: sealtrail_client::ClientBuilder,
    args: LoadArgs,
) -> anyhow::Result<ExitCode> {
    if let Some(r) = args.rate {
        if !(r.is_finite() && r > 0.0) {
            bail!("--rate must be a positive number of events per second");
        }
    }
    if args.duration.is_zero() {
        bail!("--duration must be more than 0");
    }
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let client = client.timeout(Duration::from_secs(60)).build()?;
    let rt = runtime(threads.max(1))?;
    rt.block_on(bench(server, args, client))
}

async fn bench(server: &str, args: LoadArgs, client: Client) -> anyhow::Result<ExitCode> {
    // Fail fast, with the transport's reason, when nothing listens.
    if let Err(e) = client.healthz().await {
        if e.is_transport() {
            return Err(e).context("preflight GET /healthz");
        }
    }
    let batch = args.batch_size as usize;
    let start = Instant::now();
    let measure_start = start + args.warmup;
    let end = measure_start + args.duration;
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        wait: if args.wait_checkpoint {
            Wait::Checkpoint
        } else {
            Wait::Durable
        },
        batch_size: batch,
        start,
        measure_start,
        end,
        interval: args.rate.map(|r| Duration::from_secs_f64(batch as f64 / r)),
        ticket: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        fatal: Mutex::new(None),
    });
    let pad = padding(args.event_size as usize);
    let id = run_id();
    let mut handles = Vec::new();
    for w in 0..args.concurrency {
        let gen = Generator::new(
            &id,
            w,
            args.concurrency,
            args.agents,
            args.event_size as usize,
            pad.clone(),
        );
        handles.push(tokio::spawn(worker(ctx.clone(), gen)));
    }
    let mut total = Stats::new();
    for h in handles {
        total.merge(h.await.context("a load worker panicked")?);
    }
    if let Some(reason) = ctx.fatal.lock().ok().and_then(|f| f.clone()) {
        bail!("benchmark stopped: {reason}");
    }
    let rss = match client.metrics().await {
        Ok(text) => prometheus_value(&text, "process_resident_memory_bytes"),
        Err(_) => None,
    };

    let elapsed = total
        .last_done
        .map(|d| d.saturating_duration_since(measure_start))
        .filter(|d| !d.is_zero())
        .unwrap_or(args.duration)
        .as_secs_f64();
    let events_per_s = total.accepted as f64 / elapsed;
    let requests_per_s = total.requests as f64 / elapsed;
    let mb_per_s = total.bytes as f64 / elapsed / 1e6;
    let avg_event = if total.events > 0 {
        total.bytes as f64 / total.events as f64
    } else {
        0.0
    };
    let latency = LatencyMs::of(&total.latency);
    let latency_due = if args.rate.is_some() {
        LatencyMs::of(&total.latency_from_due)
    } else {
        None
    };
    let error_total: u64 = total.errors.values().sum();
    let round = |x: f64, d: i32| (x * 10f64.powi(d)).round() / 10f64.powi(d);

    if args.json {
        let out = json!({
            "server": server,
            "mode": if args.rate.is_some() { "open" } else { "closed" },
            "concurrency": args.concurrency,
            "batch_size": args.batch_size,
            "event_size": args.event_size,
            "event_bytes_avg": round(avg_event, 1),
            "agents": args.agents,
            "wait_checkpoint": args.wait_checkpoint,
            "duration_s": round(elapsed, 3),
            "warmup_s": args.warmup.as_secs_f64(),
            "rate_target": args.rate,
            "requests": total.requests,
            "events_sent": total.events,
            "accepted": total.accepted,
            "duplicates": total.duplicates,
            "rejected": total.rejected,
            "events_per_s": round(events_per_s, 1),
            "requests_per_s": round(requests_per_s, 2),
            "mb_per_s": round(mb_per_s, 2),
            "latency_ms": latency,
            "latency_from_due_ms": latency_due,
            "errors": total.errors,
            "server_rss_bytes": rss.map(|r| r as u64),
        });
        println!("{out}");
    } else {
        println!("sealtrail bench ingest → {server}");
        println!(
            "  load       {} workers, {} events/request, ~{} B/event ({avg_event:.0} B on the wire), {} agents, {}",
            args.concurrency,
            args.batch_size,
            args.event_size,
            args.agents,
            match args.rate {
                Some(r) => format!("open loop at {r} events/s"),
                None => "closed loop".into(),
            }
        );
        println!(
            "  measured   {elapsed:.1} s after {} s warmup{}",
            args.warmup.as_secs_f64(),
            if args.wait_checkpoint {
                ", ?wait=checkpoint"
            } else {
                ""
            }
        );
        println!(
            "  events     {} sealed, {} duplicates, {} rejected",
            total.accepted, total.duplicates, total.rejected
        );
        println!(
            "  throughput {events_per_s:.0} events/s, {requests_per_s:.1} requests/s, {mb_per_s:.1} MB/s"
        );
        match &latency {
            Some(l) => println!("  latency    {} (request sent → answer)", l.line()),
            None => println!("  latency    n/a (no successful request)"),
        }
        if let Some(l) = &latency_due {
            println!("  from due   {} (scheduled send → answer)", l.line());
        }
        if error_total == 0 {
            println!("  errors     none");
        } else {
            let list: Vec<String> = total
                .errors
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            println!("  errors     {error_total}: {}", list.join(", "));
        }
        println!(
            "  server RSS {}",
            rss.map_or_else(|| "n/a".to_string(), fmt_bytes)
        );
    }
    if total.accepted + total.duplicates == 0 {
        eprintln!("no event was accepted during the measurement");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_valid_and_about_the_requested_size() {
        for size in [200usize, 1024, 4096, 65_536] {
            let mut g = Generator::new("r1", 3, 8, 100, size, padding(size));
            let body = g.batch(50);
            let events: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
            assert_eq!(events.len(), 50);
            for e in &events {
                let len = serde_json::to_vec(e).unwrap().len();
                if size >= 1024 {
                    assert!(len.abs_diff(size) <= size / 50, "size {size}: got {len}");
                }
                let bytes = serde_json::to_vec(e).unwrap();
                sealtrail_core::event::Event::from_json_slice(&bytes)
                    .unwrap_or_else(|err| panic!("{err}: {e}"));
            }
            // Ids are unique, kinds alternate, seqs count per agent instance.
            let ids: std::collections::HashSet<_> =
                events.iter().map(|e| e["id"].as_str().unwrap()).collect();
            assert_eq!(ids.len(), 50);
            assert!(events.iter().any(|e| e["kind"] == "tool_call"));
            assert!(events.iter().any(|e| e["kind"] == "model_call"));
        }
        // Tiny requested sizes give the smallest realistic event, not a broken one.
        let mut g = Generator::new("r1", 0, 1, 2, 1, padding(1));
        let body = g.batch(3);
        let events: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
        assert_eq!(events[0]["output"], "");
    }

    #[test]
    fn agents_are_split_over_workers_and_seq_counts_per_agent() {
        let ids = |g: &mut Generator, n: usize| -> Vec<(String, u64)> {
            let events: Vec<serde_json::Value> = serde_json::from_slice(&g.batch(n)).unwrap();
            events
                .iter()
                .map(|e| {
                    (
                        e["agent"]["id"].as_str().unwrap().to_string(),
                        e["seq"].as_u64().unwrap(),
                    )
                })
                .collect()
        };
        // 5 agents, 2 workers: worker 1 has agents 1 and 3.
        let mut g = Generator::new("r", 1, 2, 5, 300, padding(300));
        assert_eq!(
            ids(&mut g, 5),
            vec![
                ("bench-agent-0001".into(), 1),
                ("bench-agent-0003".into(), 1),
                ("bench-agent-0001".into(), 2),
                ("bench-agent-0003".into(), 2),
                ("bench-agent-0001".into(), 3),
            ]
        );
        // Worker 0 of 2 has agents 0, 2, 4; sessions rotate every 20 steps.
        let mut g = Generator::new("r", 0, 2, 5, 300, padding(300));
        let events: Vec<serde_json::Value> = serde_json::from_slice(&g.batch(61)).unwrap();
        let agents: std::collections::BTreeSet<_> = events
            .iter()
            .map(|e| e["agent"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(agents.len(), 3);
        let sessions: std::collections::BTreeSet<_> = events
            .iter()
            .map(|e| e["session"].as_str().unwrap())
            .collect();
        assert_eq!(sessions.len(), 4); // 21 + 20 + 20 steps
                                       // Fewer agents than workers: workers share agents as distinct instances.
        let mut a = Generator::new("r", 3, 4, 2, 300, padding(300));
        let mut b = Generator::new("r", 1, 4, 2, 300, padding(300));
        let (ea, eb): (Vec<serde_json::Value>, Vec<serde_json::Value>) = (
            serde_json::from_slice(&a.batch(1)).unwrap(),
            serde_json::from_slice(&b.batch(1)).unwrap(),
        );
        assert_eq!(ea[0]["agent"]["id"], eb[0]["agent"]["id"]);
        assert_ne!(ea[0]["agent"]["instance"], eb[0]["agent"]["instance"]);
        assert_eq!(
            (ea[0]["seq"].as_u64(), eb[0]["seq"].as_u64()),
            (Some(1), Some(1))
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000005Z");
        assert_eq!(
            rfc3339(1_795_000_000, 123_456),
            "2026-11-18T11:06:40.123456Z"
        );
        sealtrail_core::event::check_rfc3339(&rfc3339_now()).unwrap();
    }

    #[test]
    fn latency_summary() {
        let mut h = histogram();
        for us in 1..=1000u64 {
            h.record(us * 1000).unwrap();
        }
        let l = LatencyMs::of(&h).unwrap();
        assert!((l.p50 - 500.0).abs() < 1.0, "{l:?}");
        assert!((l.p99 - 990.0).abs() < 2.0, "{l:?}");
        assert!((l.max - 1000.0).abs() < 1.0, "{l:?}");
        assert!(LatencyMs::of(&histogram()).is_none());
        assert_eq!(fmt_bytes(45_056_000.0), "43.0 MiB");
    }
}
