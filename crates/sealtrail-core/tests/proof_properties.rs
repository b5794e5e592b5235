//! Property tests for RFC 9162 proofs: every generated proof verifies, and
//! every single-bit change to a proof hash, the leaf, the root, or the index
//! is rejected.
//!
//! The tree size is deliberately not in that list: RFC 9162 inclusion
//! verification alone does not bind the size (a proof for index 0 in a tree of
//! 6 recomputes the same root for a claimed size of 7). The size is bound by
//! the signed checkpoint that carries the root; `tests/notes_tamper.rs` flips
//! every bit of a tlog-proof, size line included, and sees each one rejected.

use proptest::prelude::*;
use sealtrail_core::hash::{leaf_hash, Hash};
use sealtrail_core::proof::{
    prove_consistency, prove_inclusion, tree_root, verify_consistency, verify_inclusion,
    MemoryTree, NodeSource,
};

const MAX: u64 = 3000;

fn tree() -> &'static MemoryTree {
    static TREE: std::sync::OnceLock<MemoryTree> = std::sync::OnceLock::new();
    TREE.get_or_init(|| {
        let mut t = MemoryTree::new();
        for i in 0..MAX {
            t.push(leaf_hash(&i.to_le_bytes()));
        }
        t
    })
}

fn flip(h: &Hash, bit: usize) -> Hash {
    let mut out = *h;
    out.0[bit / 8] ^= 1 << (bit % 8);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn inclusion_proofs_verify_and_every_bit_flip_is_rejected(size in 1..=MAX, i in any::<u64>(), bit in 0usize..256) {
        let t = tree();
        let index = i % size;
        let root = tree_root(t, size).unwrap();
        let leaf = t.node(0, index).unwrap();
        let path = prove_inclusion(t, index, size).unwrap();
        prop_assert!(verify_inclusion(index, size, &leaf, &path, &root).is_ok());

        prop_assert!(verify_inclusion(index, size, &flip(&leaf, bit), &path, &root).is_err());
        prop_assert!(verify_inclusion(index, size, &leaf, &path, &flip(&root, bit)).is_err());
        for k in 0..path.len() {
            let mut bad = path.clone();
            bad[k] = flip(&bad[k], bit);
            prop_assert!(verify_inclusion(index, size, &leaf, &bad, &root).is_err(), "hash {k}");
        }
        for b in 0..64 {
            let other = index ^ (1 << b);
            prop_assert!(verify_inclusion(other, size, &leaf, &path, &root).is_err(), "index bit {b}");
        }
        // Dropping, duplicating or appending a hash is a length error.
        if !path.is_empty() {
            prop_assert!(verify_inclusion(index, size, &leaf, &path[1..], &root).is_err());
        }
        let mut longer = path.clone();
        longer.push(root);
        prop_assert!(verify_inclusion(index, size, &leaf, &longer, &root).is_err());
    }

    #[test]
    fn consistency_proofs_verify_and_every_bit_flip_is_rejected(to in 2..=MAX, f in any::<u64>(), bit in 0usize..256) {
        let t = tree();
        let from = 1 + f % (to - 1);
        let (r1, r2) = (tree_root(t, from).unwrap(), tree_root(t, to).unwrap());
        let path = prove_consistency(t, from, to).unwrap();
        prop_assert!(verify_consistency(from, to, &r1, &r2, &path).is_ok());

        prop_assert!(verify_consistency(from, to, &flip(&r1, bit), &r2, &path).is_err());
        prop_assert!(verify_consistency(from, to, &r1, &flip(&r2, bit), &path).is_err());
        for k in 0..path.len() {
            let mut bad = path.clone();
            bad[k] = flip(&bad[k], bit);
            prop_assert!(verify_consistency(from, to, &r1, &r2, &bad).is_err(), "hash {k}");
        }
        let mut longer = path.clone();
        longer.push(r2);
        prop_assert!(verify_consistency(from, to, &r1, &r2, &longer).is_err());
    }
}
