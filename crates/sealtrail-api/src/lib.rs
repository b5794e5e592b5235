//! The wire types of the sealtrail HTTP API (docs/api.md), shared by the
//! server, the Rust client and the CLI, so that each concept is declared
//! once and every side reads and writes the same JSON:
//!
//! - [`filter`]: the one entry filter ([`EventFilter`], declared in the core
//!   because bundle manifests record it) and the one way to read it from a
//!   query string ([`Params`]) or a JSON body ([`ExportRequest`]), with the
//!   page and grouping requests of `GET /v1/events` and `GET /v1/stats`;
//! - [`error`]: the error body every endpoint answers with;
//! - [`ingest`]: the receipts of `POST /v1/events`;
//! - [`access`]: the access requests both sides share (rate limits, session
//!   tokens, rotations).
//!
//! Serde and plain functions only: no HTTP framework, no async runtime.

pub mod access;
pub mod error;
pub mod filter;
pub mod ingest;

pub use access::{RateLimit, RotateRequest, TokenRequest};
pub use error::{ErrorBody, ErrorEnvelope};
pub use filter::{
    EventFilter, EventsQuery, ExportRequest, FilterError, Params, RawFilter, StatsGroup,
    StatsQuery, TimeInput, TimeValue,
};
pub use ingest::{EventResult, IngestResponse, Receipt};
