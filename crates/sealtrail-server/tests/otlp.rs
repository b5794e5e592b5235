//! OTLP trace ingest against a real server: OTLP/HTTP (protobuf, JSON,
//! gzip), OTLP/gRPC, partial success, duplicates, limits and auth; and the
//! OpenTelemetry SDK's own exporters (tests/otlp/export_genai.py).

use std::io::Write;
use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use sealtrail_testkit::TestServer;
use serde_json::{json, Value};

fn s(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Any::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn span(trace: u8, id: u8, parent: Option<u8>, attrs: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
        name: "op".into(),
        kind: 1,
        start_time_unix_nano: 1_795_000_000_000_000_000,
        end_time_unix_nano: 1_795_000_000_250_000_000,
        attributes: attrs,
        ..Default::default()
    }
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![s("service.name", "otlp-test")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A chat span (trace `t`) with a child execute_tool span.
fn chat_with_tool(t: u8, conversation: &str) -> ExportTraceServiceRequest {
    request(vec![
        span(
            t,
            1,
            None,
            vec![
                s("gen_ai.operation.name", "chat"),
                s("gen_ai.request.model", "gpt-4o"),
                s("gen_ai.conversation.id", conversation),
            ],
        ),
        span(
            t,
            2,
            Some(1),
            vec![
                s("gen_ai.operation.name", "execute_tool"),
                s("gen_ai.tool.name", "get_weather"),
                s("gen_ai.conversation.id", conversation),
            ],
        ),
    ])
}

fn id(t: u8, span: u8) -> String {
    format!("otel-{}-{}", hex::encode([t; 16]), hex::encode([span; 8]))
}

async fn post_proto(
    srv: &TestServer,
    req: &ExportTraceServiceRequest,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let r = srv
        .post("/v1/traces")
        .header("content-type", "application/x-protobuf")
        .body(req.encode_to_vec())
        .send()
        .await
        .unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.bytes().await.unwrap().to_vec())
}

/// The events of a session, with bodies.
async fn session_events(srv: &TestServer, session: &str) -> Vec<Value> {
    let page = srv
        .get_json(&format!("/v1/events?session={session}&include=body"))
        .await;
    page["events"].as_array().cloned().unwrap_or_default()
}

fn by_id<'a>(events: &'a [Value], id: &str) -> &'a Value {
    events
        .iter()
        .map(|e| &e["event"])
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("no event {id} in {events:?}"))
}

#[tokio::test]
async fn protobuf_spans_become_events_with_parent_links() {
    let srv = TestServer::start().await;
    let (status, headers, body) = post_proto(&srv, &chat_with_tool(7, "conv-pb")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/x-protobuf");
    let resp = ExportTraceServiceResponse::decode(&body[..]).unwrap();
    assert_eq!(
        resp.partial_success, None,
        "full success has no partial_success"
    );

    let events = session_events(&srv, "conv-pb").await;
    assert_eq!(events.len(), 2);
    let chat = by_id(&events, &id(7, 1));
    assert_eq!(chat["kind"], "model_call");
    assert_eq!(chat["agent"]["id"], "otlp-test");
    assert_eq!(chat["model"]["name"], "gpt-4o");
    let tool = by_id(&events, &id(7, 2));
    assert_eq!(tool["kind"], "tool_call");
    assert_eq!(tool["tool"]["name"], "get_weather");
    assert_eq!(tool["parent"], id(7, 1));
    assert_eq!(tool["attributes"]["otel.duration_ns"], 250_000_000);
}

#[tokio::test]
async fn json_spans_are_accepted_and_answered_in_json() {
    let srv = TestServer::start().await;
    let body = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
        "scopeSpans": [{"scope": {"name": "manual"}, "spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "eee19b7ec3c1b174",
            "name": "invoke_agent planner",
            "kind": 1,
            "startTimeUnixNano": "1795000000000000000",
            "endTimeUnixNano": "1795000001000000000",
            "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}},
                {"key": "session.id", "value": {"stringValue": "sess-json"}},
                {"key": "retries", "value": {"intValue": "3"}}
            ],
            "status": {"code": 2, "message": "boom"}
        }]}]
    }]});
    let r = srv.post("/v1/traces").json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(r.json::<Value>().await.unwrap(), json!({}));
    let events = session_events(&srv, "sess-json").await;
    let e = by_id(
        &events,
        "otel-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174",
    );
    assert_eq!(e["kind"], "agent_lifecycle");
    assert_eq!(e["outcome"], "failure");
    assert_eq!(e["agent"]["id"], "json-svc");
    assert_eq!(e["attributes"]["retries"], 3);
    assert_eq!(e["attributes"]["otel.scope"]["name"], "manual");
}

#[tokio::test]
async fn gzip_bodies_are_decompressed() {
    let srv = TestServer::start().await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&chat_with_tool(9, "conv-gz").encode_to_vec())
        .unwrap();
    let r = srv
        .post("/v1/traces")
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(session_events(&srv, "conv-gz").await.len(), 2);
}

#[tokio::test]
async fn partial_success_counts_and_names_rejected_spans() {
    let srv = TestServer::start().await;
    let mut bad_id = span(3, 9, None, vec![s("session.id", "conv-partial")]);
    bad_id.span_id = vec![1, 2, 3];
    let long_agent = span(
        3,
        8,
        None,
        vec![
            s("gen_ai.agent.id", &"a".repeat(300)),
            s("session.id", "conv-partial"),
        ],
    );
    let good = span(3, 7, None, vec![s("session.id", "conv-partial")]);
    let (status, _, body) = post_proto(&srv, &request(vec![bad_id, good, long_agent])).await;
    assert_eq!(status, 200);
    let partial = ExportTraceServiceResponse::decode(&body[..])
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(partial.rejected_spans, 2);
    assert!(
        partial.error_message.contains("spanId"),
        "{}",
        partial.error_message
    );
    assert!(
        partial.error_message.contains("agent.id"),
        "{}",
        partial.error_message
    );
    assert_eq!(session_events(&srv, "conv-partial").await.len(), 1);
}

#[tokio::test]
async fn a_retried_export_is_sealed_once() {
    let srv = TestServer::start().await;
    let req = chat_with_tool(4, "conv-dup");
    for _ in 0..2 {
        let (status, _, _) = post_proto(&srv, &req).await;
        assert_eq!(status, 200);
    }
    assert_eq!(session_events(&srv, "conv-dup").await.len(), 2);
}

#[tokio::test]
async fn limits_auth_and_bad_bodies() {
    let srv = TestServer::start_with(|o| o.limits.max_body_bytes = 1024).await;
    // Too large, plain and as a small gzip that expands past the limit.
    let big = request(vec![span(5, 1, None, vec![s("x", &"y".repeat(2000))])]);
    let (status, headers, body) = post_proto(&srv, &big).await;
    assert_eq!(status, 413);
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert!(!body.is_empty(), "errors carry a google.rpc.Status");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&big.encode_to_vec()).unwrap();
    let r = srv
        .post("/v1/traces")
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);

    let r = srv
        .post("/v1/traces")
        .header("content-type", "application/x-protobuf")
        .body(vec![0xff, 0xff, 0xff])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = srv
        .post("/v1/traces")
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);

    let r = srv
        .http
        .post(format!("{}/v1/traces", srv.url))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = srv
        .http
        .post(format!("{}/v1/traces", srv.url))
        .bearer_auth("stk_not-a-key")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

async fn grpc_server() -> TestServer {
    TestServer::start_with(|o| o.otlp_grpc_listen = Some("127.0.0.1:0".parse().unwrap())).await
}

fn grpc_url(srv: &TestServer) -> String {
    let addr = srv.running.as_ref().unwrap().otlp_grpc_addr.unwrap();
    format!("http://{addr}")
}

#[tokio::test]
async fn grpc_export_authenticates_and_seals() {
    let srv = grpc_server().await;
    let mut client = TraceServiceClient::connect(grpc_url(&srv)).await.unwrap();

    let err = client
        .export(chat_with_tool(6, "conv-grpc"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);

    let mut req = tonic::Request::new(chat_with_tool(6, "conv-grpc"));
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", srv.key).parse().unwrap(),
    );
    let resp = client.export(req).await.unwrap().into_inner();
    assert_eq!(resp.partial_success, None);
    let events = session_events(&srv, "conv-grpc").await;
    assert_eq!(by_id(&events, &id(6, 2))["parent"], id(6, 1));
}

// ---------------------------------------------------------------------------
// The OpenTelemetry SDK's own exporters.

/// The venv's Python with the OpenTelemetry SDK, or `None` (test skipped)
/// outside CI.
fn python() -> Option<PathBuf> {
    sealtrail_testkit::python::venv_python(
        "otlp",
        "opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http, opentelemetry.exporter.otlp.proto.grpc",
        "the OpenTelemetry SDK and OTLP exporters",
    )
}

/// Runs the SDK script; the ids of the spans it sent.
async fn sdk_export(py: &Path, protocol: &str, endpoint: &str, key: &str, conv: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/otlp/export_genai.py");
    let out = tokio::process::Command::new(py)
        .arg(script)
        .args([protocol, endpoint, key, conv])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "export_genai.py {protocol} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn check_sdk_spans(srv: &TestServer, conv: &str, ids: &Value) {
    let trace = ids["trace_id"].as_str().unwrap();
    let chat_id = format!("otel-{trace}-{}", ids["chat_span_id"].as_str().unwrap());
    let tool_id = format!("otel-{trace}-{}", ids["tool_span_id"].as_str().unwrap());
    let events = session_events(srv, conv).await;
    assert_eq!(events.len(), 2, "{events:?}");
    let chat = by_id(&events, &chat_id);
    assert_eq!(chat["kind"], "model_call");
    assert_eq!(chat["agent"]["id"], "travel-agent");
    assert_eq!(chat["agent"]["version"], "0.3.1");
    assert_eq!(chat["model"]["provider"], "openai");
    assert_eq!(chat["model"]["input_tokens"], 321);
    assert_eq!(chat["outcome"], "success");
    assert_eq!(chat["attributes"]["gen_ai.request.temperature"], 0.2);
    assert_eq!(chat["attributes"]["otel.span_kind"], "client");
    let tool = by_id(&events, &tool_id);
    assert_eq!(tool["kind"], "tool_call");
    assert_eq!(tool["parent"], chat_id);
    assert_eq!(tool["tool"]["name"], "get_weather");
    assert_eq!(tool["tool"]["call_id"], "call_42");
    assert_eq!(tool["tool"]["arguments"], json!({"city": "Paris"}));
    assert_eq!(tool["outcome"], "failure");
    assert_eq!(
        tool["attributes"]["otel.status_description"],
        "weather service timed out"
    );
}

#[tokio::test]
async fn opentelemetry_sdk_http_exporter() {
    let Some(py) = python() else { return };
    let srv = TestServer::start().await;
    let ids = sdk_export(&py, "http", &srv.url, &srv.key, "conv-sdk-http").await;
    check_sdk_spans(&srv, "conv-sdk-http", &ids).await;
}

#[tokio::test]
async fn opentelemetry_sdk_grpc_exporter() {
    let Some(py) = python() else { return };
    let srv = grpc_server().await;
    let ids = sdk_export(&py, "grpc", &grpc_url(&srv), &srv.key, "conv-sdk-grpc").await;
    check_sdk_spans(&srv, "conv-sdk-grpc", &ids).await;
}
