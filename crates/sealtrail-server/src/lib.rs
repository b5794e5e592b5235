//! sealtrail-server: the ledger service. Ingest (JSON, NDJSON, OTLP) →
//! pipeline (decode, enrich, seal) → sequencer (batched, one durable
//! transaction per batch) → receipts; a checkpointer that signs C2SP
//! checkpoints; proofs and C2SP tiles.
//!
//! The modules form layers that import only downward; docs/architecture.md
//! draws them and `tests/layers.rs` holds the table CI checks.

// Foundation: imports nothing of the crate.
pub mod clock;
pub mod config;
pub mod error;
pub mod metrics;
// Engines over the store: tiles, proofs, sensitive data.
pub mod proofs;
pub mod sensitive;
pub mod tiles;
// The write path's core.
pub mod checkpointer;
pub mod sequencer;
// Keys, roles, tokens, rate limits, records (no HTTP).
pub mod access;
// One project's log; the write pipeline; self-audit; the registry of logs.
pub mod audit;
pub mod log;
pub mod logs;
pub mod pipeline;
// The edge: HTTP and OTLP adapters, TLS listeners; and the server itself.
pub mod app;
pub mod http;
pub mod tls;

pub use app::start;
pub use config::ServeOptions;
