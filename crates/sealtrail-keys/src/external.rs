//! A key kept outside the data directory (`--signing-key PATH`,
//! `--signer-command CMD`): what `init` learns from it. The data directory
//! then holds no private key, and rotation is the operator's: put the new
//! key in place and restart; loading the ring records the change.

use sealtrail_core::note::NoteSigner;

use crate::command::{CommandSigner, SIGNER_TIMEOUT};
use crate::error::KeysError;
use crate::key::generate;
use crate::keyfile::{create_skey, read_skey};
use crate::options::SigningOptions;
use crate::roles::KeySource;

/// For `init` with an external key: the key's origin and vkey. A
/// `--signing-key` file that does not exist yet is created (mode 0600) with
/// a new key named `origin`.
pub(crate) fn external_key_for_init(
    opts: &SigningOptions,
    origin: Option<&str>,
    default_origin: impl FnOnce() -> Result<String, KeysError>,
) -> Result<(String, String), KeysError> {
    let (name, vkey) = match opts.source()? {
        KeySource::DataDir => return Err(KeysError::NotExternal),
        KeySource::Path => {
            let path = opts.key_path.clone().unwrap_or_default();
            let signer = if path.exists() {
                read_skey(&path)?
            } else {
                let origin = match origin {
                    Some(o) => o.to_owned(),
                    None => default_origin()?,
                };
                let signer = generate(&origin)?;
                create_skey(&path, &signer)?;
                signer
            };
            (signer.name().to_owned(), signer.vkey())
        }
        KeySource::Command => {
            let cmd = opts.signer_command.clone().unwrap_or_default();
            let s = CommandSigner::start(&cmd, SIGNER_TIMEOUT).map_err(KeysError::SignerCommand)?;
            (s.name().to_owned(), s.vkey())
        }
    };
    if let Some(o) = origin.filter(|o| *o != name) {
        return Err(KeysError::OriginMismatch {
            name,
            origin: o.to_owned(),
        });
    }
    Ok((name, vkey))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyfile::write_skey;
    use crate::testutil::*;
    use crate::*;
    use std::time::Duration;

    #[test]
    fn external_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let keys = tempfile::tempdir().unwrap();
        let a = generate(ORIGIN).unwrap();
        write_skey(keys.path(), "a.key", &a).unwrap();
        let opts = SigningOptions {
            key_path: Some(keys.path().join("a.key")),
            signer_command: None,
        };
        let ring = KeyRing::load(dir.path(), &opts).unwrap();
        assert_eq!(ring.primary_vkey(), a.vkey());
        assert_eq!(ring.history(now())[0].source, KeySource::Path);
        assert!(!dir.path().join(KEY_FILE).exists());
        let e = format!(
            "{:#}",
            ring.rotate(Duration::from_secs(60), now()).unwrap_err()
        );
        assert!(e.contains("--signing-key") && e.contains("restart"), "{e}");
        let e = format!(
            "{:#}",
            rotate_offline(dir.path(), Duration::from_secs(60), now()).unwrap_err()
        );
        assert!(e.contains("--signing-key"), "{e}");
        // Without the option the server refuses, naming it.
        let e = format!(
            "{:#}",
            KeyRing::load(dir.path(), &SigningOptions::default()).unwrap_err()
        );
        assert!(e.contains("--signing-key"), "{e}");

        // The operator replaces the key: recorded as a rotation without overlap.
        let b = generate(ORIGIN).unwrap();
        write_skey(keys.path(), "a.key", &b).unwrap();
        let ring = KeyRing::load(dir.path(), &opts).unwrap();
        assert_eq!(ring.primary_vkey(), b.vkey());
        let h = ring.history(now());
        assert_eq!(
            h.iter().map(|k| k.role).collect::<Vec<_>>(),
            vec![KeyRole::Retired, KeyRole::Primary]
        );
        assert_eq!(h[1].replaces.as_deref(), Some(h[0].key_id.as_str()));
        let pending = ring.pending_rotations();
        assert_eq!(pending.len(), 1);
        assert_eq!(
            (pending[0].old_vkey.as_str(), pending[0].overlap_until),
            (a.vkey().as_str(), None)
        );
        assert_eq!(
            ring.sign_checkpoint(cp(1), now())
                .unwrap()
                .note
                .signatures()
                .len(),
            1
        );
        // A retired key is not taken back.
        write_skey(keys.path(), "a.key", &a).unwrap();
        let e = format!("{:#}", KeyRing::load(dir.path(), &opts).unwrap_err());
        assert!(e.contains("retired key"), "{e}");
        // A key named after another origin is refused.
        write_skey(
            keys.path(),
            "a.key",
            &generate("other.example/log").unwrap(),
        )
        .unwrap();
        let e = format!("{:#}", KeyRing::load(dir.path(), &opts).unwrap_err());
        assert!(e.contains("origin"), "{e}");
        // Both options at once are refused.
        let both = SigningOptions {
            key_path: opts.key_path.clone(),
            signer_command: Some("true".into()),
        };
        assert!(KeyRing::load(dir.path(), &both).is_err());
    }
}
