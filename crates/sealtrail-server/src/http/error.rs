//! [`ApiError`] as an HTTP response: the JSON envelope, and `Retry-After`
//! where a retry can succeed.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::{ApiError, ErrorBody};

/// The body of every error answer (schema `Error`).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct Envelope<'a> {
    pub error: &'a ErrorBody,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(Envelope { error: &self.body })).into_response();
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}
