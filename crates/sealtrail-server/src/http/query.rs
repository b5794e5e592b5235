//! `GET /v1/events` (filtered, paginated entries) and `GET /v1/stats`
//! (counts grouped by agent, kind, outcome and day): parameter parsing and
//! answers; the store does the work (every filter has an index there).

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::Json;
use sealtrail_store::query::{DAY_MICROS, MAX_LIMIT};
use sealtrail_store::{EventQuery, StatsGroup, StatsQuery};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::{scope, Ctx};
use super::openapi::Refusals;
use crate::access::Scope;
use crate::audit::{params_object, read_access};
use crate::error::ApiError;
use crate::filters::{format_day, format_time};
use crate::filters::{FilterError, Filters, RawFilters, TimeInput};

fn bad(field: &str, message: impl Into<String>) -> ApiError {
    let mut e = ApiError::bad_request("invalid_parameter", message);
    e.body.field = Some(field.to_string());
    e
}

impl From<FilterError> for ApiError {
    fn from(e: FilterError) -> Self {
        bad(e.field, e.message)
    }
}

/// The query string as `(name, value)` pairs, each name at most once.
struct Params(Vec<(String, String)>);

impl Params {
    fn new(
        q: Result<Query<Vec<(String, String)>>, QueryRejection>,
        known: &[&str],
    ) -> Result<Self, ApiError> {
        let Query(pairs) = q.map_err(|e| {
            ApiError::bad_request("invalid_parameter", format!("bad query string: {e}"))
        })?;
        for (i, (name, _)) in pairs.iter().enumerate() {
            if !known.contains(&name.as_str()) {
                return Err(bad(
                    name,
                    format!(
                        "unknown parameter {name:?}; this endpoint takes {}",
                        known.join(", ")
                    ),
                ));
            }
            if pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(bad(name, format!("{name} is given more than once")));
            }
        }
        Ok(Params(pairs))
    }

    /// The value of `name`; an empty value counts as absent.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The filters every entry query shares, checked by the one validator
    /// `POST /v1/exports` uses too.
    fn filters(&self) -> Result<Filters, ApiError> {
        let text = |name| self.get(name).map(TimeInput::Text);
        Ok(RawFilters {
            from: text("from"),
            to: text("to"),
            agent: self.get("agent"),
            session: self.get("session"),
            kind: self.get("kind"),
            action: self.get("action"),
            tool: self.get("tool"),
            outcome: self.get("outcome"),
            data_class: self.get("data_class"),
            subject: self.get("subject"),
            scope: self.get("scope"),
        }
        .validate()?)
    }
}

const EVENT_PARAMS: &[&str] = &[
    "from",
    "to",
    "agent",
    "session",
    "kind",
    "action",
    "tool",
    "outcome",
    "data_class",
    "subject",
    "scope",
    "cursor",
    "limit",
    "include",
];

/// The store query a `GET /v1/events` query string asks for.
fn event_query(p: &Params) -> Result<EventQuery, ApiError> {
    let f = p.filters()?;
    let limit = match p.get("limit") {
        None => sealtrail_store::query::DEFAULT_LIMIT,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                bad(
                    "limit",
                    format!("limit {v:?} is not a whole number from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    let cursor = p
        .get("cursor")
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                bad(
                    "cursor",
                    format!(
                        "cursor {v:?} is not an entry index (use next_cursor of the previous page)"
                    ),
                )
            })
        })
        .transpose()?;
    let include_bodies = match p.get("include") {
        None => false,
        Some("body") => true,
        Some(v) => {
            return Err(bad(
                "include",
                format!("include={v:?} is not supported; use include=body"),
            ))
        }
    };
    // No subject MAC key yet (nothing seals subjects into headers): the
    // filter takes the MAC as it would appear in headers.
    Ok(EventQuery {
        from: f.from,
        to: f.to,
        agent: f.agent,
        session: f.session,
        kind: f.kind,
        action: f.action,
        tool: f.tool,
        outcome: f.outcome,
        data_class: f.data_class,
        subject: f.subject,
        scope: f.scope,
        cursor,
        limit,
        include_bodies,
    })
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
    let query = event_query(&Params::new(q, EVENT_PARAMS)?)?;
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

const STATS_PARAMS: &[&str] = &["group_by", "from", "to", "agent", "kind", "outcome"];

fn stats_query(p: &Params) -> Result<StatsQuery, ApiError> {
    // Only these filters are known here (Params refused the others).
    let f = p.filters()?;
    let (from, to) = (f.from, f.to);
    for (name, t) in [("from", from), ("to", to)] {
        if let Some(t) = t.filter(|t| t % DAY_MICROS != 0) {
            return Err(bad(
                name,
                format!(
                    "{name} ({}) is not a UTC midnight: counts are kept per day, give a date such as {}",
                    format_time(t),
                    format_day((t / DAY_MICROS) as i64)
                ),
            ));
        }
    }
    let mut group_by = Vec::new();
    for g in p.get("group_by").unwrap_or("").split(',') {
        let g = g.trim();
        if g.is_empty() {
            continue;
        }
        let parsed = StatsGroup::parse(g).ok_or_else(|| {
            bad(
                "group_by",
                format!("cannot group by {g:?}; use agent, kind, outcome and/or day"),
            )
        })?;
        if group_by.contains(&parsed) {
            return Err(bad("group_by", format!("{g} is listed twice")));
        }
        group_by.push(parsed);
    }
    Ok(StatsQuery {
        from,
        to,
        agent: f.agent,
        kind: f.kind,
        outcome: f.outcome,
        group_by,
    })
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
    let query = stats_query(&Params::new(q, STATS_PARAMS)?)?;
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
