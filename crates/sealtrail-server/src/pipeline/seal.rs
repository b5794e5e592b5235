//! Seal: validated events handed to the sequencer of their log, in the
//! lane their source writes in; its refusals become the answers every write
//! path gives (503 with `Retry-After`).

use std::sync::atomic::Ordering;

use crate::error::{ApiError, StatusCode};
use crate::log::AppState;
use crate::sequencer::{Lane, PreparedEvent, SealOutcome, SubmitError};

/// `500` (and an error log line) unless the sequencer answered every
/// submitted event exactly once.
pub(crate) fn outcomes_match(sent: usize, got: usize) -> Result<(), ApiError> {
    if sent == got {
        return Ok(());
    }
    tracing::error!(
        sent,
        got,
        "the sequencer answered a different number of outcomes than events submitted"
    );
    Err(ApiError::internal(format!(
        "the sequencer returned {got} receipts for {sent} events, so no per-event answer can be given; \
         some events may be sealed: retry the request (events with an `id` are deduplicated)"
    )))
}

/// Hands validated client events to the sequencer's ingest lane.
pub async fn seal(
    state: &AppState,
    prepared: Vec<PreparedEvent>,
) -> Result<Vec<SealOutcome>, ApiError> {
    seal_in(state, Lane::Ingest, prepared).await
}

/// [`seal`] in the given lane (self-audit events use [`Lane::Admin`]).
pub async fn seal_in(
    state: &AppState,
    lane: Lane,
    prepared: Vec<PreparedEvent>,
) -> Result<Vec<SealOutcome>, ApiError> {
    let sent = prepared.len();
    let outcomes = state
        .sequencer
        .submit_in(lane, prepared)
        .await
        .map_err(|e| match &e {
            SubmitError::Overloaded { .. } => {
                state
                    .metrics
                    .requests_overloaded
                    .fetch_add(1, Ordering::Relaxed);
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", e.to_string())
                    .retry_after(1)
            }
            SubmitError::StorageFull => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_full",
                e.to_string(),
            )
            .retry_after(30),
            // The cause (a database address, a driver message) is logged by
            // the sequencer; clients learn only what to do.
            SubmitError::Storage(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "the log's storage is unavailable; nothing was written. Retry after the delay",
            )
            .retry_after(5),
            SubmitError::Stopped => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                e.to_string(),
            )
            .retry_after(5),
        })?;
    outcomes_match(sent, outcomes.len())?;
    Ok(outcomes)
}
