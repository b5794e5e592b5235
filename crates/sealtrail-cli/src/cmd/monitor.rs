//! `sealtrail monitor URL`: follows a log's signed checkpoints and checks
//! that each new one extends the last one it trusted.
//!
//! The monitor trusts a verifier key, never the server. Every checkpoint it
//! reads must be signed by that key; a larger one is trusted only after an
//! RFC 9162 consistency proof from the trusted one verifies. The last trusted
//! checkpoint is kept on disk (verbatim), so a restarted monitor, or one
//! pointed at another server of the same log, goes on from it. Two
//! checkpoints signed by the log's key that are not consistent (a fork), or a
//! smaller signed tree (a rollback), are alerted on and written to an
//! evidence file that anyone holding the key can check.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Args;
use sealtrail_client::{Client, ClientError, TlogClient};
use sealtrail_core::checkpoint::{Checkpoint, SignedCheckpoint};
use sealtrail_core::hash::{sha256, Hash};
use sealtrail_core::note::{Ed25519Verifier, NoteVerifier};
use sealtrail_core::proof::verify_consistency;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// State file format version this build writes and reads.
const STATE_VERSION: u32 = 1;
/// Evidence file format version.
const EVIDENCE_VERSION: u32 = 1;
/// A state file is one small JSON object; refuse anything much larger.
const MAX_STATE_BYTES: u64 = 4 << 20;
/// How long an `--alert-command` may run before it is killed.
const ALERT_COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// Exit status: the check found nothing wrong.
const EXIT_OK: u8 = 0;
/// Exit status: fork, rollback or bad signature.
const EXIT_ALERT: u8 = 1;
/// Exit status (`--once`): the server could not be checked.
const EXIT_UNCHECKED: u8 = 3;

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Base URL of the sealtrail server to follow (e.g. http://127.0.0.1:7700).
    #[arg(value_name = "URL")]
    url: String,
    /// The log's verifier key (`sealtrail init` prints it). The monitor
    /// trusts this key, not the server.
    #[arg(long, value_name = "VKEY", required_unless_present = "vkey_file")]
    vkey: Option<String>,
    /// Read the verifier key from a file instead.
    #[arg(long, value_name = "FILE", conflicts_with = "vkey")]
    vkey_file: Option<PathBuf>,
    /// API key for /v1/checkpoint and /v1/consistency. Without one the
    /// monitor reads the public tlog tiles (`serve --public-tiles`) and
    /// computes the consistency proofs from them.
    #[arg(
        long,
        env = "SEALTRAIL_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    api_key: Option<String>,
    /// For an https:// server: trust only this CA certificate (PEM) instead
    /// of the system's trust store.
    #[arg(long, env = "SEALTRAIL_CA_CERT", value_name = "PEM")]
    ca_cert: Option<PathBuf>,
    /// Where the last trusted checkpoint is kept. Default:
    /// ./sealtrail-monitor-<key id>.json
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Time between checks (e.g. 5s, 500ms, 1m).
    #[arg(long, default_value = "5s", value_parser = sealtrail_core::time::parse_duration)]
    interval: Duration,
    /// Time limit of each HTTP request.
    #[arg(long, default_value = "10s", value_parser = sealtrail_core::time::parse_duration)]
    timeout: Duration,
    /// Check once and exit: 0 consistent, 1 alert, 3 the server could not
    /// be checked, 2 the monitor cannot run (arguments, state file).
    #[arg(long)]
    once: bool,
    /// Shell command run (with `sh -c`) on each new fork, rollback or bad
    /// signature; details in SEALTRAIL_ALERT_* environment variables.
    #[arg(long, value_name = "CMD")]
    alert_command: Option<String>,
    /// Print one JSON object per observation, one per line.
    #[arg(long)]
    json: bool,
}

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// First checkpoint seen (no state yet): trusted on first use.
    Trusted,
    /// Same tree as the trusted one.
    Unchanged,
    /// A larger tree, proven consistent with the trusted one: now trusted.
    Advanced,
    /// Not consistent with the trusted checkpoint.
    Fork,
    /// A smaller tree than the trusted one.
    Rollback,
    /// The checkpoint is not a valid note signed by the trusted key.
    BadSignature,
    /// No answer (transient: the monitor keeps following).
    Unreachable,
    /// An answer that could not be checked (transient).
    Error,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Trusted => "trusted",
            Kind::Unchanged => "unchanged",
            Kind::Advanced => "advanced",
            Kind::Fork => "fork",
            Kind::Rollback => "rollback",
            Kind::BadSignature => "bad_signature",
            Kind::Unreachable => "unreachable",
            Kind::Error => "error",
        }
    }

    fn is_alert(self) -> bool {
        matches!(self, Kind::Fork | Kind::Rollback | Kind::BadSignature)
    }

    fn exit_code(self) -> u8 {
        match self {
            Kind::Trusted | Kind::Unchanged | Kind::Advanced => EXIT_OK,
            Kind::Fork | Kind::Rollback | Kind::BadSignature => EXIT_ALERT,
            Kind::Unreachable | Kind::Error => EXIT_UNCHECKED,
        }
    }
}

/// A checkpoint signed by the trusted key, with its note bytes verbatim.
#[derive(Debug, Clone)]
struct Signed {
    note: Vec<u8>,
    cp: Checkpoint,
}

#[derive(Debug)]
struct Observation {
    kind: Kind,
    message: String,
    /// The checkpoint the server served, when it verified.
    seen: Option<Signed>,
    /// The raw answer when it did not verify (bad signature).
    raw: Option<Vec<u8>>,
    /// The consistency proof that was checked (or failed).
    proof: Option<Vec<Hash>>,
}

impl Observation {
    fn new(kind: Kind, message: impl Into<String>) -> Self {
        Observation {
            kind,
            message: message.into(),
            seen: None,
            raw: None,
            proof: None,
        }
    }
}

/// The state file: the last trusted checkpoint and the log it belongs to.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    v: u32,
    vkey: String,
    url: String,
    /// The signed note, verbatim.
    checkpoint: String,
    /// When it was trusted (seconds since the Unix epoch).
    trusted_at: u64,
}

/// Where checkpoints and proofs come from.
struct Source {
    url: String,
    tlog: TlogClient,
    /// With an API key, proofs come from `/v1/consistency`.
    api: Option<Client>,
}

impl Source {
    fn new(
        url: &str,
        api_key: Option<&str>,
        timeout: Duration,
        ca: Option<&sealtrail_client::CaCert>,
    ) -> Result<Source> {
        let base = url.trim().trim_end_matches('/');
        let tlog = TlogClient::with_ca_cert(&format!("{base}/tlog/"), api_key, timeout, ca)?;
        let api = match api_key {
            Some(key) => {
                let mut b = Client::builder(base, key)
                    .timeout(timeout)
                    .connect_timeout(timeout);
                if let Some(ca) = ca {
                    b = b.ca_cert(ca.clone());
                }
                Some(b.build()?)
            }
            None => None,
        };
        Ok(Source {
            url: base.to_string(),
            tlog,
            api,
        })
    }

    async fn checkpoint(&self) -> Result<Vec<u8>, ClientError> {
        self.tlog.checkpoint().await
    }

    async fn consistency(&self, from: u64, to: u64) -> Result<Vec<Hash>, ClientError> {
        match &self.api {
            Some(c) => {
                let r = c.consistency(from, to).await?;
                if (r.from, r.to) != (from, to) {
                    return Err(ClientError::Decode {
                        url: self.url.clone(),
                        status: 200,
                        message: format!(
                            "asked for a proof from {from} to {to}, got one from {} to {}",
                            r.from, r.to
                        ),
                    });
                }
                Ok(r.path)
            }
            None => self.tlog.consistency_proof(from, to).await,
        }
    }
}

/// A failed request as an observation: no answer (or an overloaded or
/// failing server) is `unreachable`, anything else an `error`.
fn request_failed(source: &Source, what: &str, e: &ClientError) -> Observation {
    let transient = e.is_transport() || matches!(e.status(), Some(429 | 500..=599));
    let kind = if transient {
        Kind::Unreachable
    } else {
        Kind::Error
    };
    let hint = if e.status() == Some(401) && source.api.is_none() {
        " (this server's tiles are not public: pass --api-key, or serve with --public-tiles)"
    } else {
        ""
    };
    Observation::new(kind, format!("{what}: {e}{hint}"))
}

fn open_signed(note: &[u8], verifier: &Ed25519Verifier) -> Result<Signed, String> {
    SignedCheckpoint::open(note, &[verifier as &dyn NoteVerifier])
        .map(|s| Signed {
            note: note.to_vec(),
            cp: s.checkpoint,
        })
        .map_err(|e| e.to_string())
}

/// One check: fetch, verify the signature, compare with the trusted
/// checkpoint, and for a larger tree fetch and verify a consistency proof.
async fn observe(
    source: &Source,
    verifier: &Ed25519Verifier,
    trusted: Option<&Signed>,
) -> Observation {
    let raw = match source.checkpoint().await {
        Ok(b) => b,
        Err(e) => return request_failed(source, "cannot fetch the checkpoint", &e),
    };
    let seen = match open_signed(&raw, verifier) {
        Ok(s) => s,
        Err(e) => {
            let mut o = Observation::new(
                Kind::BadSignature,
                format!("the served checkpoint is not signed by the trusted key: {e}"),
            );
            o.raw = Some(raw);
            return o;
        }
    };
    // Roots in messages are base64, as in the checkpoint itself.
    let (size, root) = (seen.cp.size, seen.cp.root.to_base64());
    let Some(t) = trusted else {
        let mut o = Observation::new(
            Kind::Trusted,
            format!("first checkpoint, trusted on first use: size {size} root {root}"),
        );
        o.seen = Some(seen);
        return o;
    };
    let (tsize, troot) = (t.cp.size, t.cp.root.to_base64());
    let mut o = if size < tsize {
        Observation::new(
            Kind::Rollback,
            format!(
                "the log now signs a tree of {size} entries, smaller than the {tsize} it signed before: \
                 entries {size}..{tsize} were lost or an old copy of the log is being served"
            ),
        )
    } else if size == tsize && seen.cp.root == t.cp.root {
        Observation::new(Kind::Unchanged, format!("size {size} root {root}"))
    } else if size == tsize {
        Observation::new(
            Kind::Fork,
            format!(
                "two different trees of the same size {size} signed by the log's key \
                 (trusted root {troot}, served root {root})"
            ),
        )
    } else {
        let path = match source.consistency(tsize, size).await {
            Ok(p) => p,
            Err(e) => {
                return request_failed(
                    source,
                    &format!("cannot fetch the consistency proof from {tsize} to {size}"),
                    &e,
                )
            }
        };
        let verdict = verify_consistency(tsize, size, &t.cp.root, &seen.cp.root, &path);
        let mut o = match verdict {
            Ok(()) => Observation::new(
                Kind::Advanced,
                format!("size {tsize} -> {size}, consistent; root {root}"),
            ),
            Err(e) => Observation::new(
                Kind::Fork,
                format!(
                    "the checkpoint of size {size} does not extend the trusted one of size {tsize}: {e}"
                ),
            ),
        };
        o.proof = Some(path);
        o
    };
    o.seen = Some(seen);
    o
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The verifier key from `--vkey` or `--vkey-file`.
fn load_vkey(a: &MonitorArgs) -> Result<String> {
    match (&a.vkey, &a.vkey_file) {
        (Some(v), _) => Ok(v.trim().to_string()),
        (None, Some(f)) => Ok(std::fs::read_to_string(f)
            .with_context(|| format!("cannot read --vkey-file {}", f.display()))?
            .trim()
            .to_string()),
        (None, None) => bail!("the log's verifier key is required: pass --vkey or --vkey-file"),
    }
}

fn default_state_path(verifier: &Ed25519Verifier) -> PathBuf {
    PathBuf::from(format!("sealtrail-monitor-{:08x}.json", verifier.key_id()))
}

/// Reads the state file, if there is one, and checks it belongs to this
/// log and its checkpoint still verifies.
fn load_state(path: &Path, vkey: &str, verifier: &Ed25519Verifier) -> Result<Option<StateFile>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_STATE_BYTES), &mut text)
        .with_context(|| format!("cannot read state file {}", path.display()))?;
    let probe: Value = serde_json::from_str(&text)
        .with_context(|| format!("state file {} is not JSON", path.display()))?;
    if let Some(v) = probe.get("v").and_then(Value::as_u64) {
        if v > u64::from(STATE_VERSION) {
            bail!(
                "state file {} has version {v}; this sealtrail reads version {STATE_VERSION}: upgrade sealtrail",
                path.display()
            );
        }
    }
    let state: StateFile = serde_json::from_value(probe)
        .with_context(|| format!("state file {} is not a monitor state file", path.display()))?;
    if state.vkey != vkey {
        bail!(
            "state file {} belongs to another log (key {}), not to {vkey}; \
             use a different --state file for each log",
            path.display(),
            state.vkey
        );
    }
    open_signed(state.checkpoint.as_bytes(), verifier).map_err(|e| {
        anyhow::anyhow!(
            "the checkpoint in state file {} does not verify with the log's key: {e}",
            path.display()
        )
    })?;
    Ok(Some(state))
}

/// Makes a rename or a new file durable.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// Replaces the state file atomically: a crash leaves the old or the new
/// one, never a torn file.
fn save_state(path: &Path, state: &StateFile) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(state)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_parent(path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::anyhow!("cannot write state file {}: {e}", path.display())
    })
}

/// Writes both signed notes (and the proof, if any) next to the state file.
fn write_evidence(
    state_path: &Path,
    vkey: &str,
    url: &str,
    trusted: &Signed,
    o: &Observation,
) -> Result<PathBuf> {
    let (Some(seen), true) = (&o.seen, matches!(o.kind, Kind::Fork | Kind::Rollback)) else {
        bail!("only a fork or a rollback has evidence");
    };
    let now = now_unix();
    let stem = state_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sealtrail-monitor".into());
    let side = |s: &Signed| {
        json!({
            "size": s.cp.size,
            "root": s.cp.root.to_base64(),
            "note": String::from_utf8_lossy(&s.note),
        })
    };
    let doc = json!({
        "v": EVIDENCE_VERSION,
        "kind": o.kind.label(),
        "reason": o.message,
        "observed_at": now,
        "url": url,
        "origin": trusted.cp.origin,
        "vkey": vkey,
        "trusted": side(trusted),
        "conflicting": side(seen),
        "consistency_proof": o.proof.as_ref().map(|p| json!({
            "from": trusted.cp.size,
            "to": seen.cp.size,
            "path": p.iter().map(Hash::to_base64).collect::<Vec<_>>(),
        })),
        "how_to_check": "Both notes are C2SP signed checkpoints; verify each with the vkey above. \
            A fork: two roots for one size, or a larger tree whose RFC 9162 consistency proof from \
            the smaller does not verify. A rollback: the log signed a smaller tree after a larger one.",
    });
    let mut bytes = serde_json::to_vec_pretty(&doc)?;
    bytes.push(b'\n');
    for n in 0u32..1000 {
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("-{n}")
        };
        let path = state_path.with_file_name(format!(
            "{stem}.{}-{now}{suffix}.evidence.json",
            o.kind.label()
        ));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                f.write_all(&bytes)
                    .and_then(|()| f.sync_all())
                    .and_then(|()| sync_parent(&path))
                    .with_context(|| format!("cannot write evidence file {}", path.display()))?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot create evidence file {}", path.display()))
            }
        }
    }
    bail!("too many evidence files next to {}", state_path.display())
}

/// Runs `--alert-command` with the details in its environment; its output
/// goes to stderr so that `--json` output stays clean.
async fn run_alert_command(cmd: &str, vars: &[(&'static str, String)]) {
    let stdout = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null());
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(stdout)
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("warning: cannot run --alert-command: {e}");
            return;
        }
    };
    match tokio::time::timeout(ALERT_COMMAND_LIMIT, child.wait()).await {
        Ok(Ok(status)) if status.success() => {}
        Ok(Ok(status)) => eprintln!("warning: --alert-command exited with {status}"),
        Ok(Err(e)) => eprintln!("warning: --alert-command: {e}"),
        Err(_) => {
            let _ = child.kill().await;
            eprintln!(
                "warning: --alert-command ran longer than {} s and was killed",
                ALERT_COMMAND_LIMIT.as_secs()
            );
        }
    }
}

/// The monitor's running state.
struct Monitor {
    source: Source,
    verifier: Ed25519Verifier,
    vkey: String,
    state_path: PathBuf,
    trusted: Option<Signed>,
    json: bool,
    once: bool,
    alert_command: Option<String>,
    /// Alerts already raised in this run (kind, hash of the served bytes):
    /// a server that keeps serving the same bad checkpoint is alerted once.
    alerted: std::collections::HashSet<(&'static str, Hash)>,
    last_kind: Option<Kind>,
}

impl Monitor {
    /// Acts on one observation: trusts, alerts or warns. Returns the
    /// observation's exit code; `Err` only when the state cannot be saved
    /// in `--once` mode.
    async fn handle(&mut self, o: Observation) -> Result<u8> {
        let mut evidence: Option<PathBuf> = None;
        let mut repeat = false;
        let mut note = None;
        match o.kind {
            Kind::Trusted | Kind::Advanced => {
                if let Some(seen) = &o.seen {
                    let state = StateFile {
                        v: STATE_VERSION,
                        vkey: self.vkey.clone(),
                        url: self.source.url.clone(),
                        checkpoint: String::from_utf8_lossy(&seen.note).into_owned(),
                        trusted_at: now_unix(),
                    };
                    if let Err(e) = save_state(&self.state_path, &state) {
                        if self.once {
                            return Err(e);
                        }
                        // Still safe: a restart resumes from the older
                        // trusted checkpoint, which this one extends.
                        note = Some(format!("{e:#} (kept in memory only)"));
                    }
                    self.trusted = Some(seen.clone());
                }
            }
            kind if kind.is_alert() => {
                let bytes = o
                    .seen
                    .as_ref()
                    .map(|s| s.note.as_slice())
                    .or(o.raw.as_deref())
                    .unwrap_or_default();
                repeat = !self.alerted.insert((kind.label(), sha256(bytes)));
                if !repeat {
                    if let (Some(t), Kind::Fork | Kind::Rollback) = (&self.trusted, kind) {
                        match write_evidence(&self.state_path, &self.vkey, &self.source.url, t, &o)
                        {
                            Ok(p) => evidence = Some(p),
                            Err(e) => eprintln!("error: {e:#}"),
                        }
                    }
                }
            }
            _ => {}
        }
        self.report(&o, evidence.as_deref(), repeat, note.as_deref());
        if o.kind.is_alert() && !repeat {
            if let Some(cmd) = self.alert_command.clone() {
                let vars = self.alert_vars(&o, evidence.as_deref());
                run_alert_command(&cmd, &vars).await;
            }
        }
        self.last_kind = Some(o.kind);
        Ok(o.kind.exit_code())
    }

    fn alert_vars(&self, o: &Observation, evidence: Option<&Path>) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("SEALTRAIL_ALERT", o.kind.label().to_ascii_uppercase()),
            ("SEALTRAIL_ALERT_MESSAGE", o.message.clone()),
            ("SEALTRAIL_ALERT_URL", self.source.url.clone()),
            ("SEALTRAIL_ALERT_VKEY", self.vkey.clone()),
            (
                "SEALTRAIL_ALERT_STATE",
                self.state_path.display().to_string(),
            ),
        ];
        if let Some(t) = &self.trusted {
            v.push(("SEALTRAIL_ALERT_ORIGIN", t.cp.origin.clone()));
            v.push(("SEALTRAIL_ALERT_TRUSTED_SIZE", t.cp.size.to_string()));
            v.push(("SEALTRAIL_ALERT_TRUSTED_ROOT", t.cp.root.to_base64()));
        }
        if let Some(s) = &o.seen {
            v.push(("SEALTRAIL_ALERT_SEEN_SIZE", s.cp.size.to_string()));
            v.push(("SEALTRAIL_ALERT_SEEN_ROOT", s.cp.root.to_base64()));
        }
        if let Some(p) = evidence {
            v.push(("SEALTRAIL_ALERT_EVIDENCE", p.display().to_string()));
        }
        v
    }

    fn report(&self, o: &Observation, evidence: Option<&Path>, repeat: bool, note: Option<&str>) {
        let loud = o.kind.is_alert() && !repeat;
        if self.json {
            let mut line = json!({
                "time": now_unix(),
                "url": self.source.url,
                "status": o.kind.label(),
                "message": o.message,
            });
            if let Some(s) = &o.seen {
                line["size"] = json!(s.cp.size);
                line["root"] = json!(s.cp.root.to_base64());
            }
            if let Some(t) = &self.trusted {
                line["trusted_size"] = json!(t.cp.size);
                line["trusted_root"] = json!(t.cp.root.to_base64());
            }
            if let Some(p) = evidence {
                line["evidence"] = json!(p.display().to_string());
            }
            if o.kind.is_alert() {
                line["repeat"] = json!(repeat);
            }
            if let Some(n) = note {
                line["warning"] = json!(n);
            }
            println!("{line}");
            if loud {
                eprintln!("{}", self.alert_text(o, evidence));
            }
            return;
        }
        if loud {
            println!("{}", self.alert_text(o, evidence));
        } else if o.kind.is_alert() {
            println!(
                "{} (still; already reported): {}",
                o.kind.label().to_ascii_uppercase(),
                o.message
            );
        } else {
            // Quiet while nothing changes: an unchanged tree is printed once.
            let quiet = o.kind == Kind::Unchanged && self.last_kind == Some(Kind::Unchanged);
            if !quiet || self.once {
                let tag = match o.kind {
                    Kind::Unreachable | Kind::Error => "WARN",
                    _ => "OK",
                };
                println!("{tag} {}: {}", o.kind.label(), o.message);
            }
        }
        if let Some(n) = note {
            eprintln!("warning: {n}");
        }
    }

    /// The loud, specific message of an alert.
    fn alert_text(&self, o: &Observation, evidence: Option<&Path>) -> String {
        let title = match o.kind {
            Kind::Fork => "FORK: the log's key signed two checkpoints that are not consistent",
            Kind::Rollback => {
                "ROLLBACK: the log's key signed a smaller tree than one it signed before"
            }
            _ => "BAD SIGNATURE: the served checkpoint does not verify with the log's key",
        };
        let mut s = format!("!!! {title}\n    server:   {}\n", self.source.url);
        s.push_str(&format!("    log key:  {}\n", self.vkey));
        if let Some(t) = &self.trusted {
            s.push_str(&format!(
                "    trusted:  size {} root {}\n",
                t.cp.size,
                t.cp.root.to_base64()
            ));
        }
        match (&o.seen, &o.raw) {
            (Some(seen), _) => s.push_str(&format!(
                "    served:   size {} root {}\n",
                seen.cp.size,
                seen.cp.root.to_base64()
            )),
            (None, Some(raw)) => s.push_str(&format!(
                "    served:   {:?}\n",
                String::from_utf8_lossy(&raw[..raw.len().min(300)])
            )),
            (None, None) => {}
        }
        s.push_str(&format!("    reason:   {}\n", o.message));
        if let Some(p) = evidence {
            s.push_str(&format!(
                "    evidence: {} (both signed checkpoints; anyone with the log's key can check them)\n",
                p.display()
            ));
        }
        s.push_str(
            "    The served checkpoint is NOT trusted; the monitor keeps the last trusted one.",
        );
        s
    }
}

pub fn run(a: MonitorArgs) -> Result<ExitCode> {
    let vkey = load_vkey(&a)?;
    let verifier = Ed25519Verifier::from_vkey(&vkey)
        .map_err(|e| anyhow::anyhow!("the verifier key {vkey:?} is not valid: {e}"))?;
    if a.interval.is_zero() {
        bail!("--interval must be more than 0");
    }
    let state_path = a
        .state
        .clone()
        .unwrap_or_else(|| default_state_path(&verifier));
    let state = load_state(&state_path, &vkey, &verifier)?;
    let ca = crate::remote::ca_cert(a.ca_cert.as_deref())?;
    let source = Source::new(&a.url, a.api_key.as_deref(), a.timeout, ca.as_ref())?;
    let trusted = match &state {
        Some(s) => {
            if s.url != source.url && !a.json {
                eprintln!(
                    "note: {} was last updated from {}; following {} now (same log key)",
                    state_path.display(),
                    s.url,
                    source.url
                );
            }
            Some(
                open_signed(s.checkpoint.as_bytes(), &verifier)
                    .map_err(|e| anyhow::anyhow!("state checkpoint: {e}"))?,
            )
        }
        None => None,
    };
    let mut monitor = Monitor {
        source,
        verifier,
        vkey,
        state_path,
        trusted,
        json: a.json,
        once: a.once,
        alert_command: a.alert_command.clone(),
        alerted: Default::default(),
        last_kind: None,
    };
    let rt = crate::remote::runtime(0)?;
    rt.block_on(async move {
        if a.once {
            let o = observe(&monitor.source, &monitor.verifier, monitor.trusted.as_ref()).await;
            return Ok(ExitCode::from(monitor.handle(o).await?));
        }
        follow(&mut monitor, a.interval).await
    })
}

/// Checks every `interval` until SIGINT or SIGTERM; exits 1 if any alert
/// was raised during the run.
async fn follow(monitor: &mut Monitor, interval: Duration) -> Result<ExitCode> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut alerted = false;
    loop {
        let check = async {
            let o = observe(&monitor.source, &monitor.verifier, monitor.trusted.as_ref()).await;
            monitor.handle(o).await
        };
        // A signal also ends a check in flight (a slow server, an alert command).
        tokio::select! {
            code = check => alerted |= code? == EXIT_ALERT,
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    Ok(ExitCode::from(if alerted { EXIT_ALERT } else { EXIT_OK }))
}
