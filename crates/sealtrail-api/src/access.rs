//! Access requests that are one concept on both sides: the server reads
//! them, the client writes them.
//!
//! Key and agent records are not here on purpose: the server's are typed
//! and stored (roles, scopes and risk tiers as enums, refused when unknown),
//! while the client's keep every field a newer server may add (`extra`) and
//! take roles as text, so that an older client can list a newer server's
//! keys. Same JSON, two contracts; docs/decisions.md (issue 15).

use serde::{Deserialize, Serialize};

/// A key's token bucket: `per_second` sustained, bursts of `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
}

/// `POST /v1/tokens`: a session token for the calling agent key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub session: String,
    /// Seconds the token lives (default 3600, at most 86400)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 86400)]
    pub ttl_seconds: Option<u64>,
}

/// `POST /v1/keys/{id}/rotate` and `POST /v1/signing-keys/rotate`: how
/// long the old key keeps working (an empty body takes the server's default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// How long the old key keeps working (at most ten years)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 315_360_000)]
    pub overlap_seconds: Option<u64>,
}
