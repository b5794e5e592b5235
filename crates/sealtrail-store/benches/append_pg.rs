//! Store-only ingest ceiling of the PostgreSQL backend: benches/append.rs
//! (durable `append_batch` of synthetic sealed entries, ≈500-byte headers,
//! 1 KiB bodies) against `PgStore`, in a fresh schema dropped afterwards.
//!
//! Run: `cargo bench -p sealtrail-store --bench append_pg [-- BATCH TOTAL]`
//! against `SEALTRAIL_BENCH_DATABASE_URL` (default: the local socket,
//! user postgres, database test).

mod common;

use sealtrail_store::postgres::{PgOptions, PgStore};

/// Drops the bench schema, also when the bench panics.
struct DropSchema {
    url: String,
    schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        match postgres::Client::connect(&self.url, postgres::NoTls)
            .and_then(|mut c| c.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema)))
        {
            Ok(()) => {}
            Err(e) => eprintln!("cannot drop schema {}: {e}; drop it by hand", self.schema),
        }
    }
}

fn main() {
    let (batch, total) = common::sizes();
    let url = std::env::var("SEALTRAIL_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "host=/var/run/postgresql user=postgres dbname=test".into());
    let schema = format!("sealtrail_bench_{}", std::process::id());
    let _guard = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let store = PgStore::connect(
        &url,
        PgOptions {
            schema: schema.clone(),
            ..PgOptions::default()
        },
    )
    .expect("connect (set SEALTRAIL_BENCH_DATABASE_URL)");
    common::fill(&store, "PostgreSQL", batch, total);
}
