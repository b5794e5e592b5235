//! What counting an OTLP export before decoding it costs, next to decoding
//! it: a 500-span GenAI export (a `chat` span and 499 `execute_tool`
//! children with the attributes bench/otlp/load.py sends), in protobuf and
//! in OTLP/JSON.
//!
//! Run: `cargo bench -p sealtrail-server --bench otlp_budget`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use sealtrail_server::http::otlp::budget::{count_json, count_protobuf, Budget};

fn kv(key: &str, value: Any) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn export(spans: usize) -> ExportTraceServiceRequest {
    let text = |s: &str| Any::StringValue(s.into());
    let spans = (0..spans)
        .map(|i| {
            let tool = i > 0;
            let mut attributes = vec![
                kv("gen_ai.system", text("openai")),
                kv(
                    "gen_ai.operation.name",
                    text(if tool { "execute_tool" } else { "chat" }),
                ),
                kv("gen_ai.request.model", text("gpt-4o")),
                kv("gen_ai.conversation.id", text("conv-0123456789")),
            ];
            if tool {
                attributes.push(kv("gen_ai.tool.name", text("crm.lookup")));
                attributes.push(kv("gen_ai.tool.call.id", text(&format!("call-{i}"))));
                attributes.push(kv(
                    "gen_ai.tool.call.arguments",
                    text(r#"{"customer": 4711, "fields": ["name", "plan"]}"#),
                ));
            } else {
                attributes.push(kv("gen_ai.usage.input_tokens", Any::IntValue(812)));
                attributes.push(kv("gen_ai.usage.output_tokens", Any::IntValue(64)));
            }
            Span {
                trace_id: vec![7; 16],
                span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                parent_span_id: if tool {
                    1u64.to_be_bytes().to_vec()
                } else {
                    Vec::new()
                },
                name: if tool {
                    "execute_tool crm.lookup".into()
                } else {
                    "chat gpt-4o".into()
                },
                kind: 1,
                start_time_unix_nano: 1_795_000_000_000_000_000 + i as u64,
                end_time_unix_nano: 1_795_000_000_250_000_000 + i as u64,
                attributes,
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", text("billing-bot"))],
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

fn budget(c: &mut Criterion) {
    let req = export(500);
    let proto = req.encode_to_vec();
    let json = serde_json::to_vec(&req).unwrap();
    let budget = Budget {
        max_spans: 10_000,
        max_elements: 640_000,
    };
    let mut g = c.benchmark_group("otlp_protobuf_500_spans");
    g.throughput(Throughput::Bytes(proto.len() as u64));
    g.bench_function("count", |b| {
        b.iter(|| count_protobuf(black_box(&proto), budget).unwrap())
    });
    g.bench_function("decode", |b| {
        b.iter(|| ExportTraceServiceRequest::decode(black_box(&proto[..])).unwrap())
    });
    g.finish();
    let mut g = c.benchmark_group("otlp_json_500_spans");
    g.throughput(Throughput::Bytes(json.len() as u64));
    g.bench_function("count", |b| {
        b.iter(|| count_json(black_box(&json), budget).unwrap())
    });
    g.bench_function("decode", |b| {
        b.iter(|| serde_json::from_slice::<ExportTraceServiceRequest>(black_box(&json)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, budget);
criterion_main!(benches);
