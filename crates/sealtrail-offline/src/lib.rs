//! sealtrail-offline: the commands that need no running server and link
//! none. An auditor's machine, a CI job or an air-gapped host can check
//! evidence with them: `verify BUNDLE` ([`bundle`]), `verify --data`
//! ([`fsck`]), `proof --verify` ([`proof`]: fetches through the Rust client,
//! then trusts only what it can check), `scan` ([`scan`]),
//! `signing-key rotate|list` ([`signing_key`]) and the reference external
//! signer ([`signer`]).
//!
//! Each command prints its report and returns the exit status the CLI
//! documents; an `Err` is a command that could not run (exit status 2).
//! `tests/no_server.rs` keeps axum, tonic, hyper's server and
//! sealtrail-server out of this crate's dependencies.

pub mod bundle;
pub mod bundle_file;
pub mod error;
pub mod fsck;
pub mod proof;
pub mod scan;
pub mod signer;
pub mod signing_key;
mod vkeys;

pub use error::OfflineError;
