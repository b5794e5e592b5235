//! Reads of the log: head, entries (rows here, records from the segment
//! files), tree nodes, stream heads and event ids.

use rusqlite::params;
use sealtrail_core::hash::{Hash, HASH_LEN};

use crate::column::{frontier_length, hash_from, to_i64, to_u64};
use crate::segment::RecordLocation;
use crate::{Batch, LogHead, LogStore, Receipt, StoreError, StoredEntry, StreamHead};

use super::{sql_err, SqliteStore};

/// SQLite limits host parameters per statement; look keys up in chunks.
const LOOKUP_CHUNK: usize = 500;

impl SqliteStore {
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

impl LogStore for SqliteStore {
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
                return Err(frontier_length(frontier.len()));
            }
            Ok(LogHead {
                size: to_u64(size, "head.size")?,
                root: hash_from(&root, "head.root")?,
                frontier: frontier
                    .chunks_exact(HASH_LEN)
                    .filter_map(Hash::from_slice)
                    .collect(),
                last_time: to_u64(last_time, "head.last_time")?,
                last_leaf: last_leaf
                    .map(|l| hash_from(&l, "head.last_leaf"))
                    .transpose()?,
            })
        })
    }

    fn append_batch(&self, batch: &Batch) -> Result<(), StoreError> {
        self.append(batch)
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
                        index: to_u64(idx, "entries.idx")?,
                        leaf_hash: hash_from(&leaf, "entries.leaf")?,
                        time: to_u64(time, "entries.time")?,
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
                .query_map(params![to_i64(start, "entries.idx")?, to_i64(end, "entries.idx")?], |r| r.get::<_, String>(0))
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
                        count: to_u64(count, "streams.count")?,
                        last: to_u64(last, "streams.last")?,
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
            |(k, last)| Ok((k, to_u64(last, "seqs.last")?)),
        )
    }

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
                        count: to_u64(count, "streams.count")?,
                        last: to_u64(last, "streams.last")?,
                    },
                ));
            }
            Ok((to_u64(size, "head.size")?, heads))
        })
    }

    fn stream_members(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<(u64, String, Option<String>)>, StoreError> {
        let (start, end) = (
            to_i64(start, "entries.idx")?,
            i64::try_from(end).unwrap_or(i64::MAX),
        );
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
                Ok((to_u64(idx, "entries.idx")?, agent, session))
            })
            .collect()
        })
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
                .query_map(params![to_i64(start, "entries.idx")?, to_i64(end, "entries.idx")?], |r| {
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
                let index = to_u64(idx, "entries.idx")?;
                let (header, body) = self.bodies.read(RecordLocation {
                    segment,
                    offset: to_u64(off, "entries.off")?,
                    header_len,
                    body_len,
                })?;
                Ok(StoredEntry {
                    index,
                    leaf_hash: hash_from(&leaf, "entries.leaf")?,
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
                .query_map(
                    params![to_i64(start, "entries.idx")?, to_i64(end, "entries.idx")?],
                    |r| {
                        Ok((
                            r.get::<_, u32>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, u32>(2)?,
                        ))
                    },
                )
                .map_err(sql_err)?;
            rows.map(|r| r.map_err(sql_err))
                .collect::<Result<Vec<_>, _>>()
        })?;
        rows.into_iter()
            .map(|(segment, off, header_len)| {
                self.bodies.read_header(RecordLocation {
                    segment,
                    offset: to_u64(off, "entries.off")?,
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
                .query_map(
                    params![to_i64(start, "entries.idx")?, to_i64(end, "entries.idx")?],
                    |r| r.get::<_, Vec<u8>>(0),
                )
                .map_err(sql_err)?;
            rows.map(|r| {
                r.map_err(sql_err)
                    .and_then(|b| hash_from(&b, "entries.leaf"))
            })
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
                .query_map(params![level, to_i64(start, "nodes.idx")?, to_i64(end, "nodes.idx")?], |r| {
                    r.get::<_, Vec<u8>>(0)
                })
                .map_err(sql_err)?;
            rows.map(|r| r.map_err(sql_err).and_then(|b| hash_from(&b, "nodes.hash")))
                .collect()
        })
    }
}
