//! Coordination: the writer lock (nothing to take turns with: one node
//! owns an embedded store) and leases (table `leases`).

use rusqlite::params;

use crate::column::to_i64;
use crate::{Coordination, LogLock, StoreError};

use super::SqliteStore;

impl Coordination for SqliteStore {
    /// One node owns an embedded store: nothing to take turns with.
    fn lock_log(&self) -> Result<LogLock<'_>, StoreError> {
        Ok(LogLock::uncontended())
    }

    fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: u64,
        ttl: u64,
    ) -> Result<bool, StoreError> {
        let changed = self.write_one(
            "take a lease (table leases)",
            "INSERT INTO leases (name, holder, expires) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
             WHERE leases.holder = excluded.holder OR leases.expires < ?4",
            params![
                name,
                holder,
                to_i64(now.saturating_add(ttl), "leases.expires")?,
                to_i64(now, "leases.expires")?
            ],
        )?;
        Ok(changed > 0)
    }
}
