//! The append path: a batch's records go to the segment files (made
//! durable on a helper thread) while its rows go into one SQLite
//! transaction, which commits only once the records are on disk.

use std::path::PathBuf;

use rusqlite::{params, Connection, OptionalExtension};

use crate::column::{to_i64, to_u64};
use crate::postings::{self, PostingRow, Source};
use crate::segment::{Record, RecordLocation, SegmentWriter};
use crate::{Batch, StoreError};

use super::{sql_err, SqliteStore, Writer};

/// Session numbers cached by the writer before the cache is dropped (it
/// refills from the sessions table on demand).
const SID_CACHE_LIMIT: usize = 1_000_000;

impl SqliteStore {
    /// [`crate::LogStore::append_batch`]: one batch at a time, on the writer
    /// connection; errors name the entries and the database.
    pub(super) fn append(&self, batch: &Batch) -> Result<(), StoreError> {
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

    pub(super) fn insert_postings(
        conn: &Connection,
        rows: &[PostingRow],
    ) -> Result<(), StoreError> {
        let mut ins = conn
            .prepare_cached(
                "INSERT INTO postings (field, value, last, first, gaps) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(sql_err)?;
        for r in rows {
            ins.execute(params![
                r.field as u8,
                r.value,
                to_i64(r.last, "postings.last")?,
                to_i64(r.first, "postings.first")?,
                r.gaps
            ])
            .map_err(sql_err)?;
        }
        Ok(())
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
        let seg_dir = segments_ref.dir();
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
                        Err(StoreError::Unavailable(format!(
                            "the segment writer thread of {} panicked; nothing of the batch was kept",
                            seg_dir.display()
                        )))
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
        sids: &mut crate::FastMap<String, u64>,
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
        let size = to_u64(size, "head.size")?;
        if size != batch.expected_size {
            return Err(StoreError::Conflict {
                expected: batch.expected_size,
                found: size,
            });
        }
        // Session numbers this batch looked up or created; cached only
        // once the transaction commits (a rolled-back number is not real).
        let mut learned: crate::FastMap<&str, u64> = crate::FastMap::default();
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
                                Some(sid) => to_u64(sid, "sessions.sid")?,
                                None => {
                                    new_sid
                                        .execute(params![name, to_i64(e.index, "sessions.sid")?])
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
                    to_i64(e.index, "entries.idx")?,
                    &e.leaf_hash.0[..],
                    to_i64(c.time, "entries.time")?,
                    c.agent,
                    c.session,
                    c.kind,
                    c.action,
                    c.tool,
                    c.outcome,
                    c.event_id,
                    loc.segment,
                    to_i64(loc.offset, "entries.off")?,
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
                node.execute(params![level, to_i64(*index, "nodes.idx")?, &hash.0[..]])
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
                    .execute(params![
                        key,
                        to_i64(head.count, "streams.count")?,
                        to_i64(head.last, "streams.last")?
                    ])
                    .map_err(sql_err)?;
            }
            let mut seq = tx
                .prepare_cached(
                    "INSERT INTO seqs (key, last) VALUES (?1, ?2)
                     ON CONFLICT(key) DO UPDATE SET last = excluded.last",
                )
                .map_err(sql_err)?;
            for (key, last) in &batch.seqs {
                seq.execute(params![key, to_i64(*last, "seqs.last")?])
                    .map_err(sql_err)?;
            }
            let h = &batch.head;
            let frontier: Vec<u8> = h.frontier.iter().flat_map(|x| x.0).collect();
            tx.execute(
                "UPDATE head SET size = ?1, root = ?2, frontier = ?3, last_time = ?4, last_leaf = ?5,
                 segment = ?6, segment_len = ?7 WHERE id = 1",
                params![
                    to_i64(h.size, "head.size")?,
                    &h.root.0[..],
                    frontier,
                    to_i64(h.last_time, "head.last_time")?,
                    h.last_leaf.map(|l| l.0.to_vec()),
                    segment,
                    to_i64(segment_len, "head.segment_len")?,
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
