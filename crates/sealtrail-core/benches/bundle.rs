//! Offline verification throughput of evidence bundles (docs/benchmarks.md,
//! "Bundle verification"): a synthetic log of `BUNDLE_ENTRIES` entries
//! (default 200,000), verified from members held in memory (no ZIP), next
//! to raw SHA-256 on the same core so the figure reads as a ratio.
//!
//! Run: `cargo bench -p sealtrail-core --bench bundle`
//! (`BUNDLE_ENTRIES=1000000` for a larger log).

use std::collections::HashMap;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use sealtrail_core::bundle::synthetic::SyntheticLog;
use sealtrail_core::bundle::{entries_members, Member, Members, Verifier};
use sealtrail_core::filter::EventFilter;
use sealtrail_core::hash::{leaf_hash, node_hash, sha256};
use sealtrail_core::note::NoteVerifier;

/// FNV-1a: the member lookup should not be what is measured.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        self.0 = h;
    }
}

type FnvMap = HashMap<String, Vec<u8>, std::hash::BuildHasherDefault<Fnv>>;

struct Map(FnvMap);

impl Members for Map {
    fn get(&mut self, name: &str) -> Member<'_> {
        match self.0.get(name) {
            Some(b) => Member::Present(b),
            None => Member::Absent,
        }
    }
}

fn entries() -> u64 {
    std::env::var("BUNDLE_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

fn bench(c: &mut Criterion) {
    let n = entries();
    let mut log = SyntheticLog::new("bench.example/log").expect("key");
    for i in 0..n {
        let agent = ["bot", "other", "third"][(i % 3) as usize];
        log.append(agent, Some("s"), "tool_call", 1_000_000 + i)
            .expect("append");
    }
    let vkey = log.verifier();
    let trusted = [&vkey as &dyn NoteVerifier];
    let cases = [
        ("range_all_headers", EventFilter::default(), false),
        (
            "agent_third_headers",
            EventFilter {
                agent: Some("bot".into()),
                ..EventFilter::default()
            },
            false,
        ),
        ("range_all_bodies", EventFilter::default(), true),
    ];
    let mut g = c.benchmark_group("bundle_verify");
    g.sample_size(10);
    for (name, query, bodies) in cases {
        for version in [1u64, 2] {
            let members = if version == 1 {
                log.bundle_v1(&query, bodies)
            } else {
                log.bundle(&query, bodies)
            };
            let mut map = Map(members.expect("bundle").into_iter().collect());
            let names = entries_members(map.0.keys());
            let chunks: Vec<(String, Vec<u8>)> = names
                .into_iter()
                .map(|k| {
                    let b = map.0.remove(&k).unwrap_or_default();
                    (k, b)
                })
                .collect();
            let count: u64 = chunks
                .iter()
                .map(|(_, b)| b.iter().filter(|&&c| c == b'\n').count() as u64)
                .sum();
            g.throughput(Throughput::Elements(count));
            g.bench_function(format!("{name}_v{version}"), |b| {
                b.iter(|| {
                    let mut v = Verifier::new(&mut map, &trusted);
                    for (member, bytes) in &chunks {
                        v.start_member();
                        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                            v.line(line, member, &mut map);
                        }
                    }
                    let r = v.finish();
                    assert!(r.ok(), "{:?}", &r.failures[..r.failures.len().min(3)]);
                    black_box(r.proven)
                })
            });
        }
    }
    g.finish();

    // The physical limit the figures above are read against.
    let mut g = c.benchmark_group("bundle_sha256_reference");
    let header = vec![b'x'; 420];
    g.throughput(Throughput::Elements(1));
    g.bench_function("leaf_hash_420B", |b| {
        b.iter(|| leaf_hash(black_box(&header)))
    });
    let (x, y) = (sha256(b"a"), sha256(b"b"));
    g.bench_function("node_hash", |b| {
        b.iter(|| node_hash(black_box(&x), black_box(&y)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
