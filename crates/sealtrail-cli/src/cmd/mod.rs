//! The commands, one module per group: each holds its clap arguments and the
//! function `main` dispatches to.

pub mod access;
pub mod agents;
pub mod bench;
pub mod export;
pub mod ingest;
pub mod keys;
pub mod mcp_proxy;
pub mod migrate;
pub mod monitor;
pub mod proof;
pub mod query;
pub mod scan;
pub mod server;
pub mod signer;
pub mod verify;
