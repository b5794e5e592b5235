//! Test helpers shared by the workspace's integration tests (dev-only, not
//! published): a real server in process ([`server`], feature `server`), the
//! `sealtrail` binary as a process ([`cli`]) and evidence bundles it exports
//! ([`bundle`]), PostgreSQL schemas that drop themselves ([`postgres`]),
//! fsck that asserts a clean store ([`fsck`]), a throwaway TLS CA ([`tls`]),
//! the project's Python and outside tools ([`python`], [`tools`]), and the
//! one rule for a test that cannot run here ([`skip`]: SKIPPED locally, a
//! failure under `CI=true`).
//!
//! Helpers panic with a message on failure: they are test code, where a
//! panic is how a test fails.

pub mod bundle;
pub mod cli;
pub mod fsck;
pub mod http;
pub mod postgres;
pub mod python;
#[cfg(feature = "server")]
pub mod server;
pub mod skip;
pub mod tls;
pub mod tools;

pub use bundle::{entries_text, unzip};
pub use fsck::fsck_ok;
pub use http::{get_json, post_json};
pub use postgres::{
    off_runtime, pg_store, pg_url, postgres_schema, random_hex, require_postgres, skip_postgres,
    SchemaGuard,
};
#[cfg(feature = "server")]
pub use server::{event, options, postgres_options, TestServer};
pub use skip::skip_or_fail;
