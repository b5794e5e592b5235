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
//!
//! Submissions wait in one of two lanes. Client events use the ingest lane,
//! bounded by `queue_limit`. sealtrail's own administrative and security
//! events (revoking a key, suspending an agent, rotating a signing key: the
//! self-audit events that must be sealed before the change is made) use the
//! admin lane: its own small bound, not counted against `queue_limit`, and
//! taken by the sealer ahead of every waiting ingest job, so a flood of
//! ingest can delay a revocation by a batch or two but never refuse it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// Checked against the agent's scope; never sealed into the header.
    pub resource: Option<String>,
    pub tool: Option<String>,
    pub outcome: Option<&'static str>,
    pub seq: Option<u64>,
    pub data_classes: Vec<String>,
    /// Keyed MACs of the event's data subjects. Empty until the server has
    /// a subject MAC key: subjects are then not sealed into headers at all
    /// (the raw values must never be).
    pub subjects: Vec<Hash>,
    /// Scope verdict against the agent registry, once there is one.
    pub scope: Option<String>,
    /// The redaction policy version, when redaction changed the body.
    pub redacted: Option<String>,
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
            resource: event.resource,
            tool: event.tool.map(|t| t.name),
            outcome: event.outcome.map(|o| o.as_str()),
            seq: event.seq,
            data_classes: event.data_classes,
            subjects: Vec::new(),
            scope: None,
            redacted: None,
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

/// Which queue a submission waits in (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Client events, bounded by [`SequencerConfig::queue_limit`].
    Ingest,
    /// sealtrail's own administrative and security events, bounded by
    /// [`ADMIN_QUEUE_LIMIT`] and sealed ahead of waiting ingest.
    Admin,
}

impl std::fmt::Display for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Lane::Ingest => "ingest",
            Lane::Admin => "administrative",
        })
    }
}

/// Most events waiting in the admin lane. Each administrative request
/// seals one or two events and the sealer takes them first, so the lane
/// only fills when the store itself stalls; the bound keeps even a burst of
/// audited reads from holding more than a few MiB (docs/decisions.md).
pub const ADMIN_QUEUE_LIMIT: usize = 1024;

/// Why a submission was not sealed. Nothing of it was acknowledged.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SubmitError {
    #[error("the {lane} queue is full ({queued} events waiting); retry shortly")]
    Overloaded { lane: Lane, queued: usize },
    #[error("storage is full; nothing was written. Free space and retry")]
    StorageFull,
    #[error("storage is unavailable: {0}")]
    Storage(String),
    #[error("the server is shutting down")]
    Stopped,
}

pub use crate::config::SequencerConfig;

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
    lane: Lane,
    reply: oneshot::Sender<Result<Vec<SealOutcome>, SubmitError>>,
}

/// What reaches the sealer through its channel. Admin jobs wait in
/// [`Shared::admin`] instead (so the sealer can take them ahead of the
/// channel's backlog); `Wake` tells an idle sealer to look there.
enum Submission {
    Job(Job),
    Wake,
}

/// Events waiting to be sealed, per lane.
#[derive(Default)]
struct Queued {
    ingest: AtomicUsize,
    admin: AtomicUsize,
}

impl Queued {
    fn lane(&self, lane: Lane) -> &AtomicUsize {
        match lane {
            Lane::Ingest => &self.ingest,
            Lane::Admin => &self.admin,
        }
    }

    /// `jobs` leave their queues (answered, failed, or given up).
    fn release(&self, jobs: &[Job]) {
        for j in jobs {
            self.lane(j.lane).fetch_sub(j.count, Ordering::AcqRel);
        }
    }

    fn total(&self) -> usize {
        self.ingest.load(Ordering::Relaxed) + self.admin.load(Ordering::Relaxed)
    }
}

/// Handle to submit events; cheap to clone.
#[derive(Clone)]
pub struct Sequencer {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Submission>,
    queued: Arc<Queued>,
    limit: usize,
    head: watch::Receiver<TreeHead>,
}

/// Where sealing times come from: microseconds since the epoch, asked once
/// per batch with the index of the batch's first entry. The server uses its
/// clock (and ignores the index); `sealtrail bench populate` spreads a log
/// over synthetic days by index. The sealer never lets time go backwards,
/// whatever this returns.
pub type Clock = Arc<dyn Fn(u64) -> u64 + Send + Sync>;

impl Sequencer {
    /// Loads the log head and starts the sequencer thread. The thread stops
    /// when every handle is dropped, after finishing the queued work.
    pub fn start(
        store: Arc<dyn Store>,
        config: SequencerConfig,
        metrics: Arc<Metrics>,
    ) -> Result<(Sequencer, std::thread::JoinHandle<()>), StoreError> {
        Self::start_with_clock(
            store,
            config,
            metrics,
            Arc::new(|_| crate::clock::now_micros()),
        )
    }

    /// [`Sequencer::start`] with the times of sealed entries taken from `clock`.
    pub fn start_with_clock(
        store: Arc<dyn Store>,
        config: SequencerConfig,
        metrics: Arc<Metrics>,
        clock: Clock,
    ) -> Result<(Sequencer, std::thread::JoinHandle<()>), StoreError> {
        let state = State::load(store.as_ref())?;
        let (head_tx, head_rx) = watch::channel(state.tree_head());
        let config = SequencerConfig {
            batch_max: config.batch_max.max(1),
            ..config
        };
        metrics.tree_size.store(state.head.size, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel::<Submission>();
        let queued = Arc::new(Queued::default());
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            committed: AtomicU64::new(state.head.size),
            retry: std::sync::Mutex::new(Vec::new()),
            admin: std::sync::Mutex::new(VecDeque::new()),
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
            .map_err(|e| StoreError::io("start the writer thread", e))?;
        let shared_handle = shared.clone();
        let seen = if config.shared_store {
            None
        } else {
            Some(seen::SeenIds::load(store.as_ref(), state.head.size)?)
        };
        let sealer = Sealer {
            clock,
            seen,
            growing: None,
            store,
            config: config.clone(),
            state,
            rx,
            to_writer,
            shared,
            epoch: 0,
            pending: VecDeque::new(),
            pending_ids: FastMap::default(),
            queued: queued.clone(),
            metrics,
        };
        let (left_shared, left_queued) = (shared_handle.clone(), queued.clone());
        let handle = std::thread::Builder::new()
            .name("sealtrail-sealer".into())
            .spawn(move || {
                sealer.run();
                // The sealer's sender is gone: the writer drains and stops.
                let _ = writer_thread.join();
                // The sealer (and its receiver) is gone, so every later
                // submission fails to send and answers itself; what still
                // waits outside the channel (admin lane, retries the writer
                // queued last) is answered here, never left hanging.
                let mut stranded: Vec<Job> = left_shared.admin_queue().drain(..).collect();
                stranded.append(&mut left_shared.retry_queue());
                left_queued.release(&stranded);
                fail(stranded, &SubmitError::Stopped);
            })
            .map_err(|e| StoreError::io("start the sequencer thread", e))?;
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

    /// Seals client `events` (the ingest lane); answers once they are
    /// durable. Outcomes are in order.
    pub async fn submit(
        &self,
        events: Vec<PreparedEvent>,
    ) -> Result<Vec<SealOutcome>, SubmitError> {
        self.submit_in(Lane::Ingest, events).await
    }

    /// Seals `events` in `lane`; answers once they are durable. Outcomes
    /// are in order.
    pub async fn submit_in(
        &self,
        lane: Lane,
        events: Vec<PreparedEvent>,
    ) -> Result<Vec<SealOutcome>, SubmitError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let n = events.len();
        let limit = match lane {
            Lane::Ingest => self.limit,
            Lane::Admin => ADMIN_QUEUE_LIMIT,
        };
        let counter = self.queued.lane(lane);
        let before = counter.fetch_add(n, Ordering::AcqRel);
        if before + n > limit && before > 0 {
            counter.fetch_sub(n, Ordering::AcqRel);
            return Err(SubmitError::Overloaded {
                lane,
                queued: before,
            });
        }
        let (reply, answer) = oneshot::channel();
        let job = Job {
            events,
            count: n,
            attempts: 0,
            lane,
            reply,
        };
        let sent = match lane {
            Lane::Ingest => self.tx.send(Submission::Job(job)).is_ok(),
            Lane::Admin => {
                self.shared.admin_queue().push_back(job);
                self.tx.send(Submission::Wake).is_ok()
            }
        };
        if !sent {
            // The sealer is gone: nobody will take what waits in the admin
            // lane, so answer all of it (this job included) now.
            let stranded: Vec<Job> = self.shared.admin_queue().drain(..).collect();
            self.queued.release(&stranded);
            fail(stranded, &SubmitError::Stopped);
            if lane == Lane::Ingest {
                counter.fetch_sub(n, Ordering::AcqRel);
            }
            return Err(SubmitError::Stopped);
        }
        answer.await.map_err(|_| SubmitError::Stopped)?
    }

    /// Events waiting to be sealed, in both lanes.
    pub fn queue_depth(&self) -> usize {
        self.queued.total()
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
    /// Admin-lane jobs, oldest first; the sealer takes them before any
    /// job waiting in its channel.
    admin: std::sync::Mutex<VecDeque<Job>>,
    /// The committed head, for readers and the checkpointer.
    head: watch::Sender<TreeHead>,
}

impl Shared {
    /// The jobs waiting to be sealed again. A panic while the lock was held
    /// must not lose them: a poisoned lock is taken over, because the only
    /// things done under it are `Vec::extend`, `pop` and `is_empty`, none
    /// of which can leave the vector half-changed (each job is moved in or
    /// out whole, and a job dropped by a panic drops its reply sender, so
    /// its submitter is answered `Stopped`, never left waiting).
    fn retry_queue(&self) -> std::sync::MutexGuard<'_, Vec<Job>> {
        self.retry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The admin lane; a poisoned lock is taken over for the same reason
    /// as [`Shared::retry_queue`] (only `push_back`, `pop_front`, `drain`).
    fn admin_queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Job>> {
        self.admin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A job that goes before anything in the sealer's channel: a retry,
    /// else the oldest admin job.
    fn priority_job(&self) -> Option<Job> {
        let retried = self.retry_queue().pop();
        retried.or_else(|| self.admin_queue().pop_front())
    }

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

/// The sealer's maps, keyed by client-chosen strings (agents, sessions,
/// event ids) and looked up several times per event. SipHash was ~6% of the
/// sealer's profile (issue 16); foldhash is much cheaper on short keys and
/// still takes a random seed per map, so keys cannot be chosen offline to
/// collide.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The sealer's view of the log: committed state plus the batches it has
/// handed to the writer (which commit in order, or fail and force a reload).
struct State {
    head: LogHead,
    frontier: Frontier,
    streams: FastMap<String, StreamHead>,
    seqs: FastMap<String, u64>,
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
            streams: FastMap::default(),
            seqs: FastMap::default(),
        })
    }

    fn tree_head(&self) -> TreeHead {
        TreeHead {
            size: self.head.size,
            root: self.head.root,
        }
    }
}

/// The answer of a background filter rebuild.
type GrowingFilter = mpsc::Receiver<Result<seen::SeenIds, StoreError>>;

struct Sealer {
    clock: Clock,
    store: Arc<dyn Store>,
    config: SequencerConfig,
    state: State,
    rx: mpsc::Receiver<Submission>,
    to_writer: mpsc::SyncSender<ToWriter>,
    shared: Arc<Shared>,
    /// The writer epoch this sealer's state is built on.
    epoch: u64,
    /// Ids of batches handed to the writer and maybe not committed yet, by
    /// the log size after each batch; the store cannot see them yet.
    pending: VecDeque<(u64, Vec<String>)>,
    pending_ids: FastMap<String, Receipt>,
    /// Every id the log holds, when this node is the log's only writer
    /// (with a shared store other nodes add ids it never sees).
    seen: Option<seen::SeenIds>,
    /// A larger filter being built in the background, and the ids sealed
    /// since it started (added when it is swapped in).
    growing: Option<(GrowingFilter, Vec<String>)>,
    queued: Arc<Queued>,
    metrics: Arc<Metrics>,
}

struct Writer {
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    queued: Arc<Queued>,
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

mod sealer;
mod seen;
#[cfg(test)]
mod tests;
mod writer;
