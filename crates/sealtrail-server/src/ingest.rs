//! `POST /v1/events`: decode, validate, seal, answer with receipts.

use std::sync::atomic::Ordering;

use crate::extract::ApiQuery;
use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::access::{Ctx, Scope};
use crate::decode::{decode, Framing};
use crate::error::{ApiError, ErrorBody};
use crate::proofs;
use crate::sequencer::{PreparedEvent, SealOutcome, SubmitError};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestParams {
    wait: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum EventResult {
    Sealed {
        index: u64,
        leaf_hash: String,
        time: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        proof: Option<String>,
    },
    Duplicate {
        index: u64,
        leaf_hash: String,
        time: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        proof: Option<String>,
    },
    Rejected {
        error: ErrorBody,
    },
}

#[derive(Debug, Serialize)]
pub struct IngestResponse {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
    pub results: Vec<EventResult>,
}

pub async fn post_events(
    Ctx { caller, log: state }: Ctx,
    ApiQuery(params): ApiQuery<IngestParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    caller.require(Scope::Ingest, "POST /v1/events")?;
    let wait = match params.wait.as_deref() {
        None => false,
        Some("checkpoint") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("wait={other:?} is not supported; use wait=checkpoint"),
            ))
        }
    };
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let framing = Framing::from_content_type(ct).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "Content-Type {:?} is not accepted; send application/json or application/x-ndjson",
                ct.unwrap_or("")
            ),
        )
    })?;
    let limit = state.limits.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body exceeds {limit} bytes; send fewer events per request"),
        )
    })?;
    let slots = decode(
        &bytes,
        framing,
        state.limits.max_events_per_request,
        crate::decode::PrepareWith {
            max_event_bytes: state.limits.max_event_bytes,
            sensitive: state.sensitive.as_deref(),
        },
    )?;
    drop(bytes);
    let slots = crate::access::enforce::events(&state, &caller, slots);

    let mut prepared = Vec::with_capacity(slots.len());
    let mut positions = Vec::with_capacity(slots.len());
    let mut results: Vec<Option<EventResult>> = Vec::with_capacity(slots.len());
    for (i, slot) in slots.into_iter().enumerate() {
        match slot {
            Ok(p) => {
                prepared.push(p);
                positions.push(i);
                results.push(None);
            }
            Err(error) => results.push(Some(EventResult::Rejected { error })),
        }
    }
    let rejected = results.iter().filter(|r| r.is_some()).count();
    state
        .metrics
        .events_rejected
        .fetch_add(rejected as u64, Ordering::Relaxed);

    let outcomes = seal(&state, prepared).await?;

    let proofs = if wait && !outcomes.is_empty() {
        Some(wait_for_proofs(&state, &outcomes).await?)
    } else {
        None
    };

    let (mut sealed, mut dups) = (0, 0);
    for (k, (pos, outcome)) in positions.iter().zip(&outcomes).enumerate() {
        let proof = proofs.as_ref().and_then(|p| p.get(k).cloned());
        let r = outcome.receipt();
        let (index, leaf_hash, time) = (r.index, r.leaf_hash.to_hex(), r.time);
        results[*pos] = Some(match outcome {
            SealOutcome::Sealed(_) => {
                sealed += 1;
                EventResult::Sealed {
                    index,
                    leaf_hash,
                    time,
                    proof,
                }
            }
            SealOutcome::Duplicate(_) => {
                dups += 1;
                EventResult::Duplicate {
                    index,
                    leaf_hash,
                    time,
                    proof,
                }
            }
        });
    }
    state
        .metrics
        .events_sealed
        .fetch_add(sealed as u64, Ordering::Relaxed);
    state
        .metrics
        .events_duplicate
        .fetch_add(dups as u64, Ordering::Relaxed);

    let not_yours = |r: &Option<EventResult>| {
        matches!(r, Some(EventResult::Rejected { error })
            if crate::access::enforce::ATTRIBUTION_CODES.contains(&error.code))
    };
    let status = if rejected == 0 {
        StatusCode::OK
    } else if sealed + dups > 0 {
        StatusCode::MULTI_STATUS
    } else if results.iter().all(not_yours) {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::BAD_REQUEST
    };
    let response = IngestResponse {
        accepted: sealed,
        duplicates: dups,
        rejected,
        results: results.into_iter().flatten().collect(),
    };
    Ok((status, Json(response)).into_response())
}

/// Hands validated events to the sequencer; its refusals become the
/// answers every ingest endpoint gives (503 with `Retry-After`).
pub(crate) async fn seal(
    state: &AppState,
    prepared: Vec<PreparedEvent>,
) -> Result<Vec<SealOutcome>, ApiError> {
    state
        .sequencer
        .submit(prepared)
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
        })
}

/// Waits for a checkpoint covering every receipt, then proves each one.
async fn wait_for_proofs(
    state: &AppState,
    outcomes: &[SealOutcome],
) -> Result<Vec<String>, ApiError> {
    let needed = outcomes
        .iter()
        .map(|o| o.receipt().index + 1)
        .max()
        .unwrap_or(0);
    let mut rx = state.checkpoints.clone();
    state.nudge.notify_one();
    let signed = tokio::time::timeout(state.limits.wait_timeout, async {
        loop {
            if let Some(s) = rx.borrow_and_update().as_ref() {
                if s.checkpoint.size >= needed {
                    return Ok(s.clone());
                }
            }
            if rx.changed().await.is_err() {
                return Err(ApiError::unavailable("the checkpointer stopped"));
            }
        }
    })
    .await
    .map_err(|_| {
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "checkpoint_timeout",
            "events are sealed, but no checkpoint covered them in time; fetch proofs later from /v1/entries/{index}/proof",
        )
    })??;
    let tiles = state.tiles.clone();
    let indices: Vec<u64> = outcomes.iter().map(|o| o.receipt().index).collect();
    tokio::task::spawn_blocking(move || {
        indices
            .iter()
            .map(|&i| proofs::tlog_proof(&tiles, i, signed.checkpoint.size, &signed.note))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| ApiError::internal(format!("proof task failed: {e}")))?
}
