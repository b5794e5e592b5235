//! `POST /v1/events`: decode, validate, seal, answer with receipts.

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::auth::{scope, Ctx};
use super::extract::ApiQuery;
use super::openapi::{EventOrEvents, IngestRefusals};
use crate::error::ApiError;
use crate::log::AppState;
use crate::pipeline::decode::{decode, Framing, PrepareWith};
use crate::pipeline::seal::outcomes_match;
use crate::pipeline::{enrich, seal};
use crate::proofs;
use crate::sequencer::SealOutcome;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestParams {
    wait: Option<String>,
}

/// The answers are the API's one wire type, shared with the client.
pub use sealtrail_api::ingest::{EventResult, IngestResponse, Receipt};

#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "ingest",
    summary = "Ingest events (JSON array, one object, or NDJSON)",
    security(("bearer" = ["ingest"])),
    params(("wait" = Option<String>, Query, description = "`checkpoint`: answer once a signed checkpoint covers the events, with inclusion proofs")),
    request_body(content(
        (EventOrEvents = "application/json"),
        (String = "application/x-ndjson")
    )),
    responses(
        (status = 200, description = "Every event sealed or a duplicate", body = IngestResponse),
        (status = 207, description = "Some events rejected (one result per event)", body = IngestResponse),
        IngestRefusals
    )
)]
pub async fn post_events(
    Ctx {
        caller, log: state, ..
    }: Ctx<scope::Ingest>,
    ApiQuery(params): ApiQuery<IngestParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
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
        PrepareWith {
            max_event_bytes: state.limits.max_event_bytes,
            sensitive: state.sensitive.as_deref(),
        },
    )?;
    drop(bytes);
    let slots = enrich::events(&state, &caller, slots);

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
            Err(error) => results.push(Some(EventResult::Rejected(error))),
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

    let Tally { sealed, dups } = assemble(&mut results, &positions, &outcomes, proofs.as_deref())?;
    state
        .metrics
        .events_sealed
        .fetch_add(sealed as u64, Ordering::Relaxed);
    state
        .metrics
        .events_duplicate
        .fetch_add(dups as u64, Ordering::Relaxed);

    let not_yours = |r: &Option<EventResult>| {
        matches!(r, Some(EventResult::Rejected(error))
            if enrich::ATTRIBUTION_CODES.contains(&error.code.as_ref()))
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
        accepted: sealed as u64,
        duplicates: dups as u64,
        rejected: rejected as u64,
        results: results.into_iter().flatten().collect(),
    };
    Ok((status, Json(response)).into_response())
}

/// How many of a request's events were sealed now, and how many before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tally {
    sealed: usize,
    dups: usize,
}

/// Puts each outcome (and proof, when asked for) in the slot of the event
/// it answers: `positions[k]` is the slot of the k-th submitted event.
fn assemble(
    results: &mut [Option<EventResult>],
    positions: &[usize],
    outcomes: &[SealOutcome],
    proofs: Option<&[String]>,
) -> Result<Tally, ApiError> {
    // Zipping unequal lists would silently leave events unanswered (or
    // answer with someone else's receipt); refuse the whole answer instead.
    outcomes_match(positions.len(), outcomes.len())?;
    if let Some(p) = proofs {
        if p.len() != outcomes.len() {
            tracing::error!(
                outcomes = outcomes.len(),
                proofs = p.len(),
                "proofs do not match the receipts"
            );
            return Err(ApiError::internal(format!(
                "{} proofs were built for {} receipts; the events are sealed, fetch their proofs from /v1/entries/{{index}}/proof",
                p.len(),
                outcomes.len()
            )));
        }
    }
    let mut tally = Tally { sealed: 0, dups: 0 };
    for (k, (pos, outcome)) in positions.iter().zip(outcomes).enumerate() {
        let slot = results.get_mut(*pos).ok_or_else(|| {
            ApiError::internal(format!(
                "receipt {k} belongs to event {pos}, but the request has {} events",
                positions.len()
            ))
        })?;
        let proof = proofs.and_then(|p| p.get(k).cloned());
        let r = outcome.receipt();
        let receipt = Receipt {
            index: r.index,
            leaf_hash: r.leaf_hash,
            time: r.time,
            proof,
        };
        *slot = Some(match outcome {
            SealOutcome::Sealed(_) => {
                tally.sealed += 1;
                EventResult::Sealed(receipt)
            }
            SealOutcome::Duplicate(_) => {
                tally.dups += 1;
                EventResult::Duplicate(receipt)
            }
        });
    }
    Ok(tally)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorBody;
    use sealtrail_core::hash::Hash;

    fn receipt(index: u64) -> sealtrail_store::Receipt {
        sealtrail_store::Receipt {
            index,
            leaf_hash: Hash::default(),
            time: 7,
        }
    }

    fn rejected() -> Option<EventResult> {
        Some(EventResult::Rejected(ErrorBody::new(
            "invalid_event",
            "bad",
        )))
    }

    #[test]
    fn receipts_fill_the_slots_of_the_accepted_events() {
        // Slots 0 and 2 accepted, slot 1 rejected while decoding.
        let mut results = vec![None, rejected(), None];
        let outcomes = [
            SealOutcome::Sealed(receipt(4)),
            SealOutcome::Duplicate(receipt(1)),
        ];
        let proofs = ["p4".to_string(), "p1".to_string()];
        let tally = assemble(&mut results, &[0, 2], &outcomes, Some(&proofs)).unwrap();
        assert_eq!(tally, Tally { sealed: 1, dups: 1 });
        assert!(matches!(
            &results[0],
            Some(EventResult::Sealed(Receipt { index: 4, proof: Some(p), .. })) if p == "p4"
        ));
        assert!(matches!(&results[1], Some(EventResult::Rejected(_))));
        assert!(matches!(
            &results[2],
            Some(EventResult::Duplicate(Receipt { index: 1, proof: Some(p), .. })) if p == "p1"
        ));
    }

    #[test]
    fn fewer_or_more_outcomes_than_events_is_a_500_not_a_shorter_answer() {
        for outcomes in [
            vec![SealOutcome::Sealed(receipt(0))],
            vec![
                SealOutcome::Sealed(receipt(0)),
                SealOutcome::Sealed(receipt(1)),
                SealOutcome::Sealed(receipt(2)),
            ],
        ] {
            let mut results = vec![None, None];
            let e = assemble(&mut results, &[0, 1], &outcomes, None).unwrap_err();
            assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
            assert!(
                e.body
                    .message
                    .contains(&format!("{} receipts for 2 events", outcomes.len())),
                "{}",
                e.body.message
            );
        }
        let mut results = vec![None];
        let e = assemble(
            &mut results,
            &[0],
            &[SealOutcome::Sealed(receipt(0))],
            Some(&[]),
        )
        .unwrap_err();
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(outcomes_match(3, 3).is_ok());
    }
}
