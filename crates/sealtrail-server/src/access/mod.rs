//! Identity and access (docs/access.md): keys, roles and scopes, session
//! tokens, the agent registry, projects, rate limits and self-audit.
//!
//! Records live in the default project's store as JSON (`Store::put_access`)
//! and in memory here; every change is written through. Nodes sharing a
//! PostgreSQL database reload the records every second, so a revocation on
//! one node holds on the others within that second.

pub mod audit;
pub mod caller;
pub mod enforce;
pub mod keys;
pub mod rate;
pub mod roles;
pub mod tokens;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;
use sealtrail_core::hash::Hash;
use sealtrail_core::registry::AgentRecord;
use sealtrail_store::Store;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use keys::{KeyInfo, KeyRecord, RateLimit};
use rate::RateLimiter;
use tokens::TokenKey;

pub use caller::{Caller, Ctx};
pub use roles::{Role, Scope};

pub const KIND_KEY: &str = "key";
pub const KIND_AGENT: &str = "agent";
pub const KIND_PROJECT: &str = "project";

/// The project every data directory starts with: the log it held before
/// projects existed.
pub const DEFAULT_PROJECT: &str = "default";

/// The agent id of sealtrail's own events: nobody else may write as it.
pub const SELF_AGENT: &str = "sealtrail";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectRecord {
    pub name: String,
    pub created: u64,
    pub created_by: String,
    pub origin: String,
    pub vkey: String,
}

/// Project names: short, lowercase, usable as a directory and schema name.
pub fn valid_project_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// The id of a key made before key ids existed.
pub fn legacy_id(hash: &Hash) -> String {
    format!("legacy-{}", &hash.to_hex()[..16])
}

/// The store id of an agent record (project names hold no `/`).
fn agent_slot(project: &str, id: &str) -> String {
    format!("{project}/{id}")
}

#[derive(Default)]
struct Records {
    keys: HashMap<String, KeyRecord>,
    /// Project → agent id → record: looked up per event without building a key.
    agents: HashMap<String, BTreeMap<String, AgentRecord>>,
    projects: BTreeMap<String, ProjectRecord>,
}

/// What `/metrics` shows of access control (never a key, only counts).
#[derive(Default)]
pub struct AccessCounters {
    /// Requests refused with 401 (no, unknown, wrong, revoked or expired key).
    pub unauthorized: std::sync::atomic::AtomicU64,
    /// Requests refused with 429.
    pub rate_limited: std::sync::atomic::AtomicU64,
    /// Events refused because the key may not write them (403 per event).
    pub attribution_refused: std::sync::atomic::AtomicU64,
    /// Events sealed with an `out_of_scope` verdict.
    pub out_of_scope: std::sync::atomic::AtomicU64,
    /// Events sealed with `unregistered_agent`.
    pub unregistered: std::sync::atomic::AtomicU64,
}

impl AccessCounters {
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        use std::sync::atomic::Ordering::Relaxed;
        for (name, help, v) in [
            (
                "sealtrail_requests_unauthorized_total",
                "Requests refused with 401 (missing, unknown, revoked or expired key).",
                &self.unauthorized,
            ),
            (
                "sealtrail_requests_rate_limited_total",
                "Requests refused with 429 (a key over its rate limit).",
                &self.rate_limited,
            ),
            (
                "sealtrail_events_attribution_refused_total",
                "Events refused because the key may not write for their agent or session.",
                &self.attribution_refused,
            ),
            (
                "sealtrail_events_out_of_scope_total",
                "Events sealed with an out_of_scope verdict.",
                &self.out_of_scope,
            ),
            (
                "sealtrail_events_unregistered_agent_total",
                "Events sealed with the unregistered_agent verdict.",
                &self.unregistered,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Relaxed)
            );
        }
    }
}

pub struct Access {
    pub counters: AccessCounters,
    store: Arc<dyn Store>,
    records: RwLock<Records>,
    last_used: Mutex<HashMap<String, u64>>,
    pub rate: RateLimiter,
    pub default_rate: RateLimit,
    pub tokens: TokenKey,
    /// Serialises read-modify-write changes of records on this node.
    pub write: tokio::sync::Mutex<()>,
}

const TOKEN_KEY_FILE: &str = "token.key";

/// The HMAC key of session tokens, made on first start (mode 0600).
fn load_token_key(data: &Path) -> anyhow::Result<TokenKey> {
    let path = data.join(TOKEN_KEY_FILE);
    match std::fs::read(&path) {
        Ok(b) if b.len() == 32 => {
            let mut k = [0u8; 32];
            k.copy_from_slice(&b);
            return Ok(TokenKey::new(k));
        }
        Ok(_) => anyhow::bail!("{} is not a 32-byte key", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    crate::sensitive::write_private(&path, &k)?;
    Ok(TokenKey::new(k))
}

impl Access {
    /// Loads every record from the default project's store.
    pub fn load(
        store: Arc<dyn Store>,
        data: &Path,
        default_rate: RateLimit,
    ) -> anyhow::Result<Self> {
        let access = Access {
            counters: AccessCounters::default(),
            records: RwLock::new(Records::default()),
            last_used: Mutex::default(),
            rate: RateLimiter::default(),
            default_rate,
            tokens: load_token_key(data)?,
            write: tokio::sync::Mutex::new(()),
            store,
        };
        access
            .adopt_legacy_keys()
            .context("cannot adopt the keys made before key ids")?;
        access
            .reload()
            .context("cannot load keys, agents and projects")?;
        Ok(access)
    }

    /// Keys made before key ids existed (`stk_` + 43 characters, in the
    /// old `api_keys` table) get a record like every other key, named
    /// `legacy-<first 16 hex digits of their hash>` and matched by the hash
    /// of the whole key: they can then be listed, rotated and revoked.
    fn adopt_legacy_keys(&self) -> Result<(), sealtrail_store::StoreError> {
        for old in self.store.api_keys()? {
            let id = legacy_id(&old.key_hash);
            if self.store.access(KIND_KEY, &id)?.is_some() {
                continue;
            }
            let role = if old.role == "owner" {
                Role::Owner
            } else {
                Role::Member
            };
            let rec = KeyRecord {
                info: KeyInfo {
                    id: id.clone(),
                    name: old.name,
                    role,
                    scopes: role.scopes().to_vec(),
                    project: DEFAULT_PROJECT.into(),
                    agent: None,
                    created: old.created,
                    created_by: "sealtrail init (before key ids)".into(),
                    expires: None,
                    revoked: None,
                    revoked_by: None,
                    last_used: None,
                    rotated_from: None,
                    rotated_to: None,
                    rate_limit: None,
                },
                secret_hash: old.key_hash.to_hex(),
            };
            let json = serde_json::to_vec(&rec)
                .map_err(|e| sealtrail_store::StoreError::Io(e.to_string()))?;
            self.store.put_access(KIND_KEY, &id, &json)?;
        }
        Ok(())
    }

    /// Re-reads every record (nodes sharing a database call this often).
    pub fn reload(&self) -> Result<(), sealtrail_store::StoreError> {
        let mut fresh = Records::default();
        for (id, json) in self.store.access_all(KIND_KEY)? {
            match serde_json::from_slice::<KeyRecord>(&json) {
                Ok(r) => {
                    fresh.keys.insert(id, r);
                }
                Err(e) => tracing::error!(key = %id, "unreadable key record: {e}"),
            }
        }
        for (slot, json) in self.store.access_all(KIND_AGENT)? {
            match serde_json::from_slice::<AgentRecord>(&json) {
                Ok(r) => {
                    let project = slot.split_once('/').map_or("", |(p, _)| p);
                    fresh
                        .agents
                        .entry(project.to_string())
                        .or_default()
                        .insert(r.id.clone(), r);
                }
                Err(e) => tracing::error!(agent = %slot, "unreadable agent record: {e}"),
            }
        }
        for (name, json) in self.store.access_all(KIND_PROJECT)? {
            match serde_json::from_slice::<ProjectRecord>(&json) {
                Ok(r) => {
                    fresh.projects.insert(name, r);
                }
                Err(e) => tracing::error!(project = %name, "unreadable project record: {e}"),
            }
        }
        if let Ok(mut r) = self.records.write() {
            *r = fresh;
        }
        Ok(())
    }

    pub fn key(&self, id: &str) -> Option<KeyRecord> {
        let r = self.records.read().ok()?;
        let mut k = r.keys.get(id).cloned()?;
        k.info.last_used = self.last_used_of(id).or(k.info.last_used);
        Some(k)
    }

    pub fn keys(&self, project: Option<&str>) -> Vec<KeyInfo> {
        let Ok(r) = self.records.read() else {
            return Vec::new();
        };
        let mut out: Vec<KeyInfo> = r
            .keys
            .values()
            .filter(|k| project.is_none_or(|p| k.info.project == p))
            .map(|k| {
                let mut info = k.info.clone();
                info.last_used = self.last_used_of(&info.id).or(info.last_used);
                info
            })
            .collect();
        out.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        out
    }

    pub fn agent(&self, project: &str, id: &str) -> Option<AgentRecord> {
        self.with_agent(project, id, |a| a.cloned())
    }

    /// Runs `f` on the registry entry without cloning it (the ingest path).
    pub fn with_agent<T>(
        &self,
        project: &str,
        id: &str,
        f: impl FnOnce(Option<&AgentRecord>) -> T,
    ) -> T {
        match self.records.read() {
            Ok(r) => f(r.agents.get(project).and_then(|m| m.get(id))),
            Err(_) => f(None),
        }
    }

    pub fn agents(&self, project: &str) -> Vec<AgentRecord> {
        let Ok(r) = self.records.read() else {
            return Vec::new();
        };
        r.agents
            .get(project)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn projects(&self) -> Vec<ProjectRecord> {
        self.records
            .read()
            .map(|r| r.projects.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Writes a record through to the store, then to memory.
    async fn put(&self, kind: &'static str, id: String, json: Vec<u8>) -> Result<(), ApiError> {
        let store = self.store.clone();
        let id2 = id.clone();
        tokio::task::spawn_blocking(move || store.put_access(kind, &id2, &json))
            .await
            .map_err(|e| ApiError::internal(format!("store task failed: {e}")))?
            .map_err(|e| {
                tracing::error!("cannot store a {kind} record: {e}");
                ApiError::unavailable(
                    "the access-control store is unavailable; nothing was changed",
                )
            })
    }

    pub async fn put_key(&self, rec: KeyRecord) -> Result<(), ApiError> {
        let json = serde_json::to_vec(&rec).map_err(|e| ApiError::internal(e.to_string()))?;
        self.put(KIND_KEY, rec.info.id.clone(), json).await?;
        if let Ok(mut r) = self.records.write() {
            r.keys.insert(rec.info.id.clone(), rec);
        }
        Ok(())
    }

    pub async fn put_agent(&self, project: &str, rec: AgentRecord) -> Result<(), ApiError> {
        let json = serde_json::to_vec(&rec).map_err(|e| ApiError::internal(e.to_string()))?;
        self.put(KIND_AGENT, agent_slot(project, &rec.id), json)
            .await?;
        if let Ok(mut r) = self.records.write() {
            r.agents
                .entry(project.to_string())
                .or_default()
                .insert(rec.id.clone(), rec);
        }
        Ok(())
    }

    pub async fn put_project(&self, rec: ProjectRecord) -> Result<(), ApiError> {
        let json = serde_json::to_vec(&rec).map_err(|e| ApiError::internal(e.to_string()))?;
        self.put(KIND_PROJECT, rec.name.clone(), json).await?;
        if let Ok(mut r) = self.records.write() {
            r.projects.insert(rec.name.clone(), rec);
        }
        Ok(())
    }

    /// Takes the right to create project `name`: false when it exists in
    /// the store or another node is creating it (a lease of a minute).
    pub fn claim_project(&self, name: &str) -> Result<bool, sealtrail_store::StoreError> {
        if self.store.access(KIND_PROJECT, name)?.is_some() {
            return Ok(false);
        }
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).map_err(|e| sealtrail_store::StoreError::Io(e.to_string()))?;
        let now = crate::clock::now_micros();
        self.store.acquire_lease(
            &format!("project-create:{name}"),
            &hex::encode(b),
            now,
            60_000_000,
        )
    }

    pub fn touch(&self, id: &str, now: u64) {
        if let Ok(mut m) = self.last_used.lock() {
            m.insert(id.to_string(), now);
        }
    }

    fn last_used_of(&self, id: &str) -> Option<u64> {
        self.last_used.lock().ok()?.get(id).copied()
    }

    /// Writes the last-used times gathered since the last call (every
    /// minute, and at shutdown), so a restart keeps them.
    pub async fn flush_last_used(&self) {
        let used: Vec<(String, u64)> = match self.last_used.lock() {
            Ok(mut m) => m.drain().collect(),
            Err(_) => return,
        };
        let _guard = self.write.lock().await;
        for (id, t) in used {
            let Some(mut rec) = self
                .records
                .read()
                .ok()
                .and_then(|r| r.keys.get(&id).cloned())
            else {
                continue;
            };
            if rec.info.last_used.is_some_and(|old| old >= t) {
                continue;
            }
            rec.info.last_used = Some(t);
            if let Err(e) = self.put_key(rec).await {
                tracing::warn!(key = %id, "cannot record last use: {}", e.body.message);
            }
        }
    }
}

/// The first owner key of a new data directory (`sealtrail init`): stored
/// hashed, its text returned to be shown once.
pub fn bootstrap_owner(store: &dyn Store) -> anyhow::Result<String> {
    let secret = keys::generate(Role::Owner).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let rec = KeyRecord {
        info: KeyInfo {
            id: secret.id.clone(),
            name: "owner".into(),
            role: Role::Owner,
            scopes: Role::Owner.scopes().to_vec(),
            project: DEFAULT_PROJECT.into(),
            agent: None,
            created: crate::clock::now_micros(),
            created_by: "sealtrail init".into(),
            expires: None,
            revoked: None,
            revoked_by: None,
            last_used: None,
            rotated_from: None,
            rotated_to: None,
            rate_limit: None,
        },
        secret_hash: secret.secret_hash,
    };
    let json = serde_json::to_vec(&rec)?;
    store
        .put_access(KIND_KEY, &rec.info.id, &json)
        .context("cannot store the owner key")?;
    Ok(secret.text)
}

/// How often [`upkeep`] works. Only tests change these: a short flush
/// interval is how a test makes last-used writes race with other changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpkeepTimes {
    /// Every record re-read (nodes sharing a database only).
    pub reload: std::time::Duration,
    /// Last-used times written.
    pub flush_last_used: std::time::Duration,
}

impl Default for UpkeepTimes {
    fn default() -> Self {
        UpkeepTimes {
            reload: std::time::Duration::from_secs(1),
            flush_last_used: std::time::Duration::from_secs(60),
        }
    }
}

/// Background care of the access records: last-used times written every
/// minute (and at shutdown); with a shared database, every record re-read
/// every second so revocations made on other nodes hold here too.
pub async fn upkeep(
    access: Arc<Access>,
    shared: bool,
    times: UpkeepTimes,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut reload = tokio::time::interval(times.reload);
    let mut flush = tokio::time::interval(times.flush_last_used);
    reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            _ = flush.tick() => access.flush_last_used().await,
            _ = reload.tick(), if shared => {
                let a = access.clone();
                match tokio::task::spawn_blocking(move || a.reload()).await {
                    Ok(Err(e)) => tracing::warn!("cannot reload keys and agents: {e}"),
                    Err(e) => tracing::warn!("reload task failed: {e}"),
                    Ok(Ok(())) => {}
                }
            }
        }
    }
    access.flush_last_used().await;
}
