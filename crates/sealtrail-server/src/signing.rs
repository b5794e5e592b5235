//! The log's signing keys: a [`KeyRing`] holds the primary key and the keys
//! still inside a rotation overlap, signs checkpoints with all of them (C2SP
//! signed notes carry several signatures; verifiers ignore keys they do not
//! know), and keeps the key history in `DATA/signing-keys.json`.
//!
//! Where the private key lives ([`SigningOptions`]):
//! - in the data directory (`DATA/log.key`, the default): rotation is
//!   [`KeyRing::rotate`] (`sealtrail signing-key rotate`); the old key is kept
//!   as `DATA/log.key.<key id>` until its overlap ends, then deleted;
//! - in a file elsewhere (`--signing-key PATH`), or behind an external signer
//!   command (`--signer-command CMD`, [`CommandSigner`]): the data directory
//!   then holds no private key, and rotation is the operator's: put the new
//!   key in place and restart; the ring notices the new key, records the old
//!   one as retired and the new one as primary (no overlap, since the server
//!   never held the old key).
//!
//! The history file holds public material only (vkeys, key ids, times,
//! roles, where each key lived): never a private key, never the signer
//! command (it may carry credentials). Every read-modify-write of the
//! history and of the key files happens under an advisory lock
//! (`DATA/signing-keys.lock`), so the offline CLI and a running server can
//! rotate and expire keys concurrently. A running server notices an offline
//! rotation through [`KeyRing::refresh`] (a `stat` of the history file),
//! which the checkpointer calls before each checkpoint.
//!
//! Rotation is crash-safe: the new key is written as `log.key.<new id>`, the
//! old one copied to `log.key.<old id>`, then the history names the new key
//! primary (the commit point), then `log.key.<new id>` is renamed over
//! `log.key`. A load that finds the history ahead of `log.key` finishes the
//! rename; key files the history does not reference are deleted.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sealtrail_core::checkpoint::{Checkpoint, SignedCheckpoint};
use sealtrail_core::note::{
    Ed25519Signer, Ed25519Verifier, Note, NoteSignature, NoteSigner, NoteVerifier,
};
use serde::{Deserialize, Serialize};

/// The history of the log's signing keys, in the data directory.
pub const HISTORY_FILE: &str = "signing-keys.json";
/// Advisory lock taken around every change to the keys or their history.
const LOCK_FILE: &str = "signing-keys.lock";
/// The primary private key when it lives in the data directory.
pub const KEY_FILE: &str = "log.key";
/// Version of the history file this build reads and writes.
pub const HISTORY_VERSION: u64 = 1;
/// How long an external signer command may take.
pub const SIGNER_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes read from an external signer's stdout.
const MAX_SIGNER_OUTPUT: u64 = 64 * 1024;

/// Where the log's private key lives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SigningOptions {
    /// Read the private key (C2SP `PRIVATE+KEY+…`) from this file instead of
    /// `DATA/log.key`.
    pub key_path: Option<PathBuf>,
    /// Sign through this external command (docs/deploy.md, "Signing keys").
    pub signer_command: Option<String>,
}

impl SigningOptions {
    /// Which kind of key these options name; both at once is an error.
    pub fn source(&self) -> Result<KeySource> {
        match (&self.key_path, &self.signer_command) {
            (None, None) => Ok(KeySource::DataDir),
            (Some(_), None) => Ok(KeySource::Path),
            (None, Some(c)) if c.trim().is_empty() => bail!("--signer-command is empty"),
            (None, Some(_)) => Ok(KeySource::Command),
            (Some(_), Some(_)) => {
                bail!("--signing-key and --signer-command exclude each other: pick one")
            }
        }
    }
}

/// Where a key lived while it signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeySource {
    /// `DATA/log.key`.
    DataDir,
    /// A file outside the data directory (`--signing-key`).
    Path,
    /// An external signer (`--signer-command`).
    Command,
}

impl KeySource {
    pub fn as_str(self) -> &'static str {
        match self {
            KeySource::DataDir => "data-dir",
            KeySource::Path => "path",
            KeySource::Command => "command",
        }
    }
}

/// What a key does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyRole {
    /// Signs every checkpoint.
    Primary,
    /// A previous primary that still signs, until `overlap_until`.
    Overlap,
    /// No longer signs; kept to verify checkpoints it signed.
    Retired,
}

/// One key of the log, as the history file and `GET /v1/signing-keys` show
/// it. Public material only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyHistoryEntry {
    /// The 4-byte key id, 8 hex digits.
    pub key_id: String,
    /// The C2SP verifier key.
    pub vkey: String,
    pub role: KeyRole,
    pub source: KeySource,
    /// When the key became this log's (microseconds since the epoch).
    pub created: u64,
    /// For an overlap key: when it stops signing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap_until: Option<u64>,
    /// For a retired key: when it stopped signing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<u64>,
    /// The key id of the primary this key replaced (absent for the first key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// Whether the rotation that made this key primary has been appended to
    /// the log as a `signing_key.rotate` event ([`KeyRing::mark_logged`]).
    #[serde(default = "yes")]
    pub logged: bool,
}

fn yes() -> bool {
    true
}

/// `DATA/signing-keys.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Format version ([`HISTORY_VERSION`]).
    pub v: u64,
    /// The log's origin, which is every key's name.
    pub origin: String,
    /// Every key the log ever had, oldest first; exactly one is primary.
    pub keys: Vec<KeyHistoryEntry>,
}

impl History {
    /// The primary's entry (a checked history has exactly one).
    pub fn primary(&self) -> Option<&KeyHistoryEntry> {
        self.keys.iter().find(|k| k.role == KeyRole::Primary)
    }

    /// Every key as a verifier (all parse in a checked history).
    pub fn verifiers(&self) -> Vec<Ed25519Verifier> {
        self.keys
            .iter()
            .filter_map(|k| Ed25519Verifier::from_vkey(&k.vkey).ok())
            .collect()
    }

    /// The entries with their role as of `now` (an overlap that has ended
    /// shows as retired, even before the file is updated).
    pub fn as_of(&self, now: u64) -> Vec<KeyHistoryEntry> {
        self.keys
            .iter()
            .map(|k| match k.overlap_until {
                Some(until) if k.role == KeyRole::Overlap && until <= now => KeyHistoryEntry {
                    role: KeyRole::Retired,
                    retired: Some(until),
                    ..k.clone()
                },
                _ => k.clone(),
            })
            .collect()
    }

    fn check(&self, path: &Path) -> Result<()> {
        let at = || path.display().to_string();
        if self.v > HISTORY_VERSION {
            bail!(
                "{} is version {} of the signing-key history; this sealtrail reads version {HISTORY_VERSION}: upgrade sealtrail",
                at(),
                self.v
            );
        }
        if self.v == 0 {
            bail!("{}: version 0 is not a signing-key history version", at());
        }
        let primaries = self
            .keys
            .iter()
            .filter(|k| k.role == KeyRole::Primary)
            .count();
        if primaries != 1 {
            bail!(
                "{} names {primaries} primary keys; exactly one is required",
                at()
            );
        }
        for k in &self.keys {
            let v = Ed25519Verifier::from_vkey(&k.vkey)
                .map_err(|e| anyhow!("{}: key {:?} is not a valid vkey: {e}", at(), k.vkey))?;
            if v.name() != self.origin {
                bail!(
                    "{}: key {} is named {:?}, not after the log's origin {:?}",
                    at(),
                    k.key_id,
                    v.name(),
                    self.origin
                );
            }
            if k.key_id != hex_id(v.key_id()) {
                bail!(
                    "{}: key id {} does not match its vkey (which has {})",
                    at(),
                    k.key_id,
                    hex_id(v.key_id())
                );
            }
            if k.role == KeyRole::Overlap && k.overlap_until.is_none() {
                bail!("{}: overlap key {} has no overlap_until", at(), k.key_id);
            }
        }
        Ok(())
    }
}

/// A key rotation: what the server logs as a `config_change` event with
/// action `signing_key.rotate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rotation {
    pub origin: String,
    pub old_key_id: String,
    pub old_vkey: String,
    pub new_key_id: String,
    pub new_vkey: String,
    pub new_source: KeySource,
    /// When it happened (microseconds since the epoch).
    pub time: u64,
    /// Until when the old key co-signs; `None`: it stopped at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlap_until: Option<u64>,
}

impl Rotation {
    /// The event's `change` member: `{target, before, after}`.
    pub fn change(&self) -> serde_json::Value {
        serde_json::json!({
            "target": "signing_key",
            "before": {"key_id": self.old_key_id, "vkey": self.old_vkey},
            "after": {
                "key_id": self.new_key_id,
                "vkey": self.new_vkey,
                "source": self.new_source.as_str(),
                "overlap_until": self.overlap_until,
            },
        })
    }
}

/// Why an external signer gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignerError {
    #[error("cannot run the signer command: {0}")]
    Spawn(String),
    #[error("the signer command did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the signer command failed ({0})")]
    Exit(String),
    #[error("the signer command's output is not usable: {0}")]
    Output(String),
    #[error("the signer command returned a signature that does not verify with its key {0}")]
    BadSignature(String),
}

/// Why a checkpoint could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Signer(#[from] SignerError),
    #[error("{0}")]
    Checkpoint(#[from] sealtrail_core::checkpoint::CheckpointError),
    #[error("{0}")]
    Note(#[from] sealtrail_core::note::NoteError),
}

/// A key that can sign note text, possibly failing (an external signer).
pub trait LogSigner: Send + Sync {
    fn verifier(&self) -> &Ed25519Verifier;
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignerError>;
}

/// A private key held in this process.
struct LocalSigner {
    signer: Ed25519Signer,
    verifier: Ed25519Verifier,
}

impl LocalSigner {
    fn new(signer: Ed25519Signer) -> LocalSigner {
        let verifier = signer.verifier();
        LocalSigner { signer, verifier }
    }
}

impl LogSigner for LocalSigner {
    fn verifier(&self) -> &Ed25519Verifier {
        &self.verifier
    }
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignerError> {
        Ok(self.signer.sign(msg))
    }
}

/// An external signer: `sh -c "CMD vkey"` prints the C2SP vkey, and
/// `sh -c "CMD sign"` reads note text on stdin and prints the base64 Ed25519
/// signature (64 bytes). Each answer must come within the timeout, with exit
/// status 0; every signature is verified against the vkey before use.
pub struct CommandSigner {
    command: String,
    verifier: Ed25519Verifier,
    timeout: Duration,
}

impl std::fmt::Debug for CommandSigner {
    // The command may carry credentials: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CommandSigner({})", self.verifier.to_vkey())
    }
}

impl CommandSigner {
    /// Runs `CMD vkey` and keeps the key it prints.
    pub fn start(command: &str, timeout: Duration) -> Result<CommandSigner, SignerError> {
        let out = run_command(command, "vkey", None, timeout)?;
        let text = String::from_utf8(out)
            .map_err(|_| SignerError::Output("the vkey is not UTF-8".into()))?;
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .ok_or_else(|| SignerError::Output("`vkey` printed nothing".into()))?;
        let verifier = Ed25519Verifier::from_vkey(line).map_err(|e| {
            SignerError::Output(format!(
                "`vkey` printed {line:?}, not a C2SP Ed25519 vkey: {e}"
            ))
        })?;
        Ok(CommandSigner {
            command: command.to_owned(),
            verifier,
            timeout,
        })
    }

    /// The vkey the command printed.
    pub fn vkey(&self) -> String {
        self.verifier.to_vkey()
    }
}

impl LogSigner for CommandSigner {
    fn verifier(&self) -> &Ed25519Verifier {
        &self.verifier
    }
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignerError> {
        let out = run_command(&self.command, "sign", Some(msg), self.timeout)?;
        let text = std::str::from_utf8(&out)
            .map_err(|_| SignerError::Output("the signature is not UTF-8 base64".into()))?
            .trim();
        let sig = STANDARD
            .decode(text)
            .map_err(|_| SignerError::Output("the signature is not standard base64".into()))?;
        if sig.len() != 64 {
            return Err(SignerError::Output(format!(
                "the signature is {} bytes; an Ed25519 signature is 64",
                sig.len()
            )));
        }
        if !self.verifier.verify(msg, &sig) {
            return Err(SignerError::BadSignature(self.verifier.to_vkey()));
        }
        Ok(sig)
    }
}

/// For callers of [`Note::sign`]: a failure is logged and gives an empty
/// signature, which `Note::sign` refuses. [`KeyRing::sign_checkpoint`] keeps
/// the error instead.
impl NoteSigner for CommandSigner {
    fn name(&self) -> &str {
        self.verifier.name()
    }
    fn key_id(&self) -> u32 {
        self.verifier.key_id()
    }
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match self.try_sign(msg) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "external signer failed");
                Vec::new()
            }
        }
    }
}

/// `sh -c "CMD ARG"` with `input` on stdin; its stdout, if it exits 0 within
/// `timeout`. The command runs in its own process group, killed whole on a
/// timeout. Its stderr is the server's.
fn run_command(
    command: &str,
    arg: &str,
    input: Option<&[u8]>,
    timeout: Duration,
) -> Result<Vec<u8>, SignerError> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("{command} {arg}"))
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .map_err(|e| SignerError::Spawn(e.to_string()))?;
    let pid = child.id();
    if let (Some(mut stdin), Some(input)) = (child.stdin.take(), input) {
        let input = input.to_vec();
        // A signer that exits without reading gives EPIPE: not our error.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let stdout = child.stdout.take();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let read = match stdout {
            Some(s) => s
                .take(MAX_SIGNER_OUTPUT + 1)
                .read_to_end(&mut out)
                .map(|_| ()),
            None => Ok(()),
        };
        let status = child.wait();
        let _ = tx.send((read, out, status));
    });
    match rx.recv_timeout(timeout) {
        Ok((read, out, status)) => {
            if out.len() as u64 > MAX_SIGNER_OUTPUT {
                return Err(SignerError::Output(format!(
                    "more than {MAX_SIGNER_OUTPUT} bytes"
                )));
            }
            let status = status.map_err(|e| SignerError::Exit(e.to_string()))?;
            if !status.success() {
                return Err(SignerError::Exit(status.to_string()));
            }
            read.map_err(|e| SignerError::Output(format!("cannot read its stdout: {e}")))?;
            Ok(out)
        }
        Err(_) => {
            // SAFETY: kill(2) on the process group of our own child (its
            // waiter thread has not reaped it: it has not answered).
            unsafe {
                libc::kill(-(pid as i32), libc::SIGKILL);
            }
            Err(SignerError::Timeout(timeout))
        }
    }
}

/// `{:08x}`.
fn hex_id(id: u32) -> String {
    format!("{id:08x}")
}

/// What a loaded ring holds.
struct Loaded {
    history: History,
    primary: Arc<dyn LogSigner>,
    /// Previous primaries still co-signing, with the end of their overlap.
    overlap: Vec<(u64, Arc<dyn LogSigner>)>,
    /// Identity of the history file when it was read.
    stamp: Option<Stamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    mtime: i64,
    mtime_nsec: i64,
    len: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    std::fs::metadata(path).ok().map(|m| Stamp {
        ino: m.ino(),
        mtime: m.mtime(),
        mtime_nsec: m.mtime_nsec(),
        len: m.len(),
    })
}

/// The signing keys of one log. Cheap to share (`Arc`); safe to use from
/// request handlers and the checkpointer at once.
pub struct KeyRing {
    /// `None` for a ring built in memory ([`KeyRing::from_signer`]).
    data: Option<PathBuf>,
    opts: SigningOptions,
    origin: String,
    state: RwLock<Arc<Loaded>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("origin", &self.origin)
            .field("data", &self.data)
            .finish()
    }
}

impl KeyRing {
    /// Loads the keys of the log in `data` (creating the history of an
    /// older data directory from its key), records an external key that
    /// changed since the last start as a rotation, retires overlap keys
    /// whose overlap has ended, and deletes their files.
    pub fn load(data: &Path, opts: &SigningOptions) -> Result<Arc<KeyRing>> {
        let loaded = load_locked(data, opts, crate::clock::now_micros())?;
        Ok(Arc::new(KeyRing {
            data: Some(data.to_path_buf()),
            opts: opts.clone(),
            origin: loaded.history.origin.clone(),
            state: RwLock::new(Arc::new(loaded)),
        }))
    }

    /// A ring of one key, kept in memory only (benchmarks, tests): no
    /// history file, no rotation.
    pub fn from_signer(signer: Ed25519Signer) -> Arc<KeyRing> {
        let origin = signer.name().to_owned();
        let local = LocalSigner::new(signer);
        let history = History {
            v: HISTORY_VERSION,
            origin: origin.clone(),
            keys: vec![KeyHistoryEntry {
                key_id: hex_id(local.verifier.key_id()),
                vkey: local.verifier.to_vkey(),
                role: KeyRole::Primary,
                source: KeySource::DataDir,
                created: crate::clock::now_micros(),
                overlap_until: None,
                retired: None,
                replaces: None,
                logged: true,
            }],
        };
        Arc::new(KeyRing {
            data: None,
            opts: SigningOptions::default(),
            origin,
            state: RwLock::new(Arc::new(Loaded {
                history,
                primary: Arc::new(local),
                overlap: Vec::new(),
                stamp: None,
            })),
        })
    }

    fn current(&self) -> Arc<Loaded> {
        match self.state.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, loaded: Loaded) {
        let mut g = match self.state.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *g = Arc::new(loaded);
    }

    /// The log's origin (every key's name).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The primary key's vkey: the one to publish for new verifiers.
    pub fn primary_vkey(&self) -> String {
        self.current().primary.verifier().to_vkey()
    }

    /// The keys signing now: the primary first, then overlap keys whose
    /// overlap has not ended at `now`.
    pub fn vkeys(&self, now: u64) -> Vec<String> {
        let s = self.current();
        std::iter::once(s.primary.verifier().to_vkey())
            .chain(
                s.overlap
                    .iter()
                    .filter(|(until, _)| *until > now)
                    .map(|(_, k)| k.verifier().to_vkey()),
            )
            .collect()
    }

    /// Every key the log ever had, to open checkpoints signed before a
    /// rotation.
    pub fn verifiers(&self) -> Vec<Ed25519Verifier> {
        self.current().history.verifiers()
    }

    /// The key history with roles as of `now`, oldest first (what
    /// `GET /v1/signing-keys` serves).
    pub fn history(&self, now: u64) -> Vec<KeyHistoryEntry> {
        self.current().history.as_of(now)
    }

    /// Rotations not yet appended to the log as events (made offline, or an
    /// external key that changed between two starts). Append each as a
    /// `signing_key.rotate` event, then call [`KeyRing::mark_logged`].
    pub fn pending_rotations(&self) -> Vec<Rotation> {
        let s = self.current();
        let h = &s.history;
        h.keys
            .iter()
            .filter(|k| !k.logged)
            .filter_map(|k| {
                let old = h
                    .keys
                    .iter()
                    .find(|o| Some(&o.key_id) == k.replaces.as_ref())?;
                Some(Rotation {
                    origin: h.origin.clone(),
                    old_key_id: old.key_id.clone(),
                    old_vkey: old.vkey.clone(),
                    new_key_id: k.key_id.clone(),
                    new_vkey: k.vkey.clone(),
                    new_source: k.source,
                    time: k.created,
                    overlap_until: old.overlap_until,
                })
            })
            .collect()
    }

    /// Records that the rotation to `new_key_id` is in the log.
    pub fn mark_logged(&self, new_key_id: &str) -> Result<()> {
        let Some(data) = &self.data else {
            return Ok(());
        };
        {
            let _lock = Lock::take(data)?;
            let Some(mut h) = read_history(data)? else {
                return Ok(());
            };
            let mut changed = false;
            for k in h.keys.iter_mut().filter(|k| k.key_id == new_key_id) {
                changed |= !k.logged;
                k.logged = true;
            }
            if changed {
                write_history(data, &h)?;
            }
        }
        self.reload(crate::clock::now_micros())
    }

    /// Signs a checkpoint with every key signing at `now` (primary first).
    /// Every signature is made (and an external one verified) before the
    /// note is built: an external signer failing means no checkpoint.
    pub fn sign_checkpoint(&self, cp: Checkpoint, now: u64) -> Result<SignedCheckpoint, SignError> {
        cp.validate()?;
        let text = cp.to_text();
        let s = self.current();
        let signers = std::iter::once(&s.primary).chain(
            s.overlap
                .iter()
                .filter(|(until, _)| *until > now)
                .map(|(_, k)| k),
        );
        let mut signatures = Vec::new();
        for k in signers {
            let v = k.verifier();
            signatures.push(NoteSignature {
                name: v.name().to_owned(),
                key_id: v.key_id(),
                sig: k.try_sign(text.as_bytes())?,
            });
        }
        let note = Note::new(text, signatures)?;
        Ok(SignedCheckpoint {
            checkpoint: cp,
            note,
        })
    }

    /// Reloads the keys when the history file changed on disk (an offline
    /// rotation) and retires overlap keys whose overlap ended. Cheap when
    /// nothing changed: one `stat`. On error the keys loaded before stay.
    pub fn refresh(&self, now: u64) -> Result<()> {
        let Some(data) = &self.data else {
            return Ok(());
        };
        let s = self.current();
        let expired = s
            .history
            .keys
            .iter()
            .any(|k| k.role == KeyRole::Overlap && k.overlap_until.is_some_and(|u| u <= now));
        if !expired && stamp(&data.join(HISTORY_FILE)) == s.stamp {
            return Ok(());
        }
        self.reload(now)
    }

    fn reload(&self, now: u64) -> Result<()> {
        let Some(data) = &self.data else {
            return Ok(());
        };
        let loaded = load_locked(data, &self.opts, now)?;
        if loaded.history.origin != self.origin {
            bail!(
                "the signing keys in {} are now for origin {:?}, not {:?}; restart the server",
                data.display(),
                loaded.history.origin,
                self.origin
            );
        }
        let before = self.current().primary.verifier().to_vkey();
        let after = loaded.primary.verifier().to_vkey();
        if before != after {
            tracing::info!(old = %before, new = %after, "signing key rotated: checkpoints are now signed by the new key");
        }
        self.replace(loaded);
        Ok(())
    }

    /// Generates a new primary key (same name, so a new key id), keeps the
    /// current one co-signing for `overlap`, and records both in the
    /// history. Only for a key kept in the data directory: an external key is
    /// rotated where it lives (docs/deploy.md).
    pub fn rotate(&self, overlap: Duration, now: u64) -> Result<Rotation> {
        let Some(data) = &self.data else {
            bail!("this key ring is held in memory only; it cannot be rotated");
        };
        if self.opts.source()? != KeySource::DataDir {
            bail!("{}", external_rotation_refusal(self.opts.source()?));
        }
        let rotation = rotate_in(data, overlap, now)?;
        self.reload(now)?;
        Ok(rotation)
    }
}

fn external_rotation_refusal(source: KeySource) -> String {
    let how = match source {
        KeySource::Path => "the key is read from --signing-key PATH",
        _ => "the key is held by an external signer (--signer-command)",
    };
    format!(
        "{how}, not kept in the data directory, so sealtrail cannot rotate it: \
         put a new key of the same name in its place and restart the server, which \
         records the change in {HISTORY_FILE} (see docs/deploy.md, \"Signing keys\")"
    )
}

/// Rotates the key kept in `data` without a running ring (the offline
/// `sealtrail signing-key rotate`). A running server picks the new key up
/// at its next checkpoint.
pub fn rotate_offline(data: &Path, overlap: Duration, now: u64) -> Result<Rotation> {
    // Loads (and so bootstraps or repairs) the history first.
    let ring = KeyRing::load_for_rotation(data)?;
    ring.rotate(overlap, now)
}

impl KeyRing {
    /// The ring as a server without signing flags would load it; refuses a
    /// log whose primary key is external.
    fn load_for_rotation(data: &Path) -> Result<Arc<KeyRing>> {
        if let Some(h) = read_history(data)? {
            if let Some(p) = h.primary() {
                if p.source != KeySource::DataDir {
                    bail!("{}", external_rotation_refusal(p.source));
                }
            }
        }
        KeyRing::load(data, &SigningOptions::default())
    }
}

/// An exclusive advisory lock on `DATA/signing-keys.lock`, released on drop.
struct Lock {
    _file: File,
}

impl Lock {
    fn take(data: &Path) -> Result<Lock> {
        let path = data.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o644)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        use std::os::fd::AsRawFd;
        // SAFETY: flock(2) on a descriptor we own; closing it releases the lock.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("cannot lock {}", path.display()));
        }
        Ok(Lock { _file: file })
    }
}

/// Reads and checks `DATA/signing-keys.json`; `None` when there is none yet.
pub fn read_history(data: &Path) -> Result<Option<History>> {
    let path = data.join(HISTORY_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let h: History = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a signing-key history", path.display()))?;
    h.check(&path)?;
    Ok(Some(h))
}

/// Every key the log in `data` ever had, from its history (or its
/// `log.key` for a directory that has no history yet); reads no private
/// key when there is a history. For fsck and migration.
pub fn history_verifiers(data: &Path) -> Result<Vec<Ed25519Verifier>> {
    if let Some(h) = read_history(data)? {
        return Ok(h.verifiers());
    }
    let path = data.join(KEY_FILE);
    if !path.exists() {
        bail!(
            "cannot read the log key: {} has neither {HISTORY_FILE} nor {KEY_FILE} (is it a sealtrail data directory?)",
            data.display()
        );
    }
    Ok(vec![read_skey(&path)?.verifier()])
}

fn write_history(data: &Path, h: &History) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(h)?;
    text.push(b'\n');
    write_atomic(data, HISTORY_FILE, &text, 0o644)
}

/// Writes `data/name` via a temporary file, fsync'd, renamed, directory fsync'd.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
    }
    std::fs::rename(&tmp, &path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync directory {}", dir.display()))
}

/// Writes a private key (mode 0600, fsync'd, atomically renamed).
fn write_skey(dir: &Path, name: &str, signer: &Ed25519Signer) -> Result<()> {
    let mut text = signer.to_skey().into_bytes();
    text.push(b'\n');
    let r = write_atomic(dir, name, &text, 0o600);
    wipe(&mut text);
    r
}

fn wipe(buf: &mut [u8]) {
    buf.fill(0);
    std::hint::black_box(buf);
}

/// Reads a C2SP private key file.
pub fn read_skey(path: &Path) -> Result<Ed25519Signer> {
    let mut bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the log key {}", path.display()))?;
    let parsed = std::str::from_utf8(&bytes)
        .map_err(|_| {
            anyhow!(
                "{} is not a valid C2SP private key (not UTF-8)",
                path.display()
            )
        })
        .and_then(|s| {
            Ed25519Signer::from_skey(s.trim())
                .with_context(|| format!("{} is not a valid C2SP private key", path.display()))
        });
    wipe(&mut bytes);
    parsed
}

/// A fresh Ed25519 key named `origin`.
pub fn generate(origin: &str) -> Result<Ed25519Signer> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow!("no randomness: {e}"))?;
    let signer = Ed25519Signer::from_seed(origin, seed)
        .with_context(|| format!("{origin:?} cannot be a log origin"));
    wipe(&mut seed);
    signer
}

fn overlap_file(id: &str) -> String {
    format!("{KEY_FILE}.{id}")
}

/// The key id in a `log.key.<8 hex>` file name.
fn overlap_file_id(name: &str) -> Option<&str> {
    name.strip_prefix(KEY_FILE)?
        .strip_prefix('.')
        .filter(|id| id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The primary signer as the options say, and where it came from.
fn open_primary(
    data: &Path,
    opts: &SigningOptions,
    history: Option<&History>,
) -> Result<Arc<dyn LogSigner>> {
    Ok(match opts.source()? {
        KeySource::DataDir => {
            let path = data.join(KEY_FILE);
            if !path.exists() {
                if let Some(p) = history.and_then(History::primary) {
                    if p.source != KeySource::DataDir {
                        bail!(
                            "the signing key of the log in {} is not in the data directory (it was given with {}); start with that option again",
                            data.display(),
                            if p.source == KeySource::Path {
                                "--signing-key PATH"
                            } else {
                                "--signer-command CMD"
                            }
                        );
                    }
                }
            }
            Arc::new(LocalSigner::new(read_skey(&path)?))
        }
        KeySource::Path => {
            let path = opts.key_path.clone().unwrap_or_default();
            Arc::new(LocalSigner::new(read_skey(&path)?))
        }
        KeySource::Command => {
            let cmd = opts.signer_command.clone().unwrap_or_default();
            Arc::new(
                CommandSigner::start(&cmd, SIGNER_TIMEOUT)
                    .map_err(|e| anyhow!("--signer-command: {e}"))?,
            )
        }
    })
}

/// Finishes a rotation that stopped between its commit (the history names
/// the new primary) and the rename of `log.key.<new id>` over `log.key`.
fn finish_pending_rotation(data: &Path, h: &History) -> Result<()> {
    let Some(p) = h.primary().filter(|p| p.source == KeySource::DataDir) else {
        return Ok(());
    };
    let pending = data.join(overlap_file(&p.key_id));
    if !pending.exists() {
        return Ok(());
    }
    let key = data.join(KEY_FILE);
    let current = if key.exists() {
        Some(read_skey(&key)?.vkey())
    } else {
        None
    };
    if current.as_deref() == Some(p.vkey.as_str()) {
        return Ok(());
    }
    if read_skey(&pending)?.vkey() != p.vkey {
        bail!(
            "{} does not hold key {} that {HISTORY_FILE} names as primary",
            pending.display(),
            p.key_id
        );
    }
    std::fs::rename(&pending, &key)
        .with_context(|| format!("cannot rename {} to {}", pending.display(), key.display()))?;
    sync_dir(data)?;
    tracing::info!(key_id = %p.key_id, "finished an interrupted signing key rotation");
    Ok(())
}

/// Under the lock: reads the history and keys, bootstraps or updates the
/// history, expires overlaps, removes stray key files, loads the signers.
fn load_locked(data: &Path, opts: &SigningOptions, now: u64) -> Result<Loaded> {
    let source = opts.source()?;
    let _lock = Lock::take(data)?;
    let existing = read_history(data)?;
    if let (Some(h), KeySource::DataDir) = (&existing, source) {
        finish_pending_rotation(data, h)?;
    }
    let primary = open_primary(data, opts, existing.as_ref())?;
    let pv = primary.verifier().clone();
    let vkey = pv.to_vkey();
    let id = hex_id(pv.key_id());
    if source != KeySource::DataDir && data.join(KEY_FILE).exists() {
        tracing::warn!(
            "{} still holds a private key although the signing key is given with --signing-key/--signer-command; delete it if the data directory must hold no private key",
            data.join(KEY_FILE).display()
        );
    }
    let mut changed = false;
    let mut h = match existing {
        None => {
            // A data directory from before key histories (or a crash after
            // init wrote log.key): its key has always been the primary.
            let created = match source {
                KeySource::DataDir => std::fs::metadata(data.join(KEY_FILE))
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_micros() as u64)
                    .unwrap_or(now),
                _ => now,
            };
            changed = true;
            History {
                v: HISTORY_VERSION,
                origin: pv.name().to_owned(),
                keys: vec![KeyHistoryEntry {
                    key_id: id.clone(),
                    vkey: vkey.clone(),
                    role: KeyRole::Primary,
                    source,
                    created,
                    overlap_until: None,
                    retired: None,
                    replaces: None,
                    logged: true,
                }],
            }
        }
        Some(h) => h,
    };
    if pv.name() != h.origin {
        bail!(
            "the signing key {vkey} is named {:?}, but the log in {} has origin {:?}; a log's key must be named after its origin",
            pv.name(),
            data.display(),
            h.origin
        );
    }
    let primary_vkey = h.primary().map(|p| p.vkey.clone()).unwrap_or_default();
    if primary_vkey != vkey {
        if source == KeySource::DataDir {
            bail!(
                "{} holds key {id}, but {HISTORY_FILE} names {} as the primary key; restore the matching log.key (or, if {HISTORY_FILE} is wrong, remove it to start a new history from log.key)",
                data.join(KEY_FILE).display(),
                h.primary().map(|p| p.key_id.as_str()).unwrap_or("?")
            );
        }
        if let Some(old) = h.keys.iter().find(|k| k.vkey == vkey) {
            bail!(
                "the signing key {} was already this log's key (now {:?}); a retired key is not taken back: use a new key",
                old.key_id,
                old.role
            );
        }
        // The operator replaced an external key: the old one no longer signs.
        let mut replaced = None;
        for k in h.keys.iter_mut().filter(|k| k.role == KeyRole::Primary) {
            k.role = KeyRole::Retired;
            k.retired = Some(now);
            replaced = Some(k.key_id.clone());
        }
        tracing::info!(new = %vkey, "the external signing key changed since the last start: recorded as a rotation");
        h.keys.push(KeyHistoryEntry {
            key_id: id.clone(),
            vkey: vkey.clone(),
            role: KeyRole::Primary,
            source,
            created: now,
            overlap_until: None,
            retired: None,
            replaces: replaced,
            logged: false,
        });
        changed = true;
    }
    for k in h.keys.iter_mut().filter(|k| k.role == KeyRole::Primary) {
        if k.source != source {
            k.source = source;
            changed = true;
        }
    }
    // Overlaps that have ended.
    for k in h.keys.iter_mut() {
        if let (KeyRole::Overlap, Some(until)) = (k.role, k.overlap_until) {
            if until <= now {
                k.role = KeyRole::Retired;
                k.retired = Some(until);
                changed = true;
            }
        }
    }
    if changed {
        write_history(data, &h)?;
    }
    // Key files nothing refers to: ended overlaps, a rotation that crashed
    // before its commit, temporary files.
    let keep: Vec<String> = h
        .keys
        .iter()
        .filter(|k| k.role == KeyRole::Overlap)
        .map(|k| overlap_file(&k.key_id))
        .collect();
    remove_stray_keys(data, &keep)?;
    let mut overlap: Vec<(u64, Arc<dyn LogSigner>)> = Vec::new();
    for k in h.keys.iter().filter(|k| k.role == KeyRole::Overlap) {
        let path = data.join(overlap_file(&k.key_id));
        match read_skey(&path) {
            Ok(s) if s.vkey() == k.vkey => {
                overlap.push((k.overlap_until.unwrap_or(0), Arc::new(LocalSigner::new(s))))
            }
            Ok(_) => bail!("{} does not hold key {}", path.display(), k.key_id),
            Err(e) => tracing::warn!(
                key_id = %k.key_id,
                error = %e,
                "an overlap key is missing: checkpoints are signed by the primary key only"
            ),
        }
    }
    Ok(Loaded {
        history: h,
        primary,
        overlap,
        stamp: stamp(&data.join(HISTORY_FILE)),
    })
}

fn remove_stray_keys(data: &Path, keep: &[String]) -> Result<()> {
    let entries =
        std::fs::read_dir(data).with_context(|| format!("cannot list {}", data.display()))?;
    let mut removed = false;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let stray_tmp = name.starts_with(&format!(".{KEY_FILE}.")) && name.ends_with(".tmp");
        let stray_key = overlap_file_id(name).is_some() && !keep.iter().any(|k| k == name);
        if stray_tmp || stray_key {
            std::fs::remove_file(e.path())
                .with_context(|| format!("cannot delete {}", e.path().display()))?;
            removed = true;
        }
    }
    if removed {
        sync_dir(data)?;
    }
    Ok(())
}

/// The rotation itself, under the lock (see the module comment for the
/// order of writes).
fn rotate_in(data: &Path, overlap: Duration, now: u64) -> Result<Rotation> {
    let _lock = Lock::take(data)?;
    let mut h =
        read_history(data)?.ok_or_else(|| anyhow!("{} has no {HISTORY_FILE}", data.display()))?;
    finish_pending_rotation(data, &h)?;
    let old = read_skey(&data.join(KEY_FILE))?;
    let old_vkey = old.vkey();
    let old_id = hex_id(old.verifier().key_id());
    if h.primary().map(|p| p.vkey.as_str()) != Some(old_vkey.as_str()) {
        bail!(
            "{} does not hold the primary key that {HISTORY_FILE} names; nothing was rotated",
            data.join(KEY_FILE).display()
        );
    }
    let new = loop {
        let s = generate(&h.origin)?;
        let id = hex_id(s.verifier().key_id());
        // A key id must name one key of this log (1 in 2^32 chance).
        if !h.keys.iter().any(|k| k.key_id == id) {
            break s;
        }
    };
    let new_vkey = new.vkey();
    let new_id = hex_id(new.verifier().key_id());
    let overlap_micros = u64::try_from(overlap.as_micros()).unwrap_or(u64::MAX);
    let until = (overlap_micros > 0).then(|| now.saturating_add(overlap_micros));
    if until.is_some() {
        write_skey(data, &overlap_file(&old_id), &old)?;
    }
    write_skey(data, &overlap_file(&new_id), &new)?;
    for k in h.keys.iter_mut().filter(|k| k.role == KeyRole::Primary) {
        match until {
            Some(u) => {
                k.role = KeyRole::Overlap;
                k.overlap_until = Some(u);
            }
            None => {
                k.role = KeyRole::Retired;
                k.retired = Some(now);
            }
        }
    }
    h.keys.push(KeyHistoryEntry {
        key_id: new_id.clone(),
        vkey: new_vkey.clone(),
        role: KeyRole::Primary,
        source: KeySource::DataDir,
        created: now,
        overlap_until: None,
        retired: None,
        replaces: Some(old_id.clone()),
        logged: false,
    });
    // The commit point: from here the new key is the primary.
    write_history(data, &h)?;
    let pending = data.join(overlap_file(&new_id));
    let key = data.join(KEY_FILE);
    std::fs::rename(&pending, &key)
        .with_context(|| format!("cannot rename {} to {}", pending.display(), key.display()))?;
    sync_dir(data)?;
    Ok(Rotation {
        origin: h.origin.clone(),
        old_key_id: old_id,
        old_vkey,
        new_key_id: new_id,
        new_vkey,
        new_source: KeySource::DataDir,
        time: now,
        overlap_until: until,
    })
}

/// For `init` with an external key: the key's origin and vkey. A
/// `--signing-key` file that does not exist yet is created (mode 0600) with
/// a new key named `origin`.
pub fn external_key_for_init(
    opts: &SigningOptions,
    origin: Option<&str>,
    default_origin: impl FnOnce() -> Result<String>,
) -> Result<(String, String)> {
    let (name, vkey) = match opts.source()? {
        KeySource::DataDir => bail!("external_key_for_init: the key is in the data directory"),
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
                let mut text = signer.to_skey().into_bytes();
                text.push(b'\n');
                let written = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .and_then(|mut f| f.write_all(&text).and_then(|()| f.sync_all()));
                wipe(&mut text);
                written.with_context(|| {
                    format!("cannot write the new signing key {}", path.display())
                })?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    sync_dir(dir)?;
                }
                signer
            };
            (signer.name().to_owned(), signer.vkey())
        }
        KeySource::Command => {
            let cmd = opts.signer_command.clone().unwrap_or_default();
            let s = CommandSigner::start(&cmd, SIGNER_TIMEOUT)
                .map_err(|e| anyhow!("--signer-command: {e}"))?;
            (s.verifier.name().to_owned(), s.vkey())
        }
    };
    if let Some(o) = origin.filter(|o| *o != name) {
        bail!("the signing key is named {name:?}, but --origin is {o:?}: a log's key must be named after its origin");
    }
    Ok((name, vkey))
}

/// Writes the first history of a log whose key is external (`init`).
pub fn write_initial_history(
    data: &Path,
    origin: &str,
    vkey: &str,
    source: KeySource,
    now: u64,
) -> Result<()> {
    let v = Ed25519Verifier::from_vkey(vkey).map_err(|e| anyhow!("{vkey:?}: {e}"))?;
    let h = History {
        v: HISTORY_VERSION,
        origin: origin.to_owned(),
        keys: vec![KeyHistoryEntry {
            key_id: hex_id(v.key_id()),
            vkey: vkey.to_owned(),
            role: KeyRole::Primary,
            source,
            created: now,
            overlap_until: None,
            retired: None,
            replaces: None,
            logged: true,
        }],
    };
    h.check(&data.join(HISTORY_FILE))?;
    let _lock = Lock::take(data)?;
    write_history(data, &h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealtrail_core::hash::sha256;

    const ORIGIN: &str = "example.com/test-log";

    fn now() -> u64 {
        crate::clock::now_micros()
    }

    fn cp(size: u64) -> Checkpoint {
        Checkpoint {
            origin: ORIGIN.into(),
            size,
            root: sha256(format!("root {size}").as_bytes()),
            extensions: vec![],
        }
    }

    /// A data directory holding only `log.key` (what `init` writes).
    fn data_dir() -> (tempfile::TempDir, Ed25519Signer) {
        let dir = tempfile::tempdir().unwrap();
        let key = generate(ORIGIN).unwrap();
        write_skey(dir.path(), KEY_FILE, &key).unwrap();
        (dir, key)
    }

    fn opens_with(note: &[u8], vkey: &str) -> bool {
        let v = Ed25519Verifier::from_vkey(vkey).unwrap();
        SignedCheckpoint::open(note, &[&v]).is_ok()
    }

    fn key_ids(signed: &SignedCheckpoint) -> Vec<String> {
        signed
            .note
            .signatures()
            .iter()
            .map(|s| hex_id(s.key_id))
            .collect()
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn an_old_data_directory_gets_a_history() {
        let (dir, key) = data_dir();
        let ring = KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        assert_eq!(ring.origin(), ORIGIN);
        assert_eq!(ring.primary_vkey(), key.vkey());
        assert_eq!(ring.vkeys(now()), vec![key.vkey()]);
        let h = read_history(dir.path()).unwrap().unwrap();
        assert_eq!(h.v, HISTORY_VERSION);
        assert_eq!(h.keys.len(), 1);
        assert_eq!(h.keys[0].role, KeyRole::Primary);
        assert_eq!(h.keys[0].source, KeySource::DataDir);
        assert_eq!(h.keys[0].key_id, hex_id(key.verifier().key_id()));
        assert!(ring.pending_rotations().is_empty());
        // The history holds no private material.
        let text = std::fs::read_to_string(dir.path().join(HISTORY_FILE)).unwrap();
        assert!(!text.contains("PRIVATE"), "{text}");
        let signed = ring.sign_checkpoint(cp(1), now()).unwrap();
        assert!(opens_with(&signed.to_bytes(), &key.vkey()));
    }

    #[test]
    fn rotation_overlap_then_expiry() {
        let (dir, old) = data_dir();
        let ring = KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        let t0 = now();
        let r = ring.rotate(Duration::from_secs(60), t0).unwrap();
        assert_eq!(r.old_vkey, old.vkey());
        assert_ne!(r.new_vkey, old.vkey());
        assert_ne!(r.new_key_id, r.old_key_id);
        assert_eq!(r.overlap_until, Some(t0 + 60_000_000));
        assert_eq!(r.change()["target"], "signing_key");
        // Same name (the origin), new key id.
        let new = read_skey(&dir.path().join(KEY_FILE)).unwrap();
        assert_eq!(new.vkey(), r.new_vkey);
        assert_eq!(new.name(), ORIGIN);
        let kept = dir.path().join(overlap_file(&r.old_key_id));
        assert_eq!(read_skey(&kept).unwrap().vkey(), old.vkey());
        use std::os::unix::fs::PermissionsExt;
        for f in [dir.path().join(KEY_FILE), kept.clone()] {
            let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", f.display());
        }

        // During the overlap: primary first, then the old key; each alone opens it.
        assert_eq!(ring.primary_vkey(), r.new_vkey);
        assert_eq!(
            ring.vkeys(t0 + 1),
            vec![r.new_vkey.clone(), r.old_vkey.clone()]
        );
        let during = ring.sign_checkpoint(cp(2), t0 + 1).unwrap();
        assert_eq!(
            key_ids(&during),
            vec![r.new_key_id.clone(), r.old_key_id.clone()]
        );
        let bytes = during.to_bytes();
        assert!(opens_with(&bytes, &r.old_vkey));
        assert!(opens_with(&bytes, &r.new_vkey));
        // Every key of the history opens it too, as the checkpointer does.
        let all = ring.verifiers();
        assert_eq!(all.len(), 2);
        let trusted: Vec<&dyn NoteVerifier> = all.iter().map(|v| v as &dyn NoteVerifier).collect();
        SignedCheckpoint::open(&bytes, &trusted).unwrap();

        let roles: Vec<KeyRole> = ring.history(t0 + 1).iter().map(|k| k.role).collect();
        assert_eq!(roles, vec![KeyRole::Overlap, KeyRole::Primary]);

        // After the overlap: only the new key signs; the old one is retired
        // and its file deleted at the next refresh.
        let after = t0 + 60_000_000;
        assert_eq!(ring.vkeys(after), vec![r.new_vkey.clone()]);
        let late = ring.sign_checkpoint(cp(3), after).unwrap();
        assert_eq!(key_ids(&late), vec![r.new_key_id.clone()]);
        assert!(!opens_with(&late.to_bytes(), &r.old_vkey));
        assert!(opens_with(&late.to_bytes(), &r.new_vkey));
        let roles: Vec<KeyRole> = ring.history(after).iter().map(|k| k.role).collect();
        assert_eq!(roles, vec![KeyRole::Retired, KeyRole::Primary]);
        assert!(kept.exists(), "the file goes at the next refresh");
        ring.refresh(after).unwrap();
        assert!(!kept.exists());
        let h = read_history(dir.path()).unwrap().unwrap();
        assert_eq!(h.keys[0].role, KeyRole::Retired);
        assert_eq!(h.keys[0].retired, Some(after));
        assert_eq!(ring.verifiers().len(), 2, "retired keys still verify");

        // The rotation is pending until logged, across reloads.
        let pending = ring.pending_rotations();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].new_vkey, r.new_vkey);
        assert_eq!(pending[0].old_vkey, r.old_vkey);
        ring.mark_logged(&r.new_key_id).unwrap();
        assert!(ring.pending_rotations().is_empty());
        let again = KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        assert!(again.pending_rotations().is_empty());
        assert_eq!(again.primary_vkey(), r.new_vkey);
        let mut expect = vec![KEY_FILE.to_string(), HISTORY_FILE.into(), LOCK_FILE.into()];
        expect.sort();
        assert_eq!(files(dir.path()), expect);
    }

    #[test]
    fn zero_overlap_retires_at_once() {
        let (dir, old) = data_dir();
        let ring = KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        let t = now();
        let r = ring.rotate(Duration::ZERO, t).unwrap();
        assert_eq!(r.overlap_until, None);
        assert!(!dir.path().join(overlap_file(&r.old_key_id)).exists());
        let s = ring.sign_checkpoint(cp(1), t).unwrap();
        assert_eq!(key_ids(&s), vec![r.new_key_id.clone()]);
        assert!(!opens_with(&s.to_bytes(), &old.vkey()));
        assert_eq!(ring.history(t)[0].role, KeyRole::Retired);
    }

    #[test]
    fn an_offline_rotation_reaches_a_running_ring() {
        let (dir, old) = data_dir();
        let running = KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        let t = now();
        let r = rotate_offline(dir.path(), Duration::from_secs(3600), t).unwrap();
        // Not seen until the refresh (one stat).
        assert_eq!(running.primary_vkey(), old.vkey());
        running.refresh(t + 1).unwrap();
        assert_eq!(running.primary_vkey(), r.new_vkey);
        assert_eq!(running.vkeys(t + 1), vec![r.new_vkey.clone(), old.vkey()]);
        let s = running.sign_checkpoint(cp(7), t + 1).unwrap();
        assert_eq!(s.note.signatures().len(), 2);
        // A second rotation during the overlap: three keys sign.
        let r2 = rotate_offline(dir.path(), Duration::from_secs(60), t + 2).unwrap();
        running.refresh(t + 3).unwrap();
        assert_eq!(running.vkeys(t + 3).len(), 3);
        assert_eq!(running.vkeys(t + 3)[0], r2.new_vkey);
        // Unchanged history: refresh is a no-op.
        running.refresh(t + 4).unwrap();
        assert_eq!(running.vkeys(t + 4).len(), 3);
    }

    #[test]
    fn an_interrupted_rotation_is_finished_on_load() {
        let (dir, old) = data_dir();
        let ring = KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        let r = ring.rotate(Duration::from_secs(3600), now()).unwrap();
        drop(ring);
        // The state right after the commit, before the rename: log.key is
        // still the old key, the new one waits as log.key.<new id>.
        let d = dir.path();
        std::fs::copy(d.join(KEY_FILE), d.join(overlap_file(&r.new_key_id))).unwrap();
        write_skey(d, KEY_FILE, &old).unwrap();
        let ring = KeyRing::load(d, &SigningOptions::default()).unwrap();
        assert_eq!(ring.primary_vkey(), r.new_vkey);
        assert_eq!(read_skey(&d.join(KEY_FILE)).unwrap().vkey(), r.new_vkey);
        assert!(!d.join(overlap_file(&r.new_key_id)).exists());
        assert!(d.join(overlap_file(&r.old_key_id)).exists());
    }

    #[test]
    fn a_rotation_that_crashed_before_its_commit_leaves_nothing() {
        let (dir, old) = data_dir();
        KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        let stray = generate(ORIGIN).unwrap();
        let name = overlap_file(&hex_id(stray.verifier().key_id()));
        write_skey(dir.path(), &name, &stray).unwrap();
        std::fs::write(dir.path().join(format!(".{KEY_FILE}.tmp")), b"x").unwrap();
        let ring = KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        assert_eq!(ring.primary_vkey(), old.vkey());
        assert!(!dir.path().join(&name).exists());
        assert!(!dir.path().join(format!(".{KEY_FILE}.tmp")).exists());
    }

    #[test]
    fn a_log_key_that_is_not_the_primary_is_refused() {
        let (dir, _) = data_dir();
        KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        write_skey(dir.path(), KEY_FILE, &generate(ORIGIN).unwrap()).unwrap();
        let e = KeyRing::load(dir.path(), &SigningOptions::default()).unwrap_err();
        assert!(format!("{e:#}").contains("names"), "{e:#}");
    }

    #[test]
    fn a_newer_history_version_is_refused() {
        let (dir, _) = data_dir();
        KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        let p = dir.path().join(HISTORY_FILE);
        let text = std::fs::read_to_string(&p)
            .unwrap()
            .replace("\"v\": 1", "\"v\": 2");
        std::fs::write(&p, text).unwrap();
        let e = format!("{:#}", read_history(dir.path()).unwrap_err());
        assert!(e.contains("version 2") && e.contains("version 1"), "{e}");
    }

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

    /// A shell script signer that answers `vkey` with `vkey` and `sign`
    /// with `sign_body` (shell code, stdin is the note text).
    fn script(dir: &Path, name: &str, vkey: &str, sign_body: &str) -> String {
        let path = dir.join(name);
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\ncase \"$1\" in\n  vkey) echo '{vkey}' ;;\n  sign) {sign_body} ;;\n  *) exit 64 ;;\nesac\n"
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.display().to_string()
    }

    #[test]
    fn command_signer_good_and_bad() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate(ORIGIN).unwrap();
        let text = cp(9).to_text();
        let good_sig = STANDARD.encode(key.sign(text.as_bytes()));
        let other_sig = STANDARD.encode(key.sign(b"something else\n"));
        let short = Duration::from_millis(500);

        let good = script(
            dir.path(),
            "good",
            &key.vkey(),
            &format!("cat >/dev/null; echo {good_sig}"),
        );
        let s = CommandSigner::start(&good, short).unwrap();
        assert_eq!(s.vkey(), key.vkey());
        assert_eq!(
            s.try_sign(text.as_bytes()).unwrap(),
            key.sign(text.as_bytes())
        );
        assert!(
            !format!("{s:?}").contains(&good),
            "the command is never printed"
        );

        let sign_err = |body: &str| {
            let cmd = script(dir.path(), "bad", &key.vkey(), body);
            CommandSigner::start(&cmd, short)
                .unwrap()
                .try_sign(text.as_bytes())
                .unwrap_err()
        };
        // A valid signature of something else.
        assert!(matches!(
            sign_err(&format!("cat >/dev/null; echo {other_sig}")),
            SignerError::BadSignature(_)
        ));
        assert!(matches!(sign_err("echo hello"), SignerError::Output(_)));
        assert!(matches!(sign_err("echo AAAA"), SignerError::Output(_)));
        assert!(matches!(
            sign_err("head -c 100000 /dev/zero"),
            SignerError::Output(_)
        ));
        assert!(matches!(sign_err("exit 3"), SignerError::Exit(_)));
        // Not reading stdin at all is fine as long as the answer is right.
        assert!(matches!(
            sign_err(&format!("echo {good_sig}; exit 1")),
            SignerError::Exit(_)
        ));
        let started = std::time::Instant::now();
        assert_eq!(sign_err("sleep 30"), SignerError::Timeout(short));
        assert!(started.elapsed() < Duration::from_secs(5));
        // A child that keeps stdout open is killed with its group.
        let started = std::time::Instant::now();
        assert_eq!(
            sign_err("(sleep 30; echo x) & wait"),
            SignerError::Timeout(short)
        );
        assert!(started.elapsed() < Duration::from_secs(5));

        // Bad `vkey` answers.
        for body in ["echo not-a-key", "true", "exit 2"] {
            let cmd = dir.path().join("badvkey");
            std::fs::write(&cmd, format!("#!/bin/sh\n{body}\n")).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&cmd, std::fs::Permissions::from_mode(0o755)).unwrap();
            assert!(
                CommandSigner::start(&cmd.display().to_string(), short).is_err(),
                "{body}"
            );
        }
        assert!(matches!(
            CommandSigner::start("/nonexistent/signer", short),
            Err(SignerError::Exit(_))
        ));

        // As a NoteSigner, a failure is an empty signature, which Note::sign refuses.
        let bad = script(dir.path(), "bad2", &key.vkey(), "exit 1");
        let s = CommandSigner::start(&bad, short).unwrap();
        assert!(Note::sign(&text, &[&s]).is_err());
        let s = CommandSigner::start(&good, short).unwrap();
        let note = Note::sign(&text, &[&s]).unwrap();
        assert!(opens_with(&note.to_bytes(), &key.vkey()));
    }

    #[test]
    fn a_ring_on_an_external_signer() {
        let dir = tempfile::tempdir().unwrap();
        let bin = tempfile::tempdir().unwrap();
        let key = generate(ORIGIN).unwrap();
        let text = cp(9).to_text();
        let sig = STANDARD.encode(key.sign(text.as_bytes()));
        let cmd = script(
            bin.path(),
            "signer",
            &key.vkey(),
            &format!("cat >/dev/null; echo {sig}"),
        );
        let opts = SigningOptions {
            key_path: None,
            signer_command: Some(cmd.clone()),
        };
        let ring = KeyRing::load(dir.path(), &opts).unwrap();
        assert_eq!(ring.primary_vkey(), key.vkey());
        assert_eq!(ring.history(now())[0].source, KeySource::Command);
        let signed = ring.sign_checkpoint(cp(9), now()).unwrap();
        assert!(opens_with(&signed.to_bytes(), &key.vkey()));
        // Its answer for another checkpoint is wrong: no checkpoint.
        let e = ring.sign_checkpoint(cp(10), now()).unwrap_err();
        assert!(
            matches!(e, SignError::Signer(SignerError::BadSignature(_))),
            "{e}"
        );
        // Neither the history nor any file in the data directory holds the
        // command or a private key.
        for f in files(dir.path()) {
            let bytes = std::fs::read(dir.path().join(&f)).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains("PRIVATE") && !text.contains(&cmd),
                "{f}: {text}"
            );
        }
        let e = format!(
            "{:#}",
            ring.rotate(Duration::from_secs(1), now()).unwrap_err()
        );
        assert!(e.contains("external signer"), "{e}");
    }

    #[test]
    fn history_verifiers_read_no_private_key() {
        let (dir, key) = data_dir();
        assert_eq!(history_verifiers(dir.path()).unwrap(), vec![key.verifier()]);
        let ring = KeyRing::load(dir.path(), &SigningOptions::default()).unwrap();
        let r = ring.rotate(Duration::ZERO, now()).unwrap();
        std::fs::remove_file(dir.path().join(KEY_FILE)).unwrap();
        let vkeys: Vec<String> = history_verifiers(dir.path())
            .unwrap()
            .iter()
            .map(|v| v.to_vkey())
            .collect();
        assert_eq!(vkeys, vec![r.old_vkey, r.new_vkey]);
        let empty = tempfile::tempdir().unwrap();
        assert!(history_verifiers(empty.path()).is_err());
    }

    #[test]
    fn an_in_memory_ring() {
        let key = generate(ORIGIN).unwrap();
        let ring = KeyRing::from_signer(key.clone());
        ring.refresh(now()).unwrap();
        assert!(ring.rotate(Duration::ZERO, now()).is_err());
        let s = ring.sign_checkpoint(cp(1), now()).unwrap();
        assert!(opens_with(&s.to_bytes(), &key.vkey()));
    }
}
