//! OTLP trace ingest (DESIGN §1): spans sent by OpenTelemetry exporters over
//! OTLP/HTTP (`POST /v1/traces`, protobuf or JSON, optionally gzip) and
//! OTLP/gRPC become events on the same path as `POST /v1/events`: the same
//! validation (and scanning), the same sequencer, the same backpressure.
//! docs/otlp.md has the mapping table.

pub mod budget;
pub mod grpc;
pub mod http;
pub mod map;
pub mod rpc;
pub mod value;

use std::sync::atomic::Ordering;

use axum::http::StatusCode;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::access::Caller;
use crate::error::ApiError;
use crate::log::AppState;
use crate::pipeline::decode::{prepare, salts, PrepareWith};
use crate::pipeline::{enrich, seal};
use crate::sequencer::{PreparedEvent, SealOutcome};
use map::Origin;

/// How many rejection reasons the partial-success message names.
const REASONS_SHOWN: usize = 3;

/// What became of an export request's spans.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Exported {
    pub sealed: usize,
    pub duplicates: usize,
    pub rejected: usize,
    /// Empty when nothing was rejected (OTLP partial success).
    pub error_message: String,
}

/// Maps, validates and seals every span of `request`. A span that cannot
/// become a valid event is counted as rejected; the others are sealed.
pub async fn export(
    state: &AppState,
    caller: &Caller,
    request: &ExportTraceServiceRequest,
) -> Result<Exported, ApiError> {
    let total: usize = request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum();
    let limit = state.limits.max_events_per_request;
    if total > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_spans",
            format!("request holds {total} spans; the limit is {limit} per request"),
        ));
    }
    let with = PrepareWith {
        max_event_bytes: state.limits.max_event_bytes,
        sensitive: state.sensitive.as_deref(),
    };
    let mut salts = salts(total)?.into_iter();
    let mut prepared = Vec::with_capacity(total);
    let mut reasons = Vec::new();
    let mut rejected = 0;
    for rs in &request.resource_spans {
        let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes);
        for ss in &rs.scope_spans {
            let origin = Origin {
                resource,
                scope: ss.scope.as_ref(),
            };
            for (span, salt) in ss.spans.iter().zip(salts.by_ref()) {
                let checked = prepare_span(origin, span, with, salt).and_then(|mut p| {
                    enrich::check(state, caller, &mut p)
                        .map(|()| p)
                        .map_err(|e| e.message)
                });
                match checked {
                    Ok(p) => prepared.push(p),
                    Err(why) => {
                        rejected += 1;
                        if reasons.len() < REASONS_SHOWN {
                            reasons.push(format!("span {}: {why}", hex::encode(&span.span_id)));
                        }
                    }
                }
            }
        }
    }
    let metrics = &state.metrics;
    metrics
        .events_rejected
        .fetch_add(rejected as u64, Ordering::Relaxed);
    let outcomes = seal(state, prepared).await?;
    let duplicates = outcomes
        .iter()
        .filter(|o| matches!(o, SealOutcome::Duplicate(_)))
        .count();
    let sealed = outcomes.len() - duplicates;
    metrics
        .events_sealed
        .fetch_add(sealed as u64, Ordering::Relaxed);
    metrics
        .events_duplicate
        .fetch_add(duplicates as u64, Ordering::Relaxed);
    let error_message = if rejected == 0 {
        String::new()
    } else {
        format!(
            "{rejected} of {total} spans rejected; {}",
            reasons.join("; ")
        )
    };
    Ok(Exported {
        sealed,
        duplicates,
        rejected,
        error_message,
    })
}

/// One span through the mapping and then the same preparation as a JSON
/// event (validation, size limit, scanning, canonical body).
pub fn prepare_span(
    origin: Origin<'_>,
    span: &opentelemetry_proto::tonic::trace::v1::Span,
    with: PrepareWith<'_>,
    salt: [u8; 32],
) -> Result<PreparedEvent, String> {
    let event = map::span_to_event(origin, span).map_err(|e| e.to_string())?;
    let bytes = serde_json::to_vec(&event).map_err(|e| e.to_string())?;
    prepare(&bytes, with, salt).map_err(|e| e.message)
}
