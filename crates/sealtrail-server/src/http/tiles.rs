//! The C2SP tlog-tiles API: `/tlog/checkpoint` and `/tlog/tile/…` of the
//! default project, `/projects/{project}/tlog/…` of a named one. Public with
//! `--public-tiles`; otherwise the key needs `proofs`.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sealtrail_core::tile::{encode_entry_bundle, parse_tile_path, TileError, TilePath};

use super::auth::{authenticate, requested_project};
use super::error::Envelope;
use super::extract::ApiPath;
use super::openapi::{Binary, Refusals};
use super::proofs::checkpoint_text;
use super::{blocking, committed_size};
use crate::access::caller::project_of;
use crate::access::{Scope, DEFAULT_PROJECT};
use crate::error::ApiError;
use crate::log::AppState;
use crate::logs::Root;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The log whose tiles are asked for: `/tlog/…` is the default project's
/// (or, with a key, the key's project), `/projects/{name}/tlog/…` a named
/// one. Public with `--public-tiles`; otherwise the key needs `proofs`.
async fn tiles_log(
    root: &Root,
    project: Option<&str>,
    parts: &axum::http::request::Parts,
) -> Result<AppState, ApiError> {
    if root.public_tiles {
        return root.log(project.unwrap_or(DEFAULT_PROJECT));
    }
    let caller = authenticate(&root.access, &parts.method, &parts.headers).await?;
    caller.require(Scope::Proofs, "the tlog tiles")?;
    // The path's project, else the header's.
    let asked = match project {
        Some(p) => Some(p),
        None => requested_project(&parts.headers)?,
    };
    root.log(&project_of(&caller, asked)?)
}

/// The signed checkpoint of the log a tiles request asks for.
async fn checkpoint_of(
    root: &Root,
    project: Option<&str>,
    req: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = req.into_parts();
    let state = tiles_log(root, project, &parts).await?;
    checkpoint_text(&state)
}

#[utoipa::path(
    get,
    path = "/tlog/checkpoint",
    tag = "tiles",
    summary = "C2SP tlog-tiles checkpoint of the default project (public with --public-tiles)",
    security(("bearer" = ["proofs"])),
    responses(
        (status = 200, description = "Signed note", content_type = "text/plain", body = String),
        (status = 404, description = "No checkpoint yet", body = Envelope),
        Refusals
    )
)]
pub async fn tlog_checkpoint(State(root): State<Root>, req: Request) -> Result<Response, ApiError> {
    checkpoint_of(&root, None, req).await
}

#[utoipa::path(
    get,
    path = "/projects/{project}/tlog/checkpoint",
    tag = "tiles",
    summary = "C2SP checkpoint of a named project",
    security(("bearer" = ["proofs"])),
    params(("project" = String, Path, description = "Project name")),
    responses(
        (status = 200, description = "Signed note", content_type = "text/plain", body = String),
        (status = 404, description = "No such project", body = Envelope),
        Refusals
    )
)]
pub async fn project_checkpoint(
    State(root): State<Root>,
    ApiPath(project): ApiPath<String>,
    req: Request,
) -> Result<Response, ApiError> {
    checkpoint_of(&root, Some(&project), req).await
}

#[utoipa::path(
    get,
    path = "/tlog/tile/{path}",
    tag = "tiles",
    summary = "C2SP tlog-tiles hash tile or entry bundle",
    security(("bearer" = ["proofs"])),
    params(("path" = String, Path, description = "Tile path, e.g. 0/x001/234 or entries/000.p/7")),
    responses(
        (status = 200, description = "Tile bytes", content_type = "application/octet-stream", body = inline(Binary)),
        (status = 404, description = "Not in the tree", body = Envelope),
        Refusals
    )
)]
pub async fn tlog_tile(
    State(root): State<Root>,
    ApiPath(path): ApiPath<String>,
    req: Request,
) -> Result<Response, ApiError> {
    tile_of(&root, None, &path, req).await
}

#[utoipa::path(
    get,
    path = "/projects/{project}/tlog/tile/{path}",
    tag = "tiles",
    summary = "C2SP tile of a named project",
    security(("bearer" = ["proofs"])),
    params(
        ("project" = String, Path, description = "Project name"),
        ("path" = String, Path, description = "Tile path")
    ),
    responses(
        (status = 200, description = "Tile bytes", content_type = "application/octet-stream", body = inline(Binary)),
        (status = 404, description = "Not in the tree", body = Envelope),
        Refusals
    )
)]
pub async fn project_tile(
    State(root): State<Root>,
    ApiPath((project, path)): ApiPath<(String, String)>,
    req: Request,
) -> Result<Response, ApiError> {
    tile_of(&root, Some(&project), &path, req).await
}

/// Hash tiles and entry bundles of the log a tiles request asks for.
async fn tile_of(
    root: &Root,
    project: Option<&str>,
    rest: &str,
    req: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = req.into_parts();
    let state = tiles_log(root, project, &parts).await?;
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
