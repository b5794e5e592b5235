//! The synthetic workload both store benches write: sealed-looking entries
//! of ≈500-byte headers (`HDR` overrides) and 1 KiB bodies, 100 agents,
//! 1,000 sessions live at a time, each 20 entries long (`NOSESS=1`: none),
//! unique event ids (`NOID=1`: none), 6 kinds and tools, 4 outcomes, data
//! classes on one entry in ten: every query index has many values to keep.

use std::time::Instant;

use sealtrail_core::hash::{leaf_hash, Hash};
use sealtrail_store::{Batch, EntryColumns, LogHead, NewEntry, Store, StreamHead};

/// `[BATCH TOTAL]` from the command line (defaults 4,000 and 400,000).
pub fn sizes() -> (u64, u64) {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    (
        args.first().copied().unwrap_or(4000),
        args.get(1).copied().unwrap_or(400_000),
    )
}

/// Appends `total` entries in batches of `batch`; prints and returns entries/s.
pub fn fill(store: &dyn Store, label: &str, batch: u64, total: u64) -> f64 {
    let header_len = std::env::var("HDR")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let header = vec![b'h'; header_len];
    let body = vec![b'b'; 1024];
    let sessions = std::env::var("NOSESS").is_err();
    let ids = std::env::var("NOID").is_err();
    let mut size = 0u64;
    let started = Instant::now();
    while size < total {
        let entries: Vec<NewEntry> = (size..size + batch)
            .map(|i| NewEntry {
                index: i,
                leaf_hash: leaf_hash(&i.to_be_bytes()),
                header: header.clone(),
                columns: columns(i, sessions, ids),
                body: body.clone(),
                salt: [7; 32],
            })
            .collect();
        let streams = (0..100)
            .map(|a| {
                let head = StreamHead {
                    count: size + batch,
                    last: size + batch - 1,
                };
                (format!("a:agent-{a}"), head)
            })
            .collect();
        let b = Batch {
            expected_size: size,
            entries,
            nodes: Vec::new(),
            streams,
            seqs: Vec::new(),
            head: LogHead {
                size: size + batch,
                root: Hash::default(),
                frontier: Vec::new(),
                last_time: 0,
                last_leaf: None,
            },
        };
        store.append_batch(&b).expect("append");
        size += batch;
    }
    let secs = started.elapsed().as_secs_f64();
    let rate = total as f64 / secs;
    println!(
        "append_batch ({label}): {total} entries in batches of {batch}: {secs:.2} s, {rate:.0} entries/s ({:.2} µs/entry)",
        secs * 1e6 / total as f64
    );
    rate
}

const KINDS: [&str; 6] = [
    "tool_call",
    "model_call",
    "decision",
    "data_access",
    "guardrail",
    "human_review",
];
const TOOLS: [&str; 6] = [
    "orders.search",
    "customer.read",
    "refund.issue",
    "email.send",
    "db.query",
    "file.read",
];
const OUTCOMES: [&str; 4] = ["success", "success", "failure", "denied"];

/// The query columns of synthetic entry `i`.
fn columns(i: u64, sessions: bool, ids: bool) -> EntryColumns {
    // Session names as clients make them (no order): one of 1,000 live
    // sessions, replaced by a new one every 20 of its entries.
    let live = i % 1000;
    let generation = i / 20_000;
    EntryColumns {
        time: 1_795_000_000_000_000 + i,
        agent: format!("agent-{}", i % 100),
        session: sessions.then(|| {
            format!(
                "session-{:x}",
                (generation * 1000 + live) * 2_654_435_761 % (1 << 32)
            )
        }),
        kind: KINDS[(i % 6) as usize].into(),
        action: Some(format!("act.{}", i % 7)),
        tool: (i % 6 == 0).then(|| TOOLS[(i / 6 % 6) as usize].into()),
        outcome: Some(OUTCOMES[(i % 4) as usize].into()),
        event_id: ids.then(|| format!("01JD{i:022}")),
        data_classes: if i % 10 == 0 {
            vec!["pii".into()]
        } else {
            Vec::new()
        },
        ..EntryColumns::default()
    }
}
