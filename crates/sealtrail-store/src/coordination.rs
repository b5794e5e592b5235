//! How server nodes sharing one store take turns: the log's writer lock
//! (held as a guard) and named leases.

use crate::StoreError;

/// Coordination between nodes that share a store.
pub trait Coordination: Send + Sync {
    /// Takes the log's writer lock; it is held until the returned guard is
    /// dropped. Nodes sharing a database take turns: the holder reads the
    /// head, seals a batch on it and writes it, so nobody seals on a head
    /// that moves under them. Blocks while another node holds it.
    fn lock_log(&self) -> Result<LogLock<'_>, StoreError>;

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

/// The log's writer lock, released when dropped: no path out of a sealing
/// turn (an early return, an error, a panic) can leave it held.
#[must_use = "the writer lock is released as soon as the guard is dropped"]
pub struct LogLock<'a> {
    /// Gives the lock back; `None` for a store nobody else writes to.
    release: Option<Box<dyn FnOnce() + Send + 'a>>,
}

impl<'a> LogLock<'a> {
    /// A lock with nothing to give back: a store one node owns alone.
    pub fn uncontended() -> LogLock<'a> {
        LogLock { release: None }
    }

    /// A held lock that `release` gives back when the guard is dropped.
    /// Releasing cannot fail in a way the holder could act on (a lost
    /// session holds no lock), so `release` reports nothing.
    pub fn held(release: impl FnOnce() + Send + 'a) -> LogLock<'a> {
        LogLock {
            release: Some(Box::new(release)),
        }
    }
}

impl Drop for LogLock<'_> {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

impl std::fmt::Debug for LogLock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogLock")
            .field("shared", &self.release.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn dropping_the_guard_releases_once() {
        let released = AtomicUsize::new(0);
        {
            let _lock = LogLock::held(|| {
                released.fetch_add(1, Ordering::SeqCst);
            });
            assert_eq!(released.load(Ordering::SeqCst), 0, "held while in scope");
        }
        assert_eq!(released.load(Ordering::SeqCst), 1);
        drop(LogLock::uncontended());
    }
}
