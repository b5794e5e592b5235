//! API keys: `<prefix>_<id>_<secret>`. The id is public and names the key
//! everywhere; the secret is shown once and kept only as its SHA-256, which
//! is compared in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sealtrail_core::hash::{sha256, Hash};
use serde::{Deserialize, Serialize};

use super::roles::{Role, Scope};

/// People and services.
pub const PERSON_PREFIX: &str = "stk";
/// Keys bound to one agent.
pub const AGENT_PREFIX: &str = "sta";
/// Session tokens minted from an agent key.
pub const TOKEN_PREFIX: &str = "sts_";

const ID_HEX: usize = 16;

pub use crate::config::RateLimit;

/// What anyone allowed to list keys may see: never the secret nor its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyInfo {
    #[schema(pattern = "^([0-9a-f]{16}|legacy-[0-9a-f]{16})$")]
    pub id: String,
    pub name: String,
    pub role: Role,
    pub scopes: Vec<Scope>,
    pub project: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    pub created: u64,
    pub created_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

/// A key as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRecord {
    #[serde(flatten)]
    pub info: KeyInfo,
    /// Hex SHA-256 of the secret part.
    pub secret_hash: String,
}

/// Why a key is not usable now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    Revoked,
    Expired,
}

impl KeyInfo {
    pub fn usable_at(&self, now: u64) -> Result<(), Unusable> {
        if self.revoked.is_some_and(|t| t <= now) {
            return Err(Unusable::Revoked);
        }
        if self.expires.is_some_and(|t| t <= now) {
            return Err(Unusable::Expired);
        }
        Ok(())
    }

    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// How self-audit events name this key.
    pub fn label(&self) -> String {
        format!("key:{} {} ({})", self.id, self.name, self.role.as_str())
    }
}

/// A freshly made key: the text to hand out once, and what to store.
pub struct NewSecret {
    pub text: String,
    pub id: String,
    pub secret_hash: String,
}

fn random<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b)?;
    Ok(b)
}

/// A new random key for `role`.
pub fn generate(role: Role) -> Result<NewSecret, getrandom::Error> {
    let id = hex::encode(random::<{ ID_HEX / 2 }>()?);
    let secret = URL_SAFE_NO_PAD.encode(random::<32>()?);
    let prefix = if role == Role::Agent {
        AGENT_PREFIX
    } else {
        PERSON_PREFIX
    };
    Ok(NewSecret {
        text: format!("{prefix}_{id}_{secret}"),
        id,
        secret_hash: hex::encode(sha256(secret.as_bytes()).0),
    })
}

/// A key as presented: its public id and the hash of its secret.
#[derive(Debug)]
pub struct Presented {
    pub id: String,
    pub secret_hash: Hash,
    pub agent_prefix: bool,
}

/// Splits a presented key. `None` when it does not have the new shape (it
/// may still be a legacy owner key, looked up by its whole hash).
pub fn parse(text: &str) -> Option<Presented> {
    let (prefix, rest) = text.split_once('_')?;
    let agent_prefix = match prefix {
        PERSON_PREFIX => false,
        AGENT_PREFIX => true,
        _ => return None,
    };
    let (id, secret) = rest.split_at_checked(ID_HEX)?;
    let secret = secret.strip_prefix('_')?;
    if !id
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        || secret.is_empty()
    {
        return None;
    }
    Some(Presented {
        id: id.to_string(),
        secret_hash: sha256(secret.as_bytes()),
        agent_prefix,
    })
}

/// Constant-time equality of a presented hash and a stored hex hash, so a
/// caller learns nothing from timing about how much of a guess was right
/// (`subtle`, whose comparison the optimiser cannot turn into an early exit).
pub fn hash_matches(presented: &Hash, stored_hex: &str) -> bool {
    use subtle::ConstantTimeEq;
    let mut stored = [0u8; 32];
    if hex::decode_to_slice(stored_hex, &mut stored).is_err() {
        return false;
    }
    presented.0.ct_eq(&stored).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back_and_match_their_hash() {
        for role in [Role::Owner, Role::Agent, Role::Viewer] {
            let k = generate(role).unwrap();
            let p = parse(&k.text).unwrap();
            assert_eq!(p.id, k.id);
            assert_eq!(p.agent_prefix, role == Role::Agent);
            assert!(hash_matches(&p.secret_hash, &k.secret_hash));
            assert!(k
                .text
                .starts_with(if role == Role::Agent { "sta_" } else { "stk_" }));
        }
    }

    #[test]
    fn a_changed_secret_does_not_match() {
        let k = generate(Role::Member).unwrap();
        let mut text = k.text.clone().into_bytes();
        let last = text.len() - 1;
        text[last] = if text[last] == b'A' { b'B' } else { b'A' };
        let p = parse(std::str::from_utf8(&text).unwrap()).unwrap();
        assert!(!hash_matches(&p.secret_hash, &k.secret_hash));
        assert!(!hash_matches(&p.secret_hash, "not hex"));
    }

    #[test]
    fn other_shapes_are_not_new_keys() {
        for bad in [
            "",
            "stk_",
            "stk_0123",
            "stk_0123456789abcdef",
            "stk_0123456789abcdef_",
            "stk_0123456789ABCDEF_secret",
            "stx_0123456789abcdef_secret",
            "stk_01234567-9abcdef_secret",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        // A legacy owner key (43 base64url characters, no id).
        assert!(parse("stk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").is_none());
    }

    proptest::proptest! {
        /// Whatever arrives in an Authorization header, parsing it neither
        /// panics nor accepts a key whose id is not 16 lowercase hex digits.
        #[test]
        fn parsing_any_text_is_safe(text in "\\PC{0,80}", tail in "[a-zA-Z0-9_-]{0,50}") {
            for t in [text.clone(), format!("stk_{text}"), format!("sta_0123456789abcdef_{tail}")] {
                if let Some(p) = parse(&t) {
                    proptest::prop_assert_eq!(p.id.len(), 16);
                    proptest::prop_assert!(p.id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
                }
            }
        }
    }

    #[test]
    fn revoked_and_expired_keys_are_unusable() {
        let mut info = KeyInfo {
            id: "0".repeat(16),
            name: "n".into(),
            role: Role::Viewer,
            scopes: vec![Scope::Read],
            project: "default".into(),
            agent: None,
            created: 1,
            created_by: "x".into(),
            expires: Some(100),
            revoked: None,
            revoked_by: None,
            last_used: None,
            rotated_from: None,
            rotated_to: None,
            rate_limit: None,
        };
        assert_eq!(info.usable_at(99), Ok(()));
        assert_eq!(info.usable_at(100), Err(Unusable::Expired));
        info.revoked = Some(50);
        assert_eq!(info.usable_at(60), Err(Unusable::Revoked));
    }
}
