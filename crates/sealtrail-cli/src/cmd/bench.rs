//! `sealtrail bench …`: the flags of the load generators and baselines; the
//! tools themselves are the sealtrail-bench crate.

use std::process::ExitCode;

use clap::Subcommand;
use sealtrail_bench::{diy, ingest, query, stages};

use crate::output::progress;
use crate::remote::ServerArgs;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Drive a running server with synthetic events; report throughput and latency.
    Ingest(BenchIngestArgs),
    /// The do-it-yourself baseline: one INSERT and one fsync per event with a SHA-256 chain column.
    Diy(diy::DiyArgs),
    /// Build a real log of synthetic events (10 million by default) for query benchmarks.
    Populate(query::PopulateArgs),
    /// Time selective query pages and grouped stats over a populated log.
    Query(query::BenchQueryArgs),
    /// CPU time per event of each ingest stage (decode, PII, verdict, seal, store), without HTTP.
    Stages(stages::StagesArgs),
}

/// Drive a running server with synthetic events; report throughput and latency.
#[derive(Debug, clap::Args)]
pub struct BenchIngestArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub load: ingest::LoadArgs,
}

pub fn run(c: BenchCommand) -> anyhow::Result<ExitCode> {
    match c {
        BenchCommand::Ingest(a) => ingest::run(&a.server.server, a.server.builder(), a.load),
        BenchCommand::Diy(a) => diy::run(a),
        BenchCommand::Populate(a) => {
            let bar = progress::bar("entries sealed", a.json);
            let built = query::populate(a, &mut progress::reporter(&bar));
            bar.finish_and_clear();
            built
        }
        BenchCommand::Query(a) => query::query(a),
        BenchCommand::Stages(a) => stages::run(a),
    }
}
