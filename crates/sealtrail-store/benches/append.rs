//! Store-only ingest ceiling of the embedded store: durable `append_batch`
//! of synthetic sealed entries (see common/mod.rs); no HTTP, no parsing.
//!
//! Run: `cargo bench -p sealtrail-store --bench append [-- BATCH TOTAL]`

mod common;

use sealtrail_store::sqlite::SqliteStore;

fn main() {
    let (batch, total) = common::sizes();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).expect("open");
    common::fill(&store, "SQLite", batch, total);
}
