//! `sealtrail mcp-proxy`: the flags. The proxy itself is the
//! `sealtrail-mcp-proxy` crate (docs/mcp-proxy.md).

use std::path::PathBuf;
use std::process::ExitCode;

use sealtrail_mcp_proxy::ProxyOptions;

use crate::remote::ServerArgs;

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
    let options = ProxyOptions {
        server: args.server.builder(),
        agent: args.agent,
        listen: args.listen,
        upstream: args.upstream,
        upstream_ca_cert: args.upstream_ca_cert,
        spool: args.spool,
        enforce_scope: args.enforce_scope,
        scope: args.scope,
        flush_timeout: args.flush_timeout,
        command: args.command,
    };
    Ok(sealtrail_mcp_proxy::run(options)?)
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
