//! One project's log as every layer above it sees it: its store,
//! sequencer, tiles, signed checkpoints, keys and the options it runs with.
//! `logs` opens and closes them; the pipeline writes through them; the
//! HTTP handlers read through them. (The type keeps the name it had when
//! only the handlers held it.)

use std::sync::Arc;

use sealtrail_store::Store;
use tokio::sync::{watch, Notify};

use crate::access::Access;
use crate::checkpointer::Signed;
use crate::config::Limits;
use crate::metrics::Metrics;
use crate::sensitive::Sensitive;
use crate::sequencer::Sequencer;
use crate::tiles::StoreTiles;

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
    pub sensitive: Option<Arc<Sensitive>>,
}
