//! Prometheus metrics, kept with atomics so the hot path never takes a lock,
//! and written at scrape time in the OpenMetrics text format by
//! `prometheus-client` (escaping, suffixes, float formatting and the `# EOF`
//! marker are its, not ours).
//!
//! The values stay in our atomics rather than in `prometheus-client`'s
//! metric types: they are incremented all over the server (sequencer,
//! ingest, OTLP, checkpointer, access), and the crate's histogram takes a
//! lock per observation; a scrape copies them into a [`Scrape`] that the
//! crate encodes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// What `/metrics` shows of access control (never a key, only counts).
#[derive(Default)]
pub struct AccessCounters {
    /// Requests refused with 401 (no, unknown, wrong, revoked or expired key).
    pub unauthorized: std::sync::atomic::AtomicU64,
    /// Requests refused with 429.
    pub rate_limited: std::sync::atomic::AtomicU64,
    /// Events refused because the key may not write them (403 per event).
    pub attribution_refused: std::sync::atomic::AtomicU64,
    /// Events sealed with an `out_of_scope` verdict.
    pub out_of_scope: std::sync::atomic::AtomicU64,
    /// Events sealed with `unregistered_agent`.
    pub unregistered: std::sync::atomic::AtomicU64,
}

/// The content type of [`exposition`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

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

    /// The histogram as it stands: sum, count and per-bucket counts (the
    /// last bucket, `+Inf`, is `f64::MAX` to the encoder).
    fn sample(&self, name: &'static str, help: &'static str) -> HistogramSample {
        let mut buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .enumerate()
            .map(|(i, b)| {
                (
                    *b,
                    self.counts.get(i).map_or(0, |c| c.load(Ordering::Relaxed)),
                )
            })
            .collect();
        let below: u64 = buckets.iter().map(|(_, n)| n).sum();
        let count = self.count.load(Ordering::Relaxed);
        buckets.push((f64::MAX, count.saturating_sub(below)));
        HistogramSample {
            name,
            help,
            sum: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            count,
            buckets,
        }
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

    fn scrape(&self, queue_depth: usize, access: &AccessCounters) -> Scrape {
        let load = |v: &AtomicU64| v.load(Ordering::Relaxed);
        // Counter families are named without `_total`: the encoder adds it
        // to the sample (`sealtrail_events_sealed_total 2`).
        let counters = vec![
            (
                "sealtrail_events_sealed",
                "Events sealed into the log.",
                load(&self.events_sealed),
            ),
            (
                "sealtrail_events_duplicate",
                "Events answered with an earlier receipt (idempotent retry).",
                load(&self.events_duplicate),
            ),
            (
                "sealtrail_events_rejected",
                "Events rejected as invalid.",
                load(&self.events_rejected),
            ),
            (
                "sealtrail_requests_overloaded",
                "Ingest requests refused because the queue was full.",
                load(&self.requests_overloaded),
            ),
            (
                "sealtrail_batch_failures",
                "Batches the store could not write (answered 503).",
                load(&self.batch_failures),
            ),
            (
                "sealtrail_batch_conflicts",
                "Batches sealed again because another node moved the log head first.",
                load(&self.batch_conflicts),
            ),
            (
                "sealtrail_checkpoints_signed",
                "Checkpoints signed.",
                load(&self.checkpoints_signed),
            ),
            (
                "sealtrail_requests_unauthorized",
                "Requests refused with 401 (missing, unknown, revoked or expired key).",
                load(&access.unauthorized),
            ),
            (
                "sealtrail_requests_rate_limited",
                "Requests refused with 429 (a key over its rate limit).",
                load(&access.rate_limited),
            ),
            (
                "sealtrail_events_attribution_refused",
                "Events refused because the key may not write for their agent or session.",
                load(&access.attribution_refused),
            ),
            (
                "sealtrail_events_out_of_scope",
                "Events sealed with an out_of_scope verdict.",
                load(&access.out_of_scope),
            ),
            (
                "sealtrail_events_unregistered_agent",
                "Events sealed with the unregistered_agent verdict.",
                load(&access.unregistered),
            ),
        ];
        let mut gauges = vec![
            (
                "sealtrail_tree_size",
                "Entries in the log.",
                load(&self.tree_size),
            ),
            (
                "sealtrail_ingest_queue_depth",
                "Events waiting for the sequencer.",
                queue_depth as u64,
            ),
        ];
        if let Some(rss) = resident_memory_bytes() {
            gauges.push((
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                rss,
            ));
        }
        let histograms = vec![
            self.batch_size
                .sample("sealtrail_batch_events", "Events per sealed batch."),
            self.batch_seconds.sample(
                "sealtrail_batch_seconds",
                "Time to seal and write one batch.",
            ),
            self.commit_seconds.sample(
                "sealtrail_store_commit_seconds",
                "Durable write (fsync included) of one batch.",
            ),
        ];
        Scrape {
            counters,
            gauges,
            histograms,
        }
    }
}

/// Every metric of the server, as OpenMetrics text ([`CONTENT_TYPE`]);
/// `queue_depth` is sampled by the caller.
pub fn exposition(metrics: &Metrics, access: &AccessCounters, queue_depth: usize) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(metrics.scrape(queue_depth, access)));
    let mut out = String::with_capacity(4096);
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

/// The values of one scrape, owned (the registry wants `'static` collectors).
#[derive(Debug)]
struct Scrape {
    counters: Vec<(&'static str, &'static str, u64)>,
    gauges: Vec<(&'static str, &'static str, u64)>,
    histograms: Vec<HistogramSample>,
}

#[derive(Debug)]
struct HistogramSample {
    name: &'static str,
    help: &'static str,
    sum: f64,
    count: u64,
    buckets: Vec<(f64, u64)>,
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for &(name, help, v) in &self.counters {
            let c = ConstCounter::new(v);
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        for &(name, help, v) in &self.gauges {
            let g = ConstGauge::new(v);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        for h in &self.histograms {
            let mut m = encoder.encode_descriptor(h.name, h.help, None, MetricType::Histogram)?;
            m.encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)?;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_keeps_every_name_and_counts_cumulatively() {
        let m = Metrics::default();
        m.events_sealed.fetch_add(2, Ordering::Relaxed);
        m.observe_batch(3, Duration::from_micros(300));
        m.observe_batch(5000, Duration::from_millis(2));
        let access = AccessCounters::default();
        access.rate_limited.fetch_add(1, Ordering::Relaxed);
        let text = exposition(&m, &access, 7);
        println!("{text}");
        for line in [
            "# TYPE sealtrail_events_sealed counter",
            "sealtrail_events_sealed_total 2",
            "sealtrail_requests_rate_limited_total 1",
            "sealtrail_ingest_queue_depth 7",
            "sealtrail_batch_events_count 2",
            "sealtrail_batch_events_bucket{le=\"4.0\"} 1",
            "sealtrail_batch_events_bucket{le=\"16384.0\"} 2",
            "sealtrail_batch_events_bucket{le=\"+Inf\"} 2",
            "sealtrail_batch_seconds_bucket{le=\"0.0001\"} 0",
            "sealtrail_batch_seconds_bucket{le=\"0.0005\"} 1",
            "sealtrail_batch_seconds_sum 0.0023",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
