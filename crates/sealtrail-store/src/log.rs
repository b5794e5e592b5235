//! The log itself: its head, the append path, and reads of entries, tree
//! nodes, stream heads and event ids.

use sealtrail_core::hash::Hash;

use crate::{Batch, LogHead, Receipt, StoreError, StoredEntry, StreamHead};

/// The sequenced entries and what the sequencer keeps beside them. Writes
/// come from one sequencer at a time; reads may come from any thread.
///
/// Durability contract: [`LogStore::append_batch`] returns only once the
/// whole batch is durable (fsync'd); a crash at any instant leaves either
/// the whole batch or none of it.
pub trait LogStore: Send + Sync {
    /// The committed state of the log.
    fn head(&self) -> Result<LogHead, StoreError>;

    /// Durably appends one sequenced batch and moves the head, atomically.
    /// Fails with [`StoreError::Conflict`] if `batch.expected_size` is not the
    /// committed size (another writer moved the log).
    fn append_batch(&self, batch: &Batch) -> Result<(), StoreError>;

    /// Receipts of already sealed events, by event id.
    fn find_event_ids(&self, ids: &[&str]) -> Result<Vec<(String, Receipt)>, StoreError>;

    /// Event ids of the entries in `[start, end)` that have one.
    fn event_ids(&self, start: u64, end: u64) -> Result<Vec<String>, StoreError>;

    /// Current heads of the given streams (absent streams are omitted).
    fn stream_heads(&self, keys: &[&str]) -> Result<Vec<(String, StreamHead)>, StoreError>;

    /// Last `seq` seen for the given agent instances (absent ones omitted).
    fn last_seqs(&self, keys: &[&str]) -> Result<Vec<(String, u64)>, StoreError>;

    /// The committed log size and every stream head (sorted by key), read
    /// in one read transaction so that they are consistent with each other.
    fn all_stream_heads(&self) -> Result<(u64, Vec<(String, StreamHead)>), StoreError>;

    /// `(index, agent, session)` of each entry of `[start, end)`, in index
    /// order, from the query columns (no header reads).
    #[allow(clippy::type_complexity)]
    fn stream_members(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<(u64, String, Option<String>)>, StoreError>;

    /// One entry with its body, if the index is sealed.
    fn entry(&self, index: u64) -> Result<Option<StoredEntry>, StoreError>;

    /// Entries of `[start, end)` with their bodies, in index order (a scan
    /// for verification; missing indexes are simply absent).
    fn entries(&self, start: u64, end: u64) -> Result<Vec<StoredEntry>, StoreError>;

    /// Entry bytes (headers) of `[start, end)`.
    fn entry_headers(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError>;

    /// Leaf hashes of `[start, end)`.
    fn leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<Hash>, StoreError>;

    /// Stored tile-level node hashes (`level` a multiple of 8, ≥ 8) of `[start, end)`.
    fn nodes(&self, level: u8, start: u64, end: u64) -> Result<Vec<Hash>, StoreError>;
}
