//! Where a log's entries live, and opening its store.

use std::path::Path;
use std::sync::Arc;

use sealtrail_store::postgres::{PgOptions, PgStore};
use sealtrail_store::sqlite::SqliteStore;
use sealtrail_store::Store;

use crate::error::KeysError;

/// Where the log's entries live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// SQLite and segment files in the data directory (one node).
    Embedded,
    /// A PostgreSQL database, possibly shared by several nodes; the data
    /// directory then only holds the signing key.
    Postgres { url: String, schema: String },
}

impl Backend {
    /// Several nodes may write the same log.
    pub fn is_shared(&self) -> bool {
        matches!(self, Backend::Postgres { .. })
    }
}

/// Opens the store of a log.
pub fn open_store(data: &Path, backend: &Backend) -> Result<Arc<dyn Store>, KeysError> {
    Ok(match backend {
        Backend::Embedded => {
            Arc::new(
                SqliteStore::open(data).map_err(|cause| KeysError::OpenStore {
                    data: data.to_path_buf(),
                    cause,
                })?,
            )
        }
        Backend::Postgres { url, schema } => Arc::new(
            PgStore::connect(
                url,
                PgOptions {
                    schema: schema.clone(),
                    ..PgOptions::default()
                },
            )
            .map_err(|cause| KeysError::OpenPgStore {
                schema: schema.clone(),
                cause,
            })?,
        ),
    })
}
