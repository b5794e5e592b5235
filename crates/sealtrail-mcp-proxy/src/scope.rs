//! The optional policy: which tools an agent may call.
//!
//! The agent's declared scope comes from the server's agent registry
//! (`scope.tools` of `GET /v1/agents/{id}`), or from a file: one tool-name
//! pattern per line, `*` matching any run of characters and `?` exactly one,
//! `#` starting a comment. Calls to any other tool are answered with a
//! JSON-RPC error and recorded as `denied`.

use std::path::{Path, PathBuf};

use sealtrail_core::registry::glob_match;
use serde_json::Value;

use crate::jsonrpc;

/// JSON-RPC error code of a denial: in MCP's implementation-defined band
/// (-32000..-32019), clear of the codes the SDKs use (-32000, -32001) and
/// the retired -32002.
pub const DENIED_CODE: i64 = -32010;

/// Why a scope file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    #[error("cannot read scope file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("scope file {path} allows no tool (no pattern lines); refusing to deny everything by accident")]
    Empty { path: PathBuf },
}

/// Allowed tool-name patterns.
#[derive(Debug, Clone)]
pub struct Scope {
    patterns: Vec<String>,
}

impl Scope {
    /// Reads a scope file.
    pub fn load(path: &Path) -> Result<Scope, ScopeError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScopeError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let scope = Scope::parse(&text);
        if scope.patterns.is_empty() {
            return Err(ScopeError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(scope)
    }

    /// The scope of a registry record: its tool patterns (every tool when
    /// it declares none); nothing at all for a suspended or retired agent.
    pub fn from_registry(record: &sealtrail_client::AgentRecord) -> Scope {
        let status = record.status.as_deref().unwrap_or("active");
        let patterns = match (&record.scope.tools, status) {
            (_, "suspended" | "retired") => Vec::new(),
            (None, _) => vec!["*".to_string()],
            (Some(tools), _) => tools.clone(),
        };
        Scope { patterns }
    }

    /// Patterns from text: one per line, blank lines and `#` comments skipped.
    pub fn parse(text: &str) -> Scope {
        let patterns = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        Scope { patterns }
    }

    /// Whether the agent may call `tool`. The registry's own matcher: the
    /// proxy must allow exactly what the server's scope verdict calls in
    /// scope (`?` is one character, not one byte).
    pub fn allows(&self, tool: &str) -> bool {
        self.patterns.iter().any(|p| glob_match(p, tool))
    }
}

/// What to do with one message from the agent.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Forward,
    /// Do not forward; answer with `response` (none for notifications).
    Deny {
        response: Option<Vec<u8>>,
        reason: String,
    },
}

impl Scope {
    /// Judges one complete JSON text from the agent. It is parsed as the
    /// server will read it (a repeated member keeps its last value); text
    /// this parser cannot read is refused with a JSON-RPC parse error rather
    /// than forwarded, so no encoding trick smuggles a call past the policy.
    /// A batch holding a refused call is refused whole.
    pub fn judge(&self, bytes: &[u8]) -> Verdict {
        let value: Value = match serde_json::from_slice(bytes) {
            Ok(v) => v,
            Err(e) => {
                return Verdict::Deny {
                    response: Some(jsonrpc::error_response(
                        &Value::Null,
                        -32700,
                        "Parse error",
                        None,
                    )),
                    reason: format!(
                        "unparseable message refused while the scope policy is on: {e}"
                    ),
                }
            }
        };
        let items: Vec<&Value> = match &value {
            Value::Array(a) => a.iter().collect(),
            v => vec![v],
        };
        let refused = items.iter().find_map(|m| self.refusal(m));
        let Some(reason) = refused else {
            return Verdict::Forward;
        };
        let errors: Vec<Vec<u8>> = items
            .iter()
            .filter_map(|m| m.get("id").filter(|_| m.get("method").is_some()))
            .map(|id| jsonrpc::error_response(id, DENIED_CODE, &reason, None))
            .collect();
        let response = match (&value, errors.len()) {
            (_, 0) => None,
            (Value::Array(_), _) => {
                let mut out = b"[".to_vec();
                out.extend(errors.join(&b","[..]));
                out.push(b']');
                Some(out)
            }
            (_, _) => errors.into_iter().next(),
        };
        Verdict::Deny { response, reason }
    }

    /// Why this message may not pass, if it is a call outside the scope.
    fn refusal(&self, m: &Value) -> Option<String> {
        if m.get("method").and_then(Value::as_str) != Some("tools/call") {
            return None;
        }
        match m
            .get("params")
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
        {
            Some(name) if self.allows(name) => None,
            Some(name) => Some(format!(
                "tool {name:?} is outside this agent's declared scope (sealtrail policy)"
            )),
            None => Some("tools/call without a tool name (sealtrail policy)".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let s = Scope::parse("# tools\nsearch_*  # any search\nget_weather\n\nv?\n");
        for ok in ["search_", "search_web", "get_weather", "v1"] {
            assert!(s.allows(ok), "{ok}");
        }
        for no in [
            "get_weathe",
            "get_weather2",
            "delete_all",
            "v",
            "v12",
            "xsearch_web",
        ] {
            assert!(!s.allows(no), "{no}");
        }
        assert!(Scope::parse("*").allows(""));
        assert!(Scope::parse("a*b*c").allows("aXbYbZc"));
        assert!(!Scope::parse("a*b*c").allows("aXbYbZ"));
    }

    /// `?` is one character, as in the registry's verdict: the proxy used
    /// to match it against one byte, so a registry pattern `caf?` was in
    /// scope for `café` at the server and denied by the proxy.
    #[test]
    fn question_mark_is_one_character_like_the_registry() {
        for (pattern, tool, allowed) in [
            ("caf?", "café", true),
            ("caf??", "café", false),
            ("?", "é", true),
            ("??", "é", false),
            ("search_?", "search_🦀", true),
            ("search_????", "search_🦀", false),
            ("*é", "café", true),
        ] {
            assert_eq!(
                Scope::parse(pattern).allows(tool),
                allowed,
                "{pattern} / {tool}"
            );
            assert_eq!(glob_match(pattern, tool), allowed, "{pattern} / {tool}");
        }
    }

    #[test]
    fn judge_refuses_calls_outside_scope_and_tricks() {
        let s = Scope::parse("add\n");
        let fwd = [
            &br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add"}}"#[..],
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            br#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
        ];
        for m in fwd {
            assert_eq!(s.judge(m), Verdict::Forward);
        }
        let deny = |m: &[u8]| match s.judge(m) {
            Verdict::Deny { response, .. } => {
                response.map(|r| serde_json::from_slice::<Value>(&r).unwrap())
            }
            Verdict::Forward => panic!("forwarded {}", String::from_utf8_lossy(m)),
        };
        let r = deny(br#"{"jsonrpc":"2.0","id":"q","method":"tools/call","params":{"name":"rm"}}"#)
            .unwrap();
        assert_eq!(
            (r["id"].as_str(), r["error"]["code"].as_i64()),
            (Some("q"), Some(DENIED_CODE))
        );
        // Escaped method, repeated name: judged as Python reads them.
        deny(br#"{"jsonrpc":"2.0","id":2,"method":"tools\/call","params":{"name":"add","name":"rm"}}"#).unwrap();
        let r = deny(b"{not json").unwrap();
        assert_eq!(r["error"]["code"], -32700);
        let r = deny(br#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"rm"}}]"#).unwrap();
        assert_eq!(r.as_array().map(Vec::len), Some(2));
        assert_eq!(
            deny(br#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"rm"}}"#),
            None
        );
    }
}
