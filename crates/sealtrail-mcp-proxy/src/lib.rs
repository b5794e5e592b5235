//! The audit proxy behind `sealtrail mcp-proxy`: it relays the Model
//! Context Protocol (stdio or Streamable HTTP) and records every call
//! (docs/mcp-proxy.md). A library so that its parsers (JSON-RPC, SSE, the
//! scope policy) and the recorder can be fuzzed; the CLI only parses flags.
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
pub mod jsonrpc;
pub mod mapping;
#[cfg(test)]
mod proptests;
pub mod recorder;
pub mod scope;
mod sender;
mod spool;
pub mod sse;
mod stdio;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sealtrail_client::{Client, ClientBuilder, ClientError};
use tokio::sync::mpsc;

use mapping::Agent;
use recorder::{Feed, Recorder};
use sender::{Sender, SenderConfig};

/// What `sealtrail mcp-proxy` was asked to do (its flags, parsed). No
/// `Debug`: the client builder holds the API key.
#[derive(Clone)]
pub struct ProxyOptions {
    /// `agent.id` of every event.
    pub agent: String,
    /// The sealtrail server, key and project; the proxy sets its timeouts.
    pub server: ClientBuilder,
    /// Streamable HTTP: address to listen on.
    pub listen: Option<String>,
    /// Streamable HTTP: the MCP server's endpoint.
    pub upstream: Option<String>,
    /// For an https:// upstream: trust only this CA certificate (PEM)
    /// instead of the system's trust store.
    pub upstream_ca_cert: Option<PathBuf>,
    /// Where undelivered events wait (default: the XDG state directory).
    pub spool: Option<PathBuf>,
    /// Refuse tool calls outside the agent's scope.
    pub enforce_scope: bool,
    /// The scope as a file instead of the registry.
    pub scope: Option<PathBuf>,
    /// At exit, how long to keep trying to deliver, in seconds.
    pub flush_timeout: f64,
    /// stdio: the command that starts the MCP server.
    pub command: Vec<String>,
}

/// Why the proxy could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("--agent must be 1 to 256 bytes, without control characters or surrounding spaces")]
    BadAgent,
    #[error(
        "give either --listen/--upstream (Streamable HTTP) or a command after -- (stdio), not both"
    )]
    BothTransports,
    #[error("--flush-timeout must be a non-negative number of seconds (got {0})")]
    FlushTimeout(f64),
    #[error(transparent)]
    Scope(#[from] scope::ScopeError),
    #[error(transparent)]
    Client(ClientError),
    #[error(
        "--enforce-scope: cannot read agent {agent:?} from the registry (register it with \
         `sealtrail agents register {agent} --allow-tool …`, or give --scope FILE)"
    )]
    Registry {
        agent: String,
        #[source]
        source: ClientError,
    },
    #[error("--upstream {url:?}: {why}")]
    Upstream { url: String, why: String },
    #[error("--upstream-ca-cert {}: {why}", path.display())]
    UpstreamCa { path: PathBuf, why: String },
    #[error("cannot listen on {addr}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no MCP server command given after --")]
    NoCommand,
    #[error("cannot start the MCP server {program:?}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the MCP server's stdin/stdout are not pipes")]
    NotPipes,
    #[error("{what}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("no --spool given and neither XDG_STATE_HOME nor HOME is set")]
    NoSpoolDir,
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> ProxyError {
    move |source| ProxyError::Io { what, source }
}

/// An error and its causes on one line (`what: why: why`), as the CLI
/// prints them.
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// A single-threaded runtime: the relay and the recorder each get one.
fn runtime() -> Result<tokio::runtime::Runtime, ProxyError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io("cannot start the async runtime"))
}

/// Runs the proxy until the MCP server exits (stdio; its exit status) or a
/// signal stops it (Streamable HTTP).
pub fn run(args: ProxyOptions) -> Result<ExitCode, ProxyError> {
    // The rules of `agent.id` (sealtrail-core's event model), checked up
    // front: a bad id would get every event refused.
    if args.agent.trim() != args.agent
        || mapping::label(&args.agent).as_deref() != Some(args.agent.as_str())
    {
        return Err(ProxyError::BadAgent);
    }
    if args.listen.is_some() && !args.command.is_empty() {
        return Err(ProxyError::BothTransports);
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
        .map_err(|_| ProxyError::FlushTimeout(args.flush_timeout))?;

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
        .clone()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(2))
        .build()
        .map_err(ProxyError::Client)?;
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
        .spawn(move || -> Result<(), ProxyError> {
            let rt = runtime()?;
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
        .map_err(io("cannot start the recording thread"))?;

    // The relay: one thread, so a message crosses no thread boundary
    // between being read and being written.
    let rt = runtime()?;
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
        Ok(Err(e)) => tracing::error!("recording: {}", with_causes(&e)),
        Err(_) => tracing::error!("the recording thread panicked"),
        Ok(Ok(())) => {}
    }
    let code = code?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// The agent's scope from the server's registry; an unregistered agent or
/// an unreachable server stops the proxy (enforcing nothing would be wrong).
fn registry_scope(client: &Client, agent: &str) -> Result<scope::Scope, ProxyError> {
    let rt = runtime()?;
    let record = rt
        .block_on(client.get_agent(agent))
        .map_err(|source| ProxyError::Registry {
            agent: agent.to_owned(),
            source,
        })?;
    Ok(scope::Scope::from_registry(&record))
}

/// `$XDG_STATE_HOME/sealtrail/mcp-spool`, else `~/.local/state/sealtrail/mcp-spool`.
fn default_spool_dir() -> Result<PathBuf, ProxyError> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })
        .ok_or(ProxyError::NoSpoolDir)?;
    Ok(state.join("sealtrail").join("mcp-spool"))
}
