//! Coordination: the log's writer lock (a session-level advisory lock held
//! on a connection of its own, outside the pool) and leases (table
//! `leases`).

use crate::column::to_i64;
use crate::{Coordination, LogLock, StoreError};

use super::error::pg_err;
use super::PgStore;

/// Closes the log-lock session off any async runtime thread, like the pool.
impl Drop for PgStore {
    fn drop(&mut self) {
        let conn = match self.log_lock.get_mut() {
            Ok(c) => c.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(conn) = conn {
            if let Ok(t) = std::thread::Builder::new()
                .name("sealtrail-pg-close".into())
                .spawn(move || drop(conn))
            {
                let _ = t.join();
            }
        }
    }
}

impl Coordination for PgStore {
    fn lock_log(&self) -> Result<LogLock<'_>, StoreError> {
        let mut slot = self.log_lock.lock().map_err(|_| {
            StoreError::Unavailable(format!(
                "the writer lock session of {} failed earlier (lock poisoned); restart the server",
                self.place
            ))
        })?;
        if slot.is_none() {
            *slot = Some(self.pool.connect()?);
        }
        let Some(conn) = slot.as_mut() else {
            return Err(StoreError::Unavailable(format!(
                "no session for the writer lock of {}",
                self.place
            )));
        };
        match conn
            .client
            .execute("SELECT pg_advisory_lock($1)", &[&self.lock_key])
        {
            Ok(_) => Ok(LogLock::held(move || self.unlock_log())),
            Err(e) => {
                // A dead session holds no lock; the next call opens a new one.
                *slot = None;
                Err(pg_err(&e)
                    .during(|| format!("cannot take the log's writer lock in {}", self.place)))
            }
        }
    }

    fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: u64,
        ttl: u64,
    ) -> Result<bool, StoreError> {
        let expires = to_i64(now.saturating_add(ttl), "leases.expires")?;
        let now = to_i64(now, "leases.expires")?;
        // Repeatable: renewing a lease one holds gives the same answer.
        self.run("take a lease (table leases)", |c| {
            let stmt = c.stmt(
                "INSERT INTO leases (name, holder, expires) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
                 WHERE leases.holder = excluded.holder OR leases.expires < $4",
            )?;
            Ok(c.client.execute(&stmt, &[&name, &holder, &expires, &now])? > 0)
        })
    }
}

impl PgStore {
    /// Gives the log's writer lock back (the drop of [`LogLock`]).
    fn unlock_log(&self) {
        if let Ok(mut slot) = self.log_lock.lock() {
            let failed = slot.as_mut().is_some_and(|conn| {
                conn.client
                    .execute("SELECT pg_advisory_unlock($1)", &[&self.lock_key])
                    .is_err()
            });
            if failed {
                // Its session is gone, and with it the lock.
                *slot = None;
            }
        }
    }
}

/// The advisory lock key of the log in `schema`: the first 8 bytes of a
/// SHA-256 of its name, the same on every node.
pub(super) fn log_lock_key(schema: &str) -> i64 {
    let h = sealtrail_core::hash::sha256(format!("sealtrail log {schema}").as_bytes());
    i64::from_be_bytes([
        h.0[0], h.0[1], h.0[2], h.0[3], h.0[4], h.0[5], h.0[6], h.0[7],
    ])
}
