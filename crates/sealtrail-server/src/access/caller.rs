//! Who is calling: the bearer key (or session token) checked, rate-limited
//! and resolved to the project the request acts on. The transport reads
//! the credential (`http::auth` from the `Authorization` header, the gRPC
//! adapter from the call's metadata) and hands its text here.

use std::time::Instant;

use sealtrail_core::hash::sha256;

use super::keys::{self, KeyInfo, Unusable, TOKEN_PREFIX};
use super::roles::{Role, Scope};
use super::tokens::{Claims, TokenError};
use super::{Access, DEFAULT_PROJECT};
use crate::error::{ApiError, StatusCode};

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: KeyInfo,
    /// Present when the request came with a session token.
    pub token: Option<Claims>,
    /// The request came with a web console session cookie (`access::console`).
    pub console: bool,
}

impl Caller {
    pub fn role(&self) -> Role {
        self.key.role
    }

    pub fn has(&self, scope: Scope) -> bool {
        self.key.has(scope)
    }

    /// `403` naming the scope and the endpoint, unless the key holds it.
    pub fn require(&self, scope: Scope, what: &str) -> Result<(), ApiError> {
        if self.has(scope) {
            return Ok(());
        }
        let whose = if self.token.is_some() {
            "this session token".to_string()
        } else if self.console {
            format!("this console session's {} key", self.key.role.as_str())
        } else {
            format!("this {} key", self.key.role.as_str())
        };
        Err(ApiError::forbidden(format!(
            "{whose} lacks the `{}` scope needed for {what}",
            scope.as_str()
        )))
    }

    /// How self-audit events name the caller.
    pub fn label(&self) -> String {
        match &self.token {
            Some(t) => format!("{} via session token for {}", self.key.label(), t.s),
            None if self.console => format!("{} via console session", self.key.label()),
            None => self.key.label(),
        }
    }
}

pub(crate) fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

fn unusable(id: &str, why: Unusable) -> ApiError {
    match why {
        Unusable::Revoked => unauthorized("key_revoked", format!("API key {id} has been revoked")),
        Unusable::Expired => unauthorized("key_expired", format!("API key {id} has expired")),
    }
}

/// Checks a presented key or session token (its text, never echoed back
/// in any message), then the key's rate limit.
pub fn identify(access: &Access, text: &str) -> Result<Caller, ApiError> {
    let now = crate::clock::now_micros();
    let caller = if text.starts_with(TOKEN_PREFIX) {
        from_token(access, text, now)?
    } else {
        from_key(access, text, now)?
    };
    take_rate(access, &caller, now)?;
    Ok(caller)
}

/// Takes one request from the key's rate limit (429 past it) and notes
/// the key's use.
pub(crate) fn take_rate(access: &Access, caller: &Caller, now: u64) -> Result<(), ApiError> {
    let limit = caller.key.rate_limit.unwrap_or(access.default_rate);
    if let Err(wait) = access.rate.take(&caller.key.id, limit, Instant::now()) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "API key {} is over its rate limit ({} requests/s, bursts of {}); retry after {wait} s",
                caller.key.id, limit.per_second, limit.burst
            ),
        )
        .retry_after(u32::try_from(wait).unwrap_or(u32::MAX)));
    }
    access.touch(&caller.key.id, now);
    Ok(())
}

fn from_key(access: &Access, text: &str, now: u64) -> Result<Caller, ApiError> {
    if !text.starts_with("stk_") && !text.starts_with("sta_") {
        return Err(unauthorized(
            "unauthorized",
            "that is not a sealtrail API key (they start with stk_, sta_ or sts_)",
        ));
    }
    if let Some(p) = keys::parse(text) {
        if let Some(rec) = access.key(&p.id) {
            if !keys::hash_matches(&p.secret_hash, &rec.secret_hash) {
                return Err(unauthorized(
                    "unauthorized",
                    format!("invalid secret for API key {}", p.id),
                ));
            }
            rec.info.usable_at(now).map_err(|w| unusable(&p.id, w))?;
            return Ok(Caller {
                key: rec.info,
                token: None,
                console: false,
            });
        }
    }
    // Keys made before key ids existed are named by their whole hash.
    let hash = sha256(text.as_bytes());
    let id = super::legacy_id(&hash);
    let rec = access
        .key(&id)
        .filter(|r| keys::hash_matches(&hash, &r.secret_hash))
        .ok_or_else(|| unauthorized("unauthorized", "unknown API key"))?;
    rec.info.usable_at(now).map_err(|w| unusable(&id, w))?;
    Ok(Caller {
        key: rec.info,
        token: None,
        console: false,
    })
}

fn from_token(access: &Access, text: &str, now: u64) -> Result<Caller, ApiError> {
    let claims = access.tokens.open(text, now).map_err(|e| match e {
        TokenError::Expired => unauthorized("token_expired", "this session token has expired"),
        TokenError::Malformed | TokenError::BadSignature => {
            unauthorized("unauthorized", "invalid session token")
        }
    })?;
    let rec = access
        .key(&claims.k)
        .ok_or_else(|| unauthorized("unauthorized", "the key of this session token is gone"))?;
    rec.info
        .usable_at(now)
        .map_err(|w| unusable(&claims.k, w))?;
    if rec.info.agent.as_deref() != Some(claims.a.as_str()) {
        return Err(unauthorized("unauthorized", "invalid session token"));
    }
    let mut key = rec.info;
    // A token writes its session; it never reads.
    key.scopes
        .retain(|s| matches!(s, Scope::Ingest | Scope::Proofs));
    Ok(Caller {
        key,
        token: Some(claims),
        console: false,
    })
}

/// The project a request acts on: its key's, or for owner keys the one
/// `asked` names (the header, or a path's `{project}`).
pub fn project_of(caller: &Caller, asked: Option<&str>) -> Result<String, ApiError> {
    match asked {
        Some(p) if caller.role().server_wide() => Ok(p.to_string()),
        Some(p) if p != caller.key.project => Err(ApiError::forbidden(format!(
            "API key {} belongs to project {:?}; it cannot act on project {p:?}",
            caller.key.id, caller.key.project
        ))),
        _ if caller.role().server_wide() => Ok(DEFAULT_PROJECT.to_string()),
        _ => Ok(caller.key.project.clone()),
    }
}
