use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Status;

use super::*;

const TRACE: [u8; 16] = [0xab; 16];

fn kv(k: &str, v: Any) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(k: &str, v: &str) -> KeyValue {
    kv(k, Any::StringValue(v.into()))
}

fn i(k: &str, v: i64) -> KeyValue {
    kv(k, Any::IntValue(v))
}

fn span(id: u8, parent: Option<u8>, attrs: Vec<KeyValue>) -> Span {
    Span {
        trace_id: TRACE.to_vec(),
        span_id: vec![id; 8],
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
        name: "span".into(),
        kind: 3,
        start_time_unix_nano: 1_795_000_000_123_456_789,
        end_time_unix_nano: 1_795_000_000_623_456_789,
        attributes: attrs,
        ..Default::default()
    }
}

fn service(name: &str) -> Vec<KeyValue> {
    vec![s("service.name", name), s("service.version", "1.2.3")]
}

#[test]
fn genai_chat_span() {
    let res = service("billing-svc");
    let sp = span(
        1,
        None,
        vec![
            s("gen_ai.operation.name", "chat"),
            s("gen_ai.provider.name", "openai"),
            s("gen_ai.request.model", "gpt-4o"),
            i("gen_ai.usage.input_tokens", 120),
            i("gen_ai.usage.output_tokens", 30),
            s("gen_ai.conversation.id", "conv-9"),
            s("gen_ai.agent.name", "billing"),
            kv("gen_ai.request.temperature", Any::DoubleValue(0.5)),
        ],
    );
    let origin = Origin {
        resource: &res,
        scope: None,
    };
    let e = span_to_event(origin, &sp).unwrap();
    e.validate().unwrap();
    assert_eq!(e.kind, EventKind::ModelCall);
    assert_eq!(e.id.as_deref(), Some(&*event_id(&TRACE, &[1; 8])));
    assert_eq!(e.agent.id, "billing");
    assert_eq!(e.agent.version.as_deref(), Some("1.2.3"));
    assert_eq!(e.session.as_deref(), Some("conv-9"));
    assert_eq!(e.action.as_deref(), Some("chat"));
    assert_eq!(e.outcome, Some(Outcome::Success));
    assert_eq!(
        e.occurred_at.as_deref(),
        Some("2026-11-18T11:06:40.123456Z")
    );
    let m = e.model.unwrap();
    assert_eq!(m.provider.as_deref(), Some("openai"));
    assert_eq!(m.name.as_deref(), Some("gpt-4o"));
    assert_eq!((m.input_tokens, m.output_tokens), (Some(120), Some(30)));
    let attrs = e.attributes.unwrap();
    // Unmapped attributes are kept; mapped ones are not repeated.
    assert_eq!(attrs["gen_ai.request.temperature"], json!(0.5));
    assert!(!attrs.contains_key("gen_ai.request.model"));
    assert_eq!(attrs["otel.duration_ns"], json!(500_000_000));
    assert_eq!(attrs["otel.span_kind"], json!("client"));
    assert_eq!(attrs["otel.resource"]["service.name"], json!("billing-svc"));
}

#[test]
fn execute_tool_child_links_to_its_parent() {
    let res = service("svc");
    let sp = span(
        2,
        Some(1),
        vec![
            s("gen_ai.operation.name", "execute_tool"),
            s("gen_ai.tool.name", "get_weather"),
            s("gen_ai.tool.call.id", "call_1"),
            s("gen_ai.tool.call.arguments", r#"{"city":"Paris"}"#),
            s("gen_ai.tool.call.result", "sunny"),
        ],
    );
    let e = span_to_event(
        Origin {
            resource: &res,
            scope: None,
        },
        &sp,
    )
    .unwrap();
    assert_eq!(e.kind, EventKind::ToolCall);
    assert_eq!(e.parent.as_deref(), Some(&*event_id(&TRACE, &[1; 8])));
    assert_eq!(e.agent.id, "svc", "service.name is the last resort");
    assert_eq!(e.session.as_deref(), Some(&*hex::encode(TRACE)));
    let t = e.tool.unwrap();
    assert_eq!(t.name, "get_weather");
    assert_eq!(t.call_id.as_deref(), Some("call_1"));
    assert_eq!(t.arguments, Some(json!({"city": "Paris"})));
    assert_eq!(t.result, Some(json!("sunny")));
}

#[test]
fn agent_id_precedence() {
    let res = service("svc");
    let origin = Origin {
        resource: &res,
        scope: None,
    };
    let both = span(
        1,
        None,
        vec![
            s("gen_ai.agent.id", "asst_1"),
            s("gen_ai.agent.name", "Helper"),
        ],
    );
    let e = span_to_event(origin, &both).unwrap();
    assert_eq!(
        (e.agent.id.as_str(), e.agent.name.as_deref()),
        ("asst_1", Some("Helper"))
    );
    let none = span(1, None, vec![]);
    let e = span_to_event(Origin::default(), &none).unwrap();
    assert_eq!(e.agent.id, UNKNOWN_AGENT);
}

#[test]
fn mcp_tools_call() {
    let sp = span(
        3,
        None,
        vec![
            s("mcp.method.name", "tools/call"),
            s("gen_ai.tool.name", "search"),
            i("jsonrpc.request.id", 7),
            s("mcp.session.id", "mcp-s1"),
        ],
    );
    let e = span_to_event(Origin::default(), &sp).unwrap();
    assert_eq!(e.kind, EventKind::ToolCall);
    assert_eq!(e.action.as_deref(), Some("tools/call"));
    assert_eq!(e.session.as_deref(), Some("mcp-s1"));
    let t = e.tool.unwrap();
    assert_eq!(
        (t.name.as_str(), t.call_id.as_deref()),
        ("search", Some("7"))
    );
}

#[test]
fn openinference_spans() {
    let llm = span(
        4,
        None,
        vec![
            s("openinference.span.kind", "LLM"),
            s("llm.model_name", "claude-sonnet"),
            s("llm.provider", "anthropic"),
            i("llm.token_count.prompt", 10),
            i("llm.token_count.completion", 5),
            s("session.id", "sess-1"),
            s("input.value", r#"{"messages":[]}"#),
            s("output.value", "hello"),
            s("user.id", "alice"),
        ],
    );
    let e = span_to_event(Origin::default(), &llm).unwrap();
    assert_eq!(e.kind, EventKind::ModelCall);
    assert_eq!(e.session.as_deref(), Some("sess-1"));
    assert_eq!(e.input, Some(json!({"messages": []})));
    assert_eq!(e.output, Some(json!("hello")));
    assert_eq!(e.principal.as_deref(), Some("alice"));
    let m = e.model.unwrap();
    assert_eq!(m.name.as_deref(), Some("claude-sonnet"));
    assert_eq!((m.input_tokens, m.output_tokens), (Some(10), Some(5)));

    for (k, want) in [
        ("TOOL", EventKind::ToolCall),
        ("AGENT", EventKind::AgentLifecycle),
        ("RETRIEVER", EventKind::DataAccess),
        ("GUARDRAIL", EventKind::Guardrail),
        ("CHAIN", EventKind::Custom),
    ] {
        assert_eq!(kind_of(None, None, Some(k)), want, "{k}");
    }
    assert_eq!(
        kind_of(Some("invoke_agent"), None, Some("LLM")),
        EventKind::AgentLifecycle
    );
    assert_eq!(
        kind_of(Some("create_agent"), None, None),
        EventKind::AgentLifecycle
    );
}

#[test]
fn error_status_is_a_failure_and_its_message_is_kept() {
    let mut sp = span(5, None, vec![]);
    sp.status = Some(Status {
        message: "timeout".into(),
        code: StatusCode::Error as i32,
    });
    let e = span_to_event(Origin::default(), &sp).unwrap();
    assert_eq!(e.outcome, Some(Outcome::Failure));
    assert_eq!(
        e.attributes.unwrap()["otel.status_description"],
        json!("timeout")
    );
}

#[test]
fn bad_ids_are_refused() {
    let mut sp = span(1, None, vec![]);
    sp.trace_id = vec![0; 16];
    assert_eq!(
        span_to_event(Origin::default(), &sp),
        Err(MapError::TraceId(16))
    );
    let mut sp = span(1, None, vec![]);
    sp.span_id = vec![1; 4];
    assert_eq!(
        span_to_event(Origin::default(), &sp),
        Err(MapError::SpanId(4))
    );
    let mut sp = span(1, None, vec![]);
    sp.parent_span_id = vec![1; 3];
    assert_eq!(
        span_to_event(Origin::default(), &sp),
        Err(MapError::ParentSpanId(3))
    );
}

#[test]
fn a_long_span_name_is_not_an_action() {
    let mut sp = span(1, None, vec![]);
    sp.name = "x".repeat(300);
    let e = span_to_event(Origin::default(), &sp).unwrap();
    assert_eq!(e.action, None);
    e.validate().unwrap();
}
