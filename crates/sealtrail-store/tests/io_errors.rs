//! Storage errors name their subject: the file (or database) and what was
//! being done to it, then the cause, like `cannot write segment
//! /data/segments/00000000.seg: No space left on device (os error 28)`.

mod common;

use common::LogBuilder;
use sealtrail_store::prelude::*;
use sealtrail_store::sqlite::SqliteStore;
use sealtrail_store::StoreError;

/// A segment on a device that is always full (`/dev/full`): the batch is
/// refused as `Full`, and the message names the segment file.
#[test]
fn a_full_disk_names_the_segment_file() {
    let dir = tempfile::tempdir().unwrap();
    let segments = dir.path().join("segments");
    std::fs::create_dir(&segments).unwrap();
    let seg = segments.join("00000000.seg");
    std::os::unix::fs::symlink("/dev/full", &seg).unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let mut b = LogBuilder::default();
    match store.append_batch(&b.batch(3)) {
        Err(e @ StoreError::Full(_)) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&format!("cannot write segment {}", seg.display())),
                "{msg}"
            );
            assert!(msg.contains("os error 28"), "{msg}");
            assert!(e.is_transient());
        }
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(store.head().unwrap().size, 0, "nothing of the batch kept");
}

/// A data directory whose `segments` is a file: opening says which path
/// could not be made a directory, and why.
#[test]
fn an_unusable_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let segments = dir.path().join("segments");
    std::fs::write(&segments, b"not a directory").unwrap();
    match SqliteStore::open(dir.path()) {
        Err(e @ StoreError::Io { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("cannot create directory {}: ", segments.display())),
                "{msg}"
            );
            assert!(msg.contains("os error"), "{msg}");
            assert!(e.is_transient());
        }
        Err(e) => panic!("expected Io, got {e:?}"),
        Ok(_) => panic!("opened a data directory whose segments is a file"),
    }
}

/// A database failure names the operation and the database file.
#[test]
fn a_database_error_names_the_operation_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let db = rusqlite::Connection::open(dir.path().join("log.db")).unwrap();
    db.execute_batch("DROP TABLE checkpoints").unwrap();
    drop(db);
    match store.checkpoints() {
        Err(e @ StoreError::Database { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!(
                    "cannot read the checkpoints (table checkpoints) in {}: ",
                    dir.path().join("log.db").display()
                )),
                "{msg}"
            );
            assert!(msg.contains("no such table"), "{msg}");
        }
        other => panic!("expected a database error, got {other:?}"),
    }
}

/// A value the store cannot have written is corrupt, and the message says
/// where: the operation and the database file, then the column.
#[test]
fn a_corrupt_value_names_the_file_and_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let db_path = dir.path().join("log.db");
    let db = rusqlite::Connection::open(&db_path).unwrap();
    db.execute_batch("UPDATE head SET last_time = -5 WHERE id = 1")
        .unwrap();
    drop(db);
    match store.head() {
        Err(e @ StoreError::Corrupt(_)) => {
            assert_eq!(
                e.to_string(),
                format!(
                    "store is corrupt: cannot read the log head (table head) in {}: \
                     column head.last_time holds a negative value: -5",
                    db_path.display()
                )
            );
            assert!(!e.is_transient());
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// An index past what a database column holds is refused as invalid, and
/// the message names the column.
#[test]
fn an_index_past_the_column_names_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    match store.checkpoint_at(u64::MAX) {
        Err(e @ StoreError::Invalid(_)) => {
            let msg = e.to_string();
            assert!(msg.contains("column checkpoints.size"), "{msg}");
            assert!(!e.is_transient());
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}
