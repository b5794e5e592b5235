//! Read endpoints: checkpoint, entries, proofs, and the C2SP tlog-tiles API.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use sealtrail_core::tile::{encode_entry_bundle, parse_tile_path, TileError, TilePath};
use serde::{Deserialize, Serialize};

use crate::access::audit::read_access;
use crate::access::{Ctx, Scope};
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::projects::Root;
use crate::proofs;
use crate::state::AppState;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const MUTABLE: &str = "no-cache, max-age=0";

fn committed_size(state: &AppState) -> u64 {
    state.sequencer.head().borrow().size
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("read task failed: {e}")))?
}

fn checkpoint_text(state: &AppState) -> Result<Response, ApiError> {
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

pub async fn get_checkpoint(Ctx { caller, log: state }: Ctx) -> Result<Response, ApiError> {
    caller.require(Scope::Proofs, "GET /v1/checkpoint")?;
    checkpoint_text(&state)
}

#[derive(Serialize)]
pub struct EntryResponse {
    index: u64,
    leaf_hash: String,
    header: serde_json::Value,
    body: Option<serde_json::Value>,
    salt: Option<String>,
}

fn parse_index(s: &str) -> Result<u64, ApiError> {
    s.parse::<u64>().map_err(|_| {
        ApiError::bad_request(
            "invalid_parameter",
            format!("entry index {s:?} is not a non-negative integer"),
        )
    })
}

pub async fn get_entry(
    Ctx { caller, log: state }: Ctx,
    Path(index): Path<String>,
) -> Result<Json<EntryResponse>, ApiError> {
    caller.require(Scope::Read, "GET /v1/entries/{index}")?;
    let index = parse_index(&index)?;
    let bodies = caller.has(Scope::Bodies);
    let mut audit = serde_json::Map::new();
    audit.insert("index".into(), index.into());
    audit.insert("with_body".into(), bodies.into());
    read_access(&state, &caller, "log.entry_read", audit).await?;
    let store = state.store.clone();
    let entry = blocking(move || Ok(store.entry(index)?)).await?;
    let e = entry.ok_or_else(|| {
        ApiError::not_found(format!(
            "no entry {index} (the log has {} entries)",
            committed_size(&state)
        ))
    })?;
    let header = serde_json::from_slice(&e.header)
        .map_err(|err| ApiError::internal(format!("stored header {index} is not JSON: {err}")))?;
    let body = e
        .body
        .as_deref()
        .filter(|_| bodies)
        .map(serde_json::from_slice)
        .transpose()
        .map_err(|err| ApiError::internal(format!("stored body {index} is not JSON: {err}")))?;
    Ok(Json(EntryResponse {
        index,
        leaf_hash: e.leaf_hash.to_hex(),
        header,
        body,
        salt: e.salt.filter(|_| bodies).map(hex::encode),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeParam {
    size: Option<u64>,
}

#[derive(Serialize)]
pub struct ProofResponse {
    index: u64,
    size: u64,
    leaf_hash: String,
    root: String,
    path: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tlog_proof: Option<String>,
}

pub async fn get_proof(
    Ctx { caller, log: state }: Ctx,
    Path(index): Path<String>,
    ApiQuery(q): ApiQuery<SizeParam>,
) -> Result<Json<ProofResponse>, ApiError> {
    caller.require(Scope::Proofs, "GET /v1/entries/{index}/proof")?;
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyParams {
    from: u64,
    to: u64,
}

#[derive(Serialize)]
pub struct ConsistencyResponse {
    from: u64,
    to: u64,
    path: Vec<String>,
}

pub async fn get_consistency(
    Ctx { caller, log: state }: Ctx,
    ApiQuery(q): ApiQuery<ConsistencyParams>,
) -> Result<Json<ConsistencyResponse>, ApiError> {
    caller.require(Scope::Proofs, "GET /v1/consistency")?;
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

/// The log whose tiles are asked for: `/tlog/…` is the default project's
/// (or, with a key, the key's project), `/projects/{name}/tlog/…` a named
/// one. Public with `--public-tiles`; otherwise the key needs `proofs`.
async fn tiles_log(
    root: &Root,
    project: Option<&str>,
    parts: &axum::http::request::Parts,
) -> Result<AppState, ApiError> {
    if root.public_tiles {
        return root.log(project.unwrap_or(crate::access::DEFAULT_PROJECT));
    }
    let caller = crate::access::caller::authenticate(&root.access, &parts.headers).await?;
    caller.require(Scope::Proofs, "the tlog tiles")?;
    // The path's project, else the header's.
    let asked = match project {
        Some(p) => Some(p),
        None => crate::access::caller::requested_project(&parts.headers)?,
    };
    root.log(&crate::access::caller::project_of(&caller, asked)?)
}

/// The `{project}` of `/projects/{project}/tlog/…`, when the route has one.
fn project_param(params: &std::collections::HashMap<String, String>) -> Option<&str> {
    params.get("project").map(String::as_str)
}

pub async fn tlog_checkpoint(
    State(root): State<Root>,
    Path(params): Path<std::collections::HashMap<String, String>>,
    req: axum::extract::Request,
) -> Result<Response, ApiError> {
    let (parts, _) = req.into_parts();
    let state = tiles_log(&root, project_param(&params), &parts).await?;
    checkpoint_text(&state)
}

/// `GET /tlog/tile/...`: hash tiles and entry bundles.
pub async fn tlog_tile(
    State(root): State<Root>,
    Path(params): Path<std::collections::HashMap<String, String>>,
    req: axum::extract::Request,
) -> Result<Response, ApiError> {
    let (parts, _) = req.into_parts();
    let state = tiles_log(&root, project_param(&params), &parts).await?;
    let rest = params.get("rest").cloned().unwrap_or_default();
    let path = format!("tile/{rest}");
    let parsed = parse_tile_path(&path).map_err(|e| ApiError::not_found(e.to_string()))?;
    let size = committed_size(&state);
    let (tile, entries) = match parsed {
        TilePath::Hashes(t) => (t, false),
        TilePath::Entries(t) => (t, true),
    };
    // The tile must exist in the committed tree, at least as wide as asked;
    // a tile no 64-bit tree can hold is as absent as one not yet written.
    let absent = |e: TileError| {
        ApiError::not_found(match e {
            TileError::NotInTree { .. } => format!("{path} is not in the tree of size {size}"),
            e => format!("{path}: {e}"),
        })
    };
    tile.check_in_tree(size).map_err(absent)?;
    let hashes = tile.hash_range().map_err(absent)?;
    let tiles = state.tiles.clone();
    let store = state.store.clone();
    let bytes = blocking(move || {
        if entries {
            let headers = store.entry_headers(hashes.start, hashes.end)?;
            encode_entry_bundle(&headers).map_err(|e| ApiError::internal(e.to_string()))
        } else {
            Ok(tiles.tile(&tile)?.as_ref().clone())
        }
    })
    .await?;
    let mut resp = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    Ok(resp)
}
