//! `sealtrail`: the command-line entry point. Each subcommand lives in its own
//! module; this file only parses arguments and dispatches.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: the ingest path allocates many small, short-lived objects
/// (JSON trees, strings) across threads; glibc malloc showed as ~20% of the
/// sequencer's profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod bench_diy;
mod ingest;
mod migrate;
mod proof;
mod server_cmds;
mod verify;

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
    Init(server_cmds::InitArgs),
    /// Run the server on a data directory (initialising it on first start).
    Serve(server_cmds::ServeArgs),
    /// Send JSONL events from a file (or - for stdin) to a server.
    Ingest(ingest::IngestArgs),
    /// Fetch an entry's inclusion proof and optionally verify it offline.
    Proof(proof::ProofArgs),
    /// Check a whole store: re-derive every hash, link, tile node and checkpoint.
    Verify(verify::VerifyArgs),
    /// Copy an embedded log into PostgreSQL and prove the copy.
    Migrate(migrate::MigrateArgs),
    /// Load generators and baselines.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Drive a running server with synthetic events; report throughput and latency.
    Ingest(bench::BenchIngestArgs),
    /// The do-it-yourself baseline: one INSERT and one fsync per event with a SHA-256 chain column.
    Diy(bench_diy::DiyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init(a) => server_cmds::init(a),
        Command::Serve(a) => server_cmds::serve(a),
        Command::Ingest(a) => ingest::run(a),
        Command::Proof(a) => proof::run(a),
        Command::Migrate(a) => migrate::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Bench(BenchCommand::Ingest(a)) => bench::run(a),
        Command::Bench(BenchCommand::Diy(a)) => bench_diy::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
