//! Session tokens: `sts_<claims>.<tag>`, minted from an agent key for one
//! task. Stateless (an HMAC under the server's `token.key`), so minting
//! writes nothing but its audit event; a token is only as alive as the key
//! it came from, which is checked on every use.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::keys::TOKEN_PREFIX;

type HmacSha256 = Hmac<Sha256>;

/// What a token says. Short member names keep tokens short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// The agent key it was minted from.
    pub k: String,
    /// Its agent.
    pub a: String,
    /// The one session it may write.
    pub s: String,
    /// Expiry, microseconds since the epoch.
    pub e: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    Malformed,
    BadSignature,
    Expired,
}

pub struct TokenKey([u8; 32]);

impl TokenKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        TokenKey(bytes)
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length; 32 bytes cannot fail.
        match HmacSha256::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC accepts every key length"),
        }
    }

    pub fn mint(&self, claims: &Claims) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{TOKEN_PREFIX}{payload}.{tag}")
    }

    /// Checks the tag (in constant time) and the expiry.
    pub fn open(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        let rest = token
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(TokenError::Malformed)?;
        let (payload, tag) = rest.split_once('.').ok_or(TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        if claims.e <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            k: "0123456789abcdef".into(),
            a: "billing-bot".into(),
            s: "task-7".into(),
            e: 1_000,
        }
    }

    #[test]
    fn minted_tokens_open_until_they_expire() {
        let key = TokenKey::new([9; 32]);
        let t = key.mint(&claims());
        assert!(t.starts_with("sts_"));
        assert_eq!(key.open(&t, 999), Ok(claims()));
        assert_eq!(key.open(&t, 1_000), Err(TokenError::Expired));
    }

    proptest::proptest! {
        /// No text opens as a token without the key's tag, and none panics.
        #[test]
        fn arbitrary_text_never_opens(text in "\\PC{0,200}") {
            let key = TokenKey::new([3; 32]);
            proptest::prop_assert!(key.open(&text, 0).is_err());
            let prefixed = format!("sts_{text}");
            proptest::prop_assert!(key.open(&prefixed, 0).is_err());
        }
    }

    #[test]
    fn forged_or_foreign_tokens_are_refused() {
        let key = TokenKey::new([9; 32]);
        let t = key.mint(&claims());
        assert_eq!(
            TokenKey::new([8; 32]).open(&t, 0),
            Err(TokenError::BadSignature)
        );
        // Same tag, other claims (a longer expiry): the tag no longer fits.
        let (_, tag) = t.split_once('.').unwrap();
        let mut c = claims();
        c.e = u64::MAX;
        let forged = format!(
            "sts_{}.{tag}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap())
        );
        assert_eq!(key.open(&forged, 0), Err(TokenError::BadSignature));
        for bad in ["sts_", "sts_abc", "stk_x.y", "sts_a.!!"] {
            assert!(key.open(bad, 0).is_err(), "{bad}");
        }
    }
}
