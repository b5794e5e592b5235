//! API keys (table `api_keys`) and access-control records (table `access`).

use postgres::error::SqlState;
use postgres::types::ToSql;
use sealtrail_core::hash::Hash;

use crate::column::{hash_from, to_i64, to_u64};
use crate::{AccessRecords, ApiKeyRecord, StoreError};

use super::error::Fail;
use super::PgStore;

impl AccessRecords for PgStore {
    fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let created = to_i64(key.created, "api_keys.created")?;
        let mut repeated = false;
        self.run("store an API key (table api_keys)", |c| {
            let insert = c.stmt(
                "INSERT INTO api_keys (key_hash, name, role, created) VALUES ($1, $2, $3, $4)",
            )?;
            let params: [&(dyn ToSql + Sync); 4] =
                [&&key.key_hash.0[..], &key.name, &key.role, &created];
            match c.client.execute(&insert, &params) {
                Ok(_) => Ok(()),
                // As for checkpoints: the first try may have committed.
                Err(e) if repeated && e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    let stmt = c.stmt(
                        "SELECT count(*) FROM api_keys WHERE key_hash = $1 AND name = $2 AND role = $3 AND created = $4",
                    )?;
                    let same: i64 = c.client.query_one(&stmt, &params)?.try_get(0)?;
                    if same == 1 {
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

    fn api_key(&self, key_hash: &Hash) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.run("read an API key (table api_keys)", |c| {
            let stmt = c.stmt("SELECT name, role, created FROM api_keys WHERE key_hash = $1")?;
            match c.client.query_opt(&stmt, &[&&key_hash.0[..]])? {
                Some(r) => Ok(Some(ApiKeyRecord {
                    key_hash: *key_hash,
                    name: r.try_get(0)?,
                    role: r.try_get(1)?,
                    created: to_u64(r.try_get(2)?, "api_keys.created")?,
                })),
                None => Ok(None),
            }
        })
    }

    fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.run("read the API keys (table api_keys)", |c| {
            let stmt = c.stmt(
                "SELECT key_hash, name, role, created FROM api_keys ORDER BY created, name",
            )?;
            let rows = c.client.query(&stmt, &[])?;
            rows.iter()
                .map(|r| {
                    let hash: Vec<u8> = r.try_get(0)?;
                    Ok(ApiKeyRecord {
                        key_hash: hash_from(&hash, "api_keys.key_hash").map_err(Fail::Store)?,
                        name: r.try_get(1)?,
                        role: r.try_get(2)?,
                        created: to_u64(r.try_get(3)?, "api_keys.created").map_err(Fail::Store)?,
                    })
                })
                .collect()
        })
    }

    fn put_access(&self, kind: &str, id: &str, record: &[u8]) -> Result<(), StoreError> {
        // An upsert: repeating it after a lost connection is harmless.
        self.run("store an access record (table access)", |c| {
            let stmt = c.stmt(
                "INSERT INTO access (kind, id, record) VALUES ($1, $2, $3)
                 ON CONFLICT (kind, id) DO UPDATE SET record = EXCLUDED.record",
            )?;
            c.client.execute(&stmt, &[&kind, &id, &record])?;
            Ok(())
        })
    }

    fn put_access_if(
        &self,
        kind: &str,
        id: &str,
        expected: Option<&[u8]>,
        record: &[u8],
    ) -> Result<bool, StoreError> {
        let mut tries = 0;
        self.run("store an access record (table access)", |c| {
            tries += 1;
            // One statement each way: under READ COMMITTED an UPDATE
            // re-checks its WHERE on the newest row version, so this is a
            // true compare-and-set between nodes.
            let changed = match expected {
                None => {
                    let stmt = c.stmt(
                        "INSERT INTO access (kind, id, record) VALUES ($1, $2, $3)
                         ON CONFLICT (kind, id) DO NOTHING",
                    )?;
                    c.client.execute(&stmt, &[&kind, &id, &record])?
                }
                Some(old) => {
                    let stmt = c.stmt(
                        "UPDATE access SET record = $3 WHERE kind = $1 AND id = $2 AND record = $4",
                    )?;
                    c.client.execute(&stmt, &[&kind, &id, &record, &old])?
                }
            };
            if changed == 1 {
                return Ok(true);
            }
            // A repeat after a lost connection that finds exactly this
            // record means the first try committed.
            if tries > 1 {
                let stmt = c.stmt("SELECT record FROM access WHERE kind = $1 AND id = $2")?;
                if let Some(r) = c.client.query_opt(&stmt, &[&kind, &id])? {
                    let now: Vec<u8> = r.try_get(0)?;
                    return Ok(now == record);
                }
            }
            Ok(false)
        })
    }

    fn access(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.run("read an access record (table access)", |c| {
            let stmt = c.stmt("SELECT record FROM access WHERE kind = $1 AND id = $2")?;
            match c.client.query_opt(&stmt, &[&kind, &id])? {
                Some(r) => Ok(Some(r.try_get(0)?)),
                None => Ok(None),
            }
        })
    }

    fn access_all(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.run("read the access records (table access)", |c| {
            let stmt = c.stmt("SELECT id, record FROM access WHERE kind = $1 ORDER BY id")?;
            let rows = c.client.query(&stmt, &[&kind])?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect()
        })
    }

    fn delete_access(&self, kind: &str, id: &str) -> Result<bool, StoreError> {
        // Repeating it after a lost connection finds nothing: still done.
        self.run("delete an access record (table access)", |c| {
            let stmt = c.stmt("DELETE FROM access WHERE kind = $1 AND id = $2")?;
            Ok(c.client.execute(&stmt, &[&kind, &id])? == 1)
        })
    }
}
