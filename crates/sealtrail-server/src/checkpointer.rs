//! The checkpointer: signs a C2SP checkpoint whenever the tree has grown,
//! every `interval`, and never signs two inconsistent checkpoints. Before
//! signing it re-derives the root from the stored tiles and proves
//! consistency with the last checkpoint it signed (also across restarts).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sealtrail_core::checkpoint::{Checkpoint, SignedCheckpoint};
use sealtrail_core::note::{Ed25519Signer, NoteSigner};
use sealtrail_core::proof::{prove_consistency, tree_root, verify_consistency};
use sealtrail_core::tile::TileNodeSource;
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
}

pub struct Checkpointer {
    pub store: Arc<dyn Store>,
    pub tiles: Arc<StoreTiles>,
    pub signer: Arc<Ed25519Signer>,
    pub origin: String,
    pub interval: Duration,
    pub metrics: Arc<Metrics>,
    /// Set when several nodes share the store: only the holder of the
    /// `checkpointer` lease signs; every node follows the store's head and
    /// latest checkpoint, whoever wrote them.
    pub shared: Option<SharedMode>,
}

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
}

impl Checkpointer {
    /// Loads the last stored checkpoint, if any, checking its signature.
    pub fn load_latest(&self) -> Result<Option<Signed>, CheckpointError> {
        let Some(stored) = self.store.latest_checkpoint()? else {
            return Ok(None);
        };
        let verifier = self.signer.verifier();
        let opened = SignedCheckpoint::open(&stored.note, &[&verifier]).map_err(|e| {
            CheckpointError::Format(format!("stored checkpoint at size {}: {e}", stored.size))
        })?;
        Ok(Some(Signed {
            checkpoint: opened.checkpoint,
            note: Arc::new(stored.note),
        }))
    }

    /// Signs a checkpoint for `head` if it extends `last` consistently.
    pub fn sign(&self, head: TreeHead, last: Option<&Signed>) -> Result<Signed, CheckpointError> {
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
            extensions: Vec::new(),
        };
        let signed = SignedCheckpoint::sign(cp, &[self.signer.as_ref() as &dyn NoteSigner])
            .map_err(|e| CheckpointError::Format(e.to_string()))?;
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
        if let Some(latest) = self.load_latest()? {
            if last
                .as_ref()
                .is_none_or(|l| latest.checkpoint.size > l.checkpoint.size)
            {
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
