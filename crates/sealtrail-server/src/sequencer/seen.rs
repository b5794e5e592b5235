//! A Bloom filter of every event id the log holds, so the sealer asks the
//! store only about ids it may have seen (retries), not about every new id.
//! Measured: the per-id index lookups were ~8% of the server's CPU at full
//! ingest. A false positive costs one lookup; there are no false negatives,
//! because every id is added when it is sealed (even if its batch later
//! fails: that is only another false positive).

use std::hash::BuildHasher;

// Seeded per filter like SipHash's RandomState, and several times cheaper
// per id (the sealer hashes every id it seals; issue 16).
use foldhash::fast::RandomState;

use sealtrail_store::{Store, StoreError};

/// Bits per id: with 7 hash functions, a false-positive rate under 1%.
const BITS_PER_ID: u64 = 12;
const HASHES: u64 = 7;
/// Ids the first filter holds before it grows (tests use a tiny one so the
/// background rebuild runs).
#[cfg(not(test))]
const MIN_CAPACITY: u64 = 1 << 22;
#[cfg(test)]
const MIN_CAPACITY: u64 = 64;
/// Ids read from the store per query when (re)building.
const SCAN_CHUNK: u64 = 100_000;

pub(super) struct SeenIds {
    bits: Vec<u64>,
    nbits: u64,
    count: u64,
    capacity: u64,
    hasher: RandomState,
}

impl SeenIds {
    /// Builds the filter from every id in the first `size` entries.
    pub(super) fn load(store: &dyn Store, size: u64) -> Result<SeenIds, StoreError> {
        let mut seen = SeenIds::with_capacity((size * 2).max(MIN_CAPACITY));
        let mut start = 0;
        while start < size {
            let end = (start + SCAN_CHUNK).min(size);
            for id in store.event_ids(start, end)? {
                seen.insert(&id);
            }
            start = end;
        }
        Ok(seen)
    }

    fn with_capacity(capacity: u64) -> SeenIds {
        let nbits = (capacity * BITS_PER_ID).next_power_of_two();
        SeenIds {
            bits: vec![0; (nbits / 64) as usize],
            nbits,
            count: 0,
            capacity,
            hasher: RandomState::default(),
        }
    }

    /// Past its capacity the filter's false-positive rate climbs; the sealer
    /// then rebuilds a larger one.
    pub(super) fn is_full(&self) -> bool {
        self.count > self.capacity
    }

    fn positions(&self, id: &str) -> impl Iterator<Item = u64> {
        // Double hashing (Kirsch–Mitzenmacher): two hashes give all k.
        let h = self.hasher.hash_one(id);
        let (h1, h2) = (h, h.rotate_left(32) | 1);
        let mask = self.nbits - 1;
        (0..HASHES).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) & mask)
    }

    pub(super) fn insert(&mut self, id: &str) {
        let mut positions = [0u64; HASHES as usize];
        for (slot, p) in positions.iter_mut().zip(self.positions(id)) {
            *slot = p;
        }
        for p in positions {
            if let Some(word) = self.bits.get_mut((p / 64) as usize) {
                *word |= 1 << (p % 64);
            }
        }
        self.count += 1;
    }

    /// False means the id was never sealed.
    pub(super) fn may_contain(&self, id: &str) -> bool {
        self.positions(id).all(|p| {
            self.bits
                .get((p / 64) as usize)
                .is_some_and(|w| w & (1 << (p % 64)) != 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut s = SeenIds::with_capacity(10_000);
        for i in 0..10_000 {
            s.insert(&format!("id-{i}"));
        }
        assert!((0..10_000).all(|i| s.may_contain(&format!("id-{i}"))));
        let fp = (0..10_000)
            .filter(|i| s.may_contain(&format!("other-{i}")))
            .count();
        assert!(fp < 200, "false-positive rate {}%", fp as f64 / 100.0);
        assert!(!s.is_full());
        s.insert("one more");
        assert!(s.is_full());
    }
}
