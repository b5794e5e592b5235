//! `GET /v1/entries/{index}`: one entry, its body and salt with the
//! `bodies` scope.

use axum::extract::Path;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::{scope, Ctx};
use super::error::Envelope;
use super::openapi::Refusals;
use super::proofs::parse_index;
use super::{blocking, committed_size};
use crate::access::Scope;
use crate::audit::read_access;
use crate::error::ApiError;

#[derive(Serialize, ToSchema)]
#[schema(as = Entry)]
pub struct EntryResponse {
    index: u64,
    leaf_hash: String,
    #[schema(value_type = Object)]
    header: serde_json::Value,
    body: Option<serde_json::Value>,
    salt: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/entries/{index}",
    tag = "read",
    summary = "One entry: header, and body and salt with the `bodies` scope",
    security(("bearer" = ["read"])),
    params(("index" = String, Path, description = "Entry index")),
    responses(
        (status = 200, description = "The entry", body = EntryResponse),
        (status = 404, description = "No such entry", body = Envelope),
        Refusals
    )
)]
pub async fn get_entry(
    Ctx {
        caller, log: state, ..
    }: Ctx<scope::Read>,
    Path(index): Path<String>,
) -> Result<Json<EntryResponse>, ApiError> {
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
