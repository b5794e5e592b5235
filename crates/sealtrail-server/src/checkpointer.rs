//! The checkpointer: signs a C2SP checkpoint whenever the tree has grown,
//! every `interval`, and never signs two inconsistent checkpoints. Before
//! signing it re-derives the root from the stored tiles and proves
//! consistency with the last checkpoint it signed (also across restarts).
//!
//! Every checkpoint also commits to the head of every agent and session
//! stream at its size (`sealtrail-stream-heads/v1`, docs/formats.md §8): the
//! checkpointer keeps those heads in memory, advancing them from the store's
//! entry columns as the log grows, and publishes a snapshot with each
//! checkpoint so that exports can prove a stream's head.
//!
//! Checkpoints are signed by every key the log's [`KeyRing`] holds at that
//! moment (the primary, and a previous key during a rotation's overlap);
//! before each checkpoint the ring is refreshed from disk, so a key rotated
//! offline (`sealtrail signing-key rotate`) signs the next checkpoint.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sealtrail_core::checkpoint::{Checkpoint, SignedCheckpoint};
use sealtrail_core::hash::Hash;
use sealtrail_core::heads::{self, StreamHeads};
use sealtrail_core::note::NoteVerifier;
use sealtrail_core::proof::{prove_consistency, tree_root, verify_consistency};
use sealtrail_core::tile::TileNodeSource;
use sealtrail_keys::KeyRing;
use sealtrail_store::{Store, StoredCheckpoint};
use tokio::sync::{watch, Notify};

use crate::clock::now_micros;
use crate::metrics::Metrics;
use crate::sequencer::{HeadPublisher, TreeHead};
use crate::tiles::StoreTiles;

/// The latest signed checkpoint, published to waiters.
#[derive(Debug, Clone)]
pub struct Signed {
    pub checkpoint: Checkpoint,
    pub note: Arc<Vec<u8>>,
    /// The stream heads at exactly this checkpoint's size, when this process
    /// has them (not for a checkpoint signed before it started, nor for one
    /// without the stream-heads line).
    pub heads: Option<Arc<StreamHeads>>,
}

pub struct Checkpointer {
    pub store: Arc<dyn Store>,
    pub tiles: Arc<StoreTiles>,
    /// The log's signing keys.
    pub keys: Arc<KeyRing>,
    pub origin: String,
    pub interval: Duration,
    pub metrics: Arc<Metrics>,
    /// Set when several nodes share the store: only the holder of the
    /// `checkpointer` lease signs; every node follows the store's head and
    /// latest checkpoint, whoever wrote them.
    pub shared: Option<SharedMode>,
    /// Stream heads as of some size, loaded on first use.
    pub heads: Mutex<Option<HeadsTracker>>,
}

/// The stream heads at `size`; only ever moves forward.
pub struct HeadsTracker {
    size: u64,
    heads: StreamHeads,
}

/// Entries read per step while advancing the stream heads.
const HEADS_CHUNK: u64 = 50_000;

/// How a node takes part in a log shared with other nodes.
#[derive(Clone)]
pub struct SharedMode {
    /// This node's name in the lease table.
    pub node: String,
    pub publisher: HeadPublisher,
}

/// The lease is held for this many checkpoint intervals (at least 5 s).
const LEASE_INTERVALS: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("refusing to sign: {0}")]
    Inconsistent(String),
    #[error(transparent)]
    Store(#[from] sealtrail_store::StoreError),
    #[error("checkpoint: {0}")]
    Format(String),
    #[error("checkpoint not signed: {0}")]
    Signing(String),
}

impl Checkpointer {
    /// Loads the last stored checkpoint, if any, checking its signature with
    /// every key the log has had (it may predate a rotation).
    pub fn load_latest(&self) -> Result<Option<Signed>, CheckpointError> {
        let Some(stored) = self.store.latest_checkpoint()? else {
            return Ok(None);
        };
        let verifiers = self.keys.verifiers();
        let trusted: Vec<&dyn NoteVerifier> =
            verifiers.iter().map(|v| v as &dyn NoteVerifier).collect();
        let opened = SignedCheckpoint::open(&stored.note, &trusted).map_err(|e| {
            CheckpointError::Format(format!("stored checkpoint at size {}: {e}", stored.size))
        })?;
        Ok(Some(Signed {
            checkpoint: opened.checkpoint,
            note: Arc::new(stored.note),
            heads: None,
        }))
    }

    /// The stream heads at `size` and their root, or `None` if the heads
    /// this process holds are already past `size` (they never go back).
    pub fn heads_at(&self, size: u64) -> Result<Option<(Hash, Arc<StreamHeads>)>, CheckpointError> {
        let mut guard = self
            .heads
            .lock()
            .map_err(|_| CheckpointError::Format("stream heads lock poisoned".into()))?;
        let tracker = match guard.as_mut() {
            Some(t) => t,
            None => {
                let (at, all) = self.store.all_stream_heads()?;
                let mut heads = StreamHeads::new();
                for (key, h) in all {
                    heads.set(
                        &key,
                        heads::StreamHead {
                            n: h.count,
                            last: h.last,
                        },
                    );
                }
                guard.insert(HeadsTracker { size: at, heads })
            }
        };
        if tracker.size > size {
            return Ok(None);
        }
        while tracker.size < size {
            let end = size.min(tracker.size + HEADS_CHUNK);
            let members = self.store.stream_members(tracker.size, end)?;
            let mut expected = tracker.size;
            for (index, agent, session) in members {
                if index != expected {
                    return Err(CheckpointError::Inconsistent(format!(
                        "entry {expected} is missing from the store's entry columns"
                    )));
                }
                tracker.heads.advance(&heads::agent_key(&agent), index);
                if let Some(s) = session {
                    tracker.heads.advance(&heads::session_key(&s), index);
                }
                expected += 1;
            }
            if expected != end {
                return Err(CheckpointError::Inconsistent(format!(
                    "entry {expected} is missing from the store's entry columns"
                )));
            }
            tracker.size = end;
        }
        let root = tracker.heads.root();
        Ok(Some((root, Arc::new(tracker.heads.clone()))))
    }

    /// Attaches the heads snapshot to a checkpoint someone signed, if this
    /// process can compute the heads at its size and they match its line.
    fn attach_heads(&self, signed: &mut Signed) -> Result<(), CheckpointError> {
        let Ok(claimed) = heads::root_from_extensions(&signed.checkpoint.extensions) else {
            return Ok(());
        };
        if let Some((root, snapshot)) = self.heads_at(signed.checkpoint.size)? {
            if root != claimed {
                return Err(CheckpointError::Inconsistent(format!(
                    "checkpoint at size {} commits to stream-heads root {claimed}, the entries give {root}",
                    signed.checkpoint.size
                )));
            }
            signed.heads = Some(snapshot);
        }
        Ok(())
    }

    /// Signs a checkpoint for `head` if it extends `last` consistently.
    pub fn sign(&self, head: TreeHead, last: Option<&Signed>) -> Result<Signed, CheckpointError> {
        let (head, (heads_root, heads)) = match self.heads_at(head.size)? {
            Some(h) => (head, h),
            None => {
                // The heads were loaded from a store that had moved past the
                // published head: sign the store's head instead.
                let stored = self.store.head()?;
                let head = TreeHead {
                    size: stored.size,
                    root: stored.root,
                };
                let h = self.heads_at(head.size)?.ok_or_else(|| {
                    CheckpointError::Inconsistent("stream heads are past the store's head".into())
                })?;
                (head, h)
            }
        };
        if last.is_some_and(|l| head.size <= l.checkpoint.size) {
            return Err(CheckpointError::Inconsistent(format!(
                "size {} is not past the last checkpoint",
                head.size
            )));
        }
        let src = TileNodeSource::new(head.size, self.tiles.as_ref());
        let root = tree_root(&src, head.size).map_err(|e| {
            CheckpointError::Inconsistent(format!(
                "cannot recompute the root at size {}: {e}",
                head.size
            ))
        })?;
        if root != head.root {
            return Err(CheckpointError::Inconsistent(format!(
                "stored tiles give root {root} at size {} but the sequencer committed {}",
                head.size, head.root
            )));
        }
        if let Some(last) = last {
            let from = &last.checkpoint;
            let proof = prove_consistency(&src, from.size, head.size).map_err(|e| {
                CheckpointError::Inconsistent(format!(
                    "no consistency proof from {} to {}: {e}",
                    from.size, head.size
                ))
            })?;
            verify_consistency(from.size, head.size, &from.root, &root, &proof).map_err(|e| {
                CheckpointError::Inconsistent(format!(
                    "tree at size {} is not an extension of the signed checkpoint at size {}: {e}",
                    head.size, from.size
                ))
            })?;
        }
        let cp = Checkpoint {
            origin: self.origin.clone(),
            size: head.size,
            root,
            extensions: vec![heads::extension_line(&heads_root)],
        };
        let now = now_micros();
        if let Err(e) = self.keys.refresh(now) {
            tracing::warn!(error = %format!("{e:#}"), "cannot reload the signing keys; signing with the keys loaded before");
        }
        let signed = self
            .keys
            .sign_checkpoint(cp, now)
            .map_err(|e| CheckpointError::Signing(e.to_string()))?;
        let note = signed.to_bytes();
        self.store.put_checkpoint(&StoredCheckpoint {
            size: head.size,
            note: note.clone(),
            time: now_micros(),
        })?;
        self.metrics
            .checkpoints_signed
            .fetch_add(1, Ordering::Relaxed);
        Ok(Signed {
            checkpoint: signed.checkpoint,
            note: Arc::new(note),
            heads: Some(heads),
        })
    }

    /// Runs until `shutdown` fires: signs on every tick where the tree grew,
    /// or at once when `nudge` is notified (a client waits for a checkpoint).
    pub async fn run(
        self,
        mut heads: watch::Receiver<TreeHead>,
        published: watch::Sender<Option<Signed>>,
        nudge: Arc<Notify>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let this = Arc::new(self);
        let mut last = published.borrow().clone();
        let mut ticker = tokio::time::interval(this.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = nudge.notified() => {}
                _ = shutdown.changed() => {
                    // One last checkpoint so everything acknowledged is covered.
                    let head = *heads.borrow_and_update();
                    this.maybe_sign(head, &mut last, &published).await;
                    return;
                }
            }
            let head = *heads.borrow_and_update();
            this.maybe_sign(head, &mut last, &published).await;
        }
    }

    /// With a shared store: the head and checkpoint as the store has them
    /// (other nodes write too), and whether this node holds the signer lease.
    fn follow(
        &self,
        mode: &SharedMode,
        last: &mut Option<Signed>,
    ) -> Result<(TreeHead, bool), CheckpointError> {
        let head = self.store.head()?;
        let head = TreeHead {
            size: head.size,
            root: head.root,
        };
        mode.publisher.publish(head);
        if let Some(mut latest) = self.load_latest()? {
            if last
                .as_ref()
                .is_none_or(|l| latest.checkpoint.size > l.checkpoint.size)
            {
                // Another node signed it: check its stream-heads line too.
                if let Err(e) = self.attach_heads(&mut latest) {
                    tracing::error!(error = %e, "a checkpoint in the shared log does not match its entries");
                }
                *last = Some(latest);
            }
        }
        let now = now_micros();
        let ttl = (self.interval * LEASE_INTERVALS).max(Duration::from_secs(5));
        let held =
            self.store
                .acquire_lease("checkpointer", &mode.node, now, ttl.as_micros() as u64)?;
        Ok((head, held))
    }

    async fn maybe_sign(
        self: &Arc<Self>,
        head: TreeHead,
        last: &mut Option<Signed>,
        published: &watch::Sender<Option<Signed>>,
    ) {
        let (head, may_sign) = match &self.shared {
            None => (head, true),
            Some(mode) => {
                let this = self.clone();
                let mode = mode.clone();
                let mut seen = last.clone();
                let followed = tokio::task::spawn_blocking(move || {
                    this.follow(&mode, &mut seen).map(|r| (r, seen))
                })
                .await;
                match followed {
                    Ok(Ok(((head, held), seen))) => {
                        if seen.as_ref().map(|s| s.checkpoint.size)
                            != last.as_ref().map(|l| l.checkpoint.size)
                        {
                            *last = seen.clone();
                            let _ = published.send(seen);
                        }
                        (head, held)
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "cannot follow the shared log");
                        return;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "follow task failed");
                        return;
                    }
                }
            }
        };
        if !may_sign {
            return;
        }
        let grew = last
            .as_ref()
            .map_or(head.size > 0, |l| head.size > l.checkpoint.size);
        if !grew {
            // After a restart the last checkpoint has no heads snapshot yet;
            // exports need one, so attach it when the heads are at its size.
            if let Some(l) = last.as_mut().filter(|l| l.heads.is_none()) {
                let this = self.clone();
                let mut candidate = l.clone();
                let done = tokio::task::spawn_blocking(move || {
                    this.attach_heads(&mut candidate).map(|()| candidate)
                })
                .await;
                match done {
                    Ok(Ok(c)) if c.heads.is_some() => {
                        *l = c;
                        let _ = published.send(Some(l.clone()));
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "stream heads do not match the last checkpoint")
                    }
                    Err(e) => tracing::error!(error = %e, "stream heads task failed"),
                }
            }
            return;
        }
        let this = self.clone();
        let prev = last.clone();
        let result = tokio::task::spawn_blocking(move || this.sign(head, prev.as_ref())).await;
        match result {
            Ok(Ok(signed)) => {
                tracing::debug!(size = signed.checkpoint.size, "checkpoint signed");
                *last = Some(signed.clone());
                let _ = published.send(Some(signed));
            }
            Ok(Err(e)) => tracing::error!(error = %e, "checkpoint not signed"),
            Err(e) => tracing::error!(error = %e, "checkpoint task failed"),
        }
    }
}
