//! `/v1/agents…`: the agent registry of the request's project.

use axum::extract::rejection::JsonRejection;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use sealtrail_core::registry::{AgentPatch, AgentRecord, AgentStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{body, snapshot};
use crate::access::{Scope, SELF_AGENT};
use crate::audit::{self, Audit, CONFIG_CHANGE};
use crate::clock::now_micros;
use crate::error::ApiError;
use crate::http::auth::{scope, Ctx};
use crate::http::error::Envelope;
use crate::http::extract::ApiQuery;
use crate::http::openapi::{AgentPatchSchema, AgentRecordSchema, JsonBodyRefusals, Refusals};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// active | suspended | retired
    #[param(value_type = Option<String>)]
    status: Option<AgentStatus>,
}

#[derive(Serialize, ToSchema)]
pub struct AgentList {
    #[schema(value_type = Vec<AgentRecordSchema>)]
    agents: Vec<AgentRecord>,
}

#[utoipa::path(
    get,
    path = "/v1/agents",
    operation_id = "list_agents",
    tag = "registry",
    summary = "The agent registry of the project",
    security(("bearer" = ["agents:read"])),
    params(ListParams),
    responses((status = 200, description = "Agents", body = AgentList), Refusals)
)]
pub async fn list(
    Ctx { log, .. }: Ctx<scope::AgentsRead>,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<Json<AgentList>, ApiError> {
    let mut agents = log.access.agents(&log.project);
    if let Some(s) = p.status {
        agents.retain(|a| a.status == s);
    }
    Ok(Json(AgentList { agents }))
}

fn not_found(id: &str, project: &str) -> ApiError {
    ApiError::not_found(format!(
        "no agent {id:?} is registered in project {project:?}"
    ))
}

#[utoipa::path(
    get,
    path = "/v1/agents/{id}",
    operation_id = "show_agent",
    tag = "registry",
    summary = "One agent (an agent key may read its own)",
    security(("bearer" = ["agents:read"])),
    params(("id" = String, Path, description = "Agent id")),
    responses(
        (status = 200, description = "The agent", body = AgentRecordSchema),
        (status = 404, description = "Not registered", body = Envelope),
        Refusals
    )
)]
pub async fn show(
    Ctx {
        caller, log, route, ..
    }: Ctx<scope::Authenticated>,
    Path(id): Path<String>,
) -> Result<Json<AgentRecord>, ApiError> {
    // An agent may read its own record (the MCP proxy enforces its scope).
    if caller.key.agent.as_deref() != Some(id.as_str()) {
        caller.require(Scope::AgentsRead, &route)?;
    }
    log.access
        .agent(&log.project, &id)
        .map(Json)
        .ok_or_else(|| not_found(&id, &log.project))
}

fn invalid(e: sealtrail_core::registry::RegistryError) -> ApiError {
    let mut err = ApiError::bad_request("invalid_agent", e.to_string());
    err.body.field = Some(e.field.clone());
    err
}

#[utoipa::path(
    post,
    path = "/v1/agents",
    operation_id = "register_agent",
    tag = "registry",
    summary = "Register an agent",
    security(("bearer" = ["agents:write"])),
    request_body = AgentRecordSchema,
    responses(
        (status = 201, description = "Registered", body = AgentRecordSchema),
        (status = 409, description = "Already registered", body = Envelope),
        JsonBodyRefusals
    )
)]
pub async fn register(
    Ctx { caller, log, .. }: Ctx<scope::AgentsWrite>,
    json: Result<Json<AgentRecord>, JsonRejection>,
) -> Result<Response, ApiError> {
    let mut rec = body(json)?;
    if rec.id == SELF_AGENT {
        return Err(ApiError::bad_request(
            "invalid_agent",
            "the agent id `sealtrail` is reserved for the server's own events",
        ));
    }
    rec.validate().map_err(invalid)?;
    let _guard = log.access.write.lock().await;
    if log.access.agent(&log.project, &rec.id).is_some() {
        return Err(ApiError::conflict(format!(
            "agent {:?} is already registered; change it with PATCH /v1/agents/{{id}}",
            rec.id
        )));
    }
    let now = now_micros();
    rec.created = now;
    rec.updated = now;
    rec.version = 1;
    audit::audited(
        &log,
        &caller,
        Audit::new(CONFIG_CHANGE, "agent.register")
            .target(format!("agent:{}", rec.id))
            .change(None, snapshot(&rec)),
        log.access.put_agent(&log.project, rec.clone(), None),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(rec)).into_response())
}

#[utoipa::path(
    patch,
    path = "/v1/agents/{id}",
    operation_id = "update_agent",
    tag = "registry",
    summary = "Change an agent; status retired is final and revokes its keys",
    security(("bearer" = ["agents:write"])),
    params(("id" = String, Path, description = "Agent id")),
    request_body = inline(AgentPatchSchema),
    responses(
        (status = 200, description = "The agent", body = AgentRecordSchema),
        (status = 404, description = "Not registered", body = Envelope),
        (status = 409, description = "Retired, or changed on another node meanwhile (retry)", body = Envelope),
        JsonBodyRefusals
    )
)]
pub async fn update(
    Ctx { caller, log, .. }: Ctx<scope::AgentsWrite>,
    Path(id): Path<String>,
    json: Result<Json<AgentPatch>, JsonRejection>,
) -> Result<Json<AgentRecord>, ApiError> {
    let patch = body(json)?;
    let _guard = log.access.write.lock().await;
    // The change is made on the record as stored, never on the copy held in
    // memory, which may predate a change made on another node.
    let stored = log
        .access
        .stored_agent(&log.project, &id)
        .await?
        .ok_or_else(|| not_found(&id, &log.project))?;
    let before = stored.record.clone();
    if patch.is_empty() {
        return Ok(Json(before));
    }
    if before.status == AgentStatus::Retired {
        return Err(ApiError::conflict(format!(
            "agent {id:?} is retired; retirement is final (register a new agent id instead)"
        )));
    }
    let mut after = patch.apply(&before);
    after.validate().map_err(invalid)?;
    if after == before {
        return Ok(Json(before));
    }
    after.version = before.version + 1;
    after.updated = now_micros();
    let action = match (before.status, after.status) {
        (_, AgentStatus::Retired) => "agent.retire",
        (AgentStatus::Active, AgentStatus::Suspended) => "agent.suspend",
        (AgentStatus::Suspended, AgentStatus::Active) => "agent.reactivate",
        _ => "agent.update",
    };
    let mut event = Audit::new(CONFIG_CHANGE, action)
        .target(format!("agent:{id}"))
        .change(snapshot(&before), snapshot(&after));
    let retiring = after.status == AgentStatus::Retired;
    if retiring {
        let bound: Vec<String> = log
            .access
            .keys(Some(&log.project))
            .into_iter()
            .filter(|k| k.agent.as_deref() == Some(id.as_str()) && k.revoked.is_none())
            .map(|k| k.id)
            .collect();
        event = event.attr("revoked_keys", bound);
    }
    let store = async {
        log.access
            .put_agent(&log.project, after.clone(), Some(&stored))
            .await?;
        if retiring {
            super::keys::revoke_agent_keys(&log, &caller, &id).await?;
        }
        Ok(())
    };
    audit::audited(&log, &caller, event, store).await?;
    Ok(Json(after))
}
