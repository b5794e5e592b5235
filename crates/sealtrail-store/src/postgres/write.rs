//! The append path: one transaction per batch that locks the head row (how
//! nodes serialize), checks its size, copies the entries and bodies in and
//! moves the head.

use std::collections::HashMap;

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;

use crate::column::{to_i64, to_u64};
use crate::query::{count_deltas, distinct};
use crate::{Batch, StoreError};

use super::error::{Fail, Failed};
use super::pool::Conn;
use super::PgStore;

/// Locks the head row: how writers on several nodes take turns.
const LOCK_HEAD: &str = "SELECT size, root FROM head WHERE id = 1 FOR UPDATE";
// Entries and bodies go in by binary COPY: measured faster than
// `INSERT … SELECT FROM UNNEST(…)` arrays (benches/append_pg.rs, 4,000-entry
// batches: 55k vs 51k entries/s, alternating runs). The few nodes and the
// upserts use UNNEST (COPY cannot upsert).
const COPY_ENTRIES: &str = "COPY entries (idx, leaf, time, agent, session, kind, action, tool, outcome, event_id, header, scope) FROM STDIN (FORMAT binary)";
const ENTRY_TYPES: &[Type] = &[
    Type::INT8,
    Type::BYTEA,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::BYTEA,
    Type::TEXT,
];
const COPY_BODIES: &str = "COPY bodies (idx, salt, body) FROM STDIN (FORMAT binary)";
const BODY_TYPES: &[Type] = &[Type::INT8, Type::BYTEA, Type::BYTEA];
const INSERT_NODES: &str = "INSERT INTO nodes (level, idx, hash)
     SELECT * FROM UNNEST($1::int2[], $2::int8[], $3::bytea[])";
const UPSERT_STREAMS: &str = "INSERT INTO streams (key, count, last)
     SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[])
     ON CONFLICT (key) DO UPDATE SET count = excluded.count, last = excluded.last";
const UPSERT_SEQS: &str = "INSERT INTO seqs (key, last)
     SELECT * FROM UNNEST($1::text[], $2::int8[])
     ON CONFLICT (key) DO UPDATE SET last = excluded.last";
const INSERT_CLASSES: &str = "INSERT INTO entry_classes (class, idx)
     SELECT * FROM UNNEST($1::text[], $2::int8[])";
const INSERT_SUBJECTS: &str = "INSERT INTO entry_subjects (subject, idx)
     SELECT * FROM UNNEST($1::bytea[], $2::int8[])";
const UPSERT_COUNTS: &str = "INSERT INTO counts (day, agent, kind, outcome, n)
     SELECT * FROM UNNEST($1::int4[], $2::text[], $3::text[], $4::text[], $5::int8[])
     ON CONFLICT (day, agent, kind, outcome) DO UPDATE SET n = counts.n + excluded.n";
const UPDATE_HEAD: &str = "UPDATE head SET size = $1, root = $2, frontier = $3, last_time = $4, last_leaf = $5 WHERE id = 1";

/// The last value per key, in first-seen order: one upsert statement may
/// not touch a row twice, and SQLite's row-by-row upserts keep the last.
fn last_per_key<V: Copy>(items: &[(String, V)]) -> (Vec<&str>, Vec<V>) {
    let mut pos: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    let mut keys = Vec::with_capacity(items.len());
    let mut vals = Vec::with_capacity(items.len());
    for (k, v) in items {
        match pos.get(k.as_str()) {
            Some(&i) => vals[i] = *v,
            None => {
                pos.insert(k.as_str(), keys.len());
                keys.push(k.as_str());
                vals.push(*v);
            }
        }
    }
    (keys, vals)
}

impl PgStore {
    /// [`crate::LogStore::append_batch`]: one transaction, tried once more
    /// on a new connection if the first one died under it.
    pub(super) fn append(&self, batch: &Batch) -> Result<(), StoreError> {
        match self.attempt(&mut |c| Self::append_once(c, batch, false)) {
            Ok(()) => Ok(()),
            // The commit may or may not have happened before the connection
            // died; a second try on a new connection finds out (and does it
            // if it had not).
            Err(Failed { lost: true, .. }) => self
                .attempt(&mut |c| Self::append_once(c, batch, true))
                .map_err(|x| x.error),
            Err(x) => Err(x.error),
        }
        .map_err(|e| {
            let first = batch
                .entries
                .first()
                .map_or(batch.expected_size, |e| e.index);
            self.during(e, &format!("append entries {first}..{}", batch.head.size))
        })
    }

    /// One transaction: lock the head, check its size, insert, move it.
    /// With `after_loss`, a head already at this batch's size and root means
    /// an earlier attempt committed before its connection died.
    fn append_once(c: &mut Conn, batch: &Batch, after_loss: bool) -> Result<(), Fail> {
        let lock = c.stmt(LOCK_HEAD)?;
        let copy_entries = c.stmt(COPY_ENTRIES)?;
        let copy_bodies = c.stmt(COPY_BODIES)?;
        let insert_nodes = c.stmt(INSERT_NODES)?;
        let upsert_streams = c.stmt(UPSERT_STREAMS)?;
        let upsert_seqs = c.stmt(UPSERT_SEQS)?;
        let update_head = c.stmt(UPDATE_HEAD)?;
        let insert_classes = c.stmt(INSERT_CLASSES)?;
        let insert_subjects = c.stmt(INSERT_SUBJECTS)?;
        let upsert_counts = c.stmt(UPSERT_COUNTS)?;

        let mut idx = Vec::with_capacity(batch.entries.len());
        let mut time = Vec::with_capacity(batch.entries.len());
        for e in &batch.entries {
            idx.push(to_i64(e.index, "entries.idx")?);
            time.push(to_i64(e.columns.time, "entries.time")?);
        }
        let mut node_level = Vec::with_capacity(batch.nodes.len());
        let mut node_idx = Vec::with_capacity(batch.nodes.len());
        let mut node_hash = Vec::with_capacity(batch.nodes.len());
        for (level, index, hash) in &batch.nodes {
            node_level.push(i16::from(*level));
            node_idx.push(to_i64(*index, "nodes.idx")?);
            node_hash.push(&hash.0[..]);
        }
        let (stream_keys, stream_heads) = last_per_key(&batch.streams);
        let stream_count = stream_heads
            .iter()
            .map(|h| to_i64(h.count, "streams.count"))
            .collect::<Result<Vec<_>, _>>()?;
        let stream_last = stream_heads
            .iter()
            .map(|h| to_i64(h.last, "streams.last"))
            .collect::<Result<Vec<_>, _>>()?;
        let (seq_keys, seq_last) = last_per_key(&batch.seqs);
        let seq_last = seq_last
            .into_iter()
            .map(|last| to_i64(last, "seqs.last"))
            .collect::<Result<Vec<_>, _>>()?;
        let (mut class_value, mut class_idx) = (Vec::new(), Vec::new());
        let (mut subject_value, mut subject_idx) = (Vec::new(), Vec::new());
        for (e, i) in batch.entries.iter().zip(&idx) {
            for v in distinct(&e.columns.data_classes) {
                class_value.push(v);
                class_idx.push(*i);
            }
            for v in distinct(&e.columns.subjects) {
                subject_value.push(v.0.to_vec());
                subject_idx.push(*i);
            }
        }
        let deltas = count_deltas(batch.entries.iter().map(|e| &e.columns));
        let mut count_day = Vec::with_capacity(deltas.len());
        let mut count_agent = Vec::with_capacity(deltas.len());
        let mut count_kind = Vec::with_capacity(deltas.len());
        let mut count_outcome = Vec::with_capacity(deltas.len());
        let mut count_n = Vec::with_capacity(deltas.len());
        for (day, agent, kind, outcome, n) in deltas {
            count_day.push(i32::try_from(day).map_err(|_| {
                StoreError::Invalid(format!("day {day} does not fit in column counts.day"))
            })?);
            count_agent.push(agent);
            count_kind.push(kind);
            count_outcome.push(outcome);
            count_n.push(n);
        }
        let h = &batch.head;
        let frontier: Vec<u8> = h.frontier.iter().flat_map(|x| x.0).collect();
        let last_leaf = h.last_leaf.map(|l| l.0.to_vec());
        let (head_size, head_time) = (
            to_i64(h.size, "head.size")?,
            to_i64(h.last_time, "head.last_time")?,
        );

        let mut tx = c.client.transaction()?;
        let row = tx.query_one(&lock, &[])?;
        let size = to_u64(row.try_get::<_, i64>(0)?, "head.size")?;
        if size != batch.expected_size {
            if after_loss && size == batch.head.size {
                let root: &[u8] = row.try_get(1)?;
                if root == &batch.head.root.0[..] {
                    return Ok(());
                }
            }
            return Err(Fail::Store(StoreError::Conflict {
                expected: batch.expected_size,
                found: size,
            }));
        }
        if !batch.entries.is_empty() {
            let mut w = BinaryCopyInWriter::new(tx.copy_in(&copy_entries)?, ENTRY_TYPES);
            for (e, (i, t)) in batch.entries.iter().zip(idx.iter().zip(&time)) {
                let col = &e.columns;
                w.write(&[
                    i,
                    &&e.leaf_hash.0[..],
                    t,
                    &col.agent,
                    &col.session,
                    &col.kind,
                    &col.action,
                    &col.tool,
                    &col.outcome,
                    &col.event_id,
                    &e.header,
                    &col.scope,
                ])?;
            }
            w.finish()?;
            let mut w = BinaryCopyInWriter::new(tx.copy_in(&copy_bodies)?, BODY_TYPES);
            for (e, i) in batch.entries.iter().zip(&idx) {
                w.write(&[i, &&e.salt[..], &e.body])?;
            }
            w.finish()?;
        }
        if !class_idx.is_empty() {
            tx.execute(&insert_classes, &[&class_value, &class_idx])?;
        }
        if !subject_idx.is_empty() {
            tx.execute(&insert_subjects, &[&subject_value, &subject_idx])?;
        }
        if !count_n.is_empty() {
            tx.execute(
                &upsert_counts,
                &[
                    &count_day,
                    &count_agent,
                    &count_kind,
                    &count_outcome,
                    &count_n,
                ],
            )?;
        }
        if !node_idx.is_empty() {
            tx.execute(&insert_nodes, &[&node_level, &node_idx, &node_hash])?;
        }
        if !stream_keys.is_empty() {
            tx.execute(
                &upsert_streams,
                &[&stream_keys, &stream_count, &stream_last],
            )?;
        }
        if !seq_keys.is_empty() {
            tx.execute(&upsert_seqs, &[&seq_keys, &seq_last])?;
        }
        tx.execute(
            &update_head,
            &[
                &head_size,
                &&h.root.0[..],
                &frontier,
                &head_time,
                &last_leaf,
            ],
        )?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_values_win_per_key() {
        let items = vec![("a".to_string(), 1u64), ("b".into(), 2), ("a".into(), 3)];
        let (k, v) = last_per_key(&items);
        assert_eq!(k, ["a", "b"]);
        assert_eq!(v, [3, 2]);
    }
}
