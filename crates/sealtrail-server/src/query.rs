//! `GET /v1/events` (filtered, paginated entries) and `GET /v1/stats`
//! (counts grouped by agent, kind, outcome and day): parameter parsing and
//! answers; the store does the work (every filter has an index there).

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::Json;
use sealtrail_core::event::{EventKind, Outcome};
use sealtrail_core::hash::Hash;
use sealtrail_store::query::{DAY_MICROS, MAX_LIMIT};
use sealtrail_store::{EventQuery, StatsGroup, StatsQuery};
use serde::Serialize;
use serde_json::Value;

use crate::access::audit::{params_object, read_access};
use crate::access::{Ctx, Scope};
use crate::error::ApiError;

fn bad(field: &str, message: impl Into<String>) -> ApiError {
    let mut e = ApiError::bad_request("invalid_parameter", message);
    e.body.field = Some(field.to_string());
    e
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

    fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }

    fn time(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.get(name)
            .map(|v| parse_time(v).map_err(|why| bad(name, format!("{name}: {why}"))))
            .transpose()
    }

    fn kind(&self) -> Result<Option<String>, ApiError> {
        match self.get("kind") {
            None => Ok(None),
            Some(k) if EventKind::ALL.iter().any(|e| e.as_str() == k) => Ok(Some(k.into())),
            Some(k) => Err(bad(
                "kind",
                format!(
                    "kind {k:?} is not an event kind; use one of {}",
                    EventKind::ALL.map(|e| e.as_str()).join(", ")
                ),
            )),
        }
    }

    fn outcome(&self) -> Result<Option<String>, ApiError> {
        const OUTCOMES: [Outcome; 4] = [
            Outcome::Success,
            Outcome::Failure,
            Outcome::Denied,
            Outcome::Pending,
        ];
        match self.get("outcome") {
            None => Ok(None),
            Some(o) if OUTCOMES.iter().any(|x| x.as_str() == o) => Ok(Some(o.into())),
            Some(o) => Err(bad(
                "outcome",
                format!(
                    "outcome {o:?} is not an outcome; use one of {}",
                    OUTCOMES.map(|x| x.as_str()).join(", ")
                ),
            )),
        }
    }

    /// `from` and `to`, with `from` not after `to`.
    fn range(&self) -> Result<(Option<u64>, Option<u64>), ApiError> {
        let (from, to) = (self.time("from")?, self.time("to")?);
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(bad(
                    "from",
                    format!("from ({}) is after to ({})", format_time(f), format_time(t)),
                ));
            }
        }
        Ok((from, to))
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
    let (from, to) = p.range()?;
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
    let subject = p
        .get("subject")
        .map(|v| {
            Hash::from_hex(v).map_err(|_| {
                bad(
                    "subject",
                    "subject must be the subject's keyed MAC as sealed in headers: 64 hex digits",
                )
            })
        })
        .transpose()?;
    Ok(EventQuery {
        from,
        to,
        agent: p.string("agent"),
        session: p.string("session"),
        kind: p.kind()?,
        action: p.string("action"),
        tool: p.string("tool"),
        outcome: p.outcome()?,
        data_class: p.string("data_class"),
        subject,
        scope: p.string("scope"),
        cursor,
        limit,
        include_bodies,
    })
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
    let query = event_query(&Params::new(q, EVENT_PARAMS)?)?;
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

const STATS_PARAMS: &[&str] = &["group_by", "from", "to", "agent", "kind", "outcome"];

fn stats_query(p: &Params) -> Result<StatsQuery, ApiError> {
    let (from, to) = p.range()?;
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
        agent: p.string("agent"),
        kind: p.kind()?,
        outcome: p.outcome()?,
        group_by,
    })
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

// ---------------------------------------------------------------------------
// Times: RFC 3339 (and bare dates, and integer microseconds) in, RFC 3339 out.

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses a time given as microseconds since the epoch (`1795000000000000`),
/// an RFC 3339 timestamp (`2026-11-22T10:00:00Z`, `…+01:00`, fractions to
/// the microsecond) or a date (`2026-11-22`, its UTC midnight).
pub fn parse_time(s: &str) -> Result<u64, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u64>()
            .map_err(|_| format!("{s:?} is too large for microseconds since the epoch"));
    }
    let err = || {
        format!(
            "{s:?} is not a time: use RFC 3339 (2026-11-22T10:00:00Z), a date (2026-11-22) or microseconds since the epoch"
        )
    };
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<u32, String> {
        let part = s.get(r).ok_or_else(err)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().map_err(|_| err())
        } else {
            Err(err())
        }
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(err());
    }
    let (y, mo, d) = (i64::from(num(0..4)?), num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return Err(format!("{s:?} is not a valid date"));
    }
    let mut secs = days_from_civil(y, mo, d) * 86_400;
    let mut micros = 0i64;
    if b.len() > 10 {
        if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
            return Err(err());
        }
        let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if h > 23 || mi > 59 || sec > 60 {
            return Err(format!("{s:?} is not a valid time of day"));
        }
        secs += i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec.min(59));
        let mut i = 19;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return Err(err());
            }
            // Microseconds: the first six digits, padded.
            let digits = &s[start..i.min(start + 6)];
            micros = format!("{digits:0<6}").parse::<i64>().map_err(|_| err())?;
        }
        match b.get(i) {
            Some(b'Z' | b'z') if i + 1 == b.len() => {}
            Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
                let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
                if oh > 23 || om > 59 {
                    return Err(err());
                }
                let offset = i64::from(oh) * 3600 + i64::from(om) * 60;
                secs -= if *sign == b'+' { offset } else { -offset };
            }
            _ => {
                return Err(format!(
                    "{s:?} needs a time zone: Z or an offset like +01:00"
                ))
            }
        }
    }
    let us = secs
        .checked_mul(1_000_000)
        .and_then(|v| v.checked_add(micros))
        .ok_or_else(err)?;
    u64::try_from(us).map_err(|_| format!("{s:?} is before 1970"))
}

/// RFC 3339 in UTC with microseconds: `2026-11-22T10:00:00.000123Z`.
pub fn format_time(us: u64) -> String {
    let secs = (us / 1_000_000) as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        us % 1_000_000
    )
}

/// A day number (days since the epoch) as `YYYY-MM-DD`.
pub fn format_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_every_accepted_form() {
        assert_eq!(parse_time("0").unwrap(), 0);
        assert_eq!(
            parse_time("1795000000123456").unwrap(),
            1_795_000_000_123_456
        );
        assert_eq!(parse_time("1970-01-01").unwrap(), 0);
        assert_eq!(parse_time("1970-01-02").unwrap(), DAY_MICROS);
        assert_eq!(
            parse_time("2000-03-01T00:00:00Z").unwrap(),
            951_868_800_000_000
        );
        assert_eq!(
            parse_time("2000-03-01T01:00:00.5+01:00").unwrap(),
            951_868_800_500_000
        );
        assert_eq!(
            parse_time("2000-02-29t23:00:00.123456789-01:00").unwrap(),
            951_868_800_123_456
        );
        for bad in [
            "",
            "yesterday",
            "2000-02-30",
            "2001-02-29",
            "2000-13-01",
            "2000-01-01T10:00:00",
            "2000-01-01T25:00:00Z",
            "2000-01-01T10:00Z",
            "2000-01-01T10:00:00.Z",
            "1969-12-31T23:59:59Z",
            "99999999999999999999",
            "2000-01-01T10:00:00+0100",
        ] {
            assert!(parse_time(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn times_format_and_round_trip() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_time(951_868_800_123_456),
            "2000-03-01T00:00:00.123456Z"
        );
        assert_eq!(format_day(0), "1970-01-01");
        for us in [
            0u64,
            1,
            86_399_999_999,
            951_868_800_123_456,
            1_795_000_000_000_007,
        ] {
            assert_eq!(parse_time(&format_time(us)).unwrap(), us);
        }
        for day in [0i64, 59, 60, 365, 11_016, 20_775, 50_000] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
            assert_eq!(
                parse_time(&format_day(day)).unwrap(),
                day as u64 * DAY_MICROS
            );
        }
    }
}
