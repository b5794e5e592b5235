//! Administration endpoints: keys, session tokens, the agent registry,
//! projects and signing keys (docs/access.md). Each change is sealed as a
//! self-audit event before the change is answered.

pub mod agents;
pub mod keys;
pub mod projects;
pub mod signing_keys;

use axum::extract::rejection::JsonRejection;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

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
