//! `sealtrail bench diy`: the do-it-yourself baseline that sealtrail is
//! compared against in docs/benchmarks.md.
//!
//! This is what a team builds when it "just logs to a table": an append-only
//! audit table with an autoincrement id, indexes on agent and on time, and a
//! SHA-256 hash-chain column, `hash = SHA-256(prev_hash ‖ event_json)` (the
//! genesis `prev_hash` is 32 zero bytes). Every event is written with one
//! INSERT in its own transaction, and every transaction is a durable commit
//! (SQLite: WAL with `synchronous=FULL`; PostgreSQL: the default
//! `synchronous_commit = on`).
//!
//! Keeping it a chain with several writers needs serialisation: SQLite takes
//! the database write lock up front (`BEGIN IMMEDIATE`) and then reads the
//! last row; PostgreSQL locks a single-row `chain_head` table with
//! `SELECT … FOR UPDATE`. (Locking the last event row with `FOR UPDATE` is not
//! enough under READ COMMITTED: a writer that waited for the lock gets the
//! same, no longer last, row back and forks the chain.)
//!
//! At the end every row is read back and every hash recomputed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use sha2::{Digest, Sha256};

/// The default PostgreSQL connection string: the local server's Unix socket.
pub const DEFAULT_DATABASE: &str = "host=/var/run/postgresql user=postgres dbname=test";

/// The storage engine of the do-it-yourself table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// An SQLite file in WAL mode with synchronous=FULL.
    Sqlite,
    /// A PostgreSQL server with its default synchronous_commit=on.
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Arguments of `sealtrail bench diy`.
#[derive(Debug, Clone, clap::Args)]
pub struct DiyArgs {
    /// Where the audit table lives.
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    pub backend: Backend,
    /// PostgreSQL connection string (key=value or postgres:// URL). A fresh
    /// schema is created for the run and dropped at the end.
    #[arg(long, env = "SEALTRAIL_DIY_DATABASE", default_value = DEFAULT_DATABASE)]
    pub database: String,
    /// SQLite database file to create (it must not exist yet; it is kept).
    /// Default: a file in a temporary directory that is removed at the end.
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// Number of events to write.
    #[arg(long, default_value_t = 20_000)]
    pub events: u64,
    /// Approximate size of each event's JSON, in bytes.
    #[arg(long, default_value_t = 1024)]
    pub event_size: usize,
    /// Number of concurrent writers, each with its own connection.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Print one JSON object instead of a human summary.
    #[arg(long)]
    pub json: bool,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct DiyReport {
    pub backend: Backend,
    pub events: u64,
    pub event_size: usize,
    pub concurrency: usize,
    /// Wall-clock seconds of the write phase (setup and verification excluded).
    pub seconds: f64,
    pub events_per_sec: f64,
    /// Per-event transaction latency (BEGIN … COMMIT returned), milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub verification: Verification,
    pub verify_seconds: f64,
    /// Where the data went (file path or schema), for the human summary.
    pub location: String,
}

/// The outcome of reading the whole table back and recomputing every hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Rows read.
    pub rows: u64,
    /// Rows whose stored hash does not match the recomputed one.
    pub bad_rows: u64,
    /// The id of the first such row.
    pub first_bad_id: Option<i64>,
    /// Other problems: a row count other than expected, a stale chain head.
    pub problems: Vec<String>,
}

impl Verification {
    /// Whether the chain is intact.
    pub fn ok(&self) -> bool {
        self.bad_rows == 0 && self.problems.is_empty()
    }
}

/// Recomputes a hash chain row by row, in id order.
struct ChainVerifier {
    prev: [u8; 32],
    rows: u64,
    bad_rows: u64,
    first_bad_id: Option<i64>,
    problems: Vec<String>,
}

impl ChainVerifier {
    fn new() -> Self {
        ChainVerifier {
            prev: [0u8; 32],
            rows: 0,
            bad_rows: 0,
            first_bad_id: None,
            problems: Vec::new(),
        }
    }

    fn push(&mut self, id: i64, event: &[u8], stored_hash_hex: &str) {
        self.rows += 1;
        let computed = chain_hash(&self.prev, event);
        let stored = decode_hash(stored_hash_hex);
        if stored != Some(computed) {
            self.bad_rows += 1;
            self.first_bad_id.get_or_insert(id);
        }
        // Chain on from what is stored, so each altered row is counted once
        // (a row whose hash was recomputed by a forger breaks the next row).
        self.prev = stored.unwrap_or(computed);
    }

    fn last_hash_hex(&self) -> String {
        hex::encode(self.prev)
    }

    fn finish(mut self, expected_rows: Option<u64>) -> Verification {
        if let Some(expected) = expected_rows {
            if expected != self.rows {
                self.problems
                    .push(format!("expected {expected} rows, found {}", self.rows));
            }
        }
        Verification {
            rows: self.rows,
            bad_rows: self.bad_rows,
            first_bad_id: self.first_bad_id,
            problems: self.problems,
        }
    }
}

/// `SHA-256(prev_hash ‖ event_json)`.
fn chain_hash(prev: &[u8; 32], event: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(event);
    h.finalize().into()
}

fn decode_hash(hex_str: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_str.trim(), &mut out).ok()?;
    Some(out)
}

/// Entry point of `sealtrail bench diy`.
pub fn run(args: DiyArgs) -> anyhow::Result<ExitCode> {
    let report = run_bench(&args)?;
    if args.json {
        println!("{}", report_json(&report));
    } else {
        print_human(&report);
    }
    if report.verification.ok() {
        Ok(ExitCode::SUCCESS)
    } else {
        if args.json {
            eprintln!("error: {}", describe_failure(&report.verification));
        }
        Ok(ExitCode::from(1))
    }
}

/// Runs the benchmark for the selected backend.
pub fn run_bench(args: &DiyArgs) -> anyhow::Result<DiyReport> {
    if args.events == 0 {
        bail!("--events must be at least 1");
    }
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    match args.backend {
        Backend::Sqlite => run_sqlite(args),
        Backend::Postgres => run_postgres(args),
    }
}

fn report_json(r: &DiyReport) -> serde_json::Value {
    serde_json::json!({
        "backend": r.backend.name(),
        "events": r.events,
        "event_size": r.event_size,
        "concurrency": r.concurrency,
        "seconds": r.seconds,
        "events_per_sec": r.events_per_sec,
        "p50_ms": r.p50_ms,
        "p99_ms": r.p99_ms,
        "chain_ok": r.verification.ok(),
    })
}

fn describe_failure(v: &Verification) -> String {
    let mut parts = Vec::new();
    if v.bad_rows > 0 {
        parts.push(format!(
            "{} of {} rows fail hash verification (first at id {})",
            v.bad_rows,
            v.rows,
            v.first_bad_id
                .map_or_else(|| "?".to_string(), |i| i.to_string())
        ));
    }
    parts.extend(v.problems.iter().cloned());
    format!("hash chain BROKEN: {}", parts.join("; "))
}

fn print_human(r: &DiyReport) {
    let engine = match r.backend {
        Backend::Sqlite => "SQLite, WAL, synchronous=FULL",
        Backend::Postgres => "PostgreSQL, synchronous_commit=on",
    };
    println!(
        "sealtrail bench diy: one INSERT + one durable commit per event, SHA-256 chain column"
    );
    println!("  backend      {} ({engine})", r.backend.name());
    println!("  table        {}", r.location);
    println!(
        "  workload     {} events x ~{} B, concurrency {}",
        r.events, r.event_size, r.concurrency
    );
    println!("  elapsed      {:.3} s", r.seconds);
    println!("  throughput   {:.0} events/s", r.events_per_sec);
    println!(
        "  commit       p50 {:.3} ms   p99 {:.3} ms   max {:.3} ms",
        r.p50_ms, r.p99_ms, r.max_ms
    );
    if r.verification.ok() {
        println!(
            "  chain        OK: {} rows re-read and re-hashed in {:.3} s",
            r.verification.rows, r.verify_seconds
        );
    } else {
        println!("  chain        {}", describe_failure(&r.verification));
    }
}

// ---------------------------------------------------------------------------
// Event generation

const AGENTS: [&str; 8] = [
    "agent-billing",
    "agent-support",
    "agent-research",
    "agent-ops",
    "agent-sales",
    "agent-legal",
    "agent-hr",
    "agent-data",
];

const KINDS: [&str; 4] = ["tool_call", "tool_result", "llm_completion", "decision"];

const TOOLS: [(&str, &str); 6] = [
    (
        "http.get",
        r#"{"url":"https://api.example.com/v1/orders?page=3&status=open","timeout_ms":5000}"#,
    ),
    (
        "fs.read",
        r#"{"path":"/srv/shared/reports/2024-q3/revenue.csv","max_bytes":65536}"#,
    ),
    (
        "sql.query",
        r#"{"db":"crm","query":"SELECT id, name, tier FROM customers WHERE region = $1 LIMIT 50","params":["emea"]}"#,
    ),
    (
        "email.send",
        r#"{"to":["finance@example.com"],"subject":"Invoice 88213 approved","attachments":1}"#,
    ),
    (
        "shell.exec",
        r#"{"cmd":["kubectl","rollout","status","deploy/api"],"cwd":"/srv/ops"}"#,
    ),
    (
        "search.web",
        r#"{"q":"EU AI Act article 12 record-keeping obligations","top_k":8}"#,
    ),
];

/// Cheap generator of realistic event JSON of about `size` bytes: the
/// structure is formatted, the tool output is padded from a pre-generated
/// pseudo-random text at a per-event offset.
struct EventGen {
    size: usize,
    padding: String,
}

const PAD_WINDOW: usize = 4096;

impl EventGen {
    fn new(size: usize) -> Self {
        const ALPHABET: &[u8] =
            b"abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 ,.:;-_/";
        let len = size + PAD_WINDOW;
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let padding = (0..len)
            .map(|_| {
                // xorshift64
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ALPHABET[(state % ALPHABET.len() as u64) as usize] as char
            })
            .collect();
        EventGen { size, padding }
    }

    /// The event with sequence number `seq`: (agent, JSON text).
    fn event(&self, seq: u64, ts_us: i64) -> (&'static str, String) {
        let agent = AGENTS[(seq % AGENTS.len() as u64) as usize];
        let kind = KINDS[((seq / 3) % KINDS.len() as u64) as usize];
        let (tool, arguments) = TOOLS[((seq / 7) % TOOLS.len() as u64) as usize];
        let session = seq / 64;
        let mut s = String::with_capacity(self.size + 64);
        s.push_str(&format!(
            r#"{{"v":1,"ts_us":{ts_us},"agent":"{agent}","session":"sess-{session:06}-{:08x}","seq":{seq},"kind":"{kind}","tool":"{tool}","arguments":{arguments},"status":"ok","output":""#,
            session.wrapping_mul(0x9E37_79B9) & 0xffff_ffff
        ));
        const SUFFIX: &str = r#""}"#;
        let want = self.size.saturating_sub(s.len() + SUFFIX.len());
        let start = ((seq.wrapping_mul(7919)) % PAD_WINDOW as u64) as usize;
        s.push_str(&self.padding[start..start + want]);
        s.push_str(SUFFIX);
        (agent, s)
    }
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Shared write-phase plumbing

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    // Microseconds, 1 µs .. 10 min, 3 significant digits.
    Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).context("cannot create histogram")
}

fn record(hist: &mut Histogram<u64>, d: Duration) {
    let us = (d.as_micros() as u64).clamp(1, hist.high());
    hist.saturating_record(us);
}

/// Runs `concurrency` workers; each pulls sequence numbers from a shared
/// counter and writes those events. Returns the merged latency histogram and
/// the wall-clock duration of the whole write phase.
fn write_phase<W, F>(args: &DiyArgs, open_worker: F) -> anyhow::Result<(Histogram<u64>, Duration)>
where
    F: Fn(usize) -> anyhow::Result<W>,
    W: FnMut(&str, &str, i64) -> anyhow::Result<()> + Send,
{
    let gen_ = EventGen::new(args.event_size);
    let next = AtomicU64::new(0);
    // Open every connection before the clock starts.
    let mut writers = Vec::with_capacity(args.concurrency);
    for i in 0..args.concurrency {
        writers.push(open_worker(i)?);
    }
    let started = Instant::now();
    let results: Vec<anyhow::Result<Histogram<u64>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = writers
            .into_iter()
            .map(|mut write| {
                let next = &next;
                let gen_ = &gen_;
                scope.spawn(move || -> anyhow::Result<Histogram<u64>> {
                    let mut hist = new_histogram()?;
                    loop {
                        let seq = next.fetch_add(1, Ordering::Relaxed);
                        if seq >= args.events {
                            break;
                        }
                        let ts = now_us();
                        let (agent, event) = gen_.event(seq, ts);
                        let t0 = Instant::now();
                        write(agent, &event, ts).with_context(|| format!("writing event {seq}"))?;
                        record(&mut hist, t0.elapsed());
                    }
                    Ok(hist)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a writer thread panicked")))
            })
            .collect()
    });
    let elapsed = started.elapsed();
    let mut total = new_histogram()?;
    for r in results {
        total.add(r?).context("cannot merge latency histograms")?;
    }
    Ok((total, elapsed))
}

fn make_report(
    args: &DiyArgs,
    hist: &Histogram<u64>,
    elapsed: Duration,
    verification: Verification,
    verify_seconds: f64,
    location: String,
) -> DiyReport {
    let seconds = elapsed.as_secs_f64();
    DiyReport {
        backend: args.backend,
        events: args.events,
        event_size: args.event_size,
        concurrency: args.concurrency,
        seconds,
        events_per_sec: if seconds > 0.0 {
            args.events as f64 / seconds
        } else {
            0.0
        },
        p50_ms: hist.value_at_quantile(0.50) as f64 / 1000.0,
        p99_ms: hist.value_at_quantile(0.99) as f64 / 1000.0,
        max_ms: hist.max() as f64 / 1000.0,
        verification,
        verify_seconds,
        location,
    }
}

// ---------------------------------------------------------------------------
// SQLite

const SQLITE_SCHEMA: &str = "
CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at INTEGER NOT NULL,          -- unix microseconds
    agent      TEXT    NOT NULL,
    event      TEXT    NOT NULL,          -- the exact JSON bytes that were hashed
    hash       TEXT    NOT NULL           -- hex SHA-256(prev_hash || event)
);
CREATE INDEX audit_events_agent ON audit_events(agent);
CREATE INDEX audit_events_created_at ON audit_events(created_at);
";

fn sqlite_open(path: &Path) -> anyhow::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)
        .with_context(|| format!("cannot open SQLite database {}", path.display()))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .context("cannot switch SQLite to WAL mode")?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!("SQLite refused WAL mode (journal_mode is {mode})");
    }
    conn.execute_batch("PRAGMA synchronous=FULL;")
        .context("cannot set synchronous=FULL")?;
    conn.busy_timeout(Duration::from_secs(120))
        .context("cannot set busy timeout")?;
    Ok(conn)
}

/// One event, one transaction: take the write lock, read the chain head (the
/// last row), insert, commit (fsync of the WAL).
fn sqlite_append(
    conn: &mut rusqlite::Connection,
    agent: &str,
    event: &str,
    ts_us: i64,
) -> anyhow::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let prev = {
        let mut stmt =
            tx.prepare_cached("SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1")?;
        let mut rows = stmt.query([])?;
        match rows.next()? {
            Some(row) => {
                let h: String = row.get(0)?;
                decode_hash(&h).context("the last row's hash is not 64 hex digits")?
            }
            None => [0u8; 32],
        }
    };
    let hash = hex::encode(chain_hash(&prev, event.as_bytes()));
    tx.prepare_cached(
        "INSERT INTO audit_events (created_at, agent, event, hash) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(rusqlite::params![ts_us, agent, event, hash])?;
    tx.commit()?;
    Ok(())
}

/// Reads the whole table in id order and recomputes every hash.
pub fn verify_sqlite(
    conn: &rusqlite::Connection,
    expected_rows: Option<u64>,
) -> anyhow::Result<Verification> {
    let mut v = ChainVerifier::new();
    let mut stmt = conn
        .prepare("SELECT id, event, hash FROM audit_events ORDER BY id")
        .context("cannot read the audit table back")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let event = row.get_ref(1)?;
        let event: &[u8] = match event {
            rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => t,
            other => bail!("row {id}: event column has type {:?}", other.data_type()),
        };
        let hash: String = row.get(2)?;
        v.push(id, event, &hash);
    }
    Ok(v.finish(expected_rows))
}

fn run_sqlite(args: &DiyArgs) -> anyhow::Result<DiyReport> {
    let tmp;
    let path = match &args.path {
        Some(p) => {
            if p.exists() {
                bail!(
                    "{} already exists; give --path a new file (the benchmark creates its own table)",
                    p.display()
                );
            }
            p.clone()
        }
        None => {
            tmp = tempfile::Builder::new()
                .prefix("sealtrail-diy-")
                .tempdir()
                .context("cannot create a temporary directory")?;
            tmp.path().join("audit.sqlite")
        }
    };
    {
        let conn = sqlite_open(&path)?;
        conn.execute_batch(SQLITE_SCHEMA)
            .context("cannot create the audit table")?;
    }
    let (hist, elapsed) = write_phase(args, |_| {
        let mut conn = sqlite_open(&path)?;
        Ok(move |agent: &str, event: &str, ts: i64| sqlite_append(&mut conn, agent, event, ts))
    })?;
    let t0 = Instant::now();
    let conn = sqlite_open(&path)?;
    let verification = verify_sqlite(&conn, Some(args.events))?;
    let verify_seconds = t0.elapsed().as_secs_f64();
    let location = match &args.path {
        Some(p) => format!("{} (kept)", p.display()),
        None => format!("{} (temporary, removed)", path.display()),
    };
    Ok(make_report(
        args,
        &hist,
        elapsed,
        verification,
        verify_seconds,
        location,
    ))
    // `tmp` (if any) is dropped here, removing the temporary directory.
}

// ---------------------------------------------------------------------------
// PostgreSQL

fn pg_connect(database: &str) -> anyhow::Result<postgres::Client> {
    postgres::Client::connect(database, postgres::NoTls)
        .with_context(|| format!("cannot connect to PostgreSQL at {database:?}"))
}

fn pg_schema_sql(schema: &str) -> String {
    format!(
        "
CREATE SCHEMA {schema};
CREATE TABLE {schema}.audit_events (
    id         BIGSERIAL PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    agent      TEXT NOT NULL,
    event      TEXT NOT NULL,   -- the exact JSON bytes that were hashed
    hash       TEXT NOT NULL    -- hex SHA-256(prev_hash || event)
);
CREATE INDEX ON {schema}.audit_events (agent);
CREATE INDEX ON {schema}.audit_events (created_at);
-- The chain head: one row, locked FOR UPDATE by every writer.
CREATE TABLE {schema}.chain_head (
    id      INT PRIMARY KEY CHECK (id = 1),
    last_id BIGINT,
    hash    TEXT NOT NULL
);
INSERT INTO {schema}.chain_head (id, last_id, hash) VALUES (1, NULL, '{}');
",
        hex::encode([0u8; 32])
    )
}

/// A writer on its own connection, with its statements prepared.
struct PgWriter {
    client: postgres::Client,
    lock_head: postgres::Statement,
    insert: postgres::Statement,
}

impl PgWriter {
    fn open(database: &str, schema: &str) -> anyhow::Result<Self> {
        let mut client = pg_connect(database)?;
        let lock_head = client
            .prepare(&format!(
                "SELECT hash FROM {schema}.chain_head WHERE id = 1 FOR UPDATE"
            ))
            .context("cannot prepare the chain-head lock")?;
        let insert = client
            .prepare(&format!(
                "WITH ins AS (
                     INSERT INTO {schema}.audit_events (agent, event, hash)
                     VALUES ($1, $2, $3) RETURNING id)
                 UPDATE {schema}.chain_head SET hash = $3, last_id = (SELECT id FROM ins)
                 WHERE id = 1"
            ))
            .context("cannot prepare the insert")?;
        Ok(PgWriter {
            client,
            lock_head,
            insert,
        })
    }

    /// One event, one transaction: lock the chain head, insert the event and
    /// advance the head, commit.
    fn append(&mut self, agent: &str, event: &str) -> anyhow::Result<()> {
        let mut tx = self.client.transaction()?;
        let row = tx.query_one(&self.lock_head, &[])?;
        let prev: String = row.get(0);
        let prev = decode_hash(&prev).context("the chain head is not 64 hex digits")?;
        let hash = hex::encode(chain_hash(&prev, event.as_bytes()));
        let updated = tx.execute(&self.insert, &[&agent, &event, &hash])?;
        if updated != 1 {
            bail!("the chain head row is missing");
        }
        tx.commit()?;
        Ok(())
    }
}

/// Reads the whole table in id order (streaming), recomputes every hash, and
/// checks that the chain head names the last row.
pub fn verify_postgres(
    client: &mut postgres::Client,
    schema: &str,
    expected_rows: Option<u64>,
) -> anyhow::Result<Verification> {
    use postgres::fallible_iterator::FallibleIterator;

    let mut v = ChainVerifier::new();
    let mut last_id = None;
    {
        let mut rows = client
            .query_raw(
                format!("SELECT id, event, hash FROM {schema}.audit_events ORDER BY id").as_str(),
                std::iter::empty::<i64>(),
            )
            .context("cannot read the audit table back")?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.try_get(0)?;
            let event: &str = row.try_get(1)?;
            let hash: &str = row.try_get(2)?;
            v.push(id, event.as_bytes(), hash);
            last_id = Some(id);
        }
    }
    let head = client
        .query_one(
            format!("SELECT last_id, hash FROM {schema}.chain_head WHERE id = 1").as_str(),
            &[],
        )
        .context("cannot read the chain head")?;
    let head_id: Option<i64> = head.try_get(0)?;
    let head_hash: String = head.try_get(1)?;
    if head_id != last_id || !head_hash.eq_ignore_ascii_case(&v.last_hash_hex()) {
        v.problems.push(format!(
            "the chain head (id {head_id:?}) does not match the last row (id {last_id:?})"
        ));
    }
    Ok(v.finish(expected_rows))
}

fn run_postgres(args: &DiyArgs) -> anyhow::Result<DiyReport> {
    let mut admin = pg_connect(&args.database)?;
    for setting in ["synchronous_commit", "fsync"] {
        if let Ok(row) = admin.query_one(format!("SHOW {setting}").as_str(), &[]) {
            let value: String = row.try_get(0).unwrap_or_default();
            if value != "on" {
                eprintln!(
                    "warning: the server has {setting}={value}; commits are not durable, numbers are not comparable"
                );
            }
        }
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let schema = format!("sealtrail_diy_{}_{nanos:09}", std::process::id());
    admin
        .batch_execute(&pg_schema_sql(&schema))
        .with_context(|| format!("cannot create schema {schema}"))?;

    let result = (|| -> anyhow::Result<DiyReport> {
        let (hist, elapsed) = write_phase(args, |_| {
            let mut w = PgWriter::open(&args.database, &schema)?;
            Ok(move |agent: &str, event: &str, _ts: i64| w.append(agent, event))
        })?;
        let t0 = Instant::now();
        let verification = verify_postgres(&mut admin, &schema, Some(args.events))?;
        let verify_seconds = t0.elapsed().as_secs_f64();
        Ok(make_report(
            args,
            &hist,
            elapsed,
            verification,
            verify_seconds,
            format!("schema {schema} (dropped)"),
        ))
    })();

    let dropped = admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .with_context(|| format!("cannot drop schema {schema}; drop it by hand"));
    match (result, dropped) {
        (Ok(r), Ok(())) => Ok(r),
        (Ok(_), Err(e)) => Err(e),
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(d)) => Err(e.context(format!("{d:#}"))),
    }
}

// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn args(backend: Backend, events: u64, concurrency: usize) -> DiyArgs {
        DiyArgs {
            backend,
            database: std::env::var("SEALTRAIL_DIY_DATABASE")
                .unwrap_or_else(|_| DEFAULT_DATABASE.to_string()),
            path: None,
            events,
            event_size: 512,
            concurrency,
            json: true,
        }
    }

    #[test]
    fn events_are_json_of_about_the_requested_size() {
        for size in [64usize, 512, 1024, 4096] {
            let g = EventGen::new(size);
            for seq in [0u64, 1, 77, 12_345] {
                let (agent, e) = g.event(seq, 1_700_000_000_000_000);
                let v: serde_json::Value = serde_json::from_str(&e).unwrap();
                assert_eq!(v["agent"], agent);
                assert_eq!(v["seq"], seq);
                if size >= 512 {
                    assert_eq!(e.len(), size, "size {size} seq {seq}");
                }
            }
        }
    }

    #[test]
    fn sqlite_run_of_200_events_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = args(Backend::Sqlite, 200, 1);
        a.path = Some(dir.path().join("diy.sqlite"));
        let r = run_bench(&a).unwrap();
        assert!(r.verification.ok(), "{:?}", r.verification);
        assert_eq!(r.verification.rows, 200);
        assert!(r.events_per_sec > 0.0);
        assert!(r.p99_ms >= r.p50_ms);
        let j = report_json(&r);
        assert_eq!(j["chain_ok"], true);
        assert_eq!(j["backend"], "sqlite");
        assert_eq!(j["events"], 200);
    }

    #[test]
    fn sqlite_concurrent_writers_keep_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = args(Backend::Sqlite, 120, 3);
        a.path = Some(dir.path().join("diy.sqlite"));
        let r = run_bench(&a).unwrap();
        assert!(r.verification.ok(), "{:?}", r.verification);
        assert_eq!(r.verification.rows, 120);
    }

    #[test]
    fn sqlite_refuses_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("exists.sqlite");
        std::fs::write(&p, b"").unwrap();
        let mut a = args(Backend::Sqlite, 10, 1);
        a.path = Some(p);
        let e = run_bench(&a).unwrap_err();
        assert!(format!("{e:#}").contains("already exists"));
    }

    #[test]
    fn tampered_row_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("diy.sqlite");
        let mut a = args(Backend::Sqlite, 200, 1);
        a.path = Some(path.clone());
        assert!(run_bench(&a).unwrap().verification.ok());

        let conn = sqlite_open(&path).unwrap();
        let n = conn
            .execute(
                "UPDATE audit_events SET event = replace(event, '\"status\":\"ok\"', '\"status\":\"denied\"') WHERE id = 57",
                [],
            )
            .unwrap();
        assert_eq!(n, 1);
        let v = verify_sqlite(&conn, Some(200)).unwrap();
        assert!(!v.ok());
        assert_eq!(v.bad_rows, 1);
        assert_eq!(v.first_bad_id, Some(57));
        assert!(describe_failure(&v).contains("id 57"));

        // A forger who also recomputes that row's hash breaks the next row.
        let ev: String = conn
            .query_row("SELECT event FROM audit_events WHERE id = 57", [], |r| {
                r.get(0)
            })
            .unwrap();
        let prev: String = conn
            .query_row("SELECT hash FROM audit_events WHERE id = 56", [], |r| {
                r.get(0)
            })
            .unwrap();
        let forged = hex::encode(chain_hash(&decode_hash(&prev).unwrap(), ev.as_bytes()));
        conn.execute("UPDATE audit_events SET hash = ?1 WHERE id = 57", [&forged])
            .unwrap();
        let v = verify_sqlite(&conn, Some(200)).unwrap();
        assert_eq!(v.first_bad_id, Some(58));

        // Deleting a row in the middle is caught too.
        let dir2 = tempfile::tempdir().unwrap();
        let path2 = dir2.path().join("diy.sqlite");
        let mut a = args(Backend::Sqlite, 50, 1);
        a.path = Some(path2.clone());
        assert!(run_bench(&a).unwrap().verification.ok());
        let conn = sqlite_open(&path2).unwrap();
        conn.execute("DELETE FROM audit_events WHERE id = 20", [])
            .unwrap();
        let v = verify_sqlite(&conn, Some(50)).unwrap();
        assert_eq!(v.first_bad_id, Some(21));
        assert!(!v.problems.is_empty());
    }

    /// A connection for a PostgreSQL test, or `None` when
    /// `SEALTRAIL_SKIP_POSTGRES=1` (SKIPPED, but a failure in CI, where
    /// every test must run). An unreachable server fails the test, as in
    /// the other PostgreSQL tests.
    fn pg_or_skip(test: &str, database: &str) -> Option<postgres::Client> {
        if sealtrail_testkit::skip_postgres(test) {
            return None;
        }
        match pg_connect(database) {
            Ok(c) => Some(c),
            Err(e) => panic!(
                "{e:#}\nStart PostgreSQL (scripts/setup.sh), point SEALTRAIL_DIY_DATABASE at a \
                 server, or set SEALTRAIL_SKIP_POSTGRES=1 to skip the PostgreSQL tests."
            ),
        }
    }

    #[test]
    fn postgres_run_of_100_events_verifies() {
        let a = args(Backend::Postgres, 100, 4);
        if pg_or_skip("postgres_run_of_100_events_verifies", &a.database).is_none() {
            return;
        }
        let r = run_bench(&a).unwrap();
        assert!(r.verification.ok(), "{:?}", r.verification);
        assert_eq!(r.verification.rows, 100);
        assert_eq!(report_json(&r)["backend"], "postgres");
    }

    #[test]
    fn postgres_tampering_is_detected() {
        let database = args(Backend::Postgres, 1, 1).database;
        let Some(mut client) = pg_or_skip("postgres_tampering_is_detected", &database) else {
            return;
        };
        let schema = format!("sealtrail_diy_test_{}", std::process::id());
        client.batch_execute(&pg_schema_sql(&schema)).unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut w = PgWriter::open(&database, &schema).unwrap();
            let g = EventGen::new(256);
            for seq in 0..10 {
                let (agent, e) = g.event(seq, seq as i64);
                w.append(agent, &e).unwrap();
            }
            assert!(verify_postgres(&mut client, &schema, Some(10))
                .unwrap()
                .ok());
            client
                .batch_execute(&format!(
                    "UPDATE {schema}.audit_events SET event = replace(event, 'ok', 'no') WHERE id = 4"
                ))
                .unwrap();
            let v = verify_postgres(&mut client, &schema, Some(10)).unwrap();
            assert_eq!(v.first_bad_id, Some(4));
            // Truncating the tail is caught by the chain head.
            client
                .batch_execute(&format!("DELETE FROM {schema}.audit_events WHERE id = 10"))
                .unwrap();
            let v = verify_postgres(&mut client, &schema, None).unwrap();
            assert!(!v.problems.is_empty(), "{v:?}");
        }));
        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .unwrap();
        if let Err(p) = outcome {
            std::panic::resume_unwind(p);
        }
    }
}
