//! sealtrail-core: everything needed to decide whether a sealtrail log is honest.
//!
//! Pure code: no I/O, no async, no clock and no randomness of its own (callers pass
//! time and key material in), so it builds for `wasm32-unknown-unknown` and can be
//! embedded in verifiers anywhere.
//!
//! Formats are byte-compatible with the standards they name: RFC 6962 / RFC 9162
//! Merkle trees, C2SP `signed-note`, `tlog-checkpoint`, `tlog-tiles`,
//! `tlog-cosignature` and `tlog-proof`, and RFC 8785 canonical JSON.

pub mod bundle;
pub mod checkpoint;
pub mod cosignature;
pub mod encoding;
pub mod event;
pub mod frontier;
pub mod hash;
pub mod header;
pub mod heads;
pub mod jcs;
pub mod note;
pub mod ocsf;
pub mod proof;
pub mod registry;
pub mod tile;
pub mod time;
pub mod tlog_proof;

pub use hash::{leaf_hash, node_hash, Hash, HASH_LEN};
