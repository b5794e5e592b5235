//! Store behaviour, written once against `&dyn Store` and run for every
//! backend: `sqlite::*` on a temporary directory, `postgres::*` in a
//! schema of its own (PostgreSQL must be reachable unless
//! `SEALTRAIL_SKIP_POSTGRES=1`; see tests/common).

mod common;

use std::collections::BTreeMap;

use common::{event_id, subject, Fixture, LogBuilder};
use sealtrail_core::hash::{leaf_hash, Hash};
use sealtrail_store::fsck;
use sealtrail_store::query::{scope_matches, DAY_MICROS};
use sealtrail_store::{ApiKeyRecord, LogHead, Store, StoreError, StoredCheckpoint, StreamHead};
use sealtrail_store::{
    EventFilter, EventQuery, NewEntry, QueryEvent, StatsGroup, StatsQuery, StatsRow,
};

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
    checkpoint_pages_newest_first,
    api_keys,
    access_records,
    access_records_are_deleted,
    access_compare_and_set,
    leases,
    fsck_is_clean_after_appends,
    fsck_finds_a_changed_header,
    fsck_finds_a_changed_body,
    query_filters_match_a_reference,
    query_pages_have_no_gaps_or_duplicates,
    query_empty_results,
    query_returns_bodies_on_request,
    stats_sum_the_counts,
    all_stream_heads_are_consistent_with_the_size,
    stream_members_come_from_the_columns,
    v1_store_migrates_with_its_entries_queryable,
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

fn checkpoint_pages_newest_first(f: &Fixture) {
    let s = f.store();
    assert!(s.checkpoints_before(None, 10).unwrap().is_empty());
    for size in [10, 5, 20, 0, 15] {
        s.put_checkpoint(&cp(size)).unwrap();
    }
    assert_eq!(s.checkpoints_before(None, 2).unwrap(), vec![cp(20), cp(15)]);
    assert_eq!(
        s.checkpoints_before(Some(15), 2).unwrap(),
        vec![cp(10), cp(5)]
    );
    assert_eq!(s.checkpoints_before(Some(5), 10).unwrap(), vec![cp(0)]);
    assert!(s.checkpoints_before(Some(0), 10).unwrap().is_empty());
    // Bounds past any size are "all", not an error.
    assert_eq!(
        s.checkpoints_before(Some(u64::MAX), 1).unwrap(),
        vec![cp(20)]
    );
    assert_eq!(s.checkpoints_before(None, usize::MAX).unwrap().len(), 5);
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

fn access_records(f: &Fixture) {
    let s = f.store();
    assert_eq!(s.access("key", "a1").unwrap(), None);
    assert!(s.access_all("key").unwrap().is_empty());
    s.put_access("key", "b2", br#"{"v":1}"#).unwrap();
    s.put_access("key", "a1", br#"{"v":2}"#).unwrap();
    s.put_access("agent", "a1", b"agent").unwrap();
    // Replacing keeps one record per (kind, id).
    s.put_access("key", "b2", br#"{"v":3}"#).unwrap();
    assert_eq!(
        s.access("key", "b2").unwrap().as_deref(),
        Some(&br#"{"v":3}"#[..])
    );
    assert_eq!(
        s.access("agent", "a1").unwrap().as_deref(),
        Some(&b"agent"[..])
    );
    assert_eq!(
        s.access_all("key").unwrap(),
        vec![
            ("a1".to_string(), br#"{"v":2}"#.to_vec()),
            ("b2".to_string(), br#"{"v":3}"#.to_vec())
        ]
    );
    assert_eq!(s.access_all("project").unwrap(), vec![]);
}

fn access_records_are_deleted(f: &Fixture) {
    let s = f.store();
    s.put_access("console_session", "h1", b"one").unwrap();
    s.put_access("console_session", "h2", b"two").unwrap();
    s.put_access("key", "h1", b"key").unwrap();
    assert!(s.delete_access("console_session", "h1").unwrap());
    assert!(
        !s.delete_access("console_session", "h1").unwrap(),
        "gone already"
    );
    assert_eq!(s.access("console_session", "h1").unwrap(), None);
    assert_eq!(
        s.access_all("console_session").unwrap(),
        vec![("h2".to_string(), b"two".to_vec())]
    );
    assert_eq!(
        s.access("key", "h1").unwrap().as_deref(),
        Some(&b"key"[..]),
        "only that kind's record"
    );
    // Deleted records can be made again.
    assert!(s
        .put_access_if("console_session", "h1", None, b"again")
        .unwrap());
}

fn access_compare_and_set(f: &Fixture) {
    let s = f.store();
    let (a, b) = (&br#"{"v":1}"#[..], &br#"{"v":2}"#[..]);
    assert!(s.put_access_if("key", "k", None, a).unwrap(), "absent");
    assert!(!s.put_access_if("key", "k", None, b).unwrap(), "exists now");
    assert!(!s.put_access_if("key", "k", Some(b), b).unwrap(), "not b");
    assert_eq!(s.access("key", "k").unwrap().as_deref(), Some(a));
    assert!(s.put_access_if("key", "k", Some(a), b).unwrap());
    assert_eq!(s.access("key", "k").unwrap().as_deref(), Some(b));
    // Expecting a record where there is none writes nothing either.
    assert!(!s.put_access_if("key", "gone", Some(a), b).unwrap());
    assert_eq!(s.access("key", "gone").unwrap(), None);
    // Same id, other kind: its own record.
    assert!(s.put_access_if("agent", "k", None, a).unwrap());
    assert_eq!(s.access("key", "k").unwrap().as_deref(), Some(b));

    // Read-modify-CAS increments from several threads: none is lost, and
    // every success is the one increment that moved the counter.
    s.put_access("counter", "c", b"0").unwrap();
    let (threads, each) = (4, 40);
    let wins: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut won = 0u64;
                    while won < each {
                        let now = s.access("counter", "c").unwrap().unwrap();
                        let n: u64 = std::str::from_utf8(&now).unwrap().parse().unwrap();
                        let next = (n + 1).to_string();
                        if s.put_access_if("counter", "c", Some(&now), next.as_bytes())
                            .unwrap()
                        {
                            won += 1;
                        }
                    }
                    won
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(wins, threads * each);
    assert_eq!(
        s.access("counter", "c").unwrap(),
        Some(wins.to_string().into_bytes())
    );
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

// ---------------------------------------------------------------------------
// Queries and stats.

/// Six hours between batches.
const STEP: u64 = 6 * 3600 * 1_000_000;

/// A UTC midnight; every query log starts there.
fn base_time() -> u64 {
    1_795_000_000_000_000 / DAY_MICROS * DAY_MICROS
}

/// 12 batches of 37 to 147 entries, one every six hours from `base_time`
/// (three UTC days), with the builder's varied columns.
fn query_log(s: &dyn Store) -> LogBuilder {
    let mut b = LogBuilder::default();
    for k in 0..12u64 {
        let batch = b.batch_at(37 + (k * 41) % 111, base_time() + k * STEP, |i| {
            Some(event_id(i))
        });
        s.append_batch(&batch).expect("append");
    }
    b
}

/// What `q` should find, ignoring its cursor and limit.
fn reference(entries: &[NewEntry], q: &EventQuery) -> Vec<u64> {
    let q = &q.filter;
    let eq =
        |want: &Option<String>, got: Option<&String>| want.as_ref().is_none_or(|w| got == Some(w));
    entries
        .iter()
        .filter(|e| {
            let c = &e.columns;
            q.from.is_none_or(|t| c.time >= t)
                && q.to.is_none_or(|t| c.time < t)
                && eq(&q.agent, Some(&c.agent))
                && eq(&q.session, c.session.as_ref())
                && eq(&q.kind, Some(&c.kind))
                && eq(&q.action, c.action.as_ref())
                && eq(&q.tool, c.tool.as_ref())
                && eq(&q.outcome, c.outcome.as_ref())
                && q.data_class
                    .as_ref()
                    .is_none_or(|d| c.data_classes.contains(d))
                && q.subject.as_ref().is_none_or(|h| c.subjects.contains(h))
                && q.scope.as_ref().is_none_or(|want| {
                    c.scope
                        .as_deref()
                        .is_some_and(|got| scope_matches(want, got))
                })
        })
        .map(|e| e.index)
        .collect()
}

/// Every page of `q`, following cursors; checks that each page is in
/// index order, after the cursor, and no larger than the limit.
fn all_pages(s: &dyn Store, q: &EventQuery) -> Vec<QueryEvent> {
    let mut out: Vec<QueryEvent> = Vec::new();
    let mut q = q.clone();
    for _ in 0..10_000 {
        let page = s.query(&q).expect("query");
        assert!(
            page.events.len() <= q.page_size(),
            "page larger than the limit"
        );
        for e in &page.events {
            if let Some(c) = q.cursor {
                assert!(e.index > c, "entry {} at or before the cursor {c}", e.index);
            }
            if let Some(last) = out.last() {
                assert!(e.index > last.index, "not in index order or repeated");
            }
        }
        out.extend(page.events);
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return out,
        }
    }
    panic!("pagination did not end");
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

/// Single filters, combinations and time ranges.
fn sample_queries(b: &LogBuilder) -> Vec<EventQuery> {
    let t = |k: u64| Some(base_time() + k * STEP);
    let q = EventQuery::default;
    vec![
        q(),
        EventQuery {
            filter: EventFilter {
                agent: s("agent-1"),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                session: s("session-2"),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                kind: s("decision"),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                action: s("lookup"),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                tool: s("crm.lookup"),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                outcome: s("denied"),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                data_class: s("pci"),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                data_class: s("pii"),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                subject: Some(subject(2)),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                subject: Some(subject(1)),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                scope: s("out_of_scope"),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                scope: s("out_of_scope: pii"),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                scope: s("in_scope"),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                from: t(3),
                to: t(7),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                from: t(5),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                to: Some(b.entries[100].columns.time),
                ..EventFilter::default()
            },
            ..q()
        },
        // The selective page of the benchmark: one agent, one day, one kind.
        EventQuery {
            filter: EventFilter {
                agent: s("agent-0"),
                kind: s("tool_call"),
                from: t(4),
                to: t(8),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                agent: s("agent-0"),
                kind: s("tool_call"),
                outcome: s("success"),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                session: s("session-1"),
                data_class: s("pii"),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                agent: s("agent-2"),
                scope: s("out_of_scope"),
                subject: Some(subject(1)),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                kind: s("model_call"),
                from: t(2),
                to: t(9),
                outcome: s("failure"),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                data_class: s("pii"),
                subject: Some(subject(1)),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                tool: s("crm.lookup"),
                scope: s("in_scope"),
                outcome: s("success"),
                ..EventFilter::default()
            },
            ..q()
        },
    ]
}

fn query_filters_match_a_reference(f: &Fixture) {
    let st = f.store();
    let b = query_log(st);
    for query in sample_queries(&b) {
        let want = reference(&b.entries, &query);
        let got = all_pages(st, &query);
        let got_idx: Vec<u64> = got.iter().map(|e| e.index).collect();
        assert_eq!(got_idx, want, "{query:?}");
        for e in &got {
            let sealed = &b.entries[e.index as usize];
            assert_eq!(e.header, sealed.header);
            assert_eq!(e.leaf_hash, sealed.leaf_hash);
            assert_eq!(e.time, sealed.columns.time);
            assert_eq!((e.body.as_ref(), e.salt), (None, None));
        }
    }
}

fn query_pages_have_no_gaps_or_duplicates(f: &Fixture) {
    let st = f.store();
    let b = query_log(st);
    for limit in [1, 7, 100, 1000] {
        for base in sample_queries(&b).into_iter().take(8) {
            let query = EventQuery { limit, ..base };
            let got: Vec<u64> = all_pages(st, &query).iter().map(|e| e.index).collect();
            assert_eq!(
                got,
                reference(&b.entries, &query),
                "limit {limit}: {query:?}"
            );
        }
    }
    // A full first page says where to go on; the pages join up exactly.
    let first = st
        .query(&EventQuery {
            limit: 10,
            ..EventQuery::default()
        })
        .unwrap();
    let idx: Vec<u64> = first.events.iter().map(|e| e.index).collect();
    assert_eq!(idx, (0..10).collect::<Vec<_>>());
    assert_eq!(first.next_cursor, Some(9));
    let second = st
        .query(&EventQuery {
            limit: 10,
            cursor: Some(9),
            ..EventQuery::default()
        })
        .unwrap();
    assert_eq!(second.events[0].index, 10);
    // Limits are clamped to 1..=1000.
    let big = st
        .query(&EventQuery {
            limit: 5000,
            ..EventQuery::default()
        })
        .unwrap();
    assert_eq!(big.events.len(), 1000);
    let zero = st
        .query(&EventQuery {
            limit: 0,
            ..EventQuery::default()
        })
        .unwrap();
    assert_eq!(zero.events.len(), 1);
}

fn query_empty_results(f: &Fixture) {
    let st = f.store();
    let q = EventQuery::default;
    // An empty log.
    assert_eq!(
        st.query(&q()).unwrap(),
        sealtrail_store::QueryPage::default()
    );
    let b = query_log(st);
    let end = b.last_time + 1;
    for query in [
        EventQuery {
            filter: EventFilter {
                agent: s("nobody"),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                session: s("no-such-session"),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                data_class: s("phi"),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                subject: Some(Hash([9; 32])),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                scope: s("unregistered_agent"),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                scope: s("out_of"),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                from: Some(end),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                to: Some(base_time()),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                from: Some(base_time() + 5 * STEP),
                to: Some(base_time() + 2 * STEP),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            filter: EventFilter {
                kind: s("tool_call"),
                action: s("llm.generate"),
                ..EventFilter::default()
            },
            ..q()
        },
        EventQuery {
            cursor: Some(b.size() - 1),
            ..q()
        },
        EventQuery {
            cursor: Some(u64::MAX),
            ..q()
        },
    ] {
        let page = st.query(&query).unwrap();
        assert!(page.events.is_empty(), "{query:?}");
        assert_eq!(page.next_cursor, None, "{query:?}");
    }
}

fn query_returns_bodies_on_request(f: &Fixture) {
    let st = f.store();
    let b = query_log(st);
    let query = EventQuery {
        filter: EventFilter {
            agent: s("agent-2"),
            ..EventFilter::default()
        },
        include_bodies: true,
        limit: 13,
        ..EventQuery::default()
    };
    let got = all_pages(st, &query);
    assert_eq!(got.len(), reference(&b.entries, &query).len());
    for e in &got {
        let sealed = &b.entries[e.index as usize];
        assert_eq!(e.body.as_deref(), Some(&sealed.body[..]));
        assert_eq!(e.salt, Some(sealed.salt));
    }
}

/// The grouped counts of `entries`, as the stats query should give them.
fn reference_stats(entries: &[NewEntry], q: &StatsQuery) -> Vec<StatsRow> {
    let (first, end) = q.days();
    let mut groups: BTreeMap<Vec<String>, (StatsRow, u64)> = BTreeMap::new();
    for e in entries {
        let c = &e.columns;
        let day = (c.time / DAY_MICROS) as i64;
        let outcome = c.outcome.clone().unwrap_or_default();
        if first.is_some_and(|d| day < d)
            || end.is_some_and(|d| day >= d)
            || q.filter.agent.as_ref().is_some_and(|a| *a != c.agent)
            || q.filter.kind.as_ref().is_some_and(|k| *k != c.kind)
            || q.filter.outcome.as_ref().is_some_and(|o| *o != outcome)
        {
            continue;
        }
        let mut row = StatsRow {
            day: None,
            agent: None,
            kind: None,
            outcome: None,
            count: 0,
        };
        let mut key = Vec::new();
        for g in &q.group_by {
            match g {
                StatsGroup::Day => {
                    row.day = Some(day);
                    key.push(format!("{day:012}"));
                }
                StatsGroup::Agent => {
                    row.agent = Some(c.agent.clone());
                    key.push(c.agent.clone());
                }
                StatsGroup::Kind => {
                    row.kind = Some(c.kind.clone());
                    key.push(c.kind.clone());
                }
                StatsGroup::Outcome => {
                    row.outcome = Some(outcome.clone());
                    key.push(outcome.clone());
                }
            }
        }
        groups.entry(key).or_insert((row, 0)).1 += 1;
    }
    let rows: Vec<StatsRow> = groups
        .into_values()
        .map(|(row, n)| StatsRow { count: n, ..row })
        .collect();
    if q.group_by.is_empty() && rows.is_empty() {
        return vec![StatsRow {
            day: None,
            agent: None,
            kind: None,
            outcome: None,
            count: 0,
        }];
    }
    rows
}

fn stats_sum_the_counts(f: &Fixture) {
    let st = f.store();
    let total = st.stats(&StatsQuery::default()).unwrap();
    assert_eq!(total.len(), 1);
    assert_eq!(total[0].count, 0);
    let b = query_log(st);
    let day = base_time() / DAY_MICROS;
    use StatsGroup::*;
    for q in [
        StatsQuery::default(),
        StatsQuery {
            group_by: vec![Agent],
            ..StatsQuery::default()
        },
        StatsQuery {
            group_by: vec![Day],
            ..StatsQuery::default()
        },
        StatsQuery {
            group_by: vec![Agent, Kind, Outcome, Day],
            ..StatsQuery::default()
        },
        StatsQuery {
            filter: EventFilter {
                agent: s("agent-1"),
                ..EventFilter::default()
            },
            group_by: vec![Kind, Day],
        },
        StatsQuery {
            filter: EventFilter {
                kind: s("tool_call"),
                ..EventFilter::default()
            },
            group_by: vec![Outcome],
        },
        StatsQuery {
            filter: EventFilter {
                outcome: s(""),
                ..EventFilter::default()
            },
            group_by: vec![Agent],
        },
        StatsQuery {
            filter: EventFilter {
                from: Some((day + 1) * DAY_MICROS),
                to: Some((day + 2) * DAY_MICROS),
                ..EventFilter::default()
            },
            group_by: vec![Day, Agent],
        },
        StatsQuery {
            filter: EventFilter {
                agent: s("nobody"),
                ..EventFilter::default()
            },
            ..StatsQuery::default()
        },
        StatsQuery {
            filter: EventFilter {
                agent: s("nobody"),
                ..EventFilter::default()
            },
            group_by: vec![Kind],
        },
    ] {
        assert_eq!(
            st.stats(&q).unwrap(),
            reference_stats(&b.entries, &q),
            "{q:?}"
        );
    }
    let all = st.stats(&StatsQuery::default()).unwrap();
    assert_eq!(all[0].count, b.size());
    let days = st
        .stats(&StatsQuery {
            group_by: vec![Day],
            ..StatsQuery::default()
        })
        .unwrap();
    assert_eq!(days.len(), 3, "{days:?}");
}

fn all_stream_heads_are_consistent_with_the_size(f: &Fixture) {
    let st = f.store();
    assert_eq!(st.all_stream_heads().unwrap(), (0, vec![]));
    let b = query_log(st);
    let (size, heads) = st.all_stream_heads().unwrap();
    assert_eq!(size, b.size());
    let mut want: Vec<(String, StreamHead)> = b.streams.clone().into_iter().collect();
    want.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(heads, want);
}

fn stream_members_come_from_the_columns(f: &Fixture) {
    let st = f.store();
    let b = query_log(st);
    let got = st.stream_members(10, 30).unwrap();
    let want: Vec<(u64, String, Option<String>)> = b.entries[10..30]
        .iter()
        .map(|e| (e.index, e.columns.agent.clone(), e.columns.session.clone()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(st.stream_members(b.size() - 2, u64::MAX).unwrap().len(), 2);
    assert!(st
        .stream_members(b.size(), b.size() + 5)
        .unwrap()
        .is_empty());
}

fn v1_store_migrates_with_its_entries_queryable(f: &Fixture) {
    // `f` is borrowed by the suite; migrate a store of our own of the same kind.
    let fresh = match f {
        Fixture::Sqlite { .. } => Fixture::sqlite(),
        Fixture::Pg { .. } => Fixture::postgres("postgres::v1_migration").expect("postgres"),
    };
    let b = query_log(fresh.store());
    let head = fresh.store().head().unwrap();
    let migrated = fresh.reopen_as_v1();
    let st = migrated.store();
    assert_eq!(st.head().unwrap(), head);
    for query in sample_queries(&b) {
        let got: Vec<u64> = all_pages(st, &query).iter().map(|e| e.index).collect();
        assert_eq!(
            got,
            reference(&b.entries, &query),
            "after migration: {query:?}"
        );
    }
    let q = StatsQuery {
        group_by: vec![StatsGroup::Day, StatsGroup::Agent],
        ..StatsQuery::default()
    };
    assert_eq!(st.stats(&q).unwrap(), reference_stats(&b.entries, &q));
    // New batches go on indexing after the migration.
    let mut b = b;
    let batch = b.batch_at(40, b.last_time + STEP, |i| Some(event_id(i)));
    st.append_batch(&batch).unwrap();
    for query in sample_queries(&b) {
        let got: Vec<u64> = all_pages(st, &query).iter().map(|e| e.index).collect();
        assert_eq!(
            got,
            reference(&b.entries, &query),
            "after a new batch: {query:?}"
        );
    }
    assert_eq!(st.stats(&q).unwrap(), reference_stats(&b.entries, &q));
    let report = fsck::check(st, &[]).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
}
