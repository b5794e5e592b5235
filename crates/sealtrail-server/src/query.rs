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

use crate::access::audit::{params_object, read_access};
use crate::access::{Ctx, Scope};
use crate::error::ApiError;
pub use sealtrail_core::time::{format_day, format_time, parse_time};

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

#[derive(Serialize)]
pub struct EventItem {
    index: u64,
    time: u64,
    leaf_hash: String,
    header: Value,
    /// With `include=body`: the event, or `null` once erased.
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    salt: Option<Value>,
}

#[derive(Serialize)]
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
pub async fn get_events(
    Ctx { caller, log: state }: Ctx,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<EventsResponse>, ApiError> {
    caller.require(Scope::Read, "GET /v1/events")?;
    let audit = q.as_ref().map(|q| params_object(&q.0)).unwrap_or_default();
    let query = event_query(EventsQuery::from_pairs(&pairs(q)?)?);
    if query.include_bodies {
        caller.require(Scope::Bodies, "GET /v1/events?include=body")?;
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

#[derive(Serialize)]
pub struct StatsResponse {
    group_by: Vec<&'static str>,
    rows: Vec<serde_json::Map<String, Value>>,
    total: u64,
}

/// `GET /v1/stats`: entry counts, grouped.
pub async fn get_stats(
    Ctx { caller, log: state }: Ctx,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<StatsResponse>, ApiError> {
    caller.require(Scope::Read, "GET /v1/stats")?;
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
