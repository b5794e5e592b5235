//! The data directory: the log signing key (C2SP private key, mode 0600),
//! the store, and the owner API key (stored hashed; shown once).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sealtrail_core::note::{Ed25519Signer, NoteSigner};
use std::sync::Arc;

use sealtrail_store::postgres::{PgOptions, PgStore};
use sealtrail_store::sqlite::SqliteStore;
use sealtrail_store::{ApiKeyRecord, Store};
use serde::Serialize;

use crate::auth::{generate_key, key_hash};

pub const KEY_FILE: &str = "log.key";

/// What `init` reports.
#[derive(Debug, Clone, Serialize)]
pub struct InitOutput {
    pub origin: String,
    pub vkey: String,
    /// Present only when this call created the key (it is never shown again).
    pub owner_api_key: Option<String>,
    #[serde(skip)]
    pub created: bool,
    #[serde(skip)]
    pub data: PathBuf,
}

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
pub fn open_store(data: &Path, backend: &Backend) -> Result<Arc<dyn Store>> {
    Ok(match backend {
        Backend::Embedded => Arc::new(
            SqliteStore::open(data)
                .with_context(|| format!("cannot open the store in {}", data.display()))?,
        ),
        Backend::Postgres { url, schema } => Arc::new(
            PgStore::connect(
                url,
                PgOptions {
                    schema: schema.clone(),
                    ..PgOptions::default()
                },
            )
            .with_context(|| format!("cannot open the PostgreSQL store (schema {schema})"))?,
        ),
    })
}

fn key_path(data: &Path) -> PathBuf {
    data.join(KEY_FILE)
}

/// Loads the log signer from the data directory.
pub fn load_signer(data: &Path) -> Result<Ed25519Signer> {
    let path = key_path(data);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the log key {}", path.display()))?;
    Ed25519Signer::from_skey(text.trim())
        .with_context(|| format!("{} is not a valid C2SP private key", path.display()))
}

/// A default origin that is unique to this log.
fn default_origin() -> Result<String> {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(format!("sealtrail.local/log-{}", hex::encode(b)))
}

/// Creates the data directory, signing key, store and owner key; a second
/// call on an initialised directory only reports the origin and vkey.
pub fn init(data: &Path, origin: Option<&str>, backend: &Backend) -> Result<InitOutput> {
    std::fs::create_dir_all(data)
        .with_context(|| format!("cannot create data directory {}", data.display()))?;
    let path = key_path(data);
    if path.exists() {
        let signer = load_signer(data)?;
        if let Some(o) = origin {
            if o != signer.name() {
                bail!(
                    "{} is already initialised with origin {:?}; it cannot be changed to {o:?}",
                    data.display(),
                    signer.name()
                );
            }
        }
        return Ok(InitOutput {
            origin: signer.name().to_string(),
            vkey: signer.vkey(),
            owner_api_key: None,
            created: false,
            data: data.to_path_buf(),
        });
    }
    let origin = match origin {
        Some(o) => o.to_string(),
        None => default_origin()?,
    };
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let signer = Ed25519Signer::from_seed(&origin, seed)
        .with_context(|| format!("{origin:?} cannot be a log origin"))?;
    seed.fill(0);

    let store = open_store(data, backend)?;
    if backend.is_shared() {
        let head = store.head()?;
        if head.size > 0 || store.latest_checkpoint()?.is_some() {
            bail!(
                "the database already holds a log of {} entries; this node needs that log's key: copy log.key from a node of it into {}",
                head.size,
                data.display()
            );
        }
    }
    let owner = generate_key().map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    store
        .put_api_key(&ApiKeyRecord {
            key_hash: key_hash(&owner),
            name: "owner".into(),
            role: "owner".into(),
            created: crate::clock::now_micros(),
        })
        .context("cannot store the owner key")?;

    // Written last: its presence means the directory is complete.
    let tmp = data.join(format!("{KEY_FILE}.tmp"));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(signer.to_skey().as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    sealtrail_store::segment::sync_dir(data).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(InitOutput {
        origin,
        vkey: signer.vkey(),
        owner_api_key: Some(owner),
        created: true,
        data: data.to_path_buf(),
    })
}
