//! The shared proof of bundle version 2 (docs/formats.md §10.3): which
//! subtrees of the RFC 6962 tree hold no entry of the bundle ("gaps"), and
//! folding entries and gap hashes back into the tree's root.
//!
//! Both directions work from indexes alone, one pair of neighbouring entries
//! at a time, so writers and verifiers stream: a writer needs only the last
//! entry it wrote, a verifier keeps a stack of at most 64 subtrees.
//!
//! Everything here is pure arithmetic on leaf ranges plus SHA-256; the
//! tests check it against the recursion of §10.3 written out literally.

use crate::hash::{node_hash, Hash};

/// A subtree of the RFC 6962 recursion: the leaves `[lo, hi)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub lo: u64,
    pub hi: u64,
}

/// The largest power of two smaller than `n` (`n ≥ 2`): where the RFC
/// splits a range of `n` leaves.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Appends to `out`, left to right, the gap subtrees that lie between the
/// entries `after` and `before` (exclusive) in a tree of `size` leaves:
/// every subtree of the recursion inside that interval whose parent holds
/// one of the two entries. `None` for `after` means from the first leaf,
/// `None` for `before` up to the last.
///
/// The caller guarantees `after < before < size` where they are given.
pub fn gaps_between(after: Option<u64>, before: Option<u64>, size: u64, out: &mut Vec<Span>) {
    let lo = after.map_or(0, |a| a.saturating_add(1));
    let hi = before.unwrap_or(size).min(size);
    if lo >= hi {
        return;
    }
    walk(0, size, lo, hi, out);
}

/// The subtrees of `[lo, hi)` that lie inside `[x, y)`, maximal, in order.
fn walk(lo: u64, hi: u64, x: u64, y: u64, out: &mut Vec<Span>) {
    if hi <= x || lo >= y {
        return;
    }
    if x <= lo && hi <= y {
        out.push(Span { lo, hi });
        return;
    }
    // A partial overlap holds at least two leaves: a single leaf is either
    // inside the interval or outside it.
    let k = split(hi - lo);
    walk(lo, lo + k, x, y, out);
    walk(lo + k, hi, x, y, out);
}

/// Whether `[lo, hi)` is a subtree of the recursion over a tree of `size`
/// leaves, split at `mid` into its two children.
fn is_parent(lo: u64, mid: u64, hi: u64, size: u64) -> bool {
    let n = hi - lo;
    if n < 2 || mid - lo != split(n) || hi > size {
        return false;
    }
    // A complete subtree: 2^h leaves starting at a multiple of 2^h.
    if n.is_power_of_two() && lo % n == 0 {
        return true;
    }
    // Otherwise only the subtrees on the right edge exist: [0, size), then
    // [k, size) with k the size with its lowest bits cleared, and so on.
    hi == size && (lo == 0 || lo == size & !((1u64 << lo.trailing_zeros()) - 1))
}

/// Rebuilds a tree's root from a left-to-right sequence of subtrees that
/// covers it (leaves and gaps), keeping only the unfinished right edge.
#[derive(Debug, Clone)]
pub struct Fold {
    size: u64,
    /// Subtrees waiting for their right sibling, left to right.
    stack: Vec<(Span, Hash)>,
    /// Where the next subtree must start.
    next: u64,
}

/// Why a subtree cannot be pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FoldError {
    #[error("subtree [{lo}, {hi}) does not follow the leaves covered so far (up to {next})")]
    NotNext { lo: u64, hi: u64, next: u64 },
    #[error("subtree [{lo}, {hi}) is outside the tree of size {size}")]
    OutOfTree { lo: u64, hi: u64, size: u64 },
}

impl Fold {
    pub fn new(size: u64) -> Fold {
        Fold {
            size,
            stack: Vec::with_capacity(64),
            next: 0,
        }
    }

    /// The leaves covered so far: `[0, covered)`.
    pub fn covered(&self) -> u64 {
        self.next
    }

    /// Adds the next subtree (a leaf is `[i, i + 1)` with its leaf hash) and
    /// merges every pair of siblings this completes.
    pub fn push(&mut self, span: Span, hash: Hash) -> Result<(), FoldError> {
        if span.lo != self.next {
            return Err(FoldError::NotNext {
                lo: span.lo,
                hi: span.hi,
                next: self.next,
            });
        }
        if span.hi <= span.lo || span.hi > self.size {
            return Err(FoldError::OutOfTree {
                lo: span.lo,
                hi: span.hi,
                size: self.size,
            });
        }
        self.next = span.hi;
        let mut top = (span, hash);
        while let Some(&(left, lh)) = self.stack.last() {
            if !is_parent(left.lo, left.hi, top.0.hi, self.size) {
                break;
            }
            self.stack.pop();
            top = (
                Span {
                    lo: left.lo,
                    hi: top.0.hi,
                },
                node_hash(&lh, &top.1),
            );
        }
        self.stack.push(top);
        Ok(())
    }

    /// The root, once the pushed subtrees cover the whole tree and merged
    /// into one; `None` otherwise. The empty tree's root for size 0.
    pub fn root(&self) -> Option<Hash> {
        if self.size == 0 {
            return self.stack.is_empty().then_some(Hash::EMPTY_ROOT);
        }
        match self.stack.as_slice() {
            [(span, h)] if span.lo == 0 && span.hi == self.size => Some(*h),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use proptest::prelude::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    fn mth(l: &[Hash]) -> Hash {
        match l.len() {
            0 => Hash::EMPTY_ROOT,
            1 => l[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&l[..k]), &mth(&l[k..]))
            }
        }
    }

    /// §10.3 written out literally: the gap spans in the order the
    /// recursion consumes them, each tagged with the entry it precedes.
    fn literal(set: &[u64], lo: u64, hi: u64, out: &mut Vec<(Span, Option<u64>)>) {
        let next = set.iter().copied().find(|&i| i >= lo && i < hi);
        if next.is_none() {
            let owner = set.iter().copied().find(|&i| i >= hi);
            out.push((Span { lo, hi }, owner));
            return;
        }
        if hi - lo == 1 {
            return;
        }
        let k = split(hi - lo);
        literal(set, lo, lo + k, out);
        literal(set, lo + k, hi, out);
    }

    fn check(size: u64, set: &[u64]) {
        let l = leaves(size);
        let mut want = Vec::new();
        if size > 0 {
            literal(set, 0, size, &mut want);
        }
        // Gaps computed pairwise agree with the literal recursion.
        let mut got = Vec::new();
        let mut prev = None;
        for &i in set.iter().chain(std::iter::once(&u64::MAX)) {
            let before = (i != u64::MAX).then_some(i);
            let mut spans = Vec::new();
            gaps_between(prev, before, size, &mut spans);
            got.extend(spans.into_iter().map(|s| (s, before)));
            prev = before.or(prev);
        }
        assert_eq!(got, want, "size {size} set {set:?}");
        // Folding leaves and gaps gives the root.
        let mut fold = Fold::new(size);
        let mut gaps = want.iter().peekable();
        for &i in set {
            while let Some((s, _)) = gaps.next_if(|(s, _)| s.hi <= i) {
                fold.push(*s, mth(&l[s.lo as usize..s.hi as usize]))
                    .unwrap();
            }
            fold.push(Span { lo: i, hi: i + 1 }, l[i as usize]).unwrap();
        }
        for (s, _) in gaps {
            fold.push(*s, mth(&l[s.lo as usize..s.hi as usize]))
                .unwrap();
        }
        assert_eq!(fold.root(), Some(mth(&l)), "size {size} set {set:?}");
    }

    #[test]
    fn every_subset_of_small_trees() {
        for size in 0..=11u64 {
            for mask in 0..(1u32 << size) {
                let set: Vec<u64> = (0..size).filter(|i| mask & (1 << i) != 0).collect();
                check(size, &set);
            }
        }
    }

    #[test]
    fn a_range_costs_log_size_gaps() {
        let size = 1_000_003;
        let mut spans = Vec::new();
        gaps_between(None, Some(400_000), size, &mut spans);
        let before = spans.len();
        spans.clear();
        gaps_between(Some(400_099), None, size, &mut spans);
        assert!(
            before + spans.len() <= 2 * 20 + 2,
            "{before} + {}",
            spans.len()
        );
        for w in 400_000..400_099u64 {
            spans.clear();
            gaps_between(Some(w), Some(w + 1), size, &mut spans);
            assert!(spans.is_empty());
        }
    }

    #[test]
    fn a_wrong_cover_gives_no_root() {
        let l = leaves(5);
        let mut fold = Fold::new(5);
        fold.push(Span { lo: 0, hi: 4 }, mth(&l[..4])).unwrap();
        assert_eq!(fold.root(), None);
        assert!(fold.push(Span { lo: 3, hi: 5 }, l[4]).is_err());
        assert!(fold.push(Span { lo: 4, hi: 6 }, l[4]).is_err());
        fold.push(Span { lo: 4, hi: 5 }, l[4]).unwrap();
        assert_eq!(fold.root(), Some(mth(&l)));
        // A subtree split where the RFC does not split never merges.
        let mut fold = Fold::new(6);
        fold.push(Span { lo: 0, hi: 3 }, mth(&l[..3])).unwrap();
        fold.push(Span { lo: 3, hi: 6 }, Hash::default()).unwrap();
        assert_eq!(fold.root(), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn random_subsets_of_larger_trees(size in 1u64..3000, picks in proptest::collection::btree_set(0u64..3000, 0..40)) {
            let set: Vec<u64> = picks.into_iter().filter(|&i| i < size).collect();
            check(size, &set);
        }
    }
}
