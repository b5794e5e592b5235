//! The entry filter: ONE type, [`EventFilter`], in normal form, and ONE
//! validator, [`RawFilter::validate`], that every way of asking goes
//! through: `GET /v1/events` and `GET /v1/stats` (query strings),
//! `POST /v1/exports` (a JSON body), the Rust client, the CLI flags, the
//! store's queries and the bundle manifest's record of what a bundle
//! answers. The same input gives the same answer or the same refusal, naming
//! the same field, whichever way it came.
//!
//! It lives in the core (not in `sealtrail-api`, which re-exports it)
//! because the bundle manifest records an `EventFilter` and the verifier
//! matches headers against it, and the core is what verifiers (wasm32
//! included) link; it is pure, like the rest of the core.

use serde::{Deserialize, Serialize};

use crate::event::{EventKind, Outcome};
use crate::hash::Hash;
use crate::header::EntryHeader;
use crate::registry::{IN_SCOPE, OUT_OF_SCOPE_PREFIX, UNREGISTERED};
use crate::time::{format_time, parse_time};

/// Entries per page unless asked otherwise.
pub const DEFAULT_LIMIT: u32 = 100;
/// Most entries per page.
pub const MAX_LIMIT: u32 = 1000;

/// Every outcome a filter may name, in the order error messages list them.
pub const OUTCOMES: [Outcome; 4] = [
    Outcome::Success,
    Outcome::Failure,
    Outcome::Denied,
    Outcome::Pending,
];

/// The verdict class of `out_of_scope: <reason>` verdicts.
const OUT_OF_SCOPE: &str = "out_of_scope";

/// A time as it arrived: JSON may send a number of µs, text is RFC 3339, a
/// date or µs digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeInput<'a> {
    Micros(u64),
    Text(&'a str),
}

/// Filter values as they arrived, before any check. An empty string counts
/// as absent, whichever way it came.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawFilter<'a> {
    pub from: Option<TimeInput<'a>>,
    pub to: Option<TimeInput<'a>>,
    pub agent: Option<&'a str>,
    pub session: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub action: Option<&'a str>,
    pub tool: Option<&'a str>,
    pub outcome: Option<&'a str>,
    pub data_class: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub scope: Option<&'a str>,
}

/// Which entries: every filter given must match. Built by
/// [`RawFilter::validate`] from what a person or a program sent; read back
/// as it was written from a bundle manifest (`manifest.json`'s `query`,
/// docs/formats.md §9.2: every member written, `null` when unset — bundles
/// exist, so this shape does not change).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    /// Server time, µs since the epoch, inclusive.
    #[serde(default)]
    pub from: Option<u64>,
    /// Server time, µs since the epoch, exclusive.
    #[serde(default)]
    pub to: Option<u64>,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub session: Option<String>,
    /// An [`EventKind`] wire name.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub tool: Option<String>,
    /// An [`Outcome`] wire name.
    #[serde(default)]
    pub outcome: Option<String>,
    /// One data class tag the entry carries.
    #[serde(default)]
    pub data_class: Option<String>,
    /// The subject's keyed MAC, as sealed in headers (never the subject
    /// itself); lower-case hex on the wire.
    #[serde(default)]
    pub subject: Option<Hash>,
    /// A scope verdict (`out_of_scope: budget`) matches exactly; a verdict
    /// class (`out_of_scope`, the part before `:`) matches every verdict of
    /// that class.
    #[serde(default)]
    pub scope: Option<String>,
}

/// A filter value that cannot be used: which one, and what to send instead.
/// Every path answers it the same way (HTTP: `400 invalid_parameter` with
/// this field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FilterError {
    /// The parameter (query string), member (JSON) or flag at fault.
    pub field: String,
    pub message: String,
}

impl FilterError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FilterError {
            field: field.into(),
            message: message.into(),
        }
    }
}

fn refuse(field: &'static str, message: impl Into<String>) -> FilterError {
    FilterError::new(field, message)
}

fn present(v: Option<&str>) -> Option<&str> {
    v.filter(|s| !s.is_empty())
}

fn owned(v: Option<&str>) -> Option<String> {
    present(v).map(str::to_owned)
}

/// A time filter: `None` when absent (or empty text).
pub fn time(field: &'static str, v: Option<TimeInput<'_>>) -> Result<Option<u64>, FilterError> {
    match v {
        None | Some(TimeInput::Text("")) => Ok(None),
        Some(TimeInput::Micros(t)) => Ok(Some(t)),
        Some(TimeInput::Text(s)) => parse_time(s)
            .map(Some)
            .map_err(|why| refuse(field, format!("{field}: {why}"))),
    }
}

/// `from` and `to`, with `from` not after `to`.
pub fn range(
    from: Option<TimeInput<'_>>,
    to: Option<TimeInput<'_>>,
) -> Result<(Option<u64>, Option<u64>), FilterError> {
    let (from, to) = (time("from", from)?, time("to", to)?);
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(refuse(
                "from",
                format!("from ({}) is after to ({})", format_time(f), format_time(t)),
            ));
        }
    }
    Ok((from, to))
}

/// An event kind's wire name, or a refusal listing them all.
pub fn kind(v: Option<&str>) -> Result<Option<String>, FilterError> {
    match present(v) {
        None => Ok(None),
        Some(k) if EventKind::ALL.iter().any(|e| e.as_str() == k) => Ok(Some(k.to_owned())),
        Some(k) => Err(refuse(
            "kind",
            format!(
                "kind {k:?} is not an event kind; use one of {}",
                EventKind::ALL.map(|e| e.as_str()).join(", ")
            ),
        )),
    }
}

/// An outcome's wire name, or a refusal listing them all.
pub fn outcome(v: Option<&str>) -> Result<Option<String>, FilterError> {
    match present(v) {
        None => Ok(None),
        Some(o) if OUTCOMES.iter().any(|x| x.as_str() == o) => Ok(Some(o.to_owned())),
        Some(o) => Err(refuse(
            "outcome",
            format!(
                "outcome {o:?} is not an outcome; use one of {}",
                OUTCOMES.map(|x| x.as_str()).join(", ")
            ),
        )),
    }
}

/// A subject MAC: 64 hex digits in either case (hex is case-blind; the
/// normal form, as written to manifests and logs, is lower case).
pub fn subject(v: Option<&str>) -> Result<Option<Hash>, FilterError> {
    present(v)
        .map(|s| {
            Hash::from_hex(s).map_err(|_| {
                refuse(
                    "subject",
                    format!(
                        "subject ({} characters) must be the subject's keyed MAC as sealed in headers: 64 hex digits",
                        s.chars().count()
                    ),
                )
            })
        })
        .transpose()
}

/// A scope verdict (`in_scope`, `unregistered_agent`, `out_of_scope: <reason>`)
/// or a verdict class (`out_of_scope`). Anything else can match no entry, so
/// it is refused rather than answered with an empty (and, for an export,
/// signed) result.
pub fn scope(v: Option<&str>) -> Result<Option<String>, FilterError> {
    match present(v) {
        None => Ok(None),
        Some(s)
            if s == IN_SCOPE
                || s == UNREGISTERED
                || s == OUT_OF_SCOPE
                || s
                    .strip_prefix(OUT_OF_SCOPE_PREFIX)
                    .is_some_and(|reason| !reason.is_empty()) =>
        {
            Ok(Some(s.to_owned()))
        }
        Some(s) => Err(refuse(
            "scope",
            format!(
                "scope {s:?} is not a scope verdict; use {IN_SCOPE}, {UNREGISTERED}, {OUT_OF_SCOPE} (every reason) or an exact verdict such as \"{OUT_OF_SCOPE_PREFIX}agent is suspended\""
            ),
        )),
    }
}

impl RawFilter<'_> {
    /// Checks every value, in the order the fields are declared (so two
    /// bad values give the same first complaint on every path).
    pub fn validate(&self) -> Result<EventFilter, FilterError> {
        let (from, to) = range(self.from, self.to)?;
        Ok(EventFilter {
            from,
            to,
            agent: owned(self.agent),
            session: owned(self.session),
            kind: kind(self.kind)?,
            action: owned(self.action),
            tool: owned(self.tool),
            outcome: outcome(self.outcome)?,
            data_class: owned(self.data_class),
            subject: subject(self.subject)?,
            scope: scope(self.scope)?,
        })
    }
}

impl EventFilter {
    /// The filter as the values a query string carries, in declaration
    /// order (absent filters left out): what [`RawFilter::validate`] turns
    /// back into this same filter.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        let mut text = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                p.push((k, v));
            }
        };
        text("from", self.from.map(|t| t.to_string()));
        text("to", self.to.map(|t| t.to_string()));
        text("agent", self.agent.clone());
        text("session", self.session.clone());
        text("kind", self.kind.clone());
        text("action", self.action.clone());
        text("tool", self.tool.clone());
        text("outcome", self.outcome.clone());
        text("data_class", self.data_class.clone());
        text("subject", self.subject.map(|h| h.to_hex()));
        text("scope", self.scope.clone());
        p
    }

    /// The names of the filters that are set, in declaration order.
    pub fn names_set(&self) -> Vec<&'static str> {
        self.to_pairs().into_iter().map(|(k, _)| k).collect()
    }

    /// True when a time of `time` falls in `[from, to)`.
    pub fn time_check(&self, time: u64) -> Result<(), QueryMismatch> {
        if let Some(from) = self.from {
            if time < from {
                return Err(QueryMismatch::BeforeFrom { time, from });
            }
        }
        if let Some(to) = self.to {
            if time >= to {
                return Err(QueryMismatch::NotBeforeTo { time, to });
            }
        }
        Ok(())
    }

    /// Checks every filter against a header (docs/formats.md §9.3 step 4).
    pub fn matches(&self, h: &EntryHeader) -> Result<(), QueryMismatch> {
        self.time_check(h.time)?;
        self.filters_match(h)
    }

    /// Every filter but the time range.
    pub fn filters_match(&self, h: &EntryHeader) -> Result<(), QueryMismatch> {
        eq_filter("agent", &self.agent, Some(&h.agent))?;
        eq_filter("session", &self.session, h.session.as_deref())?;
        eq_filter("kind", &self.kind, Some(&h.kind))?;
        eq_filter("action", &self.action, h.action.as_deref())?;
        eq_filter("tool", &self.tool, h.tool.as_deref())?;
        eq_filter("outcome", &self.outcome, h.outcome.as_deref())?;
        if let Some(dc) = &self.data_class {
            if !h.data_classes.iter().any(|c| c == dc) {
                return Err(QueryMismatch::Missing {
                    field: "data class",
                    want: dc.clone(),
                });
            }
        }
        if let Some(s) = &self.subject {
            if !h.subjects.contains(s) {
                return Err(QueryMismatch::Missing {
                    field: "subject",
                    want: s.to_hex(),
                });
            }
        }
        if let Some(want) = &self.scope {
            let got = h.scope.as_deref();
            let class = got.map(|v| v.split(':').next().unwrap_or(v));
            if got != Some(want.as_str()) && class != Some(want.as_str()) {
                return Err(QueryMismatch::Field {
                    field: "scope",
                    got: got.map(str::to_owned),
                    want: want.clone(),
                });
            }
        }
        Ok(())
    }

    /// True when the filter has nothing but the time range.
    pub fn is_time_only(&self) -> bool {
        let EventFilter {
            from: _,
            to: _,
            agent,
            session,
            kind,
            action,
            tool,
            outcome,
            data_class,
            subject,
            scope,
        } = self;
        agent.is_none()
            && session.is_none()
            && kind.is_none()
            && action.is_none()
            && tool.is_none()
            && outcome.is_none()
            && data_class.is_none()
            && subject.is_none()
            && scope.is_none()
    }

    /// A short description for people: `agent=billing-bot, kind=tool_call, time in [a, b)`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let mut push = |name: &str, v: &Option<String>| {
            if let Some(v) = v {
                parts.push(format!("{name}={v}"));
            }
        };
        push("agent", &self.agent);
        push("session", &self.session);
        push("kind", &self.kind);
        push("action", &self.action);
        push("tool", &self.tool);
        push("outcome", &self.outcome);
        push("data_class", &self.data_class);
        push("subject", &self.subject.map(|s| s.to_hex()));
        push("scope", &self.scope);
        let from = self.from.map_or("-∞".to_string(), |v| v.to_string());
        let to = self.to.map_or("+∞".to_string(), |v| v.to_string());
        parts.push(format!("time in [{from}, {to}) µs"));
        parts.join(", ")
    }
}

/// The first filter a header fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryMismatch {
    #[error("its time {time} is before the range start {from}")]
    BeforeFrom { time: u64, from: u64 },
    #[error("its time {time} is not before the range end {to}")]
    NotBeforeTo { time: u64, to: u64 },
    #[error("its {field} is {got:?}, the query asks for {want:?}")]
    Field {
        field: &'static str,
        got: Option<String>,
        want: String,
    },
    #[error("it does not carry the {field} {want:?}")]
    Missing { field: &'static str, want: String },
}

fn eq_filter(
    field: &'static str,
    want: &Option<String>,
    got: Option<&str>,
) -> Result<(), QueryMismatch> {
    match want {
        Some(w) if got != Some(w.as_str()) => Err(QueryMismatch::Field {
            field,
            got: got.map(str::to_owned),
            want: w.clone(),
        }),
        _ => Ok(()),
    }
}

/// A column entry counts can be grouped by (`GET /v1/stats?group_by=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatsGroup {
    Day,
    Agent,
    Kind,
    Outcome,
}

impl StatsGroup {
    pub fn name(self) -> &'static str {
        match self {
            StatsGroup::Day => "day",
            StatsGroup::Agent => "agent",
            StatsGroup::Kind => "kind",
            StatsGroup::Outcome => "outcome",
        }
    }

    pub fn parse(s: &str) -> Option<StatsGroup> {
        Some(match s {
            "day" => StatsGroup::Day,
            "agent" => StatsGroup::Agent,
            "kind" => StatsGroup::Kind,
            "outcome" => StatsGroup::Outcome,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_absent() {
        let raw = RawFilter {
            from: Some(TimeInput::Text("")),
            to: Some(TimeInput::Text("")),
            agent: Some(""),
            kind: Some(""),
            outcome: Some(""),
            subject: Some(""),
            scope: Some(""),
            ..RawFilter::default()
        };
        assert_eq!(raw.validate(), Ok(EventFilter::default()));
    }

    #[test]
    fn subject_is_case_blind_and_normalised() {
        let lower = "ab".repeat(32);
        let upper = lower.to_uppercase();
        let a = subject(Some(&lower)).unwrap().unwrap();
        let b = subject(Some(&upper)).unwrap().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_hex(), lower);
        assert_eq!(subject(Some("zz")).unwrap_err().field, "subject");
        assert_eq!(
            subject(Some(&"ab".repeat(31))).unwrap_err().field,
            "subject"
        );
    }

    #[test]
    fn kind_outcome_and_scope_are_checked() {
        assert_eq!(kind(Some("tool_call")), Ok(Some("tool_call".into())));
        let e = kind(Some("tool-call")).unwrap_err();
        assert_eq!(e.field, "kind");
        assert!(e.message.contains("model_call"), "{e}");
        assert_eq!(outcome(Some("denied")), Ok(Some("denied".into())));
        let e = outcome(Some("Success")).unwrap_err();
        assert_eq!(e.field, "outcome");
        assert!(
            e.message.contains("success, failure, denied, pending"),
            "{e}"
        );
        for ok in [
            "in_scope",
            "unregistered_agent",
            "out_of_scope",
            "out_of_scope: budget",
        ] {
            assert_eq!(scope(Some(ok)), Ok(Some(ok.into())));
        }
        for bad in [
            "in-scope",
            "out_of_scope:",
            "out_of_scope: ",
            "IN_SCOPE",
            "x",
        ] {
            assert_eq!(scope(Some(bad)).unwrap_err().field, "scope", "{bad}");
        }
    }

    #[test]
    fn times_and_their_order() {
        assert_eq!(
            range(Some(TimeInput::Micros(5)), Some(TimeInput::Text("7"))),
            Ok((Some(5), Some(7)))
        );
        assert_eq!(
            range(Some(TimeInput::Text("1970-01-02")), None),
            Ok((Some(86_400_000_000), None))
        );
        assert_eq!(
            range(Some(TimeInput::Micros(9)), Some(TimeInput::Micros(7)))
                .unwrap_err()
                .field,
            "from"
        );
        assert_eq!(
            range(None, Some(TimeInput::Text("soon")))
                .unwrap_err()
                .field,
            "to"
        );
    }
}
