//! Store behaviour, written once against `&dyn Store` and run for every
//! backend: `sqlite::*` on a temporary directory, `postgres::*` in a
//! schema of its own (PostgreSQL must be reachable unless
//! `SEALTRAIL_SKIP_POSTGRES=1`; see tests/common).

mod common;

use common::{event_id, Fixture, LogBuilder};
use sealtrail_core::hash::{leaf_hash, Hash};
use sealtrail_store::fsck;
use sealtrail_store::{ApiKeyRecord, LogHead, Store, StoreError, StoredCheckpoint, StreamHead};

/// Instantiates each case for both backends.
macro_rules! store_suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $case() {
                    let f = super::common::Fixture::sqlite();
                    super::$case(&f);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $case() {
                    let Some(f) = super::common::Fixture::postgres(concat!("postgres::", stringify!($case))) else {
                        return;
                    };
                    super::$case(&f);
                }
            )*
        }
    };
}

store_suite!(
    empty_store,
    append_and_read_back,
    lookups_of_many_ids_and_keys,
    later_batches_update_streams_and_seqs,
    conflict_leaves_nothing_written,
    duplicate_event_id_leaves_nothing_written,
    checkpoints_by_size,
    api_keys,
    leases,
    fsck_is_clean_after_appends,
    fsck_finds_a_changed_header,
    fsck_finds_a_changed_body,
);

/// Appends `sizes` batches through `b`, returning nothing but panicking on
/// any refusal.
fn fill(s: &dyn Store, b: &mut LogBuilder, sizes: &[u64]) {
    for &n in sizes {
        let batch = b.batch(n);
        s.append_batch(&batch).expect("append");
    }
}

fn empty_store(f: &Fixture) {
    let s = f.store();
    assert_eq!(
        s.head().unwrap(),
        LogHead {
            size: 0,
            root: Hash::EMPTY_ROOT,
            frontier: vec![],
            last_time: 0,
            last_leaf: None,
        }
    );
    assert!(s.entry(0).unwrap().is_none());
    assert!(s.entries(0, 100).unwrap().is_empty());
    assert!(s.entry_headers(0, 100).unwrap().is_empty());
    assert!(s.leaf_hashes(0, 100).unwrap().is_empty());
    assert!(s.nodes(8, 0, 10).unwrap().is_empty());
    assert!(s.find_event_ids(&["x"]).unwrap().is_empty());
    assert!(s.find_event_ids(&[]).unwrap().is_empty());
    assert!(s.stream_heads(&["a:x"]).unwrap().is_empty());
    assert!(s.last_seqs(&["x"]).unwrap().is_empty());
    assert!(s.latest_checkpoint().unwrap().is_none());
    assert!(s.checkpoints().unwrap().is_empty());
    let report = fsck::check(s, &[]).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.root, Some(Hash::EMPTY_ROOT));
}

fn append_and_read_back(f: &Fixture) {
    let s = f.store();
    let mut b = LogBuilder::default();
    // 600 entries: two full level-8 tiles, odd batch boundaries.
    fill(s, &mut b, &[1, 99, 200, 300]);
    assert_eq!(s.head().unwrap(), b.head());

    let all = s.entries(0, 600).unwrap();
    assert_eq!(all.len(), 600);
    for (got, want) in all.iter().zip(&b.entries) {
        assert_eq!(got.index, want.index);
        assert_eq!(got.leaf_hash, want.leaf_hash);
        assert_eq!(got.header, want.header);
        assert_eq!(got.body.as_deref(), Some(&want.body[..]));
        assert_eq!(got.salt, Some(want.salt));
    }
    let one = s.entry(417).unwrap().expect("entry 417");
    assert_eq!(one, all[417]);
    assert!(s.entry(600).unwrap().is_none());
    // Ranges past the end are cut, not refused.
    assert_eq!(s.entries(590, 10_000).unwrap().len(), 10);
    assert_eq!(s.entries(600, 700).unwrap().len(), 0);

    let headers = s.entry_headers(10, 20).unwrap();
    let want: Vec<Vec<u8>> = b.entries[10..20].iter().map(|e| e.header.clone()).collect();
    assert_eq!(headers, want);
    let leaves = s.leaf_hashes(0, 600).unwrap();
    let want: Vec<Hash> = b.entries.iter().map(|e| e.leaf_hash).collect();
    assert_eq!(leaves, want);
    assert_eq!(leaves[5], leaf_hash(&b.entries[5].header));

    let level8: Vec<Hash> = b
        .nodes
        .iter()
        .filter(|(l, _, _)| *l == 8)
        .map(|(_, _, h)| *h)
        .collect();
    assert_eq!(level8.len(), 2);
    assert_eq!(s.nodes(8, 0, 10).unwrap(), level8);
    assert_eq!(s.nodes(8, 1, 2).unwrap(), level8[1..]);
    assert!(s.nodes(16, 0, 10).unwrap().is_empty());
}

fn lookups_of_many_ids_and_keys(f: &Fixture) {
    let s = f.store();
    let mut b = LogBuilder::default();
    // More ids than one SQLite lookup statement takes (500).
    fill(s, &mut b, &[700, 500]);
    let mut ids: Vec<String> = (0..1200).map(event_id).collect();
    ids.extend((0..40).map(|i| format!("unknown-{i}")));
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut found = s.find_event_ids(&refs).unwrap();
    found.sort_by_key(|(_, r)| r.index);
    assert_eq!(found.len(), 1200);
    for ((id, r), e) in found.iter().zip(&b.entries) {
        assert_eq!(id, e.columns.event_id.as_ref().unwrap());
        assert_eq!(r.index, e.index);
        assert_eq!(r.leaf_hash, e.leaf_hash);
        assert_eq!(r.time, e.columns.time);
    }

    let mut keys: Vec<String> = b.streams.keys().cloned().collect();
    keys.extend((0..600).map(|i| format!("a:nobody-{i}")));
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let heads: std::collections::HashMap<String, StreamHead> =
        s.stream_heads(&refs).unwrap().into_iter().collect();
    assert_eq!(heads, b.streams);

    let mut keys: Vec<String> = b.seqs.keys().cloned().collect();
    keys.extend((0..600).map(|i| format!("nobody-{i}")));
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let seqs: std::collections::HashMap<String, u64> =
        s.last_seqs(&refs).unwrap().into_iter().collect();
    assert_eq!(seqs, b.seqs);
}

fn later_batches_update_streams_and_seqs(f: &Fixture) {
    let s = f.store();
    let mut b = LogBuilder::default();
    fill(s, &mut b, &[10]);
    let before = s.stream_heads(&["a:agent-0"]).unwrap();
    assert_eq!(before, [("a:agent-0".to_string(), b.streams["a:agent-0"])]);
    fill(s, &mut b, &[10]);
    let after = s.stream_heads(&["a:agent-0"]).unwrap();
    assert_eq!(after, [("a:agent-0".to_string(), b.streams["a:agent-0"])]);
    assert_ne!(before, after);
    assert_eq!(
        s.last_seqs(&["agent-1/1"]).unwrap(),
        [("agent-1/1".to_string(), b.seqs["agent-1/1"])]
    );

    // A key repeated within one batch keeps its last value, as SQLite's
    // row-by-row upserts do.
    let mut batch = b.batch(1);
    batch.seqs.push(("repeated".into(), 5));
    batch.seqs.push(("repeated".into(), 9));
    batch
        .streams
        .push(("s:twice".into(), StreamHead { count: 1, last: 0 }));
    batch
        .streams
        .push(("s:twice".into(), StreamHead { count: 2, last: 20 }));
    s.append_batch(&batch).unwrap();
    assert_eq!(
        s.last_seqs(&["repeated"]).unwrap(),
        [("repeated".to_string(), 9)]
    );
    assert_eq!(
        s.stream_heads(&["s:twice"]).unwrap(),
        [("s:twice".to_string(), StreamHead { count: 2, last: 20 })]
    );
}

/// Nothing of `batch` is visible in `s`.
fn assert_not_written(s: &dyn Store, batch: &sealtrail_store::Batch, head: &LogHead) {
    assert_eq!(&s.head().unwrap(), head);
    let first = batch.entries[0].index;
    assert!(s.entries(head.size, first + 1000).unwrap().is_empty());
    let ids: Vec<&str> = batch
        .entries
        .iter()
        .filter(|e| e.index >= head.size)
        .filter_map(|e| e.columns.event_id.as_deref())
        .collect();
    let found = s.find_event_ids(&ids).unwrap();
    assert!(
        found.iter().all(|(_, r)| r.index < head.size),
        "ids of the refused batch were written: {found:?}"
    );
    for (level, index, _) in &batch.nodes {
        assert!(s.nodes(*level, *index, index + 1).unwrap().is_empty());
    }
}

fn conflict_leaves_nothing_written(f: &Fixture) {
    let s = f.store();
    let mut b = LogBuilder::default();
    fill(s, &mut b, &[250]);
    let head = s.head().unwrap();
    let streams_before = s.stream_heads(&["a:agent-0", "s:session-1"]).unwrap();

    // Sequenced on a size the log does not have.
    let mut ahead = b.clone();
    let mut batch = ahead.batch(20);
    batch.expected_size = 251;
    match s.append_batch(&batch) {
        Err(StoreError::Conflict { expected, found }) => {
            assert_eq!((expected, found), (251, 250));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_not_written(s, &batch, &head);
    assert_eq!(
        s.stream_heads(&["a:agent-0", "s:session-1"]).unwrap(),
        streams_before
    );

    // A stale writer: sequenced on size 0 after the log moved.
    let mut stale = LogBuilder::default();
    let old = stale.batch(10);
    match s.append_batch(&old) {
        Err(StoreError::Conflict { expected, found }) => assert_eq!((expected, found), (0, 250)),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(s.head().unwrap(), head);

    // The right batch still goes in.
    let good = b.batch(20);
    s.append_batch(&good).unwrap();
    assert_eq!(s.head().unwrap(), b.head());
}

fn duplicate_event_id_leaves_nothing_written(f: &Fixture) {
    let s = f.store();
    let mut b = LogBuilder::default();
    fill(s, &mut b, &[5]);
    let head = s.head().unwrap();

    // An id sealed earlier.
    let mut again = b.clone();
    let batch = again.batch_with(300, |i| {
        Some(if i == 200 { event_id(2) } else { event_id(i) })
    });
    assert!(
        matches!(s.append_batch(&batch), Err(StoreError::Duplicate(_))),
        "an id already in the log must be refused"
    );
    assert_not_written(s, &batch, &head);

    // An id twice within the batch.
    let mut twice = b.clone();
    let batch = twice.batch_with(10, |i| Some(event_id(i.min(8))));
    assert!(matches!(
        s.append_batch(&batch),
        Err(StoreError::Duplicate(_))
    ));
    assert_not_written(s, &batch, &head);

    // Events without ids are never duplicates.
    let batch = b.batch_with(4, |_| None);
    s.append_batch(&batch).unwrap();
    assert_eq!(s.head().unwrap().size, 9);
}

fn cp(size: u64) -> StoredCheckpoint {
    StoredCheckpoint {
        size,
        note: format!("example.com/log\n{size}\nroot\n\n— sig\n").into_bytes(),
        time: 1_795_000_000_000_000 + size,
    }
}

fn checkpoints_by_size(f: &Fixture) {
    let s = f.store();
    for size in [10, 5, 20, 0] {
        s.put_checkpoint(&cp(size)).unwrap();
    }
    assert_eq!(s.latest_checkpoint().unwrap(), Some(cp(20)));
    assert_eq!(s.checkpoint_at(5).unwrap(), Some(cp(5)));
    assert_eq!(s.checkpoint_at(0).unwrap(), Some(cp(0)));
    assert_eq!(s.checkpoint_at(7).unwrap(), None);
    assert_eq!(s.checkpoints().unwrap(), vec![cp(0), cp(5), cp(10), cp(20)]);
    let mut other = cp(10);
    other.note = b"something else".to_vec();
    assert!(matches!(
        s.put_checkpoint(&other),
        Err(StoreError::Duplicate(_))
    ));
    assert!(matches!(
        s.put_checkpoint(&cp(10)),
        Err(StoreError::Duplicate(_))
    ));
    assert_eq!(s.checkpoint_at(10).unwrap(), Some(cp(10)));
}

fn api_keys(f: &Fixture) {
    let s = f.store();
    let key = ApiKeyRecord {
        key_hash: Hash([7; 32]),
        name: "ingest-1".into(),
        role: "ingest".into(),
        created: 1_795_000_000_000_000,
    };
    s.put_api_key(&key).unwrap();
    assert_eq!(s.api_key(&key.key_hash).unwrap(), Some(key.clone()));
    assert_eq!(s.api_key(&Hash([8; 32])).unwrap(), None);
    let same_hash = ApiKeyRecord {
        name: "other".into(),
        ..key.clone()
    };
    assert!(matches!(
        s.put_api_key(&same_hash),
        Err(StoreError::Duplicate(_))
    ));
    assert_eq!(s.api_key(&key.key_hash).unwrap(), Some(key));
}

fn leases(f: &Fixture) {
    let s = f.store();
    let ttl = 100;
    assert!(
        s.acquire_lease("signer", "node-a", 1_000, ttl).unwrap(),
        "free lease"
    );
    assert!(
        s.acquire_lease("signer", "node-a", 1_050, ttl).unwrap(),
        "renewed by holder"
    );
    // Held by node-a until 1_150.
    assert!(!s.acquire_lease("signer", "node-b", 1_100, ttl).unwrap());
    assert!(
        !s.acquire_lease("signer", "node-b", 1_150, ttl).unwrap(),
        "not before it expires"
    );
    assert!(
        s.acquire_lease("other", "node-b", 1_100, ttl).unwrap(),
        "leases are by name"
    );
    assert!(
        s.acquire_lease("signer", "node-b", 1_151, ttl).unwrap(),
        "taken after expiry"
    );
    // Now node-b's until 1_251.
    assert!(!s.acquire_lease("signer", "node-a", 1_200, ttl).unwrap());
    assert!(s.acquire_lease("signer", "node-b", 1_200, ttl).unwrap());
}

fn fsck_is_clean_after_appends(f: &Fixture) {
    let s = f.store();
    let mut b = LogBuilder::default();
    fill(s, &mut b, &[3, 300, 250]);
    let report = fsck::check(s, &[]).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.entries, 553);
    assert_eq!(report.bodies, 553);
    assert_eq!(report.root, Some(b.head().root));
}

fn fsck_finds_a_changed_header(f: &Fixture) {
    let s = f.store();
    let mut b = LogBuilder::default();
    fill(s, &mut b, &[40, 60]);
    // A byte inside the header's "body" commitment (hex digits).
    let header = &b.entries[57].header;
    let at = header
        .windows(8)
        .position(|w| w == b"\"body\":\"")
        .expect("body member") as u64
        + 12;
    f.flip_header_byte(57, at);
    let report = fsck::check(s, &[]).unwrap();
    assert!(!report.ok());
    let entry57: Vec<&str> = report
        .problems
        .iter()
        .filter(|p| p.location == "entry 57")
        .map(|p| p.what.as_str())
        .collect();
    assert!(
        entry57
            .iter()
            .any(|w| w.contains("leaf hash does not match")),
        "{:?}",
        report.problems
    );
    // Nothing but entry 57, its successor's prev link and the head.
    for p in &report.problems {
        assert!(
            ["entry 57", "entry 58", "head"].contains(&p.location.as_str()),
            "unexpected problem {p}"
        );
    }
}

fn fsck_finds_a_changed_body(f: &Fixture) {
    let s = f.store();
    let mut b = LogBuilder::default();
    fill(s, &mut b, &[40, 60]);
    f.flip_body_byte(63, 3);
    let report = fsck::check(s, &[]).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].location, "entry 63");
    assert!(
        report.problems[0].what.contains("body does not match"),
        "{}",
        report.problems[0]
    );
}
