//! The stream-heads commitment: what makes a filtered export provably complete
//! up to a checkpoint.
//!
//! Every entry's header links it to the previous entry of its agent stream and
//! of its session stream (`streams.*.prev`, with a running count `n`). Those
//! links prove that nothing was dropped *between* two entries of a stream. The
//! one thing they cannot prove is that nothing of a stream was appended *after*
//! the last entry an export shows. For that each checkpoint commits to the head
//! (count and last index) of every stream at its size, in an extension line:
//!
//! ```text
//! sealtrail-stream-heads/v1 <base64 root>
//! ```
//!
//! The root is an RFC 6962 Merkle tree over 65,536 buckets. A stream with key
//! `K` (`a:<agent id>` or `s:<session id>`, UTF-8) lives in bucket
//! `u16_be(SHA-256(K)[0..2])`. A bucket's bytes are its records sorted by key
//! hash, each `SHA-256(K) ‖ u64_be(n) ‖ u64_be(last)` (48 bytes); the bucket's
//! leaf is `SHA-256(0x00 ‖ bytes)` (an empty bucket hashes the empty string).
//! A proof for one stream is its bucket's records plus the 16 sibling hashes:
//! it shows the stream's head, or that the stream had no entry at all. Keys
//! appear only as hashes, so a proof does not reveal other streams' names.
//!
//! A fixed bucket count keeps the checkpointer's cost bounded: a checkpoint
//! rehashes only the buckets its new entries touched and their 16-level paths.

use std::sync::Arc;

use crate::hash::{leaf_hash, node_hash, sha256, Hash};
use crate::proof::{verify_inclusion, ProofError};

/// Height of the bucket tree.
pub const HEADS_LEVELS: usize = 16;
/// Number of buckets (leaves of the bucket tree).
pub const HEADS_BUCKETS: usize = 1 << HEADS_LEVELS;
/// Bytes per record in a bucket.
pub const HEADS_RECORD_LEN: usize = 48;
/// The checkpoint extension line's keyword.
pub const HEADS_EXTENSION: &str = "sealtrail-stream-heads/v1";

/// Count and last index of one stream at some tree size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHead {
    /// Entries of the stream (the `n` of its last entry).
    pub n: u64,
    /// Index of the stream's last entry.
    pub last: u64,
}

/// One bucket record: a stream's key hash and head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadRecord {
    pub key: Hash,
    pub head: StreamHead,
}

/// The stream key of an agent's stream.
pub fn agent_key(agent: &str) -> String {
    format!("a:{agent}")
}

/// The stream key of a session's stream.
pub fn session_key(session: &str) -> String {
    format!("s:{session}")
}

/// `SHA-256(key)`: how a stream appears in the commitment.
pub fn key_hash(key: &str) -> Hash {
    sha256(key.as_bytes())
}

/// The bucket a key hash belongs to.
pub fn bucket_of(key: &Hash) -> usize {
    usize::from(u16::from_be_bytes([key.0[0], key.0[1]]))
}

/// The bytes of a bucket: its records in key-hash order.
pub fn bucket_bytes(records: &[HeadRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * HEADS_RECORD_LEN);
    for r in records {
        out.extend_from_slice(&r.key.0);
        out.extend_from_slice(&r.head.n.to_be_bytes());
        out.extend_from_slice(&r.head.last.to_be_bytes());
    }
    out
}

/// Why a heads proof or extension line is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadsError {
    #[error("stream-heads proof is for bucket {got}, but the stream's key hash falls in bucket {expected}")]
    WrongBucket { expected: usize, got: usize },
    #[error("stream-heads bucket {bucket} record {position} does not belong to that bucket")]
    ForeignRecord { bucket: usize, position: usize },
    #[error("stream-heads bucket {bucket} records are not in strictly increasing key-hash order at record {position}")]
    Unsorted { bucket: usize, position: usize },
    #[error("stream-heads bucket {bucket} record {position} has count 0 or a last index beyond the tree size {size}")]
    BadRecord {
        bucket: usize,
        position: usize,
        size: u64,
    },
    #[error("stream-heads proof does not lead to the checkpoint's stream-heads root: {0}")]
    Path(ProofError),
    #[error("checkpoint has no {HEADS_EXTENSION} extension line")]
    MissingExtension,
    #[error("checkpoint's {HEADS_EXTENSION} line is malformed: {0}")]
    BadExtension(String),
}

/// The checkpoint extension line for a heads root.
pub fn extension_line(root: &Hash) -> String {
    format!("{HEADS_EXTENSION} {}", root.to_base64())
}

/// Reads the heads root from a checkpoint's extension lines.
pub fn root_from_extensions(extensions: &[String]) -> Result<Hash, HeadsError> {
    let mut found = None;
    for line in extensions {
        let Some(rest) = line.strip_prefix(HEADS_EXTENSION) else {
            continue;
        };
        let Some(b64) = rest.strip_prefix(' ') else {
            return Err(HeadsError::BadExtension(
                "expected one space after the keyword".into(),
            ));
        };
        if found.is_some() {
            return Err(HeadsError::BadExtension("the line appears twice".into()));
        }
        found = Some(Hash::from_base64(b64).map_err(|e| HeadsError::BadExtension(e.to_string()))?);
    }
    found.ok_or(HeadsError::MissingExtension)
}

/// A proof of one stream's head (or absence) against a heads root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadsProof {
    pub bucket: usize,
    /// Every record of the bucket, in key-hash order.
    pub records: Vec<HeadRecord>,
    /// Sibling hashes from the bucket's leaf up to the root (16).
    pub path: Vec<Hash>,
}

impl HeadsProof {
    /// Checks the proof against `root` for the stream `key` in a tree of
    /// `size` entries; returns the stream's head, or `None` if the stream had
    /// no entry.
    pub fn verify(
        &self,
        key: &str,
        root: &Hash,
        size: u64,
    ) -> Result<Option<StreamHead>, HeadsError> {
        let kh = key_hash(key);
        let expected = bucket_of(&kh);
        if self.bucket != expected {
            return Err(HeadsError::WrongBucket {
                expected,
                got: self.bucket,
            });
        }
        let mut found = None;
        for (position, r) in self.records.iter().enumerate() {
            if bucket_of(&r.key) != self.bucket {
                return Err(HeadsError::ForeignRecord {
                    bucket: self.bucket,
                    position,
                });
            }
            if position > 0 && self.records[position - 1].key >= r.key {
                return Err(HeadsError::Unsorted {
                    bucket: self.bucket,
                    position,
                });
            }
            if r.head.n == 0 || r.head.last >= size || r.head.n > r.head.last + 1 {
                return Err(HeadsError::BadRecord {
                    bucket: self.bucket,
                    position,
                    size,
                });
            }
            if r.key == kh {
                found = Some(r.head);
            }
        }
        let leaf = leaf_hash(&bucket_bytes(&self.records));
        verify_inclusion(
            self.bucket as u64,
            HEADS_BUCKETS as u64,
            &leaf,
            &self.path,
            root,
        )
        .map_err(HeadsError::Path)?;
        Ok(found)
    }
}

/// The heads of every stream, with the bucket tree kept up to date
/// incrementally. Cloning is cheap (buckets are shared until changed), so a
/// snapshot can be kept for each signed checkpoint.
#[derive(Debug, Clone)]
pub struct StreamHeads {
    buckets: Vec<Arc<Vec<HeadRecord>>>,
    /// `levels[0]` are the bucket leaves, `levels[16]` the root.
    levels: Arc<Vec<Vec<Hash>>>,
    dirty: Vec<usize>,
}

impl Default for StreamHeads {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamHeads {
    /// No streams.
    pub fn new() -> Self {
        let empty = Arc::new(Vec::new());
        let mut levels = Vec::with_capacity(HEADS_LEVELS + 1);
        let mut level = vec![leaf_hash(&[]); HEADS_BUCKETS];
        for _ in 0..HEADS_LEVELS {
            let next: Vec<Hash> = level.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
            levels.push(level);
            level = next;
        }
        levels.push(level);
        StreamHeads {
            buckets: vec![empty; HEADS_BUCKETS],
            levels: Arc::new(levels),
            dirty: Vec::new(),
        }
    }

    /// Sets the head of the stream `key`.
    pub fn set(&mut self, key: &str, head: StreamHead) {
        let kh = key_hash(key);
        let b = bucket_of(&kh);
        let bucket = Arc::make_mut(&mut self.buckets[b]);
        match bucket.binary_search_by(|r| r.key.cmp(&kh)) {
            Ok(i) => bucket[i].head = head,
            Err(i) => bucket.insert(i, HeadRecord { key: kh, head }),
        }
        self.dirty.push(b);
    }

    /// Records that entry `index` joined the stream `key`.
    pub fn advance(&mut self, key: &str, index: u64) {
        self.advance_hashed(&key_hash(key), index);
    }

    /// [`Self::advance`] for the stream whose key hashes to `kh`: one
    /// search of its bucket, no hashing (a store check replays every entry
    /// and hashes the keys on another thread).
    pub fn advance_hashed(&mut self, kh: &Hash, index: u64) {
        let b = bucket_of(kh);
        let bucket = Arc::make_mut(&mut self.buckets[b]);
        match bucket.binary_search_by(|r| r.key.cmp(kh)) {
            Ok(i) => {
                let h = &mut bucket[i].head;
                *h = StreamHead {
                    n: h.n + 1,
                    last: index,
                };
            }
            Err(i) => bucket.insert(
                i,
                HeadRecord {
                    key: *kh,
                    head: StreamHead { n: 1, last: index },
                },
            ),
        }
        // Consecutive entries of one stream dirty its bucket once.
        if self.dirty.last() != Some(&b) {
            self.dirty.push(b);
        }
    }

    /// The head of stream `key`, if it has entries.
    pub fn get(&self, key: &str) -> Option<StreamHead> {
        let kh = key_hash(key);
        let bucket = &self.buckets[bucket_of(&kh)];
        bucket
            .binary_search_by(|r| r.key.cmp(&kh))
            .ok()
            .map(|i| bucket[i].head)
    }

    /// The root over all buckets (rehashing what changed since last time).
    pub fn root(&mut self) -> Hash {
        if !self.dirty.is_empty() {
            let mut dirty = std::mem::take(&mut self.dirty);
            dirty.sort_unstable();
            dirty.dedup();
            let levels = Arc::make_mut(&mut self.levels);
            for &b in &dirty {
                levels[0][b] = leaf_hash(&bucket_bytes(&self.buckets[b]));
            }
            let mut positions = dirty;
            for level in 1..=HEADS_LEVELS {
                for p in positions.iter_mut() {
                    *p >>= 1;
                }
                positions.dedup();
                for &p in &positions {
                    let h = node_hash(&levels[level - 1][2 * p], &levels[level - 1][2 * p + 1]);
                    levels[level][p] = h;
                }
            }
        }
        self.levels[HEADS_LEVELS][0]
    }

    /// A proof of the stream `key`'s head (or absence) against [`Self::root`].
    pub fn prove(&self, key: &str) -> HeadsProof {
        if !self.dirty.is_empty() {
            // Snapshots are taken after `root()`; this only runs on a fresh tree.
            let mut settled = self.clone();
            settled.root();
            return settled.prove(key);
        }
        let b = bucket_of(&key_hash(key));
        let path = (0..HEADS_LEVELS)
            .map(|level| self.levels[level][(b >> level) ^ 1])
            .collect();
        HeadsProof {
            bucket: b,
            records: self.buckets[b].as_ref().clone(),
            path,
        }
    }

    /// Number of streams.
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.len()).sum()
    }

    /// True when no stream has an entry.
    pub fn is_empty(&self) -> bool {
        self.buckets.iter().all(|b| b.is_empty())
    }
}

/// Replays a log's entries in order and checks the stream-heads root each
/// checkpoint claims (a store check, or a monitor holding the whole log).
#[derive(Debug)]
pub struct HeadsAudit {
    heads: StreamHeads,
    /// `(size, claimed root)` in increasing size; `None`: no heads line.
    claims: Vec<(u64, Option<Hash>)>,
    next_claim: usize,
    size: u64,
}

/// A checkpoint whose stream-heads line does not match the entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadsMismatch {
    pub size: u64,
    pub claimed: Option<Hash>,
    pub computed: Hash,
}

impl HeadsAudit {
    /// `claims`: each checkpoint's size and the root its heads line claims.
    pub fn new(mut claims: Vec<(u64, Option<Hash>)>) -> Self {
        claims.sort_by_key(|c| c.0);
        HeadsAudit {
            heads: StreamHeads::new(),
            claims,
            next_claim: 0,
            size: 0,
        }
    }

    /// Checks the claims for sizes up to the current one.
    fn settle(&mut self) -> Vec<HeadsMismatch> {
        let mut out = Vec::new();
        while let Some(&(size, claimed)) = self.claims.get(self.next_claim) {
            if size > self.size {
                break;
            }
            self.next_claim += 1;
            if size < self.size {
                continue; // passed over: the caller skipped entries.
            }
            let computed = self.heads.root();
            if claimed != Some(computed) {
                out.push(HeadsMismatch {
                    size,
                    claimed,
                    computed,
                });
            }
        }
        out
    }

    /// Feeds the entry at `index` (entries must come in index order without
    /// gaps); returns the checkpoints it completes that do not match.
    pub fn push(&mut self, index: u64, agent: &str, session: Option<&str>) -> Vec<HeadsMismatch> {
        let session = session.map(|s| key_hash(&session_key(s)));
        self.push_hashed(index, &key_hash(&agent_key(agent)), session.as_ref())
    }

    /// [`Self::push`] with the streams' key hashes
    /// (`key_hash(agent_key(..))`, `key_hash(session_key(..))`) computed
    /// by the caller.
    pub fn push_hashed(
        &mut self,
        index: u64,
        agent: &Hash,
        session: Option<&Hash>,
    ) -> Vec<HeadsMismatch> {
        let mut out = if index == 0 {
            self.settle()
        } else {
            Vec::new()
        };
        self.heads.advance_hashed(agent, index);
        if let Some(s) = session {
            self.heads.advance_hashed(s, index);
        }
        self.size = index + 1;
        // Most entries complete no checkpoint: no call, no allocation.
        if self
            .claims
            .get(self.next_claim)
            .is_some_and(|&(size, _)| size <= self.size)
        {
            out.extend(self.settle());
        }
        out
    }

    /// Checks an empty log's checkpoints (size 0), if any.
    pub fn start(&mut self) -> Vec<HeadsMismatch> {
        self.settle()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_root(heads: &[(String, StreamHead)]) -> Hash {
        let mut buckets: Vec<Vec<HeadRecord>> = vec![Vec::new(); HEADS_BUCKETS];
        for (k, h) in heads {
            let kh = key_hash(k);
            buckets[bucket_of(&kh)].push(HeadRecord { key: kh, head: *h });
        }
        let mut level: Vec<Hash> = buckets
            .iter_mut()
            .map(|b| {
                b.sort_by_key(|x| x.key);
                leaf_hash(&bucket_bytes(b))
            })
            .collect();
        while level.len() > 1 {
            level = level.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
        }
        level[0]
    }

    #[test]
    fn incremental_root_matches_a_from_scratch_computation() {
        let mut heads = StreamHeads::new();
        let mut expected = Vec::new();
        assert_eq!(heads.root(), naive_root(&expected));
        for i in 0..500u64 {
            let key = agent_key(&format!("agent-{}", i % 37));
            heads.advance(&key, i);
            if i % 50 == 49 {
                let mut all: Vec<(String, StreamHead)> = (0..37)
                    .filter_map(|a| {
                        let k = agent_key(&format!("agent-{a}"));
                        heads.get(&k).map(|h| (k, h))
                    })
                    .collect();
                all.sort_by(|x, y| x.0.cmp(&y.0));
                expected = all;
                assert_eq!(heads.root(), naive_root(&expected), "after entry {i}");
            }
        }
        assert_eq!(heads.len(), 37);
    }

    #[test]
    fn proofs_show_heads_and_absence_and_reject_tampering() {
        let mut heads = StreamHeads::new();
        for i in 0..200u64 {
            heads.advance(&session_key(&format!("s{}", i % 9)), i);
        }
        let root = heads.root();
        let p = heads.prove(&session_key("s3"));
        let head = p.verify(&session_key("s3"), &root, 200).expect("verifies");
        assert_eq!(head, heads.get(&session_key("s3")));
        let absent = heads.prove(&session_key("never"));
        assert_eq!(absent.verify(&session_key("never"), &root, 200), Ok(None));

        // A head moved back, a record dropped, a wrong bucket: all rejected.
        let mut moved = p.clone();
        if let Some(r) = moved
            .records
            .iter_mut()
            .find(|r| r.key == key_hash(&session_key("s3")))
        {
            r.head.last -= 1;
        }
        assert!(matches!(
            moved.verify(&session_key("s3"), &root, 200),
            Err(HeadsError::Path(_))
        ));
        let mut dropped = p.clone();
        dropped
            .records
            .retain(|r| r.key != key_hash(&session_key("s3")));
        assert!(dropped.verify(&session_key("s3"), &root, 200).is_err());
        assert!(matches!(
            p.verify(&session_key("other"), &root, 200),
            Err(HeadsError::WrongBucket { .. }) | Ok(None)
        ));
        assert!(matches!(
            p.verify(&session_key("s3"), &root, 100),
            Err(HeadsError::BadRecord { .. })
        ));
    }

    #[test]
    fn audit_finds_the_checkpoint_whose_heads_root_is_wrong() {
        let mut live = StreamHeads::new();
        let mut claims = Vec::new();
        let entries: Vec<(String, Option<String>)> = (0..40)
            .map(|i| {
                (
                    format!("a{}", i % 3),
                    (i % 2 == 0).then(|| format!("s{}", i % 5)),
                )
            })
            .collect();
        for (i, (a, s)) in entries.iter().enumerate() {
            live.advance(&agent_key(a), i as u64);
            if let Some(s) = s {
                live.advance(&session_key(s), i as u64);
            }
            if i % 10 == 9 {
                let mut root = live.root();
                if i == 29 {
                    root.0[0] ^= 1; // a lying checkpoint at size 30
                }
                claims.push((i as u64 + 1, Some(root)));
            }
        }
        claims.push((40, None)); // and one without the line
        let mut audit = HeadsAudit::new(claims);
        let mut bad = audit.start();
        for (i, (a, s)) in entries.iter().enumerate() {
            bad.extend(audit.push(i as u64, a, s.as_deref()));
        }
        let sizes: Vec<u64> = bad.iter().map(|m| m.size).collect();
        assert_eq!(sizes, vec![30, 40]);
    }

    #[test]
    fn extension_line_round_trips_and_is_strict() {
        let root = key_hash("x");
        let line = extension_line(&root);
        assert_eq!(root_from_extensions(std::slice::from_ref(&line)), Ok(root));
        assert_eq!(root_from_extensions(&[]), Err(HeadsError::MissingExtension));
        assert!(root_from_extensions(&[line.clone(), line]).is_err());
        assert!(root_from_extensions(&[format!("{HEADS_EXTENSION}  x")]).is_err());
    }
}
