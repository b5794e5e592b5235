//! tlog-tiles names and the arithmetic derived from them: any text either
//! parses to a tile whose hash range fits in 64 bits and whose canonical
//! name is the text, or is refused; any tile, named or built from raw
//! numbers, gets a range, a place in a tree, and its nodes computed from
//! tiles without an overflow or a panic; every valid tile's names parse
//! back to it.
//!
//! Input: `path` [`\0` 27 bytes: level, index (u64 BE), width (u16 BE),
//! size (u64 BE), hash index (u64 BE)].
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealtrail_core::proof::NodeSource;
use sealtrail_core::tile::{
    parse_tile_path, tile_containing, TileError, TileId, TileNodeSource, TilePath, TileSource,
    TILE_WIDTH,
};

/// Tiles of zero hashes at the width asked: enough for the node arithmetic.
struct Zeros;

impl TileSource for Zeros {
    type Error = std::convert::Infallible;
    fn read_tile(&self, tile: &TileId) -> Result<Vec<u8>, Self::Error> {
        Ok(vec![0; tile.byte_len()])
    }
}

fn be<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = b.get(at + i).copied().unwrap_or(0);
    }
    out
}

fn check_tile(t: &TileId, size: u64) {
    match t.hash_range() {
        Ok(r) => {
            assert!((1..=TILE_WIDTH).contains(&t.width), "{t:?}");
            assert_eq!(r.end - r.start, u64::from(t.width));
            assert_eq!(r.start / u64::from(TILE_WIDTH), t.index);
            if t.level <= 63 {
                assert_eq!(parse_tile_path(&t.path()), Ok(TilePath::Hashes(*t)));
                if t.level == 0 {
                    assert_eq!(
                        parse_tile_path(&t.entries_path()),
                        Ok(TilePath::Entries(*t))
                    );
                }
            }
        }
        Err(e) => assert!(matches!(e, TileError::OutOfRange { .. }), "{e}"),
    }
    match t.check_in_tree(size) {
        Ok(()) => {
            let r = t.hash_range().expect("a tile in a tree has a range");
            // The tree holds every hash of the tile at its level.
            let last = tile_containing(t.level, r.end - 1, size).expect("last hash is held");
            assert_eq!(last.index, t.index);
            assert!(last.width >= t.width);
        }
        Err(TileError::NotInTree { size: s, .. }) => assert_eq!(s, size),
        Err(TileError::OutOfRange { .. }) => assert!(t.hash_range().is_err()),
        Err(e) => panic!("unexpected {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let (text, nums) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let size = u64::from_be_bytes(be(nums, 11));
    if let Ok(path) = std::str::from_utf8(text) {
        if let Ok(parsed) = parse_tile_path(path) {
            let (t, name) = match parsed {
                TilePath::Hashes(t) => (t, t.path()),
                TilePath::Entries(t) => (t, t.entries_path()),
            };
            assert_eq!(name, path, "accepted a non-canonical tile path");
            assert!(
                t.hash_range().is_ok(),
                "parsed a tile past hash 2^64: {path}"
            );
            check_tile(&t, size);
        }
    }
    let built = TileId {
        level: nums.first().copied().unwrap_or(0),
        index: u64::from_be_bytes(be(nums, 1)),
        width: u16::from_be_bytes(be(nums, 9)),
    };
    check_tile(&built, size);
    let hash_index = u64::from_be_bytes(be(nums, 19));
    if let Some(t) = tile_containing(built.level, hash_index, size) {
        assert_eq!(t.index, hash_index / u64::from(TILE_WIDTH));
        assert_eq!(t.check_in_tree(size), Ok(()));
    }
    // A node of any level and index, computed from tiles of a tree of `size`.
    let _ = TileNodeSource::new(size, &Zeros).node(built.level, hash_index);
});
