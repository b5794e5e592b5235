//! `/v1/projects`: the projects (logs) of this server.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body;
use crate::access::{valid_project_name, ProjectRecord, DEFAULT_PROJECT};
use crate::audit::{self, Audit, CONFIG_CHANGE};
use crate::error::ApiError;
use crate::http::auth::{scope, Ctx};
use crate::http::error::Envelope;
use crate::http::openapi::{JsonBodyRefusals, Refusals};
use crate::logs::Root;

/// The projects. One member: the order this answer always had.
#[derive(Serialize, ToSchema)]
pub struct ProjectList {
    projects: Vec<ProjectRecord>,
}

#[utoipa::path(
    get,
    path = "/v1/projects",
    operation_id = "list_projects",
    tag = "access",
    summary = "Projects this key can see",
    responses((status = 200, description = "Projects", body = ProjectList), Refusals)
)]
pub async fn list(
    State(root): State<Root>,
    Ctx { caller, log, .. }: Ctx<scope::Authenticated>,
) -> Json<ProjectList> {
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
    Json(ProjectList { projects })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    name: String,
}

#[utoipa::path(
    post,
    path = "/v1/projects",
    operation_id = "create_project",
    tag = "access",
    summary = "Create a project (a new log)",
    security(("bearer" = ["projects"])),
    request_body = CreateProject,
    responses(
        (status = 201, description = "Created", body = ProjectRecord),
        (status = 409, description = "Exists", body = Envelope),
        JsonBodyRefusals
    )
)]

pub async fn create(
    State(root): State<Root>,
    Ctx { caller, log, .. }: Ctx<scope::Projects>,
    json: Result<Json<CreateProject>, JsonRejection>,
) -> Result<Response, ApiError> {
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
