//! `GET /v1/events` (filtered, paginated entries) and `GET /v1/stats`
//! (counts grouped by agent, kind, outcome and day): parameter parsing and
//! answers; the store does the work (every filter has an index there).

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::Json;
use sealtrail_api::filter::{EventsQuery, FilterError, StatsQuery};
use sealtrail_store::EventQuery;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::{scope, Ctx};
use super::openapi::Refusals;
use crate::access::Scope;
use crate::audit::{params_object, read_access};
use crate::error::ApiError;
use sealtrail_core::time::format_day;

/// A refused parameter: `400 invalid_parameter` naming it, as on every path
/// that reads a filter.
impl From<FilterError> for ApiError {
    fn from(e: FilterError) -> Self {
        let mut err = ApiError::bad_request("invalid_parameter", "");
        err.body = e.into();
        err
    }
}

/// The query string as `(name, value)` pairs, for the one parser.
fn pairs(
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Vec<(String, String)>, ApiError> {
    let Query(pairs) = q.map_err(|e| {
        ApiError::bad_request("invalid_parameter", format!("bad query string: {e}"))
    })?;
    Ok(pairs)
}

/// The store query a `GET /v1/events` query string asks for.
// No subject MAC key yet (nothing seals subjects into headers): the
// filter takes the MAC as it would appear in headers.
fn event_query(q: EventsQuery) -> EventQuery {
    EventQuery {
        limit: q.limit_or_default(),
        cursor: q.cursor,
        include_bodies: q.include_bodies,
        filter: q.filter,
    }
}

#[derive(Serialize, ToSchema)]
pub struct EventItem {
    index: u64,
    time: u64,
    leaf_hash: String,
    #[schema(value_type = Object)]
    header: Value,
    /// With `include=body`: the event, or `null` once erased.
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    salt: Option<Value>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = EventsPage)]
pub struct EventsResponse {
    events: Vec<EventItem>,
    next_cursor: Option<u64>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("query task failed: {e}")))?
}

/// `GET /v1/events`: one page of entries matching every filter given.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "read",
    summary = "Query the log: one page of entries matching every filter",
    security(("bearer" = ["read"])),
    params(
        ("from" = Option<String>, Query, description = "Start of the time range (RFC 3339 or microseconds), inclusive"),
        ("to" = Option<String>, Query, description = "End of the time range, exclusive"),
        ("agent" = Option<String>, Query, description = "agent.id"),
        ("session" = Option<String>, Query, description = "session"),
        ("kind" = Option<String>, Query, description = "Event kind"),
        ("action" = Option<String>, Query, description = "action"),
        ("tool" = Option<String>, Query, description = "tool.name"),
        ("outcome" = Option<String>, Query, description = "success | failure | denied | pending"),
        ("data_class" = Option<String>, Query, description = "A data class (pii, pci, …)"),
        ("subject" = Option<String>, Query, description = "A data subject's keyed MAC (64 hex digits)"),
        ("scope" = Option<String>, Query, description = "in_scope | out_of_scope (any reason) | unregistered_agent | an exact verdict"),
        ("cursor" = Option<String>, Query, description = "From the previous page's next_cursor"),
        ("limit" = Option<i64>, Query, description = "Page size (1–1000)"),
        ("include" = Option<String>, Query, description = "`body`: include event bodies (needs `bodies`)")
    ),
    responses((status = 200, description = "A page", body = EventsResponse), Refusals)
)]
pub async fn get_events(
    Ctx {
        caller,
        log: state,
        route,
        ..
    }: Ctx<scope::Read>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<EventsResponse>, ApiError> {
    let audit = q.as_ref().map(|q| params_object(&q.0)).unwrap_or_default();
    let query = event_query(EventsQuery::from_pairs(&pairs(q)?)?);
    if query.include_bodies {
        caller.require(Scope::Bodies, &format!("{route}?include=body"))?;
    }
    read_access(&state, &caller, "log.query", audit).await?;
    let store = state.store.clone();
    let include = query.include_bodies;
    let page = blocking(move || Ok(store.query(&query)?)).await?;
    let mut events = Vec::with_capacity(page.events.len());
    for e in page.events {
        let json = |bytes: &[u8], what: &str| {
            serde_json::from_slice::<Value>(bytes).map_err(|err| {
                ApiError::internal(format!(
                    "stored {what} of entry {} is not JSON: {err}",
                    e.index
                ))
            })
        };
        let header = json(&e.header, "header")?;
        let (event, salt) = if include {
            match (&e.body, &e.salt) {
                (Some(b), Some(s)) => (Some(json(b, "body")?), Some(Value::String(hex::encode(s)))),
                _ => (Some(Value::Null), Some(Value::Null)),
            }
        } else {
            (None, None)
        };
        events.push(EventItem {
            index: e.index,
            time: e.time,
            leaf_hash: e.leaf_hash.to_hex(),
            header,
            event,
            salt,
        });
    }
    Ok(Json(EventsResponse {
        events,
        next_cursor: page.next_cursor,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct StatsResponse {
    group_by: Vec<&'static str>,
    #[schema(value_type = Vec<Object>)]
    rows: Vec<serde_json::Map<String, Value>>,
    total: u64,
}

/// `GET /v1/stats`: entry counts, grouped.
#[utoipa::path(
    get,
    path = "/v1/stats",
    tag = "read",
    summary = "Entry counts grouped by agent, kind, outcome and/or day",
    security(("bearer" = ["read"])),
    params(
        ("group_by" = String, Query, description = "Comma-separated: agent, kind, outcome, day"),
        ("from" = Option<String>, Query, description = "Day-aligned start"),
        ("to" = Option<String>, Query, description = "Day-aligned end"),
        ("agent" = Option<String>, Query, description = "agent.id"),
        ("kind" = Option<String>, Query, description = "kind"),
        ("outcome" = Option<String>, Query, description = "outcome")
    ),
    responses((status = 200, description = "Rows and total", body = StatsResponse), Refusals)
)]
pub async fn get_stats(
    Ctx {
        caller, log: state, ..
    }: Ctx<scope::Read>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<StatsResponse>, ApiError> {
    let audit = q.as_ref().map(|q| params_object(&q.0)).unwrap_or_default();
    let StatsQuery { filter, group_by } = StatsQuery::from_pairs(&pairs(q)?)?;
    let query = sealtrail_store::StatsQuery { filter, group_by };
    read_access(&state, &caller, "log.stats", audit).await?;
    let store = state.store.clone();
    let group_by: Vec<&'static str> = query.group_by.iter().map(|g| g.name()).collect();
    let rows = blocking(move || Ok(store.stats(&query)?)).await?;
    let total = rows.iter().map(|r| r.count).sum();
    let rows = rows
        .into_iter()
        .map(|r| {
            let mut m = serde_json::Map::new();
            if let Some(d) = r.day {
                m.insert("day".into(), Value::String(format_day(d)));
            }
            if let Some(a) = r.agent {
                m.insert("agent".into(), Value::String(a));
            }
            if let Some(k) = r.kind {
                m.insert("kind".into(), Value::String(k));
            }
            if let Some(o) = r.outcome {
                // Entries without an outcome are counted under null.
                let v = if o.is_empty() {
                    Value::Null
                } else {
                    Value::String(o)
                };
                m.insert("outcome".into(), v);
            }
            m.insert("count".into(), Value::from(r.count));
            m
        })
        .collect();
    Ok(Json(StatsResponse {
        group_by,
        rows,
        total,
    }))
}
