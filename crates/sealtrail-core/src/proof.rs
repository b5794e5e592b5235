//! Merkle inclusion and consistency proofs: generation from any source of
//! complete-subtree hashes, and verification exactly as RFC 9162 §2.1.3.2 and
//! §2.1.4.2 specify.
//!
//! Generation follows the recursive definitions of RFC 9162 §2.1.3.1 and
//! §2.1.4.1. Every range the recursion touches is either a complete
//! (power-of-two, aligned) subtree, read with one [`NodeSource::node`] call, or
//! the single ragged right edge of the tree, which is folded from at most
//! 64 complete subtrees. A proof therefore costs O(log n) node reads.

use crate::hash::{node_hash, Hash};

/// Anything that can return the hash of a complete subtree: a tile store, an
/// in-memory tree, a cache.
pub trait NodeSource {
    type Error;

    /// Hash of the complete subtree of `2^level` leaves that starts at leaf
    /// `index << level`. Callers only ask for subtrees that lie inside the
    /// tree they are proving against.
    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

/// Why a proof could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProveError<E> {
    #[error("index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("cannot prove consistency from size {from} to smaller size {to}")]
    SizesOutOfOrder { from: u64, to: u64 },
    #[error("reading node hash at level {level}, index {index}: {source}")]
    Source { level: u8, index: u64, source: E },
}

/// Why a proof did not verify. Each variant says which check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("proof for index {index} in a tree of size {size} must have {expected} hashes, it has {got}")]
    WrongLength {
        index: u64,
        size: u64,
        expected: usize,
        got: usize,
    },
    #[error("inclusion proof for index {index} in a tree of size {size} does not lead to the expected root")]
    InclusionRootMismatch { index: u64, size: u64 },
    #[error("consistency from size {from} to size {to}: sizes out of order")]
    SizesOutOfOrder { from: u64, to: u64 },
    #[error(
        "consistency proof from size {from} to size {to} has {got} hashes, expected {expected}"
    )]
    ConsistencyWrongLength {
        from: u64,
        to: u64,
        expected: usize,
        got: usize,
    },
    #[error("consistency proof from size {from} to size {to} does not reproduce the {which} root")]
    ConsistencyRootMismatch {
        from: u64,
        to: u64,
        which: &'static str,
    },
}

/// Largest power of two strictly smaller than `n` (n ≥ 2).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

fn read<S: NodeSource>(src: &S, level: u8, index: u64) -> Result<Hash, ProveError<S::Error>> {
    src.node(level, index).map_err(|source| ProveError::Source {
        level,
        index,
        source,
    })
}

/// MTH(D[lo:hi]) for a range that the RFC recursion produces: `lo` is a
/// multiple of the largest power of two not exceeding `hi - lo`.
pub fn subtree_root<S: NodeSource>(
    src: &S,
    lo: u64,
    hi: u64,
) -> Result<Hash, ProveError<S::Error>> {
    debug_assert!(hi > lo);
    // Decompose [lo, hi) into complete subtrees, largest first, then fold
    // them from the right as the RFC's MTH does.
    let mut parts: [Hash; 64] = [Hash::default(); 64];
    let mut count = 0;
    let mut start = lo;
    while start < hi {
        let remaining = hi - start;
        let level = 63 - remaining.leading_zeros() as u8;
        let width = 1u64 << level;
        parts[count] = read(src, level, start >> level)?;
        count += 1;
        start += width;
    }
    let mut acc = parts[count - 1];
    for part in parts[..count - 1].iter().rev() {
        acc = node_hash(part, &acc);
    }
    Ok(acc)
}

/// The root of a tree of `size` leaves.
pub fn tree_root<S: NodeSource>(src: &S, size: u64) -> Result<Hash, ProveError<S::Error>> {
    if size == 0 {
        return Ok(Hash::EMPTY_ROOT);
    }
    subtree_root(src, 0, size)
}

/// PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, leaf sibling first.
pub fn prove_inclusion<S: NodeSource>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProveError<S::Error>> {
    if index >= size {
        return Err(ProveError::IndexOutOfRange { index, size });
    }
    // Walk down from the root, remembering the sibling ranges; the proof
    // lists them bottom-up.
    let mut siblings: Vec<(u64, u64)> = Vec::with_capacity(64);
    let (mut lo, mut hi) = (0, size);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            siblings.push((lo + k, hi));
            hi = lo + k;
        } else {
            siblings.push((lo, lo + k));
            lo += k;
        }
    }
    siblings
        .iter()
        .rev()
        .map(|&(a, b)| subtree_root(src, a, b))
        .collect()
}

/// PROOF(from, D[0:to]) of RFC 9162 §2.1.4.1. Empty when `from` is 0 or
/// equal to `to`.
pub fn prove_consistency<S: NodeSource>(
    src: &S,
    from: u64,
    to: u64,
) -> Result<Vec<Hash>, ProveError<S::Error>> {
    if from > to {
        return Err(ProveError::SizesOutOfOrder { from, to });
    }
    if from == 0 || from == to {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[lo:hi], b), unrolled: record the ranges top-down, emit
    // them bottom-up.
    let mut ranges: Vec<(u64, u64)> = Vec::with_capacity(64);
    let (mut m, mut lo, mut hi, mut whole) = (from, 0u64, to, true);
    loop {
        let n = hi - lo;
        if m == n {
            if !whole {
                ranges.push((lo, hi));
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            ranges.push((lo + k, hi));
            hi = lo + k;
        } else {
            ranges.push((lo, lo + k));
            m -= k;
            lo += k;
            whole = false;
        }
    }
    ranges
        .iter()
        .rev()
        .map(|&(a, b)| subtree_root(src, a, b))
        .collect()
}

/// Number of hashes in an inclusion proof for `index` in a tree of `size`.
pub fn inclusion_proof_len(index: u64, size: u64) -> usize {
    // Levels below the point where the index's path and the right edge
    // diverge are all full; above it, only levels with a right sibling count.
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = (index >> inner).count_ones();
    (inner + border) as usize
}

/// RFC 9162 §2.1.3.2: verify that `leaf` is at `index` in the tree of `size`
/// leaves whose root is `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    path: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_proof_len(index, size);
    if path.len() != expected {
        return Err(ProofError::WrongLength {
            index,
            size,
            expected,
            got: path.len(),
        });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if snode == 0 {
            return Err(ProofError::InclusionRootMismatch { index, size });
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode == 0 && r == *root {
        Ok(())
    } else {
        Err(ProofError::InclusionRootMismatch { index, size })
    }
}

/// Number of hashes in a consistency proof from `from` to `to` (0 < from < to).
pub fn consistency_proof_len(from: u64, to: u64) -> usize {
    // The path from `from - 1` to the root of the `to` tree, minus the
    // levels covered by the largest complete subtree ending at `from`.
    let shift = from.trailing_zeros();
    let inner = 64 - ((from - 1) ^ (to - 1)).leading_zeros();
    let border = ((from - 1) >> inner).count_ones();
    let base = if from >> shift == 1 { 0 } else { 1 };
    (inner - shift + border) as usize + base
}

/// RFC 9162 §2.1.4.2: verify that the tree of `to` leaves with root
/// `to_root` extends the tree of `from` leaves with root `from_root`.
///
/// Equal sizes need an empty proof and equal roots; from the empty tree
/// anything is consistent (the proof must be empty and `from_root` must be
/// the empty root).
pub fn verify_consistency(
    from: u64,
    to: u64,
    from_root: &Hash,
    to_root: &Hash,
    path: &[Hash],
) -> Result<(), ProofError> {
    if from > to {
        return Err(ProofError::SizesOutOfOrder { from, to });
    }
    let wrong_len = |expected: usize| ProofError::ConsistencyWrongLength {
        from,
        to,
        expected,
        got: path.len(),
    };
    if from == 0 || from == to {
        if !path.is_empty() {
            return Err(wrong_len(0));
        }
        let (ok, which) = if from == 0 {
            (*from_root == Hash::EMPTY_ROOT, "first")
        } else {
            (from_root == to_root, "second")
        };
        return if ok {
            Ok(())
        } else {
            Err(ProofError::ConsistencyRootMismatch { from, to, which })
        };
    }
    let expected = consistency_proof_len(from, to);
    if path.len() != expected {
        return Err(wrong_len(expected));
    }
    let mismatch = |which| ProofError::ConsistencyRootMismatch { from, to, which };
    // Step 2: when `from` is a power of two its root is the first node.
    let (first, rest): (Hash, &[Hash]) = if from.is_power_of_two() {
        (*from_root, path)
    } else {
        match path.split_first() {
            Some((h, rest)) => (*h, rest),
            None => return Err(wrong_len(expected)),
        }
    };
    let (mut fnode, mut snode) = (from - 1, to - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (first, first);
    for c in rest {
        if snode == 0 {
            return Err(mismatch("second"));
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if fr != *from_root {
        return Err(mismatch("first"));
    }
    if snode != 0 || sr != *to_root {
        return Err(mismatch("second"));
    }
    Ok(())
}

/// A whole tree held in memory, level by level: the reference
/// [`NodeSource`] for tests, benchmarks and small verifiers.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// `levels[l][i]` is the complete subtree of `2^l` leaves at index `i`.
    levels: Vec<Vec<Hash>>,
}

/// Asked [`MemoryTree`] for a node it does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no complete subtree at level {level}, index {index}")]
pub struct MissingNode {
    pub level: u8,
    pub index: u64,
}

impl MemoryTree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends a leaf hash and every subtree it completes.
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(h);
            if row.len() % 2 == 1 {
                break;
            }
            h = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            level += 1;
        }
    }

    pub fn root(&self) -> Hash {
        match tree_root(self, self.size()) {
            Ok(h) => h,
            // Unreachable: a MemoryTree holds every complete subtree.
            Err(_) => Hash::EMPTY_ROOT,
        }
    }
}

impl NodeSource for MemoryTree {
    type Error = MissingNode;

    fn node(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        self.levels
            .get(level as usize)
            .and_then(|row| usize::try_from(index).ok().and_then(|i| row.get(i)))
            .copied()
            .ok_or(MissingNode { level, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    fn tree(n: u64) -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..n {
            t.push(leaf_hash(&i.to_be_bytes()));
        }
        t
    }

    /// The RFC 6962 MTH computed the slow, obvious way.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => Hash::EMPTY_ROOT,
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    #[test]
    fn roots_match_the_reference_definition() {
        let mut t = MemoryTree::new();
        let mut leaves = Vec::new();
        for i in 0..300u64 {
            assert_eq!(t.root(), reference_root(&leaves), "size {i}");
            let h = leaf_hash(&i.to_le_bytes());
            leaves.push(h);
            t.push(h);
        }
    }

    #[test]
    fn every_inclusion_proof_verifies_and_has_predicted_length() {
        for size in 1..=70u64 {
            let t = tree(size);
            let root = t.root();
            for index in 0..size {
                let p = prove_inclusion(&t, index, size).unwrap();
                assert_eq!(p.len(), inclusion_proof_len(index, size));
                let leaf = t.node(0, index).unwrap();
                verify_inclusion(index, size, &leaf, &p, &root).unwrap();
                assert!(verify_inclusion(index, size, &leaf, &p, &leaf_hash(b"x")).is_err());
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_has_predicted_length() {
        let t = tree(70);
        for to in 1..=70u64 {
            let to_root = tree_root(&t, to).unwrap();
            for from in 1..to {
                let from_root = tree_root(&t, from).unwrap();
                let p = prove_consistency(&t, from, to).unwrap();
                assert_eq!(p.len(), consistency_proof_len(from, to), "{from}->{to}");
                verify_consistency(from, to, &from_root, &to_root, &p).unwrap();
                assert!(verify_consistency(from, to, &to_root, &to_root, &p).is_err());
            }
        }
    }

    #[test]
    fn trivial_consistency_cases() {
        let t = tree(5);
        let r = t.root();
        verify_consistency(5, 5, &r, &r, &[]).unwrap();
        verify_consistency(0, 5, &Hash::EMPTY_ROOT, &r, &[]).unwrap();
        assert!(verify_consistency(0, 5, &r, &r, &[]).is_err());
        assert!(verify_consistency(5, 5, &r, &r, &[r]).is_err());
        assert!(verify_consistency(5, 4, &r, &r, &[]).is_err());
    }

    #[test]
    fn out_of_range_is_an_error_not_a_panic() {
        let t = tree(4);
        assert!(matches!(
            prove_inclusion(&t, 4, 4),
            Err(ProveError::IndexOutOfRange { .. })
        ));
        assert!(matches!(
            prove_inclusion(&t, 0, 5),
            Err(ProveError::Source { .. })
        ));
        assert!(verify_inclusion(4, 4, &Hash::default(), &[], &Hash::default()).is_err());
    }
}
