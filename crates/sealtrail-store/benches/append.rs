//! Store-only ingest ceiling of the embedded store: durable `append_batch`
//! of synthetic sealed entries (see common/mod.rs); no HTTP, no parsing.
//!
//! Run: `cargo bench -p sealtrail-store --bench append [-- BATCH TOTAL]`
//!
//! `DROP=entries_kind,entries_tool` drops those indexes (or tables) after
//! the store is created, to measure what each one costs.

mod common;

use sealtrail_store::sqlite::SqliteStore;

fn main() {
    let (batch, total) = common::sizes();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).expect("open");
    if let Ok(names) = std::env::var("DROP") {
        let db = rusqlite::Connection::open(dir.path().join("log.db")).expect("open log.db");
        for name in names.split(',').filter(|n| !n.is_empty()) {
            let kind = if name.starts_with("entries_") {
                "INDEX"
            } else {
                "TABLE"
            };
            db.execute_batch(&format!("DROP {kind} {name}"))
                .unwrap_or_else(|e| panic!("DROP {kind} {name}: {e}"));
        }
        eprintln!("dropped: {names}");
    }
    common::fill(&store, "SQLite", batch, total);
}
