//! The one error shape every endpoint answers with:
//! `{"error": {"code", "message", "field"?}}`, plus `Retry-After` where a
//! retry can succeed.
//!
//! A leaf every layer returns: the status class is part of what went wrong
//! (refused, absent, unavailable), so it is decided where the failure is
//! known. It names only the `http` crate's vocabulary; `http::error` turns it
//! into a response.

pub use ::http::StatusCode;

/// The body is the API's one wire type, shared with the client.
pub use sealtrail_api::{ErrorBody, ErrorEnvelope};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody::new(code, message),
            retry_after: None,
        }
    }

    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message).retry_after(1)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<sealtrail_store::StoreError> for ApiError {
    fn from(e: sealtrail_store::StoreError) -> Self {
        // Details (paths, database addresses) go to the log, not to clients.
        tracing::error!(error = %e, "store error");
        if e.is_transient() {
            ApiError::unavailable("the log's storage is unavailable; retry after the delay")
        } else {
            ApiError::internal(
                "the log's storage failed; the operator has the details in the server log",
            )
        }
    }
}
