//! `/v1/whoami`, `/v1/keys…` and `/v1/tokens`.

use axum::extract::rejection::JsonRejection;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{body, overlap, snapshot};
use crate::access::keys::{self as k, KeyInfo, KeyRecord, RateLimit};
use crate::access::roles::scopes_for;
use crate::access::tokens::Claims;
use crate::access::{Caller, Role, Scope, Stored, SELF_AGENT};
use crate::audit::{self, Audit, ACCESS_CHANGE};
use crate::clock::now_micros;
use crate::error::ApiError;
use crate::http::auth::{scope, Ctx};
use crate::http::error::Envelope;
use crate::http::extract::ApiJson;
use crate::http::openapi::{JsonBodyRefusals, Refusals};
use crate::log::AppState;

const DAY_MICROS: u64 = 86_400_000_000;
/// Auditor keys are time-boxed: at most this long.
const AUDITOR_MAX_MICROS: u64 = 366 * DAY_MICROS;

/// The calling key. Members in name order: the order this answer always
/// had (it was a JSON map).
#[derive(Serialize, ToSchema)]
pub struct Whoami {
    agent: Option<String>,
    expires: Option<u64>,
    id: String,
    name: String,
    project: String,
    role: Role,
    scopes: Vec<Scope>,
    session: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/whoami",
    tag = "access",
    summary = "The calling key: id, role, scopes, project",
    responses((status = 200, description = "The key", body = Whoami), Refusals)
)]
pub async fn whoami(Ctx { caller, log, .. }: Ctx<scope::Authenticated>) -> Json<Whoami> {
    Json(Whoami::of(caller, log.project))
}

impl Whoami {
    /// What `GET /v1/whoami` says of `caller` acting on `project`.
    pub fn of(caller: Caller, project: String) -> Whoami {
        Whoami {
            agent: caller.key.agent,
            expires: caller.token.as_ref().map(|t| t.e).or(caller.key.expires),
            id: caller.key.id,
            name: caller.key.name,
            project,
            role: caller.key.role,
            scopes: caller.key.scopes,
            session: caller.token.map(|t| t.s),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    keys: Vec<KeyInfo>,
}

#[utoipa::path(
    get,
    path = "/v1/keys",
    operation_id = "list_keys",
    tag = "access",
    summary = "List the project's API keys (never secrets)",
    security(("bearer" = ["keys:read"])),
    responses((status = 200, description = "Keys", body = KeyList), Refusals)
)]
pub async fn list(Ctx { log, .. }: Ctx<scope::KeysRead>) -> Result<Json<KeyList>, ApiError> {
    Ok(Json(KeyList {
        keys: log.access.keys(Some(&log.project)),
    }))
}

/// A key of the request's project, or 404 (keys of other projects are not
/// there, as far as this caller can tell).
fn key_in(log: &AppState, id: &str) -> Result<KeyRecord, ApiError> {
    log.access
        .key(id)
        .filter(|r| r.info.project == log.project)
        .ok_or_else(|| {
            ApiError::not_found(format!("no API key {id:?} in project {:?}", log.project))
        })
}

/// A key of the request's project as stored now (a change is made on
/// this, never on the copy held in memory), or 404.
async fn stored_key_in(log: &AppState, id: &str) -> Result<Stored<KeyRecord>, ApiError> {
    log.access
        .stored_key(id)
        .await?
        .filter(|s| s.record.info.project == log.project)
        .ok_or_else(|| {
            ApiError::not_found(format!("no API key {id:?} in project {:?}", log.project))
        })
}

#[utoipa::path(
    get,
    path = "/v1/keys/{id}",
    operation_id = "show_key",
    tag = "access",
    summary = "One key (or the calling key itself)",
    security(("bearer" = ["keys:read"])),
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "The key", body = KeyInfo),
        (status = 404, description = "No such key in this project", body = Envelope),
        Refusals
    )
)]
pub async fn show(
    Ctx {
        caller, log, route, ..
    }: Ctx<scope::Authenticated>,
    Path(id): Path<String>,
) -> Result<Json<KeyInfo>, ApiError> {
    if caller.key.id != id {
        caller.require(Scope::KeysRead, &route)?;
    }
    Ok(Json(key_in(&log, &id)?.info))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    name: String,
    role: Role,
    scopes: Option<Vec<Scope>>,
    agent: Option<String>,
    expires_in: Option<u64>,
    expires: Option<u64>,
    bodies: Option<bool>,
    project: Option<String>,
    rate_limit: Option<RateLimit>,
}

#[derive(Serialize, ToSchema)]
pub struct NewKey {
    /// The secret; shown in this answer only
    key: String,
    info: KeyInfo,
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    let mut e = ApiError::bad_request("invalid_request", message);
    e.body.field = Some(field.to_string());
    e
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(invalid(
            "name",
            "name must be 1 to 200 characters without control characters",
        ));
    }
    Ok(())
}

fn check_rate(r: &Option<RateLimit>) -> Result<(), ApiError> {
    match r {
        Some(r)
            if !(r.per_second.is_finite()
                && r.per_second > 0.0
                && r.burst.is_finite()
                && r.burst >= 1.0) =>
        {
            Err(invalid(
                "rate_limit",
                "rate_limit needs per_second > 0 and burst >= 1",
            ))
        }
        _ => Ok(()),
    }
}

fn may_grant(caller: &Caller, role: Role) -> Result<(), ApiError> {
    if caller.token.is_some() || !caller.role().may_grant(role) {
        return Err(ApiError::forbidden(format!(
            "a {} key cannot create or change {} keys",
            caller.role().as_str(),
            role.as_str()
        )));
    }
    Ok(())
}

/// The expiry a request asks for, checked against the role's rules.
fn expiry(
    role: Role,
    expires_in: Option<u64>,
    expires: Option<u64>,
    now: u64,
) -> Result<Option<u64>, ApiError> {
    let at = match (expires_in, expires) {
        (Some(_), Some(_)) => {
            return Err(invalid("expires", "give expires_in or expires, not both"))
        }
        (Some(s), None) => Some(now.saturating_add(s.saturating_mul(1_000_000))),
        (None, e) => e,
    };
    if let Some(t) = at {
        if t <= now {
            return Err(invalid("expires", "the expiry is in the past"));
        }
    }
    if role == Role::Auditor {
        match at {
            None => {
                return Err(invalid(
                    "expires",
                    "auditor keys are time-boxed: give expires_in (at most 366 days)",
                ))
            }
            Some(t) if t - now > AUDITOR_MAX_MICROS => {
                return Err(invalid("expires", "auditor keys may last at most 366 days"))
            }
            _ => {}
        }
    }
    Ok(at)
}

fn check_agent(role: Role, agent: &Option<String>) -> Result<(), ApiError> {
    match (role, agent) {
        (Role::Agent, None) => Err(invalid(
            "agent",
            "agent keys need the agent id they write for",
        )),
        (Role::Agent, Some(a))
            if a.is_empty() || a.len() > 256 || a.chars().any(char::is_control) =>
        {
            Err(invalid(
                "agent",
                "agent ids are 1 to 256 characters without control characters",
            ))
        }
        (Role::Agent, Some(a)) if a == SELF_AGENT => Err(invalid(
            "agent",
            "the agent id `sealtrail` is reserved for the server's own events",
        )),
        (Role::Agent, Some(_)) => Ok(()),
        (_, Some(_)) => Err(invalid("agent", "only agent keys are bound to an agent")),
        (_, None) => Ok(()),
    }
}

fn new_secret(role: Role) -> Result<k::NewSecret, ApiError> {
    k::generate(role).map_err(|e| ApiError::internal(format!("no randomness for a key: {e}")))
}

#[utoipa::path(
    post,
    path = "/v1/keys",
    operation_id = "create_key",
    tag = "access",
    summary = "Create an API key; the secret is in this answer only",
    security(("bearer" = ["keys:write"])),
    request_body = CreateKey,
    responses((status = 201, description = "Created", body = NewKey), JsonBodyRefusals)
)]
pub async fn create(
    Ctx { caller, log, .. }: Ctx<scope::KeysWrite>,
    json: Result<Json<CreateKey>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body(json)?;
    may_grant(&caller, req.role)?;
    check_name(&req.name)?;
    check_agent(req.role, &req.agent)?;
    check_rate(&req.rate_limit)?;
    if let Some(p) = req.project.as_deref().filter(|p| *p != log.project) {
        return Err(invalid(
            "project",
            format!("this request acts on project {:?}; to create a key in {p:?}, send `Sealtrail-Project: {p}` with an owner key", log.project),
        ));
    }
    let now = now_micros();
    let expires = expiry(req.role, req.expires_in, req.expires, now)?;
    let scopes = scopes_for(req.role, req.scopes.as_deref(), req.bodies.unwrap_or(true))
        .map_err(|m| invalid("scopes", m))?;
    let secret = new_secret(req.role)?;
    let info = KeyInfo {
        id: secret.id.clone(),
        name: req.name,
        role: req.role,
        scopes,
        project: log.project.clone(),
        agent: req.agent,
        created: now,
        created_by: caller.label(),
        expires,
        revoked: None,
        revoked_by: None,
        last_used: None,
        rotated_from: None,
        rotated_to: None,
        rate_limit: req.rate_limit,
    };
    let _guard = log.access.write.lock().await;
    audit::audited(
        &log,
        &caller,
        Audit::new(ACCESS_CHANGE, "key.create")
            .target(format!("key:{}", info.id))
            .change(None, snapshot(&info)),
        log.access.put_key(
            KeyRecord {
                info: info.clone(),
                secret_hash: secret.secret_hash,
            },
            None,
        ),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewKey {
            key: secret.text,
            info,
        }),
    )
        .into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyUpdate {
    name: Option<String>,
    role: Option<Role>,
    scopes: Option<Vec<Scope>>,
    expires: Option<u64>,
    expires_in: Option<u64>,
    rate_limit: Option<RateLimit>,
}

#[utoipa::path(
    patch,
    path = "/v1/keys/{id}",
    operation_id = "update_key",
    tag = "access",
    summary = "Change a key's name, role, scopes, expiry or rate limit (logged with before and after)",
    security(("bearer" = ["keys:write"])),
    params(("id" = String, Path, description = "Key id")),
    request_body = KeyUpdate,
    responses(
        (status = 200, description = "The key", body = KeyInfo),
        (status = 404, description = "No such key", body = Envelope),
        (status = 409, description = "Changed on another node meanwhile; nothing was changed: retry", body = Envelope),
        JsonBodyRefusals
    )
)]
pub async fn update(
    Ctx { caller, log, .. }: Ctx<scope::KeysWrite>,
    Path(id): Path<String>,
    json: Result<Json<KeyUpdate>, JsonRejection>,
) -> Result<Json<KeyInfo>, ApiError> {
    let req = body(json)?;
    let _guard = log.access.write.lock().await;
    let stored = stored_key_in(&log, &id).await?;
    let rec = &stored.record;
    let before = rec.info.clone();
    // Nobody changes a key above their own rank, nor to one.
    may_grant(&caller, before.role)?;
    let mut after = before.clone();
    if let Some(n) = req.name {
        check_name(&n)?;
        after.name = n;
    }
    if let Some(role) = req.role {
        may_grant(&caller, role)?;
        if (role == Role::Agent) != (before.role == Role::Agent) {
            return Err(invalid(
                "role",
                "agent keys stay agent keys, and other keys cannot become agent keys: create a new key",
            ));
        }
        after.role = role;
    }
    if req.role.is_some() || req.scopes.is_some() {
        let asked = match (&req.scopes, req.role) {
            (Some(s), _) => Some(s.clone()),
            // A new role without scopes gets the role's, minus bodies if the key had none.
            (None, Some(_)) => None,
            (None, None) => Some(before.scopes.clone()),
        };
        let bodies = req.scopes.is_some() || before.has(Scope::Bodies);
        after.scopes =
            scopes_for(after.role, asked.as_deref(), bodies).map_err(|m| invalid("scopes", m))?;
    }
    let now = now_micros();
    if req.expires.is_some() || req.expires_in.is_some() {
        after.expires = expiry(after.role, req.expires_in, req.expires, now)?;
    } else if after.role == Role::Auditor && after.expires.is_none() {
        return Err(invalid(
            "expires",
            "auditor keys are time-boxed: give expires_in",
        ));
    }
    if req.rate_limit.is_some() {
        check_rate(&req.rate_limit)?;
        after.rate_limit = req.rate_limit;
    }
    if after == before {
        return Ok(Json(log.access.with_last_used(after)));
    }
    audit::audited(
        &log,
        &caller,
        Audit::new(ACCESS_CHANGE, "key.update")
            .target(format!("key:{id}"))
            .change(snapshot(&before), snapshot(&after)),
        log.access.put_key(
            KeyRecord {
                info: after.clone(),
                secret_hash: rec.secret_hash.clone(),
            },
            Some(&stored),
        ),
    )
    .await?;
    Ok(Json(log.access.with_last_used(after)))
}

/// The body of a key rotation (the API's wire type).
pub use sealtrail_api::access::RotateRequest as RotateKey;

#[utoipa::path(
    post,
    path = "/v1/keys/{id}/rotate",
    operation_id = "rotate_key",
    tag = "access",
    summary = "Rotate a key: a new secret; the old one works until the overlap ends",
    security(("bearer" = ["keys:write"])),
    params(("id" = String, Path, description = "Key id")),
    request_body(content = Option<RotateKey>),
    responses(
        (status = 201, description = "The new key", body = NewKey),
        (status = 404, description = "No such key", body = Envelope),
        (status = 409, description = "Revoked or expired, or changed on another node meanwhile (retry)", body = Envelope),
        JsonBodyRefusals
    )
)]
pub async fn rotate(
    Ctx {
        caller, log, route, ..
    }: Ctx<scope::Authenticated>,
    Path(id): Path<String>,
    json: Result<Option<ApiJson<RotateKey>>, ApiError>,
) -> Result<Response, ApiError> {
    if caller.key.id != id || caller.token.is_some() {
        caller.require(Scope::KeysWrite, &route)?;
    }
    let overlap = overlap(json?.map(|j| j.0).unwrap_or_default().overlap_seconds)?;
    let _guard = log.access.write.lock().await;
    let stored = stored_key_in(&log, &id).await?;
    let rec = &stored.record;
    if caller.key.id != id {
        may_grant(&caller, rec.info.role)?;
    }
    let now = now_micros();
    rec.info.usable_at(now).map_err(|_| {
        ApiError::conflict(format!(
            "API key {id} is revoked or expired; create a new one"
        ))
    })?;
    let secret = new_secret(rec.info.role)?;
    let mut new = rec.info.clone();
    new.id = secret.id.clone();
    new.created = now;
    new.created_by = caller.label();
    new.last_used = None;
    new.rotated_from = Some(id.clone());
    new.rotated_to = None;
    let mut old = rec.info.clone();
    old.rotated_to = Some(new.id.clone());
    if overlap == 0 {
        old.revoked = Some(now);
        old.revoked_by = Some(caller.label());
    } else {
        let end = now.saturating_add(overlap.saturating_mul(1_000_000));
        old.expires = Some(old.expires.map_or(end, |e| e.min(end)));
    }
    let event = Audit::new(ACCESS_CHANGE, "key.rotate")
        .target(format!("key:{id}"))
        .change(
            snapshot(&rec.info),
            Some(json!({"old": snapshot(&old), "new": snapshot(&new)})),
        );
    let new_rec = KeyRecord {
        info: new.clone(),
        secret_hash: secret.secret_hash,
    };
    let store = async {
        log.access.put_key(new_rec.clone(), None).await?;
        let old = KeyRecord {
            info: old,
            secret_hash: rec.secret_hash.clone(),
        };
        if let Err(e) = log.access.put_key(old, Some(&stored)).await {
            // The new key's secret is never handed out now: make sure
            // nobody could ever use it either.
            disable_orphan(&log, &caller, new_rec).await;
            return Err(e);
        }
        Ok(())
    };
    audit::audited(&log, &caller, event, store).await?;
    Ok((
        StatusCode::CREATED,
        Json(NewKey {
            key: secret.text,
            info: new,
        }),
    )
        .into_response())
}

#[utoipa::path(
    delete,
    path = "/v1/keys/{id}",
    operation_id = "revoke_key",
    tag = "access",
    summary = "Revoke a key at once (also allowed to the key itself)",
    security(("bearer" = ["keys:write"])),
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "The revoked key", body = KeyInfo),
        (status = 404, description = "No such key", body = Envelope),
        (status = 409, description = "Changed on another node meanwhile; nothing was changed: retry", body = Envelope),
        Refusals
    )
)]
pub async fn revoke(
    Ctx {
        caller, log, route, ..
    }: Ctx<scope::Authenticated>,
    Path(id): Path<String>,
) -> Result<Json<KeyInfo>, ApiError> {
    if caller.key.id != id || caller.token.is_some() {
        caller.require(Scope::KeysWrite, &route)?;
    }
    let _guard = log.access.write.lock().await;
    let stored = stored_key_in(&log, &id).await?;
    let rec = &stored.record;
    if caller.key.id != id {
        may_grant(&caller, rec.info.role)?;
    }
    if rec.info.revoked.is_some() {
        return Ok(Json(log.access.with_last_used(rec.info.clone())));
    }
    let mut after = rec.info.clone();
    after.revoked = Some(now_micros());
    after.revoked_by = Some(caller.label());
    audit::audited(
        &log,
        &caller,
        Audit::new(ACCESS_CHANGE, "key.revoke")
            .target(format!("key:{id}"))
            .change(snapshot(&rec.info), snapshot(&after)),
        log.access.put_key(
            KeyRecord {
                info: after.clone(),
                secret_hash: rec.secret_hash.clone(),
            },
            Some(&stored),
        ),
    )
    .await?;
    Ok(Json(log.access.with_last_used(after)))
}

/// Revokes a key written by a rotation whose second half failed. Nobody
/// holds its secret; this is defence in depth, so a failure is only logged.
async fn disable_orphan(log: &AppState, caller: &Caller, rec: KeyRecord) {
    let id = rec.info.id.clone();
    let written = Stored::of(&rec);
    let mut revoked = rec;
    revoked.info.revoked = Some(now_micros());
    revoked.info.revoked_by = Some(caller.label());
    let result = match written {
        Ok(w) => log.access.put_key(revoked, Some(&w)).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::error!(key = %id, "cannot revoke the key of a failed rotation: {}", e.body.message);
    }
}

/// Attempts at revoking one key whose record other nodes keep changing.
const REVOKE_ATTEMPTS: usize = 5;

/// Revokes key `id` on its stored record, again on a fresh read if another
/// node changed it meanwhile (revoking is idempotent, so redoing it is
/// safe). False if it was revoked already.
async fn revoke_stored(
    log: &AppState,
    caller: &Caller,
    id: &str,
    now: u64,
) -> Result<bool, ApiError> {
    let mut last = None;
    for _ in 0..REVOKE_ATTEMPTS {
        let Some(stored) = log.access.stored_key(id).await? else {
            return Ok(false);
        };
        if stored.record.info.revoked.is_some() {
            return Ok(false);
        }
        let mut after = stored.record.clone();
        after.info.revoked = Some(now);
        after.info.revoked_by = Some(caller.label());
        match log.access.put_key(after, Some(&stored)).await {
            Ok(()) => return Ok(true),
            Err(e) if e.status == StatusCode::CONFLICT => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| ApiError::conflict(format!("API key {id} keeps changing"))))
}

/// Revokes every key bound to `agent` (its retirement).
pub(crate) async fn revoke_agent_keys(
    log: &AppState,
    caller: &Caller,
    agent: &str,
) -> Result<Vec<String>, ApiError> {
    let now = now_micros();
    let mut revoked = Vec::new();
    for info in log.access.keys(Some(&log.project)) {
        if info.agent.as_deref() != Some(agent) || info.revoked.is_some() {
            continue;
        }
        if revoke_stored(log, caller, &info.id, now).await? {
            revoked.push(info.id);
        }
    }
    Ok(revoked)
}

/// The body of `POST /v1/tokens` (the API's wire type).
pub use sealtrail_api::access::TokenRequest;

/// A session token. Members in name order: the order this answer always
/// had (it was a JSON map).
#[derive(Serialize, ToSchema)]
pub struct SessionToken {
    agent: String,
    expires: u64,
    session: String,
    token: String,
}

#[utoipa::path(
    post,
    path = "/v1/tokens",
    tag = "access",
    summary = "Mint a session token from an agent key, for one session",
    security(("bearer" = ["ingest"])),
    request_body = TokenRequest,
    responses((status = 201, description = "The token", body = SessionToken), JsonBodyRefusals)
)]

pub async fn mint_token(
    Ctx { caller, log, .. }: Ctx<scope::Ingest>,
    json: Result<Json<TokenRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Some(agent) = caller.key.agent.clone().filter(|_| caller.token.is_none()) else {
        return Err(ApiError::forbidden(
            "session tokens are minted from an agent key (sta_…), not from this key",
        ));
    };
    let req = body(json)?;
    if req.session.is_empty()
        || req.session.len() > 256
        || req.session.chars().any(char::is_control)
    {
        return Err(invalid(
            "session",
            "session must be 1 to 256 characters without control characters",
        ));
    }
    let ttl = req.ttl_seconds.unwrap_or(3600);
    if ttl == 0 || ttl > 86_400 {
        return Err(invalid(
            "ttl_seconds",
            "ttl_seconds must be between 1 and 86400",
        ));
    }
    let now = now_micros();
    let mut e = now + ttl * 1_000_000;
    if let Some(k) = caller.key.expires {
        e = e.min(k);
    }
    let claims = Claims {
        k: caller.key.id.clone(),
        a: agent.clone(),
        s: req.session.clone(),
        e,
    };
    audit::record(
        &log,
        &caller,
        Audit::new(ACCESS_CHANGE, "token.mint")
            .target(format!("key:{}", caller.key.id))
            .attr("session", req.session.clone())
            .attr("expires", e),
    )
    .await?;
    let token = log.access.tokens.mint(&claims);
    Ok((
        StatusCode::CREATED,
        Json(SessionToken {
            agent,
            expires: e,
            session: req.session,
            token,
        }),
    )
        .into_response())
}
