//! Everything `sealtrail serve` can be told, and the limits and tunings
//! each layer reads from it. A leaf: it imports nothing of the crate, so
//! every layer can read its options without importing a layer above it
//! (docs/architecture.md). The modules that use an option re-export it
//! where callers already found it (`sequencer::SequencerConfig`, …).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything `sealtrail serve` can be told.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub data: PathBuf,
    pub listen: SocketAddr,
    pub checkpoint_interval: Duration,
    pub sequencer: SequencerConfig,
    pub limits: Limits,
    /// Serve `/tlog/*` without an API key.
    pub public_tiles: bool,
    /// Where the entries live.
    pub backend: sealtrail_keys::Backend,
    /// Where to serve OTLP/gRPC (off when `None`).
    pub otlp_grpc_listen: Option<SocketAddr>,
    /// PII and secrets scanning and the redaction policy.
    pub pii: PiiOptions,
    /// Each key's default token bucket (a key's own limit overrides it).
    pub rate_limit: RateLimit,
    /// How often access records are re-read and last-used times written.
    pub access_upkeep: UpkeepTimes,
    /// Log every query, stats call, export and entry read by a person or
    /// service as a `data_access` event (agents' reads never are).
    pub audit_reads: bool,
    /// Where the log's private key lives (data directory, a path, or an
    /// external signer command).
    pub signing: sealtrail_keys::SigningOptions,
    /// Serve the API and OTLP/gRPC over TLS with this certificate (plain
    /// HTTP when `None`).
    pub tls: Option<TlsOptions>,
    /// The web console's sessions (`http::console`).
    pub console: ConsoleOptions,
}

/// How long a web console session lives (docs/decisions.md, "Issue 17:
/// console sessions").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleOptions {
    /// A session unused this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, however busy.
    pub session_max: Duration,
}

impl Default for ConsoleOptions {
    fn default() -> Self {
        ConsoleOptions {
            idle_timeout: Duration::from_secs(30 * 60),
            session_max: Duration::from_secs(12 * 3600),
        }
    }
}

/// Request and event size limits (DESIGN §3: bad input gets a clear 4xx).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Most events in one request (413 beyond).
    pub max_events_per_request: usize,
    /// Largest single event in bytes (that event is rejected).
    pub max_event_bytes: usize,
    /// How long `?wait=checkpoint` may hold a request.
    pub wait_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 << 20,
            max_events_per_request: 10_000,
            max_event_bytes: 1 << 20,
            wait_timeout: Duration::from_secs(30),
        }
    }
}

/// Tuning of the sequencer.
#[derive(Debug, Clone)]
pub struct SequencerConfig {
    /// Most events in one batch (one transaction). 2048 measured ~5% faster
    /// than 4096 end to end (more overlap between sealing and writing).
    pub batch_max: usize,
    /// How long to wait for more events after the first one (0: never wait).
    pub linger: Duration,
    /// Most events waiting to be sealed before submissions get `Overloaded`.
    pub queue_limit: usize,
    /// The store is shared with other server nodes: a batch that loses the
    /// race for the log head (`Conflict`) is sealed again on the new head
    /// instead of failing. Costs a copy of each event until it commits.
    pub shared_store: bool,
}

impl Default for SequencerConfig {
    fn default() -> Self {
        SequencerConfig {
            batch_max: 2048,
            linger: Duration::ZERO,
            queue_limit: 200_000,
            shared_store: false,
        }
    }
}

/// How ingest treats sensitive data.
#[derive(Debug, Clone, Default)]
pub struct PiiOptions {
    /// Turn scanning (and so redaction) off entirely.
    pub disabled: bool,
    /// A redaction policy document (JSON, docs/pii.md); the standard
    /// policy when absent.
    pub policy: Option<PathBuf>,
}

/// Per-key token bucket settings (the API's wire type, shared with the client).
pub use sealtrail_api::access::RateLimit;

/// How often `access::upkeep` works. Only tests change these: a short flush
/// interval is how a test makes last-used writes race with other changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpkeepTimes {
    /// Every record re-read (nodes sharing a database only).
    pub reload: Duration,
    /// Last-used times written.
    pub flush_last_used: Duration,
}

impl Default for UpkeepTimes {
    fn default() -> Self {
        UpkeepTimes {
            reload: Duration::from_secs(1),
            flush_last_used: Duration::from_secs(60),
        }
    }
}

/// How often `tls::CertStore::watch` looks at the files by default.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Where the certificate and its key are.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// PEM: the server certificate first, then any intermediates.
    pub cert: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1); may be the cert file.
    pub key: PathBuf,
    /// How often the files are checked for a change (zero: never; SIGHUP
    /// still reloads).
    pub poll_interval: Duration,
}

impl TlsOptions {
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> TlsOptions {
        TlsOptions {
            cert: cert.into(),
            key: key.into(),
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }
}
