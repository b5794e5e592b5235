//! The sequencer: the one writer of a log. It takes validated events from
//! many concurrent requests, seals them in batches (indices, headers, hashes,
//! stream links, Merkle frontier and tile nodes), writes each batch in ONE
//! durable store transaction, and only then answers every request in it.
//!
//! Batching is opportunistic: whatever queued up while the previous batch was
//! being committed forms the next batch (up to `batch_max` events), so a lone
//! event is committed at once and a busy server pays one fsync per batch.
//!
//! Two threads form a pipeline: the *sealer* decides batch N+1 (indices,
//! headers, hashes) on top of batch N's state while the *writer* makes batch N
//! durable. Nothing is acknowledged before its own batch commits. If a write
//! fails, the writer bumps an epoch: every batch sealed on top of the failed
//! one is refused unwritten, and the sealer reloads its state from the store.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sealtrail_core::event::Event;
use sealtrail_core::frontier::Frontier;
use sealtrail_core::hash::Hash;
use sealtrail_core::header::{
    commit_body, EntryHeader, SeqGap, StreamLink, Streams, HEADER_VERSION,
};
use sealtrail_store::{
    Batch, EntryColumns, LogHead, NewEntry, Receipt, Store, StoreError, StreamHead,
};
use tokio::sync::{oneshot, watch};

use crate::metrics::Metrics;

/// A validated event reduced to what sealing needs: the header fields, the
/// canonical body, and its salted commitment. Built on the request threads
/// (in parallel), so the sequencer thread only does what must be sequential.
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    pub id: Option<String>,
    pub agent: String,
    pub instance: Option<String>,
    pub session: Option<String>,
    pub parent: Option<String>,
    pub kind: &'static str,
    pub action: Option<String>,
    pub tool: Option<String>,
    pub outcome: Option<&'static str>,
    pub seq: Option<u64>,
    pub data_classes: Vec<String>,
    /// `JCS(event)`.
    pub body: Vec<u8>,
    pub salt: [u8; 32],
    /// `SHA-256(salt ‖ body)`.
    pub commitment: Hash,
}

impl PreparedEvent {
    pub fn new(event: Event, body: Vec<u8>, salt: [u8; 32]) -> Self {
        let commitment = commit_body(&salt, &body);
        PreparedEvent {
            id: event.id,
            agent: event.agent.id,
            instance: event.agent.instance,
            session: event.session,
            parent: event.parent,
            kind: event.kind.as_str(),
            action: event.action,
            tool: event.tool.map(|t| t.name),
            outcome: event.outcome.map(|o| o.as_str()),
            seq: event.seq,
            data_classes: event.data_classes,
            body,
            salt,
            commitment,
        }
    }
}

/// What happened to one submitted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealOutcome {
    Sealed(Receipt),
    /// Its `id` was sealed before: the original receipt.
    Duplicate(Receipt),
}

impl SealOutcome {
    pub fn receipt(&self) -> &Receipt {
        match self {
            SealOutcome::Sealed(r) | SealOutcome::Duplicate(r) => r,
        }
    }
}

/// Why a submission was not sealed. Nothing of it was acknowledged.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SubmitError {
    #[error("the ingest queue is full ({queued} events waiting); retry shortly")]
    Overloaded { queued: usize },
    #[error("storage is full; nothing was written. Free space and retry")]
    StorageFull,
    #[error("storage is unavailable: {0}")]
    Storage(String),
    #[error("the server is shutting down")]
    Stopped,
}

/// Tuning of the sequencer.
#[derive(Debug, Clone)]
pub struct SequencerConfig {
    /// Most events in one batch (one transaction).
    pub batch_max: usize,
    /// How long to wait for more events after the first one (0: never wait).
    pub linger: Duration,
    /// Most events waiting to be sealed before submissions get `Overloaded`.
    pub queue_limit: usize,
    /// The store is shared with other server nodes: a batch that loses the
    /// race for the log head (`Conflict`) is sealed again on the new head
    /// instead of failing. Costs a copy of each event until it commits.
    pub shared_store: bool,
}

impl Default for SequencerConfig {
    fn default() -> Self {
        SequencerConfig {
            batch_max: 4096,
            linger: Duration::ZERO,
            queue_limit: 200_000,
            shared_store: false,
        }
    }
}

/// The committed tree, published after every batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    pub size: u64,
    pub root: Hash,
}

struct Job {
    events: Vec<PreparedEvent>,
    /// Events submitted (`events` is emptied while sealing, unless the
    /// store is shared and the job may have to be sealed again).
    count: usize,
    /// Times this job lost the race for the log head to another node.
    attempts: u32,
    reply: oneshot::Sender<Result<Vec<SealOutcome>, SubmitError>>,
}

/// Handle to submit events; cheap to clone.
#[derive(Clone)]
pub struct Sequencer {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Job>,
    queued: Arc<AtomicUsize>,
    limit: usize,
    head: watch::Receiver<TreeHead>,
}

impl Sequencer {
    /// Loads the log head and starts the sequencer thread. The thread stops
    /// when every handle is dropped, after finishing the queued work.
    pub fn start(
        store: Arc<dyn Store>,
        config: SequencerConfig,
        metrics: Arc<Metrics>,
    ) -> Result<(Sequencer, std::thread::JoinHandle<()>), StoreError> {
        let state = State::load(store.as_ref())?;
        let (head_tx, head_rx) = watch::channel(state.tree_head());
        let config = SequencerConfig {
            batch_max: config.batch_max.max(1),
            ..config
        };
        metrics.tree_size.store(state.head.size, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel::<Job>();
        let queued = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            committed: AtomicU64::new(state.head.size),
            retry: std::sync::Mutex::new(Vec::new()),
            head: head_tx,
        });
        // One batch being written and one waiting: the sealer runs at most
        // two batches ahead of what is durable.
        let (to_writer, writer_rx) = mpsc::sync_channel::<ToWriter>(1);
        let writer = Writer {
            store: store.clone(),
            shared: shared.clone(),
            queued: queued.clone(),
            metrics: metrics.clone(),
            shared_store: config.shared_store,
        };
        let writer_thread = std::thread::Builder::new()
            .name("sealtrail-writer".into())
            .spawn(move || writer.run(writer_rx))
            .map_err(|e| StoreError::Io(format!("cannot start the writer thread: {e}")))?;
        let shared_handle = shared.clone();
        let sealer = Sealer {
            store,
            config: config.clone(),
            state,
            rx,
            to_writer,
            shared,
            epoch: 0,
            pending: VecDeque::new(),
            pending_ids: HashMap::new(),
            queued: queued.clone(),
            metrics,
        };
        let handle = std::thread::Builder::new()
            .name("sealtrail-sealer".into())
            .spawn(move || {
                sealer.run();
                // The sealer's sender is gone: the writer drains and stops.
                let _ = writer_thread.join();
            })
            .map_err(|e| StoreError::Io(format!("cannot start the sequencer thread: {e}")))?;
        Ok((
            Sequencer {
                shared: shared_handle,
                tx,
                queued,
                limit: config.queue_limit,
                head: head_rx,
            },
            handle,
        ))
    }

    /// Seals `events`; answers once they are durable. Outcomes are in order.
    pub async fn submit(
        &self,
        events: Vec<PreparedEvent>,
    ) -> Result<Vec<SealOutcome>, SubmitError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let n = events.len();
        let before = self.queued.fetch_add(n, Ordering::AcqRel);
        if before + n > self.limit && before > 0 {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            return Err(SubmitError::Overloaded { queued: before });
        }
        let (reply, answer) = oneshot::channel();
        if self
            .tx
            .send(Job {
                events,
                count: n,
                attempts: 0,
                reply,
            })
            .is_err()
        {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            return Err(SubmitError::Stopped);
        }
        answer.await.map_err(|_| SubmitError::Stopped)?
    }

    /// Events waiting to be sealed.
    pub fn queue_depth(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Watch the committed tree head.
    pub fn head(&self) -> watch::Receiver<TreeHead> {
        self.head.clone()
    }

    /// A handle that tells readers about heads committed elsewhere (another
    /// node on the same database). It does not keep the sequencer alive.
    pub fn publisher(&self) -> HeadPublisher {
        HeadPublisher(self.shared.clone())
    }
}

/// What the sealer and the writer share.
struct Shared {
    /// Bumped by the writer when a batch fails.
    epoch: AtomicU64,
    /// Log size the store has committed.
    committed: AtomicU64,
    /// Jobs that lost the race for the log head, to be sealed again.
    retry: std::sync::Mutex<Vec<Job>>,
    /// The committed head, for readers and the checkpointer.
    head: watch::Sender<TreeHead>,
}

impl Shared {
    /// Publishes a committed head if it is newer than the one known.
    fn publish(&self, head: TreeHead) {
        self.head.send_if_modified(|known| {
            if head.size > known.size {
                *known = head;
                true
            } else {
                false
            }
        });
    }
}

/// Publishes heads committed by other nodes; see [`Sequencer::publisher`].
#[derive(Clone)]
pub struct HeadPublisher(Arc<Shared>);

impl HeadPublisher {
    /// Ignored unless `head` is larger than the one known.
    pub fn publish(&self, head: TreeHead) {
        self.0.publish(head);
    }
}

/// A job loses the race for the log head at most this many times in a row
/// before it is answered 503.
const MAX_ATTEMPTS: u32 = 50;

/// Messages from the sealer to the writer.
enum ToWriter {
    Batch(Box<SealedBatch>),
    /// Answered once everything sent before it has been handled.
    Drained(mpsc::Sender<()>),
}

struct SealedBatch {
    /// `None` when every event was a duplicate: nothing to write, but the
    /// answers still wait for the batches they refer to.
    batch: Option<Batch>,
    jobs: Vec<Job>,
    outcomes: Vec<SealOutcome>,
    epoch: u64,
    count: usize,
}

/// The sealer's view of the log: committed state plus the batches it has
/// handed to the writer (which commit in order, or fail and force a reload).
struct State {
    head: LogHead,
    frontier: Frontier,
    streams: HashMap<String, StreamHead>,
    seqs: HashMap<String, u64>,
}

/// Caches of stream heads and seqs are dropped past this many keys (they
/// reload from the store on demand).
const CACHE_LIMIT: usize = 1_000_000;

impl State {
    fn load(store: &dyn Store) -> Result<State, StoreError> {
        let head = store.head()?;
        let frontier = Frontier::from_parts(head.size, head.frontier.clone())
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if frontier.root() != head.root {
            return Err(StoreError::Corrupt(format!(
                "stored frontier gives root {} but the head says {}",
                frontier.root(),
                head.root
            )));
        }
        Ok(State {
            head,
            frontier,
            streams: HashMap::new(),
            seqs: HashMap::new(),
        })
    }

    fn tree_head(&self) -> TreeHead {
        TreeHead {
            size: self.head.size,
            root: self.head.root,
        }
    }
}

struct Sealer {
    store: Arc<dyn Store>,
    config: SequencerConfig,
    state: State,
    rx: mpsc::Receiver<Job>,
    to_writer: mpsc::SyncSender<ToWriter>,
    shared: Arc<Shared>,
    /// The writer epoch this sealer's state is built on.
    epoch: u64,
    /// Ids of batches handed to the writer and maybe not committed yet, by
    /// the log size after each batch; the store cannot see them yet.
    pending: VecDeque<(u64, Vec<String>)>,
    pending_ids: HashMap<String, Receipt>,
    queued: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
}

struct Writer {
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    queued: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
    shared_store: bool,
}

fn submit_error(e: &StoreError) -> SubmitError {
    match e {
        StoreError::Full(_) => SubmitError::StorageFull,
        other => SubmitError::Storage(other.to_string()),
    }
}

fn fail(jobs: Vec<Job>, err: &SubmitError) {
    for job in jobs {
        let _ = job.reply.send(Err(err.clone()));
    }
}

impl Writer {
    fn run(self, rx: mpsc::Receiver<ToWriter>) {
        for msg in rx {
            match msg {
                ToWriter::Drained(done) => {
                    let _ = done.send(());
                }
                ToWriter::Batch(sealed) => self.write(*sealed),
            }
        }
    }

    fn write(&self, sealed: SealedBatch) {
        let SealedBatch {
            batch,
            jobs,
            outcomes,
            epoch,
            count,
        } = sealed;
        if epoch != self.shared.epoch.load(Ordering::Acquire) {
            // Sealed on top of a batch that was not written: never written.
            return self.retry_or_fail(
                jobs,
                count,
                SubmitError::Storage("an earlier batch could not be written; retry".into()),
            );
        }
        if let Some(batch) = &batch {
            let started = Instant::now();
            match self.store.append_batch(batch) {
                Ok(()) => {}
                Err(StoreError::Conflict { expected, found }) if self.shared_store => {
                    // Another node moved the head: seal these again on it.
                    tracing::debug!(expected, found, "lost the log head to another node");
                    self.metrics.batch_conflicts.fetch_add(1, Ordering::Relaxed);
                    self.shared.epoch.fetch_add(1, Ordering::AcqRel);
                    return self.retry_or_fail(
                        jobs,
                        count,
                        SubmitError::Storage("the log head is contended; retry".into()),
                    );
                }
                Err(e) => {
                    tracing::error!(error = %e, events = count, "batch not written; answering 503");
                    self.metrics.batch_failures.fetch_add(1, Ordering::Relaxed);
                    self.shared.epoch.fetch_add(1, Ordering::AcqRel);
                    self.queued.fetch_sub(count, Ordering::AcqRel);
                    return fail(jobs, &submit_error(&e));
                }
            }
            self.metrics.observe_commit(started.elapsed());
            self.shared
                .committed
                .store(batch.head.size, Ordering::Release);
            self.metrics
                .tree_size
                .store(batch.head.size, Ordering::Relaxed);
            self.shared.publish(TreeHead {
                size: batch.head.size,
                root: batch.head.root,
            });
        }
        // Leaves the queue before anyone hears back, so a client that got
        // its answer never sees its own events still counted as queued.
        self.queued.fetch_sub(count, Ordering::AcqRel);
        let mut it = outcomes.into_iter();
        for job in jobs {
            let mine: Vec<SealOutcome> = it.by_ref().take(job.count).collect();
            let _ = job.reply.send(Ok(mine));
        }
    }

    /// With a shared store, jobs that were not written go back to the
    /// sealer (they kept their events); otherwise they fail with `err`.
    fn retry_or_fail(&self, jobs: Vec<Job>, count: usize, err: SubmitError) {
        let (again, give_up): (Vec<Job>, Vec<Job>) = jobs
            .into_iter()
            .map(|mut j| {
                j.attempts += 1;
                j
            })
            .partition(|j| {
                self.shared_store && j.attempts < MAX_ATTEMPTS && j.events.len() == j.count
            });
        let given_up: usize = give_up.iter().map(|j| j.count).sum();
        if self.shared_store && given_up > 0 {
            tracing::warn!(events = given_up, error = %err, "giving up on events after repeated conflicts");
        }
        self.queued.fetch_sub(given_up, Ordering::AcqRel);
        fail(give_up, &err);
        debug_assert!(given_up <= count);
        if !again.is_empty() {
            if let Ok(mut q) = self.shared.retry.lock() {
                q.extend(again);
            }
        }
    }
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn instance_key(e: &PreparedEvent) -> String {
    sealtrail_store::instance_key(&e.agent, e.instance.as_deref())
}

impl Sealer {
    /// Next job: retries first, then new submissions. With a shared store it
    /// wakes up regularly to pick up retries; `None` once every handle is gone.
    fn next_job(&self) -> Option<Job> {
        loop {
            if let Some(j) = self.shared.retry.lock().ok().and_then(|mut q| q.pop()) {
                return Some(j);
            }
            if !self.config.shared_store {
                return self.rx.recv().ok();
            }
            match self.rx.recv_timeout(Duration::from_millis(10)) {
                Ok(j) => return Some(j),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => {
                    let empty = self
                        .shared
                        .retry
                        .lock()
                        .map(|q| q.is_empty())
                        .unwrap_or(true);
                    if empty {
                        return None;
                    }
                }
            }
        }
    }

    fn run(mut self) {
        while let Some(first) = self.next_job() {
            let mut jobs = vec![first];
            let mut count = jobs[0].count;
            let deadline = Instant::now() + self.config.linger;
            while count < self.config.batch_max {
                let retried = self.shared.retry.lock().ok().and_then(|mut q| q.pop());
                let next = match retried {
                    Some(j) => Some(j),
                    None => match self.rx.try_recv() {
                        Ok(j) => Some(j),
                        Err(mpsc::TryRecvError::Empty) if !self.config.linger.is_zero() => {
                            let left = deadline.saturating_duration_since(Instant::now());
                            match self.rx.recv_timeout(left) {
                                Ok(j) => Some(j),
                                Err(RecvTimeoutError::Timeout)
                                | Err(RecvTimeoutError::Disconnected) => None,
                            }
                        }
                        Err(_) => None,
                    },
                };
                match next {
                    Some(j) => {
                        count += j.count;
                        jobs.push(j);
                    }
                    None => break,
                }
            }
            let go_on = if self.config.shared_store {
                self.seal_in_turn(jobs, count)
            } else {
                self.seal_and_send(jobs, count)
            };
            if !go_on {
                tracing::error!("the writer thread is gone");
                return;
            }
        }
    }

    /// Seals a batch on the current state and hands it to the writer.
    /// False if the writer is gone.
    fn seal_and_send(&mut self, mut jobs: Vec<Job>, count: usize) -> bool {
        if let Err(e) = self.resync() {
            tracing::error!(error = %e, "cannot reload the log head after a failed batch");
            fail(jobs, &submit_error(&e));
            self.shared_queue_release(count);
            return true;
        }
        let started = Instant::now();
        match self.seal(&mut jobs) {
            Ok((batch, outcomes)) => {
                self.metrics.observe_batch(count, started.elapsed());
                let sealed = SealedBatch {
                    batch,
                    jobs,
                    outcomes,
                    epoch: self.epoch,
                    count,
                };
                self.to_writer
                    .send(ToWriter::Batch(Box::new(sealed)))
                    .is_ok()
            }
            Err(e) => {
                tracing::error!(error = %e, events = count, "batch not sealed; answering 503");
                fail(jobs, &submit_error(&e));
                self.shared_queue_release(count);
                true
            }
        }
    }

    /// With a shared store: take the log's writer lock, catch up with what
    /// other nodes wrote, seal on that head, and hold the lock until the
    /// writer has committed. Nodes take turns instead of racing (a race
    /// starved the slower nodes: measured with three nodes).
    fn seal_in_turn(&mut self, jobs: Vec<Job>, count: usize) -> bool {
        if let Err(e) = self.store.lock_log() {
            tracing::error!(error = %e, "cannot take the log's writer lock; answering 503");
            fail(jobs, &submit_error(&e));
            self.shared_queue_release(count);
            return true;
        }
        let caught_up = self.catch_up();
        let go_on = match caught_up {
            Ok(()) => {
                let sent = self.seal_and_send(jobs, count);
                // Keep the lock until the batch is committed.
                let (done, wait) = mpsc::channel();
                sent && self.to_writer.send(ToWriter::Drained(done)).is_ok() && wait.recv().is_ok()
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the shared log head; answering 503");
                fail(jobs, &submit_error(&e));
                self.shared_queue_release(count);
                true
            }
        };
        self.store.unlock_log();
        go_on
    }

    /// Reloads the state if another node moved the head since our last batch.
    fn catch_up(&mut self) -> Result<(), StoreError> {
        let head = self.store.head()?;
        if head.size == self.state.head.size && head.root == self.state.head.root {
            return Ok(());
        }
        self.state = State::load(self.store.as_ref())?;
        self.shared
            .committed
            .store(self.state.head.size, Ordering::Release);
        self.shared.publish(self.state.tree_head());
        self.pending.clear();
        self.pending_ids.clear();
        Ok(())
    }

    /// Events the writer will never see leave the queue here.
    fn shared_queue_release(&self, count: usize) {
        self.queued.fetch_sub(count, Ordering::AcqRel);
    }

    /// After a failed write: wait until the writer has handled everything
    /// sent so far, then rebuild the state from what the store committed.
    fn resync(&mut self) -> Result<(), StoreError> {
        let current = self.shared.epoch.load(Ordering::Acquire);
        if current == self.epoch {
            self.prune_pending();
            return Ok(());
        }
        let (done, wait) = mpsc::channel();
        if self.to_writer.send(ToWriter::Drained(done)).is_ok() {
            let _ = wait.recv();
        }
        self.state = State::load(self.store.as_ref())?;
        self.shared
            .committed
            .store(self.state.head.size, Ordering::Release);
        self.shared.publish(self.state.tree_head());
        self.pending.clear();
        self.pending_ids.clear();
        self.epoch = current;
        Ok(())
    }

    /// Forgets pending ids whose batches are committed (the store has them).
    fn prune_pending(&mut self) {
        let committed = self.shared.committed.load(Ordering::Acquire);
        while let Some((end, _)) = self.pending.front() {
            if *end > committed {
                break;
            }
            if let Some((_, ids)) = self.pending.pop_front() {
                for id in ids {
                    self.pending_ids.remove(&id);
                }
            }
        }
    }

    /// Seals one batch: decides indices, headers, hashes and links, and
    /// advances the sealer's state on the assumption that the batch commits.
    #[allow(clippy::type_complexity)]
    fn seal(&mut self, jobs: &mut [Job]) -> Result<(Option<Batch>, Vec<SealOutcome>), StoreError> {
        let events: Vec<PreparedEvent> = if self.config.shared_store {
            // Kept in the jobs in case another node wins the head first.
            jobs.iter().flat_map(|j| j.events.iter().cloned()).collect()
        } else {
            jobs.iter_mut()
                .flat_map(|j| std::mem::take(&mut j.events))
                .collect()
        };

        // Idempotency: ids sealed earlier, and repeats inside this batch.
        let ids: Vec<&str> = events.iter().filter_map(|p| p.id.as_deref()).collect();
        let mut known: HashMap<String, Receipt> = if ids.is_empty() {
            HashMap::new()
        } else {
            self.store.find_event_ids(&ids)?.into_iter().collect()
        };
        // Sealed in batches the writer may not have committed yet.
        for id in &ids {
            if let Some(r) = self.pending_ids.get(*id) {
                known.insert((*id).to_string(), *r);
            }
        }

        self.load_streams(&events)?;

        let mut frontier = self.state.frontier.clone();
        let mut size = self.state.head.size;
        let mut last_time = self.state.head.last_time;
        let mut last_leaf = self.state.head.last_leaf;
        let mut streams: HashMap<String, StreamHead> = HashMap::new();
        let mut seqs: HashMap<String, u64> = HashMap::new();
        let mut nodes = Vec::new();
        let mut entries = Vec::with_capacity(events.len());
        let mut outcomes: Vec<Option<SealOutcome>> = Vec::with_capacity(events.len());
        // Positions of in-batch duplicates, resolved once their first copy is sealed.
        let mut pending_dups: Vec<(usize, String)> = Vec::new();
        let time = now_micros().max(last_time);

        for (i, p) in events.into_iter().enumerate() {
            if let Some(id) = p.id.as_deref() {
                if let Some(r) = known.get(id) {
                    if r.index >= self.state.head.size {
                        pending_dups.push((i, id.to_string()));
                        outcomes.push(None);
                    } else {
                        outcomes.push(Some(SealOutcome::Duplicate(*r)));
                    }
                    continue;
                }
            }
            let index = size;
            let agent_link = self.next_link(
                &mut streams,
                sealtrail_store::agent_stream_key(&p.agent),
                index,
            );
            let session_link = p.session.as_deref().map(|s| {
                self.next_link(&mut streams, sealtrail_store::session_stream_key(s), index)
            });
            let seq_gap = p.seq.and_then(|seq| {
                let key = instance_key(&p);
                let last = seqs
                    .get(&key)
                    .or_else(|| self.state.seqs.get(&key))
                    .copied();
                seqs.insert(key, seq);
                match last {
                    Some(l) if seq != l.wrapping_add(1) => Some(SeqGap {
                        expected: l.wrapping_add(1),
                        got: seq,
                    }),
                    _ => None,
                }
            });
            let header = EntryHeader {
                v: HEADER_VERSION,
                index,
                time,
                prev: last_leaf,
                agent: p.agent,
                instance: p.instance,
                session: p.session,
                parent: p.parent,
                kind: p.kind.to_string(),
                action: p.action,
                tool: p.tool,
                outcome: p.outcome.map(str::to_string),
                event_id: p.id,
                seq: p.seq,
                seq_gap,
                data_classes: p.data_classes,
                subjects: Vec::new(),
                scope: None,
                streams: Streams {
                    agent: agent_link,
                    session: session_link,
                },
                body: p.commitment,
            };
            let header_bytes = header
                .to_entry_bytes()
                .map_err(|e| StoreError::Corrupt(format!("header of entry {index}: {e}")))?;
            let leaf = sealtrail_core::hash::leaf_hash(&header_bytes);
            frontier.append_with(leaf, |level, n, h| {
                if level > 0 && level % 8 == 0 {
                    nodes.push((level, n, *h));
                }
            });
            let receipt = Receipt {
                index,
                leaf_hash: leaf,
                time,
            };
            if let Some(id) = &header.event_id {
                known.insert(id.clone(), receipt);
            }
            entries.push(NewEntry {
                index,
                leaf_hash: leaf,
                header: header_bytes,
                columns: EntryColumns {
                    time,
                    agent: header.agent,
                    session: header.session,
                    kind: header.kind,
                    action: header.action,
                    tool: header.tool,
                    outcome: header.outcome,
                    event_id: header.event_id,
                },
                body: p.body,
                salt: p.salt,
            });
            outcomes.push(Some(SealOutcome::Sealed(receipt)));
            last_leaf = Some(leaf);
            last_time = time;
            size += 1;
        }
        for (i, id) in pending_dups {
            if let Some(r) = known.get(&id) {
                outcomes[i] = Some(SealOutcome::Duplicate(*r));
            }
        }

        let outcomes = outcomes
            .into_iter()
            .enumerate()
            .map(|(i, o)| {
                o.ok_or_else(|| {
                    StoreError::Corrupt(format!("event {i} of the batch has no outcome"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if entries.is_empty() {
            return Ok((None, outcomes));
        }
        let head = LogHead {
            size,
            root: frontier.root(),
            frontier: frontier.nodes().to_vec(),
            last_time,
            last_leaf,
        };
        let new_ids: Vec<String> = entries
            .iter()
            .filter_map(|e| e.columns.event_id.clone())
            .collect();
        for (id, e) in new_ids
            .iter()
            .zip(entries.iter().filter(|e| e.columns.event_id.is_some()))
        {
            self.pending_ids.insert(
                id.clone(),
                Receipt {
                    index: e.index,
                    leaf_hash: e.leaf_hash,
                    time: e.columns.time,
                },
            );
        }
        self.pending.push_back((size, new_ids));
        let batch = Batch {
            expected_size: self.state.head.size,
            entries,
            nodes,
            streams: streams.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            seqs: seqs.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            head: head.clone(),
        };
        // Advance on the assumption that the writer commits this batch; if
        // it does not, `resync` rebuilds everything from the store.
        self.state.head = head;
        self.state.frontier = frontier;
        if self.state.streams.len() > CACHE_LIMIT {
            self.state.streams.clear();
        }
        if self.state.seqs.len() > CACHE_LIMIT {
            self.state.seqs.clear();
        }
        self.state.streams.extend(streams);
        self.state.seqs.extend(seqs);
        Ok((Some(batch), outcomes))
    }

    /// Loads the stream heads and last seqs this batch needs into the cache.
    fn load_streams(&mut self, events: &[PreparedEvent]) -> Result<(), StoreError> {
        let mut keys: Vec<String> = Vec::new();
        let mut inst: Vec<String> = Vec::new();
        for p in events {
            let a = sealtrail_store::agent_stream_key(&p.agent);
            if !self.state.streams.contains_key(&a) {
                keys.push(a);
            }
            if let Some(s) = &p.session {
                let s = sealtrail_store::session_stream_key(s);
                if !self.state.streams.contains_key(&s) {
                    keys.push(s);
                }
            }
            if p.seq.is_some() {
                let k = instance_key(p);
                if !self.state.seqs.contains_key(&k) {
                    inst.push(k);
                }
            }
        }
        keys.sort_unstable();
        keys.dedup();
        inst.sort_unstable();
        inst.dedup();
        if !keys.is_empty() {
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            self.state.streams.extend(self.store.stream_heads(&refs)?);
        }
        if !inst.is_empty() {
            let refs: Vec<&str> = inst.iter().map(String::as_str).collect();
            self.state.seqs.extend(self.store.last_seqs(&refs)?);
        }
        Ok(())
    }

    /// The next link of `key`'s stream for an entry at `index`.
    fn next_link(
        &self,
        batch: &mut HashMap<String, StreamHead>,
        key: String,
        index: u64,
    ) -> StreamLink {
        let prev = batch
            .get(&key)
            .or_else(|| self.state.streams.get(&key))
            .copied();
        let link = StreamLink {
            n: prev.map_or(1, |h| h.count + 1),
            prev: prev.map(|h| h.last),
        };
        batch.insert(
            key,
            StreamHead {
                count: link.n,
                last: index,
            },
        );
        link
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use sealtrail_store::sqlite::SqliteStore;
    use sealtrail_store::{ApiKeyRecord, StoredCheckpoint, StoredEntry};

    use super::*;

    /// The real store, with a switch that makes the next writes fail.
    struct Flaky {
        inner: SqliteStore,
        fail: AtomicBool,
    }

    impl Store for Flaky {
        fn head(&self) -> Result<LogHead, StoreError> {
            self.inner.head()
        }
        fn append_batch(&self, batch: &Batch) -> Result<(), StoreError> {
            if self.fail.swap(false, Ordering::SeqCst) {
                return Err(StoreError::Full("injected".into()));
            }
            // Slow writes let the sealer run ahead, as in production.
            std::thread::sleep(Duration::from_millis(5));
            self.inner.append_batch(batch)
        }
        fn find_event_ids(&self, ids: &[&str]) -> Result<Vec<(String, Receipt)>, StoreError> {
            self.inner.find_event_ids(ids)
        }
        fn stream_heads(&self, keys: &[&str]) -> Result<Vec<(String, StreamHead)>, StoreError> {
            self.inner.stream_heads(keys)
        }
        fn last_seqs(&self, keys: &[&str]) -> Result<Vec<(String, u64)>, StoreError> {
            self.inner.last_seqs(keys)
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
        fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
            self.inner.put_api_key(key)
        }
        fn api_key(&self, key_hash: &Hash) -> Result<Option<ApiKeyRecord>, StoreError> {
            self.inner.api_key(key_hash)
        }
        fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
            self.inner.api_keys()
        }
        fn lock_log(&self) -> Result<(), StoreError> {
            self.inner.lock_log()
        }
        fn unlock_log(&self) {
            self.inner.unlock_log()
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
        let store = Arc::new(Flaky {
            inner: SqliteStore::open(dir.path()).unwrap(),
            fail: AtomicBool::new(false),
        });
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
                        Err(SubmitError::StorageFull) | Err(SubmitError::Storage(_)) => {
                            refused += 1
                        }
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
}
