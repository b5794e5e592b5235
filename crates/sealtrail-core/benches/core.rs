//! Criterion benchmarks for the integrity core: leaf appends, proof
//! generation and verification, next to raw SHA-256 on the same machine so
//! every figure can be read as a fraction of the hashing limit.
//!
//! Run: `cargo bench -p sealtrail-core --bench core` (`-- jcs` for the
//! canonicalisation figures alone).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sealtrail_core::frontier::Frontier;
use sealtrail_core::hash::{leaf_hash, node_hash, sha256, Hash};
use sealtrail_core::proof::{
    prove_consistency, prove_inclusion, tree_root, verify_consistency, verify_inclusion, MemoryTree,
};

const SIZE: u64 = 1 << 20;

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
}

fn sha256_raw(c: &mut Criterion) {
    let mut g = c.benchmark_group("sha256");
    for len in [64usize, 1024, 8192] {
        let data = vec![0xa5u8; len];
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_with_input(BenchmarkId::from_parameter(len), &data, |b, d| {
            b.iter(|| sha256(black_box(d)))
        });
    }
    let (a, b2) = (sha256(b"a"), sha256(b"b"));
    g.throughput(Throughput::Elements(1));
    g.bench_function("node_hash", |b| {
        b.iter(|| node_hash(black_box(&a), black_box(&b2)))
    });
    g.finish();
}

fn append(c: &mut Criterion) {
    let input = leaves(SIZE);
    let mut g = c.benchmark_group("frontier");
    g.throughput(Throughput::Elements(SIZE));
    g.sample_size(10);
    g.bench_function("append_1Mi_leaves", |b| {
        b.iter(|| {
            let mut f = Frontier::new();
            for h in &input {
                f.append(*h);
            }
            black_box(f.root())
        })
    });
    // The sequencer's real work per event: hash a ~400-byte header into a
    // leaf, then append it.
    let header = vec![b'x'; 400];
    g.throughput(Throughput::Elements(1));
    g.sample_size(50);
    g.bench_function("leaf_hash_400B_and_append", |b| {
        let mut f = Frontier::new();
        b.iter(|| f.append(leaf_hash(black_box(&header))))
    });
    g.finish();
}

fn proofs(c: &mut Criterion) {
    let mut tree = MemoryTree::new();
    for h in leaves(SIZE) {
        tree.push(h);
    }
    let size = SIZE - 12_345; // a ragged right edge, the common case
    let root = tree_root(&tree, size).unwrap();
    let mut g = c.benchmark_group("proofs");
    g.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    g.bench_function("inclusion_generate", |b| {
        b.iter(|| {
            i = (i + 7919) % size;
            prove_inclusion(&tree, black_box(i), size).unwrap()
        })
    });
    let index: u64 = 777_777;
    let leaf = leaf_hash(&index.to_be_bytes());
    let path = prove_inclusion(&tree, index, size).unwrap();
    g.bench_function("inclusion_verify", |b| {
        b.iter(|| verify_inclusion(black_box(index), size, &leaf, &path, &root).unwrap())
    });
    let from = 500_001;
    let from_root = tree_root(&tree, from).unwrap();
    g.bench_function("consistency_generate", |b| {
        b.iter(|| prove_consistency(&tree, black_box(from), size).unwrap())
    });
    let cpath = prove_consistency(&tree, from, size).unwrap();
    g.bench_function("consistency_verify", |b| {
        b.iter(|| verify_consistency(black_box(from), size, &from_root, &root, &cpath).unwrap())
    });
    g.finish();
}

/// 4,096 doubles of every shape the ES formatter distinguishes: integers,
/// short and long fractions, tiny and huge magnitudes (exponent form).
fn doubles() -> Vec<f64> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..4096)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            match i % 4 {
                0 => (u * 1e6).round(),
                1 => (u * 1e4 * 100.0).round() / 100.0,
                2 => u * 1000.0,
                _ => u * 10f64.powi((i % 40) - 20),
            }
        })
        .collect()
}

/// RFC 8785 canonicalisation: the number formatter alone, a number-heavy
/// document, and a typical event (strings, a few integers).
fn jcs(c: &mut Criterion) {
    use sealtrail_core::jcs::{to_canonical_vec, write_f64};
    let mut g = c.benchmark_group("jcs");
    let nums = doubles();
    g.throughput(Throughput::Elements(nums.len() as u64));
    g.bench_function("write_f64_4096", |b| {
        let mut out = Vec::with_capacity(1 << 16);
        b.iter(|| {
            out.clear();
            for &f in &nums {
                write_f64(black_box(f), &mut out).unwrap();
            }
            out.len()
        })
    });
    // The I-JSON policy refuses plain integers past 2^53: keep to what it takes.
    let allowed = |f: &&f64| f.abs() <= 9.0e15 || f.abs() >= 1e21;
    let doc = serde_json::json!({
        "metrics": nums.iter().filter(allowed).take(256).map(|&f| serde_json::json!({"v": f, "w": f / 3.0})).collect::<Vec<_>>()
    });
    g.throughput(Throughput::Elements(512));
    g.bench_function("canonical_512_numbers", |b| {
        b.iter(|| to_canonical_vec(black_box(&doc)).unwrap())
    });
    let event = serde_json::json!({
        "id": "0b5c7d1e-6f3a-4c2b-9e8d-1a2b3c4d5e6f",
        "agent": {"id": "billing-agent", "instance": "i-7"},
        "session": "s-2026-11-22-0001",
        "seq": 41,
        "kind": "tool_call",
        "action": "refund",
        "outcome": "success",
        "tool": {"name": "stripe.refund", "arguments": {"charge": "ch_3Nx", "amount": 1299, "currency": "eur", "ratio": 0.25}},
        "usage": {"input_tokens": 812, "output_tokens": 64, "cost_usd": 0.00431},
        "data_classes": ["pci"],
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("canonical_event", |b| {
        b.iter(|| to_canonical_vec(black_box(&event)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, sha256_raw, append, proofs, jcs);
criterion_main!(benches);
