//! Several server nodes on one PostgreSQL schema: they start together
//! (migrations serialize) and write together (the head row lock and
//! `Conflict` serialize them), and the log stays whole.

mod common;

use common::LogBuilder;
use sealtrail_store::postgres::{PgOptions, PgStore};
use sealtrail_store::prelude::*;
use sealtrail_store::StoreError;
use sealtrail_testkit::postgres::{admin, pg_url, skip_postgres, SchemaGuard};

fn options(schema: &SchemaGuard) -> PgOptions {
    PgOptions {
        schema: schema.name.clone(),
        pool_size: 2,
        ..PgOptions::default()
    }
}

#[test]
fn nodes_starting_together_create_the_schema_once() {
    if skip_postgres("nodes_starting_together_create_the_schema_once") {
        return;
    }
    let schema = SchemaGuard::unique("start");
    let stores: Vec<PgStore> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| s.spawn(|| PgStore::connect(&pg_url(), options(&schema))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread").expect("connect"))
            .collect()
    });
    for s in &stores {
        assert_eq!(s.head().unwrap().size, 0);
    }
    let mut c = admin();
    let versions: i64 = c
        .query_one(
            &format!("SELECT count(*) FROM \"{}\".schema_migrations", schema.name),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        versions,
        i64::from(sealtrail_store::postgres::SCHEMA_VERSION)
    );
}

#[test]
fn writers_on_several_nodes_serialize_on_the_head() {
    if skip_postgres("writers_on_several_nodes_serialize_on_the_head") {
        return;
    }
    let schema = SchemaGuard::unique("nodes");
    let nodes = [
        PgStore::connect(&pg_url(), options(&schema)).expect("node a"),
        PgStore::connect(&pg_url(), options(&schema)).expect("node b"),
    ];
    const WRITERS: usize = 4;
    const BATCHES: usize = 15;
    const PER_BATCH: u64 = 20;
    let conflicts: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                let store: &dyn Store = &nodes[w % nodes.len()];
                s.spawn(move || {
                    let mut conflicts = 0;
                    for k in 0..BATCHES {
                        loop {
                            // Sequence on what this node sees, as the server
                            // does after a conflict.
                            let mut b = LogBuilder::resume(store).expect("resume");
                            let batch = b.batch_with(PER_BATCH, |i| Some(format!("w{w}-b{k}-{i}")));
                            match store.append_batch(&batch) {
                                Ok(()) => break,
                                Err(StoreError::Conflict { expected, found }) => {
                                    assert!(found > expected);
                                    conflicts += 1;
                                }
                                Err(e) => panic!("writer {w}: {e}"),
                            }
                        }
                    }
                    conflicts
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("writer")).sum()
    });
    let total = (WRITERS * BATCHES) as u64 * PER_BATCH;
    for node in &nodes {
        assert_eq!(node.head().unwrap().size, total);
    }
    let report = sealtrail_store::fsck::check(&nodes[1], &[]).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.entries, total);
    eprintln!("{total} entries from {WRITERS} writers on 2 nodes; {conflicts} conflicts retried");
}

/// The writer lock is a guard: while one node holds it another waits, and
/// dropping the guard hands it over (an advisory lock of the schema's key).
#[test]
fn the_writer_lock_is_held_until_its_guard_is_dropped() {
    if skip_postgres("the_writer_lock_is_held_until_its_guard_is_dropped") {
        return;
    }
    let schema = SchemaGuard::unique("loglock");
    let a = PgStore::connect(&pg_url(), options(&schema)).unwrap();
    let b = PgStore::connect(&pg_url(), options(&schema)).unwrap();
    let held = a.lock_log().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let lock = b.lock_log().unwrap();
            tx.send(()).unwrap();
            drop(lock);
        });
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(300))
                .is_err(),
            "a second node took the writer lock while the first held it"
        );
        drop(held);
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("the second node gets the lock once the guard is dropped");
    });
    // Both guards dropped: the lock is free again, for either node.
    drop(a.lock_log().unwrap());
    drop(b.lock_log().unwrap());
}
