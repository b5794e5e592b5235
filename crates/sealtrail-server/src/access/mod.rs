//! Identity and access (docs/access.md): keys, roles and scopes, session
//! tokens, the agent registry, projects and rate limits. No HTTP (the
//! `http` layer reads the bearer header and hands its text here) and no
//! writes to the log (self-audit events go through `audit` and the pipeline).
//!
//! Records live in the default project's store as JSON (`Store::put_access`)
//! and in memory here; every change is written through. Nodes sharing a
//! PostgreSQL database reload the records every second, so a revocation on
//! one node holds on the others within that second.
//!
//! Nodes never overwrite each other's authority changes: a change is made
//! on the record as stored and written with a compare-and-set
//! (`Store::put_access_if`), answered 409 when another node changed the
//! record in between. Last-used times, written often by every node that
//! sees a key used, live in records of their own (`key_used`) and are
//! merged on read, so they never carry an old copy of a key record back.

pub mod caller;
pub mod console;
pub mod keys;
pub mod rate;
pub mod roles;
pub mod tokens;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;
use sealtrail_core::hash::Hash;
use sealtrail_core::registry::{AgentRecord, AgentStatus};
use sealtrail_store::Store;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use keys::{KeyInfo, KeyRecord, RateLimit};
use rate::RateLimiter;
use tokens::TokenKey;

pub use crate::config::UpkeepTimes;
pub use caller::Caller;
pub use roles::{Role, Scope};

pub const KIND_KEY: &str = "key";
pub const KIND_AGENT: &str = "agent";
pub const KIND_PROJECT: &str = "project";
/// A key's last-used time (`{"last_used": µs}`), by key id: apart from the
/// key record, which only changes with authority (create, update, rotate,
/// revoke).
pub const KIND_KEY_USED: &str = "key_used";

/// A key's last-used time as stored.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct KeyUsed {
    last_used: u64,
}

/// A record as read from the store, with the bytes a compare-and-set of
/// a change to it expects to find.
#[derive(Debug, Clone)]
pub struct Stored<T> {
    pub record: T,
    bytes: Vec<u8>,
}

impl<T: Serialize + Clone> Stored<T> {
    /// `record` as this node writes it (the encoding `put_*` stores).
    pub fn of(record: &T) -> Result<Stored<T>, ApiError> {
        let bytes = serde_json::to_vec(record).map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(Stored {
            record: record.clone(),
            bytes,
        })
    }
}

/// The project every data directory starts with: the log it held before
/// projects existed.
pub const DEFAULT_PROJECT: &str = "default";

/// The agent id of sealtrail's own events: nobody else may write as it.
pub const SELF_AGENT: &str = "sealtrail";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Project)]
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
    /// Last-used times as stored (`key_used` records), by key id.
    used: HashMap<String, u64>,
    /// Records this node wrote, with the write's generation: a reload that
    /// began before a write may have read the record before it, so it keeps
    /// the written version.
    written: Vec<(u64, Written)>,
}

/// Which record a node wrote.
enum Written {
    Key(String),
    Agent(String, String),
    Project(String),
}

/// Most writes remembered for reloads in flight (a reload takes far less
/// time than this many administrative changes).
const WRITTEN_KEPT: usize = 4096;

impl Records {
    /// Takes over from `old` (the records before a reload began at
    /// generation `since`) what the store read may have missed, and keeps
    /// final states final: a read that predates a revocation or a
    /// retirement never undoes it.
    fn merge_from(&mut self, mut old: Records, since: u64) {
        for (g, w) in &old.written {
            if *g <= since {
                continue;
            }
            match w {
                Written::Key(id) => {
                    if let Some(k) = old.keys.get(id) {
                        self.keys.insert(id.clone(), k.clone());
                    }
                }
                Written::Agent(project, id) => {
                    if let Some(a) = old.agents.get(project).and_then(|m| m.get(id)) {
                        self.agents
                            .entry(project.clone())
                            .or_default()
                            .insert(id.clone(), a.clone());
                    }
                }
                Written::Project(name) => {
                    if let Some(p) = old.projects.get(name) {
                        self.projects.insert(name.clone(), p.clone());
                    }
                }
            }
        }
        old.written.retain(|(g, _)| *g > since);
        self.written = old.written;
        for (id, before) in &old.keys {
            if let (Some(at), Some(now)) = (before.info.revoked, self.keys.get_mut(id)) {
                if now.info.revoked.is_none() {
                    now.info.revoked = Some(at);
                    now.info.revoked_by = before.info.revoked_by.clone();
                }
            }
        }
        for (project, agents) in &old.agents {
            for (id, before) in agents {
                if before.status != AgentStatus::Retired {
                    continue;
                }
                if let Some(now) = self.agents.get_mut(project).and_then(|m| m.get_mut(id)) {
                    if now.status != AgentStatus::Retired {
                        *now = before.clone();
                    }
                }
            }
        }
        for (id, t) in old.used {
            let e = self.used.entry(id).or_insert(t);
            *e = (*e).max(t);
        }
    }

    fn remember(&mut self, generation: u64, w: Written) {
        if self.written.len() >= WRITTEN_KEPT {
            self.written.remove(0);
        }
        self.written.push((generation, w));
    }
}

/// What `/metrics` shows of access control; counted here, kept with the
/// other metrics.
pub use crate::metrics::AccessCounters;

pub struct Access {
    pub counters: AccessCounters,
    store: Arc<dyn Store>,
    records: RwLock<Records>,
    /// Keys used since the last flush, and when.
    last_used: Mutex<HashMap<String, u64>>,
    /// Counts the writes made here (see `Records::written`).
    generation: AtomicU64,
    pub rate: RateLimiter,
    pub default_rate: RateLimit,
    pub tokens: TokenKey,
    /// Serialises read-modify-write changes of records on this node.
    pub write: tokio::sync::Mutex<()>,
    /// Web console sessions seen here, and their timeouts.
    pub console: console::ConsoleSessions,
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
        console: crate::config::ConsoleOptions,
    ) -> anyhow::Result<Self> {
        let access = Access {
            counters: AccessCounters::default(),
            records: RwLock::new(Records::default()),
            last_used: Mutex::default(),
            generation: AtomicU64::new(0),
            rate: RateLimiter::default(),
            default_rate,
            tokens: load_token_key(data)?,
            write: tokio::sync::Mutex::new(()),
            console: console::ConsoleSessions::new(console),
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
    fn adopt_legacy_keys(&self) -> anyhow::Result<()> {
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
                .map_err(|e| anyhow::anyhow!("cannot encode the record of legacy key {id}: {e}"))?;
            // Another node starting at the same time may adopt it first.
            self.store.put_access_if(KIND_KEY, &id, None, &json)?;
        }
        Ok(())
    }

    /// Re-reads every record (nodes sharing a database call this often).
    pub fn reload(&self) -> Result<(), sealtrail_store::StoreError> {
        let since = self.generation.load(Ordering::SeqCst);
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
        for (id, json) in self.store.access_all(KIND_KEY_USED)? {
            match serde_json::from_slice::<KeyUsed>(&json) {
                Ok(u) => {
                    fresh.used.insert(id, u.last_used);
                }
                Err(e) => tracing::error!(key = %id, "unreadable last-used record: {e}"),
            }
        }
        if let Ok(mut r) = self.records.write() {
            let old = std::mem::take(&mut *r);
            fresh.merge_from(old, since);
            *r = fresh;
        }
        Ok(())
    }

    /// A key as this node knows it (up to a reload interval old), with the
    /// newest last-used time known here.
    pub fn key(&self, id: &str) -> Option<KeyRecord> {
        let r = self.records.read().ok()?;
        let mut k = r.keys.get(id).cloned()?;
        k.info.last_used = self.last_used_in(&r, id, k.info.last_used);
        Some(k)
    }

    /// `info` with the newest last-used time known here (stored records
    /// from before `key_used` existed kept theirs inside the key record).
    pub fn with_last_used(&self, mut info: KeyInfo) -> KeyInfo {
        if let Ok(r) = self.records.read() {
            info.last_used = self.last_used_in(&r, &info.id, info.last_used);
        }
        info
    }

    fn last_used_in(&self, r: &Records, id: &str, in_record: Option<u64>) -> Option<u64> {
        let pending = self.last_used.lock().ok().and_then(|m| m.get(id).copied());
        [in_record, r.used.get(id).copied(), pending]
            .into_iter()
            .flatten()
            .max()
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
                info.last_used = self.last_used_in(&r, &info.id, info.last_used);
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

    /// The record `(kind, id)` as stored now (not as this node last
    /// loaded it), for a change to be made on.
    async fn stored<T: serde::de::DeserializeOwned>(
        &self,
        kind: &'static str,
        id: String,
        what: impl FnOnce() -> String,
    ) -> Result<Option<Stored<T>>, ApiError> {
        let store = self.store.clone();
        let bytes = tokio::task::spawn_blocking(move || store.access(kind, &id))
            .await
            .map_err(|e| ApiError::internal(format!("store task failed: {e}")))?
            .map_err(|e| {
                tracing::error!("cannot read a {kind} record: {e}");
                ApiError::unavailable(
                    "the access-control store is unavailable; nothing was changed",
                )
            })?;
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let record = serde_json::from_slice(&bytes).map_err(|e| {
            let what = what();
            tracing::error!("the stored record of {what} is unreadable: {e}");
            ApiError::internal(format!(
                "the stored record of {what} is unreadable; the operator has the details in the server log"
            ))
        })?;
        Ok(Some(Stored { record, bytes }))
    }

    /// Key `id` as stored now.
    pub async fn stored_key(&self, id: &str) -> Result<Option<Stored<KeyRecord>>, ApiError> {
        self.stored(KIND_KEY, id.to_string(), || format!("API key {id}"))
            .await
    }

    /// Agent `id` of `project` as stored now.
    pub async fn stored_agent(
        &self,
        project: &str,
        id: &str,
    ) -> Result<Option<Stored<AgentRecord>>, ApiError> {
        self.stored(KIND_AGENT, agent_slot(project, id), || {
            format!("agent {id:?} of project {project:?}")
        })
        .await
    }

    /// Writes a record through to the store if the stored one is still
    /// `expected` (see [`Stored`]); 409 when another node got there first.
    async fn put(
        &self,
        kind: &'static str,
        id: String,
        expected: Option<Vec<u8>>,
        json: Vec<u8>,
        what: &str,
    ) -> Result<(), ApiError> {
        let store = self.store.clone();
        let creating = expected.is_none();
        let written = tokio::task::spawn_blocking(move || {
            store.put_access_if(kind, &id, expected.as_deref(), &json)
        })
        .await
        .map_err(|e| ApiError::internal(format!("store task failed: {e}")))?
        .map_err(|e| {
            tracing::error!("cannot store a {kind} record: {e}");
            ApiError::unavailable("the access-control store is unavailable; nothing was changed")
        })?;
        match (written, creating) {
            (true, _) => Ok(()),
            (false, true) => Err(ApiError::conflict(format!(
                "{what} already exists (made on another node); nothing was changed"
            ))),
            (false, false) => Err(ApiError::conflict(format!(
                "{what} was changed on another node while this change was made; nothing was changed: read it again and retry"
            ))),
        }
    }

    /// Applies a write made here to memory.
    fn remember(&self, apply: impl FnOnce(&mut Records) -> Written) {
        if let Ok(mut r) = self.records.write() {
            let w = apply(&mut r);
            let g = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
            r.remember(g, w);
        }
    }

    /// Stores key `rec`: a new key when `expected` is `None`, else a change
    /// of the stored record `expected` (409 if it changed meanwhile).
    pub async fn put_key(
        &self,
        rec: KeyRecord,
        expected: Option<&Stored<KeyRecord>>,
    ) -> Result<(), ApiError> {
        let json = serde_json::to_vec(&rec).map_err(|e| ApiError::internal(e.to_string()))?;
        let what = format!("API key {}", rec.info.id);
        self.put(
            KIND_KEY,
            rec.info.id.clone(),
            expected.map(|s| s.bytes.clone()),
            json,
            &what,
        )
        .await?;
        self.remember(|r| {
            let id = rec.info.id.clone();
            r.keys.insert(id.clone(), rec);
            Written::Key(id)
        });
        Ok(())
    }

    /// Stores agent `rec` of `project`, as [`Access::put_key`] does keys.
    pub async fn put_agent(
        &self,
        project: &str,
        rec: AgentRecord,
        expected: Option<&Stored<AgentRecord>>,
    ) -> Result<(), ApiError> {
        let json = serde_json::to_vec(&rec).map_err(|e| ApiError::internal(e.to_string()))?;
        let what = format!("agent {:?} of project {project:?}", rec.id);
        self.put(
            KIND_AGENT,
            agent_slot(project, &rec.id),
            expected.map(|s| s.bytes.clone()),
            json,
            &what,
        )
        .await?;
        self.remember(|r| {
            let id = rec.id.clone();
            r.agents
                .entry(project.to_string())
                .or_default()
                .insert(id.clone(), rec);
            Written::Agent(project.to_string(), id)
        });
        Ok(())
    }

    /// Stores a new project's record (409 if one exists).
    pub async fn put_project(&self, rec: ProjectRecord) -> Result<(), ApiError> {
        let json = serde_json::to_vec(&rec).map_err(|e| ApiError::internal(e.to_string()))?;
        let what = format!("project {:?}", rec.name);
        self.put(KIND_PROJECT, rec.name.clone(), None, json, &what)
            .await?;
        self.remember(|r| {
            let name = rec.name.clone();
            r.projects.insert(name.clone(), rec);
            Written::Project(name)
        });
        Ok(())
    }

    /// Takes the right to create project `name`: false when it exists in
    /// the store or another node is creating it (a lease of a minute).
    pub fn claim_project(&self, name: &str) -> anyhow::Result<bool> {
        if self.store.access(KIND_PROJECT, name)?.is_some() {
            return Ok(false);
        }
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let now = crate::clock::now_micros();
        Ok(self.store.acquire_lease(
            &format!("project-create:{name}"),
            &hex::encode(b),
            now,
            60_000_000,
        )?)
    }

    pub fn touch(&self, id: &str, now: u64) {
        if let Ok(mut m) = self.last_used.lock() {
            m.insert(id.to_string(), now);
        }
    }

    /// Writes the last-used times gathered since the last call (every
    /// minute, and at shutdown), so a restart keeps them. Only `key_used`
    /// records are written: never a key record, whose copy here may
    /// predate a change made on another node.
    pub async fn flush_last_used(&self) {
        let used: Vec<(String, u64)> = match self.last_used.lock() {
            Ok(mut m) => m.drain().collect(),
            Err(_) => return,
        };
        if used.is_empty() {
            return;
        }
        if let Ok(mut r) = self.records.write() {
            for (id, t) in &used {
                let e = r.used.entry(id.clone()).or_insert(*t);
                *e = (*e).max(*t);
            }
        }
        let store = self.store.clone();
        let flushed = tokio::task::spawn_blocking(move || {
            for (id, t) in used {
                if let Err(e) = store_last_used(&*store, &id, t) {
                    tracing::warn!(key = %id, "cannot record last use: {e}");
                }
            }
        })
        .await;
        if let Err(e) = flushed {
            tracing::warn!("last-use task failed: {e}");
        }
    }
}

/// Raises the stored last-used time of key `id` to `t`, never lowering it:
/// every node writes the times it saw, and the newest stands.
fn store_last_used(store: &dyn Store, id: &str, t: u64) -> anyhow::Result<()> {
    let json = serde_json::to_vec(&KeyUsed { last_used: t })?;
    // A few rounds: other nodes may be writing newer times meanwhile.
    for _ in 0..5 {
        let old = store.access(KIND_KEY_USED, id)?;
        let stored = old
            .as_deref()
            .and_then(|b| serde_json::from_slice::<KeyUsed>(b).ok());
        if stored.is_some_and(|s| s.last_used >= t) {
            return Ok(());
        }
        if store.put_access_if(KIND_KEY_USED, id, old.as_deref(), &json)? {
            return Ok(());
        }
    }
    Ok(())
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

/// [`bootstrap_owner`] as `sealtrail_keys::init` takes it: the data
/// directory's first owner key, made while the directory is initialised.
pub fn owner_key_maker(store: &dyn Store) -> Result<String, sealtrail_keys::BoxError> {
    bootstrap_owner(store).map_err(Into::into)
}

/// Background care of the access records: last-used times written and
/// ended console sessions removed every minute (and at shutdown); with a
/// shared database, every record re-read every second so revocations made
/// on other nodes hold here too.
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
            _ = flush.tick() => {
                access.flush_last_used().await;
                // Every node purges: deleting a record twice is harmless.
                let a = access.clone();
                match tokio::task::spawn_blocking(move || a.purge_console_sessions()).await {
                    Ok(Err(e)) => tracing::warn!("cannot purge ended console sessions: {e}"),
                    Err(e) => tracing::warn!("console session purge task failed: {e}"),
                    Ok(Ok(_)) => {}
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, revoked: Option<u64>) -> KeyRecord {
        KeyRecord {
            info: KeyInfo {
                id: id.into(),
                name: "n".into(),
                role: Role::Member,
                scopes: Role::Member.scopes().to_vec(),
                project: DEFAULT_PROJECT.into(),
                agent: None,
                created: 1,
                created_by: "t".into(),
                expires: None,
                revoked,
                revoked_by: revoked.map(|_| "owner".into()),
                last_used: None,
                rotated_from: None,
                rotated_to: None,
                rate_limit: None,
            },
            secret_hash: "00".repeat(32),
        }
    }

    fn agent(id: &str, status: AgentStatus) -> AgentRecord {
        serde_json::from_value(serde_json::json!({"id": id, "status": status})).unwrap()
    }

    fn records(keys: &[KeyRecord], agents: &[AgentRecord]) -> Records {
        let mut r = Records::default();
        for k in keys {
            r.keys.insert(k.info.id.clone(), k.clone());
        }
        for a in agents {
            r.agents
                .entry(DEFAULT_PROJECT.into())
                .or_default()
                .insert(a.id.clone(), a.clone());
        }
        r
    }

    /// A reload whose read predates a revocation or retirement (made here
    /// or seen in an earlier reload) keeps it.
    #[test]
    fn final_states_survive_a_stale_read() {
        let old = records(&[key("k", Some(5))], &[agent("a", AgentStatus::Retired)]);
        let mut fresh = records(&[key("k", None)], &[agent("a", AgentStatus::Active)]);
        fresh.merge_from(old, 0);
        assert_eq!(fresh.keys["k"].info.revoked, Some(5));
        assert_eq!(fresh.keys["k"].info.revoked_by.as_deref(), Some("owner"));
        assert_eq!(
            fresh.agents[DEFAULT_PROJECT]["a"].status,
            AgentStatus::Retired
        );
    }

    /// Other changes come from the store, except those written here after
    /// the reload began: its read may have missed them.
    #[test]
    fn writes_made_during_a_reload_are_kept() {
        let mut old = records(&[key("k", None), key("w", None)], &[]);
        old.keys.get_mut("k").unwrap().info.name = "here".into();
        old.keys.get_mut("w").unwrap().info.name = "written during".into();
        old.remember(3, Written::Key("k".into()));
        old.remember(7, Written::Key("w".into()));
        old.used.insert("k".into(), 50);
        let mut fresh = records(&[key("k", None)], &[]);
        fresh.keys.get_mut("k").unwrap().info.name = "stored".into();
        fresh.used.insert("k".into(), 40);
        fresh.merge_from(old, 5);
        assert_eq!(
            fresh.keys["k"].info.name, "stored",
            "written before the read"
        );
        assert_eq!(fresh.keys["w"].info.name, "written during");
        assert_eq!(fresh.written.len(), 1, "only what a later reload may miss");
        assert_eq!(fresh.used["k"], 50, "last-used times only grow");
    }
}
