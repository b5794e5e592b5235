//! What decoding an OTLP export would cost, counted on the undecoded bytes.
//!
//! Decoding is where an export's size turns into memory: an empty span is
//! two bytes of protobuf (`0x12 0x00`) but a ~300-byte `Span` once decoded,
//! so a 16 MiB body of them is ~2.4 GB of allocations; an empty resource,
//! attribute or array value amplifies the same way. Before anything is
//! decoded, these walkers count the spans and every other repeated element
//! (the things a decoder allocates one of per few bytes of input) and stop
//! at the first one over the budget, allocating nothing themselves.
//!
//! The protobuf walker knows the OTLP trace schema (field numbers of the
//! repeated and nested messages); everything else is skipped by wire type.
//! It accepts every message `prost` accepts, and for a well-formed message
//! its counts equal those of the decoded message (tests below). The JSON
//! walker is a structural scan that needs no schema: every array element
//! is an element, and the elements of arrays under a `"spans"` key are
//! spans (the only place OTLP JSON uses that key); it checks brackets and
//! strings only, so it accepts every body serde_json accepts.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};

use crate::config::Limits;

/// Repeated elements allowed per span the request may hold (spans,
/// attributes, span events, links, resources, scopes, array values):
/// room for ~60 attributes, events and links on every span of a full
/// request. docs/decisions.md has the reasoning.
pub const ELEMENTS_PER_SPAN: usize = 64;

/// The element budget never goes below this, so a request limit of a few
/// spans still admits spans with many attributes.
pub const MIN_ELEMENTS: usize = 65_536;

/// Deeper than this is refused; prost itself stops at 100 levels, so no
/// message prost accepts is refused for its depth.
const MAX_DEPTH: u32 = 128;

/// How much one export may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub max_spans: usize,
    pub max_elements: usize,
}

impl Budget {
    /// The budget of one export under the server's request limits.
    pub fn for_limits(limits: &Limits) -> Budget {
        let max_spans = limits.max_events_per_request;
        Budget {
            max_spans,
            max_elements: max_spans
                .saturating_mul(ELEMENTS_PER_SPAN)
                .max(MIN_ELEMENTS),
        }
    }

    /// No limit: counts everything (tests, tools).
    pub const UNLIMITED: Budget = Budget {
        max_spans: usize::MAX,
        max_elements: usize::MAX,
    };
}

/// What an export holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub spans: usize,
    /// Every element of every repeated field, spans included.
    pub elements: usize,
}

/// Why an export is refused before it is decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    #[error("request holds more than {max} spans; the limit is {max} per request (--max-events-per-request): export smaller batches")]
    TooManySpans { max: usize },
    #[error("request holds more than {max} repeated elements (spans, attributes, span events, links, resources, scopes, array values); the limit is {max} per request: export smaller batches or fewer attributes per span")]
    TooManyElements { max: usize },
    #[error("{0}")]
    Malformed(String),
}

/// The messages of the OTLP trace schema that hold repeated fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Msg {
    Request,
    ResourceSpans,
    Resource,
    ScopeSpans,
    Scope,
    Span,
    SpanEvent,
    Link,
    KeyValue,
    AnyValue,
    ArrayValue,
    KeyValueList,
    EntityRef,
}

/// What a length-delimited field of a message is.
enum Field {
    /// One element of a repeated message field.
    Repeated(Msg),
    /// One element of a repeated string field.
    RepeatedString,
    /// A singular message that may hold repeated fields.
    Nested(Msg),
    /// Anything else: a string, bytes, a packed scalar, an unknown field.
    Other,
}

/// The OTLP trace schema (opentelemetry-proto 1.x field numbers), reduced
/// to the fields that lead to repeated elements.
fn field(msg: Msg, number: u64) -> Field {
    use Field::*;
    match (msg, number) {
        (Msg::Request, 1) => Repeated(Msg::ResourceSpans),
        (Msg::ResourceSpans, 1) => Nested(Msg::Resource),
        (Msg::ResourceSpans, 2) => Repeated(Msg::ScopeSpans),
        (Msg::Resource, 1) => Repeated(Msg::KeyValue),
        (Msg::Resource, 3) => Repeated(Msg::EntityRef),
        (Msg::ScopeSpans, 1) => Nested(Msg::Scope),
        (Msg::ScopeSpans, 2) => Repeated(Msg::Span),
        (Msg::Scope, 3) => Repeated(Msg::KeyValue),
        (Msg::Span, 9) => Repeated(Msg::KeyValue),
        (Msg::Span, 11) => Repeated(Msg::SpanEvent),
        (Msg::Span, 13) => Repeated(Msg::Link),
        (Msg::SpanEvent, 3) => Repeated(Msg::KeyValue),
        (Msg::Link, 4) => Repeated(Msg::KeyValue),
        (Msg::KeyValue, 2) => Nested(Msg::AnyValue),
        (Msg::AnyValue, 5) => Nested(Msg::ArrayValue),
        (Msg::AnyValue, 6) => Nested(Msg::KeyValueList),
        (Msg::ArrayValue, 1) => Repeated(Msg::AnyValue),
        (Msg::KeyValueList, 1) => Repeated(Msg::KeyValue),
        (Msg::EntityRef, 3 | 4) => RepeatedString,
        _ => Other,
    }
}

/// Counts an `ExportTraceServiceRequest` in protobuf wire format.
pub fn count_protobuf(bytes: &[u8], budget: Budget) -> Result<Counts, BudgetError> {
    let mut walk = Walk {
        budget,
        counts: Counts::default(),
        base: bytes.as_ptr() as usize,
    };
    walk.message(bytes, Msg::Request, 0)?;
    Ok(walk.counts)
}

struct Walk {
    budget: Budget,
    counts: Counts,
    /// Address of the body's first byte, to name offsets in errors.
    base: usize,
}

/// A cursor over one message's bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err("truncated varint".into());
            };
            self.pos += 1;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let left = self.buf.len() - self.pos;
        let n = usize::try_from(n)
            .ok()
            .filter(|n| *n <= left)
            .ok_or_else(|| format!("field length {n} runs past the end ({left} bytes left)"))?;
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

impl Walk {
    fn count(&mut self, span: bool) -> Result<(), BudgetError> {
        if span {
            if self.counts.spans >= self.budget.max_spans {
                return Err(BudgetError::TooManySpans {
                    max: self.budget.max_spans,
                });
            }
            self.counts.spans += 1;
        }
        if self.counts.elements >= self.budget.max_elements {
            return Err(BudgetError::TooManyElements {
                max: self.budget.max_elements,
            });
        }
        self.counts.elements += 1;
        Ok(())
    }

    fn malformed(&self, buf: &[u8], r: &Reader<'_>, why: String) -> BudgetError {
        // `buf` lies inside the body: its offset plus the cursor's is where
        // the problem is.
        let at = (buf.as_ptr() as usize).saturating_sub(self.base) + r.pos;
        BudgetError::Malformed(format!("{why}, at byte {at}"))
    }

    fn message(&mut self, buf: &[u8], msg: Msg, depth: u32) -> Result<(), BudgetError> {
        if depth > MAX_DEPTH {
            return Err(BudgetError::Malformed(format!(
                "messages nested more than {MAX_DEPTH} deep"
            )));
        }
        let mut r = Reader { buf, pos: 0 };
        while !r.done() {
            let key = r.varint().map_err(|e| self.malformed(buf, &r, e))?;
            let (number, wire) = split_key(key).map_err(|e| self.malformed(buf, &r, e))?;
            match wire {
                2 => {
                    let len = r.varint().map_err(|e| self.malformed(buf, &r, e))?;
                    let inner = r.take(len).map_err(|e| self.malformed(buf, &r, e))?;
                    match field(msg, number) {
                        Field::Repeated(m) => {
                            self.count(m == Msg::Span)?;
                            self.message(inner, m, depth + 1)?;
                        }
                        Field::RepeatedString => self.count(false)?,
                        Field::Nested(m) => self.message(inner, m, depth + 1)?,
                        Field::Other => {}
                    }
                }
                _ => skip(&mut r, number, wire, depth).map_err(|e| self.malformed(buf, &r, e))?,
            }
        }
        Ok(())
    }
}

/// A field key's number and wire type, refused where prost refuses it.
fn split_key(key: u64) -> Result<(u64, u8), String> {
    if key > u64::from(u32::MAX) {
        return Err(format!("field key {key} is out of range"));
    }
    let number = key >> 3;
    if number == 0 {
        return Err("field number 0".into());
    }
    Ok((number, (key & 7) as u8))
}

/// Skips one field that is not length-delimited (groups included).
fn skip(r: &mut Reader<'_>, number: u64, wire: u8, depth: u32) -> Result<(), String> {
    match wire {
        0 => r.varint().map(|_| ()),
        1 => r.take(8).map(|_| ()),
        5 => r.take(4).map(|_| ()),
        2 => {
            let len = r.varint()?;
            r.take(len).map(|_| ())
        }
        3 => {
            if depth >= MAX_DEPTH {
                return Err(format!("groups nested more than {MAX_DEPTH} deep"));
            }
            loop {
                if r.done() {
                    return Err(format!("group {number} is not closed"));
                }
                let (inner, w) = split_key(r.varint()?)?;
                if w == 4 {
                    if inner != number {
                        return Err(format!("group {number} closed by an end tag for {inner}"));
                    }
                    return Ok(());
                }
                skip(r, inner, w, depth + 1)?;
            }
        }
        4 => Err(format!("end-group tag for {number} outside a group")),
        w => Err(format!("invalid wire type {w} for field {number}")),
    }
}

/// JSON nested deeper than this is refused; serde_json itself stops at
/// 128, so nothing it accepts is refused for its depth.
const MAX_JSON_DEPTH: usize = 256;

/// Where the JSON scanner is.
#[derive(Clone, Copy)]
enum Frame {
    /// Inside an array; `spans` when it is the value of a `"spans"` key.
    Array { spans: bool },
    /// Inside an object; `key` while the next string is a key, and whether
    /// the last key was `"spans"`.
    Object { key: bool, spans: bool },
}

/// Counts an OTLP/JSON `ExportTraceServiceRequest` with a structural scan:
/// brackets, strings and commas only. It validates no more than that (no
/// UTF-8, escapes, numbers or literals), so it never refuses a body
/// serde_json accepts, not even one with invalid text in a field the
/// decoder ignores; whatever it does not check, serde_json refuses later.
/// Only unbalanced brackets and unterminated strings are `Malformed`.
pub fn count_json(bytes: &[u8], budget: Budget) -> Result<Counts, BudgetError> {
    let mut counts = Counts::default();
    let mut stack: Vec<Frame> = Vec::new();
    // True right after `[` or `,` inside an array: the next value starts
    // an element.
    let mut element_next = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() || b == b':' {
            i += 1;
            continue;
        }
        if b == b',' {
            match stack.last_mut() {
                Some(Frame::Array { .. }) => element_next = true,
                Some(Frame::Object { key, .. }) => *key = true,
                None => {}
            }
            i += 1;
            continue;
        }
        if matches!(b, b']' | b'}') {
            let closes = matches!(
                (b, stack.pop()),
                (b']', Some(Frame::Array { .. })) | (b'}', Some(Frame::Object { .. }))
            );
            if !closes {
                return Err(BudgetError::Malformed(format!(
                    "unexpected `{}` at byte {i}",
                    b as char
                )));
            }
            element_next = false;
            i += 1;
            continue;
        }
        // A value, or an object key.
        let is_key = matches!(stack.last(), Some(Frame::Object { key: true, .. }));
        if !is_key {
            if let (true, Some(Frame::Array { spans })) = (element_next, stack.last()) {
                let span = *spans;
                count_element(&mut counts, budget, span)?;
            }
            element_next = false;
        }
        match b {
            b'"' => {
                let end = string_end(bytes, i)?;
                if is_key {
                    let spans = unescaped_eq(&bytes[i + 1..end], b"spans");
                    if let Some(Frame::Object { key, spans: last }) = stack.last_mut() {
                        *key = false;
                        *last = spans;
                    }
                }
                i = end + 1;
            }
            b'[' | b'{' => {
                if stack.len() >= MAX_JSON_DEPTH {
                    return Err(BudgetError::Malformed(format!(
                        "JSON nested more than {MAX_JSON_DEPTH} deep"
                    )));
                }
                let under_spans = matches!(stack.last(), Some(Frame::Object { spans: true, .. }));
                stack.push(if b == b'[' {
                    element_next = true;
                    Frame::Array { spans: under_spans }
                } else {
                    Frame::Object {
                        key: true,
                        spans: false,
                    }
                });
                i += 1;
            }
            _ => {
                // A number or literal: up to the next structural byte.
                while i < bytes.len()
                    && !matches!(bytes[i], b',' | b']' | b'}' | b'"' | b'[' | b'{' | b':')
                    && !bytes[i].is_ascii_whitespace()
                {
                    i += 1;
                }
            }
        }
    }
    if let Some(open) = stack.last() {
        let what = match open {
            Frame::Array { .. } => "an array",
            Frame::Object { .. } => "an object",
        };
        return Err(BudgetError::Malformed(format!(
            "the body ends inside {what} (EOF at byte {})",
            bytes.len()
        )));
    }
    Ok(counts)
}

fn count_element(counts: &mut Counts, budget: Budget, span: bool) -> Result<(), BudgetError> {
    if span {
        if counts.spans >= budget.max_spans {
            return Err(BudgetError::TooManySpans {
                max: budget.max_spans,
            });
        }
        counts.spans += 1;
    }
    if counts.elements >= budget.max_elements {
        return Err(BudgetError::TooManyElements {
            max: budget.max_elements,
        });
    }
    counts.elements += 1;
    Ok(())
}

/// The index of the quote closing the string that opens at `start`.
fn string_end(bytes: &[u8], start: usize) -> Result<usize, BudgetError> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Ok(i),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    Err(BudgetError::Malformed(format!(
        "the string at byte {start} is not closed"
    )))
}

/// Whether JSON string contents `raw` (escapes not yet resolved) spell
/// `want` (ASCII), as a decoder that resolves escapes would read them.
fn unescaped_eq(raw: &[u8], want: &[u8]) -> bool {
    let mut got = want.iter();
    let mut i = 0;
    while i < raw.len() {
        let c = if raw[i] == b'\\' {
            let Some(&e) = raw.get(i + 1) else {
                return false;
            };
            i += 2;
            match e {
                b'u' => {
                    let Some(hex) = raw.get(i..i + 4) else {
                        return false;
                    };
                    i += 4;
                    let Some(code) = std::str::from_utf8(hex)
                        .ok()
                        .and_then(|h| u16::from_str_radix(h, 16).ok())
                    else {
                        return false;
                    };
                    match u8::try_from(code) {
                        Ok(c) if c.is_ascii() => c,
                        _ => return false,
                    }
                }
                b'"' | b'\\' | b'/' => e,
                // \b \f \n \r \t are not in `want`.
                _ => return false,
            }
        } else {
            i += 1;
            raw[i - 1]
        };
        if got.next() != Some(&c) {
            return false;
        }
    }
    got.next().is_none()
}

/// The counts of a decoded request, from its structure: what the walkers
/// must report for the bytes it was decoded from (tests, fuzzing).
pub fn count_decoded(req: &ExportTraceServiceRequest) -> Counts {
    fn kvs(kvs: &[KeyValue]) -> usize {
        kvs.len()
            + kvs
                .iter()
                .filter_map(|kv| kv.value.as_ref())
                .map(any)
                .sum::<usize>()
    }
    fn any(v: &AnyValue) -> usize {
        match &v.value {
            Some(Any::ArrayValue(a)) => a.values.len() + a.values.iter().map(any).sum::<usize>(),
            Some(Any::KvlistValue(l)) => kvs(&l.values),
            _ => 0,
        }
    }
    let mut c = Counts::default();
    for rs in &req.resource_spans {
        c.elements += 1;
        if let Some(r) = &rs.resource {
            c.elements += kvs(&r.attributes) + r.entity_refs.len();
            for e in &r.entity_refs {
                c.elements += e.id_keys.len() + e.description_keys.len();
            }
        }
        for ss in &rs.scope_spans {
            c.elements += 1;
            if let Some(s) = &ss.scope {
                c.elements += kvs(&s.attributes);
            }
            for span in &ss.spans {
                c.spans += 1;
                c.elements += 1 + kvs(&span.attributes) + span.events.len() + span.links.len();
                c.elements += span
                    .events
                    .iter()
                    .map(|e| kvs(&e.attributes))
                    .sum::<usize>();
                c.elements += span.links.iter().map(|l| kvs(&l.attributes)).sum::<usize>();
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{
        ArrayValue, EntityRef, InstrumentationScope, KeyValueList,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
    use proptest::prelude::*;
    use prost::Message;

    fn kv(key: &str, value: Any) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    /// A request touching every counted field.
    fn sample() -> ExportTraceServiceRequest {
        let nested = Any::KvlistValue(KeyValueList {
            values: vec![
                kv("a", Any::IntValue(1)),
                kv(
                    "b",
                    Any::ArrayValue(ArrayValue {
                        values: vec![
                            AnyValue {
                                value: Some(Any::BoolValue(true)),
                            },
                            AnyValue { value: None },
                        ],
                    }),
                ),
            ],
        });
        let span = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: "chat".into(),
            attributes: vec![
                kv("gen_ai.system", Any::StringValue("x".into())),
                kv("n", nested),
            ],
            events: vec![Event {
                name: "e".into(),
                attributes: vec![kv("k", Any::DoubleValue(1.5))],
                ..Default::default()
            }],
            links: vec![Link {
                trace_id: vec![3; 16],
                span_id: vec![4; 8],
                attributes: vec![kv("l", Any::BytesValue(vec![9]))],
                ..Default::default()
            }],
            status: Some(Status {
                message: "ok".into(),
                code: 1,
            }),
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", Any::StringValue("svc".into()))],
                    entity_refs: vec![EntityRef {
                        id_keys: vec!["service.name".into()],
                        description_keys: vec!["a".into(), "b".into()],
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "lib".into(),
                        attributes: vec![kv("s", Any::StringValue("v".into()))],
                        ..Default::default()
                    }),
                    spans: vec![span.clone(), span],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn small(max_spans: usize, max_elements: usize) -> Budget {
        Budget {
            max_spans,
            max_elements,
        }
    }

    /// A varint, as the wire format writes it.
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// Field `number` (length-delimited) holding `inner`.
    fn ld(number: u64, inner: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        varint(number << 3 | 2, &mut out);
        varint(inner.len() as u64, &mut out);
        out.extend_from_slice(inner);
        out
    }

    #[test]
    fn counts_match_the_decoded_message() {
        let req = sample();
        let bytes = req.encode_to_vec();
        let c = count_protobuf(&bytes, Budget::UNLIMITED).unwrap();
        assert_eq!(c, count_decoded(&req));
        assert_eq!(c.spans, 2);
        // 1 resource_spans, 1 attr, 1 entity ref + 3 keys, 1 scope_spans,
        // 1 scope attr, and per span: itself, 2 attrs + 2 kvlist entries +
        // 2 array values, 1 event + 1 attr, 1 link + 1 attr.
        assert_eq!(c.elements, 1 + 1 + 4 + 1 + 1 + 2 * 11);
        let json = serde_json::to_vec(&req).unwrap();
        assert_eq!(count_json(&json, Budget::UNLIMITED).unwrap(), c);
        assert_eq!(
            count_protobuf(b"", Budget::UNLIMITED).unwrap(),
            Counts::default()
        );
        assert_eq!(
            count_json(b"{}", Budget::UNLIMITED).unwrap(),
            Counts::default()
        );
    }

    #[test]
    fn a_flood_of_empty_spans_stops_at_the_first_span_over() {
        // One resource, one scope, then empty spans (`0x12 0x00`) for ~1 MiB.
        let spans = [0x12u8, 0x00].repeat(512 * 1024);
        let body = ld(1, &ld(2, &spans));
        let e = count_protobuf(&body, small(10, 1_000)).unwrap_err();
        assert_eq!(e, BudgetError::TooManySpans { max: 10 });
        assert!(e.to_string().contains("more than 10 spans"), "{e}");
        assert!(ExportTraceServiceRequest::decode(&body[..]).is_ok());
        // At the limit exactly, it passes.
        let ten = ld(1, &ld(2, &[0x12u8, 0x00].repeat(10)));
        assert_eq!(count_protobuf(&ten, small(10, 1_000)).unwrap().spans, 10);

        let json = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{}]}}]}}]}}"#,
            ["{}"; 11].join(",")
        );
        let e = count_json(json.as_bytes(), small(10, 1_000)).unwrap_err();
        assert_eq!(e, BudgetError::TooManySpans { max: 10 });
    }

    #[test]
    fn floods_of_other_empty_elements_hit_the_element_budget() {
        // Empty resource_spans: no span at all, but ~300 bytes each decoded.
        let body = [0x0au8, 0x00].repeat(100_000);
        assert_eq!(
            count_protobuf(&body, small(10, 1_000)).unwrap_err(),
            BudgetError::TooManyElements { max: 1_000 }
        );
        // Empty attributes on one span.
        let span = [0x4au8, 0x00].repeat(5_000);
        let body = ld(1, &ld(2, &ld(2, &span)));
        assert_eq!(
            count_protobuf(&body, small(10, 1_000)).unwrap_err(),
            BudgetError::TooManyElements { max: 1_000 }
        );
        let json = format!(r#"{{"resourceSpans":[{}]}}"#, ["{}"; 1_001].join(","));
        assert_eq!(
            count_json(json.as_bytes(), small(10, 1_000)).unwrap_err(),
            BudgetError::TooManyElements { max: 1_000 }
        );
    }

    #[test]
    fn the_budget_follows_the_request_limits() {
        let mut limits = Limits {
            max_events_per_request: 10_000,
            ..Limits::default()
        };
        assert_eq!(
            Budget::for_limits(&limits),
            small(10_000, 10_000 * ELEMENTS_PER_SPAN)
        );
        limits.max_events_per_request = 2;
        assert_eq!(Budget::for_limits(&limits), small(2, MIN_ELEMENTS));
        limits.max_events_per_request = usize::MAX;
        assert_eq!(Budget::for_limits(&limits).max_elements, usize::MAX);
    }

    #[test]
    fn malformed_bodies_are_named_and_never_accepted_by_prost_either() {
        let cases: &[&[u8]] = &[
            b"\x0a",             // key, no length
            b"\x0a\x05\x12",     // length past the end
            b"\x0a\x02\x12\x05", // nested length past its message
            b"\x00\x00",         // field number 0
            b"\x0f",             // wire type 7
            b"\x0c",             // end group outside a group
            b"\xa3\x06\x08\x01", // group 100 never closed
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
        ];
        for bytes in cases {
            let e = count_protobuf(bytes, Budget::UNLIMITED).unwrap_err();
            assert!(matches!(e, BudgetError::Malformed(_)), "{bytes:?}: {e:?}");
            assert!(
                ExportTraceServiceRequest::decode(*bytes).is_err(),
                "prost accepts {bytes:?}"
            );
        }
        let e = count_protobuf(b"\x0a\x05\x12", Budget::UNLIMITED).unwrap_err();
        assert!(e.to_string().contains("at byte 2"), "{e}");
        for (json, why) in [
            (&b"{\"resourceSpans\":["[..], "ends inside an array"),
            (b"{\"a\":\"b", "string at byte 5 is not closed"),
            (b"[}", "unexpected `}` at byte 1"),
        ] {
            let e = count_json(json, Budget::UNLIMITED).unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
            assert!(serde_json::from_slice::<ExportTraceServiceRequest>(json).is_err());
        }
        let deep = "[".repeat(300);
        let e = count_json(deep.as_bytes(), Budget::UNLIMITED).unwrap_err();
        assert!(e.to_string().contains("nested more than 256"), "{e}");
    }

    #[test]
    fn json_the_decoder_accepts_is_never_refused() {
        // Found by the `otlp` fuzz target: invalid UTF-8 (and other text
        // serde_json does not check) in a field the decoder ignores.
        let mut body = [
            &br#"{"ignored":{"k"#[..],
            &[0xa3],
            br#"":""#,
            &[0xff],
            br#"","s":"\ud800","n":1e400},"resourceSpans":[{"scopeSpans":[{"spans":[{},{}]}]}]}"#,
        ]
        .concat();
        let decoded: ExportTraceServiceRequest = serde_json::from_slice(&body).unwrap();
        let c = count_json(&body, Budget::UNLIMITED).unwrap();
        assert_eq!(c, count_decoded(&decoded));
        assert_eq!(
            c,
            Counts {
                spans: 2,
                elements: 4
            }
        );
        // An escaped key is still the `spans` key the decoder reads.
        body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{},{},{}]}]}]}"#.to_vec();
        let decoded: ExportTraceServiceRequest = serde_json::from_slice(&body).unwrap();
        assert_eq!(count_decoded(&decoded).spans, 3);
        assert_eq!(
            count_json(&body, small(2, 100)).unwrap_err(),
            BudgetError::TooManySpans { max: 2 }
        );
        // Strings holding brackets, quotes and commas are not structure.
        body = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"],[\\\",{","value":{"stringValue":"[[["}}]}}]}"#.to_vec();
        let decoded: ExportTraceServiceRequest = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            count_json(&body, Budget::UNLIMITED).unwrap(),
            count_decoded(&decoded)
        );
    }

    #[test]
    fn unknown_fields_and_groups_are_skipped_as_prost_does() {
        // Field 100 as a group holding a varint and a nested group, then
        // a fixed64 and a fixed32 unknown field, then one resource_spans.
        let mut body = vec![0xa3, 0x06, 0x08, 0x01, 0xab, 0x06, 0xac, 0x06, 0xa4, 0x06];
        body.extend([0x19, 1, 2, 3, 4, 5, 6, 7, 8, 0x25, 1, 2, 3, 4]);
        body.extend(ld(1, &ld(2, &ld(2, &[]))));
        assert!(ExportTraceServiceRequest::decode(&body[..]).is_ok());
        let c = count_protobuf(&body, Budget::UNLIMITED).unwrap();
        assert_eq!(
            c,
            Counts {
                spans: 1,
                elements: 3
            }
        );
        // Deep nesting is refused, never a stack overflow.
        let mut deep = Vec::new();
        for _ in 0..10_000 {
            // AnyValue.kvlist → KeyValueList.values → KeyValue.value → AnyValue …
            deep = ld(6, &ld(1, &ld(2, &deep)));
        }
        // … as the value of a span attribute.
        let deep = ld(1, &ld(2, &ld(2, &ld(9, &ld(2, &deep)))));
        let e = count_protobuf(&deep, Budget::UNLIMITED).unwrap_err();
        assert!(e.to_string().contains("nested more than 128 deep"), "{e}");
        assert!(ExportTraceServiceRequest::decode(&deep[..]).is_err());
    }

    fn any_value() -> impl Strategy<Value = AnyValue> {
        let leaf = prop_oneof![
            Just(None),
            "[a-z]{0,4}".prop_map(|s| Some(Any::StringValue(s))),
            any::<bool>().prop_map(|b| Some(Any::BoolValue(b))),
            any::<i64>().prop_map(|i| Some(Any::IntValue(i))),
            proptest::collection::vec(any::<u8>(), 0..4).prop_map(|b| Some(Any::BytesValue(b))),
        ]
        .prop_map(|value| AnyValue { value });
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4)
                    .prop_map(|values| Any::ArrayValue(ArrayValue { values })),
                proptest::collection::vec(("[a-z]{0,3}", inner), 0..4).prop_map(|kvs| {
                    Any::KvlistValue(KeyValueList {
                        values: kvs
                            .into_iter()
                            .map(|(key, v)| KeyValue {
                                key,
                                value: Some(v),
                                ..Default::default()
                            })
                            .collect(),
                    })
                }),
            ]
            .prop_map(|v| AnyValue { value: Some(v) })
        })
    }

    fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
        proptest::collection::vec(("[a-z.]{0,5}", proptest::option::of(any_value())), 0..4)
            .prop_map(|kvs| {
                kvs.into_iter()
                    .map(|(key, value)| KeyValue {
                        key,
                        value,
                        ..Default::default()
                    })
                    .collect()
            })
    }

    fn span() -> impl Strategy<Value = Span> {
        (
            attributes(),
            proptest::collection::vec(attributes(), 0..3),
            proptest::collection::vec(attributes(), 0..3),
            proptest::collection::vec(any::<u8>(), 0..17),
            "[a-z]{0,6}",
        )
            .prop_map(|(attributes, events, links, id, name)| Span {
                trace_id: id.clone(),
                span_id: id,
                name,
                attributes,
                events: events
                    .into_iter()
                    .map(|attributes| Event {
                        attributes,
                        ..Default::default()
                    })
                    .collect(),
                links: links
                    .into_iter()
                    .map(|attributes| Link {
                        attributes,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
    }

    fn request() -> impl Strategy<Value = ExportTraceServiceRequest> {
        let scope_spans = (
            proptest::option::of(attributes()),
            proptest::collection::vec(span(), 0..4),
        )
            .prop_map(|(scope, spans)| ScopeSpans {
                scope: scope.map(|attributes| InstrumentationScope {
                    attributes,
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            });
        let entity = (
            proptest::collection::vec("[a-z]{0,3}", 0..3),
            proptest::collection::vec("[a-z]{0,3}", 0..3),
        )
            .prop_map(|(id_keys, description_keys)| EntityRef {
                id_keys,
                description_keys,
                ..Default::default()
            });
        let resource_spans = (
            proptest::option::of((attributes(), proptest::collection::vec(entity, 0..2))),
            proptest::collection::vec(scope_spans, 0..3),
        )
            .prop_map(|(resource, scope_spans)| ResourceSpans {
                resource: resource.map(|(attributes, entity_refs)| Resource {
                    attributes,
                    entity_refs,
                    ..Default::default()
                }),
                scope_spans,
                ..Default::default()
            });
        proptest::collection::vec(resource_spans, 0..3)
            .prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn counts_equal_those_of_the_decoded_message(req in request()) {
            let bytes = req.encode_to_vec();
            let decoded = ExportTraceServiceRequest::decode(&bytes[..]).unwrap();
            let expected = count_decoded(&decoded);
            prop_assert_eq!(count_decoded(&req), expected);
            prop_assert_eq!(count_protobuf(&bytes, Budget::UNLIMITED).unwrap(), expected);
            let json = serde_json::to_vec(&req).unwrap();
            prop_assert_eq!(count_json(&json, Budget::UNLIMITED).unwrap(), expected);
            // Any budget below the counts refuses; at the counts it passes.
            let exact = small(expected.spans, expected.elements);
            prop_assert_eq!(count_protobuf(&bytes, exact).unwrap(), expected);
            if expected.spans > 0 {
                let under = small(expected.spans - 1, usize::MAX);
                prop_assert_eq!(
                    count_protobuf(&bytes, under).unwrap_err(),
                    BudgetError::TooManySpans { max: expected.spans - 1 }
                );
            }
            if expected.elements > 0 {
                let under = small(usize::MAX, expected.elements - 1);
                prop_assert!(count_protobuf(&bytes, under).is_err());
                prop_assert!(count_json(&json, under).is_err());
            }
        }

        #[test]
        fn never_panics_and_accepts_whatever_prost_accepts(
            req in request(),
            cuts in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            noise in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            // A valid message with a few bytes overwritten, or pure noise.
            let mut bytes = req.encode_to_vec();
            for (at, b) in &cuts {
                if !bytes.is_empty() {
                    let i = at.index(bytes.len());
                    bytes[i] = *b;
                }
            }
            for input in [&bytes[..], &noise[..]] {
                let walked = count_protobuf(input, Budget::UNLIMITED);
                if let Ok(decoded) = ExportTraceServiceRequest::decode(input) {
                    let walked = walked.unwrap();
                    let c = count_decoded(&decoded);
                    prop_assert_eq!(walked.spans, c.spans);
                    // A oneof set twice keeps the last value when decoded.
                    prop_assert!(walked.elements >= c.elements);
                }
                let _ = count_json(input, Budget::UNLIMITED);
            }
            // The same for OTLP/JSON with a few bytes overwritten.
            let mut json = serde_json::to_vec(&req).unwrap();
            for (at, b) in &cuts {
                if !json.is_empty() {
                    let i = at.index(json.len());
                    json[i] = *b;
                }
            }
            let walked = count_json(&json, Budget::UNLIMITED);
            if let Ok(decoded) = serde_json::from_slice::<ExportTraceServiceRequest>(&json) {
                let walked = walked.unwrap();
                let c = count_decoded(&decoded);
                prop_assert!(walked.spans >= c.spans);
                prop_assert!(walked.elements >= c.elements);
            }
        }
    }
}
