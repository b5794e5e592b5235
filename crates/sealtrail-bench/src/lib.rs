//! The benchmark tools behind `sealtrail bench`: load generators and the
//! baselines sealtrail is measured against (docs/benchmarks.md).
//!
//! - [`ingest`]: drive a running server with synthetic agent events, closed
//!   or open loop, and report throughput and acknowledgement latency;
//! - [`diy`]: the do-it-yourself baseline, one INSERT and one fsync per event
//!   into a SHA-256 hash-chained table (SQLite or PostgreSQL);
//! - [`query`]: populate a real log of many entries through the server's own
//!   sequencer, and time selective query pages and grouped stats over it;
//! - [`stages`]: CPU time per event of each ingest stage (decode, PII scan,
//!   scope verdict, seal, store), in one process without HTTP.
//!
//! The CLI parses the flags (each tool's `clap::Args`) and calls `run`. These
//! are command bodies, not a library API: they print their reports and return
//! `anyhow` errors that end in the command's `error:` line.

pub mod diy;
pub mod ingest;
pub mod query;
mod runtime;
pub mod stages;
