//! `GET /v1/checkpoints`: the log's signed checkpoints over time, newest
//! first, a page at a time (the console's Log view). Every checkpoint the
//! checkpointer signed is kept in the store.

use axum::Json;
use sealtrail_core::checkpoint::Checkpoint;
use sealtrail_core::note::Note;
use sealtrail_store::StoredCheckpoint;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{scope, Ctx};
use super::blocking;
use super::extract::ApiQuery;
use super::openapi::Refusals;
use crate::error::ApiError;

/// Checkpoints in a page unless `limit` says otherwise, and at most.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckpointsParams {
    /// Most checkpoints to return, 1 to 1000 (default 100)
    limit: Option<u32>,
    /// Only checkpoints of a smaller tree size (the previous page's `next_before`)
    before: Option<u64>,
}

/// A key that signed a checkpoint.
#[derive(Serialize, ToSchema)]
pub struct CheckpointSigner {
    /// The key's name (the log's origin for the log's own keys).
    name: String,
    /// The signed-note key id, 8 hex digits.
    key_id: String,
}

/// One signed checkpoint.
#[derive(Serialize, ToSchema)]
pub struct CheckpointItem {
    size: u64,
    /// Root hash, hex.
    root: String,
    /// When it was signed, µs since the epoch.
    time: u64,
    /// Its signatures' keys.
    signers: Vec<CheckpointSigner>,
    /// The signed note, as `GET /v1/checkpoint` serves the latest.
    note: String,
}

#[derive(Serialize, ToSchema)]
pub struct CheckpointPage {
    checkpoints: Vec<CheckpointItem>,
    /// Pass as `before` for the next (older) page; absent at the first checkpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_before: Option<u64>,
}

fn item(cp: StoredCheckpoint) -> Result<CheckpointItem, ApiError> {
    let unreadable = |e: String| {
        tracing::error!(size = cp.size, "stored checkpoint does not parse: {e}");
        ApiError::internal(format!(
            "the stored checkpoint of size {} does not parse; the operator has the details in the server log",
            cp.size
        ))
    };
    let note = Note::parse(&cp.note).map_err(|e| unreadable(e.to_string()))?;
    let parsed = Checkpoint::parse(note.text()).map_err(|e| unreadable(e.to_string()))?;
    Ok(CheckpointItem {
        size: cp.size,
        root: parsed.root.to_hex(),
        time: cp.time,
        signers: note
            .signatures()
            .iter()
            .map(|s| CheckpointSigner {
                name: s.name.clone(),
                key_id: format!("{:08x}", s.key_id),
            })
            .collect(),
        note: String::from_utf8_lossy(&cp.note).into_owned(),
    })
}

#[utoipa::path(
    get,
    path = "/v1/checkpoints",
    tag = "proofs",
    summary = "Signed checkpoints over time, newest first",
    security(("bearer" = ["proofs"])),
    params(CheckpointsParams),
    responses((status = 200, description = "A page of checkpoints", body = CheckpointPage), Refusals)
)]
pub async fn get_checkpoints(
    Ctx { log: state, .. }: Ctx<scope::Proofs>,
    ApiQuery(q): ApiQuery<CheckpointsParams>,
) -> Result<Json<CheckpointPage>, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        let mut e = ApiError::bad_request(
            "invalid_parameter",
            format!("limit must be between 1 and {MAX_PAGE}, not {limit}"),
        );
        e.body.field = Some("limit".into());
        return Err(e);
    }
    let store = state.store.clone();
    let before = q.before;
    let page = blocking(move || Ok(store.checkpoints_before(before, limit as usize + 1)?)).await?;
    let more = page.len() > limit as usize;
    let checkpoints = page
        .into_iter()
        .take(limit as usize)
        .map(item)
        .collect::<Result<Vec<_>, _>>()?;
    let next_before = if more {
        checkpoints.last().map(|c| c.size)
    } else {
        None
    };
    Ok(Json(CheckpointPage {
        checkpoints,
        next_before,
    }))
}
