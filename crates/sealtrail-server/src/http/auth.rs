//! Who is calling, over HTTP: the `Authorization: Bearer` header checked by
//! `access` (or, without one, the web console's session cookie and its CSRF
//! token, `http::console`), the scope the handler states in its signature,
//! and the project log the request acts on.
//!
//! A handler names the scope it needs as a type, `Ctx<scope::Read>`; the
//! extractor refuses a key without it (403 naming the scope and the route as
//! routed, e.g. `GET /v1/keys/{id}`), so no handler repeats its route by
//! hand. Handlers whose need depends on the request (a key may read or
//! revoke itself) take `Ctx<scope::Authenticated>` and call
//! [`Caller::require`] with `ctx.route`.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};

use crate::access::caller::{identify, project_of};
use crate::access::{valid_project_name, Access, Caller, Scope};
use crate::error::ApiError;
use crate::log::AppState;
use crate::logs::Root;

/// The header naming the project a server-wide (owner) key acts on.
pub const PROJECT_HEADER: &str = "sealtrail-project";

/// The bearer value; never echoed back in any message.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized(
            "unauthorized",
            "missing Authorization header; send `Authorization: Bearer <api key>`",
        )
    })?;
    let value = value.to_str().map_err(|_| {
        ApiError::unauthorized("unauthorized", "Authorization header is not valid ASCII")
    })?;
    Ok(value
        .strip_prefix("Bearer ")
        .ok_or_else(|| {
            ApiError::unauthorized("unauthorized", "Authorization must use the Bearer scheme")
        })?
        .trim())
}

/// Checks the `Authorization: Bearer` header, then the key's rate limit;
/// refusals are counted for `/metrics`. Without that header, a console
/// session cookie stands for the key it was opened with, and a `method`
/// that changes state needs the session's CSRF token too. When both are
/// sent the header wins (a script's key is never overridden by a browser's
/// cookie).
pub async fn authenticate(
    access: &Access,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
    let cookie = if headers.contains_key(header::AUTHORIZATION) {
        None
    } else {
        super::console::cookie::session_secret(headers)
    };
    let found = match cookie {
        Some(secret) => super::console::csrf::admit(access, method, headers, secret).await,
        None => bearer(headers).and_then(|text| identify(access, text)),
    };
    count_refusal(access, &found);
    found
}

/// Counts an authentication refusal for `/metrics`.
pub fn count_refusal<T>(access: &Access, found: &Result<T, ApiError>) {
    let counter = match found {
        Err(e) if e.status == StatusCode::UNAUTHORIZED => Some(&access.counters.unauthorized),
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => Some(&access.counters.rate_limited),
        _ => None,
    };
    if let Some(c) = counter {
        c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The project the `Sealtrail-Project` header names, if any.
pub fn requested_project(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    headers
        .get(PROJECT_HEADER)
        .map(|v| {
            v.to_str()
                .ok()
                .filter(|n| valid_project_name(n))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_project",
                        "Sealtrail-Project must be a project name ([a-z0-9][a-z0-9-]{0,62})",
                    )
                })
        })
        .transpose()
}

/// The log a request of `caller` acts on.
pub fn log_for(root: &Root, caller: &Caller, headers: &HeaderMap) -> Result<AppState, ApiError> {
    root.log(&project_of(caller, requested_project(headers)?)?)
}

/// Authenticates a request, checks the scope it needs (`what` names the
/// operation in the 403) and finds the log it acts on. The one admission
/// path of HTTP handlers and the OTLP/gRPC service.
pub async fn admit(
    root: &Root,
    method: &Method,
    headers: &HeaderMap,
    needed: Option<Scope>,
    what: &str,
) -> Result<(Caller, AppState), ApiError> {
    let caller = authenticate(&root.access, method, headers).await?;
    if let Some(scope) = needed {
        caller.require(scope, what)?;
    }
    let log = log_for(root, &caller, headers)?;
    Ok((caller, log))
}

/// The scope a handler needs, as a type parameter of [`Ctx`].
pub trait NeededScope {
    /// `None`: any valid key (the handler checks what depends on the request).
    const SCOPE: Option<Scope>;
}

/// One type per scope of `access::Scope`, for [`Ctx`]'s parameter.
pub mod scope {
    use super::NeededScope;
    use crate::access::Scope;

    macro_rules! scopes {
        ($($(#[$doc:meta])* $name:ident => $scope:expr;)*) => {$(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub struct $name;
            impl NeededScope for $name {
                const SCOPE: Option<Scope> = $scope;
            }
        )*};
    }

    scopes! {
        /// Any valid key: the handler decides (a key may read or revoke itself).
        Authenticated => None;
        Ingest => Some(Scope::Ingest);
        Read => Some(Scope::Read);
        Proofs => Some(Scope::Proofs);
        Export => Some(Scope::Export);
        AgentsRead => Some(Scope::AgentsRead);
        AgentsWrite => Some(Scope::AgentsWrite);
        KeysRead => Some(Scope::KeysRead);
        KeysWrite => Some(Scope::KeysWrite);
        Projects => Some(Scope::Projects);
        Signing => Some(Scope::Signing);
    }
}

/// An authenticated request holding scope `S`, and the project log it acts on.
pub struct Ctx<S: NeededScope> {
    pub caller: Caller,
    pub log: AppState,
    /// `METHOD /route` as routed (`GET /v1/keys/{id}`), for messages.
    pub route: String,
    scope: PhantomData<fn() -> S>,
}

/// `GET /v1/keys/{id}`: the method and the route pattern that matched (the
/// path as sent when no route matched).
fn route_of(parts: &Parts) -> String {
    let path = parts
        .extensions
        .get::<MatchedPath>()
        .map_or_else(|| parts.uri.path(), MatchedPath::as_str);
    format!("{} {path}", parts.method)
}

impl<S: NeededScope> FromRequestParts<Root> for Ctx<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, root: &Root) -> Result<Self, ApiError> {
        let route = route_of(parts);
        let (caller, log) = admit(root, &parts.method, &parts.headers, S::SCOPE, &route).await?;
        Ok(Ctx {
            caller,
            log,
            route,
            scope: PhantomData,
        })
    }
}
