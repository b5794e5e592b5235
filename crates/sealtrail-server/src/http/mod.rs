//! The edge: HTTP routes and their handlers, one file per API area, and the
//! OTLP adapters (HTTP and gRPC). Handlers authenticate through
//! [`auth::Ctx`], whose type names the scope they need; they read through
//! the request's log and write only through `pipeline`. Nothing below this
//! layer knows about HTTP.

pub mod admin;
pub mod auth;
pub mod checkpoints;
pub mod console;
pub mod entries;
pub mod error;
pub mod export;
pub mod export_plan;
pub mod extract;
pub mod ingest;
pub mod openapi;
pub mod operations;
pub mod otlp;
pub mod proofs;
pub mod query;
pub mod router;
pub mod tiles;

pub use router::router;

use crate::error::ApiError;
use crate::log::AppState;

/// The size of the log's committed tree.
fn committed_size(state: &AppState) -> u64 {
    state.sequencer.head().borrow().size
}

/// Runs store and proof work on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("read task failed: {e}")))?
}
