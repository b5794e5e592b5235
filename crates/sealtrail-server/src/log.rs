//! Shared state of the HTTP handlers.

use std::sync::Arc;
use std::time::Duration;

use sealtrail_store::Store;
use tokio::sync::{watch, Notify};

use crate::access::Access;
use crate::checkpointer::Signed;
use crate::metrics::Metrics;
use crate::sequencer::Sequencer;
use crate::tiles::StoreTiles;

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

/// One project's log, as the handlers see it.
#[derive(Clone)]
pub struct AppState {
    /// The project's name (`default` for the data directory's own log).
    pub project: String,
    pub store: Arc<dyn Store>,
    pub sequencer: Sequencer,
    pub tiles: Arc<StoreTiles>,
    pub checkpoints: watch::Receiver<Option<Signed>>,
    pub nudge: Arc<Notify>,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    pub access: Arc<Access>,
    /// Reads by people and services become `data_access` events.
    pub audit_reads: bool,
    pub public_tiles: bool,
    pub origin: String,
    /// The log's verifier key (written into evidence bundles).
    pub vkey: String,
    /// The log's signing keys (rotation, history).
    pub signing_keys: Arc<sealtrail_keys::KeyRing>,
    /// PII and secrets scanning with the redaction policy; `None` when off.
    pub sensitive: Option<Arc<crate::sensitive::Sensitive>>,
}
