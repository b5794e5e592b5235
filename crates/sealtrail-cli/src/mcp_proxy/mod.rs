//! `sealtrail mcp-proxy`: an audit proxy on the Model Context Protocol path
//! (docs/mcp-proxy.md).
//!
//! ```text
//! relay thread:      relay (stdio | http) ──bytes, unchanged──▶ peer
//!                           │ copy (never waits)
//!                           ▼
//! recording thread:      recorder ──events──▶ sender ──POST /v1/events──▶ sealtrail
//!                                                └──▶ spool (disk) while sealtrail is away
//! ```

mod http;
mod ids;
mod jsonrpc;
mod mapping;
#[cfg(test)]
mod proptests;
mod recorder;
mod scope;
mod sender;
mod spool;
mod sse;
mod stdio;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use sealtrail_client::Client;
use tokio::sync::mpsc;

use crate::ingest::ServerArgs;
use mapping::Agent;
use recorder::{Feed, Recorder};
use sender::{Sender, SenderConfig};

/// Relay an MCP server (stdio or Streamable HTTP) and record every call.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("transport").required(true).args(["command", "listen"]))]
pub struct McpProxyArgs {
    /// The agent whose calls these are (`agent.id` of every event).
    #[arg(long, value_name = "ID")]
    pub agent: String,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Streamable HTTP: address to listen on (e.g. 127.0.0.1:8800).
    #[arg(long, value_name = "ADDR", requires = "upstream")]
    pub listen: Option<String>,
    /// Streamable HTTP: the MCP server's endpoint (e.g. http://127.0.0.1:8000/mcp).
    #[arg(long, value_name = "URL", requires = "listen")]
    pub upstream: Option<String>,
    /// For an https:// --upstream: trust only this CA certificate (PEM)
    /// instead of the system's trust store.
    #[arg(long, value_name = "PEM", requires = "upstream")]
    pub upstream_ca_cert: Option<PathBuf>,
    /// Where undelivered events wait [default: $XDG_STATE_HOME/sealtrail/mcp-spool,
    /// or ~/.local/state/sealtrail/mcp-spool].
    #[arg(long, env = "SEALTRAIL_SPOOL", value_name = "DIR")]
    pub spool: Option<PathBuf>,
    /// Refuse tool calls outside the agent's scope (answered with a
    /// JSON-RPC error, recorded as denied). The scope is the agent's record
    /// in the server's registry (`sealtrail agents register`), read at
    /// start, unless --scope names a file.
    #[arg(long)]
    pub enforce_scope: bool,
    /// The agent's declared scope as a file instead of the registry: one
    /// allowed tool-name pattern per line (`*`, `?` wildcards; `#` comments).
    #[arg(long, value_name = "FILE")]
    pub scope: Option<PathBuf>,
    /// At exit, how long to keep trying to deliver before leaving the rest
    /// in the spool.
    #[arg(long, default_value_t = 3.0, value_name = "SECONDS")]
    pub flush_timeout: f64,
    /// stdio: the command that starts the MCP server, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

pub fn run(args: McpProxyArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    // The rules of `agent.id` (sealtrail-core's event model), checked up
    // front: a bad id would get every event refused.
    if args.agent.trim() != args.agent
        || mapping::label(&args.agent).as_deref() != Some(args.agent.as_str())
    {
        bail!("--agent must be 1 to 256 bytes, without control characters or surrounding spaces");
    }
    if args.listen.is_some() && !args.command.is_empty() {
        bail!("give either --listen/--upstream (Streamable HTTP) or a command after -- (stdio), not both");
    }
    let scope = match (&args.scope, args.enforce_scope) {
        (Some(path), true) => Some(Arc::new(scope::Scope::load(path)?)),
        (Some(_), false) => {
            tracing::warn!("--scope without --enforce-scope: the scope is not enforced");
            None
        }
        _ => None,
    };
    let flush_timeout = Duration::try_from_secs_f64(args.flush_timeout)
        .context("--flush-timeout must be a non-negative number of seconds")?;

    let started = SystemTime::now();
    let instance = ids::uuid_v7(started);
    let spool_dir = match &args.spool {
        Some(d) => d.clone(),
        None => default_spool_dir()?,
    };
    // An unusable spool must not keep the agent from its tools: warn, and
    // keep undelivered events in memory instead.
    let spool = spool::Spool::open(&spool_dir, &instance).unwrap_or_else(|e| {
        tracing::error!("{e}; undelivered events will be kept in memory only");
        spool::Spool::disabled(&spool_dir)
    });
    let client = args
        .server
        .builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(2))
        .build()?;
    let scope = match scope {
        Some(s) => Some(s),
        None if args.enforce_scope => Some(Arc::new(registry_scope(&client, &args.agent)?)),
        None => None,
    };
    let upstream = args
        .upstream
        .as_deref()
        .map(http::Upstream::parse)
        .transpose()?
        .map(|mut u| {
            u.ca_cert = args.upstream_ca_cert.clone();
            u
        });

    let (feed_tx, feed_rx) = mpsc::unbounded_channel();
    let transport = if upstream.is_some() {
        "streamable_http"
    } else {
        "stdio"
    };
    let agent = Agent {
        id: args.agent.clone(),
        instance: instance.clone(),
    };
    let cfg = SenderConfig {
        flush_timeout,
        ..SenderConfig::default()
    };
    // Recording runs on its own thread and runtime: parsing, event building
    // and talking to sealtrail never take the relay's thread.
    let recording = std::thread::Builder::new()
        .name("mcp-recorder".into())
        .spawn(move || -> anyhow::Result<()> {
            let rt = crate::ingest::runtime(0)?;
            rt.block_on(async move {
                let (event_tx, event_rx) = mpsc::unbounded_channel();
                // stdio has no session id of its own: one proxy run is one
                // session, named by the instance id.
                let recorder = Recorder::new(agent, transport, instance, event_tx);
                let recorder = tokio::spawn(recorder.run(feed_rx));
                Sender::new(client, spool, cfg).run(event_rx).await;
                let _ = recorder.await;
            });
            Ok(())
        })
        .context("cannot start the recording thread")?;

    // The relay: one thread, so a message crosses no thread boundary
    // between being read and being written.
    let rt = crate::ingest::runtime(0)?;
    let code = rt.block_on(async move {
        let outcome = match (&args.listen, upstream) {
            (Some(listen), Some(up)) => http::run(listen, up, feed_tx.clone(), scope)
                .await
                .map(|()| 0),
            _ => stdio::run(&args.command, feed_tx.clone(), scope).await,
        };
        // Every relay is done: close the books, then let the sender flush.
        let _ = feed_tx.send(Feed::Shutdown);
        outcome
    });
    // stdin may still be blocked in a reader thread: do not wait for it.
    rt.shutdown_background();
    match recording.join() {
        Ok(Err(e)) => tracing::error!("recording: {e:#}"),
        Err(_) => tracing::error!("the recording thread panicked"),
        Ok(Ok(())) => {}
    }
    let code = code?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// The agent's scope from the server's registry; an unregistered agent or
/// an unreachable server stops the proxy (enforcing nothing would be wrong).
fn registry_scope(client: &Client, agent: &str) -> anyhow::Result<scope::Scope> {
    let rt = crate::ingest::runtime(0)?;
    let record = rt.block_on(client.get_agent(agent)).with_context(|| {
        format!(
            "--enforce-scope: cannot read agent {agent:?} from the registry (register it with \
             `sealtrail agents register {agent} --allow-tool …`, or give --scope FILE)"
        )
    })?;
    Ok(scope::Scope::from_registry(&record))
}

/// `$XDG_STATE_HOME/sealtrail/mcp-spool`, else `~/.local/state/sealtrail/mcp-spool`.
fn default_spool_dir() -> anyhow::Result<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })
        .context("no --spool given and neither XDG_STATE_HOME nor HOME is set")?;
    Ok(state.join("sealtrail").join("mcp-spool"))
}

/// Logs go to stderr: on stdio, stdout is the protocol.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
