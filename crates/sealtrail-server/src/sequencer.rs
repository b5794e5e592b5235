//! The sequencer: the one writer of a log. It takes validated events from
//! many concurrent requests, seals them in batches (indices, headers, hashes,
//! stream links, Merkle frontier and tile nodes), writes each batch in ONE
//! durable store transaction, and only then answers every request in it.
//!
//! Batching is opportunistic: whatever queued up while the previous batch was
//! being committed forms the next batch (up to `batch_max` events), so a lone
//! event is committed at once and a busy server pays one fsync per batch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
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
}

impl Default for SequencerConfig {
    fn default() -> Self {
        SequencerConfig {
            batch_max: 4096,
            linger: Duration::ZERO,
            queue_limit: 200_000,
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
    /// Events submitted (`events` is emptied while sealing).
    count: usize,
    reply: oneshot::Sender<Result<Vec<SealOutcome>, SubmitError>>,
}

/// Handle to submit events; cheap to clone.
#[derive(Clone)]
pub struct Sequencer {
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
        metrics.tree_size.store(state.head.size, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel::<Job>();
        let queued = Arc::new(AtomicUsize::new(0));
        let worker = Worker {
            store,
            config: config.clone(),
            state,
            rx,
            queued: queued.clone(),
            head_tx,
            metrics,
        };
        let handle = std::thread::Builder::new()
            .name("sealtrail-sequencer".into())
            .spawn(move || worker.run())
            .map_err(|e| StoreError::Io(format!("cannot start the sequencer thread: {e}")))?;
        Ok((
            Sequencer {
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
}

/// The sequencer's view of the log, advanced only after a batch commits.
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

struct Worker {
    store: Arc<dyn Store>,
    config: SequencerConfig,
    state: State,
    rx: mpsc::Receiver<Job>,
    queued: Arc<AtomicUsize>,
    head_tx: watch::Sender<TreeHead>,
    metrics: Arc<Metrics>,
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn agent_stream(agent: &str) -> String {
    format!("a:{agent}")
}

fn session_stream(session: &str) -> String {
    format!("s:{session}")
}

fn instance_key(e: &PreparedEvent) -> String {
    // NUL cannot occur in validated ids, so the key is unambiguous.
    format!("{}\u{0}{}", e.agent, e.instance.as_deref().unwrap_or(""))
}

impl Worker {
    fn run(mut self) {
        while let Ok(first) = self.rx.recv() {
            let mut jobs = vec![first];
            let mut count = jobs[0].count;
            let deadline = Instant::now() + self.config.linger;
            while count < self.config.batch_max {
                let next = match self.rx.try_recv() {
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
                };
                match next {
                    Some(j) => {
                        count += j.count;
                        jobs.push(j);
                    }
                    None => break,
                }
            }
            let started = Instant::now();
            let result = self.seal(&mut jobs);
            self.queued.fetch_sub(count, Ordering::AcqRel);
            match result {
                Ok(outcomes) => {
                    self.metrics.observe_batch(count, started.elapsed());
                    let mut it = outcomes.into_iter();
                    for job in jobs {
                        let mine: Vec<SealOutcome> = it.by_ref().take(job.count).collect();
                        let _ = job.reply.send(Ok(mine));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, events = count, "batch not written; answering 503");
                    self.metrics.batch_failures.fetch_add(1, Ordering::Relaxed);
                    let err = match e {
                        StoreError::Full(_) => SubmitError::StorageFull,
                        other => SubmitError::Storage(other.to_string()),
                    };
                    for job in jobs {
                        let _ = job.reply.send(Err(err.clone()));
                    }
                    // The store kept nothing of the batch; start again from
                    // what it did commit.
                    match State::load(self.store.as_ref()) {
                        Ok(s) => self.state = s,
                        Err(e) => tracing::error!(error = %e, "cannot reload the log head"),
                    }
                }
            }
        }
    }

    /// Seals one batch: decides everything, writes it, then advances state.
    fn seal(&mut self, jobs: &mut [Job]) -> Result<Vec<SealOutcome>, StoreError> {
        let events: Vec<PreparedEvent> = jobs
            .iter_mut()
            .flat_map(|j| std::mem::take(&mut j.events))
            .collect();

        // Idempotency: ids sealed earlier, and repeats inside this batch.
        let ids: Vec<&str> = events.iter().filter_map(|p| p.id.as_deref()).collect();
        let mut known: HashMap<String, Receipt> = if ids.is_empty() {
            HashMap::new()
        } else {
            self.store.find_event_ids(&ids)?.into_iter().collect()
        };

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
            let agent_link = self.next_link(&mut streams, agent_stream(&p.agent), index);
            let session_link = p
                .session
                .as_deref()
                .map(|s| self.next_link(&mut streams, session_stream(s), index));
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

        if !entries.is_empty() {
            let head = LogHead {
                size,
                root: frontier.root(),
                frontier: frontier.nodes().to_vec(),
                last_time,
                last_leaf,
            };
            let batch = Batch {
                expected_size: self.state.head.size,
                entries,
                nodes,
                streams: streams.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                seqs: seqs.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                head: head.clone(),
            };
            let write_started = Instant::now();
            self.store.append_batch(&batch)?;
            self.metrics.observe_commit(write_started.elapsed());
            // Durable: now the in-memory view may move.
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
            self.metrics.tree_size.store(size, Ordering::Relaxed);
            let _ = self.head_tx.send(self.state.tree_head());
            // Free the batch's buffers off the critical path of the next one.
            std::thread::spawn(move || drop(batch));
        }
        outcomes
            .into_iter()
            .enumerate()
            .map(|(i, o)| {
                o.ok_or_else(|| {
                    StoreError::Corrupt(format!("event {i} of the batch has no outcome"))
                })
            })
            .collect()
    }

    /// Loads the stream heads and last seqs this batch needs into the cache.
    fn load_streams(&mut self, events: &[PreparedEvent]) -> Result<(), StoreError> {
        let mut keys: Vec<String> = Vec::new();
        let mut inst: Vec<String> = Vec::new();
        for p in events {
            let a = agent_stream(&p.agent);
            if !self.state.streams.contains_key(&a) {
                keys.push(a);
            }
            if let Some(s) = &p.session {
                let s = session_stream(s);
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
