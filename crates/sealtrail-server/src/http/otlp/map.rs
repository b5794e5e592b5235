//! One OTLP span → one sealtrail event (pure; docs/otlp.md has the table).
//!
//! Attributes that map onto an event field are taken out of the span's
//! attributes; every other attribute, the resource's attributes, span
//! events and links stay in `attributes`, so nothing the exporter sent is
//! dropped.

use std::collections::HashMap;

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, Span};
use sealtrail_core::event::{AgentRef, Event, EventKind, ModelInfo, Outcome, ToolCall};
use serde_json::{json, Map, Value};

use super::value;

/// Why a span cannot become an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("traceId must be 16 bytes and not all zero (got {0} bytes)")]
    TraceId(usize),
    #[error("spanId must be 8 bytes and not all zero (got {0} bytes)")]
    SpanId(usize),
    #[error("parentSpanId must be empty or 8 bytes (got {0} bytes)")]
    ParentSpanId(usize),
}

/// Agent id when neither the span nor its resource names one (the OTel
/// SDKs' own default for a missing `service.name`).
pub const UNKNOWN_AGENT: &str = "unknown_service";

/// The resource and scope a span was exported under.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin<'a> {
    pub resource: &'a [KeyValue],
    pub scope: Option<&'a InstrumentationScope>,
}

/// The event id of a span: deterministic, so a retried export is a
/// duplicate the sequencer drops instead of a second entry.
pub fn event_id(trace_id: &[u8], span_id: &[u8]) -> String {
    format!("otel-{}-{}", hex::encode(trace_id), hex::encode(span_id))
}

fn valid_id(id: &[u8], len: usize) -> bool {
    id.len() == len && id.iter().any(|b| *b != 0)
}

/// The span's attributes by key, emptied as fields claim them.
struct Attrs<'a>(HashMap<&'a str, &'a AnyValue>);

impl<'a> Attrs<'a> {
    fn new(kvs: &'a [KeyValue]) -> Self {
        Attrs(
            kvs.iter()
                .filter_map(|kv| kv.value.as_ref().map(|v| (kv.key.as_str(), v)))
                .collect(),
        )
    }

    /// Takes the first of `keys` present whose value `f` accepts.
    fn take<T>(&mut self, keys: &[&str], f: impl Fn(&AnyValue) -> Option<T>) -> Option<T> {
        for k in keys {
            if let Some(v) = self.0.get(*k).and_then(|v| f(v)) {
                self.0.remove(*k);
                return Some(v);
            }
        }
        None
    }

    fn text(&mut self, keys: &[&str]) -> Option<String> {
        self.take(keys, |v| value::as_text(v).filter(|s| !s.is_empty()))
    }

    fn peek_text(&self, key: &str) -> Option<String> {
        self.0.get(key).and_then(|v| value::as_text(v))
    }

    fn into_json(self) -> Map<String, Value> {
        self.0
            .into_iter()
            .map(|(k, v)| (k.to_string(), value::to_json(v)))
            .collect()
    }
}

/// `gen_ai.operation.name`, then MCP's `mcp.method.name`, then
/// OpenInference's `openinference.span.kind`; `custom` when none says.
pub fn kind_of(
    operation: Option<&str>,
    mcp_method: Option<&str>,
    oi_kind: Option<&str>,
) -> EventKind {
    let by_operation = operation.and_then(|op| match op {
        "chat" | "text_completion" | "generate_content" | "embeddings" => {
            Some(EventKind::ModelCall)
        }
        "execute_tool" => Some(EventKind::ToolCall),
        "invoke_agent" | "create_agent" => Some(EventKind::AgentLifecycle),
        _ => None,
    });
    let by_mcp = || {
        mcp_method.and_then(|m| match m {
            "tools/call" => Some(EventKind::ToolCall),
            "resources/read" | "prompts/get" => Some(EventKind::DataAccess),
            "sampling/createMessage" => Some(EventKind::ModelCall),
            _ => None,
        })
    };
    let by_openinference = || {
        oi_kind.and_then(|k| match k.to_ascii_uppercase().as_str() {
            "LLM" | "EMBEDDING" => Some(EventKind::ModelCall),
            "TOOL" => Some(EventKind::ToolCall),
            "AGENT" => Some(EventKind::AgentLifecycle),
            "RETRIEVER" | "RERANKER" => Some(EventKind::DataAccess),
            "GUARDRAIL" => Some(EventKind::Guardrail),
            _ => None,
        })
    };
    by_operation
        .or_else(by_mcp)
        .or_else(by_openinference)
        .unwrap_or(EventKind::Custom)
}

/// Short, printable text that fits a label field; otherwise none (a long
/// span name must not cost the whole span).
fn label(s: &str) -> Option<String> {
    let ok = !s.is_empty() && s.len() <= sealtrail_core::event::MAX_LABEL_BYTES;
    (ok && !s.chars().any(char::is_control)).then(|| s.to_string())
}

fn span_kind_name(kind: i32) -> Option<&'static str> {
    Some(match kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => return None,
    })
}

/// Maps one span. Label-sized fields are validated later with every
/// other event (a span whose agent id is too long is rejected there).
pub fn span_to_event(origin: Origin<'_>, span: &Span) -> Result<Event, MapError> {
    if !valid_id(&span.trace_id, 16) {
        return Err(MapError::TraceId(span.trace_id.len()));
    }
    if !valid_id(&span.span_id, 8) {
        return Err(MapError::SpanId(span.span_id.len()));
    }
    let parent = match span.parent_span_id.len() {
        0 => None,
        8 if valid_id(&span.parent_span_id, 8) => {
            Some(event_id(&span.trace_id, &span.parent_span_id))
        }
        8 => None,
        n => return Err(MapError::ParentSpanId(n)),
    };
    let resource = Attrs::new(origin.resource);
    let mut a = Attrs::new(&span.attributes);

    // Precedence: gen_ai.agent.id, gen_ai.agent.name, resource service.name.
    let agent_name = a.text(&["gen_ai.agent.name", "agent.name"]);
    let agent_id = a
        .text(&["gen_ai.agent.id"])
        .or_else(|| agent_name.clone())
        .or_else(|| resource.peek_text("service.name"))
        .unwrap_or_else(|| UNKNOWN_AGENT.to_string());
    let agent = AgentRef {
        id: agent_id,
        name: agent_name,
        version: a
            .text(&["gen_ai.agent.version"])
            .or_else(|| resource.peek_text("service.version")),
        instance: resource.peek_text("service.instance.id"),
    };

    let operation = a.peek_text("gen_ai.operation.name");
    let mcp_method = a.peek_text("mcp.method.name");
    let oi_kind = a.peek_text("openinference.span.kind");
    let kind = kind_of(
        operation.as_deref(),
        mcp_method.as_deref(),
        oi_kind.as_deref(),
    );
    // The action is the operation's name, the first of the three that is
    // set; the span's name when none is.
    let action = a
        .text(&[
            "gen_ai.operation.name",
            "mcp.method.name",
            "openinference.span.kind",
        ])
        .or_else(|| label(&span.name));

    let session = a
        .text(&["gen_ai.conversation.id", "session.id", "mcp.session.id"])
        .unwrap_or_else(|| hex::encode(&span.trace_id));

    let model = model(&mut a);
    let tool = tool(&mut a);
    let input = a.take(&["input.value", "gen_ai.input.messages"], |v| {
        Some(value::as_content(v))
    });
    let output = a.take(&["output.value", "gen_ai.output.messages"], |v| {
        Some(value::as_content(v))
    });
    let principal = a.text(&["enduser.id", "user.id"]);

    let status = span.status.as_ref();
    let failed = status.is_some_and(|s| s.code == StatusCode::Error as i32)
        || a.0.contains_key("error.type");
    let outcome = Some(if failed {
        Outcome::Failure
    } else {
        Outcome::Success
    });
    let occurred_at = (span.start_time_unix_nano > 0)
        .then(|| sealtrail_core::time::format_time(span.start_time_unix_nano / 1000));

    let mut attributes = a.into_json();
    otel_attributes(&mut attributes, origin, span);

    Ok(Event {
        id: Some(event_id(&span.trace_id, &span.span_id)),
        agent,
        session: Some(session),
        parent,
        seq: None,
        kind,
        action,
        resource: None,
        outcome,
        principal,
        subjects: Vec::new(),
        data_classes: Vec::new(),
        model,
        tool,
        input,
        output,
        reasoning: None,
        review: None,
        change: None,
        occurred_at,
        attributes: Some(attributes),
    })
}

fn model(a: &mut Attrs<'_>) -> Option<ModelInfo> {
    let m = ModelInfo {
        provider: a.text(&[
            "gen_ai.provider.name",
            "gen_ai.system",
            "llm.provider",
            "llm.system",
        ]),
        // The model that answered, else the one asked for.
        name: a.text(&[
            "gen_ai.response.model",
            "gen_ai.request.model",
            "llm.model_name",
        ]),
        version: None,
        input_tokens: a.take(
            &["gen_ai.usage.input_tokens", "llm.token_count.prompt"],
            value::as_count,
        ),
        output_tokens: a.take(
            &["gen_ai.usage.output_tokens", "llm.token_count.completion"],
            value::as_count,
        ),
        cost: None,
    };
    let any = m.provider.is_some()
        || m.name.is_some()
        || m.input_tokens.is_some()
        || m.output_tokens.is_some();
    any.then_some(m)
}

fn tool(a: &mut Attrs<'_>) -> Option<ToolCall> {
    // Without a name there is no tool object; its other attributes stay.
    let name = a.text(&["gen_ai.tool.name", "tool.name", "tool_call.function.name"])?;
    Some(ToolCall {
        name,
        call_id: a.text(&["gen_ai.tool.call.id", "tool_call.id", "jsonrpc.request.id"]),
        arguments: a.take(
            &["gen_ai.tool.call.arguments", "tool_call.function.arguments"],
            |v| Some(value::as_content(v)),
        ),
        result: a.take(&["gen_ai.tool.call.result"], |v| Some(value::as_content(v))),
    })
}

/// What the span itself carries besides attributes, under `otel.*`.
fn otel_attributes(out: &mut Map<String, Value>, origin: Origin<'_>, span: &Span) {
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_string(), v);
    };
    put("otel.span_name", Value::String(span.name.clone()));
    put("otel.trace_id", Value::String(hex::encode(&span.trace_id)));
    put("otel.span_id", Value::String(hex::encode(&span.span_id)));
    if !span.parent_span_id.is_empty() {
        put(
            "otel.parent_span_id",
            Value::String(hex::encode(&span.parent_span_id)),
        );
    }
    if let Some(k) = span_kind_name(span.kind) {
        put("otel.span_kind", Value::String(k.into()));
    }
    if span.end_time_unix_nano >= span.start_time_unix_nano && span.start_time_unix_nano > 0 {
        let ns = span.end_time_unix_nano - span.start_time_unix_nano;
        put("otel.duration_ns", json_u64(ns));
    }
    if let Some(s) = span.status.as_ref().filter(|s| !s.message.is_empty()) {
        put("otel.status_description", Value::String(s.message.clone()));
    }
    if !origin.resource.is_empty() {
        put(
            "otel.resource",
            Value::Object(value::object(origin.resource)),
        );
    }
    if let Some(scope) = origin.scope.filter(|s| !s.name.is_empty()) {
        put(
            "otel.scope",
            json!({"name": scope.name, "version": scope.version}),
        );
    }
    if !span.events.is_empty() {
        let events = span
            .events
            .iter()
            .map(|e| {
                json!({"name": e.name, "time_unix_nano": e.time_unix_nano.to_string(),
                       "attributes": value::object(&e.attributes)})
            })
            .collect();
        put("otel.events", Value::Array(events));
    }
    if !span.links.is_empty() {
        let links = span
            .links
            .iter()
            .map(|l| {
                json!({"trace_id": hex::encode(&l.trace_id), "span_id": hex::encode(&l.span_id),
                       "attributes": value::object(&l.attributes)})
            })
            .collect();
        put("otel.links", Value::Array(links));
    }
}

fn json_u64(n: u64) -> Value {
    if n <= sealtrail_core::event::MAX_SAFE_COUNTER {
        Value::from(n)
    } else {
        Value::String(n.to_string())
    }
}

#[cfg(test)]
mod tests;
