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

/// The longest rotation overlap (of an API key or the signing key): ten
/// years. A longer one would put the overlap's end past the integers every
/// JSON reader keeps exactly (2^53 µs), so the rotation's self-audit event
/// could not be written.
pub(crate) const MAX_OVERLAP_SECONDS: u64 = 315_360_000;

/// A rotation's overlap: the one asked for, else a day; 400 past ten years.
pub(crate) fn overlap(asked: Option<u64>) -> Result<u64, ApiError> {
    let overlap = asked.unwrap_or(86_400);
    if overlap > MAX_OVERLAP_SECONDS {
        let mut e = ApiError::bad_request(
            "invalid_request",
            format!("overlap_seconds must be at most {MAX_OVERLAP_SECONDS} (ten years)"),
        );
        e.body.field = Some("overlap_seconds".into());
        return Err(e);
    }
    Ok(overlap)
}

/// JSON of a value for a self-audit event's before/after.
pub(crate) fn snapshot<T: serde::Serialize>(v: &T) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An overlap whose end no JSON reader keeps exactly is refused before
    /// anything rotates (the fuzz run found a 500 after the rotation).
    #[test]
    fn overlaps_past_ten_years_are_400_naming_the_field() {
        assert_eq!(overlap(None).unwrap(), 86_400);
        assert_eq!(
            overlap(Some(MAX_OVERLAP_SECONDS)).unwrap(),
            MAX_OVERLAP_SECONDS
        );
        let e = overlap(Some(u64::MAX / 2)).unwrap_err();
        assert_eq!(e.status, crate::error::StatusCode::BAD_REQUEST);
        assert_eq!(e.body.field.as_deref(), Some("overlap_seconds"));
    }
}
