//! The write pipeline: the one way an event reaches a log.
//!
//! ```text
//! decode  → bytes to validated, canonical events; sensitive data scanned
//!           and redacted (decode.rs, with `sensitive`)
//! enrich  → may this caller write it; the agent's scope verdict (enrich.rs)
//! seal    → the log's sequencer, in the source's lane (seal.rs)
//! ```
//!
//! Every source goes through it: `POST /v1/events` (JSON, NDJSON), OTLP
//! over HTTP and gRPC (`http::otlp` maps spans to events first), and the
//! server's own self-audit events (`audit`, sealed in the admin lane).
//! Detectors, approvals and erasure records will enter here too.

pub mod decode;
pub mod enrich;
pub mod seal;

pub use seal::{seal, seal_in};
