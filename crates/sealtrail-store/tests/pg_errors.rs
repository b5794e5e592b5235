//! PostgreSQL failure handling: a schema from a newer sealtrail, an
//! unreachable server, connections killed under the store, a statement
//! that waits too long.

mod common;

use std::time::{Duration, Instant};

use common::LogBuilder;
use sealtrail_store::postgres::{PgOptions, PgStore, SCHEMA_VERSION};
use sealtrail_store::prelude::*;
use sealtrail_store::{StoreError, StoredCheckpoint};
use sealtrail_testkit::postgres::{admin, pg_url, pg_url_named, skip_postgres, SchemaGuard};

fn options(schema: &SchemaGuard) -> PgOptions {
    PgOptions {
        schema: schema.name.clone(),
        pool_size: 4,
        ..PgOptions::default()
    }
}

#[test]
fn schema_too_new_is_refused() {
    if skip_postgres("schema_too_new_is_refused") {
        return;
    }
    let schema = SchemaGuard::unique("too_new");
    drop(PgStore::connect(&pg_url(), options(&schema)).expect("create"));
    // Connecting again to the current schema is a no-op.
    drop(PgStore::connect(&pg_url(), options(&schema)).expect("reopen"));
    admin()
        .execute(
            &format!(
                "INSERT INTO \"{}\".schema_migrations (version) VALUES (999)",
                schema.name
            ),
            &[],
        )
        .unwrap();
    match PgStore::connect(&pg_url(), options(&schema)) {
        Err(e @ StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!((found, supported), (999, SCHEMA_VERSION));
            let msg = e.to_string();
            assert!(
                msg.contains("999") && msg.contains("upgrade sealtrail"),
                "{msg}"
            );
        }
        Err(e) => panic!("expected SchemaTooNew, got {e}"),
        Ok(_) => panic!("a schema newer than this binary was accepted"),
    }
}

#[test]
fn unreachable_database_is_a_transient_error_naming_the_address() {
    let started = Instant::now();
    match PgStore::connect("postgres://postgres@127.0.0.1:1/x", PgOptions::default()) {
        Err(e @ StoreError::Database { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with("cannot connect to PostgreSQL at 127.0.0.1:1"),
                "{msg}"
            );
            assert!(msg.to_lowercase().contains("refused"), "{msg}");
            assert!(e.is_transient());
        }
        Err(e) => panic!("expected a database error, got {e:?}"),
        Ok(_) => panic!("connected to port 1"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn invalid_schema_names_are_refused_before_connecting() {
    let opts = PgOptions {
        schema: "x\"; DROP TABLE y; --".into(),
        ..PgOptions::default()
    };
    match PgStore::connect("postgres://postgres@127.0.0.1:1/x", opts) {
        Err(e @ StoreError::Invalid(_)) => {
            assert!(e.to_string().contains("schema name"), "{e}");
            assert!(!e.is_transient(), "a retry cannot help");
        }
        Err(e) => panic!("expected Invalid, got {e:?}"),
        Ok(_) => panic!("accepted"),
    }
}

/// Terminates every backend of `app` and waits until they are gone.
fn kill_backends(app: &str) -> i64 {
    let mut c = admin();
    let killed: i64 = c
        .query_one(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .unwrap()
        .get(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while backends(&mut c, app) > 0 {
        assert!(
            Instant::now() < deadline,
            "backends of {app} do not go away"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    killed
}

fn backends(c: &mut postgres::Client, app: &str) -> i64 {
    c.query_one(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
        &[&app],
    )
    .unwrap()
    .get(0)
}

#[test]
fn store_recovers_after_its_connections_are_killed() {
    if skip_postgres("store_recovers_after_its_connections_are_killed") {
        return;
    }
    let schema = SchemaGuard::unique("recover");
    let app = schema.name.clone();
    let store = PgStore::connect(&pg_url_named(&app), options(&schema)).expect("connect");
    let mut b = LogBuilder::default();
    store.append_batch(&b.batch(10)).unwrap();
    // Open several pooled connections.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..20 {
                    store.head().unwrap();
                    store.entries(0, 10).unwrap();
                }
            });
        }
    });
    assert!(backends(&mut admin(), &app) >= 1);

    // Killed while idle: the first use of each operation finds a dead
    // pooled connection and must succeed on a new one.
    assert!(kill_backends(&app) >= 1);
    assert_eq!(store.head().unwrap(), b.head());
    assert!(kill_backends(&app) >= 1);
    store.append_batch(&b.batch(10)).unwrap();
    assert_eq!(store.head().unwrap(), b.head());
    assert!(kill_backends(&app) >= 1);
    store
        .put_checkpoint(&StoredCheckpoint {
            size: 20,
            note: b"note".to_vec(),
            time: 1,
        })
        .unwrap();
    assert!(kill_backends(&app) >= 1);
    assert!(store.acquire_lease("signer", "a", 1, 10).unwrap());
    assert!(kill_backends(&app) >= 1);
    assert_eq!(store.find_event_ids(&["ev-000003"]).unwrap().len(), 1);
    // Dead connections were closed, not kept: the pool is within its size.
    assert!(backends(&mut admin(), &app) <= 4);

    // The log itself is whole (the checkpoint note above is a dummy).
    let report = sealtrail_store::fsck::check(&store, &[]).unwrap();
    assert_eq!(report.entries, 20);
    assert!(
        report
            .problems
            .iter()
            .all(|p| p.location == "checkpoint 20"),
        "{:?}",
        report.problems
    );
}

#[test]
fn a_statement_over_the_timeout_is_a_transient_error_naming_the_operation() {
    if skip_postgres("a_statement_over_the_timeout_is_a_transient_error_naming_the_operation") {
        return;
    }
    let schema = SchemaGuard::unique("timeout");
    let store = PgStore::connect(
        &pg_url(),
        PgOptions {
            statement_timeout: Duration::from_millis(300),
            ..options(&schema)
        },
    )
    .expect("connect");
    let mut b = LogBuilder::default();
    store.append_batch(&b.batch(3)).unwrap();

    // Another node holds the head row.
    let mut other = admin();
    let mut tx = other.transaction().unwrap();
    tx.query_one(
        &format!(
            "SELECT size FROM \"{}\".head WHERE id = 1 FOR UPDATE",
            schema.name
        ),
        &[],
    )
    .unwrap();
    let batch = b.batch(3);
    let started = Instant::now();
    match store.append_batch(&batch) {
        Err(e @ StoreError::Database { .. }) => {
            assert!(e.is_transient());
            let msg = e.to_string();
            assert!(msg.contains("statement timeout"), "{msg}");
            assert!(
                msg.starts_with("cannot append entries 3..6 in PostgreSQL at ")
                    && msg.contains(&format!("(schema {}): ", schema.name)),
                "{msg}"
            );
            assert!(matches!(&e, StoreError::Database { code: Some(c), .. } if c == "57014"));
        }
        other => panic!("expected a database error, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    tx.rollback().unwrap();

    // Once the lock is free the same batch goes in on the same pool.
    store.append_batch(&batch).unwrap();
    assert_eq!(store.head().unwrap(), b.head());
}

/// A value the store cannot have written is corrupt, and the message says
/// where: the operation, the database and schema, then the column.
#[test]
fn a_corrupt_value_names_the_schema_and_the_column() {
    if skip_postgres("a_corrupt_value_names_the_schema_and_the_column") {
        return;
    }
    let schema = SchemaGuard::unique("corrupt");
    let store = PgStore::connect(&pg_url(), options(&schema)).expect("connect");
    admin()
        .execute(
            &format!("UPDATE \"{}\".head SET last_time = -5", schema.name),
            &[],
        )
        .unwrap();
    match store.head() {
        Err(e @ StoreError::Corrupt(_)) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with(
                    "store is corrupt: cannot read the log head (table head) in PostgreSQL at "
                ) && msg.contains(&format!("(schema {}): ", schema.name))
                    && msg.ends_with(": column head.last_time holds a negative value: -5"),
                "{msg}"
            );
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}
