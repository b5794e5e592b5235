//! `sealtrail export`: an evidence bundle (`--format bundle`, the default:
//! one ZIP with proofs, docs/evidence.md) or the matching events as JSON
//! lines, CSV or OCSF (through the query API, no proofs).

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use sealtrail_client::{ExportRequest, Exporter, QueriedEvent};
use sealtrail_core::checkpoint::Checkpoint;
use sealtrail_core::header::EntryHeader;
use sealtrail_core::note::Note;
use sealtrail_core::ocsf::{to_ocsf, OcsfInput, ProvenIn};
use serde_json::Value;

use crate::output::csv::write_csv_row;
use crate::output::progress;
use crate::remote::{runtime, ServerArgs};

/// What `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// An evidence bundle: a ZIP that `sealtrail verify` checks offline.
    Bundle,
    /// One JSON object per matching event (header, and body unless --no-bodies).
    Jsonl,
    /// The header fields as CSV (RFC 4180).
    Csv,
    /// One OCSF API Activity event per line (docs/ocsf.md).
    Ocsf,
}

/// Export the entries matching a query.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub filters: crate::cmd::query::FilterArgs,
    /// Headers only: leave the event bodies out.
    #[arg(long)]
    pub no_bodies: bool,
    #[arg(long, value_enum, default_value_t = ExportFormat::Bundle)]
    pub format: ExportFormat,
    /// Where to write (`-` for stdout, not for bundles).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: PathBuf,
    /// Give up on the download after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

pub fn run(a: ExportArgs) -> Result<ExitCode> {
    let rt = runtime(0)?;
    if a.format == ExportFormat::Bundle {
        if a.output.as_os_str() == "-" {
            anyhow::bail!("a bundle is a ZIP file: give -o FILE");
        }
        let req = ExportRequest::new(&a.filters.filter()?, Some(!a.no_bodies));
        let mut exporter = Exporter::with_ca_cert(
            &a.server.server,
            &a.server.api_key,
            Duration::from_secs(a.timeout),
            a.server.ca_cert()?.as_ref(),
        )?;
        if let Some(p) = a.server.project() {
            exporter = exporter.project(p);
        }
        // Written beside the target and renamed, so a failed download
        // never leaves a half bundle under the requested name.
        let dir = a
            .output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        // The server streams the bundle as it builds it: no length ahead.
        let bar = progress::bytes(None, false);
        let bytes = {
            let mut out = BufWriter::new(bar.wrap_write(tmp.as_file_mut()));
            rt.block_on(exporter.export(&req, &mut out))
        };
        bar.finish_and_clear();
        let bytes = bytes.context("export failed")?;
        tmp.persist(&a.output)
            .with_context(|| format!("cannot write {}", a.output.display()))?;
        eprintln!(
            "wrote {} ({bytes} bytes); check it with: sealtrail verify {} --vkey <the log's key>",
            a.output.display(),
            a.output.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let client = a.server.client()?;
    let mut out: Box<dyn Write> = if a.output.as_os_str() == "-" {
        Box::new(BufWriter::new(std::io::stdout().lock()))
    } else {
        Box::new(BufWriter::new(File::create(&a.output).with_context(
            || format!("cannot create {}", a.output.display()),
        )?))
    };
    // OCSF events name the checkpoint that proves them.
    let proven = if a.format == ExportFormat::Ocsf {
        let text = rt
            .block_on(client.checkpoint())
            .context("reading the checkpoint")?;
        let note = Note::parse(text.as_bytes()).context("the server's checkpoint")?;
        Some(Checkpoint::parse(note.text()).context("the server's checkpoint")?)
    } else {
        None
    };
    let mut q = a.filters.events_query(None, Some(1000), !a.no_bodies)?;
    if a.format == ExportFormat::Csv {
        write_csv_row(&mut out, &CSV_COLUMNS.map(String::from))?;
    }
    let mut n = 0u64;
    // Not over events written to this same terminal.
    let to_terminal = a.output.as_os_str() == "-" && std::io::stdout().is_terminal();
    let bar = progress::counter("events", to_terminal);
    loop {
        let page = rt.block_on(client.events(&q)).context("query failed")?;
        for e in page.events {
            write_event(&mut out, a.format, &e, proven.as_ref())?;
            n += 1;
        }
        bar.set_position(n);
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    bar.finish_and_clear();
    out.flush()?;
    eprintln!("wrote {n} events");
    Ok(ExitCode::SUCCESS)
}

const CSV_COLUMNS: [&str; 11] = [
    "index",
    "time",
    "agent",
    "session",
    "kind",
    "action",
    "tool",
    "outcome",
    "scope",
    "event_id",
    "leaf_hash",
];

fn write_event(
    out: &mut dyn Write,
    format: ExportFormat,
    e: &QueriedEvent,
    proven: Option<&Checkpoint>,
) -> Result<()> {
    match format {
        ExportFormat::Jsonl => {
            serde_json::to_writer(&mut *out, e)?;
            out.write_all(b"\n")?;
        }
        ExportFormat::Csv => {
            let field = |k: &str| match &e.header[k] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                v => v.to_string(),
            };
            let mut row: Vec<String> = vec![e.index.to_string(), e.time.to_string()];
            row.extend(CSV_COLUMNS[2..10].iter().map(|k| field(k)));
            row.push(e.leaf_hash.to_hex());
            write_csv_row(&mut &mut *out, &row)?;
        }
        ExportFormat::Ocsf => {
            let bytes = sealtrail_core::jcs::to_canonical_vec(&e.header)?;
            let header =
                EntryHeader::parse(&bytes).with_context(|| format!("entry {}: header", e.index))?;
            let origin = proven.map(|c| c.origin.as_str()).unwrap_or_default();
            let input = OcsfInput {
                header: &header,
                body: e.event.as_ref().filter(|b| !b.is_null()),
                leaf_hash: e.leaf_hash,
                origin,
                checkpoint: proven.filter(|c| e.index < c.size).map(|c| ProvenIn {
                    size: c.size,
                    root: c.root,
                }),
                tlog_proof: None,
            };
            serde_json::to_writer(&mut *out, &to_ocsf(&input))?;
            out.write_all(b"\n")?;
        }
        ExportFormat::Bundle => {}
    }
    Ok(())
}
