//! Web console sessions (issue 17): a person's API key exchanged for a
//! random session secret that the browser keeps in an HttpOnly cookie
//! (`http::console` speaks the cookie; this module knows no HTTP).
//!
//! Only the SHA-256 of the secret is stored (access records of kind
//! `console_session`, in the default project's store, so every node of a
//! shared database knows every session): a copy of the store does not let
//! anyone act as a signed-in person. The CSRF token is derived from the
//! secret (an HMAC keyed with it), so it needs no storage and a stored hash
//! does not reveal it either.
//!
//! A session acts as its key on every request, checked each time: a key
//! revoked or expired ends its sessions at their next use. A session ends
//! after `idle_timeout` without use and `session_max` after sign-in.
//! Nodes cache a session for at most [`CACHE_FOR`] before reading it again,
//! so a sign-out on one node holds on the others within that time (as key
//! revocations do, see `access`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::caller::{take_rate, unauthorized};
use super::keys::{KeyInfo, Unusable};
use super::{Access, Caller, Role};
use crate::config::ConsoleOptions;
use crate::error::{ApiError, StatusCode};

/// The store kind of console session records, by the hex SHA-256 of the secret.
pub const KIND_CONSOLE_SESSION: &str = "console_session";

/// How long a node trusts its copy of a session before reading it again.
pub const CACHE_FOR: Duration = Duration::from_secs(1);

/// Bytes of randomness in a session secret.
const SECRET_BYTES: usize = 32;

/// A console session as stored (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The id of the key the session acts as.
    pub key: String,
    /// Sign-in time, µs since the epoch.
    pub created: u64,
    /// Last use seen by any node, µs (written at most every
    /// [`ConsoleSessions::touch_every`], so up to that much behind).
    pub last_seen: u64,
    /// Absolute end, µs: sign-in plus `session_max`, or the key's expiry
    /// if that comes first.
    pub expires: u64,
}

/// A session just opened: the secret to hand to the browser once.
pub struct Opened {
    pub secret: String,
    pub csrf: String,
    pub record: SessionRecord,
}

/// A request's session, checked: who it acts as, and the record.
pub struct Admitted {
    pub caller: Caller,
    pub record: SessionRecord,
}

/// Why a session is not (or no longer) usable: all answered 401
/// `session_expired`, which the console meets by offering sign-in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ended {
    #[error("your console session expired or was signed out; sign in again")]
    Unknown,
    #[error("your console session reached its maximum lifetime of {0}; sign in again")]
    Absolute(String),
    #[error("your console session was unused for more than {0} and expired; sign in again")]
    Idle(String),
    #[error("your console session ended: API key {0} has been revoked; sign in with another key")]
    KeyRevoked(String),
    #[error("your console session ended: API key {0} has expired; sign in with another key")]
    KeyExpired(String),
    #[error("your console session ended: its API key {0} no longer exists; sign in again")]
    KeyGone(String),
}

impl From<Ended> for ApiError {
    fn from(e: Ended) -> Self {
        unauthorized("session_expired", e.to_string())
    }
}

/// `1800 s` as people read it: `30m`, `12h`, `2s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s > 0 && s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s > 0 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else if d.subsec_millis() == 0 {
        format!("{s}s")
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// The store id of the session whose secret is `secret`.
pub fn session_id(secret: &str) -> String {
    hex::encode(sealtrail_core::hash::sha256(secret.as_bytes()).0)
}

/// The session's CSRF token: HMAC-SHA256 keyed with the secret, so only
/// whoever holds the secret (the server, from the cookie) can compute it.
pub fn csrf_token(secret: &str) -> String {
    match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(b"sealtrail console csrf v1");
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        }
        Err(_) => unreachable!("HMAC accepts every key length"),
    }
}

/// Constant-time comparison of a presented CSRF token with the session's.
pub fn csrf_matches(secret: &str, presented: &str) -> bool {
    use subtle::ConstantTimeEq;
    csrf_token(secret)
        .as_bytes()
        .ct_eq(presented.as_bytes())
        .into()
}

/// Does `text` have the shape of a session secret (43 base64url characters)?
fn well_formed(text: &str) -> bool {
    text.len() == 43
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// This node's copy of a session.
#[derive(Clone)]
struct Cached {
    record: SessionRecord,
    /// The record's bytes as stored, for the compare-and-set of a touch.
    bytes: Vec<u8>,
    read_at: Instant,
    /// The last use seen on this node (may be ahead of `record.last_seen`).
    used: u64,
}

/// The sessions this node has seen, and the timeouts.
pub struct ConsoleSessions {
    pub opts: ConsoleOptions,
    cache: Mutex<HashMap<String, Cached>>,
}

impl ConsoleSessions {
    pub fn new(opts: ConsoleOptions) -> Self {
        ConsoleSessions {
            opts,
            cache: Mutex::default(),
        }
    }

    /// How stale a stored `last_seen` may get before a use writes it: a
    /// tenth of the idle timeout, at most a minute (so a busy session costs
    /// one store write a minute, and the idle timeout holds to within a
    /// tenth on other nodes).
    pub fn touch_every(&self) -> u64 {
        micros(self.opts.idle_timeout / 10).min(60_000_000)
    }

    fn idle(&self) -> u64 {
        micros(self.opts.idle_timeout)
    }

    fn cached(&self, id: &str) -> Option<Cached> {
        let c = self.cache.lock().ok()?;
        c.get(id)
            .filter(|c| c.read_at.elapsed() < CACHE_FOR)
            .cloned()
    }

    fn keep(&self, id: &str, entry: Cached) {
        if let Ok(mut c) = self.cache.lock() {
            c.insert(id.to_string(), entry);
        }
    }

    fn forget(&self, id: &str) {
        if let Ok(mut c) = self.cache.lock() {
            c.remove(id);
        }
    }

    /// Why `rec` (last used at `used`) cannot be used at `now`, if it cannot.
    fn ended(&self, rec: &SessionRecord, used: u64, now: u64) -> Option<Ended> {
        if rec.expires <= now {
            return Some(Ended::Absolute(human(self.opts.session_max)));
        }
        if now.saturating_sub(used) >= self.idle() {
            return Some(Ended::Idle(human(self.opts.idle_timeout)));
        }
        None
    }
}

/// Keys that may not sign in to the console: agents' keys (and session
/// tokens minted from them) are for machines.
pub fn refuse_agents(caller: &Caller) -> Result<(), ApiError> {
    if caller.role() == Role::Agent || caller.key.agent.is_some() || caller.token.is_some() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "agent_key_refused",
            format!(
                "API key {} is an agent's key; the console is for people: sign in with a person's key (owner, admin, member, auditor or viewer)",
                caller.key.id
            ),
        ));
    }
    Ok(())
}

fn key_ended(info: &KeyInfo, why: Unusable) -> Ended {
    match why {
        Unusable::Revoked => Ended::KeyRevoked(info.id.clone()),
        Unusable::Expired => Ended::KeyExpired(info.id.clone()),
    }
}

fn store_unavailable(what: &str, e: impl std::fmt::Display) -> ApiError {
    tracing::error!("cannot {what}: {e}");
    ApiError::unavailable(format!(
        "the session store is unavailable (cannot {what}); retry after the delay"
    ))
}

impl Access {
    /// Runs a store call on the blocking pool.
    async fn on_store<T: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce(&dyn sealtrail_store::Store) -> Result<T, sealtrail_store::StoreError>
            + Send
            + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&*store))
            .await
            .map_err(|e| ApiError::internal(format!("store task failed: {e}")))?
            .map_err(|e| store_unavailable(what, e))
    }

    /// Opens a console session for `caller` (authenticated by its key).
    pub async fn open_console_session(&self, caller: &Caller) -> Result<Opened, ApiError> {
        refuse_agents(caller)?;
        let mut bytes = [0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes)
            .map_err(|e| ApiError::internal(format!("no randomness for a session: {e}")))?;
        let secret = URL_SAFE_NO_PAD.encode(bytes);
        let now = crate::clock::now_micros();
        let mut expires = now.saturating_add(micros(self.console.opts.session_max));
        if let Some(k) = caller.key.expires {
            expires = expires.min(k);
        }
        let record = SessionRecord {
            key: caller.key.id.clone(),
            created: now,
            last_seen: now,
            expires,
        };
        let json = serde_json::to_vec(&record).map_err(|e| ApiError::internal(e.to_string()))?;
        let id = session_id(&secret);
        let (slot, stored) = (id.clone(), json.clone());
        let made = self
            .on_store("store a console session", move |s| {
                s.put_access_if(KIND_CONSOLE_SESSION, &slot, None, &stored)
            })
            .await?;
        if !made {
            // 256 random bits never collide; a store that says so is broken.
            return Err(ApiError::internal(
                "a new console session id already exists in the store",
            ));
        }
        self.console.keep(
            &id,
            Cached {
                record: record.clone(),
                bytes: json,
                read_at: Instant::now(),
                used: now,
            },
        );
        Ok(Opened {
            csrf: csrf_token(&secret),
            secret,
            record,
        })
    }

    /// The session `id` as stored now.
    async fn read_session(&self, id: &str) -> Result<Option<Cached>, ApiError> {
        let slot = id.to_string();
        let bytes = self
            .on_store("read a console session", move |s| {
                s.access(KIND_CONSOLE_SESSION, &slot)
            })
            .await?;
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let record: SessionRecord = serde_json::from_slice(&bytes).map_err(|e| {
            tracing::error!(session = %id, "unreadable console session record: {e}");
            ApiError::internal(
                "the stored console session is unreadable; the operator has the details in the server log",
            )
        })?;
        Ok(Some(Cached {
            used: record.last_seen,
            record,
            bytes,
            read_at: Instant::now(),
        }))
    }

    /// Ends session `id` in the store and here; failures are logged (the
    /// session has ended anyway, and the purge removes it later).
    async fn drop_session(&self, id: &str) {
        self.console.forget(id);
        let slot = id.to_string();
        if let Err(e) = self
            .on_store("delete a console session", move |s| {
                s.delete_access(KIND_CONSOLE_SESSION, &slot)
            })
            .await
        {
            tracing::warn!("cannot delete an ended console session: {}", e.body.message);
        }
    }

    /// The caller a request's session cookie (`secret`) acts as: the
    /// session must be live and its key usable; the key's rate limit
    /// applies. Refreshes the session's idle time.
    pub async fn console_caller(&self, secret: &str) -> Result<Admitted, ApiError> {
        if !well_formed(secret) {
            return Err(Ended::Unknown.into());
        }
        let id = session_id(secret);
        let now = crate::clock::now_micros();
        let mut entry = match self.console.cached(&id) {
            Some(c) => c,
            None => self.read_session(&id).await?.ok_or(Ended::Unknown)?,
        };
        if let Some(why) = self.console.ended(&entry.record, entry.used, now) {
            // Another node may have seen a later use than this copy shows.
            let fresh = self.read_session(&id).await?.ok_or(Ended::Unknown)?;
            let used = fresh.used.max(entry.used);
            if self.console.ended(&fresh.record, used, now).is_some() {
                self.drop_session(&id).await;
                return Err(why.into());
            }
            entry = Cached { used, ..fresh };
        }
        let Some(key) = self.key(&entry.record.key) else {
            self.drop_session(&id).await;
            return Err(Ended::KeyGone(entry.record.key.clone()).into());
        };
        if let Err(why) = key.info.usable_at(now) {
            self.drop_session(&id).await;
            return Err(key_ended(&key.info, why).into());
        }
        let caller = Caller {
            key: key.info,
            token: None,
            console: true,
        };
        take_rate(self, &caller, now)?;
        entry.used = now;
        if now.saturating_sub(entry.record.last_seen) >= self.console.touch_every() {
            self.touch_session(&id, &mut entry, now).await;
        }
        let record = entry.record.clone();
        self.console.keep(&id, entry);
        Ok(Admitted { caller, record })
    }

    /// Writes a session's new `last_seen` (compare-and-set: a lost race
    /// means another node touched or ended it, and the next read sees which).
    async fn touch_session(&self, id: &str, entry: &mut Cached, now: u64) {
        let mut record = entry.record.clone();
        record.last_seen = now;
        let Ok(json) = serde_json::to_vec(&record) else {
            return;
        };
        let (slot, old, new) = (id.to_string(), entry.bytes.clone(), json.clone());
        match self
            .on_store("refresh a console session", move |s| {
                s.put_access_if(KIND_CONSOLE_SESSION, &slot, Some(&old), &new)
            })
            .await
        {
            Ok(true) => {
                entry.record = record;
                entry.bytes = json;
            }
            // Read it again on the next request.
            Ok(false) => entry.read_at = Instant::now() - CACHE_FOR,
            Err(e) => tracing::warn!("{}", e.body.message),
        }
    }

    /// Ends the session whose cookie is `secret` (sign-out).
    pub async fn close_console_session(&self, secret: &str) -> Result<(), ApiError> {
        let id = session_id(secret);
        self.console.forget(&id);
        let slot = id.clone();
        self.on_store("delete a console session", move |s| {
            s.delete_access(KIND_CONSOLE_SESSION, &slot)
        })
        .await?;
        self.console.forget(&id);
        Ok(())
    }

    /// Removes sessions that have ended (run by `upkeep`): past their
    /// absolute end, or unused for the idle timeout plus the time other
    /// nodes may lag in writing a use.
    pub fn purge_console_sessions(&self) -> Result<usize, sealtrail_store::StoreError> {
        let now = crate::clock::now_micros();
        let idle = self.console.idle() + self.console.touch_every();
        let mut purged = 0;
        for (id, bytes) in self.store.access_all(KIND_CONSOLE_SESSION)? {
            let over = match serde_json::from_slice::<SessionRecord>(&bytes) {
                Ok(r) => r.expires <= now || now.saturating_sub(r.last_seen) >= idle,
                // Nobody can use it: it would only take space.
                Err(_) => true,
            };
            if over && self.store.delete_access(KIND_CONSOLE_SESSION, &id)? {
                self.console.forget(&id);
                purged += 1;
            }
        }
        Ok(purged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_are_per_secret_and_compared_whole() {
        let a = csrf_token("a".repeat(43).as_str());
        let b = csrf_token("b".repeat(43).as_str());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(csrf_matches(&"a".repeat(43), &a));
        assert!(!csrf_matches(&"a".repeat(43), &b));
        assert!(!csrf_matches(&"a".repeat(43), &a[..42]));
        assert!(!csrf_matches(&"a".repeat(43), ""));
    }

    #[test]
    fn the_stored_id_is_not_the_secret_nor_its_csrf_token() {
        let s = "Zm9vYmFyYmF6cXV4cXV1eHF1dXpxdXV4cXV1eHF1dXg";
        let id = session_id(s);
        assert_eq!(id.len(), 64);
        assert_ne!(id, s);
        assert_ne!(id, csrf_token(s));
    }

    #[test]
    fn only_secret_shaped_cookies_are_looked_up() {
        assert!(well_formed(&"A".repeat(43)));
        assert!(!well_formed(&"A".repeat(42)));
        assert!(!well_formed(&format!("{}=", "A".repeat(42))));
        assert!(!well_formed(""));
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human(Duration::from_secs(1800)), "30m");
        assert_eq!(human(Duration::from_secs(12 * 3600)), "12h");
        assert_eq!(human(Duration::from_secs(2)), "2s");
        assert_eq!(human(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn sessions_end_when_idle_or_past_their_end() {
        let s = ConsoleSessions::new(ConsoleOptions {
            idle_timeout: Duration::from_secs(10),
            session_max: Duration::from_secs(100),
        });
        let rec = SessionRecord {
            key: "k".into(),
            created: 0,
            last_seen: 0,
            expires: 100_000_000,
        };
        assert_eq!(s.ended(&rec, 0, 9_999_999), None);
        assert!(matches!(s.ended(&rec, 0, 10_000_000), Some(Ended::Idle(_))));
        assert_eq!(s.ended(&rec, 95_000_000, 99_999_999), None);
        assert!(matches!(
            s.ended(&rec, 95_000_000, 100_000_000),
            Some(Ended::Absolute(_))
        ));
        assert_eq!(s.touch_every(), 1_000_000);
    }
}
