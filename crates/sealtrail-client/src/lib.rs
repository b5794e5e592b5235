//! Rust client for the sealtrail HTTP API (docs/api.md).
//!
//! ```no_run
//! # async fn demo() -> Result<(), sealtrail_client::ClientError> {
//! use sealtrail_client::{Client, EventResult};
//! let client = Client::new("http://127.0.0.1:7700", "st_owner_…")?;
//! let answer = client
//!     .ingest(&[serde_json::json!({"agent": {"id": "billing-agent"}, "kind": "tool_call"})])
//!     .await?;
//! for result in &answer.results {
//!     match result {
//!         EventResult::Sealed(r) | EventResult::Duplicate(r) => println!("sealed at {}", r.index),
//!         EventResult::Rejected(e) => eprintln!("rejected: {e}"),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Identity and access (API keys, the agent registry, projects, session
//! tokens; docs/access.md) are methods on [`Client`] too: [`Client::whoami`],
//! [`Client::create_key`], [`Client::register_agent`], … With
//! [`ClientBuilder::project`] every request names a project.
//!
//! [`verify_entry_proof`] checks an entry's inclusion proof offline, trusting
//! only the log's verifier key.

mod access;
mod client;
mod error;
mod export;
pub mod metrics;
mod tlog;
mod tls;
mod types;
mod verify;

pub use access::{
    AgentRecord, AgentScope, AgentUpdate, CreateKey, Extra, KeyInfo, KeyUpdate, NewAgent, NewKey,
    Project, RateLimit, Token, TokenRequest, Whoami,
};
pub use client::{
    Client, ClientBuilder, Wait, CONTENT_TYPE_JSON, CONTENT_TYPE_NDJSON, PROJECT_HEADER,
};
pub use error::{ApiError, ClientError};
pub use export::{ExportError, ExportRequest, Exporter};
/// The API's wire types (filters and their parsers, receipts, errors).
pub use sealtrail_api as api;
pub use sealtrail_core::hash::Hash;
pub use tlog::TlogClient;
pub use tls::CaCert;
pub use types::{
    ConsistencyResponse, EntryResponse, EventFilter, EventResult, EventsPage, EventsQuery,
    IngestResponse, ProofResponse, QueriedEvent, Receipt, StatsGroup, StatsQuery, StatsResponse,
    StatsRow,
};
pub use verify::{parse_header, verify_entry_body, verify_entry_proof, VerifiedProof, VerifyError};
