//! Checking many `tlog-proof` files against one checkpoint, fast.
//!
//! Every proof in a bundle carries the same checkpoint, so a proof file is
//! split into its index and path lines and its tail is compared byte for
//! byte with the bundle's checkpoint (which was opened once), instead of
//! parsing and verifying the same signed note again for every entry.
//!
//! Inclusion paths are checked through a cache of verified nodes, one per
//! depth below the root: the last verified route. A node is named by the leaf
//! range it covers, which identifies it in a tree of fixed size. A new proof
//! hashes from its leaf only up to the first node the cache already holds
//! (for entries in index order, usually one or two levels up), compares the
//! value, and then compares the rest of its path, as text, with the siblings
//! that were verified with that node. A wrong hash anywhere in a path is
//! still caught: below the meeting point it changes the computed node, above
//! it the text differs from the verified sibling.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::hash::{node_hash, Hash};
use crate::tlog_proof::{HEADER, MAX_PATH_LEN};

/// Length of a hash in standard base64 with padding.
const B64_LEN: usize = 44;

/// Why a proof file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofFileError {
    #[error("not a tlog-proof: {0}")]
    Format(&'static str),
    #[error("its index is {got}, not the entry's index {want}")]
    WrongIndex { got: u64, want: u64 },
    #[error("line {line}: not a base64 SHA-256 hash")]
    BadHash { line: usize },
    #[error("its checkpoint is not byte for byte the bundle's checkpoint")]
    OtherCheckpoint,
    #[error("its inclusion path has {got} hashes; a proof of index {index} in a tree of size {size} has {want}")]
    PathLength {
        index: u64,
        size: u64,
        got: usize,
        want: usize,
    },
    #[error("index {index} is not in the checkpoint's tree of size {size}")]
    OutOfRange { index: u64, size: u64 },
    #[error("the entry's leaf hash and the proof's path do not lead to the checkpoint's root (the header or the proof was altered)")]
    NotIncluded,
}

/// The parts of a proof file this module uses.
struct Split<'a> {
    index: u64,
    /// Path lines, leaf sibling first, each 44 bytes (checked).
    path: [&'a [u8]; MAX_PATH_LEN],
    len: usize,
}

fn take_line<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let pos = memchr_newline(rest)?;
    let (line, tail) = rest.split_at(pos);
    *rest = &tail[1..];
    Some(line)
}

fn memchr_newline(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || (s.len() > 1 && s[0] == b'0') {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

/// Splits a `c2sp.org/tlog-proof@v1` file whose checkpoint must be
/// `checkpoint`, with the same strictness as [`crate::tlog_proof::TlogProof::parse`].
fn split<'a>(bytes: &'a [u8], checkpoint: &[u8]) -> Result<Split<'a>, ProofFileError> {
    let mut rest = bytes;
    if take_line(&mut rest) != Some(HEADER.as_bytes()) {
        return Err(ProofFileError::Format(
            "the first line is not c2sp.org/tlog-proof@v1",
        ));
    }
    let mut line = take_line(&mut rest).ok_or(ProofFileError::Format("no index line"))?;
    let mut line_no = 2;
    if let Some(extra) = line.strip_prefix(b"extra ") {
        // Unauthenticated application data: only its form is checked.
        if STANDARD.decode(extra).is_err() {
            return Err(ProofFileError::Format("the extra line is not base64"));
        }
        line = take_line(&mut rest).ok_or(ProofFileError::Format("no index line"))?;
        line_no += 1;
    }
    let index =
        line.strip_prefix(b"index ")
            .and_then(parse_decimal)
            .ok_or(ProofFileError::Format(
                "no canonical \"index <decimal>\" line",
            ))?;
    let mut path: [&[u8]; MAX_PATH_LEN] = [&[]; MAX_PATH_LEN];
    let mut len = 0;
    loop {
        line_no += 1;
        // Path lines are 44 characters: step over them without scanning.
        if rest.first() == Some(&b'\n') {
            rest = &rest[1..];
            break;
        }
        if rest.get(B64_LEN) != Some(&b'\n') {
            return Err(match memchr_newline(rest) {
                None => ProofFileError::Format("no empty line between the path and the checkpoint"),
                Some(_) => ProofFileError::BadHash { line: line_no },
            });
        }
        if len == MAX_PATH_LEN {
            return Err(ProofFileError::Format("the path has more than 64 hashes"));
        }
        path[len] = &rest[..B64_LEN];
        rest = &rest[B64_LEN + 1..];
        len += 1;
    }
    if rest != checkpoint {
        return Err(ProofFileError::OtherCheckpoint);
    }
    Ok(Split { index, path, len })
}

fn decode_hash(text: &[u8], line: usize) -> Result<Hash, ProofFileError> {
    let mut buf = [0u8; 33];
    match STANDARD.decode_slice(text, &mut buf) {
        Ok(32) => Ok(Hash(buf[..32].try_into().unwrap_or_default())),
        _ => Err(ProofFileError::BadHash { line }),
    }
}

/// A verified node at one depth: the leaf range it covers, its hash, and
/// the base64 text of its sibling (as the proofs carry it).
#[derive(Debug, Clone, Copy)]
struct Cached {
    lo: u64,
    hi: u64,
    hash: Hash,
    sibling: [u8; B64_LEN],
}

/// Verifies inclusion proofs of many entries against one checkpoint.
#[derive(Debug, Clone)]
pub struct BatchInclusion {
    size: u64,
    checkpoint: Vec<u8>,
    /// `cache[d]`: the verified node at depth `d` (0 = the root) of the
    /// last verified route; entries deeper than that route may be older,
    /// still verified, nodes.
    cache: Vec<Cached>,
}

impl BatchInclusion {
    /// Proofs must carry `checkpoint` (the note bytes) and lead to `root`
    /// in a tree of `size`.
    pub fn new(checkpoint: &[u8], size: u64, root: Hash) -> Self {
        BatchInclusion {
            size,
            checkpoint: checkpoint.to_vec(),
            cache: vec![Cached {
                lo: 0,
                hi: size,
                hash: root,
                sibling: [0; B64_LEN],
            }],
        }
    }

    /// Checks that the proof file `proof` proves `leaf` at `index`.
    pub fn verify(&mut self, index: u64, leaf: &Hash, proof: &[u8]) -> Result<(), ProofFileError> {
        let split = split(proof, &self.checkpoint)?;
        if split.index != index {
            return Err(ProofFileError::WrongIndex {
                got: split.index,
                want: index,
            });
        }
        if index >= self.size {
            return Err(ProofFileError::OutOfRange {
                index,
                size: self.size,
            });
        }
        // The route from the root down to the leaf (RFC 9162 §2.1.3.1): at
        // each depth the child holding `index`, and whether it is the left one.
        let mut route = [(0u64, 0u64, false); MAX_PATH_LEN + 1];
        let (mut lo, mut hi) = (0u64, self.size);
        let mut depth = 0;
        // `meet`: the deepest depth whose node the cache holds.
        let mut meet = 0;
        let mut meeting = true;
        while hi - lo > 1 {
            let k = 1u64 << (63 - (hi - lo - 1).leading_zeros());
            let left = index < lo + k;
            if left {
                hi = lo + k;
            } else {
                lo += k;
            }
            depth += 1;
            route[depth] = (lo, hi, left);
            if meeting {
                match self.cache.get(depth) {
                    Some(c) if c.lo == lo && c.hi == hi => meet = depth,
                    _ => meeting = false,
                }
            }
        }
        let len = depth;
        if split.len != len {
            return Err(ProofFileError::PathLength {
                index,
                size: self.size,
                got: split.len,
                want: len,
            });
        }
        // Hash up from the leaf to the meeting node. `path[len - d]` is the
        // sibling of the route node at depth `d`.
        let mut computed = [Hash::default(); MAX_PATH_LEN + 1];
        let mut r = *leaf;
        computed[len] = r;
        for d in (meet + 1..=len).rev() {
            let line = len - d;
            let sib = decode_hash(split.path[line], line + 4)?;
            r = if route[d].2 {
                node_hash(&r, &sib)
            } else {
                node_hash(&sib, &r)
            };
            computed[d - 1] = r;
        }
        if r != self.cache[meet].hash {
            return Err(ProofFileError::NotIncluded);
        }
        for d in 1..=meet {
            if split.path[len - d] != self.cache[d].sibling {
                return Err(ProofFileError::NotIncluded);
            }
        }
        // Remember the new part of the route.
        if self.cache.len() <= len {
            self.cache.resize(
                len + 1,
                Cached {
                    lo: 0,
                    hi: 0,
                    hash: Hash::default(),
                    sibling: [0; B64_LEN],
                },
            );
        }
        for d in meet + 1..=len {
            let mut sibling = [0u8; B64_LEN];
            sibling.copy_from_slice(split.path[len - d]);
            self.cache[d] = Cached {
                lo: route[d].0,
                hi: route[d].1,
                hash: computed[d],
                sibling,
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::proof::{prove_inclusion, MemoryTree};
    use crate::tlog_proof::TlogProof;

    fn tree(n: u64) -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..n {
            t.push(leaf_hash(&i.to_be_bytes()));
        }
        t
    }

    fn proof_file(t: &MemoryTree, i: u64, n: u64, cp: &[u8]) -> Vec<u8> {
        TlogProof {
            extra: None,
            index: i,
            path: prove_inclusion(t, i, n).unwrap(),
            checkpoint: cp.to_vec(),
        }
        .to_bytes()
    }

    #[test]
    fn every_index_of_many_sizes_verifies_in_any_order_and_tampering_fails() {
        let cp = b"o\n1\nAAAA\n\n\xe2\x80\x94 o x\n".to_vec();
        for n in [1u64, 2, 3, 5, 8, 13, 64, 100, 257] {
            let t = tree(n);
            let root = t.root();
            let files: Vec<Vec<u8>> = (0..n).map(|i| proof_file(&t, i, n, &cp)).collect();
            // In order, reverse order, and a stride: the cache must not matter.
            let orders: [Vec<u64>; 3] = [
                (0..n).collect(),
                (0..n).rev().collect(),
                (0..n).map(|i| (i * 7) % n).collect(),
            ];
            for order in &orders {
                let mut b = BatchInclusion::new(&cp, n, root);
                for &i in order {
                    b.verify(i, &leaf_hash(&i.to_be_bytes()), &files[i as usize])
                        .unwrap_or_else(|e| panic!("n={n} i={i}: {e}"));
                }
            }
            // Flip path bytes of each proof (after warming the cache with all
            // the others): every flip is refused.
            for i in 0..n {
                let mut warm = BatchInclusion::new(&cp, n, root);
                for j in (0..n).filter(|&j| j != i) {
                    warm.verify(j, &leaf_hash(&j.to_be_bytes()), &files[j as usize])
                        .unwrap();
                }
                let f = &files[i as usize];
                let path_start = f.iter().position(|&c| c == b'\n').unwrap() + 1;
                let path_start =
                    path_start + f[path_start..].iter().position(|&c| c == b'\n').unwrap() + 1;
                let path_end = path_start + 45 * prove_inclusion(&t, i, n).unwrap().len();
                // Every byte for small trees, a few per hash for larger ones.
                let step = if n <= 13 { 1 } else { 7 };
                for pos in (path_start..path_end)
                    .step_by(step)
                    .filter(|p| (p - path_start) % 45 != 44)
                {
                    let mut bad = f.clone();
                    bad[pos] = if bad[pos] == b'A' { b'B' } else { b'A' };
                    let mut b = warm.clone();
                    assert!(
                        b.verify(i, &leaf_hash(&i.to_be_bytes()), &bad).is_err(),
                        "n={n} i={i} pos={pos}"
                    );
                }
                let mut b = BatchInclusion::new(&cp, n, root);
                assert_eq!(
                    b.verify(i, &leaf_hash(b"other"), f),
                    Err(ProofFileError::NotIncluded)
                );
            }
        }
    }

    #[test]
    fn file_form_is_checked() {
        let cp = b"o\n4\nAAAA\n\n\xe2\x80\x94 o x\n".to_vec();
        let t = tree(4);
        let mut b = BatchInclusion::new(&cp, 4, t.root());
        let good = proof_file(&t, 2, 4, &cp);
        let leaf = leaf_hash(&2u64.to_be_bytes());
        assert_eq!(
            b.verify(3, &leaf, &good),
            Err(ProofFileError::WrongIndex { got: 2, want: 3 })
        );
        let mut other = good.clone();
        let last = other.len() - 2;
        other[last] ^= 1;
        assert_eq!(
            b.verify(2, &leaf, &other),
            Err(ProofFileError::OtherCheckpoint)
        );
        let text = String::from_utf8(good.clone()).unwrap();
        let padded = text.replacen("index 2", "index 02", 1);
        assert!(matches!(
            b.verify(2, &leaf, padded.as_bytes()),
            Err(ProofFileError::Format(_))
        ));
        let short = text.replacen("index 2\n", "index 2\n\n", 1);
        assert!(b.verify(2, &leaf, short.as_bytes()).is_err());
        let with_extra = text.replacen("index 2", "extra aGk=\nindex 2", 1);
        b.verify(2, &leaf, with_extra.as_bytes()).unwrap();
    }
}
