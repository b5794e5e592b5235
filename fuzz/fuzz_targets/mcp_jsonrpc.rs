//! The MCP proxy's JSON-RPC path: whatever an agent or a server sends, the
//! classifier answers without panicking, the scope policy judges it (and
//! any error response it writes is JSON), and every event the recorder
//! builds from it is accepted by the log's own strict event parser.
//!
//! Input: messages separated by the byte 0xFF; the first byte of each says
//! how it travels (low bits: client message, server message, server HTTP
//! body, a message the policy denied, the end of an HTTP exchange).
#![no_main]

use std::time::{Instant, SystemTime};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sealtrail_core::event::Event;
use sealtrail_mcp_proxy::jsonrpc::{self, Message, Parsed, Side};
use sealtrail_mcp_proxy::mapping::Agent;
use sealtrail_mcp_proxy::recorder::{Ctx, Feed, Recorder};
use sealtrail_mcp_proxy::scope::{Scope, Verdict};

fn check_message(m: &Message) {
    match m {
        Message::Request { id, .. } | Message::Response { id, .. } => {
            let _ = (id.key(), id.label());
        }
        Message::Error { id: Some(id), .. } => {
            let _ = (id.key(), id.label());
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let scope = Scope::parse("add\nsearch_*\nv?\n");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let agent = Agent {
        id: "fuzz".into(),
        instance: "i".into(),
    };
    let mut recorder = Recorder::new(agent, "streamable_http", "s".into(), tx);
    for part in data.split(|&b| b == 0xFF) {
        let Some((&how, bytes)) = part.split_first() else {
            continue;
        };
        match jsonrpc::parse(bytes) {
            Parsed::One(m) => check_message(&m),
            Parsed::Batch(items) => items.iter().flatten().for_each(check_message),
            Parsed::Malformed(why) => assert!(!why.is_empty()),
        }
        if let Verdict::Deny {
            response: Some(r), ..
        } = scope.judge(bytes)
        {
            serde_json::from_slice::<serde_json::Value>(&r).expect("a denial is JSON");
        }
        let ctx = Ctx {
            exchange: u64::from(how >> 4),
            session: (how & 8 != 0).then(|| "sess".into()),
            http: None,
        };
        let (at, wall, bytes) = (
            Instant::now(),
            SystemTime::now(),
            Bytes::copy_from_slice(bytes),
        );
        let feed = match how & 7 {
            0 | 5 => Feed::Message {
                origin: Side::Client,
                ctx,
                at,
                wall,
                bytes,
            },
            1 | 6 => Feed::Message {
                origin: Side::Server,
                ctx,
                at,
                wall,
                bytes,
            },
            2 => Feed::Body {
                ctx,
                at,
                wall,
                bytes,
                sse: false,
            },
            3 => Feed::Denied {
                ctx,
                at,
                wall,
                bytes,
                reason: "outside the scope".into(),
            },
            _ => Feed::BodyEnd { ctx, at, wall },
        };
        recorder.handle(feed);
    }
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
