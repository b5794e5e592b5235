//! Walking a JSON event: every string (and every long number, written out)
//! is scanned with its member name as context, and every member name is
//! scanned too. Paths use the `$.a.b[0]['odd key']` form.

use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;

use crate::{Finding, ScanError, Scanner};

/// Findings of a whole event, and the fields that could not be scanned.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JsonScan {
    pub findings: Vec<Finding>,
    /// Fields not scanned (too large, too deep). Treat them as sensitive.
    pub errors: Vec<FieldError>,
}

/// A field that could not be scanned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    pub path: String,
    #[serde(serialize_with = "display")]
    pub error: ScanError,
}

fn display<S: serde::Serializer>(e: &ScanError, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(e)
}

/// Numbers shorter than this cannot hold any entity the engine detects.
pub(crate) const MIN_NUMBER_DIGITS: usize = 7;

/// Appends a member name to a path: `.name` for identifiers, else
/// `['na\'me']`.
pub(crate) fn push_key(path: &mut String, key: &str) {
    let ident = key
        .bytes()
        .enumerate()
        .all(|(i, b)| b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()))
        && !key.is_empty();
    if ident {
        path.push('.');
        path.push_str(key);
    } else {
        path.push_str("['");
        for c in key.chars() {
            match c {
                '\'' => path.push_str("\\'"),
                '\\' => path.push_str("\\\\"),
                c if c.is_control() => {
                    let _ = write!(path, "\\u{{{:x}}}", c as u32);
                }
                c => path.push(c),
            }
        }
        path.push_str("']");
    }
}

pub(crate) fn push_index(path: &mut String, i: usize) {
    let _ = write!(path, "[{i}]");
}

impl Scanner {
    /// Scans a JSON value (an event, tool arguments, a tool result).
    /// Findings carry the path of their string; spans are byte offsets into
    /// that string (for a number, into its JSON text).
    pub fn scan_json(&self, value: &Value) -> JsonScan {
        let mut out = JsonScan::default();
        let mut path = String::from("$");
        self.walk(value, None, &mut path, 0, &mut out);
        out
    }

    fn walk(
        &self,
        v: &Value,
        key: Option<&str>,
        path: &mut String,
        depth: usize,
        out: &mut JsonScan,
    ) {
        match v {
            Value::String(s) => self.field(s, key, path, false, out),
            Value::Number(n) => {
                let s = n.to_string();
                if s.len() >= MIN_NUMBER_DIGITS {
                    self.field(&s, key, path, false, out);
                }
            }
            Value::Array(items) => {
                if depth >= self.config().max_depth {
                    out.errors.push(FieldError {
                        path: path.clone(),
                        error: ScanError::TooDeep {
                            limit: self.config().max_depth,
                        },
                    });
                    return;
                }
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    push_index(path, i);
                    // Items of a list inherit the list's member name:
                    // `"phones": ["…"]` is context for each item.
                    self.walk(item, key, path, depth + 1, out);
                    path.truncate(len);
                }
            }
            Value::Object(map) => {
                if depth >= self.config().max_depth {
                    out.errors.push(FieldError {
                        path: path.clone(),
                        error: ScanError::TooDeep {
                            limit: self.config().max_depth,
                        },
                    });
                    return;
                }
                for (k, item) in map {
                    let len = path.len();
                    push_key(path, k);
                    self.field(k, None, path, true, out);
                    self.walk(item, Some(k), path, depth + 1, out);
                    path.truncate(len);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }

    fn field(&self, s: &str, key: Option<&str>, path: &str, in_key: bool, out: &mut JsonScan) {
        match self.scan_field(s, key, path, in_key) {
            Ok(f) => out.findings.extend(f),
            Err(error) => out.errors.push(FieldError {
                path: path.to_string(),
                error,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let mut p = String::from("$");
        push_key(&mut p, "tool");
        push_key(&mut p, "odd key's");
        push_index(&mut p, 3);
        assert_eq!(p, "$.tool['odd key\\'s'][3]");
    }
}
