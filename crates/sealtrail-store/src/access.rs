//! Access-control records: API keys and the records the server keeps for
//! keys, agents and projects.

use sealtrail_core::hash::Hash;

use crate::{ApiKeyRecord, StoreError};

/// Durable access-control records. The server owns their format; the store
/// keeps them and offers a compare-and-set so nodes sharing a database do
/// not overwrite each other's changes.
pub trait AccessRecords: Send + Sync {
    /// Stores an API key record (by the SHA-256 of the key).
    fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;

    /// Looks an API key up by the SHA-256 of the key.
    fn api_key(&self, key_hash: &Hash) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// Every API key record (hashes only), oldest first.
    fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;

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

    /// Removes one access-control record (records that end, such as
    /// console sessions); `Ok(false)` when there was none. Repeating it is
    /// harmless.
    fn delete_access(&self, kind: &str, id: &str) -> Result<bool, StoreError>;
}
