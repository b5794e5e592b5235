//! Property tests: whatever bytes either peer sends, the parsers on the
//! recording and policy paths answer with a value, never a panic, and the
//! recorder turns them into events the log accepts.

use std::time::{Instant, SystemTime};

use bytes::Bytes;
use proptest::prelude::*;
use sealtrail_core::event::Event;
use tokio::sync::mpsc;

use crate::jsonrpc::{self, Side};
use crate::mapping::Agent;
use crate::recorder::{Ctx, Feed, Recorder};
use crate::scope::Scope;
use crate::sse::SseParser;

/// JSON-RPC-shaped text with hostile corners: odd ids, huge numbers, deep
/// nesting, control characters, truncation.
fn message() -> impl Strategy<Value = Vec<u8>> {
    let id = prop_oneof![
        Just("1".to_string()),
        Just("\"a\"".to_string()),
        Just("null".to_string()),
        Just("18446744073709551615".to_string()),
        Just("1e400".to_string()),
        Just("{}".to_string()),
    ];
    let method = prop_oneof![
        Just("tools/call"),
        Just("tools\\/call"),
        Just("initialize"),
        Just("ping"),
        Just("notifications/cancelled"),
        Just("sampling/createMessage"),
    ];
    let value = prop_oneof![
        Just("{\"name\":\"add\",\"arguments\":{\"a\":1}}".to_string()),
        Just(format!("{}1{}", "[".repeat(120), "]".repeat(120))),
        Just("\"\\u0000\\ud800\"".to_string()),
        Just("{\"requestId\":1}".to_string()),
        "\\PC{0,40}".prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
    ];
    (id, method, value, any::<bool>(), 0usize..200).prop_map(|(id, method, v, answer, cut)| {
        let text = if answer {
            format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{v}}}")
        } else {
            format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"{method}\",\"params\":{v}}}")
        };
        let mut b = text.into_bytes();
        if cut > 0 && cut < b.len() {
            b.truncate(cut);
        }
        b
    })
}

proptest! {
    #[test]
    fn parsers_never_panic_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = jsonrpc::parse(&bytes);
        let _ = Scope::parse("add\nx*").judge(&bytes);
        let mut p = SseParser::default();
        let _ = p.push(&bytes);
        let _ = p.finish();
    }

    #[test]
    fn every_recorded_event_is_accepted_by_the_log(
        msgs in proptest::collection::vec((message(), any::<bool>()), 1..12)
    ) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let agent = Agent { id: "a".into(), instance: "i".into() };
        let mut r = Recorder::new(agent, "stdio", "s".into(), tx);
        for (m, from_client) in msgs {
            let origin = if from_client { Side::Client } else { Side::Server };
            r.handle(Feed::Message {
                origin,
                ctx: Ctx::default(),
                at: Instant::now(),
                wall: SystemTime::now(),
                bytes: Bytes::from(m),
            });
        }
        r.close();
        while let Ok(ev) = rx.try_recv() {
            prop_assert!(Event::from_json_slice(&ev).is_ok(), "{}", String::from_utf8_lossy(&ev));
        }
    }
}
