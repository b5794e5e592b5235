//! The pipeline under injected store failures.

use std::sync::atomic::AtomicBool;

use sealtrail_store::prelude::*;
use sealtrail_store::sqlite::SqliteStore;
use sealtrail_store::{ApiKeyRecord, LogLock, StoredCheckpoint, StoredEntry};

use super::*;

/// The real store, with switches that make the next write fail, lose the
/// race for the log head to another node, or wait until released.
struct Flaky {
    inner: SqliteStore,
    fail: AtomicBool,
    conflict: AtomicBool,
    stalled: std::sync::Mutex<bool>,
    unstalled: std::sync::Condvar,
}

impl Flaky {
    fn open(dir: &std::path::Path) -> Flaky {
        Flaky {
            inner: SqliteStore::open(dir).unwrap(),
            fail: AtomicBool::new(false),
            conflict: AtomicBool::new(false),
            stalled: std::sync::Mutex::new(false),
            unstalled: std::sync::Condvar::new(),
        }
    }

    /// Writes wait (`true`) or go on (`false`).
    fn stall(&self, on: bool) {
        *self.stalled.lock().unwrap() = on;
        self.unstalled.notify_all();
    }
}

impl LogStore for Flaky {
    fn head(&self) -> Result<LogHead, StoreError> {
        self.inner.head()
    }
    fn append_batch(&self, batch: &Batch) -> Result<(), StoreError> {
        if self.fail.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Full("injected".into()));
        }
        let mut stalled = self.stalled.lock().unwrap();
        while *stalled {
            stalled = self.unstalled.wait(stalled).unwrap();
        }
        drop(stalled);
        if self.conflict.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Conflict {
                expected: batch.expected_size,
                found: batch.expected_size + 1,
            });
        }
        // Slow writes let the sealer run ahead, as in production.
        std::thread::sleep(Duration::from_millis(5));
        self.inner.append_batch(batch)
    }
    fn find_event_ids(&self, ids: &[&str]) -> Result<Vec<(String, Receipt)>, StoreError> {
        self.inner.find_event_ids(ids)
    }
    fn event_ids(&self, start: u64, end: u64) -> Result<Vec<String>, StoreError> {
        self.inner.event_ids(start, end)
    }
    fn stream_heads(&self, keys: &[&str]) -> Result<Vec<(String, StreamHead)>, StoreError> {
        self.inner.stream_heads(keys)
    }
    fn last_seqs(&self, keys: &[&str]) -> Result<Vec<(String, u64)>, StoreError> {
        self.inner.last_seqs(keys)
    }
    fn all_stream_heads(&self) -> Result<(u64, Vec<(String, StreamHead)>), StoreError> {
        self.inner.all_stream_heads()
    }
    fn stream_members(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<(u64, String, Option<String>)>, StoreError> {
        self.inner.stream_members(start, end)
    }
    fn entry(&self, index: u64) -> Result<Option<StoredEntry>, StoreError> {
        self.inner.entry(index)
    }
    fn entries(&self, start: u64, end: u64) -> Result<Vec<StoredEntry>, StoreError> {
        self.inner.entries(start, end)
    }
    fn entry_headers(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        self.inner.entry_headers(start, end)
    }
    fn leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<Hash>, StoreError> {
        self.inner.leaf_hashes(start, end)
    }
    fn nodes(&self, level: u8, start: u64, end: u64) -> Result<Vec<Hash>, StoreError> {
        self.inner.nodes(level, start, end)
    }
}

impl QueryIndex for Flaky {
    fn query(
        &self,
        q: &sealtrail_store::EventQuery,
    ) -> Result<sealtrail_store::QueryPage, StoreError> {
        self.inner.query(q)
    }
    fn stats(
        &self,
        q: &sealtrail_store::StatsQuery,
    ) -> Result<Vec<sealtrail_store::StatsRow>, StoreError> {
        self.inner.stats(q)
    }
}

impl CheckpointStore for Flaky {
    fn put_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), StoreError> {
        self.inner.put_checkpoint(cp)
    }
    fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.inner.latest_checkpoint()
    }
    fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.inner.checkpoint_at(size)
    }
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        self.inner.checkpoints()
    }
    fn checkpoints_before(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        self.inner.checkpoints_before(before, limit)
    }
}

impl Coordination for Flaky {
    fn lock_log(&self) -> Result<LogLock<'_>, StoreError> {
        self.inner.lock_log()
    }
    fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: u64,
        ttl: u64,
    ) -> Result<bool, StoreError> {
        self.inner.acquire_lease(name, holder, now, ttl)
    }
}

impl AccessRecords for Flaky {
    fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.inner.put_api_key(key)
    }
    fn api_key(&self, key_hash: &Hash) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.inner.api_key(key_hash)
    }
    fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.inner.api_keys()
    }
    fn put_access(&self, kind: &str, id: &str, record: &[u8]) -> Result<(), StoreError> {
        self.inner.put_access(kind, id, record)
    }
    fn put_access_if(
        &self,
        kind: &str,
        id: &str,
        expected: Option<&[u8]>,
        record: &[u8],
    ) -> Result<bool, StoreError> {
        self.inner.put_access_if(kind, id, expected, record)
    }
    fn access(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.access(kind, id)
    }
    fn access_all(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.inner.access_all(kind)
    }
    fn delete_access(&self, kind: &str, id: &str) -> Result<bool, StoreError> {
        self.inner.delete_access(kind, id)
    }
}

fn prepared(agent: &str, n: u64) -> PreparedEvent {
    let json = format!(
        r#"{{"id":"{agent}-{n}","agent":{{"id":"{agent}"}},"session":"s-{agent}","seq":{n},"kind":"tool_call"}}"#
    );
    let event = Event::from_json_slice(json.as_bytes()).unwrap();
    let body = event.canonical_bytes().unwrap();
    PreparedEvent::new(event, body, [n as u8; 32])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_refuses_the_batches_sealed_on_it_and_the_log_stays_dense() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Flaky::open(dir.path()));
    let config = SequencerConfig {
        batch_max: 20,
        ..SequencerConfig::default()
    };
    let (seq, thread) =
        Sequencer::start(store.clone(), config, Arc::new(Metrics::default())).unwrap();
    let mut tasks = Vec::new();
    for w in 0..16u64 {
        let seq = seq.clone();
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut refused = 0;
            for round in 0..15u64 {
                if w == 3 && round == 5 {
                    store.fail.store(true, Ordering::SeqCst);
                }
                let events: Vec<PreparedEvent> = (0..10)
                    .map(|i| prepared(&format!("w{w}"), round * 10 + i))
                    .collect();
                match seq.submit(events).await {
                    Ok(outcomes) => acked.extend(outcomes.iter().map(|o| *o.receipt())),
                    Err(SubmitError::StorageFull) | Err(SubmitError::Storage(_)) => refused += 1,
                    Err(e) => panic!("unexpected {e}"),
                }
            }
            (acked, refused)
        }));
    }
    let mut acked = Vec::new();
    let mut refused = 0;
    for t in tasks {
        let (a, r) = t.await.unwrap();
        acked.extend(a);
        refused += r;
    }
    assert!(refused > 0, "the injected failure must refuse something");
    drop(seq);
    thread.join().unwrap();

    // Every acknowledged receipt is in the store, and nothing else is.
    let head = store.head().unwrap();
    let mut indexes: Vec<u64> = acked.iter().map(|r| r.index).collect();
    indexes.sort_unstable();
    indexes.dedup();
    assert_eq!(
        indexes,
        (0..head.size).collect::<Vec<_>>(),
        "dense, no gaps, no extras"
    );
    for r in &acked {
        let e = store.entry(r.index).unwrap().unwrap();
        assert_eq!(e.leaf_hash, r.leaf_hash);
    }
    let report = sealtrail_store::fsck::check(&store.inner, &[]).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stay_duplicates_while_and_after_the_seen_filter_grows() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let (seq, thread) = Sequencer::start(
        store.clone(),
        SequencerConfig::default(),
        Arc::new(Metrics::default()),
    )
    .unwrap();
    // The test filter holds 64 ids: 600 force at least one background rebuild.
    let mut first = Vec::new();
    for round in 0..30u64 {
        let events: Vec<PreparedEvent> = (0..20).map(|i| prepared("g", round * 20 + i)).collect();
        first.extend(seq.submit(events).await.unwrap());
        // Retry the previous round at once: answered from the filter + store.
        if round > 0 {
            let again: Vec<PreparedEvent> = (0..20)
                .map(|i| prepared("g", (round - 1) * 20 + i))
                .collect();
            for (k, o) in seq.submit(again).await.unwrap().iter().enumerate() {
                let original = first[((round - 1) * 20) as usize + k];
                assert_eq!(*o, SealOutcome::Duplicate(*original.receipt()));
            }
        }
    }
    assert!(first.iter().all(|o| matches!(o, SealOutcome::Sealed(_))));
    // Everything once more, after the rebuilds: all duplicates, nothing new.
    let all: Vec<PreparedEvent> = (0..600).map(|i| prepared("g", i)).collect();
    let again = seq.submit(all).await.unwrap();
    assert!(again.iter().all(|o| matches!(o, SealOutcome::Duplicate(_))));
    drop(seq);
    thread.join().unwrap();
    assert_eq!(store.head().unwrap().size, 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poisoned_retry_lock_neither_drops_nor_strands_a_retried_job() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Flaky::open(dir.path()));
    let config = SequencerConfig {
        shared_store: true,
        ..SequencerConfig::default()
    };
    let (seq, thread) =
        Sequencer::start(store.clone(), config, Arc::new(Metrics::default())).unwrap();
    // Some thread panicked while holding the retry lock.
    let shared = seq.shared.clone();
    let _ = std::thread::spawn(move || {
        let _held = shared.retry.lock();
        panic!("poisoning the retry lock on purpose");
    })
    .join();
    assert!(seq.shared.retry.is_poisoned());
    // The first write loses the head to "another node": the job goes to the
    // retry queue, and must come back out and be sealed.
    store.conflict.store(true, Ordering::SeqCst);
    let events: Vec<PreparedEvent> = (0..5).map(|i| prepared("p", i)).collect();
    let outcomes = tokio::time::timeout(Duration::from_secs(20), seq.submit(events))
        .await
        .expect("the retried job was never answered")
        .expect("the retried job must be sealed, not dropped");
    assert_eq!(outcomes.len(), 5);
    assert!(outcomes.iter().all(|o| matches!(o, SealOutcome::Sealed(_))));
    assert_eq!(seq.queue_depth(), 0, "nothing left counted as queued");
    drop(seq);
    thread.join().unwrap();
    assert_eq!(store.head().unwrap().size, 5);
}

/// Waits (up to 10 s) until `seq` counts `n` events as queued.
async fn until_queued(seq: &Sequencer, n: usize) {
    let t = Instant::now();
    while seq.queue_depth() != n {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "queue depth {} never reached {n}",
            seq.queue_depth()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_events_are_taken_while_ingest_is_overloaded_and_sealed_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Flaky::open(dir.path()));
    let config = SequencerConfig {
        batch_max: 10,
        queue_limit: 100,
        ..SequencerConfig::default()
    };
    let (seq, thread) =
        Sequencer::start(store.clone(), config, Arc::new(Metrics::default())).unwrap();
    store.stall(true);
    // Ten jobs of ten events fill the ingest lane: a few are sealed and
    // wait for the stalled writer, the rest wait for the sealer.
    let mut ingest = Vec::new();
    for job in 0..10u64 {
        let events: Vec<PreparedEvent> = (0..10).map(|i| prepared("i", job * 10 + i)).collect();
        let handle = seq.clone();
        ingest.push(tokio::spawn(async move { handle.submit(events).await }));
        until_queued(&seq, (job as usize + 1) * 10).await;
    }
    match seq.submit(vec![prepared("late", 0)]).await {
        Err(SubmitError::Overloaded {
            lane: Lane::Ingest,
            queued: 100,
        }) => {}
        other => panic!("the ingest lane should be full: {other:?}"),
    }
    // The admin lane takes the event anyway.
    let admin = {
        let seq = seq.clone();
        tokio::spawn(async move {
            seq.submit_in(Lane::Admin, vec![prepared("sealtrail", 0)])
                .await
        })
    };
    until_queued(&seq, 101).await;
    assert!(!admin.is_finished(), "answered before anything was written");
    store.stall(false);
    let admin = admin.await.unwrap().expect("the admin event is sealed");
    let admin_index = admin[0].receipt().index;
    let mut later = 0;
    for job in ingest {
        let outcomes = job.await.unwrap().unwrap();
        later += outcomes
            .iter()
            .filter(|o| o.receipt().index > admin_index)
            .count();
    }
    // At most the three batches already sealed (one being written, one
    // queued for the writer, one the sealer was handing over) go first.
    assert!(admin_index <= 30, "admin event sealed at {admin_index}");
    assert!(
        later >= 70,
        "only {later} ingest events were sealed after it"
    );
    assert_eq!(seq.queue_depth(), 0);
    drop(seq);
    thread.join().unwrap();
    assert_eq!(store.head().unwrap().size, 101);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_lane_has_its_own_bound() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Flaky::open(dir.path()));
    let config = SequencerConfig {
        queue_limit: 5,
        ..SequencerConfig::default()
    };
    let (seq, thread) =
        Sequencer::start(store.clone(), config, Arc::new(Metrics::default())).unwrap();
    store.stall(true);
    let full: Vec<PreparedEvent> = (0..ADMIN_QUEUE_LIMIT as u64)
        .map(|i| prepared("sealtrail", i))
        .collect();
    let first = {
        let seq = seq.clone();
        tokio::spawn(async move { seq.submit_in(Lane::Admin, full).await })
    };
    until_queued(&seq, ADMIN_QUEUE_LIMIT).await;
    match seq
        .submit_in(Lane::Admin, vec![prepared("sealtrail", 9_999)])
        .await
    {
        Err(
            e @ SubmitError::Overloaded {
                lane: Lane::Admin, ..
            },
        ) => assert!(
            e.to_string().contains("administrative queue is full"),
            "{e}"
        ),
        other => panic!("the admin lane should be full: {other:?}"),
    }
    // A full admin lane does not count against ingest (queue_limit 5).
    let ingest = {
        let seq = seq.clone();
        tokio::spawn(async move { seq.submit((0..5).map(|i| prepared("i", i)).collect()).await })
    };
    until_queued(&seq, ADMIN_QUEUE_LIMIT + 5).await;
    store.stall(false);
    assert_eq!(first.await.unwrap().unwrap().len(), ADMIN_QUEUE_LIMIT);
    assert_eq!(ingest.await.unwrap().unwrap().len(), 5);
    drop(seq);
    thread.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_job_wakes_an_idle_sealer() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Flaky::open(dir.path()));
    let (seq, thread) = Sequencer::start(
        store.clone(),
        SequencerConfig::default(),
        Arc::new(Metrics::default()),
    )
    .unwrap();
    let done = seq
        .submit_in(Lane::Admin, vec![prepared("sealtrail", 1)])
        .await
        .unwrap();
    assert!(matches!(done[0], SealOutcome::Sealed(_)));
    drop(seq);
    thread.join().unwrap();
    assert_eq!(store.head().unwrap().size, 1);
}
