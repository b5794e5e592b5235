//! The embedded store: SQLite (WAL, `synchronous=FULL`) in one data
//! directory, with bodies in append-only segment files beside it.
//!
//! One writer connection (the sequencer's) and a small pool of read-only
//! connections; WAL lets readers run while a batch commits.

mod access;
mod checkpoints;
mod coordination;
mod query;
mod read;
mod schema;
mod wal;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::column::to_u64;
use crate::segment::{SegmentReader, SegmentWriter};
use crate::StoreError;

pub use schema::SCHEMA_VERSION;
use wal::WalCheckpointer;

/// Most read connections kept open.
const READ_POOL: usize = 8;

/// The embedded store in a directory: `log.db` and `segments/`.
pub struct SqliteStore {
    /// Stops the WAL checkpoint thread when the store is dropped.
    _wal: WalCheckpointer,
    db_path: PathBuf,
    writer: Mutex<Writer>,
    readers: Mutex<Vec<Connection>>,
    bodies: SegmentReader,
}

struct Writer {
    conn: Connection,
    segments: SegmentWriter,
    buf: Vec<u8>,
    /// Session numbers already in the sessions table, by name.
    sids: crate::FastMap<String, u64>,
}

/// A SQLite error, sorted by what the caller should do about it; the
/// operation it happened in is named by [`StoreError::during`] where the
/// operation is known (`read`, `write_one`, `open`, `append_batch`).
fn sql_err(e: rusqlite::Error) -> StoreError {
    let code = match &e {
        rusqlite::Error::SqliteFailure(f, _) => {
            match f.code {
                ErrorCode::DiskFull => return StoreError::Full(e.to_string()),
                ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => {
                    return StoreError::Corrupt(e.to_string())
                }
                ErrorCode::ConstraintViolation => return StoreError::Duplicate(e.to_string()),
                _ => {}
            }
            Some(format!("SQLite {:?} ({})", f.code, f.extended_code))
        }
        _ => None,
    };
    StoreError::Database {
        what: String::new(),
        message: e.to_string(),
        code,
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::io(format!("create directory {}", dir.display()), e))?;
        let db_path = dir.join("log.db");
        Self::open_in(dir, &db_path)
            .map_err(|e| e.during(|| format!("cannot open {}", db_path.display())))
    }

    fn open_in(dir: &Path, db_path: &Path) -> Result<Self, StoreError> {
        let db_path = db_path.to_path_buf();
        let conn = Connection::open(&db_path).map_err(sql_err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             PRAGMA cache_size=-65536;
             PRAGMA temp_store=MEMORY;
             PRAGMA wal_autocheckpoint=0;",
        )
        .map_err(sql_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql_err)?;
        let seg_dir = dir.join("segments");
        let bodies = SegmentReader::new(&seg_dir);
        Self::migrate(&conn, &bodies)?;
        let (segment, segment_len): (u32, u64) = conn
            .query_row(
                "SELECT segment, segment_len FROM head WHERE id = 1",
                [],
                |r| Ok((r.get::<_, u32>(0)?, r.get::<_, i64>(1)?)),
            )
            .map_err(sql_err)
            .and_then(|(s, l)| Ok((s, to_u64(l, "head.segment_len")?)))?;
        let segments = SegmentWriter::open(&seg_dir, segment, segment_len)?;
        let wal = WalCheckpointer::start(&db_path)?;
        Ok(SqliteStore {
            _wal: wal,
            db_path,
            writer: Mutex::new(Writer {
                conn,
                segments,
                buf: Vec::new(),
                sids: crate::FastMap::default(),
            }),
            readers: Mutex::new(Vec::new()),
            bodies,
        })
    }

    /// One statement on the writer connection (small writes outside
    /// batches); `what` names it in errors ("store a checkpoint").
    fn write_one(
        &self,
        what: &str,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<usize, StoreError> {
        let w = self.writer.lock().map_err(|_| self.poisoned("writer"))?;
        w.conn
            .execute(sql, params)
            .map_err(sql_err)
            .map_err(|e| e.during(|| format!("cannot {what} in {}", self.db_path.display())))
    }

    fn poisoned(&self, which: &str) -> StoreError {
        StoreError::Unavailable(format!(
            "the {which} of {} failed earlier (lock poisoned); restart the server",
            self.db_path.display()
        ))
    }

    /// Runs `f` with a pooled read-only connection; `what` names the read
    /// in errors ("read the checkpoints").
    fn read<T>(
        &self,
        what: &str,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.read_on(f)
            .map_err(|e| e.during(|| format!("cannot {what} in {}", self.db_path.display())))
    }

    fn read_on<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self
            .readers
            .lock()
            .map_err(|_| self.poisoned("reader pool"))?
            .pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.db_path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(sql_err)?;
                c.busy_timeout(std::time::Duration::from_secs(5))
                    .map_err(sql_err)?;
                c
            }
        };
        let out = f(&conn);
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < READ_POOL {
                pool.push(conn);
            }
        }
        out
    }
}
