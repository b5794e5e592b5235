//! Work before decoding is bounded: a request with too many events, spans or
//! other repeated elements is refused while it is being counted, without the
//! decoder allocating anything per element. Measured with a counting global
//! allocator (the peak of live heap bytes while the request is handled), so
//! the assertions are about memory, never about time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use axum::http::uri::PathAndQuery;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::bytes::BufMut;
use prost::Message;
use sealtrail_server::config::Limits;
use sealtrail_server::http::otlp::budget::Budget;
use sealtrail_server::http::otlp::http::{decode as decode_otlp, Encoding};
use sealtrail_server::pipeline::decode::{decode, Framing, PrepareWith};
use sealtrail_testkit::TestServer;

/// The system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counters are
// only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grow = new_size - layout.size();
                let now = LIVE.fetch_add(grow, Ordering::Relaxed) + grow;
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// One measurement at a time (plain `cargo test` runs tests on threads).
static MEASURING: Mutex<()> = Mutex::new(());

/// Starts a measurement: the peak from here on, above what is live now.
fn baseline() -> usize {
    let now = LIVE.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

fn growth_since(base: usize) -> usize {
    PEAK.load(Ordering::Relaxed).saturating_sub(base)
}

const MIB: usize = 1 << 20;

/// What decoding may hold at its peak besides the body itself: the
/// default limit of 10,000 slots and some scratch, nowhere near one
/// allocation per element of a multi-MiB body.
const BOUND: usize = 2 * MIB;

#[test]
fn json_and_ndjson_floods_are_refused_while_counting() {
    let _one = MEASURING.lock().unwrap_or_else(|p| p.into_inner());
    let max = Limits::default().max_events_per_request;
    let with = PrepareWith {
        max_event_bytes: 1 << 20,
        sensitive: None,
    };
    // 4 MiB: ~1.4 million `{}` events, or lines.
    let array = format!("[{}]", ["{}"; 1_400_000].join(","));
    let lines = "{}\n".repeat(1_400_000);
    for (body, framing) in [
        (array.as_bytes(), Framing::Json),
        (lines.as_bytes(), Framing::Ndjson),
    ] {
        let base = baseline();
        let answer = decode(body, framing, max, with);
        let grew = growth_since(base);
        eprintln!(
            "{framing:?}: {} bytes, peak heap growth {grew} bytes",
            body.len()
        );
        assert!(
            grew < BOUND,
            "{framing:?}: decoding a refused {} MiB body held {grew} bytes at its peak",
            body.len() / MIB
        );
        let e = answer.unwrap_err();
        assert_eq!(e.status, 413, "{framing:?}");
        assert!(
            e.body.message.contains(&format!("more than {max} events")),
            "{}",
            e.body.message
        );
    }
}

/// `n` empty spans (`0x12 0x00` each) in one scope of one resource.
fn empty_spans(n: usize) -> Vec<u8> {
    fn ld(number: u8, inner: &[u8]) -> Vec<u8> {
        let mut out = vec![number << 3 | 2];
        let mut len = inner.len();
        while len >= 0x80 {
            out.push((len as u8) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(inner);
        out
    }
    ld(1, &ld(2, &[0x12u8, 0x00].repeat(n)))
}

#[test]
fn otlp_http_floods_are_refused_before_decoding() {
    let _one = MEASURING.lock().unwrap_or_else(|p| p.into_inner());
    let budget = Budget::for_limits(&Limits::default());
    // 4 MiB of protobuf: 2 million empty spans (~600 MB once decoded).
    let proto = empty_spans(2 << 20);
    // 4 MiB of OTLP/JSON: ~1.4 million empty spans.
    let json = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{}]}}]}}]}}"#,
        ["{}"; 1_400_000].join(",")
    );
    // The same with no span at all: 1.4 million empty resources.
    let resources = format!(r#"{{"resourceSpans":[{}]}}"#, ["{}"; 1_400_000].join(","));
    for (body, encoding, code) in [
        (&proto[..], Encoding::Protobuf, "too_many_spans"),
        (json.as_bytes(), Encoding::Json, "too_many_spans"),
        (resources.as_bytes(), Encoding::Json, "too_many_elements"),
    ] {
        let base = baseline();
        let answer = decode_otlp(encoding, body, budget).map(|_| ());
        let grew = growth_since(base);
        eprintln!(
            "{encoding:?} ({code}): {} bytes, peak heap growth {grew} bytes",
            body.len()
        );
        assert!(
            grew < BOUND,
            "{encoding:?} ({code}): decoding a refused {} MiB body held {grew} bytes at its peak",
            body.len() / MIB
        );
        let e = answer.unwrap_err();
        assert_eq!(e.status, 413, "{encoding:?}: {}", e.body.message);
        assert_eq!(e.body.code, code);
    }
}

/// Sends pre-encoded bytes as the Export message.
#[derive(Clone, Copy)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = ExportTraceServiceResponse;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<ExportTraceServiceResponse>, tonic::Status> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

#[test]
fn grpc_span_floods_from_a_valid_key_are_refused_before_decoding() {
    let _one = MEASURING.lock().unwrap_or_else(|p| p.into_inner());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(grpc_flood());
}

async fn grpc_flood() {
    let srv =
        TestServer::start_with(|o| o.otlp_grpc_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let addr = srv.running.as_ref().unwrap().otlp_grpc_addr.unwrap();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel).max_encoding_message_size(usize::MAX);
    let path =
        PathAndQuery::from_static("/opentelemetry.proto.collector.trace.v1.TraceService/Export");
    let call = |body: Vec<u8>| with_key(body, &srv.key);

    // A small export goes through: the service works.
    grpc.ready().await.unwrap();
    let ok = grpc
        .unary(call(Vec::new()), path.clone(), RawCodec)
        .await
        .unwrap();
    assert_eq!(ok.into_inner().partial_success, None);

    // 4 MiB, 2 million empty spans: the client's copies and the server's
    // receive buffer are a few times 4 MiB; one allocation per span would be
    // ~600 MB.
    let flood = empty_spans(2 << 20);
    let size = flood.len();
    let base = baseline();
    grpc.ready().await.unwrap();
    let e = grpc
        .unary(call(flood), path.clone(), RawCodec)
        .await
        .unwrap_err();
    let grew = growth_since(base);
    eprintln!("gRPC: {size} bytes, peak heap growth {grew} bytes (client and server)");
    assert!(
        grew < 8 * size,
        "a refused {size}-byte export held {grew} bytes at its peak"
    );
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("more than 10000 spans"),
        "{}",
        e.message()
    );

    // Without a valid key the message is not even read: refused from the
    // metadata, for less than the client's own copy of the body.
    for key in [None, Some("stk_not-a-key")] {
        let flood = empty_spans(2 << 20);
        let req = match key {
            Some(k) => with_key(flood, k),
            None => tonic::Request::new(flood),
        };
        let base = baseline();
        grpc.ready().await.unwrap();
        let e = grpc.unary(req, path.clone(), RawCodec).await.unwrap_err();
        let grew = growth_since(base);
        eprintln!("gRPC without a valid key: {size} bytes, peak heap growth {grew} bytes");
        assert!(
            grew < 2 * size,
            "an unauthenticated {size}-byte export held {grew} bytes at its peak"
        );
        assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e:?}");
    }
}

fn with_key(body: Vec<u8>, key: &str) -> tonic::Request<Vec<u8>> {
    let mut req = tonic::Request::new(body);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    req
}

/// A request whose 16 MiB body never arrives (16 bytes of it are sent, then
/// the client waits): without a valid key it is answered at once, which it
/// could not be if any of its body were awaited before the key is checked.
#[test]
fn unauthenticated_http_requests_are_answered_without_waiting_for_their_body() {
    use std::io::{Read, Write};
    let _one = MEASURING.lock().unwrap_or_else(|p| p.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let srv = rt.block_on(TestServer::start());
    let addr = srv.url.trim_start_matches("http://").to_string();
    for (path, content_type) in [
        ("/v1/events", "application/json"),
        ("/v1/events", "application/x-ndjson"),
        ("/v1/traces", "application/x-protobuf"),
        ("/v1/traces", "application/json"),
    ] {
        for auth in ["", "Authorization: Bearer stk_0123456789abcdef_wrong\r\n"] {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n\
                 Content-Length: {}\r\n{auth}\r\n",
                16 << 20
            );
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(b"[{}, {}, {}, {},").unwrap();
            let mut answer = [0u8; 12];
            s.read_exact(&mut answer)
                .unwrap_or_else(|e| panic!("{path} {content_type}: no answer: {e}"));
            assert_eq!(&answer, b"HTTP/1.1 401", "{path} {content_type} {auth:?}");
        }
    }
    drop(srv);
}
