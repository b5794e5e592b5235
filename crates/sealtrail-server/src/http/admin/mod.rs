//! Administration endpoints: keys, session tokens, the agent registry,
//! projects and signing keys (docs/access.md). Each change is sealed as a
//! self-audit event before the change is answered.

mod agents;
mod keys;
mod projects;

use axum::extract::rejection::JsonRejection;
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::logs::Root;

pub fn routes() -> Router<Root> {
    Router::new()
        .route("/v1/whoami", get(keys::whoami))
        .route("/v1/keys", get(keys::list).post(keys::create))
        .route(
            "/v1/keys/{id}",
            get(keys::show).patch(keys::update).delete(keys::revoke),
        )
        .route("/v1/keys/{id}/rotate", post(keys::rotate))
        .route("/v1/tokens", post(keys::mint_token))
        .route("/v1/agents", get(agents::list).post(agents::register))
        .route("/v1/agents/{id}", get(agents::show).patch(agents::update))
        .route("/v1/projects", get(projects::list).post(projects::create))
        .route("/v1/signing-keys", get(projects::signing_keys))
        .route(
            "/v1/signing-keys/rotate",
            post(projects::rotate_signing_key),
        )
}

/// A JSON body with a clear 400 naming the problem (unknown fields, types).
pub(crate) fn body<T: DeserializeOwned>(
    json: Result<axum::Json<T>, JsonRejection>,
) -> Result<T, ApiError> {
    // The one rejection shape of http::extract (400, or 415 without JSON).
    json.map(|axum::Json(v)| v).map_err(ApiError::from)
}

/// JSON of a value for a self-audit event's before/after.
pub(crate) fn snapshot<T: serde::Serialize>(v: &T) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}
