//! The embedded store: SQLite (WAL, `synchronous=FULL`) in one data
//! directory, with bodies in append-only segment files beside it.
//!
//! One writer connection (the sequencer's) and a small pool of read-only
//! connections; WAL lets readers run while a batch commits.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension};
use sealtrail_core::hash::{Hash, HASH_LEN};
use sealtrail_core::header::EntryHeader;

use crate::postings::{self, Chunk, ChunkSource, Field, PostingRow, Source};
use crate::query::SCAN_BUDGET;
use crate::segment::{Record, RecordLocation, SegmentReader, SegmentWriter};
use crate::{
    ApiKeyRecord, Batch, EntryColumns, EventQuery, LogHead, QueryEvent, QueryPage, Receipt,
    StatsGroup, StatsQuery, StatsRow, Store, StoreError, StoredCheckpoint, StoredEntry, StreamHead,
};

/// The schema this code creates and reads. Version 2 added the query
/// indexes, the data class, subject and session tables, and the counts.
pub const SCHEMA_VERSION: u32 = 2;
/// Most read connections kept open.
const READ_POOL: usize = 8;

/// The query index and tables (new in version 2; also what a version 1
/// store gets when migrated): posting lists (see `postings`), the session
/// numbers they use, and the counts.
macro_rules! query_schema {
    () => {
        "
CREATE UNIQUE INDEX IF NOT EXISTS entries_event_id ON entries(event_id) WHERE event_id IS NOT NULL;
-- One row per filterable value per batch: the batch's entries with that value.
CREATE TABLE IF NOT EXISTS postings (
    field INTEGER NOT NULL, value BLOB NOT NULL, last INTEGER NOT NULL,
    first INTEGER NOT NULL, gaps BLOB NOT NULL,
    PRIMARY KEY (field, value, last)
) WITHOUT ROWID;
-- A session's number is the index of its first entry: new sessions get
-- ever larger numbers, so live sessions' posting rows are written together
-- at the end of the tree (a text session key put every live session's
-- insertion point somewhere else in the tree; see docs/decisions.md).
CREATE TABLE IF NOT EXISTS sessions (name TEXT PRIMARY KEY, sid INTEGER NOT NULL) WITHOUT ROWID;
-- Entries per UTC day, agent, kind and outcome ('' for none), moved by each
-- batch in its own transaction: stats never scan the log.
CREATE TABLE IF NOT EXISTS counts (
    day INTEGER NOT NULL, agent TEXT NOT NULL, kind TEXT NOT NULL, outcome TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, agent, kind, outcome)
) WITHOUT ROWID;
"
    };
}

const SCHEMA: &str = concat!("
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    frontier BLOB NOT NULL,
    last_time INTEGER NOT NULL,
    last_leaf BLOB,
    segment INTEGER NOT NULL,
    segment_len INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    idx INTEGER PRIMARY KEY,
    leaf BLOB NOT NULL,
    time INTEGER NOT NULL,
    agent TEXT NOT NULL,
    session TEXT,
    kind TEXT NOT NULL,
    action TEXT,
    tool TEXT,
    outcome TEXT,
    event_id TEXT,
    -- The record (header ‖ salt ‖ body) in the segment files; blen is NULL
    -- once the body is erased.
    seg INTEGER NOT NULL,
    off INTEGER NOT NULL,
    hlen INTEGER NOT NULL,
    blen INTEGER,
    scope TEXT
);
",
    query_schema!(),
    "
CREATE TABLE IF NOT EXISTS nodes (
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS streams (key TEXT PRIMARY KEY, count INTEGER NOT NULL, last INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seqs (key TEXT PRIMARY KEY, last INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note BLOB NOT NULL, time INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS api_keys (
    key_hash BLOB PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, created INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS access (
    kind TEXT NOT NULL, id TEXT NOT NULL, record BLOB NOT NULL, PRIMARY KEY (kind, id)
) WITHOUT ROWID;
"
);

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
    sids: HashMap<String, u64>,
}

/// Session numbers cached by the writer before the cache is dropped (it
/// refills from the sessions table on demand).
const SID_CACHE_LIMIT: usize = 1_000_000;

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

fn hash_from(blob: Vec<u8>, what: &str) -> Result<Hash, StoreError> {
    Hash::from_slice(&blob)
        .ok_or_else(|| StoreError::Corrupt(format!("{what} is {} bytes, not 32", blob.len())))
}

fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v)
        .map_err(|_| StoreError::Invalid(format!("{v} does not fit in a signed 64-bit column")))
}

fn to_u64(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} is negative: {v}")))
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
            .and_then(|(s, l)| Ok((s, to_u64(l, "segment length")?)))?;
        let segments = SegmentWriter::open(&seg_dir, segment, segment_len)?;
        let wal = WalCheckpointer::start(&db_path)?;
        Ok(SqliteStore {
            _wal: wal,
            db_path,
            writer: Mutex::new(Writer {
                conn,
                segments,
                buf: Vec::new(),
                sids: HashMap::new(),
            }),
            readers: Mutex::new(Vec::new()),
            bodies,
        })
    }

    fn migrate(conn: &Connection, bodies: &SegmentReader) -> Result<(), StoreError> {
        let existing: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .or_else(|e| match e {
                // A brand-new database has no meta table yet.
                rusqlite::Error::SqliteFailure(_, Some(ref m)) if m.contains("no such table") => {
                    Ok(None)
                }
                other => Err(other),
            })
            .map_err(sql_err)?;
        let found = match existing {
            Some(v) => Some(
                v.parse::<u32>()
                    .map_err(|_| StoreError::Corrupt(format!("schema_version {v:?}")))?,
            ),
            None => None,
        };
        if let Some(found) = found.filter(|f| *f > SCHEMA_VERSION) {
            return Err(StoreError::SchemaTooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if found == Some(SCHEMA_VERSION) {
            return Ok(());
        }
        // DDL is transactional in SQLite: a migration happens whole or not at all.
        let tx = conn.unchecked_transaction().map_err(sql_err)?;
        if found == Some(1) {
            tx.execute_batch(
                "ALTER TABLE entries ADD COLUMN scope TEXT;
                 DROP INDEX IF EXISTS entries_agent_time;",
            )
            .map_err(sql_err)?;
        }
        tx.execute_batch(SCHEMA).map_err(sql_err)?;
        if found == Some(1) {
            Self::backfill_v2(&tx, bodies)?;
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![SCHEMA_VERSION.to_string()],
        )
        .map_err(sql_err)?;
        tx.execute(
            "INSERT OR IGNORE INTO head (id, size, root, frontier, last_time, last_leaf, segment, segment_len)
             VALUES (1, 0, ?1, x'', 0, NULL, 0, 0)",
            params![Hash::EMPTY_ROOT.0.to_vec()],
        )
        .map_err(sql_err)?;
        tx.commit().map_err(sql_err)
    }

    /// Fills what version 2 added for the entries of a version 1 store:
    /// session numbers and counts from the columns, and the posting lists
    /// from the columns and the headers (scope, data classes and subjects
    /// are only there in version 1), in slices of the size of a batch.
    fn backfill_v2(conn: &Connection, bodies: &SegmentReader) -> Result<(), StoreError> {
        conn.execute_batch(
            "INSERT INTO sessions (name, sid)
                 SELECT session, min(idx) FROM entries WHERE session IS NOT NULL GROUP BY session;
             INSERT INTO counts (day, agent, kind, outcome, n)
                 SELECT time / 86400000000, agent, kind, coalesce(outcome, ''), count(*)
                 FROM entries GROUP BY 1, 2, 3, 4;",
        )
        .map_err(sql_err)?;
        let mut rows = conn
            .prepare(
                "SELECT e.idx, e.agent, e.session, e.kind, e.action, e.tool, e.outcome,
                        e.seg, e.off, e.hlen, s.sid
                 FROM entries e LEFT JOIN sessions s ON s.name = e.session ORDER BY e.idx",
            )
            .map_err(sql_err)?;
        let mut scope = conn
            .prepare("UPDATE entries SET scope = ?2 WHERE idx = ?1")
            .map_err(sql_err)?;
        let mut it = rows.query([]).map_err(sql_err)?;
        let mut slice: Vec<(u64, EntryColumns, Option<u64>)> = Vec::new();
        let flush = |slice: &mut Vec<(u64, EntryColumns, Option<u64>)>| {
            let rows = postings::build(slice.iter().map(|(index, columns, sid)| Source {
                index: *index,
                columns,
                sid: *sid,
            }));
            slice.clear();
            Self::insert_postings(conn, &rows)
        };
        while let Some(r) = it.next().map_err(sql_err)? {
            let index = to_u64(r.get(0).map_err(sql_err)?, "index")?;
            let mut columns = EntryColumns {
                agent: r.get(1).map_err(sql_err)?,
                session: r.get(2).map_err(sql_err)?,
                kind: r.get(3).map_err(sql_err)?,
                action: r.get(4).map_err(sql_err)?,
                tool: r.get(5).map_err(sql_err)?,
                outcome: r.get(6).map_err(sql_err)?,
                ..EntryColumns::default()
            };
            let header = bodies.read_header(RecordLocation {
                segment: r.get(7).map_err(sql_err)?,
                offset: to_u64(r.get(8).map_err(sql_err)?, "record offset")?,
                header_len: r.get(9).map_err(sql_err)?,
                body_len: None,
            })?;
            let sid = r
                .get::<_, Option<i64>>(10)
                .map_err(sql_err)?
                .map(|s| to_u64(s, "session number"))
                .transpose()?;
            // A header that does not parse was altered (fsck names it): its
            // entry is indexed by its columns only rather than failing the open.
            if let Ok(h) = EntryHeader::parse(&header) {
                if h.scope.is_some() {
                    scope
                        .execute(params![to_i64(index)?, h.scope])
                        .map_err(sql_err)?;
                }
                columns.scope = h.scope;
                columns.data_classes = h.data_classes;
                columns.subjects = h.subjects;
            }
            slice.push((index, columns, sid));
            if slice.len() == BACKFILL_SLICE {
                flush(&mut slice)?;
            }
        }
        flush(&mut slice)
    }

    fn insert_postings(conn: &Connection, rows: &[PostingRow]) -> Result<(), StoreError> {
        let mut ins = conn
            .prepare_cached(
                "INSERT INTO postings (field, value, last, first, gaps) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(sql_err)?;
        for r in rows {
            ins.execute(params![
                r.field as u8,
                r.value,
                to_i64(r.last)?,
                to_i64(r.first)?,
                r.gaps
            ])
            .map_err(sql_err)?;
        }
        Ok(())
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

    /// Writes one batch: the segment records (write + fdatasync) on a
    /// helper thread while this thread inserts the rows, then the database
    /// commit once the records are durable. The rows reference the records,
    /// so the commit never comes first; a failure anywhere keeps neither.
    fn write_batch(w: &mut Writer, batch: &Batch) -> Result<(), StoreError> {
        let (seg_before, len_before) = w.segments.position();
        let records: Vec<Record<'_>> = batch
            .entries
            .iter()
            .map(|e| Record {
                header: &e.header,
                salt: &e.salt,
                body: &e.body,
            })
            .collect();
        let pending = w.segments.prepare(&records, &mut w.buf)?;
        let (seg_after, _) = w.segments.position();
        let Writer {
            conn,
            segments,
            buf,
            sids,
        } = &mut *w;
        let (segments_ref, buf_ref, pending_ref) = (&*segments, buf.as_slice(), &pending);
        let result = std::thread::scope(|scope| {
            let writer = scope.spawn(move || segments_ref.write_durably(buf_ref, pending_ref));
            Self::commit(
                conn,
                sids,
                batch,
                &pending.locations,
                seg_after,
                pending.end(),
                || {
                    writer.join().unwrap_or_else(|_| {
                        Err(StoreError::Unavailable(
                            "the segment writer thread panicked; nothing of the batch was kept"
                                .into(),
                        ))
                    })
                },
            )
        });
        match result {
            Ok(()) => w.segments.mark_written(&pending),
            Err(_) => {
                w.segments.rollback(seg_before, len_before);
                if seg_after != seg_before {
                    // Continue in the committed segment; the new one stays empty.
                    if let Ok(s) =
                        SegmentWriter::open(w.segments_dir().as_path(), seg_before, len_before)
                    {
                        w.segments = s;
                    }
                }
            }
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn commit(
        conn: &mut Connection,
        sids: &mut HashMap<String, u64>,
        batch: &Batch,
        locations: &[RecordLocation],
        segment: u32,
        segment_len: u64,
        records_durable: impl FnOnce() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let tx = conn.transaction().map_err(sql_err)?;
        let size: i64 = tx
            .query_row("SELECT size FROM head WHERE id = 1", [], |r| r.get(0))
            .map_err(sql_err)?;
        let size = to_u64(size, "head size")?;
        if size != batch.expected_size {
            return Err(StoreError::Conflict {
                expected: batch.expected_size,
                found: size,
            });
        }
        // Session numbers this batch looked up or created; cached only
        // once the transaction commits (a rolled-back number is not real).
        let mut learned: HashMap<&str, u64> = HashMap::new();
        {
            let mut ins = tx.prepare_cached(INSERT_ENTRY).map_err(sql_err)?;
            let mut find_sid = tx
                .prepare_cached("SELECT sid FROM sessions WHERE name = ?1")
                .map_err(sql_err)?;
            let mut new_sid = tx
                .prepare_cached("INSERT INTO sessions (name, sid) VALUES (?1, ?2)")
                .map_err(sql_err)?;
            let mut entry_sids = Vec::with_capacity(batch.entries.len());
            for (e, loc) in batch.entries.iter().zip(locations) {
                let c = &e.columns;
                let sid = match c.session.as_deref() {
                    None => None,
                    Some(name) => Some(match sids.get(name).or_else(|| learned.get(name)) {
                        Some(sid) => *sid,
                        None => {
                            let found: Option<i64> = find_sid
                                .query_row(params![name], |r| r.get(0))
                                .optional()
                                .map_err(sql_err)?;
                            let sid = match found {
                                Some(sid) => to_u64(sid, "session number")?,
                                None => {
                                    new_sid
                                        .execute(params![name, to_i64(e.index)?])
                                        .map_err(sql_err)?;
                                    e.index
                                }
                            };
                            learned.insert(name, sid);
                            sid
                        }
                    }),
                };
                entry_sids.push(sid);
                ins.execute(params![
                    to_i64(e.index)?,
                    &e.leaf_hash.0[..],
                    to_i64(c.time)?,
                    c.agent,
                    c.session,
                    c.kind,
                    c.action,
                    c.tool,
                    c.outcome,
                    c.event_id,
                    loc.segment,
                    to_i64(loc.offset)?,
                    loc.header_len,
                    loc.body_len,
                    c.scope,
                ])
                .map_err(sql_err)?;
            }
            let rows =
                postings::build(
                    batch
                        .entries
                        .iter()
                        .zip(&entry_sids)
                        .map(|(e, sid)| Source {
                            index: e.index,
                            columns: &e.columns,
                            sid: *sid,
                        }),
                );
            Self::insert_postings(&tx, &rows)?;
            let mut count = tx
                .prepare_cached(
                    "INSERT INTO counts (day, agent, kind, outcome, n) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(day, agent, kind, outcome) DO UPDATE SET n = n + excluded.n",
                )
                .map_err(sql_err)?;
            for (day, agent, kind, outcome, n) in
                crate::query::count_deltas(batch.entries.iter().map(|e| &e.columns))
            {
                count
                    .execute(params![day, agent, kind, outcome, n])
                    .map_err(sql_err)?;
            }
            let mut node = tx
                .prepare_cached("INSERT INTO nodes (level, idx, hash) VALUES (?1, ?2, ?3)")
                .map_err(sql_err)?;
            for (level, index, hash) in &batch.nodes {
                node.execute(params![level, to_i64(*index)?, &hash.0[..]])
                    .map_err(sql_err)?;
            }
            let mut stream = tx
                .prepare_cached(
                    "INSERT INTO streams (key, count, last) VALUES (?1, ?2, ?3)
                     ON CONFLICT(key) DO UPDATE SET count = excluded.count, last = excluded.last",
                )
                .map_err(sql_err)?;
            for (key, head) in &batch.streams {
                stream
                    .execute(params![key, to_i64(head.count)?, to_i64(head.last)?])
                    .map_err(sql_err)?;
            }
            let mut seq = tx
                .prepare_cached(
                    "INSERT INTO seqs (key, last) VALUES (?1, ?2)
                     ON CONFLICT(key) DO UPDATE SET last = excluded.last",
                )
                .map_err(sql_err)?;
            for (key, last) in &batch.seqs {
                seq.execute(params![key, to_i64(*last)?]).map_err(sql_err)?;
            }
            let h = &batch.head;
            let frontier: Vec<u8> = h.frontier.iter().flat_map(|x| x.0).collect();
            tx.execute(
                "UPDATE head SET size = ?1, root = ?2, frontier = ?3, last_time = ?4, last_leaf = ?5,
                 segment = ?6, segment_len = ?7 WHERE id = 1",
                params![
                    to_i64(h.size)?,
                    &h.root.0[..],
                    frontier,
                    to_i64(h.last_time)?,
                    h.last_leaf.map(|l| l.0.to_vec()),
                    segment,
                    to_i64(segment_len)?,
                ],
            )
            .map_err(sql_err)?;
        }
        // Only once the records are on disk may rows that point at them commit.
        records_durable()?;
        tx.commit().map_err(sql_err)?;
        if sids.len() + learned.len() > SID_CACHE_LIMIT {
            sids.clear();
        }
        sids.extend(learned.into_iter().map(|(n, s)| (n.to_string(), s)));
        Ok(())
    }

    /// Runs `select_in (?, ?, …)` for `keys` in chunks (SQLite limits the
    /// parameters of one statement), reading each row with `row` and
    /// checking it with `convert`.
    fn lookup<R, T>(
        &self,
        what: &str,
        select_in: &str,
        keys: &[&str],
        row: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<R>,
        convert: impl Fn(R) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        self.read(what, |c| {
            let mut out = Vec::new();
            for chunk in keys.chunks(LOOKUP_CHUNK) {
                let sql = format!("{select_in} ({})", Self::placeholders(chunk.len()));
                let mut stmt = c.prepare_cached(&sql).map_err(sql_err)?;
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(chunk.iter()), &row)
                    .map_err(sql_err)?;
                for r in rows {
                    out.push(convert(r.map_err(sql_err)?)?);
                }
            }
            Ok(out)
        })
    }

    fn placeholders(n: usize) -> String {
        let mut s = String::with_capacity(n * 2);
        for i in 0..n {
            if i > 0 {
                s.push(',');
            }
            s.push('?');
        }
        s
    }
}

impl Writer {
    fn segments_dir(&self) -> PathBuf {
        self.segments.dir().to_path_buf()
    }
}

// A multi-row INSERT (64 rows per statement) was measured slower here
// (14 µs vs 9.6 µs per entry, benches/append.rs), so entries go one row per step.
const INSERT_ENTRY: &str = "INSERT INTO entries (idx, leaf, time, agent, session, kind, action, tool, outcome, event_id, seg, off, hlen, blen, scope)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

/// Pages of at least this many events read their records on
/// `READ_THREADS` threads.
const PARALLEL_READS_FROM: usize = 16;
const READ_THREADS: usize = 4;

/// Entries per slice when a version 1 store's posting lists are built.
const BACKFILL_SLICE: usize = 2048;

/// Copies the WAL back into the database from its own thread and
/// connection, so the sequencer's commits never pay for it (automatic
/// checkpoints would run inside the writer's commit).
struct WalCheckpointer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How often the WAL is copied back.
const WAL_CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

impl WalCheckpointer {
    fn start(db_path: &Path) -> Result<Self, StoreError> {
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

/// SQLite limits host parameters per statement; look keys up in chunks.
const LOOKUP_CHUNK: usize = 500;

/// A matching row before its header is read from the segments.
struct Hit {
    index: u64,
    leaf: Vec<u8>,
    time: i64,
    location: RecordLocation,
}

/// The statements of a query page.
const TIME_AT: &str = "SELECT time FROM entries WHERE idx = ?1";
const POSTING_ROWS: &str = "SELECT first, last, gaps FROM postings
     WHERE field = ?1 AND value = ?2 AND last >= ?3 ORDER BY last LIMIT ?4";
const ENTRY_ROW: &str = "SELECT idx, leaf, time, seg, off, hlen, blen FROM entries WHERE idx = ?1";
const RANGE_ROWS: &str = "SELECT idx, leaf, time, seg, off, hlen, blen FROM entries
     WHERE idx >= ?1 AND idx < ?2 ORDER BY idx LIMIT ?3";

fn hit(r: &rusqlite::Row<'_>) -> Result<Hit, StoreError> {
    Ok(Hit {
        index: to_u64(r.get(0).map_err(sql_err)?, "index")?,
        leaf: r.get(1).map_err(sql_err)?,
        time: r.get(2).map_err(sql_err)?,
        location: RecordLocation {
            segment: r.get(3).map_err(sql_err)?,
            offset: to_u64(r.get(4).map_err(sql_err)?, "record offset")?,
            header_len: r.get(5).map_err(sql_err)?,
            body_len: r.get(6).map_err(sql_err)?,
        },
    })
}

/// Posting rows read from one connection.
struct Postings<'c>(&'c Connection);

impl ChunkSource for Postings<'_> {
    fn chunks(
        &mut self,
        field: Field,
        value: &[u8],
        from: u64,
        n: usize,
    ) -> Result<Vec<Chunk>, StoreError> {
        let mut stmt = self.0.prepare_cached(POSTING_ROWS).map_err(sql_err)?;
        let rows = stmt
            .query_map(params![field as u8, value, to_i64(from)?, n as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })
            .map_err(sql_err)?;
        rows.map(|r| {
            let (first, last, gaps) = r.map_err(sql_err)?;
            Ok((to_u64(first, "posting")?, to_u64(last, "posting")?, gaps))
        })
        .collect()
    }
}

impl SqliteStore {
    /// `EXPLAIN QUERY PLAN` of each statement a query page runs, one line
    /// per step: how tests check that every filter is served by an index.
    pub fn query_plan(&self) -> Result<Vec<String>, StoreError> {
        self.read("explain the query plan", |c| {
            let mut plan = Vec::new();
            for sql in [TIME_AT, POSTING_ROWS, ENTRY_ROW, RANGE_ROWS] {
                let mut stmt = c
                    .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .map_err(sql_err)?;
                // The plan does not depend on the values; bind NULLs.
                for i in 1..=stmt.parameter_count() {
                    stmt.raw_bind_parameter(i, rusqlite::types::Null)
                        .map_err(sql_err)?;
                }
                let mut rows = stmt.raw_query();
                while let Some(r) = rows.next().map_err(sql_err)? {
                    plan.push(r.get::<_, String>(3).map_err(sql_err)?);
                }
            }
            Ok(plan)
        })
    }

    /// The matching rows of one page (one read transaction), and the next cursor.
    fn query_rows(c: &Connection, q: &EventQuery) -> Result<(Found, Option<u64>), StoreError> {
        // One snapshot for the size, the time probes and the rows.
        let tx = c.unchecked_transaction().map_err(sql_err)?;
        let size: i64 = tx
            .query_row("SELECT size FROM head WHERE id = 1", [], |r| r.get(0))
            .map_err(sql_err)?;
        let size = to_u64(size, "head size")?;
        let (lo, hi) = {
            let mut probe = tx.prepare_cached(TIME_AT).map_err(sql_err)?;
            q.index_range(size, |i| {
                let t: Option<i64> = probe
                    .query_row(params![to_i64(i)?], |r| r.get(0))
                    .optional()
                    .map_err(sql_err)?;
                let t = t.ok_or_else(|| {
                    StoreError::Corrupt(format!("entry {i} is missing below the head ({size})"))
                })?;
                to_u64(t, "time")
            })?
        };
        if lo >= hi {
            return Ok((Found::Rows(Vec::new()), None));
        }
        let limit = q.page_size();
        let sid = match q.filter.session.as_deref() {
            None => None,
            Some(name) => {
                let sid: Option<i64> = tx
                    .query_row(
                        "SELECT sid FROM sessions WHERE name = ?1",
                        params![name],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(sql_err)?;
                match sid {
                    Some(sid) => Some(to_u64(sid, "session number")?),
                    None => return Ok((Found::Rows(Vec::new()), None)),
                }
            }
        };
        let filters = postings::filters_of(q, sid);
        if filters.is_empty() {
            let mut stmt = tx.prepare_cached(RANGE_ROWS).map_err(sql_err)?;
            let mut rows = stmt
                .query(params![to_i64(lo)?, to_i64(hi)?, limit as i64])
                .map_err(sql_err)?;
            let mut hits = Vec::with_capacity(limit);
            while let Some(r) = rows.next().map_err(sql_err)? {
                hits.push(hit(r)?);
            }
            let next = (hits.len() == limit).then(|| hits[limit - 1].index);
            return Ok((Found::Rows(hits), next));
        }
        let found =
            postings::intersect(&mut Postings(&tx), &filters, (lo, hi), limit, SCAN_BUDGET)?;
        Ok((Found::Indexes(found.indexes), found.next_cursor))
    }

    /// The rows of committed entries (immutable, so any snapshot will do).
    fn entry_rows(&self, indexes: &[u64]) -> Result<Vec<Hit>, StoreError> {
        self.read("read entry rows (table entries)", |c| {
            let mut stmt = c.prepare_cached(ENTRY_ROW).map_err(sql_err)?;
            let mut hits = Vec::with_capacity(indexes.len());
            for &i in indexes {
                let mut rows = stmt.query(params![to_i64(i)?]).map_err(sql_err)?;
                match rows.next().map_err(sql_err)? {
                    Some(r) => hits.push(hit(r)?),
                    None => {
                        return Err(StoreError::Corrupt(format!(
                            "entry {i} is in a posting list but not in the log"
                        )))
                    }
                }
            }
            Ok(hits)
        })
    }

    /// The events of some hits: header (and body) from the segments.
    fn events_of(&self, hits: &[Hit], bodies: bool) -> Result<Vec<QueryEvent>, StoreError> {
        hits.iter()
            .map(|h| {
                let (header, body) = if bodies {
                    self.bodies.read(h.location)?
                } else {
                    (self.bodies.read_header(h.location)?, None)
                };
                Ok(QueryEvent {
                    index: h.index,
                    leaf_hash: hash_from(h.leaf.clone(), "leaf hash")?,
                    time: to_u64(h.time, "time")?,
                    header,
                    salt: body.as_ref().map(|(s, _)| *s),
                    body: body.map(|(_, b)| b),
                })
            })
            .collect()
    }
}

/// `read` over `items` in a few slices on their own threads (and so their
/// own read connections) when there are enough of them. A page's rows and
/// records are scattered over the log: when they are not in the page cache,
/// several reads in flight keep the disk busy instead of waiting for one
/// random read at a time (cold p50 halved at 10 M entries, benchmarks.md).
fn in_parallel<T: Sync>(
    items: &[T],
    read: impl Fn(&[T]) -> Result<Vec<QueryEvent>, StoreError> + Sync,
) -> Result<Vec<QueryEvent>, StoreError> {
    if items.len() < PARALLEL_READS_FROM {
        return read(items);
    }
    let read = &read;
    std::thread::scope(|scope| {
        let parts: Vec<_> = items
            .chunks(items.len().div_ceil(READ_THREADS))
            .map(|part| scope.spawn(move || read(part)))
            .collect();
        let mut events = Vec::with_capacity(items.len());
        for p in parts {
            events.extend(p.join().map_err(|_| {
                StoreError::Unavailable("a segment record reader thread panicked".into())
            })??);
        }
        Ok(events)
    })
}

/// What the index part of a query found.
enum Found {
    /// From a primary-key range: the rows themselves.
    Rows(Vec<Hit>),
    /// From posting lists: the matching indexes, rows still to read.
    Indexes(Vec<u64>),
}

impl Store for SqliteStore {
    fn all_stream_heads(&self) -> Result<(u64, Vec<(String, StreamHead)>), StoreError> {
        self.read("read the stream heads (table streams)", |c| {
            let tx = c.unchecked_transaction().map_err(sql_err)?;
            let size: i64 = tx
                .query_row("SELECT size FROM head WHERE id = 1", [], |r| r.get(0))
                .map_err(sql_err)?;
            let mut stmt = tx
                .prepare_cached("SELECT key, count, last FROM streams ORDER BY key")
                .map_err(sql_err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .map_err(sql_err)?;
            let mut heads = Vec::new();
            for r in rows {
                let (key, count, last) = r.map_err(sql_err)?;
                heads.push((
                    key,
                    StreamHead {
                        count: to_u64(count, "stream count")?,
                        last: to_u64(last, "stream last")?,
                    },
                ));
            }
            Ok((to_u64(size, "head size")?, heads))
        })
    }

    fn stream_members(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<(u64, String, Option<String>)>, StoreError> {
        let (start, end) = (to_i64(start)?, i64::try_from(end).unwrap_or(i64::MAX));
        self.read("read the stream members of entries (table entries)", |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT idx, agent, session FROM entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
                )
                .map_err(sql_err)?;
            let rows = stmt
                .query_map(params![start, end], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?))
                })
                .map_err(sql_err)?;
            rows.map(|r| {
                let (idx, agent, session) = r.map_err(sql_err)?;
                Ok((to_u64(idx, "index")?, agent, session))
            })
            .collect()
        })
    }

    fn query(&self, q: &EventQuery) -> Result<QueryPage, StoreError> {
        let (found, next_cursor) = self.read(
            "query the entries (tables postings, sessions, entries)",
            |c| Self::query_rows(c, q),
        )?;
        let bodies = q.include_bodies;
        let events = match &found {
            Found::Rows(hits) => in_parallel(hits, |part| self.events_of(part, bodies))?,
            Found::Indexes(ids) => {
                in_parallel(ids, |part| self.events_of(&self.entry_rows(part)?, bodies))?
            }
        };
        Ok(QueryPage {
            events,
            next_cursor,
        })
    }

    fn stats(&self, q: &StatsQuery) -> Result<Vec<StatsRow>, StoreError> {
        q.check()?;
        let (first_day, end_day) = q.days();
        let groups: Vec<&str> = q.group_by.iter().map(|g| g.name()).collect();
        let mut sql = String::from("SELECT ");
        for g in &groups {
            sql.push_str(g);
            sql.push_str(", ");
        }
        sql.push_str(
            "coalesce(sum(n), 0) FROM counts WHERE (?1 IS NULL OR day >= ?1) AND (?2 IS NULL OR day < ?2)
             AND (?3 IS NULL OR agent = ?3) AND (?4 IS NULL OR kind = ?4) AND (?5 IS NULL OR outcome = ?5)",
        );
        if !groups.is_empty() {
            let cols = groups.join(", ");
            sql.push_str(&format!(" GROUP BY {cols} ORDER BY {cols}"));
        }
        self.read("read the counts (table counts)", |c| {
            let mut stmt = c.prepare_cached(&sql).map_err(sql_err)?;
            let mut rows = stmt
                .query(params![
                    first_day,
                    end_day,
                    q.filter.agent,
                    q.filter.kind,
                    q.filter.outcome
                ])
                .map_err(sql_err)?;
            let mut out = Vec::new();
            while let Some(r) = rows.next().map_err(sql_err)? {
                let mut row = StatsRow {
                    day: None,
                    agent: None,
                    kind: None,
                    outcome: None,
                    count: to_u64(r.get(groups.len()).map_err(sql_err)?, "count")?,
                };
                for (i, g) in q.group_by.iter().enumerate() {
                    match g {
                        StatsGroup::Day => row.day = Some(r.get(i).map_err(sql_err)?),
                        StatsGroup::Agent => row.agent = Some(r.get(i).map_err(sql_err)?),
                        StatsGroup::Kind => row.kind = Some(r.get(i).map_err(sql_err)?),
                        StatsGroup::Outcome => row.outcome = Some(r.get(i).map_err(sql_err)?),
                    }
                }
                out.push(row);
            }
            Ok(out)
        })
    }

    fn head(&self) -> Result<LogHead, StoreError> {
        self.read("read the log head (table head)", |c| {
            let (size, root, frontier, last_time, last_leaf): (
                i64,
                Vec<u8>,
                Vec<u8>,
                i64,
                Option<Vec<u8>>,
            ) = c
                .query_row(
                    "SELECT size, root, frontier, last_time, last_leaf FROM head WHERE id = 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .map_err(sql_err)?;
            if frontier.len() % HASH_LEN != 0 {
                return Err(StoreError::Corrupt("frontier length".into()));
            }
            Ok(LogHead {
                size: to_u64(size, "head size")?,
                root: hash_from(root, "head root")?,
                frontier: frontier
                    .chunks_exact(HASH_LEN)
                    .filter_map(Hash::from_slice)
                    .collect(),
                last_time: to_u64(last_time, "last time")?,
                last_leaf: last_leaf.map(|l| hash_from(l, "last leaf")).transpose()?,
            })
        })
    }

    fn append_batch(&self, batch: &Batch) -> Result<(), StoreError> {
        let mut w = self.writer.lock().map_err(|_| self.poisoned("writer"))?;
        Self::write_batch(&mut w, batch).map_err(|e| {
            e.during(|| {
                let first = batch
                    .entries
                    .first()
                    .map_or(batch.expected_size, |e| e.index);
                format!(
                    "cannot append entries {first}..{} to {}",
                    batch.head.size,
                    self.db_path.display()
                )
            })
        })
    }

    fn find_event_ids(&self, ids: &[&str]) -> Result<Vec<(String, Receipt)>, StoreError> {
        self.lookup(
            "look up event ids (table entries)",
            "SELECT event_id, idx, leaf, time FROM entries WHERE event_id IN",
            ids,
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            },
            |(id, idx, leaf, time)| {
                Ok((
                    id,
                    Receipt {
                        index: to_u64(idx, "index")?,
                        leaf_hash: hash_from(leaf, "leaf hash")?,
                        time: to_u64(time, "time")?,
                    },
                ))
            },
        )
    }

    fn event_ids(&self, start: u64, end: u64) -> Result<Vec<String>, StoreError> {
        self.read("read event ids (table entries)", |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT event_id FROM entries WHERE idx >= ?1 AND idx < ?2 AND event_id IS NOT NULL",
                )
                .map_err(sql_err)?;
            let rows = stmt
                .query_map(params![to_i64(start)?, to_i64(end)?], |r| r.get::<_, String>(0))
                .map_err(sql_err)?;
            rows.map(|r| r.map_err(sql_err)).collect()
        })
    }

    fn stream_heads(&self, keys: &[&str]) -> Result<Vec<(String, StreamHead)>, StoreError> {
        self.lookup(
            "read stream heads (table streams)",
            "SELECT key, count, last FROM streams WHERE key IN",
            keys,
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            },
            |(k, count, last)| {
                Ok((
                    k,
                    StreamHead {
                        count: to_u64(count, "stream count")?,
                        last: to_u64(last, "stream last")?,
                    },
                ))
            },
        )
    }

    fn last_seqs(&self, keys: &[&str]) -> Result<Vec<(String, u64)>, StoreError> {
        self.lookup(
            "read sequence numbers (table seqs)",
            "SELECT key, last FROM seqs WHERE key IN",
            keys,
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
            |(k, last)| Ok((k, to_u64(last, "seq")?)),
        )
    }

    fn entry(&self, index: u64) -> Result<Option<StoredEntry>, StoreError> {
        Ok(self.entries(index, index.saturating_add(1))?.pop())
    }

    fn entries(&self, start: u64, end: u64) -> Result<Vec<StoredEntry>, StoreError> {
        let rows = self.read("read entries (table entries)", |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT idx, leaf, seg, off, hlen, blen FROM entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
                )
                .map_err(sql_err)?;
            let rows = stmt
                .query_map(params![to_i64(start)?, to_i64(end)?], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, u32>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, u32>(4)?,
                        r.get::<_, Option<u32>>(5)?,
                    ))
                })
                .map_err(sql_err)?;
            rows.map(|r| r.map_err(sql_err)).collect::<Result<Vec<_>, _>>()
        })?;
        rows.into_iter()
            .map(|(idx, leaf, segment, off, header_len, body_len)| {
                let index = to_u64(idx, "index")?;
                let (header, body) = self.bodies.read(RecordLocation {
                    segment,
                    offset: to_u64(off, "record offset")?,
                    header_len,
                    body_len,
                })?;
                Ok(StoredEntry {
                    index,
                    leaf_hash: hash_from(leaf, "leaf hash")?,
                    header,
                    salt: body.as_ref().map(|(s, _)| *s),
                    body: body.map(|(_, b)| b),
                })
            })
            .collect()
    }

    fn entry_headers(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows = self.read("read entry headers (table entries)", |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT seg, off, hlen FROM entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
                )
                .map_err(sql_err)?;
            let rows = stmt
                .query_map(params![to_i64(start)?, to_i64(end)?], |r| {
                    Ok((
                        r.get::<_, u32>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, u32>(2)?,
                    ))
                })
                .map_err(sql_err)?;
            rows.map(|r| r.map_err(sql_err))
                .collect::<Result<Vec<_>, _>>()
        })?;
        rows.into_iter()
            .map(|(segment, off, header_len)| {
                self.bodies.read_header(RecordLocation {
                    segment,
                    offset: to_u64(off, "record offset")?,
                    header_len,
                    body_len: None,
                })
            })
            .collect()
    }

    fn leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<Hash>, StoreError> {
        self.read("read leaf hashes (table entries)", |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT leaf FROM entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
                )
                .map_err(sql_err)?;
            let rows = stmt
                .query_map(params![to_i64(start)?, to_i64(end)?], |r| {
                    r.get::<_, Vec<u8>>(0)
                })
                .map_err(sql_err)?;
            rows.map(|r| r.map_err(sql_err).and_then(|b| hash_from(b, "leaf hash")))
                .collect()
        })
    }

    fn nodes(&self, level: u8, start: u64, end: u64) -> Result<Vec<Hash>, StoreError> {
        self.read("read tree nodes (table nodes)", |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT hash FROM nodes WHERE level = ?1 AND idx >= ?2 AND idx < ?3 ORDER BY idx",
                )
                .map_err(sql_err)?;
            let rows = stmt
                .query_map(params![level, to_i64(start)?, to_i64(end)?], |r| {
                    r.get::<_, Vec<u8>>(0)
                })
                .map_err(sql_err)?;
            rows.map(|r| r.map_err(sql_err).and_then(|b| hash_from(b, "node hash")))
                .collect()
        })
    }

    fn put_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), StoreError> {
        self.write_one(
            "store a checkpoint (table checkpoints)",
            "INSERT INTO checkpoints (size, note, time) VALUES (?1, ?2, ?3)",
            params![to_i64(cp.size)?, &cp.note, to_i64(cp.time)?],
        )
        .map(|_| ())
    }

    fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.read("read the latest checkpoint (table checkpoints)", |c| {
            c.query_row(
                "SELECT size, note, time FROM checkpoints ORDER BY size DESC LIMIT 1",
                [],
                checkpoint_row,
            )
            .optional()
            .map_err(sql_err)?
            .map(checkpoint_from)
            .transpose()
        })
    }

    fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.read("read a checkpoint (table checkpoints)", |c| {
            c.query_row(
                "SELECT size, note, time FROM checkpoints WHERE size = ?1",
                params![to_i64(size)?],
                checkpoint_row,
            )
            .optional()
            .map_err(sql_err)?
            .map(checkpoint_from)
            .transpose()
        })
    }

    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        self.read("read the checkpoints (table checkpoints)", |c| {
            let mut stmt = c
                .prepare_cached("SELECT size, note, time FROM checkpoints ORDER BY size")
                .map_err(sql_err)?;
            let rows = stmt.query_map([], checkpoint_row).map_err(sql_err)?;
            rows.map(|r| r.map_err(sql_err).and_then(checkpoint_from))
                .collect()
        })
    }

    fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.write_one(
            "store an API key (table api_keys)",
            "INSERT INTO api_keys (key_hash, name, role, created) VALUES (?1, ?2, ?3, ?4)",
            params![
                &key.key_hash.0[..],
                key.name,
                key.role,
                to_i64(key.created)?
            ],
        )
        .map(|_| ())
    }

    fn api_key(&self, key_hash: &Hash) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.read("read an API key (table api_keys)", |c| {
            c.query_row(
                "SELECT name, role, created FROM api_keys WHERE key_hash = ?1",
                params![&key_hash.0[..]],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )
            .optional()
            .map_err(sql_err)?
            .map(|(name, role, created)| {
                Ok(ApiKeyRecord {
                    key_hash: *key_hash,
                    name,
                    role,
                    created: to_u64(created, "key created")?,
                })
            })
            .transpose()
        })
    }

    /// One node owns an embedded store: nothing to take turns with.
    fn lock_log(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn unlock_log(&self) {}

    fn put_access(&self, kind: &str, id: &str, record: &[u8]) -> Result<(), StoreError> {
        self.write_one(
            "store an access record (table access)",
            "INSERT OR REPLACE INTO access (kind, id, record) VALUES (?1, ?2, ?3)",
            params![kind, id, record],
        )
        .map(|_| ())
    }

    fn put_access_if(
        &self,
        kind: &str,
        id: &str,
        expected: Option<&[u8]>,
        record: &[u8],
    ) -> Result<bool, StoreError> {
        // One statement each way: atomic even against another process.
        let changed = match expected {
            None => self.write_one(
                "store an access record (table access)",
                "INSERT INTO access (kind, id, record) VALUES (?1, ?2, ?3)
                 ON CONFLICT(kind, id) DO NOTHING",
                params![kind, id, record],
            )?,
            Some(old) => self.write_one(
                "store an access record (table access)",
                "UPDATE access SET record = ?3 WHERE kind = ?1 AND id = ?2 AND record = ?4",
                params![kind, id, record, old],
            )?,
        };
        Ok(changed == 1)
    }

    fn access(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read("read an access record (table access)", |c| {
            c.query_row(
                "SELECT record FROM access WHERE kind = ?1 AND id = ?2",
                params![kind, id],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .optional()
            .map_err(sql_err)
        })
    }

    fn access_all(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.read("read the access records (table access)", |c| {
            let mut stmt = c
                .prepare_cached("SELECT id, record FROM access WHERE kind = ?1 ORDER BY id")
                .map_err(sql_err)?;
            let rows = stmt
                .query_map(params![kind], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(sql_err)?;
            rows.map(|r| r.map_err(sql_err)).collect()
        })
    }

    fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.read("read the API keys (table api_keys)", |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT key_hash, name, role, created FROM api_keys ORDER BY created, name",
                )
                .map_err(sql_err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .map_err(sql_err)?;
            rows.map(|r| {
                let (hash, name, role, created) = r.map_err(sql_err)?;
                Ok(ApiKeyRecord {
                    key_hash: hash_from(hash, "api key hash")?,
                    name,
                    role,
                    created: to_u64(created, "key created")?,
                })
            })
            .collect()
        })
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
            params![name, holder, to_i64(now.saturating_add(ttl))?, to_i64(now)?],
        )?;
        Ok(changed > 0)
    }
}

type CheckpointRow = (i64, Vec<u8>, i64);

fn checkpoint_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CheckpointRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

fn checkpoint_from((size, note, time): CheckpointRow) -> Result<StoredCheckpoint, StoreError> {
    Ok(StoredCheckpoint {
        size: to_u64(size, "checkpoint size")?,
        note,
        time: to_u64(time, "checkpoint time")?,
    })
}
