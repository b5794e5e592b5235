//! `GET /v1/checkpoint`, `GET /v1/entries/{index}/proof` and
//! `GET /v1/consistency`: the signed checkpoint and proofs against it.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{scope, Ctx};
use super::error::Envelope;
use super::extract::ApiQuery;
use super::openapi::Refusals;
use super::{blocking, committed_size};
use crate::error::ApiError;
use crate::log::AppState;
use crate::proofs;

const MUTABLE: &str = "no-cache, max-age=0";

/// The newest signed checkpoint as its note text.
pub(super) fn checkpoint_text(state: &AppState) -> Result<Response, ApiError> {
    let signed = state.checkpoints.borrow().clone().ok_or_else(|| {
        ApiError::not_found("no checkpoint has been signed yet (the log is empty)")
    })?;
    let mut resp = (StatusCode::OK, signed.note.as_ref().clone()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(MUTABLE));
    Ok(resp)
}

#[utoipa::path(
    get,
    path = "/v1/checkpoint",
    tag = "proofs",
    summary = "The latest signed checkpoint (C2SP signed note)",
    security(("bearer" = ["proofs"])),
    responses(
        (status = 200, description = "Signed note text", content_type = "text/plain", body = String),
        (status = 404, description = "No checkpoint yet", body = Envelope),
        Refusals
    )
)]
pub async fn get_checkpoint(
    Ctx { log: state, .. }: Ctx<scope::Proofs>,
) -> Result<Response, ApiError> {
    checkpoint_text(&state)
}

pub(super) fn parse_index(s: &str) -> Result<u64, ApiError> {
    s.parse::<u64>().map_err(|_| {
        ApiError::bad_request(
            "invalid_parameter",
            format!("entry index {s:?} is not a non-negative integer"),
        )
    })
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SizeParam {
    /// Tree size to prove against (default: latest checkpoint)
    size: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct ProofResponse {
    index: u64,
    size: u64,
    leaf_hash: String,
    root: String,
    path: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tlog_proof: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/entries/{index}/proof",
    tag = "proofs",
    summary = "Inclusion proof of an entry",
    security(("bearer" = ["proofs"])),
    params(("index" = String, Path, description = "Entry index"), SizeParam),
    responses(
        (status = 200, description = "Audit path and tlog-proof", body = ProofResponse),
        (status = 404, description = "No such entry or checkpoint", body = Envelope),
        Refusals
    )
)]
pub async fn get_proof(
    Ctx { log: state, .. }: Ctx<scope::Proofs>,
    Path(index): Path<String>,
    ApiQuery(q): ApiQuery<SizeParam>,
) -> Result<Json<ProofResponse>, ApiError> {
    let index = parse_index(&index)?;
    let committed = committed_size(&state);
    let latest = state.checkpoints.borrow().clone();
    let size = match (q.size, &latest) {
        (Some(s), _) => s,
        (None, Some(l)) => l.checkpoint.size,
        (None, None) => committed,
    };
    if size > committed {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("size {size} is larger than the log ({committed} entries)"),
        ));
    }
    if index >= size {
        return Err(ApiError::not_found(format!(
            "entry {index} is not in the tree of size {size}{}",
            if index < committed {
                " (ask for a larger size, or wait for the next checkpoint)"
            } else {
                ""
            }
        )));
    }
    let store = state.store.clone();
    let tiles = state.tiles.clone();
    blocking(move || {
        let leaf = store
            .leaf_hashes(index, index + 1)?
            .pop()
            .ok_or_else(|| ApiError::not_found(format!("no entry {index}")))?;
        let path = proofs::inclusion(&tiles, index, size)?;
        let root = proofs::root(&tiles, size)?;
        let tlog_proof = match store.checkpoint_at(size)? {
            Some(cp) => Some(proofs::tlog_proof(&tiles, index, size, &cp.note)?),
            None => None,
        };
        Ok(Json(ProofResponse {
            index,
            size,
            leaf_hash: leaf.to_hex(),
            root: root.to_base64(),
            path: path.iter().map(|h| h.to_base64()).collect(),
            tlog_proof,
        }))
    })
    .await
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyParams {
    /// Smaller size
    from: u64,
    /// Larger size
    to: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ConsistencyResponse {
    from: u64,
    to: u64,
    path: Vec<String>,
}

#[utoipa::path(
    get,
    path = "/v1/consistency",
    tag = "proofs",
    summary = "Consistency proof between two tree sizes",
    security(("bearer" = ["proofs"])),
    params(ConsistencyParams),
    responses(
        (status = 200, description = "Proof path (base64 hashes)", body = ConsistencyResponse),
        Refusals
    )
)]
pub async fn get_consistency(
    Ctx { log: state, .. }: Ctx<scope::Proofs>,
    ApiQuery(q): ApiQuery<ConsistencyParams>,
) -> Result<Json<ConsistencyResponse>, ApiError> {
    let committed = committed_size(&state);
    if q.from > q.to {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("from ({}) must not be larger than to ({})", q.from, q.to),
        ));
    }
    if q.to > committed {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("to ({}) is larger than the log ({committed} entries)", q.to),
        ));
    }
    let tiles = state.tiles.clone();
    let (from, to) = (q.from, q.to);
    blocking(move || {
        let path = proofs::consistency(&tiles, from, to)?;
        Ok(Json(ConsistencyResponse {
            from,
            to,
            path: path.iter().map(|h| h.to_base64()).collect(),
        }))
    })
    .await
}
