//! `sealtrail`: the command-line entry point. Each command group lives in its
//! own module under `cmd/`, what they print goes through `output/` (tables,
//! progress, JSON), and `remote` holds the flags and runtime every
//! client-side command shares; this file only parses arguments and
//! dispatches.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: the ingest path allocates many small, short-lived objects
/// (JSON trees, strings) across threads; glibc malloc showed as ~20% of the
/// sequencer's profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cmd;
mod config;
mod output;
mod remote;

use cmd::{
    access, agents, bench, export, ingest, keys, mcp_proxy, migrate, monitor, proof, query, scan,
    server, signer, verify,
};

/// sealtrail: the tamper-evident audit trail for AI agents.
#[derive(Debug, Parser)]
#[command(name = "sealtrail", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a data directory: signing key, owner API key, configuration.
    Init(server::InitArgs),
    /// Run the server on a data directory (initialising it on first start).
    Serve(server::ServeArgs),
    /// Send JSONL events from a file (or - for stdin) to a server.
    Ingest(ingest::IngestArgs),
    /// Fetch an entry's inclusion proof and optionally verify it offline.
    Proof(proof::ProofArgs),
    /// Export an evidence bundle (or JSONL, CSV, OCSF) for a query.
    Export(export::ExportArgs),
    /// Search the log: time range, agent, session, kind, … (every filter must match).
    Query(query::QueryArgs),
    /// Entry counts grouped by agent, kind, outcome and/or day.
    Stats(query::StatsArgs),
    /// Verify an evidence bundle offline, or check a whole store (--data).
    Verify(verify::VerifyArgs),
    /// Follow a server's signed checkpoints; alert on a fork or a rollback.
    Monitor(monitor::MonitorArgs),
    /// Copy an embedded log into PostgreSQL and prove the copy.
    Migrate(migrate::MigrateArgs),
    /// Relay an MCP server (stdio or Streamable HTTP) and record every tool call.
    McpProxy(mcp_proxy::McpProxyArgs),
    /// Scan a file for PII and secrets (and preview a redaction policy).
    Scan(scan::ScanArgs),
    /// A reference external signer for `serve --signer-command` (vkey | sign).
    Signer(signer::SignerArgs),
    /// The log's signing keys: rotate (offline), list the history.
    #[command(subcommand)]
    SigningKey(signer::SigningKeyCommand),
    /// Show the API key you are using: id, name, role, scopes, project.
    Whoami(access::WhoamiArgs),
    /// API keys: list, show, create, update, rotate, revoke.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Mint a session token from an agent key (prints the token).
    Token(access::TokenArgs),
    /// The agent registry: list, show, register, update, suspend, activate, retire.
    #[command(subcommand)]
    Agents(agents::AgentsCommand),
    /// Projects (independent logs in one server): list, create.
    #[command(subcommand)]
    Projects(access::ProjectsCommand),
    /// The log's signing keys on a running server: list, rotate (HTTP).
    #[command(subcommand)]
    LogKeys(access::LogKeysCommand),
    /// Load generators and baselines.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Settings: `config show` prints the values `serve` would use.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective serve settings (flags > SEALTRAIL_* > sealtrail.toml > defaults).
    Show(server::ServeArgs),
}

impl Command {
    /// Commands whose output is read by pipes (`| head`, `| jq`): a closed
    /// pipe should end them quietly, as it ends `cat`, not panic in
    /// `println!`. Servers and relays keep Rust's default (EPIPE is an error
    /// value) so that a client hanging up never kills them.
    fn prints_for_pipes(&self) -> bool {
        matches!(
            self,
            Command::Query(_)
                | Command::Stats(_)
                | Command::Scan(_)
                | Command::Verify(_)
                | Command::Proof(_)
                | Command::Config(_)
                | Command::Whoami(_)
                | Command::Keys(_)
                | Command::Token(_)
                | Command::Agents(_)
                | Command::Projects(_)
                | Command::LogKeys(_)
        )
    }
}

fn restore_default_sigpipe() {
    // SAFETY: setting a signal's disposition to its default is
    // async-signal-safe and done before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    // sealtrail.toml feeds the same parser as flags and environment.
    let args: Vec<String> = std::env::args().collect();
    if matches!(args.get(1).map(String::as_str), Some("serve" | "config")) {
        if let Err(e) = config::apply(&config::data_dir(&args)) {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    }
    let cli = Cli::parse();
    if cli.command.prints_for_pipes() {
        restore_default_sigpipe();
    }
    let result = match cli.command {
        Command::Init(a) => server::init(a),
        Command::Serve(a) => server::serve(a),
        Command::Ingest(a) => ingest::run(a),
        Command::Proof(a) => proof::run(a),
        Command::Export(a) => export::run(a),
        Command::Query(a) => query::run(a),
        Command::Stats(a) => query::stats(a),
        Command::Scan(a) => scan::run(a),
        Command::Signer(a) => signer::run_signer(a),
        Command::SigningKey(c) => signer::run_signing_key(c),
        Command::Migrate(a) => migrate::run(a),
        Command::Monitor(a) => monitor::run(a),
        Command::Verify(a) => verify::run(a),
        Command::McpProxy(a) => mcp_proxy::run(a),
        Command::Whoami(a) => access::whoami(a),
        Command::Keys(c) => keys::run(c),
        Command::Token(a) => access::token(a),
        Command::Agents(c) => agents::run(c),
        Command::Projects(c) => access::projects(c),
        Command::LogKeys(c) => access::log_keys(c),
        Command::Bench(c) => bench::run(c),
        Command::Config(ConfigCommand::Show(a)) => server::show(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
