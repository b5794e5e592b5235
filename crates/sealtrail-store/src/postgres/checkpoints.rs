//! Signed checkpoints (table `checkpoints`).

use postgres::error::SqlState;

use crate::column::{to_i64, to_u64};
use crate::{CheckpointStore, StoreError, StoredCheckpoint};

use super::PgStore;

type CheckpointRow = (i64, Vec<u8>, i64);

fn checkpoint_from((size, note, time): CheckpointRow) -> Result<StoredCheckpoint, StoreError> {
    Ok(StoredCheckpoint {
        size: to_u64(size, "checkpoints.size")?,
        note,
        time: to_u64(time, "checkpoints.time")?,
    })
}

fn checkpoint_row(r: &postgres::Row) -> Result<CheckpointRow, postgres::Error> {
    Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
}

impl CheckpointStore for PgStore {
    fn put_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), StoreError> {
        let (size, time) = (
            to_i64(cp.size, "checkpoints.size")?,
            to_i64(cp.time, "checkpoints.time")?,
        );
        let mut repeated = false;
        self.run("store a checkpoint (table checkpoints)", |c| {
            let insert =
                c.stmt("INSERT INTO checkpoints (size, note, time) VALUES ($1, $2, $3)")?;
            match c.client.execute(&insert, &[&size, &cp.note, &time]) {
                Ok(_) => Ok(()),
                // A repeat after a lost connection finding exactly this
                // checkpoint means the first try committed.
                Err(e) if repeated && e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    let stmt =
                        c.stmt("SELECT size, note, time FROM checkpoints WHERE size = $1")?;
                    let row = c.client.query_one(&stmt, &[&size])?;
                    if checkpoint_from(checkpoint_row(&row)?)? == *cp {
                        Ok(())
                    } else {
                        Err(e.into())
                    }
                }
                Err(e) => {
                    repeated = true;
                    Err(e.into())
                }
            }
        })
    }

    fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.run("read the latest checkpoint (table checkpoints)", |c| {
            let stmt =
                c.stmt("SELECT size, note, time FROM checkpoints ORDER BY size DESC LIMIT 1")?;
            match c.client.query_opt(&stmt, &[])? {
                Some(r) => Ok(Some(checkpoint_from(checkpoint_row(&r)?)?)),
                None => Ok(None),
            }
        })
    }

    fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        let size = to_i64(size, "checkpoints.size")?;
        self.run("read a checkpoint (table checkpoints)", |c| {
            let stmt = c.stmt("SELECT size, note, time FROM checkpoints WHERE size = $1")?;
            match c.client.query_opt(&stmt, &[&size])? {
                Some(r) => Ok(Some(checkpoint_from(checkpoint_row(&r)?)?)),
                None => Ok(None),
            }
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
        self.run("read the checkpoints (table checkpoints)", |c| {
            let stmt = c.stmt(
                "SELECT size, note, time FROM checkpoints WHERE size < $1 ORDER BY size DESC LIMIT $2",
            )?;
            c.client
                .query(&stmt, &[&before, &limit])?
                .iter()
                .map(|r| Ok(checkpoint_from(checkpoint_row(r)?)?))
                .collect()
        })
    }

    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        self.run("read the checkpoints (table checkpoints)", |c| {
            let stmt = c.stmt("SELECT size, note, time FROM checkpoints ORDER BY size")?;
            c.client
                .query(&stmt, &[])?
                .iter()
                .map(|r| Ok(checkpoint_from(checkpoint_row(r)?)?))
                .collect()
        })
    }
}
