//! The registry of project logs and each log's lifecycle: several
//! independent logs in one server. Each has its own store, sequencer,
//! checkpointer and signing key; the default project is the log the data
//! directory itself holds, the others live under `projects/`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use anyhow::{Context, Result};
use sealtrail_keys::{Backend, KeyRing, SigningOptions};
use sealtrail_store::Store;
use tokio::sync::{watch, Notify};

use crate::access::keys::KeyInfo;
use crate::access::{Access, Caller, ProjectRecord, Role, DEFAULT_PROJECT};
use crate::audit::{self, Audit, CONFIG_CHANGE};
use crate::checkpointer::{Checkpointer, SharedMode};
use crate::config::{SequencerConfig, ServeOptions};
use crate::error::{ApiError, StatusCode};
use crate::log::AppState;
use crate::metrics::Metrics;
use crate::sensitive::Sensitive;
use crate::sequencer::Sequencer;
use crate::tiles::StoreTiles;

/// What must be awaited when a project's log stops.
pub struct LogTasks {
    seq_thread: std::thread::JoinHandle<()>,
    checkpointer: tokio::task::JoinHandle<()>,
}

impl LogTasks {
    /// Waits for the sequencer (once every handle is dropped) and the
    /// checkpointer (once shutdown is signalled) to finish.
    pub async fn join(self) -> Result<()> {
        let seq = self.seq_thread;
        tokio::task::spawn_blocking(move || seq.join())
            .await
            .context("sequencer join")?
            .map_err(|_| anyhow::anyhow!("the sequencer thread panicked"))?;
        self.checkpointer.await.context("checkpointer task")?;
        Ok(())
    }
}

pub struct RootInner {
    pub access: Arc<Access>,
    pub public_tiles: bool,
    pub metrics: Arc<Metrics>,
    pub sensitive: Option<Arc<Sensitive>>,
    logs: RwLock<HashMap<String, AppState>>,
    tasks: Mutex<Vec<LogTasks>>,
    opts: ServeOptions,
    shutdown: watch::Receiver<bool>,
    /// Serialises project creation.
    creating: tokio::sync::Mutex<()>,
}

/// The router's state: every project's log and the access directory.
#[derive(Clone)]
pub struct Root(Arc<RootInner>);

impl std::ops::Deref for Root {
    type Target = RootInner;
    fn deref(&self) -> &RootInner {
        &self.0
    }
}

/// Where a project's log lives.
fn location(opts: &ServeOptions, name: &str) -> (PathBuf, Backend) {
    if name == DEFAULT_PROJECT {
        return (opts.data.clone(), opts.backend.clone());
    }
    let dir = opts.data.join("projects").join(name);
    let backend = match &opts.backend {
        Backend::Embedded => Backend::Embedded,
        Backend::Postgres { url, schema } => Backend::Postgres {
            url: url.clone(),
            schema: format!("{schema}_{}", name.replace('-', "_")),
        },
    };
    (dir, backend)
}

/// A project's origin: the default log's, with the project's name added.
pub fn project_origin(default_origin: &str, name: &str) -> String {
    format!("{default_origin}/{name}")
}

impl Root {
    pub fn new(
        access: Arc<Access>,
        opts: ServeOptions,
        metrics: Arc<Metrics>,
        sensitive: Option<Arc<Sensitive>>,
        shutdown: watch::Receiver<bool>,
    ) -> Root {
        Root(Arc::new(RootInner {
            access,
            public_tiles: opts.public_tiles,
            metrics,
            sensitive,
            logs: RwLock::default(),
            tasks: Mutex::default(),
            opts,
            shutdown,
            creating: tokio::sync::Mutex::new(()),
        }))
    }

    /// Whether the API is served over TLS (console cookies are then `Secure`).
    pub fn serves_tls(&self) -> bool {
        self.opts.tls.is_some()
    }

    /// The web console's session timeouts.
    pub fn console_options(&self) -> crate::config::ConsoleOptions {
        self.opts.console
    }

    /// The log of `project`, or 404.
    pub fn log(&self, project: &str) -> Result<AppState, ApiError> {
        self.logs
            .read()
            .ok()
            .and_then(|m| m.get(project).cloned())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "no_such_project",
                    format!("there is no project {project:?} on this server"),
                )
            })
    }

    pub fn default_log(&self) -> Result<AppState, ApiError> {
        self.log(DEFAULT_PROJECT)
    }

    /// Every open log, for metrics and readiness.
    pub fn logs(&self) -> Vec<AppState> {
        self.logs
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Opens a project that exists (its record does), never initialising
    /// it: a node without the project's key must not make a key of its own
    /// for a log other nodes sign (a second key would fork who signs it).
    pub async fn open_existing(&self, p: &ProjectRecord) -> Result<AppState> {
        let (dir, _) = location(&self.opts, &p.name);
        let d = dir.clone();
        let has_key = tokio::task::spawn_blocking(move || -> Result<bool> {
            Ok(d.join(sealtrail_keys::KEY_FILE).exists()
                || sealtrail_keys::read_history(&d)?.is_some())
        })
        .await
        .context("key file task")??;
        if !has_key {
            anyhow::bail!(
                "project {:?} has no signing key on this node: copy {} from the node that created it",
                p.name,
                dir.display()
            );
        }
        self.open(&p.name, Some(p.origin.clone()), None).await
    }

    /// Opens (initialising if new) a project's log and starts its
    /// sequencer and checkpointer.
    /// `store` is the log's store when the caller opened it already (the
    /// default project's, which also holds the access records).
    pub async fn open(
        &self,
        name: &str,
        origin: Option<String>,
        store: Option<Arc<dyn Store>>,
    ) -> Result<AppState> {
        let (dir, backend) = location(&self.opts, name);
        let signing = if name == DEFAULT_PROJECT {
            self.opts.signing.clone()
        } else {
            SigningOptions::default()
        };
        let (d, b, s) = (dir.clone(), backend.clone(), signing.clone());
        let (init, store, keys) = tokio::task::spawn_blocking(move || {
            let init = sealtrail_keys::init_log(&d, origin.as_deref(), &b, &s)?;
            let keys = KeyRing::load(&d, &s)?;
            match store {
                Some(st) => Ok((init, st, keys)),
                None => sealtrail_keys::open_store(&d, &b).map(|st| (init, st, keys)),
            }
        })
        .await
        .context("store task")??;
        let shared_store = backend.is_shared();
        let seq_config = SequencerConfig {
            shared_store,
            ..self.opts.sequencer.clone()
        };
        let (seq_store, seq_metrics) = (store.clone(), self.metrics.clone());
        let (sequencer, seq_thread) = tokio::task::spawn_blocking(move || {
            Sequencer::start(seq_store, seq_config, seq_metrics)
        })
        .await
        .context("sequencer start task")?
        .with_context(|| format!("cannot start the sequencer of project {name}"))?;
        let tiles = Arc::new(StoreTiles::new(store.clone()));
        let shared = if shared_store {
            let mut b = [0u8; 6];
            getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            Some(SharedMode {
                node: format!("node-{}", hex::encode(b)),
                publisher: sequencer.publisher(),
            })
        } else {
            None
        };
        let checkpointer = Checkpointer {
            store: store.clone(),
            tiles: tiles.clone(),
            keys: keys.clone(),
            origin: init.origin.clone(),
            interval: self.opts.checkpoint_interval,
            metrics: self.metrics.clone(),
            heads: std::sync::Mutex::new(None),
            shared,
        };
        let (checkpointer, latest) = tokio::task::spawn_blocking(move || {
            let latest = checkpointer.load_latest();
            (checkpointer, latest)
        })
        .await
        .context("checkpoint load task")?;
        let (cp_tx, cp_rx) = watch::channel(latest?);
        let nudge = Arc::new(Notify::new());
        let state = AppState {
            project: name.to_string(),
            store,
            sequencer: sequencer.clone(),
            tiles,
            checkpoints: cp_rx,
            nudge: nudge.clone(),
            metrics: self.metrics.clone(),
            limits: self.opts.limits.clone(),
            access: self.access.clone(),
            audit_reads: self.opts.audit_reads,
            public_tiles: self.opts.public_tiles,
            origin: init.origin.clone(),
            vkey: keys.primary_vkey(),
            signing_keys: keys,
            sensitive: self.sensitive.clone(),
        };
        let heads = sequencer.head();
        let cp_task = tokio::spawn(checkpointer.run(heads, cp_tx, nudge, self.shutdown.clone()));
        tokio::spawn(log_offline_rotations(state.clone(), self.shutdown.clone()));
        if let Ok(mut t) = self.tasks.lock() {
            t.push(LogTasks {
                seq_thread,
                checkpointer: cp_task,
            });
        }
        if let Ok(mut m) = self.logs.write() {
            m.insert(name.to_string(), state.clone());
        }
        Ok(state)
    }

    /// Creates a new project (its log and record); `409` if it exists.
    pub async fn create(&self, name: &str, created_by: String) -> Result<ProjectRecord, ApiError> {
        let _guard = self.creating.lock().await;
        if name == DEFAULT_PROJECT || self.log(name).is_ok() {
            return Err(ApiError::conflict(format!(
                "project {name:?} already exists"
            )));
        }
        // Nodes sharing a database: one of them creates it (two would make
        // two signing keys for one log).
        let access = self.access.clone();
        let n = name.to_string();
        let claimed = tokio::task::spawn_blocking(move || access.claim_project(&n))
            .await
            .map_err(|e| ApiError::internal(format!("claim task failed: {e}")))?
            .map_err(|e| {
                tracing::error!("cannot claim a project name: {e}");
                ApiError::unavailable(
                    "the access-control store is unavailable; nothing was created",
                )
            })?;
        if !claimed {
            return Err(ApiError::conflict(format!(
                "project {name:?} already exists or is being created by another node"
            )));
        }
        let default = self.default_log()?;
        let origin = project_origin(&default.origin, name);
        let state = self.open(name, Some(origin), None).await.map_err(|e| {
            tracing::error!(project = name, "cannot create the project: {e:#}");
            ApiError::unavailable(format!(
                "cannot create project {name:?}; see the server log"
            ))
        })?;
        let rec = ProjectRecord {
            name: name.to_string(),
            created: crate::clock::now_micros(),
            created_by,
            origin: state.origin.clone(),
            vkey: state.vkey.clone(),
        };
        self.access.put_project(rec.clone()).await?;
        Ok(rec)
    }

    /// Opens the projects another node created (several nodes on one
    /// database): checked every second until shutdown.
    pub async fn follow_projects(self) {
        let mut shutdown = self.shutdown.clone();
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        let mut warned = std::collections::HashSet::new();
        loop {
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        return;
                    }
                }
                _ = tick.tick() => {}
            }
            for p in self.access.projects() {
                if self.log(&p.name).is_ok() {
                    continue;
                }
                let _guard = self.creating.lock().await;
                if self.log(&p.name).is_ok() {
                    continue;
                }
                if let Err(e) = self.open_existing(&p).await {
                    // Once per project, not every second.
                    if warned.insert(p.name.clone()) {
                        tracing::warn!(project = %p.name, "cannot open a project another node made: {e:#}");
                    }
                }
            }
        }
    }

    /// Drops every log handle and waits for their sequencers and
    /// checkpointers to finish (after shutdown was signalled).
    pub async fn close(&self) -> Result<()> {
        if let Ok(mut m) = self.logs.write() {
            m.clear();
        }
        let tasks: Vec<LogTasks> = self
            .tasks
            .lock()
            .map(|mut t| t.drain(..).collect())
            .unwrap_or_default();
        for t in tasks {
            t.join().await?;
        }
        Ok(())
    }
}

/// Signing-key rotations made on the data directory (`sealtrail
/// signing-key rotate`) or by restarting with another external key reach the
/// log as `signing_key.rotate` events, attributed to the operator.
async fn log_offline_rotations(log: AppState, mut shutdown: watch::Receiver<bool>) {
    let operator = Caller {
        key: KeyInfo {
            id: "operator".into(),
            name: "data directory".into(),
            role: Role::Owner,
            scopes: Vec::new(),
            project: log.project.clone(),
            agent: None,
            created: 0,
            created_by: "sealtrail".into(),
            expires: None,
            revoked: None,
            revoked_by: None,
            last_used: None,
            rotated_from: None,
            rotated_to: None,
            rate_limit: None,
        },
        token: None,
        console: false,
    };
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
            _ = tick.tick() => {}
        }
        // An idle log signs no checkpoint, so look at the key files here
        // too. A reload takes the keys' flock, reads key files and may run
        // an external signer's `vkey`: all blocking, so off the workers.
        let ring = log.signing_keys.clone();
        match tokio::task::spawn_blocking(move || ring.refresh(crate::clock::now_micros())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("cannot reload the signing keys: {e:#}"),
            Err(e) => tracing::warn!("signing key reload task failed: {e}"),
        }
        for r in log.signing_keys.pending_rotations() {
            let change = r.change();
            let event = Audit::new(CONFIG_CHANGE, "signing_key.rotate")
                .target("signing_key")
                .change(change.get("before").cloned(), change.get("after").cloned())
                .attr("made", "offline");
            match audit::record(&log, &operator, event).await {
                Ok(_) => {
                    if let Err(e) = mark_logged(&log, r.new_key_id).await {
                        tracing::warn!("cannot mark a key rotation as logged: {e:#}");
                    }
                }
                Err(e) => {
                    tracing::warn!("cannot log a key rotation yet: {}", e.body.message);
                    break;
                }
            }
        }
    }
}

/// Records in the key history that a rotation is in the log (the history's
/// flock, a file write and a key reload: on the blocking pool).
pub(crate) async fn mark_logged(log: &AppState, new_key_id: String) -> Result<()> {
    let ring = log.signing_keys.clone();
    tokio::task::spawn_blocking(move || ring.mark_logged(&new_key_id))
        .await
        .context("key history task")??;
    Ok(())
}
