//! API-key authentication. Keys are random, shown once, and stored only as
//! their SHA-256; a request's key is hashed and looked up, so no stored
//! secret is ever compared byte by byte.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sealtrail_core::hash::{sha256, Hash};
use sealtrail_store::{ApiKeyRecord, Store};

use crate::error::ApiError;
use crate::state::AppState;

/// Every sealtrail API key starts with this, so a leaked one is recognisable
/// (secret scanners) and a wrong header value is caught early.
pub const KEY_PREFIX: &str = "stk_";

/// A new random API key.
pub fn generate_key() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

pub fn key_hash(key: &str) -> Hash {
    sha256(key.as_bytes())
}

/// Known keys by hash, filled from the store on first use.
#[derive(Default)]
pub struct KeyCache {
    known: RwLock<HashMap<Hash, ApiKeyRecord>>,
}

impl KeyCache {
    /// Looks a key up, in memory first; the store is asked off the async
    /// threads (its clients block).
    async fn lookup(
        &self,
        store: &Arc<dyn Store>,
        hash: &Hash,
    ) -> Result<Option<ApiKeyRecord>, ApiError> {
        if let Some(r) = self.known.read().ok().and_then(|m| m.get(hash).cloned()) {
            return Ok(Some(r));
        }
        let (store, h) = (store.clone(), *hash);
        let found = tokio::task::spawn_blocking(move || store.api_key(&h))
            .await
            .map_err(|e| ApiError::internal(format!("key lookup failed: {e}")))??;
        if let (Some(r), Ok(mut m)) = (&found, self.known.write()) {
            m.insert(*hash, r.clone());
        }
        Ok(found)
    }
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub role: String,
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// Checks the `Authorization: Bearer` header against the key store.
pub async fn authenticate(state: &AppState, parts: &Parts) -> Result<Caller, ApiError> {
    let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
        unauthorized("missing Authorization header; send `Authorization: Bearer <api key>`")
    })?;
    let value = value
        .to_str()
        .map_err(|_| unauthorized("Authorization header is not valid ASCII"))?;
    let key = value
        .strip_prefix("Bearer ")
        .ok_or_else(|| unauthorized("Authorization must use the Bearer scheme"))?
        .trim();
    if !key.starts_with(KEY_PREFIX) {
        return Err(unauthorized(
            "that is not a sealtrail API key (they start with stk_)",
        ));
    }
    let record = state
        .keys
        .lookup(&state.store, &key_hash(key))
        .await?
        .ok_or_else(|| unauthorized("unknown API key"))?;
    Ok(Caller {
        name: record.name,
        role: record.role,
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(state, parts).await
    }
}
