//! The WAL checkpoint thread: copies SQLite's write-ahead log back into the
//! database off the writer's path.

use std::path::Path;

use rusqlite::Connection;

use crate::StoreError;

use super::sql_err;

/// Copies the WAL back into the database from its own thread and
/// connection, so the sequencer's commits never pay for it (automatic
/// checkpoints would run inside the writer's commit).
pub(super) struct WalCheckpointer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How often the WAL is copied back.
const WAL_CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

impl WalCheckpointer {
    pub(super) fn start(db_path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(db_path).map_err(sql_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql_err)?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sealtrail-wal".into())
            .spawn(move || {
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(WAL_CHECKPOINT_EVERY);
                    // PASSIVE never blocks the writer; a busy database just
                    // means trying again next time.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
                let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            })
            .map_err(|e| {
                StoreError::io(
                    format!("start the WAL checkpoint thread of {}", db_path.display()),
                    e,
                )
            })?;
        Ok(WalCheckpointer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for WalCheckpointer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
