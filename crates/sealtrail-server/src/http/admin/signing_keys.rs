//! `/v1/signing-keys…`: the log's signing keys, their history, and
//! rotation.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::overlap;
use crate::audit::{self, Audit, CONFIG_CHANGE};
use crate::clock::now_micros;
use crate::error::ApiError;
use crate::http::auth::{scope, Ctx};
use crate::http::error::Envelope;
use crate::http::extract::ApiJson;
use crate::http::openapi::{AnyObject, JsonBodyRefusals, Refusals};

#[utoipa::path(
    get,
    path = "/v1/signing-keys",
    operation_id = "list_signing_keys",
    tag = "proofs",
    summary = "The log's signing keys: those signing now and the history",
    security(("bearer" = ["proofs"])),
    responses((status = 200, description = "Keys", body = inline(AnyObject)), Refusals)
)]
pub async fn list(
    Ctx { log, .. }: Ctx<scope::Proofs>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = now_micros();
    Ok(Json(json!({
        "origin": log.origin,
        "signing": log.signing_keys.vkeys(now),
        "history": log.signing_keys.history(now),
    })))
}

/// The body of a signing-key rotation (the API's wire type).
pub use sealtrail_api::access::RotateRequest as RotateSigning;

#[utoipa::path(
    post,
    path = "/v1/signing-keys/rotate",
    operation_id = "rotate_signing_key",
    tag = "proofs",
    summary = "Rotate the log's signing key (both sign during the overlap)",
    security(("bearer" = ["signing"])),
    request_body(content = Option<RotateSigning>),
    responses(
        (status = 201, description = "The rotation", body = inline(AnyObject)),
        (status = 409, description = "The key is external", body = Envelope),
        JsonBodyRefusals
    )
)]
pub async fn rotate(
    Ctx { caller, log, .. }: Ctx<scope::Signing>,
    json: Result<Option<ApiJson<RotateSigning>>, ApiError>,
) -> Result<Response, ApiError> {
    let overlap = overlap(json?.map(|j| j.0).unwrap_or_default().overlap_seconds)?;
    let ring = log.signing_keys.clone();
    let now = now_micros();
    let rotation = tokio::task::spawn_blocking(move || {
        ring.rotate(std::time::Duration::from_secs(overlap), now)
    })
    .await
    .map_err(|e| ApiError::internal(format!("rotation task failed: {e}")))?
    .map_err(|e| ApiError::conflict(format!("{e:#}")))?;
    let change = rotation.change();
    audit::record(
        &log,
        &caller,
        Audit::new(CONFIG_CHANGE, "signing_key.rotate")
            .target("signing_key")
            .change(change.get("before").cloned(), change.get("after").cloned()),
    )
    .await?;
    if let Err(e) = crate::logs::mark_logged(&log, rotation.new_key_id.clone()).await {
        tracing::warn!("cannot mark the rotation as logged: {e:#}");
    }
    Ok((StatusCode::CREATED, Json(rotation)).into_response())
}
