//! The Merkle frontier (a "compact range" over `[0, size)`): the roots of the
//! perfect subtrees along the right edge of the tree, one per set bit of the
//! size. It appends a leaf in O(log n) amortised O(1) hashes and yields the
//! root, which is all a sequencer has to keep in memory.

use crate::hash::{node_hash, Hash};
use crate::proof::{NodeSource, ProveError};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Perfect subtree roots, largest (leftmost) first.
    nodes: Vec<Hash>,
}

/// A frontier's parts do not describe a tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a frontier of size {size} has {expected} nodes, got {got}")]
pub struct FrontierError {
    pub size: u64,
    pub expected: u32,
    pub got: usize,
}

impl Frontier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a frontier from its stored parts.
    pub fn from_parts(size: u64, nodes: Vec<Hash>) -> Result<Self, FrontierError> {
        if nodes.len() != size.count_ones() as usize {
            return Err(FrontierError {
                size,
                expected: size.count_ones(),
                got: nodes.len(),
            });
        }
        Ok(Frontier { size, nodes })
    }

    /// Rebuilds the frontier of a tree of `size` leaves by reading its
    /// right-edge subtrees (one node read per set bit of `size`).
    pub fn from_source<S: NodeSource>(src: &S, size: u64) -> Result<Self, ProveError<S::Error>> {
        let mut nodes = Vec::with_capacity(size.count_ones() as usize);
        let mut start = 0u64;
        for level in (0..64u8).rev() {
            if size & (1 << level) != 0 {
                let index = start >> level;
                let h = src
                    .node(level, index)
                    .map_err(|source| ProveError::Source {
                        level,
                        index,
                        source,
                    })?;
                nodes.push(h);
                start += 1 << level;
            }
        }
        Ok(Frontier { size, nodes })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The right-edge subtree roots, largest first.
    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }

    /// Appends a leaf hash.
    pub fn append(&mut self, leaf: Hash) {
        self.append_with(leaf, |_, _, _| {});
    }

    /// Appends a leaf hash and reports every node this completes, the leaf
    /// first, as `(level, index, hash)`: the hashes a tile writer stores.
    pub fn append_with(&mut self, leaf: Hash, mut on_node: impl FnMut(u8, u64, &Hash)) {
        let mut h = leaf;
        let mut level = 0u8;
        on_node(0, self.size, &h);
        while self.size & (1 << level) != 0 {
            // A set bit means a perfect subtree of this level waits on the left.
            let Some(left) = self.nodes.pop() else { break };
            h = node_hash(&left, &h);
            level += 1;
            on_node(level, self.size >> level, &h);
        }
        self.nodes.push(h);
        self.size += 1;
    }

    /// The RFC 6962 root of the tree so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        let Some(last) = iter.next() else {
            return Hash::EMPTY_ROOT;
        };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::proof::MemoryTree;

    #[test]
    fn frontier_agrees_with_the_full_tree() {
        let mut f = Frontier::new();
        let mut t = MemoryTree::new();
        assert_eq!(f.root(), Hash::EMPTY_ROOT);
        for i in 0..1100u64 {
            let leaf = leaf_hash(&i.to_be_bytes());
            let mut reported = Vec::new();
            f.append_with(leaf, |l, n, h| reported.push((l, n, *h)));
            t.push(leaf);
            assert_eq!(f.root(), t.root(), "size {}", i + 1);
            for (l, n, h) in reported {
                assert_eq!(t.node(l, n), Ok(h));
            }
            assert_eq!(Frontier::from_source(&t, f.size()).as_ref(), Ok(&f));
        }
    }

    #[test]
    fn from_parts_checks_the_node_count() {
        assert!(Frontier::from_parts(3, vec![Hash::default()]).is_err());
        assert!(Frontier::from_parts(3, vec![Hash::default(); 2]).is_ok());
    }
}
