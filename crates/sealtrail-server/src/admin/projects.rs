//! `/v1/projects` and `/v1/signing-keys…`.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::body;
use crate::access::audit::{self, Audit, CONFIG_CHANGE};
use crate::access::{valid_project_name, Ctx, ProjectRecord, Scope, DEFAULT_PROJECT};
use crate::clock::now_micros;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::projects::Root;

pub async fn list(State(root): State<Root>, Ctx { caller, log }: Ctx) -> Json<serde_json::Value> {
    let default = ProjectRecord {
        name: DEFAULT_PROJECT.into(),
        created: 0,
        created_by: "sealtrail init".into(),
        origin: root.default_log().map(|l| l.origin).unwrap_or_default(),
        vkey: root.default_log().map(|l| l.vkey).unwrap_or_default(),
    };
    let all = std::iter::once(default).chain(root.access.projects());
    // Keys bound to one project see only it.
    let projects: Vec<ProjectRecord> = if caller.role().server_wide() {
        all.collect()
    } else {
        all.filter(|p| p.name == log.project).collect()
    };
    Json(json!({ "projects": projects }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    name: String,
}

pub async fn create(
    State(root): State<Root>,
    Ctx { caller, log }: Ctx,
    json: Result<Json<CreateProject>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Projects, "POST /v1/projects")?;
    let req = body(json)?;
    if !valid_project_name(&req.name) {
        let mut e = ApiError::bad_request(
            "invalid_request",
            "project names are 1 to 63 characters of a-z, 0-9 and -, starting with a letter or digit",
        );
        e.body.field = Some("name".into());
        return Err(e);
    }
    if root.log(&req.name).is_ok() {
        return Err(ApiError::conflict(format!(
            "project {:?} already exists",
            req.name
        )));
    }
    let rec = root.create(&req.name, caller.label()).await?;
    // Recorded in the log of the project the request acted on (the default
    // one unless the owner named another), and in the new project's own.
    let event = || {
        Audit::new(CONFIG_CHANGE, "project.create")
            .target(format!("project:{}", rec.name))
            .change(None, super::snapshot(&rec))
    };
    audit::record(&log, &caller, event()).await?;
    let new_log = root.log(&rec.name)?;
    audit::record(&new_log, &caller, event()).await?;
    Ok((StatusCode::CREATED, Json(rec)).into_response())
}

pub async fn signing_keys(Ctx { caller, log }: Ctx) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Scope::Proofs, "GET /v1/signing-keys")?;
    let now = now_micros();
    Ok(Json(json!({
        "origin": log.origin,
        "signing": log.signing_keys.vkeys(now),
        "history": log.signing_keys.history(now),
    })))
}

/// The body of a signing-key rotation (the API's wire type).
pub use sealtrail_api::access::RotateRequest as RotateSigning;

pub async fn rotate_signing_key(
    Ctx { caller, log }: Ctx,
    json: Result<Option<ApiJson<RotateSigning>>, ApiError>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Signing, "POST /v1/signing-keys/rotate")?;
    let overlap = json?
        .map(|j| j.0)
        .unwrap_or_default()
        .overlap_seconds
        .unwrap_or(86_400);
    let ring = log.signing_keys.clone();
    let now = now_micros();
    let rotation = tokio::task::spawn_blocking(move || {
        ring.rotate(std::time::Duration::from_secs(overlap), now)
    })
    .await
    .map_err(|e| ApiError::internal(format!("rotation task failed: {e}")))?
    .map_err(|e| ApiError::conflict(format!("{e:#}")))?;
    let change = rotation.change();
    audit::record(
        &log,
        &caller,
        Audit::new(CONFIG_CHANGE, "signing_key.rotate")
            .target("signing_key")
            .change(change.get("before").cloned(), change.get("after").cloned()),
    )
    .await?;
    if let Err(e) = crate::projects::mark_logged(&log, rotation.new_key_id.clone()).await {
        tracing::warn!("cannot mark the rotation as logged: {e:#}");
    }
    Ok((StatusCode::CREATED, Json(rotation)).into_response())
}
