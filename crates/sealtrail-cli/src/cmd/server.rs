//! `sealtrail init` and `sealtrail serve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use sealtrail_keys::Backend;
use sealtrail_server::access::console::human;
use sealtrail_server::config::Limits;
use sealtrail_server::sequencer::SequencerConfig;
use sealtrail_server::ServeOptions;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Data directory.
    #[arg(long, env = "SEALTRAIL_DATA", default_value = "sealtrail-data")]
    data: PathBuf,
    /// The log's origin (checkpoint origin and signing key name), e.g. example.com/agents-log.
    #[arg(long, env = "SEALTRAIL_ORIGIN")]
    origin: Option<String>,
    /// Print {origin, vkey, owner_api_key} as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    signing: SigningArgs,
}

/// Where the log's private key lives (docs/deploy.md, "Signing keys").
#[derive(Debug, Args)]
pub struct SigningArgs {
    /// Read the log's private key (C2SP PRIVATE+KEY+… file) from PATH instead
    /// of DATA/log.key, so the data directory holds no private key; `init`
    /// creates the file (mode 0600) if it does not exist.
    #[arg(long, env = "SEALTRAIL_SIGNING_KEY", value_name = "PATH")]
    signing_key: Option<PathBuf>,
    /// Sign checkpoints with an external signer: `sh -c "CMD vkey"` prints
    /// the vkey, `sh -c "CMD sign"` signs the note text on stdin (e.g.
    /// "sealtrail signer --key /etc/sealtrail/log.key").
    #[arg(
        long,
        env = "SEALTRAIL_SIGNER_COMMAND",
        value_name = "CMD",
        conflicts_with = "signing_key"
    )]
    signer_command: Option<String>,
}

impl SigningArgs {
    fn options(&self) -> sealtrail_keys::SigningOptions {
        sealtrail_keys::SigningOptions {
            key_path: self.signing_key.clone(),
            signer_command: self.signer_command.clone(),
        }
    }
}

/// Where the log's entries live.
#[derive(Debug, Args)]
pub struct BackendArgs {
    /// A PostgreSQL URL (postgres://user@host/db) to keep the log in, shared
    /// by every node started with it; default: the embedded store in --data.
    #[arg(long, env = "SEALTRAIL_DATABASE")]
    database: Option<String>,
    /// PostgreSQL schema holding this log's tables (one schema per log).
    #[arg(long, env = "SEALTRAIL_PG_SCHEMA", default_value = "sealtrail")]
    pg_schema: String,
}

impl BackendArgs {
    fn backend(&self) -> Backend {
        match &self.database {
            None => Backend::Embedded,
            Some(url) => Backend::Postgres {
                url: url.clone(),
                schema: self.pg_schema.clone(),
            },
        }
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Data directory (created and initialised on first start).
    #[arg(long, env = "SEALTRAIL_DATA", default_value = "sealtrail-data")]
    data: PathBuf,
    /// Address to listen on. Loopback unless told otherwise.
    #[arg(long, env = "SEALTRAIL_LISTEN", default_value = "127.0.0.1:7700")]
    listen: SocketAddr,
    /// Also serve OTLP/gRPC trace ingest on this address (off by default;
    /// OTLP/HTTP is always on `/v1/traces`). Docs: docs/otlp.md.
    #[arg(long, env = "SEALTRAIL_OTLP_GRPC_LISTEN")]
    otlp_grpc_listen: Option<SocketAddr>,
    /// Seconds between checkpoints (when the log grew).
    #[arg(long, env = "SEALTRAIL_CHECKPOINT_INTERVAL", default_value_t = 1.0)]
    checkpoint_interval: f64,
    /// Most events sealed in one batch (one durable transaction).
    #[arg(long, env = "SEALTRAIL_BATCH_MAX", default_value_t = 2048)]
    batch_max: usize,
    /// Milliseconds to wait for more events before sealing a batch (0: seal at once).
    #[arg(long, env = "SEALTRAIL_BATCH_LINGER_MS", default_value_t = 0)]
    batch_linger_ms: u64,
    /// Events allowed to wait for the sequencer before ingest answers 503.
    #[arg(long, env = "SEALTRAIL_QUEUE_LIMIT", default_value_t = 200_000)]
    queue_limit: usize,
    /// Largest request body in bytes.
    #[arg(long, env = "SEALTRAIL_MAX_BODY_BYTES", default_value_t = 16 << 20)]
    max_body_bytes: usize,
    /// Most events in one request.
    #[arg(
        long,
        env = "SEALTRAIL_MAX_EVENTS_PER_REQUEST",
        default_value_t = 10_000
    )]
    max_events_per_request: usize,
    /// Largest single event in bytes.
    #[arg(long, env = "SEALTRAIL_MAX_EVENT_BYTES", default_value_t = 1 << 20)]
    max_event_bytes: usize,
    /// Longest time `?wait=checkpoint` holds a request, in seconds (then 504;
    /// the events stay sealed).
    #[arg(long, env = "SEALTRAIL_WAIT_TIMEOUT", default_value_t = 30.0)]
    wait_timeout: f64,
    /// Serve the C2SP tiles (/tlog/*) without an API key.
    #[arg(long, env = "SEALTRAIL_PUBLIC_TILES")]
    public_tiles: bool,
    /// Each API key's request budget: RPS[:BURST] (a token bucket per key;
    /// past it, 429 with Retry-After). 0 turns it off. A key's own
    /// rate_limit overrides this (docs/access.md).
    #[arg(long, env = "SEALTRAIL_RATE_LIMIT", default_value = "1000:2000", value_parser = parse_rate)]
    rate_limit: sealtrail_server::access::keys::RateLimit,
    /// Do not log queries, stats, exports and entry reads by people and
    /// services as `data_access` events (they are logged by default; SOC 2
    /// CC7.2). Administrative changes are always logged.
    #[arg(long, env = "SEALTRAIL_NO_AUDIT_READS")]
    no_audit_reads: bool,
    /// Do not scan events for PII and secrets (no data classes detected,
    /// nothing redacted). Scanning is on by default (docs/pii.md).
    #[arg(long, env = "SEALTRAIL_NO_PII_SCAN")]
    no_pii_scan: bool,
    /// Redaction policy (JSON, docs/pii.md) applied to every event before it
    /// is stored; default: the standard policy (secrets and card numbers
    /// masked, private keys dropped, other personal data hashed with the
    /// data directory's pii.key).
    #[arg(long, env = "SEALTRAIL_REDACTION_POLICY")]
    redaction_policy: Option<PathBuf>,
    /// A web console session unused this long ends (e.g. 30m, 2s; docs/console.md).
    #[arg(long, env = "SEALTRAIL_CONSOLE_IDLE_TIMEOUT", default_value = "30m", value_parser = parse_session_time)]
    console_idle_timeout: Duration,
    /// A web console session ends this long after sign-in, however busy (e.g. 12h).
    #[arg(long, env = "SEALTRAIL_CONSOLE_SESSION_MAX", default_value = "12h", value_parser = parse_session_time)]
    console_session_max: Duration,
    /// Log format: text or json.
    #[arg(long, env = "SEALTRAIL_LOG_FORMAT", default_value = "text")]
    log_format: String,
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    signing: SigningArgs,
    #[command(flatten)]
    tls: TlsArgs,
}

/// Serve HTTPS (docs/deploy.md, "TLS").
#[derive(Debug, Args)]
pub struct TlsArgs {
    /// Serve the API and OTLP/gRPC over TLS with this certificate (PEM: the
    /// server certificate, then its intermediates). Reloaded on SIGHUP and
    /// when the file changes.
    #[arg(
        long,
        env = "SEALTRAIL_TLS_CERT",
        value_name = "PEM",
        requires = "tls_key"
    )]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(
        long,
        env = "SEALTRAIL_TLS_KEY",
        value_name = "PEM",
        requires = "tls_cert"
    )]
    tls_key: Option<PathBuf>,
}

impl TlsArgs {
    fn options(&self) -> Option<sealtrail_server::tls::TlsOptions> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(sealtrail_server::tls::TlsOptions::new(cert, key)),
            _ => None,
        }
    }
}

pub fn init(a: InitArgs) -> Result<ExitCode> {
    let out = sealtrail_keys::init(
        &a.data,
        a.origin.as_deref(),
        &a.backend.backend(),
        &a.signing.options(),
        &sealtrail_server::access::owner_key_maker,
    )?;
    let settings = a.data.join(crate::config::FILE);
    if out.created && !settings.exists() {
        std::fs::write(&settings, crate::config::TEMPLATE)
            .with_context(|| format!("cannot write {}", settings.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else if let Some(key) = &out.owner_api_key {
        println!("Initialised {}", a.data.display());
        println!("  origin:        {}", out.origin);
        println!("  vkey:          {}", out.vkey);
        println!("  owner API key: {key}");
        println!("The owner API key is shown only once: store it now.");
    } else {
        println!("{} is already initialised", a.data.display());
        println!("  origin: {}", out.origin);
        println!("  vkey:   {}", out.vkey);
    }
    Ok(ExitCode::SUCCESS)
}

fn init_logging(format: &str) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        "json" => builder.json().init(),
        "text" => builder.init(),
        other => anyhow::bail!("--log-format must be text or json, not {other:?}"),
    }
    Ok(())
}

/// A console session time: the one duration syntax (`30m`, `2s`, `12h`),
/// between a second and 30 days.
fn parse_session_time(s: &str) -> std::result::Result<Duration, String> {
    let d = sealtrail_core::time::parse_duration(s)?;
    if d < Duration::from_secs(1) || d > Duration::from_secs(30 * 86_400) {
        return Err(format!("{s:?} must be between 1s and 30d"));
    }
    Ok(d)
}

/// `RPS[:BURST]`; the burst defaults to twice the rate.
fn parse_rate(s: &str) -> std::result::Result<sealtrail_server::access::keys::RateLimit, String> {
    let (rate, burst) = match s.split_once(':') {
        Some((r, b)) => (r, Some(b)),
        None => (s, None),
    };
    let per_second: f64 = rate
        .trim()
        .parse()
        .map_err(|_| format!("{rate:?} is not a number of requests per second"))?;
    let burst: f64 = match burst {
        Some(b) => b
            .trim()
            .parse()
            .map_err(|_| format!("{b:?} is not a burst size"))?,
        None => (per_second * 2.0).max(1.0),
    };
    if !per_second.is_finite() || per_second < 0.0 || !burst.is_finite() || burst < 1.0 {
        return Err("the rate must be >= 0 (0: off) and the burst >= 1".into());
    }
    Ok(sealtrail_server::access::keys::RateLimit { per_second, burst })
}

pub fn serve(a: ServeArgs) -> Result<ExitCode> {
    init_logging(&a.log_format)?;
    if !(a.checkpoint_interval > 0.0 && a.checkpoint_interval <= 3600.0) {
        anyhow::bail!("--checkpoint-interval must be between 0 and 3600 seconds");
    }
    if !(a.wait_timeout > 0.0 && a.wait_timeout <= 3600.0) {
        anyhow::bail!("--wait-timeout must be between 0 and 3600 seconds");
    }
    if a.console_idle_timeout > a.console_session_max {
        anyhow::bail!(
            "--console-idle-timeout ({}) must not be longer than --console-session-max ({})",
            human(a.console_idle_timeout),
            human(a.console_session_max)
        );
    }
    let opts = ServeOptions {
        data: a.data,
        listen: a.listen,
        checkpoint_interval: Duration::from_secs_f64(a.checkpoint_interval),
        sequencer: SequencerConfig {
            batch_max: a.batch_max.max(1),
            linger: Duration::from_millis(a.batch_linger_ms),
            queue_limit: a.queue_limit.max(1),
            shared_store: false,
        },
        limits: Limits {
            max_body_bytes: a.max_body_bytes,
            max_events_per_request: a.max_events_per_request,
            max_event_bytes: a.max_event_bytes,
            wait_timeout: Duration::from_secs_f64(a.wait_timeout),
        },
        public_tiles: a.public_tiles,
        backend: a.backend.backend(),
        otlp_grpc_listen: a.otlp_grpc_listen,
        pii: sealtrail_server::sensitive::PiiOptions {
            disabled: a.no_pii_scan,
            policy: a.redaction_policy,
        },
        signing: a.signing.options(),
        rate_limit: a.rate_limit,
        access_upkeep: Default::default(),
        audit_reads: !a.no_audit_reads,
        tls: a.tls.options(),
        console: sealtrail_server::config::ConsoleOptions {
            idle_timeout: a.console_idle_timeout,
            session_max: a.console_session_max,
        },
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let (running, owner_key) = sealtrail_server::start(opts).await?;
        // Only with TLS: without it SIGHUP keeps its default (ends the
        // process). Listening starts before the banner, so a SIGHUP sent by
        // whoever waits for the banner never meets the default action.
        if let Some(certs) = running.tls.clone() {
            let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .context("cannot listen for SIGHUP (certificate reload)")?;
            tokio::spawn(reload_on_sighup(hup, certs));
        }
        // SIGTERM/SIGINT too: handlers exist before the banner, so whoever
        // stops the server as soon as it says it listens gets a drain, not
        // the default action (an abrupt exit).
        let stop_signals = StopSignals::install()?;
        if let Some(key) = owner_key {
            println!("Initialised a new log. Owner API key (shown only once): {key}");
        }
        let scheme = running.scheme();
        println!("sealtrail listening on {scheme}://{}", running.addr);
        if let Some(at) = running.otlp_grpc_addr {
            println!("OTLP/gRPC listening on {scheme}://{at}");
        }
        println!("log origin: {}", running.origin);
        println!("log vkey:   {}", running.vkey);
        let stop = running.shutdown_handle();
        tokio::spawn(async move {
            stop_signals.wait().await;
            tracing::info!("shutting down: draining requests and sealing queued events");
            let _ = stop.send(true);
        });
        running.wait().await?;
        tracing::info!("stopped cleanly");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Each SIGHUP reloads the certificate and key; a bad pair keeps the old one.
async fn reload_on_sighup(
    mut hup: tokio::signal::unix::Signal,
    certs: std::sync::Arc<sealtrail_server::tls::CertStore>,
) {
    while hup.recv().await.is_some() {
        certs.reload_logged("SIGHUP");
    }
}

/// The signals that stop the server, listened for from the moment they are
/// installed (a signal that arrives before `wait` is kept, not lost).
struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> Result<StopSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(StopSignals {
            term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

/// `sealtrail config show`: the settings `serve` would run with, as TOML.
pub fn show(a: ServeArgs) -> Result<ExitCode> {
    println!("# effective settings for {}", a.data.display());
    println!("listen = \"{}\"", a.listen);
    match a.otlp_grpc_listen {
        Some(at) => println!("otlp_grpc_listen = \"{at}\""),
        None => println!("# otlp_grpc_listen: none (OTLP/gRPC off)"),
    }
    println!("checkpoint_interval = {:?}", a.checkpoint_interval);
    println!("batch_max = {}", a.batch_max);
    println!("batch_linger_ms = {}", a.batch_linger_ms);
    println!("queue_limit = {}", a.queue_limit);
    println!("max_body_bytes = {}", a.max_body_bytes);
    println!("max_events_per_request = {}", a.max_events_per_request);
    println!("max_event_bytes = {}", a.max_event_bytes);
    println!("wait_timeout = {:?}", a.wait_timeout);
    println!("public_tiles = {}", a.public_tiles);
    println!(
        "console_idle_timeout = \"{}\"",
        human(a.console_idle_timeout)
    );
    println!("console_session_max = \"{}\"", human(a.console_session_max));
    println!("log_format = \"{}\"", a.log_format);
    match &a.backend.database {
        // Never print a password that a URL may carry.
        Some(url) => println!("database = \"{}\"", redact_url(url)),
        None => println!("# database: the embedded store in the data directory"),
    }
    println!("pg_schema = \"{}\"", a.backend.pg_schema);
    match &a.signing.signing_key {
        Some(p) => println!("signing_key = {:?}", p.display().to_string()),
        None => println!("# signing_key: the data directory's log.key"),
    }
    if let Some(c) = &a.signing.signer_command {
        println!("signer_command = {c:?}");
    }
    match (&a.tls.tls_cert, &a.tls.tls_key) {
        (Some(cert), Some(key)) => {
            println!("tls_cert = {:?}", cert.display().to_string());
            println!("tls_key = {:?}", key.display().to_string());
        }
        _ => println!("# tls_cert, tls_key: none (plain HTTP)"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url
            .split(' ')
            .map(|kv| {
                if kv.starts_with("password=") {
                    "password=***"
                } else {
                    kv
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact_url("postgres://u:pw@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact_url("host=/run user=x"), "host=/run user=x");
        assert_eq!(
            super::redact_url("host=h password=pw user=x"),
            "host=h password=*** user=x"
        );
    }
}
