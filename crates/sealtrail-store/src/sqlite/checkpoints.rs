//! Signed checkpoints (table `checkpoints`).

use rusqlite::{params, OptionalExtension};

use crate::column::{to_i64, to_u64};
use crate::{CheckpointStore, StoreError, StoredCheckpoint};

use super::{sql_err, SqliteStore};

impl CheckpointStore for SqliteStore {
    fn put_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), StoreError> {
        self.write_one(
            "store a checkpoint (table checkpoints)",
            "INSERT INTO checkpoints (size, note, time) VALUES (?1, ?2, ?3)",
            params![
                to_i64(cp.size, "checkpoints.size")?,
                &cp.note,
                to_i64(cp.time, "checkpoints.time")?
            ],
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
                params![to_i64(size, "checkpoints.size")?],
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

    fn checkpoints_before(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        // No size reaches i64::MAX: a larger bound means "all".
        let before = i64::try_from(before.unwrap_or(u64::MAX)).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read("read the checkpoints (table checkpoints)", |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT size, note, time FROM checkpoints WHERE size < ?1 ORDER BY size DESC LIMIT ?2",
                )
                .map_err(sql_err)?;
            let rows = stmt
                .query_map(params![before, limit], checkpoint_row)
                .map_err(sql_err)?;
            rows.map(|r| r.map_err(sql_err).and_then(checkpoint_from))
                .collect()
        })
    }
}

type CheckpointRow = (i64, Vec<u8>, i64);

fn checkpoint_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CheckpointRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

fn checkpoint_from((size, note, time): CheckpointRow) -> Result<StoredCheckpoint, StoreError> {
    Ok(StoredCheckpoint {
        size: to_u64(size, "checkpoints.size")?,
        note,
        time: to_u64(time, "checkpoints.time")?,
    })
}
