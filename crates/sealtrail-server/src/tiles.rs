//! The store seen as C2SP tiles, with a cache of full tiles (immutable once
//! complete), so proofs and tile requests cost O(log n) small reads.
//!
//! The cache is `quick_cache`'s: bounded, sharded (readers on two cores do
//! not queue on one lock) and scan-resistant, so a monitor reading every
//! tile once does not evict the upper-level tiles every proof needs (the
//! hand-written map it replaces emptied itself when full).

use std::sync::Arc;

use sealtrail_core::tile::{encode_tile, TileId, TileSource};
use sealtrail_store::{Store, StoreError};

/// Full tiles kept in memory (8 KiB each: 4096 tiles = 32 MiB).
const CACHE_TILES: usize = 4096;

/// Full tiles by `(level, index)`.
type TileCache = quick_cache::sync::Cache<(u8, u64), Arc<Vec<u8>>>;

pub struct StoreTiles {
    store: Arc<dyn Store>,
    cache: TileCache,
}

impl StoreTiles {
    pub fn new(store: Arc<dyn Store>) -> Self {
        StoreTiles {
            store,
            cache: TileCache::new(CACHE_TILES),
        }
    }

    /// The bytes of `tile`, which must lie inside the committed tree.
    pub fn tile(&self, tile: &TileId) -> Result<Arc<Vec<u8>>, StoreError> {
        let key = (tile.level, tile.index);
        if tile.is_full() {
            if let Some(hit) = self.cache.get(&key) {
                return Ok(hit);
            }
        }
        let std::ops::Range { start, end } = tile
            .hash_range()
            .map_err(|e| StoreError::Corrupt(format!("asked for an impossible tile: {e}")))?;
        let hashes = if tile.level == 0 {
            self.store.leaf_hashes(start, end)?
        } else {
            let level = u8::try_from(tile.hash_level()).map_err(|_| {
                StoreError::Corrupt(format!("tile level {} is too high", tile.level))
            })?;
            self.store.nodes(level, start, end)?
        };
        if hashes.len() != usize::from(tile.width) {
            return Err(StoreError::Corrupt(format!(
                "tile {} needs {} hashes, the store has {}",
                tile.path(),
                tile.width,
                hashes.len()
            )));
        }
        let bytes = Arc::new(encode_tile(&hashes));
        if tile.is_full() {
            self.cache.insert(key, bytes.clone());
        }
        Ok(bytes)
    }
}

impl TileSource for StoreTiles {
    type Error = StoreError;

    fn read_tile(&self, tile: &TileId) -> Result<Vec<u8>, StoreError> {
        self.tile(tile).map(|b| b.as_ref().clone())
    }
}
