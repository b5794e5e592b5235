//! Signed checkpoints as stored.

use crate::{StoreError, StoredCheckpoint};

/// The log's signed checkpoints, by size.
pub trait CheckpointStore: Send + Sync {
    /// Stores a signed checkpoint. Storing the same size twice is refused.
    fn put_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), StoreError>;

    /// The checkpoint with the largest size.
    fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// The checkpoint of exactly this size.
    fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// Every stored checkpoint, in size order.
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError>;

    /// At most `limit` checkpoints smaller than `before` (all sizes when
    /// `None`), largest first: a page of the history, newest first.
    fn checkpoints_before(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredCheckpoint>, StoreError>;
}
