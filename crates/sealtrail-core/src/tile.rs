//! C2SP `tlog-tiles`: which tiles a tree needs, their paths, their bytes, and
//! entry bundles. Pure arithmetic and byte layout, no storage.
//!
//! A tile at level `L`, index `N` holds up to 256 consecutive Merkle hashes of
//! level `8L` (the roots of subtrees of `256^L` leaves), starting at hash
//! `N * 256`. Nodes between tile levels are recomputed by hashing inside a tile.

use std::fmt::Write as _;

use crate::hash::{node_hash, Hash, HASH_LEN};
use crate::proof::NodeSource;

/// Merkle levels spanned by one tile.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile.
pub const TILE_WIDTH: u16 = 256;
/// Entries in an entry bundle are prefixed by a big-endian `u16` length.
pub const MAX_ENTRY_LEN: usize = u16::MAX as usize;

/// One tile: its level, its index within the level and its width (1..=256;
/// 256 is a full tile, anything less is a partial tile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    pub level: u8,
    pub index: u64,
    pub width: u16,
}

/// What a `tile/...` path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TilePath {
    /// `tile/<L>/<N>[.p/<W>]`: Merkle hashes.
    Hashes(TileId),
    /// `tile/entries/<N>[.p/<W>]`: an entry bundle (level is always 0).
    Entries(TileId),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    #[error("bad tile path {path:?}: {why}")]
    BadPath { path: String, why: &'static str },
    #[error("tile {tile} must be {expected} bytes, got {got}")]
    WrongLength {
        tile: String,
        expected: usize,
        got: usize,
    },
    #[error("entry {index} is {len} bytes; tlog-tiles entry bundles hold entries of at most 65535 bytes")]
    EntryTooLarge { index: usize, len: usize },
    #[error("entry bundle is truncated at byte {offset}")]
    TruncatedBundle { offset: usize },
    #[error("entry bundle holds {got} entries, expected {expected}")]
    BundleCount { expected: usize, got: usize },
    /// A tile whose hashes would lie past the largest tree a 64-bit size can
    /// describe: no log has it, so ask for a smaller index.
    #[error("tile {tile} cannot exist: {why}")]
    OutOfRange { tile: String, why: &'static str },
    /// A well-formed tile that the tree of `size` leaves does not (yet) hold
    /// at that width: ask again once the log has grown past it.
    #[error("{tile} is not in the tree of size {size}")]
    NotInTree { tile: String, size: u64 },
}

impl TileId {
    pub fn full(level: u8, index: u64) -> Self {
        TileId {
            level,
            index,
            width: TILE_WIDTH,
        }
    }

    pub fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// `tile/<L>/<N>[.p/<W>]`, without the log's URL prefix.
    pub fn path(&self) -> String {
        format!("tile/{}/{}", self.level, self.suffix())
    }

    /// `tile/entries/<N>[.p/<W>]`, for level-0 tiles.
    pub fn entries_path(&self) -> String {
        format!("tile/entries/{}", self.suffix())
    }

    fn suffix(&self) -> String {
        let mut s = encode_index(self.index);
        if !self.is_full() {
            let _ = write!(s, ".p/{}", self.width);
        }
        s
    }

    /// The Merkle level of the hashes stored in this tile.
    pub fn hash_level(&self) -> u32 {
        u32::from(self.level) * u32::from(TILE_HEIGHT)
    }

    /// Byte length of this tile.
    pub fn byte_len(&self) -> usize {
        usize::from(self.width) * HASH_LEN
    }

    /// The hashes this tile holds, as indexes within its Merkle level
    /// (`index * 256 .. index * 256 + width`). Every caller that turns a
    /// tile into store offsets goes through here: a tile index comes from a
    /// URL, and `index * 256` of a large one does not fit in 64 bits.
    pub fn hash_range(&self) -> Result<std::ops::Range<u64>, TileError> {
        let out_of_range = |why| TileError::OutOfRange {
            tile: self.path(),
            why,
        };
        if self.width == 0 || self.width > TILE_WIDTH {
            return Err(out_of_range("a tile holds 1 to 256 hashes"));
        }
        let start = self
            .index
            .checked_mul(u64::from(TILE_WIDTH))
            .ok_or_else(|| out_of_range("its first hash index overflows 64 bits"))?;
        let end = start
            .checked_add(u64::from(self.width))
            .ok_or_else(|| out_of_range("its last hash index overflows 64 bits"))?;
        Ok(start..end)
    }

    /// Whether a tree of `size` leaves holds this tile at least as wide as
    /// it is named: a partial tile stays servable once its tile has grown,
    /// because its hashes never change. `Err(NotInTree)` when it does not,
    /// `Err(OutOfRange)` when no tree could.
    pub fn check_in_tree(&self, size: u64) -> Result<(), TileError> {
        let hashes = self.hash_range()?;
        // The range is non-empty (width >= 1), so `end - 1` cannot wrap.
        let last = hashes.end - 1;
        let held = tile_containing(self.level, last, size)
            .is_some_and(|t| t.index == self.index && t.width >= self.width);
        if held {
            Ok(())
        } else {
            Err(TileError::NotInTree {
                tile: self.path(),
                size,
            })
        }
    }
}

impl std::fmt::Display for TileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.path())
    }
}

/// `1234067` → `x001/x234/067`: 3-digit groups, all but the last prefixed `x`.
pub fn encode_index(mut n: u64) -> String {
    let mut groups = vec![n % 1000];
    n /= 1000;
    while n > 0 {
        groups.push(n % 1000);
        n /= 1000;
    }
    let mut s = String::with_capacity(groups.len() * 5);
    for (i, g) in groups.iter().rev().enumerate() {
        if i + 1 < groups.len() {
            let _ = write!(s, "x{g:03}/");
        } else {
            let _ = write!(s, "{g:03}");
        }
    }
    s
}

fn parse_decimal_no_leading_zero(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Parses a path relative to the log prefix, such as `tile/0/x001/067.p/5`
/// or `tile/entries/012`. Only the canonical encoding is accepted, so each
/// tile has exactly one name.
pub fn parse_tile_path(path: &str) -> Result<TilePath, TileError> {
    let bad = |why| TileError::BadPath {
        path: path.to_string(),
        why,
    };
    let rest = path
        .strip_prefix("tile/")
        .ok_or_else(|| bad("must start with tile/"))?;
    let (level, rest, entries) = match rest.strip_prefix("entries/") {
        Some(r) => (0u8, r, true),
        None => {
            let (l, r) = rest.split_once('/').ok_or_else(|| bad("missing level"))?;
            let level = parse_decimal_no_leading_zero(l)
                .filter(|l| *l <= 63)
                .ok_or_else(|| bad("level must be 0..=63 without leading zeros"))?;
            (level as u8, r, false)
        }
    };
    let (index_part, width) = match rest.split_once(".p/") {
        Some((i, w)) => {
            let w = parse_decimal_no_leading_zero(w)
                .filter(|w| (1..256).contains(w))
                .ok_or_else(|| bad("partial width must be 1..=255 without leading zeros"))?;
            (i, w as u16)
        }
        None => (rest, TILE_WIDTH),
    };
    let groups: Vec<&str> = index_part.split('/').collect();
    let mut index: u64 = 0;
    for (i, g) in groups.iter().enumerate() {
        let last = i + 1 == groups.len();
        let digits = if last {
            *g
        } else {
            g.strip_prefix('x')
                .ok_or_else(|| bad("inner index groups start with x"))?
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("index groups are exactly 3 digits"));
        }
        let v: u64 = digits.parse().map_err(|_| bad("index group"))?;
        index = index
            .checked_mul(1000)
            .and_then(|x| x.checked_add(v))
            .ok_or_else(|| bad("index overflows 64 bits"))?;
    }
    let tile = TileId {
        level,
        index,
        width,
    };
    if encode_index(index) != index_part {
        return Err(bad("index is not canonically encoded"));
    }
    // A name no tree can hold is refused here, so every TileId this parser
    // returns has a hash range that fits in 64 bits.
    if tile.hash_range().is_err() {
        return Err(bad(
            "index is too large: its hashes would lie past hash 2^64",
        ));
    }
    Ok(if entries {
        TilePath::Entries(tile)
    } else {
        TilePath::Hashes(tile)
    })
}

/// Number of hashes at Merkle level `8 * tile_level` in a tree of `size`.
fn hashes_at_tile_level(size: u64, tile_level: u8) -> u64 {
    let shift = u32::from(tile_level) * u32::from(TILE_HEIGHT);
    if shift >= 64 {
        0
    } else {
        size >> shift
    }
}

/// The tile at `level` that holds hash number `hash_index` of that level, as
/// it stands in a tree of `size` leaves (full, or partial with its width).
/// `None` if the tree does not contain that hash yet.
pub fn tile_containing(level: u8, hash_index: u64, size: u64) -> Option<TileId> {
    let count = hashes_at_tile_level(size, level);
    if hash_index >= count {
        return None;
    }
    let index = hash_index / u64::from(TILE_WIDTH);
    // index * 256 <= hash_index < count: neither step can overflow or wrap.
    let width = (count - index * u64::from(TILE_WIDTH)).min(u64::from(TILE_WIDTH)) as u16;
    Some(TileId {
        level,
        index,
        width,
    })
}

/// Every tile (full and the partial right edge, per level) of a tree of `size`.
pub fn tiles_for_size(size: u64) -> Vec<TileId> {
    changed_tiles(0, size)
}

/// The tiles of the tree at `new` that did not exist, or were narrower, at
/// `old`: exactly what must be written when the tree grows from `old` to `new`.
pub fn changed_tiles(old: u64, new: u64) -> Vec<TileId> {
    let mut out = Vec::new();
    if new <= old {
        return out;
    }
    for level in 0..8u8 {
        let new_count = hashes_at_tile_level(new, level);
        if new_count == 0 {
            break;
        }
        let old_count = hashes_at_tile_level(old, level);
        if old_count == new_count {
            continue;
        }
        let w = u64::from(TILE_WIDTH);
        // The first tile whose content changed is the one holding old_count.
        let first = old_count / w;
        let last = (new_count - 1) / w;
        for index in first..=last {
            let width = (new_count - index * w).min(w) as u16;
            out.push(TileId {
                level,
                index,
                width,
            });
        }
    }
    out
}

/// Concatenates hashes into tile bytes.
pub fn encode_tile(hashes: &[Hash]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hashes.len() * HASH_LEN);
    for h in hashes {
        out.extend_from_slice(&h.0);
    }
    out
}

/// Splits tile bytes into hashes, checking the length against the tile's width.
pub fn decode_tile(tile: &TileId, bytes: &[u8]) -> Result<Vec<Hash>, TileError> {
    if bytes.len() != tile.byte_len() {
        return Err(TileError::WrongLength {
            tile: tile.path(),
            expected: tile.byte_len(),
            got: bytes.len(),
        });
    }
    Ok(bytes
        .chunks_exact(HASH_LEN)
        .filter_map(Hash::from_slice)
        .collect())
}

/// Root of a run of `2^k` hashes (folding pairwise); a full tile's root is
/// the hash one tile level up.
pub fn fold_perfect(hashes: &[Hash]) -> Option<Hash> {
    if hashes.is_empty() || !hashes.len().is_power_of_two() {
        return None;
    }
    let mut row: Vec<Hash> = hashes.to_vec();
    while row.len() > 1 {
        row = row
            .chunks_exact(2)
            .map(|p| node_hash(&p[0], &p[1]))
            .collect();
    }
    row.first().copied()
}

/// Encodes entries as an entry bundle (`u16` big-endian length prefixes).
pub fn encode_entry_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, TileError> {
    let total: usize = entries.iter().map(|e| e.as_ref().len() + 2).sum();
    let mut out = Vec::with_capacity(total);
    for (index, e) in entries.iter().enumerate() {
        let e = e.as_ref();
        let len = u16::try_from(e.len()).map_err(|_| TileError::EntryTooLarge {
            index,
            len: e.len(),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Splits an entry bundle into its entries.
pub fn decode_entry_bundle(bytes: &[u8]) -> Result<Vec<&[u8]>, TileError> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let len_bytes = bytes
            .get(offset..offset + 2)
            .ok_or(TileError::TruncatedBundle { offset })?;
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        let entry = bytes
            .get(offset + 2..offset + 2 + len)
            .ok_or(TileError::TruncatedBundle { offset })?;
        out.push(entry);
        offset += 2 + len;
    }
    Ok(out)
}

/// Reads tile bytes from somewhere (a store, a cache, HTTP).
pub trait TileSource {
    type Error;
    fn read_tile(&self, tile: &TileId) -> Result<Vec<u8>, Self::Error>;
}

/// Why a node could not be computed from tiles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileNodeError<E> {
    #[error("node at level {level}, index {index} is not in a tree of size {size}")]
    OutsideTree { level: u8, index: u64, size: u64 },
    #[error("reading {tile}: {source}")]
    Read { tile: String, source: E },
    #[error(transparent)]
    Malformed(TileError),
}

/// A [`NodeSource`] over the tiles of a tree of a fixed size: the way a
/// tlog client computes proofs, and the way the server answers proof requests.
pub struct TileNodeSource<'a, T> {
    size: u64,
    tiles: &'a T,
}

impl<'a, T: TileSource> TileNodeSource<'a, T> {
    pub fn new(size: u64, tiles: &'a T) -> Self {
        TileNodeSource { size, tiles }
    }
}

impl<T: TileSource> NodeSource for TileNodeSource<'_, T> {
    type Error = TileNodeError<T::Error>;

    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        let outside = || TileNodeError::OutsideTree {
            level,
            index,
            size: self.size,
        };
        let tile_level = level / TILE_HEIGHT;
        let rise = level % TILE_HEIGHT;
        let first = index.checked_shl(u32::from(rise)).ok_or_else(outside)?;
        let count = 1u64 << rise;
        let last = first.checked_add(count - 1).ok_or_else(outside)?;
        let tile = tile_containing(tile_level, last, self.size).ok_or_else(outside)?;
        let bytes = self
            .tiles
            .read_tile(&tile)
            .map_err(|source| TileNodeError::Read {
                tile: tile.path(),
                source,
            })?;
        let hashes = decode_tile(&tile, &bytes).map_err(TileNodeError::Malformed)?;
        let start = (first % u64::from(TILE_WIDTH)) as usize;
        let run = hashes
            .get(start..start + count as usize)
            .ok_or(TileNodeError::Malformed(TileError::WrongLength {
                tile: tile.path(),
                expected: tile.byte_len(),
                got: bytes.len(),
            }))?;
        fold_perfect(run).ok_or(TileNodeError::Malformed(TileError::WrongLength {
            tile: tile.path(),
            expected: tile.byte_len(),
            got: bytes.len(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_encoding_matches_the_spec_example() {
        assert_eq!(encode_index(1234067), "x001/x234/067");
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(1000), "x001/000");
        let t = TileId {
            level: 0,
            index: 1234067,
            width: 5,
        };
        assert_eq!(t.path(), "tile/0/x001/x234/067.p/5");
        assert_eq!(t.entries_path(), "tile/entries/x001/x234/067.p/5");
    }

    #[test]
    fn paths_round_trip_and_non_canonical_forms_are_refused() {
        for t in tiles_for_size(70_000) {
            assert_eq!(parse_tile_path(&t.path()), Ok(TilePath::Hashes(t)));
        }
        for bad in [
            "tile/00/000",
            "tile/0/x000/005",
            "tile/0/05",
            "tile/0/005.p/0",
            "tile/0/005.p/256",
            "tile/0/005.p/05",
            "tile/64/000",
            "tile/0/001/002",
            "tiles/0/000",
            "tile/entries/x1/000",
        ] {
            assert!(parse_tile_path(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_tile_path("tile/entries/x001/002.p/7"),
            Ok(TilePath::Entries(TileId {
                level: 0,
                index: 1002,
                width: 7
            }))
        );
    }

    #[test]
    fn tree_of_70000_needs_the_spec_tiles() {
        // The spec's example: 273 full level-0 tiles, a level-0 partial of
        // width 112, one full level-1 tile, a level-1 partial of width 17 and
        // a level-2 partial of width 1.
        let tiles = tiles_for_size(70_000);
        let level0: Vec<_> = tiles.iter().filter(|t| t.level == 0).collect();
        assert_eq!(level0.iter().filter(|t| t.is_full()).count(), 273);
        assert!(level0.iter().any(|t| t.index == 273 && t.width == 112));
        let level1: Vec<_> = tiles.iter().filter(|t| t.level == 1).collect();
        assert_eq!(level1.len(), 2);
        assert!(level1.iter().any(|t| t.index == 1 && t.width == 17));
        assert_eq!(
            tiles.iter().filter(|t| t.level == 2).collect::<Vec<_>>(),
            vec![&TileId {
                level: 2,
                index: 0,
                width: 1
            }]
        );
        // Size 256: one full level-0 tile and a level-1 partial of width 1.
        assert_eq!(
            tiles_for_size(256),
            vec![
                TileId::full(0, 0),
                TileId {
                    level: 1,
                    index: 0,
                    width: 1
                }
            ]
        );
    }

    #[test]
    fn changed_tiles_covers_exactly_the_growth() {
        for (old, new) in [(0u64, 1u64), (255, 256), (256, 300), (1000, 70_000), (5, 5)] {
            let changed = changed_tiles(old, new);
            let before = tiles_for_size(old);
            for t in tiles_for_size(new) {
                assert_eq!(
                    changed.contains(&t),
                    !before.contains(&t),
                    "{old}->{new} {t}"
                );
            }
        }
    }

    /// Tile names whose hash index does not fit in 64 bits: the largest
    /// canonical index (u64::MAX), and the first index whose `* 256` wraps.
    const OVERFLOWING: [&str; 6] = [
        "tile/0/x018/x446/x744/x073/x709/x551/615",
        "tile/entries/x018/x446/x744/x073/x709/x551/615",
        "tile/0/x018/x446/x744/x073/x709/x551/615.p/1",
        "tile/entries/x018/x446/x744/x073/x709/x551/615.p/255",
        "tile/63/x072/x057/x594/x037/x927/936",
        "tile/entries/x072/x057/x594/x037/x927/936",
    ];

    #[test]
    fn names_past_hash_2_pow_64_are_refused_not_wrapped() {
        for path in OVERFLOWING {
            let err = parse_tile_path(path).expect_err(path);
            assert!(err.to_string().contains("too large"), "{path}: {err}");
        }
        // The last tile index that fits holds hashes up to 2^64 - 2 (the
        // largest hash index a 64-bit tree size allows): width 255 parses,
        // a full tile there would end at 2^64 and is refused.
        let last = (1u64 << 56) - 1;
        let edge = TileId {
            level: 0,
            index: last,
            width: 255,
        };
        assert_eq!(parse_tile_path(&edge.path()), Ok(TilePath::Hashes(edge)));
        assert_eq!(edge.hash_range(), Ok(last * 256..u64::MAX));
        assert!(parse_tile_path(&TileId::full(0, last).path()).is_err());
        let full = TileId::full(0, last - 1);
        assert_eq!(parse_tile_path(&full.path()), Ok(TilePath::Hashes(full)));
        for width in [0, 257, u16::MAX] {
            let t = TileId {
                level: 0,
                index: 0,
                width,
            };
            assert!(
                matches!(t.hash_range(), Err(TileError::OutOfRange { .. })),
                "{width}"
            );
            assert!(t.check_in_tree(1000).is_err(), "{width}");
        }
    }

    #[test]
    fn check_in_tree_matches_the_tiles_a_tree_has() {
        assert_eq!(TileId::full(0, 0).check_in_tree(256), Ok(()));
        assert!(matches!(
            TileId::full(0, 1).check_in_tree(256),
            Err(TileError::NotInTree { size: 256, .. })
        ));
        let narrow = TileId {
            level: 0,
            index: 1,
            width: 3,
        };
        assert!(narrow.check_in_tree(258).is_err());
        assert_eq!(narrow.check_in_tree(259), Ok(()));
        // A partial tile stays available after its tile has grown.
        assert_eq!(narrow.check_in_tree(100_000), Ok(()));
        // Levels past 7 hold nothing in any 64-bit tree.
        assert!(TileId::full(8, 0).check_in_tree(u64::MAX).is_err());
        assert!(TileId::full(63, 0).check_in_tree(u64::MAX).is_err());
        assert!(TileId::full(0, u64::MAX).check_in_tree(u64::MAX).is_err());
        assert_eq!(
            TileId {
                level: 7,
                index: 0,
                width: 255
            }
            .check_in_tree(u64::MAX),
            Ok(())
        );
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn any_tile() -> impl Strategy<Value = TileId> {
            let index = prop_oneof![
                0u64..2000,
                any::<u64>(),
                (0u64..300).prop_map(|d| u64::MAX / 256 - 150 + d),
                (0u64..4).prop_map(|d| u64::MAX - d),
            ];
            (0u8..=70, index, 0u16..=300).prop_map(|(level, index, width)| TileId {
                level,
                index,
                width,
            })
        }

        fn any_size() -> impl Strategy<Value = u64> {
            prop_oneof![
                0u64..100_000,
                any::<u64>(),
                (0u64..4).prop_map(|d| u64::MAX - d)
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4096))]

            /// Every tile, named or constructed, gets an answer: a range that
            /// holds exactly `width` hashes, or a typed refusal.
            #[test]
            fn tile_math_answers_without_overflow(t in any_tile(), size in any_size()) {
                match t.hash_range() {
                    Ok(r) => {
                        prop_assert!((1..=256).contains(&t.width));
                        prop_assert_eq!(r.end - r.start, u64::from(t.width));
                        prop_assert_eq!(r.start / 256, t.index);
                    }
                    Err(e) => prop_assert!(matches!(e, TileError::OutOfRange { .. }), "{}", e),
                }
                match t.check_in_tree(size) {
                    Ok(()) => {
                        let r = t.hash_range().expect("a tile in a tree has a range");
                        let held = hashes_at_tile_level(size, t.level);
                        prop_assert!(r.end <= held, "{t} past {held} hashes");
                    }
                    Err(TileError::NotInTree { size: s, .. }) => prop_assert_eq!(s, size),
                    Err(TileError::OutOfRange { .. }) => prop_assert!(t.hash_range().is_err(), "{}", t),
                    Err(e) => prop_assert!(false, "unexpected {e}"),
                }
                for path in [t.path(), t.entries_path()] {
                    match parse_tile_path(&path) {
                        Ok(TilePath::Hashes(p) | TilePath::Entries(p)) => {
                            prop_assert!(p.hash_range().is_ok());
                            prop_assert_eq!(p.index, t.index);
                        }
                        Err(TileError::BadPath { .. }) => {}
                        Err(e) => prop_assert!(false, "unexpected {e}"),
                    }
                }
            }

            /// A valid tile's names parse back to it.
            #[test]
            fn valid_tiles_round_trip(level in 0u8..=63, index in 0u64..=(u64::MAX / 256 - 1), width in 1u16..=256) {
                let t = TileId { level, index, width };
                prop_assert_eq!(parse_tile_path(&t.path()), Ok(TilePath::Hashes(t)));
                if level == 0 {
                    prop_assert_eq!(parse_tile_path(&t.entries_path()), Ok(TilePath::Entries(t)));
                }
            }

            /// `check_in_tree` says yes exactly for the tiles of the tree (at
            /// their width or narrower).
            #[test]
            fn check_in_tree_agrees_with_tiles_for_size(size in 0u64..70_000, level in 0u8..3, index in 0u64..300, width in 1u16..=256) {
                let t = TileId { level, index, width };
                let listed = tiles_for_size(size)
                    .iter()
                    .any(|x| x.level == level && x.index == index && x.width >= width);
                prop_assert_eq!(t.check_in_tree(size).is_ok(), listed);
            }
        }
    }

    #[test]
    fn entry_bundles_round_trip_and_reject_damage() {
        let entries: Vec<Vec<u8>> = vec![b"".to_vec(), b"a".to_vec(), vec![7; 300]];
        let bundle = encode_entry_bundle(&entries).unwrap();
        let back = decode_entry_bundle(&bundle).unwrap();
        assert_eq!(
            back,
            entries.iter().map(|e| e.as_slice()).collect::<Vec<_>>()
        );
        assert!(decode_entry_bundle(&bundle[..bundle.len() - 1]).is_err());
        assert!(matches!(
            encode_entry_bundle(&[vec![0u8; 65536]]),
            Err(TileError::EntryTooLarge { index: 0, .. })
        ));
    }
}
