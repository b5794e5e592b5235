//! sealtrail-server: the ledger service. Ingest (JSON, NDJSON) → validate →
//! sequencer (batched, one durable transaction per batch) → receipts;
//! a checkpointer that signs C2SP checkpoints; proofs and C2SP tiles.

pub mod access;
pub mod admin;
pub mod app;
pub mod checkpointer;
pub mod clock;
pub mod decode;
pub mod error;
pub mod export;
pub mod extract;
pub mod ingest;
pub mod metrics;
pub mod openapi;
pub mod otlp;
pub mod projects;
pub mod proofs;
pub mod query;
pub mod read;
pub mod sensitive;
pub mod sequencer;
pub mod state;
pub mod tiles;
pub mod tls;

pub use app::{start, ServeOptions};
