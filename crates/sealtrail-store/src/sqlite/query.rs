//! The query index (posting lists, see `crate::postings`) and the counts
//! kept at ingest: pages of matching entries, and stats.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use crate::column::{hash_from, to_i64, to_u64};
use crate::postings::{self, Chunk, ChunkSource, Field};
use crate::query::SCAN_BUDGET;
use crate::segment::RecordLocation;
use crate::{
    EventQuery, QueryEvent, QueryIndex, QueryPage, StatsGroup, StatsQuery, StatsRow, StoreError,
};

use super::{sql_err, SqliteStore};

/// Pages of at least this many events read their records on
/// `READ_THREADS` threads.
const PARALLEL_READS_FROM: usize = 16;
const READ_THREADS: usize = 4;

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
        index: to_u64(r.get(0).map_err(sql_err)?, "entries.idx")?,
        leaf: r.get(1).map_err(sql_err)?,
        time: r.get(2).map_err(sql_err)?,
        location: RecordLocation {
            segment: r.get(3).map_err(sql_err)?,
            offset: to_u64(r.get(4).map_err(sql_err)?, "entries.off")?,
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
            .query_map(
                params![field as u8, value, to_i64(from, "postings.last")?, n as i64],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                },
            )
            .map_err(sql_err)?;
        rows.map(|r| {
            let (first, last, gaps) = r.map_err(sql_err)?;
            Ok((
                to_u64(first, "postings.first")?,
                to_u64(last, "postings.last")?,
                gaps,
            ))
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
        let size = to_u64(size, "head.size")?;
        let (lo, hi) = {
            let mut probe = tx.prepare_cached(TIME_AT).map_err(sql_err)?;
            q.index_range(size, |i| {
                let t: Option<i64> = probe
                    .query_row(params![to_i64(i, "entries.idx")?], |r| r.get(0))
                    .optional()
                    .map_err(sql_err)?;
                let t = t.ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "table entries: entry {i} is missing below the head ({size})"
                    ))
                })?;
                to_u64(t, "entries.time")
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
                    Some(sid) => Some(to_u64(sid, "sessions.sid")?),
                    None => return Ok((Found::Rows(Vec::new()), None)),
                }
            }
        };
        let filters = postings::filters_of(q, sid);
        if filters.is_empty() {
            let mut stmt = tx.prepare_cached(RANGE_ROWS).map_err(sql_err)?;
            let mut rows = stmt
                .query(params![
                    to_i64(lo, "entries.idx")?,
                    to_i64(hi, "entries.idx")?,
                    limit as i64
                ])
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
                let mut rows = stmt.query(params![to_i64(i, "entries.idx")?]).map_err(sql_err)?;
                match rows.next().map_err(sql_err)? {
                    Some(r) => hits.push(hit(r)?),
                    None => {
                        return Err(StoreError::Corrupt(format!(
                            "table entries: entry {i} is in a posting list (table postings) but not in the log"
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
                    leaf_hash: hash_from(&h.leaf, "entries.leaf")?,
                    time: to_u64(h.time, "entries.time")?,
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
    db_path: &Path,
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
                StoreError::Unavailable(format!(
                    "a record reader thread of {} panicked",
                    db_path.display()
                ))
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

impl QueryIndex for SqliteStore {
    fn query(&self, q: &EventQuery) -> Result<QueryPage, StoreError> {
        let (found, next_cursor) = self.read(
            "query the entries (tables postings, sessions, entries)",
            |c| Self::query_rows(c, q),
        )?;
        let bodies = q.include_bodies;
        let events = match &found {
            Found::Rows(hits) => {
                in_parallel(&self.db_path, hits, |part| self.events_of(part, bodies))?
            }
            Found::Indexes(ids) => in_parallel(&self.db_path, ids, |part| {
                self.events_of(&self.entry_rows(part)?, bodies)
            })?,
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
                    count: to_u64(r.get(groups.len()).map_err(sql_err)?, "counts.n")?,
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
}
