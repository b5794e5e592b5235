//! `POST /v1/exports/plan`: what `POST /v1/exports` would put in a bundle
//! for the same body (how many entries match, the first and last, and the
//! completeness statement the bundle would carry) without writing it, so
//! the console can show the claim before the download starts.

use axum::extract::rejection::JsonRejection;
use axum::Json;
use sealtrail_core::bundle::Completeness;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::{scope, Ctx};
use super::error::Envelope;
use super::export::{
    admit_export, checkpoint_for_export, each_entry, time_range_matches, ExportRequest,
};
use super::openapi::JsonBodyRefusals;
use crate::error::ApiError;
use sealtrail_store::EventQuery;

/// An export's plan.
#[derive(Serialize, ToSchema)]
pub struct ExportPlan {
    /// Entries matching the query up to `checkpoint_size` (the bundle's
    /// `match` lines).
    entries: u64,
    /// Index of the first and last matching entry (absent when none match).
    #[serde(skip_serializing_if = "Option::is_none")]
    first: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last: Option<u64>,
    /// The signed checkpoint the bundle would be proven against (an export
    /// made later may use a newer one, and hold more entries).
    checkpoint_size: u64,
    /// Whether the bundle would carry bodies.
    with_bodies: bool,
    /// The bundle's completeness claim: `proven`, `stream` or `range`, and
    /// the `statement` an auditor reads (manifest.json's `completeness`).
    #[schema(value_type = Object)]
    completeness: Completeness,
}

#[utoipa::path(
    post,
    path = "/v1/exports/plan",
    tag = "read",
    summary = "What an export of this query would hold: entry count, first and last, completeness claim",
    security(("bearer" = ["export"])),
    request_body = ExportRequest,
    responses(
        (status = 200, description = "The plan", body = ExportPlan),
        (status = 404, description = "The log is empty", body = Envelope),
        JsonBodyRefusals
    )
)]
pub async fn post_export_plan(
    Ctx {
        caller, log: state, ..
    }: Ctx<scope::Export>,
    body: Result<Json<Box<serde_json::value::RawValue>>, JsonRejection>,
) -> Result<Json<ExportPlan>, ApiError> {
    let (query, with_bodies) = admit_export(&state, &caller, body, "log.export_plan").await?;
    let signed = checkpoint_for_export(&state, false).await?;
    let size = signed.checkpoint.size;
    let store = state.store.clone();
    let q = query.clone();
    let (entries, first, last) = super::blocking(move || {
        if let Some((start, end)) = time_range_matches(store.as_ref(), &q, size)? {
            let any = end > start;
            return Ok((end - start, any.then_some(start), any.then(|| end - 1)));
        }
        let (mut n, mut first, mut last) = (0u64, None, None);
        each_entry(store.as_ref(), EventQuery::new(q), size, |e| {
            n += 1;
            first.get_or_insert(e.index);
            last = Some(e.index);
            Ok(())
        })?;
        Ok((n, first, last))
    })
    .await?;
    Ok(Json(ExportPlan {
        entries,
        first,
        last,
        checkpoint_size: size,
        with_bodies,
        completeness: Completeness::for_query(&query, size, entries),
    }))
}
