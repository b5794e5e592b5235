//! Prometheus metrics in the text exposition format, kept with atomics so the
//! hot path never takes a lock.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A fixed-bucket histogram (cumulative counts rendered at scrape time).
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records a value (in the histogram's unit; sums kept in millionths).
    pub fn observe(&self, v: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros
            .fetch_add((v * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, b) in self.bounds.iter().enumerate() {
            cumulative += self.counts.get(i).map_or(0, |c| c.load(Ordering::Relaxed));
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
        }
        let total = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {total}");
    }
}

const SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];
const SIZES: &[f64] = &[1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0];

/// Everything the server counts.
pub struct Metrics {
    pub events_sealed: AtomicU64,
    pub events_duplicate: AtomicU64,
    pub events_rejected: AtomicU64,
    pub requests_overloaded: AtomicU64,
    pub batch_failures: AtomicU64,
    pub batch_conflicts: AtomicU64,
    pub checkpoints_signed: AtomicU64,
    pub tree_size: AtomicU64,
    pub batch_size: Histogram,
    pub batch_seconds: Histogram,
    pub commit_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            events_sealed: AtomicU64::new(0),
            events_duplicate: AtomicU64::new(0),
            events_rejected: AtomicU64::new(0),
            requests_overloaded: AtomicU64::new(0),
            batch_failures: AtomicU64::new(0),
            batch_conflicts: AtomicU64::new(0),
            checkpoints_signed: AtomicU64::new(0),
            tree_size: AtomicU64::new(0),
            batch_size: Histogram::new(SIZES),
            batch_seconds: Histogram::new(SECONDS),
            commit_seconds: Histogram::new(SECONDS),
        }
    }
}

impl Metrics {
    pub fn observe_batch(&self, events: usize, took: Duration) {
        self.batch_size.observe(events as f64);
        self.batch_seconds.observe(took.as_secs_f64());
    }

    pub fn observe_commit(&self, took: Duration) {
        self.commit_seconds.observe(took.as_secs_f64());
    }

    /// Renders every metric; `queue_depth` is sampled by the caller.
    pub fn render(&self, queue_depth: usize) -> String {
        let mut out = String::with_capacity(4096);
        let counter = |out: &mut String, name: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        };
        counter(
            &mut out,
            "sealtrail_events_sealed_total",
            "Events sealed into the log.",
            &self.events_sealed,
        );
        counter(
            &mut out,
            "sealtrail_events_duplicate_total",
            "Events answered with an earlier receipt (idempotent retry).",
            &self.events_duplicate,
        );
        counter(
            &mut out,
            "sealtrail_events_rejected_total",
            "Events rejected as invalid.",
            &self.events_rejected,
        );
        counter(
            &mut out,
            "sealtrail_requests_overloaded_total",
            "Ingest requests refused because the queue was full.",
            &self.requests_overloaded,
        );
        counter(
            &mut out,
            "sealtrail_batch_failures_total",
            "Batches the store could not write (answered 503).",
            &self.batch_failures,
        );
        counter(
            &mut out,
            "sealtrail_batch_conflicts_total",
            "Batches sealed again because another node moved the log head first.",
            &self.batch_conflicts,
        );
        counter(
            &mut out,
            "sealtrail_checkpoints_signed_total",
            "Checkpoints signed.",
            &self.checkpoints_signed,
        );
        let _ = writeln!(
            out,
            "# HELP sealtrail_tree_size Entries in the log.\n# TYPE sealtrail_tree_size gauge\nsealtrail_tree_size {}",
            self.tree_size.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP sealtrail_ingest_queue_depth Events waiting for the sequencer.\n# TYPE sealtrail_ingest_queue_depth gauge\nsealtrail_ingest_queue_depth {queue_depth}"
        );
        self.batch_size.render(
            &mut out,
            "sealtrail_batch_events",
            "Events per sealed batch.",
        );
        self.batch_seconds.render(
            &mut out,
            "sealtrail_batch_seconds",
            "Time to seal and write one batch.",
        );
        self.commit_seconds.render(
            &mut out,
            "sealtrail_store_commit_seconds",
            "Durable write (fsync included) of one batch.",
        );
        if let Some(rss) = resident_memory_bytes() {
            let _ = writeln!(
                out,
                "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {rss}"
            );
        }
        out
    }
}

/// RSS from /proc (Linux); `None` elsewhere.
fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}
