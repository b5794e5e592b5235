//! Typed errors of the engine.

use thiserror::Error;

/// Why a string or a JSON value could not be scanned.
///
/// A field that could not be scanned is never treated as clean: the redactor
/// replaces it (fail closed), and [`crate::JsonScan::errors`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScanError {
    /// The string is longer than [`crate::ScanConfig::max_text_bytes`].
    #[error("text of {len} bytes is over the scan limit of {limit} bytes")]
    TooLarge { len: usize, limit: usize },
    /// The JSON value nests deeper than [`crate::ScanConfig::max_depth`].
    #[error("JSON nesting deeper than the scan limit of {limit} levels")]
    TooDeep { limit: usize },
}

/// Why a redaction policy was refused.
#[derive(Debug, Error)]
pub enum PolicyError {
    /// The policy is not valid JSON or has an unknown member or entity name.
    #[error("redaction policy: {0}")]
    Json(#[from] serde_json::Error),
    /// The policy has no version string.
    #[error("redaction policy: `version` must be a non-empty string")]
    MissingVersion,
    /// `min_score` is outside 0..=1.
    #[error("redaction policy: `min_score` must be between 0 and 1, got {0}")]
    BadMinScore(f64),
    /// The hash key is too short to be a secret.
    #[error("redaction hash key must be at least 16 bytes, got {0}")]
    ShortKey(usize),
}
