//! Scanning throughput on realistic agent payloads, single-threaded (so the
//! MB/s criterion prints are per core).
//!
//! cargo bench -p sealtrail-pii --bench scan

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use sealtrail_pii::{RedactionPolicy, Redactor, ScanConfig, Scanner};
use serde_json::{json, Value};

const WORDS: &[&str] = &[
    "the",
    "agent",
    "called",
    "search",
    "tool",
    "with",
    "query",
    "about",
    "quarterly",
    "revenue",
    "and",
    "summarised",
    "results",
    "for",
    "reviewer",
    "who",
    "approved",
    "release",
    "of",
    "report",
    "model",
    "returned",
    "answer",
    "after",
    "reading",
    "three",
    "documents",
    "policy",
    "customer",
    "asked",
    "whether",
    "refund",
    "was",
    "possible",
    "under",
    "terms",
    "contract",
    "signed",
    "last",
    "spring",
    "assistant",
    "checked",
    "account",
    "history",
    "found",
    "no",
    "open",
    "tickets",
];

/// Deterministic prose of about `len` bytes, no digits, no entities, with
/// capitalised sentences and hyphens (so the digit-free anchor search runs).
fn prose(len: usize) -> String {
    let mut s = String::with_capacity(len + 16);
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut n = 0;
    while s.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let word = WORDS[(x % WORDS.len() as u64) as usize];
        if n % 14 == 0 {
            let mut c = word.chars();
            if let Some(first) = c.next() {
                s.extend(first.to_uppercase());
                s.push_str(c.as_str());
            }
        } else {
            s.push_str(word);
        }
        n += 1;
        s.push_str(if n % 14 == 0 { ". " } else { " " });
    }
    s
}

/// Chat text with a few entities among ordinary sentences.
fn chat() -> String {
    let mut s = String::new();
    for i in 0..8 {
        s.push_str(&prose(400));
        match i {
            1 => s.push_str(" You can reach me at jane.doe@example.org or +44 20 7946 0958. "),
            3 => s.push_str(" The card on file is 4111 1111 1111 1111, expiring 09/28. "),
            5 => s.push_str(" Order 2026-11-22 #58213 shipped to 203.0.113.7 at 10:42:07. "),
            _ => s.push_str(" Thanks, that helps a lot, see you on Monday at 9:30. "),
        }
    }
    s
}

/// A tool call event: arguments with a few entities, a result with a table
/// of rows full of ids, timestamps and amounts (digits everywhere).
fn tool_event() -> Value {
    let rows: Vec<Value> = (0..40)
        .map(|i| {
            json!({
                "id": format!("ord_{:08}", 93_000 + i * 7),
                "created_at": format!("2026-11-{:02}T{:02}:{:02}:00Z", 1 + i % 28, i % 24, (i * 7) % 60),
                "amount": 1999 + i * 13,
                "currency": "EUR",
                "status": if i % 3 == 0 { "refunded" } else { "paid" },
                "sku": format!("SKU-{}-{}", 100 + i, 7 * i),
                "trace_id": format!("{:032x}", 0x9e37_79b9_7f4a_7c15u128.wrapping_mul(i as u128 + 1)),
            })
        })
        .collect();
    json!({
        "id": "01JD4S6Q8Z7Y2X3W4V5T6R7P8N",
        "agent": {"id": "billing-assistant", "version": "3.2.1", "instance": "pod-7f9c"},
        "session": "sess_5d2e9a",
        "seq": 4182,
        "kind": "tool_call",
        "occurred_at": "2026-11-22T10:42:07.123Z",
        "tool": {
            "name": "orders.search",
            "call_id": "call_8a7b6c5d",
            "arguments": {
                "customer_email": "jane.doe@example.org",
                "query": "refunds for the last 90 days above 50 EUR",
                "limit": 40,
                "note": "customer called from +44 20 7946 0958 about card ending 1111"
            },
            "result": {"rows": rows, "total": 40, "next_cursor": "eyJvZmZzZXQiOjQwfQ"}
        },
        "model": {"provider": "openai", "name": "gpt-4.1", "input_tokens": 1834, "output_tokens": 212}
    })
}

fn bench(c: &mut Criterion) {
    // A limit above the 1 MiB text so that the large case is scanned.
    let scanner = Scanner::new(ScanConfig {
        max_text_bytes: 4 << 20,
        ..ScanConfig::default()
    });
    let mut g = c.benchmark_group("pii_scan");

    let large = prose(1 << 20);
    g.throughput(Throughput::Bytes(large.len() as u64));
    g.bench_function("text_1MiB_no_entities", |b| {
        b.iter(|| scanner.scan_text(black_box(&large)))
    });

    let chat = chat();
    g.throughput(Throughput::Bytes(chat.len() as u64));
    g.bench_function("chat_text_with_entities", |b| {
        b.iter(|| scanner.scan_text(black_box(&chat)))
    });

    // One phone candidate: the libphonenumber check dominates short texts.
    for (name, line) in [
        ("line_with_phone", "call me on +44 20 7946 0958 after lunch"),
        (
            "line_without_candidates",
            "call me on the usual number after lunch, thanks",
        ),
    ] {
        g.throughput(Throughput::Bytes(line.len() as u64));
        g.bench_function(name, |b| b.iter(|| scanner.scan_text(black_box(line))));
    }

    let event = tool_event();
    let raw = serde_json::to_string(&event).unwrap_or_default();
    g.throughput(Throughput::Bytes(raw.len() as u64));
    g.bench_function("json_tool_event", |b| {
        b.iter(|| scanner.scan_json(black_box(&event)))
    });
    g.bench_function("json_tool_event_parse_and_scan", |b| {
        b.iter(|| {
            let v: Value = serde_json::from_str(black_box(&raw)).unwrap_or(Value::Null);
            scanner.scan_json(&v)
        })
    });
    let redactor = Redactor::new(
        RedactionPolicy::standard(),
        b"bench-project-key-0000",
        Scanner::default(),
    );
    if let Ok(r) = redactor {
        g.bench_function("json_tool_event_redact", |b| {
            b.iter(|| r.redact(black_box(&event)))
        });
    }
    g.finish();

    // Building a scanner (both automata as DFAs): done once per process.
    let mut g = c.benchmark_group("setup");
    g.sample_size(10);
    g.bench_function("scanner_new", |b| {
        b.iter(|| Scanner::new(ScanConfig::default()))
    });
    g.finish();

    // For reference: the memchr pass the no-entity case is read against.
    let mut g = c.benchmark_group("reference");
    g.throughput(Throughput::Bytes(large.len() as u64));
    g.bench_function("memchr_1MiB", |b| {
        b.iter(|| memchr::memchr(b'\0', black_box(large.as_bytes())))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
