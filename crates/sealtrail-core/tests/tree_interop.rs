//! Our Merkle math against published RFC 6962 vectors and against
//! Cloudflare's `tlog_tiles` (a port of Go's `golang.org/x/mod/sumdb/tlog`):
//! roots, inclusion and consistency proofs, tile paths and tile contents
//! must agree for every tree size 1..=1100 and for random sizes up to 10^6.

use std::collections::HashMap;

use proptest::prelude::*;
use sealtrail_core::frontier::Frontier;
use sealtrail_core::hash::{leaf_hash, Hash};
use sealtrail_core::proof::{
    prove_consistency, prove_inclusion, tree_root, verify_consistency, verify_inclusion,
    MemoryTree, NodeSource,
};
use sealtrail_core::tile::{
    changed_tiles, encode_tile, tiles_for_size, TileId, TileNodeSource, TileSource,
};

fn theirs(h: &Hash) -> tlog_tiles::Hash {
    tlog_tiles::Hash(h.0)
}

/// Go-tlog "stored hash index" reader over our in-memory tree.
struct StoredReader<'a>(&'a MemoryTree);

impl tlog_tiles::HashReader for StoredReader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                let (level, n) = tlog_tiles::split_stored_hash_index(i);
                self.0
                    .node(level, n)
                    .map(|h| theirs(&h))
                    .map_err(|_| tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

fn build(n: u64) -> MemoryTree {
    let mut t = MemoryTree::new();
    for i in 0..n {
        t.push(leaf_hash(format!("entry {i}").as_bytes()));
    }
    t
}

/// Tiles of `tree` at `size`, built from its nodes the way a log publishes them.
struct Tiles(HashMap<TileId, Vec<u8>>);

impl Tiles {
    fn of(tree: &MemoryTree, size: u64) -> Self {
        let mut map = HashMap::new();
        for t in tiles_for_size(size) {
            let first = t.index * 256;
            let hashes: Vec<Hash> = (first..first + u64::from(t.width))
                .map(|i| tree.node(t.hash_level() as u8, i).unwrap())
                .collect();
            map.insert(t, encode_tile(&hashes));
        }
        Tiles(map)
    }
}

impl TileSource for Tiles {
    type Error = String;
    fn read_tile(&self, tile: &TileId) -> Result<Vec<u8>, String> {
        self.0
            .get(tile)
            .cloned()
            .ok_or_else(|| format!("no tile {tile}"))
    }
}

impl tlog_tiles::TileReader for Tiles {
    fn height(&self) -> u8 {
        8
    }
    fn read_tiles(&self, tiles: &[tlog_tiles::Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        tiles
            .iter()
            .map(|t| {
                let id = TileId {
                    level: t.level(),
                    index: t.level_index(),
                    width: t.width() as u16,
                };
                self.0
                    .get(&id)
                    .cloned()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
    fn save_tiles(&self, _: &[tlog_tiles::Tile], _: &[Vec<u8>]) {}
}

#[test]
fn rfc6962_reference_roots() {
    // The 8-leaf tree used by RFC 6962 implementations' test suites
    // (certificate-transparency, Trillian): leaf data and the root at each size.
    let leaves: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ];
    let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let mut f = Frontier::new();
    assert_eq!(
        f.root().to_hex(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    for (leaf, root) in leaves.iter().zip(roots) {
        f.append(leaf_hash(leaf));
        assert_eq!(f.root().to_hex(), root, "size {}", f.size());
    }
}

#[test]
fn roots_and_proofs_agree_with_tlog_tiles_for_every_size_to_1100() {
    let tree = build(1100);
    let reader = StoredReader(&tree);
    let mut frontier = Frontier::new();
    for size in 1..=1100u64 {
        frontier.append(tree.node(0, size - 1).unwrap());
        let root = frontier.root();
        assert_eq!(tree_root(&tree, size).unwrap(), root);
        assert_eq!(
            tlog_tiles::tree_hash(size, &reader).unwrap(),
            theirs(&root),
            "size {size}"
        );
        // Every index for small trees, a spread for larger ones.
        let step = if size <= 64 { 1 } else { size / 13 + 1 };
        for index in (0..size).step_by(step as usize).chain([size - 1]) {
            let ours = prove_inclusion(&tree, index, size).unwrap();
            let their = tlog_tiles::prove_record(size, index, &reader).unwrap();
            assert_eq!(
                ours.iter().map(theirs).collect::<Vec<_>>(),
                their,
                "{index}@{size}"
            );
            let leaf = tree.node(0, index).unwrap();
            verify_inclusion(index, size, &leaf, &ours, &root).unwrap();
            tlog_tiles::check_record(&their, size, theirs(&root), index, theirs(&leaf)).unwrap();
        }
        for from in (1..size).step_by(step as usize) {
            let ours = prove_consistency(&tree, from, size).unwrap();
            let their = tlog_tiles::prove_tree(size, from, &reader).unwrap();
            assert_eq!(
                ours.iter().map(theirs).collect::<Vec<_>>(),
                their,
                "{from}->{size}"
            );
            let from_root = tree_root(&tree, from).unwrap();
            verify_consistency(from, size, &from_root, &root, &ours).unwrap();
        }
    }
}

#[test]
fn tile_paths_and_growth_agree_with_tlog_tiles() {
    for (old, new) in [
        (0u64, 1u64),
        (0, 70_000),
        (255, 256),
        (1000, 1_000_000),
        (65_535, 65_537),
    ] {
        let ours: Vec<String> = changed_tiles(old, new).iter().map(TileId::path).collect();
        let their: Vec<String> = tlog_tiles::Tile::new_tiles(8, old, new)
            .iter()
            .map(|t| t.path().replacen("tile/8/", "tile/", 1))
            .collect();
        assert_eq!(ours, their, "{old}->{new}");
    }
}

/// One tree of 10^6 leaves shared by the large-size checks.
fn big_tree() -> &'static MemoryTree {
    static TREE: std::sync::OnceLock<MemoryTree> = std::sync::OnceLock::new();
    TREE.get_or_init(|| build(1_000_000))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_sizes_up_to_a_million_agree(size in 1u64..=1_000_000, a in any::<u64>(), b in any::<u64>()) {
        let tree = big_tree();
        let reader = StoredReader(tree);
        let root = tree_root(tree, size).unwrap();
        prop_assert_eq!(tlog_tiles::tree_hash(size, &reader).unwrap(), theirs(&root));

        let index = a % size;
        let ours = prove_inclusion(tree, index, size).unwrap();
        let their = tlog_tiles::prove_record(size, index, &reader).unwrap();
        prop_assert_eq!(ours.iter().map(theirs).collect::<Vec<_>>(), their);

        let from = 1 + b % size;
        let ours = prove_consistency(tree, from, size).unwrap();
        let their = tlog_tiles::prove_tree(size, from, &reader).unwrap();
        prop_assert_eq!(ours.iter().map(theirs).collect::<Vec<_>>(), their);

        // Our tiles, read through their authenticated tile reader, give the
        // same root and proof, and our tile-backed node source agrees too.
        let tiles = Tiles::of(tree, size);
        let tile_reader = tlog_tiles::TileHashReader::new(size, theirs(&root), &tiles);
        let via_tiles = tlog_tiles::prove_record(size, index, &tile_reader).unwrap();
        prop_assert_eq!(via_tiles, prove_inclusion(tree, index, size).unwrap().iter().map(theirs).collect::<Vec<_>>());
        let src = TileNodeSource::new(size, &tiles);
        prop_assert_eq!(tree_root(&src, size).unwrap(), root);
        prop_assert_eq!(prove_inclusion(&src, index, size).unwrap(), prove_inclusion(tree, index, size).unwrap());
        prop_assert_eq!(Frontier::from_source(&src, size).unwrap().root(), root);
    }
}
