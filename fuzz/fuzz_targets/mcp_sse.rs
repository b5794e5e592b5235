//! The MCP proxy's `text/event-stream` parser: a stream gives the same
//! events however it is cut into chunks (one chunk, the cuts the input
//! asks for, one byte at a time), and the recorder turns the events of an
//! SSE response body into events the log accepts.
//!
//! Input: n (first byte, at most 32), n cut offsets (one byte each, scaled
//! to the stream), then the stream.
#![no_main]

use std::time::{Instant, SystemTime};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sealtrail_core::event::Event;
use sealtrail_mcp_proxy::jsonrpc::Side;
use sealtrail_mcp_proxy::mapping::Agent;
use sealtrail_mcp_proxy::recorder::{Ctx, Feed, Recorder};
use sealtrail_mcp_proxy::sse::SseParser;

fn run(chunks: &[&[u8]]) -> (Vec<String>, Option<String>) {
    let mut p = SseParser::default();
    let mut events = Vec::new();
    for c in chunks {
        events.extend(p.push(c));
    }
    (events, p.finish())
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n).min(32).min(rest.len());
    let (cuts, stream) = rest.split_at(n);
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|&c| usize::from(c) * stream.len() / 256)
        .collect();
    at.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for &a in &at {
        chunks.push(&stream[start..a]);
        start = a;
    }
    chunks.push(&stream[start..]);

    let whole = run(&[stream]);
    assert_eq!(run(&chunks), whole, "cut at {at:?}");
    if stream.len() <= 4096 {
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(run(&bytes), whole, "byte by byte");
    }

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let agent = Agent {
        id: "fuzz".into(),
        instance: "i".into(),
    };
    let mut recorder = Recorder::new(agent, "streamable_http", "s".into(), tx);
    let ctx = Ctx {
        exchange: 1,
        session: None,
        http: None,
    };
    // A request the SSE answers may pair with.
    recorder.handle(Feed::Message {
        origin: Side::Client,
        ctx: ctx.clone(),
        at: Instant::now(),
        wall: SystemTime::now(),
        bytes: Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add"}}"#,
        ),
    });
    for c in &chunks {
        recorder.handle(Feed::Body {
            ctx: ctx.clone(),
            at: Instant::now(),
            wall: SystemTime::now(),
            bytes: Bytes::copy_from_slice(c),
            sse: true,
        });
    }
    recorder.handle(Feed::BodyEnd {
        ctx,
        at: Instant::now(),
        wall: SystemTime::now(),
    });
    recorder.close();
    while let Ok(ev) = rx.try_recv() {
        if let Err(e) = Event::from_json_slice(&ev) {
            panic!(
                "the log refuses a recorded event ({e}): {}",
                String::from_utf8_lossy(&ev)
            );
        }
    }
});
