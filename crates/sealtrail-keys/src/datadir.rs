//! The data directory of a log: its signing key (C2SP private key, mode
//! 0600, unless the key is external), the key history, the store, and the
//! owner API key (made by the caller's maker, since access records are the
//! server's; stored hashed, shown once).

use std::path::{Path, PathBuf};

use sealtrail_core::checkpoint::SignedCheckpoint;
use sealtrail_core::note::{Ed25519Signer, Ed25519Verifier, NoteSigner};
use sealtrail_store::Store;
use serde::Serialize;

use crate::backend::{open_store, Backend};
use crate::error::{BoxError, KeysError};
use crate::external::external_key_for_init;
use crate::history::{read_history, write_initial_history};
use crate::key::generate;
use crate::keyfile::{read_skey, write_skey};
use crate::layout::KEY_FILE;
use crate::options::SigningOptions;
use crate::roles::KeySource;

/// Makes the owner API key in a new log's store and returns its secret
/// (shown once).
pub type OwnerKeyMaker<'a> = &'a dyn Fn(&dyn Store) -> Result<String, BoxError>;

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

/// Loads the log signer from the data directory (`DATA/log.key`).
pub fn load_signer(data: &Path) -> Result<Ed25519Signer, KeysError> {
    read_skey(&data.join(KEY_FILE))
}

/// A default origin that is unique to this log.
fn default_origin() -> Result<String, KeysError> {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).map_err(|e| KeysError::NoRandomness(e.to_string()))?;
    Ok(format!("sealtrail.local/log-{}", hex::encode(b)))
}

/// Creates the data directory, signing key, store and owner key (made by
/// `owner`); a second call on an initialised directory only reports the
/// origin and vkey. The signing key is where `signing` says: with an
/// external key (`--signing-key PATH`, `--signer-command CMD`) no private
/// key is written to the data directory; a `--signing-key` file that does
/// not exist yet is created there with a new key. The history
/// (`signing-keys.json`) is then what marks the directory initialised.
pub fn init(
    data: &Path,
    origin: Option<&str>,
    backend: &Backend,
    signing: &SigningOptions,
    owner: OwnerKeyMaker<'_>,
) -> Result<InitOutput, KeysError> {
    init_impl(data, origin, backend, signing, Some(owner))
}

/// [`init`] for a project's log: keys and people live in the default
/// project's store, so no owner key is made.
pub fn init_log(
    data: &Path,
    origin: Option<&str>,
    backend: &Backend,
    signing: &SigningOptions,
) -> Result<InitOutput, KeysError> {
    init_impl(data, origin, backend, signing, None)
}

fn init_impl(
    data: &Path,
    origin: Option<&str>,
    backend: &Backend,
    signing: &SigningOptions,
    owner: Option<OwnerKeyMaker<'_>>,
) -> Result<InitOutput, KeysError> {
    std::fs::create_dir_all(data).map_err(|cause| KeysError::CreateDir {
        dir: data.to_path_buf(),
        cause,
    })?;
    let source = signing.source()?;
    if let Some(h) = read_history(data)? {
        if let Some(o) = origin.filter(|o| *o != h.origin) {
            return Err(KeysError::OriginFixed {
                data: data.to_path_buf(),
                origin: h.origin,
                requested: o.to_owned(),
            });
        }
        return Ok(InitOutput {
            vkey: h.primary().map(|p| p.vkey.clone()).unwrap_or_default(),
            origin: h.origin,
            owner_api_key: None,
            created: false,
            data: data.to_path_buf(),
        });
    }
    let path = data.join(KEY_FILE);
    if source != KeySource::DataDir && !path.exists() {
        return init_external(data, origin, backend, signing, source, owner);
    }
    if path.exists() {
        let signer = load_signer(data)?;
        if let Some(o) = origin.filter(|o| *o != signer.name()) {
            return Err(KeysError::OriginFixed {
                data: data.to_path_buf(),
                origin: signer.name().to_owned(),
                requested: o.to_owned(),
            });
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
    let signer = generate(&origin)?;

    let store = open_store(data, backend)?;
    if backend.is_shared() {
        let head = store.head()?;
        if head.size > 0 || store.latest_checkpoint()?.is_some() {
            return Err(KeysError::SharedLogNeedsKey {
                entries: head.size,
                data: data.to_path_buf(),
            });
        }
    }
    let owner = make_owner(owner, store.as_ref())?;

    // Written last: its presence means the directory is complete.
    write_skey(data, KEY_FILE, &signer)?;
    Ok(InitOutput {
        origin,
        vkey: signer.vkey(),
        owner_api_key: owner,
        created: true,
        data: data.to_path_buf(),
    })
}

fn make_owner(
    owner: Option<OwnerKeyMaker<'_>>,
    store: &dyn Store,
) -> Result<Option<String>, KeysError> {
    owner
        .map(|make| make(store).map_err(KeysError::Owner))
        .transpose()
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
    owner: Option<OwnerKeyMaker<'_>>,
) -> Result<InitOutput, KeysError> {
    let (origin, vkey) = external_key_for_init(signing, origin, default_origin)?;
    let store = open_store(data, backend)?;
    let mut owner_key = None;
    let mut joined = false;
    if backend.is_shared() {
        let head = store.head()?;
        if let Some(cp) = store.latest_checkpoint()? {
            let verifier =
                Ed25519Verifier::from_vkey(&vkey).map_err(|cause| KeysError::BadVkey {
                    vkey: vkey.clone(),
                    cause,
                })?;
            SignedCheckpoint::open(&cp.note, &[&verifier]).map_err(|cause| {
                KeysError::SharedLogOtherKey {
                    vkey: vkey.clone(),
                    cause,
                    data: data.to_path_buf(),
                }
            })?;
            joined = true;
        } else if head.size > 0 {
            return Err(KeysError::SharedLogNoCheckpoint { entries: head.size });
        } else {
            owner_key = make_owner(owner, store.as_ref())?;
        }
    } else {
        owner_key = make_owner(owner, store.as_ref())?;
    }
    // A node joining a shared log created nothing; a project's new log did.
    let created = !joined;
    write_initial_history(data, &origin, &vkey, source, crate::clock::now_micros())?;
    Ok(InitOutput {
        origin,
        vkey,
        owner_api_key: owner_key,
        created,
        data: data.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::files;
    use std::cell::Cell;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn init_writes_the_key_last_and_makes_the_owner_key_once() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let made = Cell::new(0);
        let maker = |_: &dyn Store| -> Result<String, BoxError> {
            made.set(made.get() + 1);
            Ok("owner-secret".into())
        };
        let opts = SigningOptions::default();
        let first = init(
            &data,
            Some("example.com/init"),
            &Backend::Embedded,
            &opts,
            &maker,
        )
        .unwrap();
        assert!(first.created);
        assert_eq!(first.origin, "example.com/init");
        assert_eq!(first.owner_api_key.as_deref(), Some("owner-secret"));
        let key = load_signer(&data).unwrap();
        assert_eq!(key.vkey(), first.vkey);
        let mode = std::fs::metadata(data.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(
            !files(&data).iter().any(|f| f.ends_with(".tmp")),
            "{:?}",
            files(&data)
        );

        // Initialised: nothing is made again, and the origin stays.
        let again = init(&data, None, &Backend::Embedded, &opts, &maker).unwrap();
        assert!(!again.created);
        assert_eq!((again.vkey, again.owner_api_key), (first.vkey, None));
        assert_eq!(made.get(), 1);
        let e = init(
            &data,
            Some("example.com/other"),
            &Backend::Embedded,
            &opts,
            &maker,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cannot be changed"), "{e}");

        // A project's log gets no owner key.
        let log = init_log(&dir.path().join("p"), None, &Backend::Embedded, &opts).unwrap();
        assert!(log.created && log.owner_api_key.is_none());
        assert!(
            log.origin.starts_with("sealtrail.local/log-"),
            "{}",
            log.origin
        );
    }

    #[test]
    fn the_owner_key_makers_error_is_kept_and_no_key_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let failing = |_: &dyn Store| -> Result<String, BoxError> {
            Err("cannot store the owner key: disk full".into())
        };
        let e = init(
            dir.path(),
            None,
            &Backend::Embedded,
            &SigningOptions::default(),
            &failing,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "cannot store the owner key: disk full");
        assert!(!dir.path().join(KEY_FILE).exists());
    }
}
