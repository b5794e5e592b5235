//! Criterion benchmarks for the integrity core: leaf appends, proof
//! generation and verification, next to raw SHA-256 on the same machine so
//! every figure can be read as a fraction of the hashing limit.
//!
//! Run: `cargo bench -p sealtrail-core --bench core`

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

criterion_group!(benches, sha256_raw, append, proofs);
criterion_main!(benches);
