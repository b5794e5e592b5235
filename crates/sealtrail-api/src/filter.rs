//! The one entry filter, and the one way to read it from each kind of
//! request: query-string pairs (`GET /v1/events`, `GET /v1/stats`, and the
//! CLI's flags, which it turns into the same pairs) and a JSON body
//! (`POST /v1/exports`). Every path ends in [`RawFilter::validate`], so the
//! same input gets the same answer or the same refusal naming the same
//! field; and every path's output turns back into its input
//! ([`EventsQuery::to_pairs`], [`ExportRequest::new`]), which is how the
//! client sends a filter it was given.

use serde::{Deserialize, Serialize};

pub use sealtrail_core::filter::{
    EventFilter, FilterError, QueryMismatch, RawFilter, StatsGroup, TimeInput, DEFAULT_LIMIT,
    MAX_LIMIT, OUTCOMES,
};
pub use sealtrail_core::time::{format_day, format_time, parse_time, DAY_MICROS};

use crate::error::{ErrorBody, INVALID_PARAMETER, INVALID_REQUEST};

/// The filter's parameters (and JSON members), in the order they are checked.
pub const FILTER_PARAMS: [&str; 11] = [
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
];

/// A query string as `(name, value)` pairs: each name known to the
/// endpoint, and given at most once.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    pairs: &'a [(String, String)],
}

impl<'a> Params<'a> {
    /// Refuses a name the endpoint does not take (`known`), or one given twice.
    pub fn new(pairs: &'a [(String, String)], known: &[&str]) -> Result<Self, FilterError> {
        for (i, (name, _)) in pairs.iter().enumerate() {
            if !known.contains(&name.as_str()) {
                return Err(FilterError::new(
                    name.as_str(),
                    format!(
                        "unknown parameter {name:?}; this endpoint takes {}",
                        known.join(", ")
                    ),
                ));
            }
            if pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(FilterError::new(
                    name.as_str(),
                    format!("{name} is given more than once"),
                ));
            }
        }
        Ok(Params { pairs })
    }

    /// The value of `name`; an empty value counts as absent.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The filter these parameters give, checked by the one validator.
    pub fn filter(&self) -> Result<EventFilter, FilterError> {
        let text = |name| self.get(name).map(TimeInput::Text);
        RawFilter {
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
        .validate()
    }
}

/// Reads a filter from query-string pairs that hold filters only (the
/// CLI's flags): what `GET /v1/events` would make of them.
pub fn filter_from_pairs(pairs: &[(String, String)]) -> Result<EventFilter, FilterError> {
    Params::new(pairs, &FILTER_PARAMS)?.filter()
}

/// `GET /v1/events`: which entries, and which page of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventsQuery {
    pub filter: EventFilter,
    /// Entries after this index: the previous page's `next_cursor`.
    pub cursor: Option<u64>,
    /// Page size, 1 to [`MAX_LIMIT`] (default [`DEFAULT_LIMIT`]).
    pub limit: Option<u32>,
    /// Also return each event and its salt (`include=body`).
    pub include_bodies: bool,
}

impl EventsQuery {
    /// The parameters `GET /v1/events` takes.
    pub const PARAMS: [&'static str; 14] = [
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

    /// Reads a query string: the names, then the filter, then the page.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Self, FilterError> {
        let p = Params::new(pairs, &Self::PARAMS)?;
        let filter = p.filter()?;
        let limit = p
            .get("limit")
            .map(|v| {
                v.parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        FilterError::new(
                            "limit",
                            format!("limit {v:?} is not a whole number from 1 to {MAX_LIMIT}"),
                        )
                    })
            })
            .transpose()?;
        let cursor = p
            .get("cursor")
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    FilterError::new(
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
                return Err(FilterError::new(
                    "include",
                    format!("include={v:?} is not supported; use include=body"),
                ))
            }
        };
        Ok(EventsQuery {
            filter,
            cursor,
            limit,
            include_bodies,
        })
    }

    /// The query string: what [`EventsQuery::from_pairs`] reads back as this.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut p = self.filter.to_pairs();
        if let Some(c) = self.cursor {
            p.push(("cursor", c.to_string()));
        }
        if let Some(l) = self.limit {
            p.push(("limit", l.to_string()));
        }
        if self.include_bodies {
            p.push(("include", "body".into()));
        }
        p
    }

    /// The page size served.
    pub fn limit_or_default(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_LIMIT)
    }
}

/// `GET /v1/stats`: entry counts (kept per UTC day, agent, kind and
/// outcome), over a filter of those columns, grouped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsQuery {
    /// Only the time range (whole UTC days), `agent`, `kind` and `outcome`.
    pub filter: EventFilter,
    /// Group columns, in the order rows sort by. Empty: one total.
    pub group_by: Vec<StatsGroup>,
}

impl StatsQuery {
    /// The parameters `GET /v1/stats` takes.
    pub const PARAMS: [&'static str; 6] = ["group_by", "from", "to", "agent", "kind", "outcome"];

    /// Reads a query string: the names, the filter, its days, the groups.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Self, FilterError> {
        let p = Params::new(pairs, &Self::PARAMS)?;
        // Only the counted filters can be set here (Params refused the others).
        let filter = p.filter()?;
        for (name, t) in [("from", filter.from), ("to", filter.to)] {
            if let Some(t) = t.filter(|t| t % DAY_MICROS != 0) {
                return Err(FilterError::new(
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
                FilterError::new(
                    "group_by",
                    format!("cannot group by {g:?}: entry counts are kept per day, agent, kind and outcome; use agent, kind, outcome and/or day"),
                )
            })?;
            if group_by.contains(&parsed) {
                return Err(FilterError::new("group_by", format!("{g} is listed twice")));
            }
            group_by.push(parsed);
        }
        Ok(StatsQuery { filter, group_by })
    }

    /// The query string: what [`StatsQuery::from_pairs`] reads back as this.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if !self.group_by.is_empty() {
            let names: Vec<&str> = self.group_by.iter().map(|g| g.name()).collect();
            p.push(("group_by", names.join(",")));
        }
        p.extend(self.filter.to_pairs());
        p
    }
}

/// A time in a JSON body: µs since the epoch, or text (RFC 3339, a date,
/// or µs digits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum TimeValue {
    Micros(u64),
    Text(String),
}

impl TimeValue {
    fn input(&self) -> TimeInput<'_> {
        match self {
            TimeValue::Micros(t) => TimeInput::Micros(*t),
            TimeValue::Text(s) => TimeInput::Text(s),
        }
    }
}

/// The body of `POST /v1/exports`: the filter's members, each optional, and
/// whether to include the matches' bodies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<TimeValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<TimeValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_class: Option<String>,
    /// The subject's keyed MAC as sealed in headers (64 hex digits, either case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Include the bodies (and salts) of the matches; the server's default
    /// is true when the key may read bodies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bodies: Option<bool>,
}

impl ExportRequest {
    /// The members an export request takes.
    pub const MEMBERS: [&'static str; 12] = [
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
        "bodies",
    ];

    /// The request for a (validated) filter: times as µs, the subject in
    /// lower-case hex; what [`ExportRequest::filter`] turns back into it.
    pub fn new(filter: &EventFilter, bodies: Option<bool>) -> Self {
        let f = filter.clone();
        ExportRequest {
            from: f.from.map(TimeValue::Micros),
            to: f.to.map(TimeValue::Micros),
            agent: f.agent,
            session: f.session,
            kind: f.kind,
            action: f.action,
            tool: f.tool,
            outcome: f.outcome,
            data_class: f.data_class,
            subject: f.subject.map(|h| h.to_hex()),
            scope: f.scope,
            bodies,
        }
    }

    /// Reads a JSON body: a member the request does not take, or a value of
    /// the wrong type, is `invalid_request` naming the member.
    pub fn from_json(body: &[u8]) -> Result<Self, ErrorBody> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let req: ExportRequest = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = e.path().to_string();
            let body = ErrorBody::new(INVALID_REQUEST, format!("export request: {}", e.inner()));
            match field.as_str() {
                "" | "." => body,
                _ => body.field(field),
            }
        })?;
        de.end()
            .map_err(|e| ErrorBody::new(INVALID_REQUEST, format!("export request: {e}")))?;
        Ok(req)
    }

    /// The filter, checked by the same validator as `GET /v1/events`'
    /// parameters: a value that query refuses is refused here with the same
    /// field and message, rather than signed into a bundle that can match
    /// nothing.
    pub fn filter(&self) -> Result<EventFilter, FilterError> {
        RawFilter {
            from: self.from.as_ref().map(TimeValue::input),
            to: self.to.as_ref().map(TimeValue::input),
            agent: self.agent.as_deref(),
            session: self.session.as_deref(),
            kind: self.kind.as_deref(),
            action: self.action.as_deref(),
            tool: self.tool.as_deref(),
            outcome: self.outcome.as_deref(),
            data_class: self.data_class.as_deref(),
            subject: self.subject.as_deref(),
            scope: self.scope.as_deref(),
        }
        .validate()
    }
}

/// A filter value refused, on every path: `400 invalid_parameter` naming it.
/// (Here, not in `error`: the error body knows nothing of filters.)
impl From<FilterError> for ErrorBody {
    fn from(e: FilterError) -> Self {
        ErrorBody::new(INVALID_PARAMETER, e.message).field(e.field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names_are_known_and_given_once() {
        let e = EventsQuery::from_pairs(&pairs(&[("colour", "red")])).unwrap_err();
        assert_eq!(e.field, "colour");
        assert!(e.message.contains("include"), "{e}");
        let e = EventsQuery::from_pairs(&pairs(&[("agent", "a"), ("agent", "b")])).unwrap_err();
        assert_eq!(e.field, "agent");
        let e = StatsQuery::from_pairs(&pairs(&[("session", "s")])).unwrap_err();
        assert_eq!(e.field, "session");
    }

    #[test]
    fn events_queries_round_trip_through_their_pairs() {
        let q = EventsQuery::from_pairs(&pairs(&[
            ("from", "2026-01-01"),
            ("agent", "billing"),
            ("subject", &"AB".repeat(32)),
            ("scope", "out_of_scope"),
            ("cursor", "7"),
            ("limit", "50"),
            ("include", "body"),
        ]))
        .unwrap();
        let again: Vec<(String, String)> = q
            .to_pairs()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(EventsQuery::from_pairs(&again).unwrap(), q);
        assert_eq!(q.filter.subject.unwrap().to_hex(), "ab".repeat(32));
        for (k, v) in [
            ("limit", "0"),
            ("limit", "1001"),
            ("cursor", "x"),
            ("include", "all"),
        ] {
            assert_eq!(
                EventsQuery::from_pairs(&pairs(&[(k, v)]))
                    .unwrap_err()
                    .field,
                k
            );
        }
    }

    #[test]
    fn stats_queries_take_days_and_groups() {
        let q = StatsQuery::from_pairs(&pairs(&[
            ("group_by", "agent, day"),
            ("from", "1970-01-02"),
            ("kind", "tool_call"),
        ]))
        .unwrap();
        assert_eq!(q.group_by, vec![StatsGroup::Agent, StatsGroup::Day]);
        assert_eq!(q.filter.from, Some(DAY_MICROS));
        let again: Vec<(String, String)> = q
            .to_pairs()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(StatsQuery::from_pairs(&again).unwrap(), q);
        for (k, v) in [
            ("from", "5"),
            ("group_by", "colour"),
            ("group_by", "day,day"),
        ] {
            assert_eq!(
                StatsQuery::from_pairs(&pairs(&[(k, v)])).unwrap_err().field,
                k
            );
        }
    }

    #[test]
    fn export_bodies_name_the_member_at_fault() {
        let field = |body: &[u8]| {
            let e = ExportRequest::from_json(body).unwrap_err();
            assert_eq!(e.code, "invalid_request");
            e.field
        };
        assert_eq!(field(br#"{"colour": "red"}"#).as_deref(), Some("colour"));
        assert_eq!(field(br#"{"kind": 5}"#).as_deref(), Some("kind"));
        assert_eq!(field(br#"{"agent": "a", "agent": "b"}"#), None);
        assert_eq!(field(b"{} {}"), None);
        let r = ExportRequest::from_json(br#"{"from": 5, "to": "7", "bodies": false}"#).unwrap();
        let f = r.filter().unwrap();
        assert_eq!((f.from, f.to, r.bodies), (Some(5), Some(7), Some(false)));
        let back = ExportRequest::new(&f, r.bodies);
        let again = ExportRequest::from_json(&serde_json::to_vec(&back).unwrap()).unwrap();
        assert_eq!(again.filter().unwrap(), f);
    }
}
