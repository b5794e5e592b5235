//! Reads of the log: head, entries and bodies, tree nodes, stream heads
//! and event ids.

use sealtrail_core::hash::{Hash, HASH_LEN};

use crate::column::{frontier_length, hash_from, to_i64, to_u64};
use crate::{Batch, LogHead, LogStore, Receipt, StoreError, StoredEntry, StreamHead};

use super::error::Fail;
use super::{end_i64, PgStore};

/// Keys per lookup statement: bounds one statement's size (PostgreSQL has
/// no parameter limit here; the keys go as one array).
const LOOKUP_CHUNK: usize = 10_000;

impl PgStore {
    /// Runs `sql` (with one `$1::text[]` parameter) for `keys` in chunks,
    /// reading each row with `row`.
    fn lookup<T>(
        &self,
        what: &str,
        sql: &'static str,
        keys: &[&str],
        row: impl Fn(&postgres::Row) -> Result<T, Fail>,
    ) -> Result<Vec<T>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.run(what, |c| {
            let stmt = c.stmt(sql)?;
            let mut out = Vec::new();
            for chunk in keys.chunks(LOOKUP_CHUNK) {
                for r in c.client.query(&stmt, &[&chunk])? {
                    out.push(row(&r)?);
                }
            }
            Ok(out)
        })
    }
}

impl LogStore for PgStore {
    fn head(&self) -> Result<LogHead, StoreError> {
        self.run("read the log head (table head)", |c| {
            let stmt =
                c.stmt("SELECT size, root, frontier, last_time, last_leaf FROM head WHERE id = 1")?;
            let row = c.client.query_one(&stmt, &[])?;
            let frontier: &[u8] = row.try_get(2)?;
            if frontier.len() % HASH_LEN != 0 {
                return Err(frontier_length(frontier.len()).into());
            }
            let last_leaf: Option<&[u8]> = row.try_get(4)?;
            Ok(LogHead {
                size: to_u64(row.try_get(0)?, "head.size")?,
                root: hash_from(row.try_get(1)?, "head.root")?,
                frontier: frontier
                    .chunks_exact(HASH_LEN)
                    .filter_map(Hash::from_slice)
                    .collect(),
                last_time: to_u64(row.try_get(3)?, "head.last_time")?,
                last_leaf: last_leaf
                    .map(|l| hash_from(l, "head.last_leaf"))
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
            "SELECT event_id, idx, leaf, time FROM entries WHERE event_id = ANY($1::text[])",
            ids,
            |r| {
                Ok((
                    r.try_get::<_, String>(0)?,
                    Receipt {
                        index: to_u64(r.try_get(1)?, "entries.idx")?,
                        leaf_hash: hash_from(r.try_get(2)?, "entries.leaf")?,
                        time: to_u64(r.try_get(3)?, "entries.time")?,
                    },
                ))
            },
        )
    }

    fn event_ids(&self, start: u64, end: u64) -> Result<Vec<String>, StoreError> {
        let (start, end) = (to_i64(start, "entries.idx")?, to_i64(end, "entries.idx")?);
        self.run("read event ids (table entries)", |c| {
            let stmt = c.stmt(
                "SELECT event_id FROM entries WHERE idx >= $1 AND idx < $2 AND event_id IS NOT NULL",
            )?;
            let rows = c.client.query(&stmt, &[&start, &end])?;
            rows.iter().map(|r| Ok(r.try_get::<_, String>(0)?)).collect()
        })
    }

    fn stream_heads(&self, keys: &[&str]) -> Result<Vec<(String, StreamHead)>, StoreError> {
        self.lookup(
            "read stream heads (table streams)",
            "SELECT key, count, last FROM streams WHERE key = ANY($1::text[])",
            keys,
            |r| {
                Ok((
                    r.try_get::<_, String>(0)?,
                    StreamHead {
                        count: to_u64(r.try_get(1)?, "streams.count")?,
                        last: to_u64(r.try_get(2)?, "streams.last")?,
                    },
                ))
            },
        )
    }

    fn last_seqs(&self, keys: &[&str]) -> Result<Vec<(String, u64)>, StoreError> {
        self.lookup(
            "read sequence numbers (table seqs)",
            "SELECT key, last FROM seqs WHERE key = ANY($1::text[])",
            keys,
            |r| {
                Ok((
                    r.try_get::<_, String>(0)?,
                    to_u64(r.try_get(1)?, "seqs.last")?,
                ))
            },
        )
    }

    fn all_stream_heads(&self) -> Result<(u64, Vec<(String, StreamHead)>), StoreError> {
        self.run("read the stream heads (table streams)", |c| {
            let size = c.stmt("SELECT size FROM head WHERE id = 1")?;
            let streams = c.stmt("SELECT key, count, last FROM streams ORDER BY key")?;
            // One snapshot: the head and the streams a batch moves together.
            let mut tx = c
                .client
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let size = to_u64(tx.query_one(&size, &[])?.try_get(0)?, "head.size")?;
            let mut heads = Vec::new();
            for r in tx.query(&streams, &[])? {
                heads.push((
                    r.try_get::<_, String>(0)?,
                    StreamHead {
                        count: to_u64(r.try_get(1)?, "streams.count")?,
                        last: to_u64(r.try_get(2)?, "streams.last")?,
                    },
                ));
            }
            tx.commit()?;
            Ok((size, heads))
        })
    }

    fn stream_members(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<(u64, String, Option<String>)>, StoreError> {
        let (start, end) = (end_i64(start), end_i64(end));
        self.run("read the stream members of entries (table entries)", |c| {
            let stmt = c.stmt(
                "SELECT idx, agent, session FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
            )?;
            c.client
                .query(&stmt, &[&start, &end])?
                .iter()
                .map(|r| {
                    Ok((
                        to_u64(r.try_get(0)?, "entries.idx")?,
                        r.try_get(1)?,
                        r.try_get(2)?,
                    ))
                })
                .collect()
        })
    }

    fn entry(&self, index: u64) -> Result<Option<StoredEntry>, StoreError> {
        Ok(self.entries(index, index.saturating_add(1))?.pop())
    }

    fn entries(&self, start: u64, end: u64) -> Result<Vec<StoredEntry>, StoreError> {
        let (start, end) = (end_i64(start), end_i64(end));
        self.run("read entries (tables entries, bodies)", |c| {
            let stmt = c.stmt(
                "SELECT e.idx, e.leaf, e.header, b.salt, b.body
                 FROM entries e LEFT JOIN bodies b ON b.idx = e.idx
                 WHERE e.idx >= $1 AND e.idx < $2 ORDER BY e.idx",
            )?;
            let rows = c.client.query(&stmt, &[&start, &end])?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let index = to_u64(r.try_get(0)?, "entries.idx")?;
                let (salt, body) = salt_and_body(index, r.try_get(3)?, r.try_get(4)?)?;
                out.push(StoredEntry {
                    index,
                    leaf_hash: hash_from(r.try_get(1)?, "entries.leaf")?,
                    header: r.try_get(2)?,
                    body,
                    salt,
                });
            }
            Ok(out)
        })
    }

    fn entry_headers(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let (start, end) = (end_i64(start), end_i64(end));
        self.run("read entry headers (table entries)", |c| {
            let stmt =
                c.stmt("SELECT header FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx")?;
            c.client
                .query(&stmt, &[&start, &end])?
                .iter()
                .map(|r| r.try_get(0).map_err(Fail::from))
                .collect()
        })
    }

    fn leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<Hash>, StoreError> {
        let (start, end) = (end_i64(start), end_i64(end));
        self.run("read leaf hashes (table entries)", |c| {
            let stmt =
                c.stmt("SELECT leaf FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx")?;
            c.client
                .query(&stmt, &[&start, &end])?
                .iter()
                .map(|r| Ok(hash_from(r.try_get(0)?, "entries.leaf")?))
                .collect()
        })
    }

    fn nodes(&self, level: u8, start: u64, end: u64) -> Result<Vec<Hash>, StoreError> {
        let (start, end) = (end_i64(start), end_i64(end));
        let level = i16::from(level);
        self.run("read tree nodes (table nodes)", |c| {
            let stmt = c.stmt(
                "SELECT hash FROM nodes WHERE level = $1 AND idx >= $2 AND idx < $3 ORDER BY idx",
            )?;
            c.client
                .query(&stmt, &[&level, &start, &end])?
                .iter()
                .map(|r| Ok(hash_from(r.try_get(0)?, "nodes.hash")?))
                .collect()
        })
    }
}

/// An entry's salt and body: both, or neither once erased.
pub(super) type SaltAndBody = (Option<[u8; 32]>, Option<Vec<u8>>);

/// An entry's salt and body as read from the `bodies` join: both or neither.
pub(super) fn salt_and_body(
    index: u64,
    salt: Option<&[u8]>,
    body: Option<Vec<u8>>,
) -> Result<SaltAndBody, StoreError> {
    match (salt, body) {
        (Some(s), Some(b)) => {
            let s: [u8; 32] = s.try_into().map_err(|_| {
                StoreError::Corrupt(format!(
                    "table bodies: the salt of entry {index} is {} bytes, not 32",
                    s.len()
                ))
            })?;
            Ok((Some(s), Some(b)))
        }
        // Erased (or never stored): the header stays provable.
        _ => Ok((None, None)),
    }
}
