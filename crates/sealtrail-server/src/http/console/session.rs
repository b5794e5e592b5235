//! `/v1/console/session`: sign in to the web console with a person's API
//! key (POST), read the session back after a page load (GET), sign out
//! (DELETE). The session is the `sealtrail_session` cookie (`cookie`);
//! every other endpoint accepts it in place of `Authorization: Bearer`
//! (`http::auth`). Sign-in and sign-out are self-audited as access changes
//! of the key.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{cookie, csrf};
use crate::access::caller::identify;
use crate::access::console::{csrf_token, refuse_agents, SessionRecord};
use crate::access::Caller;
use crate::audit::{audited, Audit, ACCESS_CHANGE};
use crate::error::ApiError;
use crate::http::admin::keys::Whoami;
use crate::http::auth::{count_refusal, log_for};
use crate::http::extract::ApiJson;
use crate::http::openapi::{JsonBodyRefusals, Refusals};
use crate::logs::Root;

/// A sign-in: the API key, sent once and never stored by the browser.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// A person's API key (`stk_…`); agent keys are refused.
    key: String,
}

/// A console session as the console sees it (never the cookie's secret).
#[derive(Serialize, ToSchema)]
pub struct ConsoleSession {
    /// Send it as `X-CSRF-Token` with every request that changes state.
    csrf: String,
    /// When the session ends however busy (RFC 3339).
    expires_at: String,
    /// Seconds without a request after which the session ends.
    idle_timeout_s: u64,
    /// The key the session acts as: the answer of `GET /v1/whoami`.
    whoami: Whoami,
}

fn no_session() -> ApiError {
    ApiError::unauthorized(
        "no_session",
        "no console session: sign in with POST /v1/console/session (the sealtrail_session cookie is missing)",
    )
}

/// The answer's body, and headers that keep it out of every cache.
fn answer(
    root: &Root,
    secret: &str,
    record: &SessionRecord,
    caller: Caller,
    project: String,
) -> Response {
    let body = ConsoleSession {
        csrf: csrf_token(secret),
        expires_at: sealtrail_core::time::format_time(record.expires),
        idle_timeout_s: root.console_options().idle_timeout.as_secs(),
        whoami: Whoami::of(caller, project),
    };
    let mut resp = Json(body).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[utoipa::path(
    post,
    path = "/v1/console/session",
    tag = "console",
    summary = "Sign in to the web console: a person's API key for a session cookie",
    description = "Answers with the session (its CSRF token, absolute end, idle timeout, and whoami) and sets the `sealtrail_session` cookie (HttpOnly, SameSite=Strict, Path=/, Secure over TLS). Agent keys are refused (403 `agent_key_refused`). Owner keys may name the project with Sealtrail-Project; every request chooses its project the same way.",
    security(()),
    request_body = SignIn,
    responses(
        (status = 200, description = "Signed in; `Set-Cookie: sealtrail_session=…`", body = ConsoleSession,
            headers(("Set-Cookie" = String, description = "sealtrail_session=<secret>; HttpOnly; SameSite=Strict; Path=/ (+ Secure over TLS)"))),
        JsonBodyRefusals
    )
)]
pub async fn sign_in(
    State(root): State<Root>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SignIn>,
) -> Result<Response, ApiError> {
    let found = identify(&root.access, req.key.trim());
    count_refusal(&root.access, &found);
    let mut caller = found?;
    refuse_agents(&caller)?;
    caller.console = true;
    let log = log_for(&root, &caller, &headers)?;
    // A browser signing in again leaves no session behind.
    if let Some(old) = cookie::session_secret(&headers) {
        if let Err(e) = root.access.close_console_session(old).await {
            tracing::warn!(
                "cannot end the session replaced by a sign-in: {}",
                e.body.message
            );
        }
    }
    let mut opened = None;
    let event = Audit::new(ACCESS_CHANGE, "console.sign_in")
        .target(format!("key:{}", caller.key.id))
        .attr(
            "idle_timeout_s",
            root.console_options().idle_timeout.as_secs(),
        );
    audited(&log, &caller, event, async {
        opened = Some(root.access.open_console_session(&caller).await?);
        Ok(())
    })
    .await?;
    let opened = opened.ok_or_else(|| ApiError::internal("the session was not opened"))?;
    let set = cookie::set(&opened.secret, root.serves_tls())
        .ok_or_else(|| ApiError::internal("the session cookie is not a valid header"))?;
    let mut resp = answer(
        &root,
        &opened.secret,
        &opened.record,
        caller,
        log.project.clone(),
    );
    resp.headers_mut().insert(header::SET_COOKIE, set);
    Ok(resp)
}

#[utoipa::path(
    get,
    path = "/v1/console/session",
    tag = "console",
    summary = "The console session of the sealtrail_session cookie (refreshes its idle time)",
    description = "401 `no_session` without the cookie; 401 `session_expired` when the session ended (idle, absolute end, sign-out, or its key revoked or expired): sign in again.",
    security(()),
    responses((status = 200, description = "The session", body = ConsoleSession), Refusals)
)]
pub async fn current(State(root): State<Root>, headers: HeaderMap) -> Result<Response, ApiError> {
    let secret = cookie::session_secret(&headers).ok_or_else(no_session)?;
    let found = root.access.console_caller(secret).await;
    count_refusal(&root.access, &found);
    let admitted = found?;
    let log = log_for(&root, &admitted.caller, &headers)?;
    Ok(answer(
        &root,
        secret,
        &admitted.record,
        admitted.caller,
        log.project.clone(),
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/console/session",
    tag = "console",
    summary = "Sign out: end the console session server-side and clear its cookie",
    description = "Needs `X-CSRF-Token` (403 `csrf_failed` without it). The session is deleted from the store, so the old cookie no longer works on any node (within a second on nodes sharing a database).",
    security(()),
    params(("X-CSRF-Token" = String, Header, description = "The session's `csrf` value")),
    responses((status = 204, description = "Signed out; `Set-Cookie` clears the cookie"), Refusals)
)]
pub async fn sign_out(State(root): State<Root>, headers: HeaderMap) -> Result<Response, ApiError> {
    let secret = cookie::session_secret(&headers).ok_or_else(no_session)?;
    let found = root.access.console_caller(secret).await;
    count_refusal(&root.access, &found);
    let admitted = found?;
    csrf::check(&Method::DELETE, &headers, secret)?;
    let log = log_for(&root, &admitted.caller, &headers)?;
    let event = Audit::new(ACCESS_CHANGE, "console.sign_out")
        .target(format!("key:{}", admitted.caller.key.id));
    audited(
        &log,
        &admitted.caller,
        event,
        root.access.close_console_session(secret),
    )
    .await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, cookie::clear(root.serves_tls()));
    Ok(resp)
}
