//! sealtrail storage: the [`Store`] trait the server writes and reads through,
//! and its two backends: the embedded default ([`sqlite::SqliteStore`]: SQLite
//! for the index and tree state, append-only segment files for headers and
//! bodies) and [`postgres::PgStore`] for several server nodes on one database.
//!
//! Durability contract: [`Store::append_batch`] returns only once the whole
//! batch is durable (fsync'd); a crash at any instant leaves either the whole
//! batch or none of it.

pub mod copy;
pub mod fsck;
pub mod pg_tls;
pub mod postgres;
pub mod postings;
pub mod query;
pub mod segment;
pub mod sqlite;
mod types;

pub use query::{EventQuery, QueryEvent, QueryPage, StatsGroup, StatsQuery, StatsRow};
pub use sealtrail_core::filter::EventFilter;
pub use types::*;

use sealtrail_core::hash::Hash;

/// The storage a log lives in. Writes come from one sequencer at a time;
/// reads may come from any thread.
pub trait Store: Send + Sync + 'static {
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

    /// One page of the entries matching `q` (see [`query`]); every filter
    /// is answered from an index.
    fn query(&self, q: &EventQuery) -> Result<QueryPage, StoreError>;

    /// Entry counts grouped as `q` asks, from the counts kept at ingest.
    fn stats(&self, q: &StatsQuery) -> Result<Vec<StatsRow>, StoreError>;

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

    /// Stores a signed checkpoint. Storing the same size twice is refused.
    fn put_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), StoreError>;

    /// The checkpoint with the largest size.
    fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// The checkpoint of exactly this size.
    fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// Every stored checkpoint, in size order.
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError>;

    /// Stores an API key record (by the SHA-256 of the key).
    fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;

    /// Looks an API key up by the SHA-256 of the key.
    fn api_key(&self, key_hash: &Hash) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// Takes the log's writer lock, held until [`Store::unlock_log`]. Nodes
    /// sharing a database take turns: the holder reads the head, seals a
    /// batch on it and writes it, so nobody seals on a head that moves under
    /// them. Blocks while another node holds it.
    fn lock_log(&self) -> Result<(), StoreError>;

    /// Releases [`Store::lock_log`].
    fn unlock_log(&self);

    /// Stores (or replaces) an access-control record: API keys, agents,
    /// projects. The server owns the record's format (JSON); the store only
    /// keeps it durable, keyed by `(kind, id)`.
    fn put_access(&self, kind: &str, id: &str, record: &[u8]) -> Result<(), StoreError>;

    /// Compare-and-set of an access-control record: writes `record` only
    /// if the stored record is still exactly `expected` (`None`: only if
    /// there is none yet), atomically. `Ok(false)` when it was something
    /// else, and nothing was written: another writer (another node) changed
    /// it since it was read, so read it again and redo the change.
    fn put_access_if(
        &self,
        kind: &str,
        id: &str,
        expected: Option<&[u8]>,
        record: &[u8],
    ) -> Result<bool, StoreError>;

    /// One access-control record.
    fn access(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Every access-control record of `kind`, by id.
    fn access_all(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;

    /// Every API key record (hashes only), oldest first.
    fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Takes or renews the named lease for `holder` until `now + ttl`
    /// (microseconds since the epoch). True if `holder` holds it afterwards:
    /// it was free, expired, or already `holder`'s. Several server nodes on
    /// one database use this so that only one of them signs checkpoints.
    fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: u64,
        ttl: u64,
    ) -> Result<bool, StoreError>;
}
