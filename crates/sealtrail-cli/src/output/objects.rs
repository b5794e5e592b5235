//! Answers shown generically: JSON objects as table rows or as a record view,
//! with times readable and lists space-separated.

use std::io::{self, Write};

use sealtrail_core::time::format_time;
use serde_json::Value;

use super::table::{print_fields, print_table};

/// A time to the second for tables: `2026-11-22T10:00:00Z`.
pub fn short_time(us: u64) -> String {
    let t = format_time(us);
    match t.get(..19) {
        Some(s) => format!("{s}Z"),
        None => t,
    }
}

/// An optional time, or `dash` when absent.
pub fn opt_time(us: Option<u64>, dash: &str) -> String {
    us.map_or_else(|| dash.to_string(), short_time)
}

/// Members that hold times (µs since the epoch) in answers shown generically.
const TIME_FIELDS: [&str; 10] = [
    "created",
    "updated",
    "expires",
    "revoked",
    "last_used",
    "time",
    "overlap_until",
    "retired",
    "since",
    "until",
];

/// One JSON value as a table cell: times readable, lists space-separated.
pub fn cell(name: &str, v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) if TIME_FIELDS.contains(&name) => {
            n.as_u64().map_or_else(|| n.to_string(), short_time)
        }
        Value::Array(items) => items
            .iter()
            .map(|i| cell("", i))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// The member names of `items`: those of `first` that occur, in that
/// order, then the others as they appear.
fn member_names(items: &[&Value], first: &[&str]) -> Vec<String> {
    let mut columns: Vec<String> = first
        .iter()
        .filter(|f| items.iter().any(|i| i.get(**f).is_some()))
        .map(|f| f.to_string())
        .collect();
    for item in items {
        if let Value::Object(m) = item {
            for k in m.keys() {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
        }
    }
    columns
}

/// A table of JSON objects, columns ordered as [`member_names`] says.
pub fn print_objects(items: &[Value], first: &[&str]) -> io::Result<()> {
    let columns = member_names(&items.iter().collect::<Vec<_>>(), first);
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| {
            columns
                .iter()
                .map(|c| item.get(c).map_or_else(|| "-".into(), |v| cell(c, v)))
                .collect()
        })
        .collect();
    let header: Vec<&str> = columns.iter().map(String::as_str).collect();
    print_table(&header, &rows)
}

/// The members of one JSON object as `field  value` lines, ordered as
/// [`member_names`] says.
pub fn print_object(v: &Value, first: &[&str]) -> io::Result<()> {
    match v {
        Value::Object(_) => {
            let names = member_names(&[v], first);
            let fields: Vec<(&str, String)> = names
                .iter()
                .map(|k| {
                    (
                        k.as_str(),
                        v.get(k).map_or_else(String::new, |v| cell(k, v)),
                    )
                })
                .collect();
            print_fields(&fields)
        }
        other => {
            let mut out = io::stdout().lock();
            writeln!(out, "{other}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_and_times() {
        assert_eq!(short_time(1_795_000_000_123_456), "2026-11-18T11:06:40Z");
        assert_eq!(
            cell("created", &serde_json::json!(0)),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(cell("burst", &serde_json::json!(5)), "5");
        assert_eq!(cell("scopes", &serde_json::json!(["a", "b"])), "a b");
        assert_eq!(cell("x", &Value::Null), "-");
    }
}
