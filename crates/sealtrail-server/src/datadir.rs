//! The data directory: the log signing key (C2SP private key, mode 0600,
//! unless the key is external: crate::signing), the signing-key history, the
//! store, and the owner API key (stored hashed; shown once).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sealtrail_core::note::{Ed25519Signer, NoteSigner};
use std::sync::Arc;

use sealtrail_store::postgres::{PgOptions, PgStore};
use sealtrail_store::sqlite::SqliteStore;
use sealtrail_store::Store;
use serde::Serialize;

use crate::signing::{self, KeySource, SigningOptions};

pub const KEY_FILE: &str = signing::KEY_FILE;

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
    init_with(data, origin, backend, &SigningOptions::default())
}

/// [`init`] with the signing key where `signing` says. With an external key
/// (`--signing-key PATH`, `--signer-command CMD`) no private key is written
/// to the data directory; a `--signing-key` file that does not exist yet is
/// created there with a new key. The history (`signing-keys.json`) is then
/// what marks the directory initialised.
pub fn init_with(
    data: &Path,
    origin: Option<&str>,
    backend: &Backend,
    signing: &SigningOptions,
) -> Result<InitOutput> {
    init_impl(data, origin, backend, signing, true)
}

/// [`init_with`] for a project's log: keys and people live in the default
/// project's store, so no owner key is made.
pub fn init_log(
    data: &Path,
    origin: Option<&str>,
    backend: &Backend,
    signing: &SigningOptions,
) -> Result<InitOutput> {
    init_impl(data, origin, backend, signing, false)
}

fn init_impl(
    data: &Path,
    origin: Option<&str>,
    backend: &Backend,
    signing: &SigningOptions,
    with_owner: bool,
) -> Result<InitOutput> {
    std::fs::create_dir_all(data)
        .with_context(|| format!("cannot create data directory {}", data.display()))?;
    let source = signing.source()?;
    if let Some(h) = signing::read_history(data)? {
        if let Some(o) = origin.filter(|o| *o != h.origin) {
            bail!(
                "{} is already initialised with origin {:?}; it cannot be changed to {o:?}",
                data.display(),
                h.origin
            );
        }
        return Ok(InitOutput {
            vkey: h.primary().map(|p| p.vkey.clone()).unwrap_or_default(),
            origin: h.origin,
            owner_api_key: None,
            created: false,
            data: data.to_path_buf(),
        });
    }
    let path = key_path(data);
    if source != KeySource::DataDir && !path.exists() {
        return init_external(data, origin, backend, signing, source, with_owner);
    }
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
    let signer = signing::generate(&origin)?;

    let store = open_store(data, backend)?;
    if backend.is_shared() {
        let head = store.head()?;
        if head.size > 0 || store.latest_checkpoint()?.is_some() {
            bail!(
                "the database already holds a log of {} entries; this node needs that log's key: copy log.key (and signing-keys.json) from a node of it into {}",
                head.size,
                data.display()
            );
        }
    }
    let owner = if with_owner {
        Some(create_owner_key(store.as_ref())?)
    } else {
        None
    };

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
        owner_api_key: owner,
        created: true,
        data: data.to_path_buf(),
    })
}

fn create_owner_key(store: &dyn Store) -> Result<String> {
    crate::access::bootstrap_owner(store)
}

/// `init` of a log whose key is external: store, owner key, then the key
/// history (written last: its presence means the directory is complete).
/// A node joining a shared log whose checkpoints verify with the external
/// key gets the history but no new owner key.
fn init_external(
    data: &Path,
    origin: Option<&str>,
    backend: &Backend,
    signing: &SigningOptions,
    source: KeySource,
    with_owner: bool,
) -> Result<InitOutput> {
    let (origin, vkey) = signing::external_key_for_init(signing, origin, default_origin)?;
    let store = open_store(data, backend)?;
    let mut owner = None;
    let mut joined = false;
    if backend.is_shared() {
        let head = store.head()?;
        if let Some(cp) = store.latest_checkpoint()? {
            let verifier = sealtrail_core::note::Ed25519Verifier::from_vkey(&vkey)
                .map_err(|e| anyhow::anyhow!("{vkey:?}: {e}"))?;
            sealtrail_core::checkpoint::SignedCheckpoint::open(&cp.note, &[&verifier]).map_err(|e| {
                anyhow::anyhow!(
                    "the database already holds a log whose latest checkpoint does not verify with the signing key {vkey} ({e}); this node needs that log's key, and signing-keys.json from a node of it in {}",
                    data.display()
                )
            })?;
            joined = true;
        } else if head.size > 0 {
            bail!(
                "the database already holds a log of {} entries and no checkpoint; start the first node of it again before adding this one",
                head.size
            );
        } else {
            owner = with_owner
                .then(|| create_owner_key(store.as_ref()))
                .transpose()?;
        }
    } else {
        owner = with_owner
            .then(|| create_owner_key(store.as_ref()))
            .transpose()?;
    }
    // A node joining a shared log created nothing; a project's new log did.
    let created = !joined;
    signing::write_initial_history(data, &origin, &vkey, source, crate::clock::now_micros())?;
    Ok(InitOutput {
        origin,
        vkey,
        owner_api_key: owner,
        created,
        data: data.to_path_buf(),
    })
}
