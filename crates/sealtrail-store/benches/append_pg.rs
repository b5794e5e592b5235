//! Store-only ingest ceiling of the PostgreSQL backend: benches/append.rs
//! (durable `append_batch` of synthetic sealed entries, ≈500-byte headers,
//! 1 KiB bodies) against `PgStore`, in a fresh schema dropped afterwards.
//!
//! Run: `cargo bench -p sealtrail-store --bench append_pg [-- BATCH TOTAL]`
//! against `SEALTRAIL_BENCH_DATABASE_URL` (default: the local socket,
//! user postgres, database test).

use std::time::Instant;

use sealtrail_core::hash::{leaf_hash, Hash};
use sealtrail_store::postgres::{PgOptions, PgStore};
use sealtrail_store::{Batch, EntryColumns, LogHead, NewEntry, Store, StreamHead};

/// Drops the bench schema, also when the bench panics.
struct DropSchema {
    url: String,
    schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        match postgres::Client::connect(&self.url, postgres::NoTls)
            .and_then(|mut c| c.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema)))
        {
            Ok(()) => {}
            Err(e) => eprintln!("cannot drop schema {}: {e}; drop it by hand", self.schema),
        }
    }
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let batch = args.first().copied().unwrap_or(4000);
    let total = args.get(1).copied().unwrap_or(400_000);
    let url = std::env::var("SEALTRAIL_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "host=/var/run/postgresql user=postgres dbname=test".into());
    let schema = format!("sealtrail_bench_{}", std::process::id());
    let _guard = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let store = PgStore::connect(
        &url,
        PgOptions {
            schema: schema.clone(),
            ..PgOptions::default()
        },
    )
    .expect("connect (set SEALTRAIL_BENCH_DATABASE_URL)");
    let header = vec![
        b'h';
        std::env::var("HDR")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(500)
    ];
    let body = vec![b'b'; 1024];
    let mut size = 0u64;
    let started = Instant::now();
    while size < total {
        let entries: Vec<NewEntry> = (size..size + batch)
            .map(|i| NewEntry {
                index: i,
                leaf_hash: leaf_hash(&i.to_be_bytes()),
                header: header.clone(),
                columns: EntryColumns {
                    time: 1_795_000_000_000_000 + i,
                    agent: format!("agent-{}", i % 100),
                    session: (std::env::var("NOSESS").is_err())
                        .then(|| format!("session-{}", i % 1000)),
                    kind: "tool_call".into(),
                    action: Some("lookup".into()),
                    tool: Some("crm.lookup".into()),
                    outcome: Some("success".into()),
                    event_id: (std::env::var("NOID").is_err()).then(|| format!("01JD{i:022}")),
                },
                body: body.clone(),
                salt: [7; 32],
            })
            .collect();
        let streams = (0..100)
            .map(|a| {
                (
                    format!("a:agent-{a}"),
                    StreamHead {
                        count: size + batch,
                        last: size + batch - 1,
                    },
                )
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
    println!(
        "append_batch (PostgreSQL): {total} entries in batches of {batch}: {secs:.2} s, {:.0} entries/s ({:.2} µs/entry)",
        total as f64 / secs,
        secs * 1e6 / total as f64
    );
}
