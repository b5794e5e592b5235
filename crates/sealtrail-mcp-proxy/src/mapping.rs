//! MCP exchanges → sealtrail events (docs/mcp-proxy.md, "Events").
//!
//! Every event built here passes the server's own strict parser before it is
//! queued: whatever an MCP peer sends, the proxy records *something* valid
//! (an oversized or non-I-JSON value is replaced by its size and SHA-256),
//! never an event the log would refuse.

use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use sealtrail_core::event::{Event, MAX_LABEL_BYTES};

use crate::ids::{rfc3339, uuid_v7};
use crate::jsonrpc::{param_str, Id, Side};

/// Largest free-form value (arguments, result, input, output) kept inline;
/// four of them stay under the server's 1 MiB event limit.
pub const MAX_FREE_FORM_BYTES: usize = 192 * 1024;

/// The recording identity: who acted, in which proxy run.
#[derive(Debug, Clone)]
pub struct Agent {
    pub id: String,
    /// This proxy process; `seq` counts within it.
    pub instance: String,
}

/// How a request ended.
#[derive(Debug, Clone, Copy)]
pub enum Answer<'a> {
    /// A JSON-RPC `result`.
    Result(&'a Value),
    /// A JSON-RPC `error` object.
    Error(&'a Value),
    /// The scope policy refused it; it never reached the server.
    Denied(&'a str),
    /// `notifications/cancelled` from the requester (its params).
    Cancelled(Option<&'a Value>),
    /// No answer before the stream ended (HTTP status when there was one).
    Unanswered(Option<u16>),
}

/// One request and its answer.
#[derive(Debug, Clone)]
pub struct Exchange<'a> {
    pub method: &'a str,
    pub id: &'a Id,
    pub origin: Side,
    pub params: Option<&'a Value>,
    pub answer: Answer<'a>,
    pub session: &'a str,
    /// The event that opened the MCP session (initialize / server/discover).
    pub parent: Option<&'a str>,
    pub occurred_at: SystemTime,
    pub duration: Option<Duration>,
    /// `attributes.mcp`: transport, server, HTTP headers…
    pub mcp: Map<String, Value>,
}

/// How an event is classified.
fn kind_of(method: &str) -> &'static str {
    match method {
        "tools/call" => "tool_call",
        "initialize" | "server/discover" => "agent_lifecycle",
        "resources/read" | "prompts/get" => "data_access",
        // The server asks the agent's model to generate (MCP sampling).
        "sampling/createMessage" => "model_call",
        _ => "custom",
    }
}

/// The event for one finished (or abandoned) exchange, with a fresh id.
pub fn exchange_event(agent: &Agent, seq: u64, ex: &Exchange<'_>) -> (String, Vec<u8>) {
    let id = uuid_v7(SystemTime::now());
    let kind = kind_of(ex.method);
    let (outcome, result, error) = match ex.answer {
        Answer::Result(r) => {
            let is_error = r.get("isError").and_then(Value::as_bool) == Some(true);
            (if is_error { "failure" } else { "success" }, Some(r), None)
        }
        Answer::Error(e) => ("failure", None, Some(e.clone())),
        Answer::Denied(reason) => ("denied", None, Some(json!({ "policy": reason }))),
        Answer::Cancelled(p) => ("failure", None, Some(json!({ "cancelled": p }))),
        // An HTTP error status is the server's refusal; otherwise the
        // answer may still have happened where the proxy could not see it.
        Answer::Unanswered(status) => (
            if status.is_some_and(|s| s >= 400) {
                "failure"
            } else {
                "pending"
            },
            None,
            status.map(|s| json!({ "http_status": s })),
        ),
    };

    let mut ev = base(agent, seq, &id, kind, ex.method, outcome, Some(ex.session));
    if let Some(p) = ex.parent {
        ev.insert("parent".into(), p.into());
    }
    ev.insert("occurred_at".into(), rfc3339(ex.occurred_at).into());

    if ex.method == "tools/call" {
        let mut tool = Map::new();
        let name = param_str(ex.params, "name")
            .and_then(label)
            .unwrap_or_else(|| "(none)".into());
        tool.insert("name".into(), name.into());
        if let Some(call_id) = Some(ex.id)
            .filter(|i| !i.0.is_null())
            .and_then(|i| label(&i.label()))
        {
            tool.insert("call_id".into(), call_id.into());
        }
        if let Some(args) = ex.params.and_then(|p| p.get("arguments")) {
            tool.insert("arguments".into(), free_form(args));
        }
        if let Some(r) = result {
            tool.insert("result".into(), free_form(r));
        }
        ev.insert("tool".into(), Value::Object(tool));
    } else {
        if let Some(p) = ex.params {
            ev.insert("input".into(), free_form(p));
        }
        if let Some(r) = result {
            ev.insert("output".into(), free_form(r));
        }
        let resource = match ex.method {
            "resources/read" | "resources/subscribe" => param_str(ex.params, "uri"),
            "prompts/get" => param_str(ex.params, "name"),
            _ => None,
        };
        if let Some(r) = resource.and_then(label) {
            ev.insert("resource".into(), r.into());
        }
        if ex.method == "sampling/createMessage" {
            if let Some(m) = result
                .and_then(|r| r.get("model"))
                .and_then(Value::as_str)
                .and_then(label)
            {
                ev.insert("model".into(), json!({ "name": m }));
            }
        }
    }

    let mut attrs = Map::new();
    let mut mcp = ex.mcp.clone();
    mcp.insert("request_id".into(), free_form(&ex.id.0));
    mcp.insert("direction".into(), ex.origin.direction().into());
    attrs.insert("mcp".into(), Value::Object(mcp));
    if let Some(d) = ex.duration {
        attrs.insert("duration_ms".into(), json!(d.as_secs_f64() * 1000.0));
    }
    if let Some(e) = error {
        attrs.insert("error".into(), free_form(&e));
    }
    ev.insert("attributes".into(), Value::Object(attrs));
    (id, finish(ev))
}

/// An event that is not a request/answer pair: a malformed message, a
/// server exit, a session ended, an unreachable upstream.
#[allow(clippy::too_many_arguments)]
pub fn note_event(
    agent: &Agent,
    seq: u64,
    kind: &str,
    action: &str,
    outcome: &str,
    session: Option<&str>,
    parent: Option<&str>,
    at: SystemTime,
    attributes: Map<String, Value>,
) -> Vec<u8> {
    let id = uuid_v7(SystemTime::now());
    let mut ev = base(agent, seq, &id, kind, action, outcome, session);
    if let Some(p) = parent {
        ev.insert("parent".into(), p.into());
    }
    ev.insert("occurred_at".into(), rfc3339(at).into());
    let attributes = attributes
        .into_iter()
        .map(|(k, v)| (k, free_form(&v)))
        .collect();
    ev.insert("attributes".into(), Value::Object(attributes));
    finish(ev)
}

fn base(
    agent: &Agent,
    seq: u64,
    id: &str,
    kind: &str,
    action: &str,
    outcome: &str,
    session: Option<&str>,
) -> Map<String, Value> {
    let mut ev = Map::new();
    ev.insert("id".into(), id.into());
    ev.insert(
        "agent".into(),
        json!({ "id": agent.id, "instance": agent.instance }),
    );
    if let Some(s) = session.and_then(label) {
        ev.insert("session".into(), s.into());
    }
    ev.insert("seq".into(), seq.into());
    ev.insert("kind".into(), kind.into());
    ev.insert(
        "action".into(),
        label(action).unwrap_or_else(|| "(none)".into()).into(),
    );
    ev.insert("outcome".into(), outcome.into());
    ev
}

/// Serialises an event, checked by the server's own parser. Should a value
/// slip through the guards above, the free-form members are dropped and
/// the reason kept, so the step is still on record.
fn finish(mut ev: Map<String, Value>) -> Vec<u8> {
    let bytes = serde_json::to_vec(&ev).unwrap_or_default();
    match Event::from_json_slice(&bytes) {
        Ok(_) => bytes,
        Err(why) => {
            for k in ["input", "output", "tool", "attributes"] {
                if let Some(v) = ev.remove(k) {
                    if k == "tool" {
                        let name = v.get("name").cloned().unwrap_or_else(|| "(none)".into());
                        ev.insert("tool".into(), json!({ "name": name }));
                    }
                }
            }
            ev.insert(
                "attributes".into(),
                json!({ "sealtrail_unrecordable": why.to_string() }),
            );
            serde_json::to_vec(&ev).unwrap_or_default()
        }
    }
}

/// A short label (`action`, `tool.name`, `session`…): at most 256 bytes, no
/// control characters; `None` for an empty one.
pub fn label(s: &str) -> Option<String> {
    if s.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(s.len().min(MAX_LABEL_BYTES));
    for c in s.chars() {
        let c = if c.is_control() { '\u{FFFD}' } else { c };
        if out.len() + c.len_utf8() > MAX_LABEL_BYTES {
            break;
        }
        out.push(c);
    }
    Some(out)
}

/// A free-form value as recorded: itself when the log can hold it,
/// otherwise its size and SHA-256 (of its compact JSON) and why.
pub fn free_form(v: &Value) -> Value {
    let compact = serde_json::to_vec(v).unwrap_or_default();
    let why = if compact.len() > MAX_FREE_FORM_BYTES {
        format!("larger than {MAX_FREE_FORM_BYTES} bytes")
    } else {
        match sealtrail_core::jcs::check_value(v) {
            // Depth: the event nests this value two or three levels down
            // and the server parses at most 64.
            Ok(()) if depth(v) <= 56 => return v.clone(),
            Ok(()) => "nested deeper than 56 levels".to_string(),
            Err(e) => e.to_string(),
        }
    };
    json!({ "sealtrail_omitted": {
        "reason": why,
        "bytes": compact.len(),
        "sha256": hex::encode(Sha256::digest(&compact)),
    }})
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> Agent {
        Agent {
            id: "a1".into(),
            instance: "i1".into(),
        }
    }

    fn exchange<'a>(
        method: &'a str,
        id: &'a Id,
        params: Option<&'a Value>,
        answer: Answer<'a>,
    ) -> Exchange<'a> {
        Exchange {
            method,
            id,
            origin: Side::Client,
            params,
            answer,
            session: "s1",
            parent: Some("p1"),
            occurred_at: SystemTime::now(),
            duration: Some(Duration::from_micros(1500)),
            mcp: Map::new(),
        }
    }

    #[test]
    fn tool_call_event_is_valid_and_complete() {
        let id = Id(json!(3));
        let params = json!({"name": "add", "arguments": {"a": 1, "b": 2}});
        let result = json!({"content": [{"type": "text", "text": "3"}], "isError": false});
        let (eid, bytes) = exchange_event(
            &agent(),
            7,
            &exchange("tools/call", &id, Some(&params), Answer::Result(&result)),
        );
        let ev = Event::from_json_slice(&bytes).unwrap();
        assert_eq!(ev.id.as_deref(), Some(eid.as_str()));
        assert_eq!(ev.kind.as_str(), "tool_call");
        assert_eq!(ev.outcome.map(|o| o.as_str()), Some("success"));
        assert_eq!(
            (ev.session.as_deref(), ev.parent.as_deref(), ev.seq),
            (Some("s1"), Some("p1"), Some(7))
        );
        let tool = ev.tool.unwrap();
        assert_eq!(
            (tool.name.as_str(), tool.call_id.as_deref()),
            ("add", Some("3"))
        );
        assert_eq!(tool.arguments, Some(json!({"a": 1, "b": 2})));
        assert_eq!(tool.result, Some(result));
        assert_eq!(ev.attributes.unwrap()["duration_ms"], json!(1.5));
    }

    #[test]
    fn is_error_and_json_rpc_errors_are_failures() {
        let id = Id(json!("x"));
        let r = json!({"content": [], "isError": true});
        let (_, b) = exchange_event(
            &agent(),
            1,
            &exchange("tools/call", &id, None, Answer::Result(&r)),
        );
        assert_eq!(
            Event::from_json_slice(&b)
                .unwrap()
                .outcome
                .map(|o| o.as_str()),
            Some("failure")
        );
        let e = json!({"code": -32602, "message": "bad"});
        let (_, b) = exchange_event(
            &agent(),
            2,
            &exchange("tools/list", &id, None, Answer::Error(&e)),
        );
        let ev = Event::from_json_slice(&b).unwrap();
        assert_eq!(
            (ev.kind.as_str(), ev.outcome.map(|o| o.as_str())),
            ("custom", Some("failure"))
        );
        assert_eq!(ev.attributes.unwrap()["error"], e);
    }

    #[test]
    fn hostile_values_still_make_a_valid_event() {
        let id = Id(json!(18446744073709551615u64));
        let huge = json!({"name": "n\u{0}\u{7}".repeat(200), "arguments": {"blob": "x".repeat(300_000), "big": 18446744073709551615u64}});
        let (_, b) = exchange_event(
            &agent(),
            1,
            &exchange("tools/call", &id, Some(&huge), Answer::Denied("scope")),
        );
        let ev = Event::from_json_slice(&b).unwrap();
        assert_eq!(ev.outcome.map(|o| o.as_str()), Some("denied"));
        let tool = ev.tool.unwrap();
        assert!(tool.name.len() <= MAX_LABEL_BYTES && !tool.name.contains('\u{0}'));
        assert!(tool.arguments.unwrap()["sealtrail_omitted"]["sha256"].is_string());
        let mut deep = json!(1);
        for _ in 0..100 {
            deep = json!([deep]);
        }
        assert!(free_form(&deep)["sealtrail_omitted"].is_object());
        assert!(b.len() < 1024 * 1024);
    }
}
