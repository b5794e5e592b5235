//! API keys (table `api_keys`) and access-control records (table `access`).

use rusqlite::{params, OptionalExtension};
use sealtrail_core::hash::Hash;

use crate::column::{hash_from, to_i64, to_u64};
use crate::{AccessRecords, ApiKeyRecord, StoreError};

use super::{sql_err, SqliteStore};

impl AccessRecords for SqliteStore {
    fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.write_one(
            "store an API key (table api_keys)",
            "INSERT INTO api_keys (key_hash, name, role, created) VALUES (?1, ?2, ?3, ?4)",
            params![
                &key.key_hash.0[..],
                key.name,
                key.role,
                to_i64(key.created, "api_keys.created")?
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
                    created: to_u64(created, "api_keys.created")?,
                })
            })
            .transpose()
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
                    key_hash: hash_from(&hash, "api_keys.key_hash")?,
                    name,
                    role,
                    created: to_u64(created, "api_keys.created")?,
                })
            })
            .collect()
        })
    }

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

    fn delete_access(&self, kind: &str, id: &str) -> Result<bool, StoreError> {
        self.write_one(
            "delete an access record (table access)",
            "DELETE FROM access WHERE kind = ?1 AND id = ?2",
            params![kind, id],
        )
        .map(|n| n == 1)
    }
}
