//! `GET /openapi.json`: the API described in OpenAPI 3.1. The document is
//! written by hand beside the code (docs/api.md and docs/access.md are the
//! prose); `tests/openapi.rs` fails when a route exists in one and not in
//! the other.

use axum::http::header;
use axum::response::IntoResponse;

pub const DOCUMENT: &str = include_str!("openapi.json");

pub async fn get_openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
