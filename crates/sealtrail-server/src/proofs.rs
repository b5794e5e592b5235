//! Inclusion and consistency proofs computed from the stored tiles.

use sealtrail_core::hash::Hash;
use sealtrail_core::proof::{prove_consistency, prove_inclusion, tree_root};
use sealtrail_core::tile::TileNodeSource;
use sealtrail_core::tlog_proof::TlogProof;

use crate::error::ApiError;
use crate::tiles::StoreTiles;

fn proof_err(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("cannot build proof: {e}"))
}

pub fn inclusion(tiles: &StoreTiles, index: u64, size: u64) -> Result<Vec<Hash>, ApiError> {
    prove_inclusion(&TileNodeSource::new(size, tiles), index, size).map_err(proof_err)
}

pub fn consistency(tiles: &StoreTiles, from: u64, to: u64) -> Result<Vec<Hash>, ApiError> {
    prove_consistency(&TileNodeSource::new(to, tiles), from, to).map_err(proof_err)
}

pub fn root(tiles: &StoreTiles, size: u64) -> Result<Hash, ApiError> {
    tree_root(&TileNodeSource::new(size, tiles), size).map_err(proof_err)
}

/// A `c2sp.org/tlog-proof@v1` for `index` against a signed checkpoint note.
pub fn tlog_proof(
    tiles: &StoreTiles,
    index: u64,
    size: u64,
    checkpoint_note: &[u8],
) -> Result<String, ApiError> {
    let path = inclusion(tiles, index, size)?;
    let proof = TlogProof {
        extra: None,
        index,
        path,
        checkpoint: checkpoint_note.to_vec(),
    };
    String::from_utf8(proof.to_bytes()).map_err(proof_err)
}
