//! The embedded store's schema (SQLite) and its migration from version 1,
//! which builds the query index of the entries already there.

use rusqlite::{params, Connection, OptionalExtension};
use sealtrail_core::hash::Hash;
use sealtrail_core::header::EntryHeader;

use crate::column::{to_i64, to_u64};
use crate::postings::{self, Source};
use crate::segment::{RecordLocation, SegmentReader};
use crate::{EntryColumns, StoreError};

use super::{sql_err, SqliteStore};

/// The schema this code creates and reads. Version 2 added the query
/// indexes, the data class, subject and session tables, and the counts.
pub const SCHEMA_VERSION: u32 = 2;

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

impl SqliteStore {
    pub(super) fn migrate(conn: &Connection, bodies: &SegmentReader) -> Result<(), StoreError> {
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
            Some(v) => Some(v.parse::<u32>().map_err(|_| {
                StoreError::Corrupt(format!(
                    "table meta: schema_version is {v:?}, not a version number"
                ))
            })?),
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
            let index = to_u64(r.get(0).map_err(sql_err)?, "entries.idx")?;
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
                offset: to_u64(r.get(8).map_err(sql_err)?, "entries.off")?,
                header_len: r.get(9).map_err(sql_err)?,
                body_len: None,
            })?;
            let sid = r
                .get::<_, Option<i64>>(10)
                .map_err(sql_err)?
                .map(|s| to_u64(s, "sessions.sid"))
                .transpose()?;
            // A header that does not parse was altered (fsck names it): its
            // entry is indexed by its columns only rather than failing the open.
            if let Ok(h) = EntryHeader::parse(&header) {
                if h.scope.is_some() {
                    scope
                        .execute(params![to_i64(index, "entries.idx")?, h.scope])
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
}

/// Entries per slice when a version 1 store's posting lists are built.
const BACKFILL_SLICE: usize = 2048;
