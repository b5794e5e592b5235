//! The one parser and validator of entry filters, shared by `GET /v1/events`
//! (and `/v1/stats`), whose values come from a query string, and
//! `POST /v1/exports`, whose values come from JSON. Both hand it the raw
//! values and get back the same answer: the same accepted spellings, the
//! same normal form, the same refusal naming the same field.
//!
//! It depends on nothing of the server (only sealtrail-core's vocabulary),
//! so it can move to a shared crate unchanged.

pub use sealtrail_core::time;

use sealtrail_core::event::{EventKind, Outcome};
use sealtrail_core::hash::Hash;
use sealtrail_core::registry::{IN_SCOPE, OUT_OF_SCOPE_PREFIX, UNREGISTERED};

pub use time::{format_day, format_time, parse_time};

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
pub struct RawFilters<'a> {
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

/// Validated filters, in normal form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// Server time, µs since the epoch, inclusive.
    pub from: Option<u64>,
    /// Server time, µs since the epoch, exclusive.
    pub to: Option<u64>,
    pub agent: Option<String>,
    pub session: Option<String>,
    /// An [`EventKind`] wire name.
    pub kind: Option<String>,
    pub action: Option<String>,
    pub tool: Option<String>,
    /// An [`Outcome`] wire name.
    pub outcome: Option<String>,
    pub data_class: Option<String>,
    /// The subject's keyed MAC as sealed in headers.
    pub subject: Option<Hash>,
    /// A scope verdict, or a verdict class.
    pub scope: Option<String>,
}

/// A filter value that cannot be used: which one, and what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FilterError {
    /// The parameter (query string) or member (JSON) at fault.
    pub field: &'static str,
    pub message: String,
}

fn refuse(field: &'static str, message: impl Into<String>) -> FilterError {
    FilterError {
        field,
        message: message.into(),
    }
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

impl RawFilters<'_> {
    /// Checks every value, in the order the fields are declared (so two
    /// bad values give the same first complaint on every endpoint).
    pub fn validate(&self) -> Result<Filters, FilterError> {
        let (from, to) = range(self.from, self.to)?;
        Ok(Filters {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_absent() {
        let raw = RawFilters {
            from: Some(TimeInput::Text("")),
            to: Some(TimeInput::Text("")),
            agent: Some(""),
            kind: Some(""),
            outcome: Some(""),
            subject: Some(""),
            scope: Some(""),
            ..RawFilters::default()
        };
        assert_eq!(raw.validate(), Ok(Filters::default()));
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
