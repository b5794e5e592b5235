//! The keys a bundle is checked against: the verifier keys a user trusts
//! (`sealtrail verify --vkey`, the key pinned in the web console), or,
//! when none is given, the bundle's own `keys/log.vkey`, which proves only
//! that the bundle agrees with itself. One reading, so that every verifier
//! accepts the same key text and warns the same way.

use super::{Member, Members, KEYS};
use crate::note::{Ed25519Verifier, KeyError};

/// What is said when a bundle is checked against its own key, after the
/// verifier's own words for how a trusted key is given.
pub const OWN_KEY_WARNING: &str = "checking against the key inside the bundle, which proves only that the bundle is consistent with itself, not that the log's operator signed it";

/// A line of key text that is no verifier key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line:?} is not a valid verifier key: {cause}")]
pub struct VkeyLineError {
    pub line: String,
    pub cause: KeyError,
}

/// The verifier keys in `text`: one per line; blank lines and `#` comments
/// are skipped.
pub fn parse_vkeys(text: &str) -> Result<Vec<Ed25519Verifier>, VkeyLineError> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            Ed25519Verifier::from_vkey(l).map_err(|cause| VkeyLineError {
                line: l.to_string(),
                cause,
            })
        })
        .collect()
}

/// The text of the bundle's own `keys/log.vkey` (empty when it is absent
/// or unreadable: the checkpoint then fails to verify, which says so).
pub fn own_keys_text(members: &mut dyn Members) -> String {
    match members.get(KEYS) {
        Member::Present(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::synthetic::SyntheticLog;
    use std::collections::BTreeMap;

    #[test]
    fn key_lines_comments_and_blanks() {
        let log = SyntheticLog::new("example.com/log").unwrap();
        let text = format!("# the log\n\n  {}  \n", log.vkey());
        let keys = parse_vkeys(&text).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].to_vkey(), log.vkey());
        let err = parse_vkeys("example.com/log+zz+AA==").unwrap_err();
        assert_eq!(err.line, "example.com/log+zz+AA==");
        assert!(
            err.to_string().contains("is not a valid verifier key"),
            "{err}"
        );
    }

    #[test]
    fn own_keys_are_read_from_the_bundle() {
        let log = SyntheticLog::new("example.com/log").unwrap();
        let mut m = BTreeMap::new();
        assert_eq!(own_keys_text(&mut m), "");
        m.insert(KEYS.to_string(), format!("{}\n", log.vkey()).into_bytes());
        assert_eq!(parse_vkeys(&own_keys_text(&mut m)).unwrap().len(), 1);
    }
}
