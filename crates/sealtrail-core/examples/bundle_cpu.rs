//! Bundle verification cost in CPU time per entry, beside SHA-256 of the
//! same headers: a companion to `benches/bundle.rs` for busy machines,
//! where wall-clock figures swing with other load but the CPU time a
//! thread was given, and the ratio to SHA-256 measured in the same run,
//! stay steady. Linux only (reads /proc/thread-self/stat, 10 ms ticks).
//!
//! Run: `cargo run --release -p sealtrail-core --example bundle_cpu [ENTRIES]`

use std::collections::HashMap;

use sealtrail_core::bundle::synthetic::SyntheticLog;
use sealtrail_core::bundle::{entries_members, Member, Members, Verifier};
use sealtrail_core::filter::EventFilter;
use sealtrail_core::hash::leaf_hash;
use sealtrail_core::note::NoteVerifier;

/// This thread's user + system CPU time in seconds.
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rfind(')')
        .map(|p| stat[p + 2..].split(' ').collect())
        .unwrap_or_default();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / 100.0
}

struct Map(HashMap<String, Vec<u8>>);

impl Members for Map {
    fn get(&mut self, name: &str) -> Member<'_> {
        self.0
            .get(name)
            .map_or(Member::Absent, |b| Member::Present(b))
    }
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let mut log = SyntheticLog::new("bench.example/log").expect("key");
    for i in 0..n {
        let agent = ["bot", "other", "third"][(i % 3) as usize];
        log.append(agent, Some("s"), "tool_call", 1_000_000 + i)
            .expect("append");
    }
    let vkey = log.verifier();
    let trusted = [&vkey as &dyn NoteVerifier];
    for (name, query) in [
        ("time range, all entries", EventFilter::default()),
        (
            "agent stream (1 in 3)",
            EventFilter {
                agent: Some("bot".into()),
                ..EventFilter::default()
            },
        ),
    ] {
        for version in [1u64, 2] {
            let members = if version == 1 {
                log.bundle_v1(&query, false)
            } else {
                log.bundle(&query, false)
            };
            let mut map = Map(members.expect("bundle").into_iter().collect());
            // The entries members, in order, taken out of the map.
            let names = entries_members(map.0.keys());
            let members: Vec<(String, Vec<u8>)> = names
                .into_iter()
                .map(|k| {
                    let b = map.0.remove(&k).unwrap_or_default();
                    (k, b)
                })
                .collect();
            let count = members
                .iter()
                .map(|(_, b)| b.iter().filter(|&&c| c == b'\n').count())
                .sum::<usize>() as f64;
            for _ in 0..3 {
                let start = cpu();
                let mut x = 0u8;
                for e in log
                    .entries
                    .iter()
                    .step_by(if query.agent.is_some() { 3 } else { 1 })
                {
                    x ^= leaf_hash(&e.bytes).0[0];
                }
                let sha = (cpu() - start) * 1e6 / count;
                let start = cpu();
                let mut v = Verifier::new(&mut map, &trusted);
                for (member, bytes) in &members {
                    v.start_member();
                    for l in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                        v.line(l, member, &mut map);
                    }
                }
                let report = v.finish();
                let verify = (cpu() - start) * 1e6 / count;
                assert!(report.ok(), "{:?}", report.failures.first());
                println!(
                    "{name}, format v{version}: {count} entries, verify {verify:.2} µs/entry ({:.0} k entries/s per core), SHA-256 of the headers alone {sha:.2} µs/entry, ratio {:.1} ({x})",
                    1e3 / verify,
                    verify / sha
                );
            }
        }
    }
}
