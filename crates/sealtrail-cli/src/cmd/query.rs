//! `sealtrail query` (filtered entries, following cursors) and `sealtrail
//! stats` (grouped counts), printed as an aligned table, JSON, JSON lines or
//! CSV (RFC 4180).

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use sealtrail_client::api::filter::{filter_from_pairs, FilterError};
use sealtrail_client::{EventFilter, EventsQuery, QueriedEvent, StatsQuery};
use sealtrail_core::time::format_time;
use serde_json::{json, Value};

use crate::output::csv::write_csv_row;
use crate::output::table::write_table;
use crate::remote::{runtime, ServerArgs};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// One JSON document.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header row (RFC 4180).
    Csv,
}

/// The filters `query` and `export` share: every filter given must match.
/// Flags are taken as text and checked by the API's one filter validator,
/// so a flag is refused exactly as the same query parameter would be.
#[derive(Debug, Clone, clap::Args)]
pub struct FilterArgs {
    /// From this server time on (RFC 3339, a date, or µs since the epoch).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Before this server time (exclusive).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Only this agent's entries (an export then proves completeness).
    #[arg(long)]
    pub agent: Option<String>,
    /// Only this session's entries (an export then proves completeness).
    #[arg(long)]
    pub session: Option<String>,
    /// Event kind: tool_call, model_call, decision, …
    #[arg(long)]
    pub kind: Option<String>,
    #[arg(long)]
    pub action: Option<String>,
    /// Tool name.
    #[arg(long)]
    pub tool: Option<String>,
    /// success, failure, denied or pending.
    #[arg(long)]
    pub outcome: Option<String>,
    /// A data class tag the entry carries (pii, pci, …).
    #[arg(long)]
    pub data_class: Option<String>,
    /// A data subject's keyed MAC (64 hex digits) as sealed in headers.
    #[arg(long)]
    pub subject: Option<String>,
    /// A scope verdict (`out_of_scope: budget`) or its class (`out_of_scope`).
    #[arg(long)]
    pub scope: Option<String>,
}

/// A refusal of the filter validator, naming the flag.
fn flag_error(e: FilterError) -> anyhow::Error {
    anyhow::anyhow!("--{}: {}", e.field.replace('_', "-"), e.message)
}

/// `(name, value)` for each flag given, named as the API's parameters.
fn given(flags: &[(&str, &Option<String>)]) -> Vec<(String, String)> {
    flags
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), v.clone())))
        .collect()
}

impl FilterArgs {
    /// The filter these flags give, through the validator every API path uses.
    pub fn filter(&self) -> anyhow::Result<EventFilter> {
        let pairs = given(&[
            ("from", &self.from),
            ("to", &self.to),
            ("agent", &self.agent),
            ("session", &self.session),
            ("kind", &self.kind),
            ("action", &self.action),
            ("tool", &self.tool),
            ("outcome", &self.outcome),
            ("data_class", &self.data_class),
            ("subject", &self.subject),
            ("scope", &self.scope),
        ]);
        filter_from_pairs(&pairs).map_err(flag_error)
    }

    /// A page request for these filters.
    pub fn events_query(
        &self,
        cursor: Option<u64>,
        limit: Option<u32>,
        include_bodies: bool,
    ) -> anyhow::Result<EventsQuery> {
        Ok(EventsQuery {
            filter: self.filter()?,
            cursor,
            limit,
            include_bodies,
        })
    }
}

/// Search the log: every filter given must match.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Start after this entry index (the `next_cursor` printed last time).
    #[arg(long)]
    pub cursor: Option<u64>,
    /// Most entries to print.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: u64,
    /// Print every matching entry (ignores --limit).
    #[arg(long)]
    pub all: bool,
    /// Include each event (and its salt) in json, jsonl and csv output.
    #[arg(long)]
    pub include_bodies: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Entries fetched per request.
const PAGE: u64 = 1000;

pub fn run(a: QueryArgs) -> anyhow::Result<ExitCode> {
    let client = a.server.client()?;
    let mut q = a.filters.events_query(a.cursor, None, a.include_bodies)?;
    let want = if a.all { u64::MAX } else { a.limit };
    let rt = runtime(0)?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut printer = Printer::new(a.format, a.include_bodies);
    let mut printed = 0u64;
    let next = loop {
        q.limit = Some(PAGE.min(want - printed) as u32);
        let page = rt.block_on(client.events(&q)).context("query failed")?;
        let mut last = None;
        for e in page.events {
            last = Some(e.index);
            printer.event(&mut out, e)?;
            printed += 1;
        }
        match page.next_cursor {
            None => break None,
            // The limit cut the results: say where they go on.
            Some(c) if printed >= want => break Some(last.unwrap_or(c)),
            Some(c) => q.cursor = Some(c),
        }
    };
    printer.finish(&mut out, next)?;
    out.flush()?;
    if let (Some(c), Format::Table) = (next, a.format) {
        eprintln!("more entries may match: add --cursor {c} (or use --all)");
    }
    Ok(ExitCode::SUCCESS)
}

/// The header fields the table and CSV show, in order.
const COLUMNS: [&str; 11] = [
    "index",
    "time",
    "agent",
    "session",
    "kind",
    "action",
    "tool",
    "outcome",
    "scope",
    "data_classes",
    "event_id",
];

/// One event as the table and CSV cells of [`COLUMNS`].
fn cells(e: &QueriedEvent) -> Vec<String> {
    let h = &e.header;
    let text = |k: &str| match &h[k] {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(" "),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut row = vec![e.index.to_string(), format_time(e.time)];
    row.extend(COLUMNS[2..].iter().map(|k| text(k)));
    row
}

/// Prints events as they arrive (tables wait for all, to align them).
struct Printer {
    format: Format,
    bodies: bool,
    rows: Vec<Vec<String>>,
    events: Vec<Value>,
    started: bool,
}

impl Printer {
    fn new(format: Format, bodies: bool) -> Self {
        Printer {
            format,
            bodies,
            rows: Vec::new(),
            events: Vec::new(),
            started: false,
        }
    }

    fn event(&mut self, out: &mut impl Write, e: QueriedEvent) -> io::Result<()> {
        match self.format {
            Format::Table => self.rows.push(cells(&e)),
            Format::Json => self.events.push(json!(e)),
            Format::Jsonl => {
                serde_json::to_writer(&mut *out, &e)?;
                out.write_all(b"\n")?;
            }
            Format::Csv => {
                if !self.started {
                    let mut header: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
                    header.push("leaf_hash".into());
                    if self.bodies {
                        header.push("event".into());
                        header.push("salt".into());
                    }
                    write_csv_row(out, &header)?;
                }
                let mut row = cells(&e);
                row.push(e.leaf_hash.to_hex());
                if self.bodies {
                    for v in [&e.event, &e.salt] {
                        row.push(match v {
                            Some(Value::String(s)) => s.clone(),
                            Some(Value::Null) | None => String::new(),
                            Some(other) => other.to_string(),
                        });
                    }
                }
                write_csv_row(out, &row)?;
            }
        }
        self.started = true;
        Ok(())
    }

    fn finish(self, out: &mut impl Write, next: Option<u64>) -> io::Result<()> {
        match self.format {
            Format::Table => {
                let header: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
                write_table(out, &header, &self.rows)?;
                writeln!(out, "({} entries)", self.rows.len())
            }
            Format::Json => {
                serde_json::to_writer_pretty(
                    &mut *out,
                    &json!({"events": self.events, "next_cursor": next}),
                )?;
                writeln!(out)
            }
            Format::Csv if !self.started => {
                let header: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
                write_csv_row(out, &header)
            }
            Format::Jsonl | Format::Csv => Ok(()),
        }
    }
}

/// Entry counts, grouped: kept per UTC day, agent, kind and outcome at
/// ingest, so this is instant on any size of log.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Comma-separated: agent, kind, outcome, day (rows sort in this order).
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub group_by: Vec<String>,
    /// From this UTC day on (a date, or a midnight as RFC 3339 or µs).
    #[arg(long, value_name = "DAY")]
    pub from: Option<String>,
    /// Before this UTC day.
    #[arg(long, value_name = "DAY")]
    pub to: Option<String>,
    #[arg(long)]
    pub agent: Option<String>,
    #[arg(long)]
    pub kind: Option<String>,
    #[arg(long)]
    pub outcome: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn stats(a: StatsArgs) -> anyhow::Result<ExitCode> {
    // The flags go through the parser of `GET /v1/stats` itself.
    let group_by = (!a.group_by.is_empty()).then(|| a.group_by.join(","));
    let pairs = given(&[
        ("group_by", &group_by),
        ("from", &a.from),
        ("to", &a.to),
        ("agent", &a.agent),
        ("kind", &a.kind),
        ("outcome", &a.outcome),
    ]);
    let q = StatsQuery::from_pairs(&pairs).map_err(flag_error)?;
    let client = a.server.client()?;
    let answer = runtime(0)?
        .block_on(client.stats(&q))
        .context("stats failed")?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut header = answer.group_by.clone();
    header.push("count".into());
    let row_cells = |r: &sealtrail_client::StatsRow| -> Vec<String> {
        let mut cells: Vec<String> = answer
            .group_by
            .iter()
            .map(|g| match r.groups.get(g) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => "-".into(),
                Some(other) => other.to_string(),
            })
            .collect();
        cells.push(r.count.to_string());
        cells
    };
    match a.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &answer)?;
            writeln!(out)?;
        }
        Format::Jsonl => {
            for r in &answer.rows {
                serde_json::to_writer(&mut out, r)?;
                writeln!(out)?;
            }
        }
        Format::Csv => {
            write_csv_row(&mut out, &header)?;
            for r in &answer.rows {
                let mut cells = row_cells(r);
                // CSV keeps "no outcome" empty rather than "-".
                for (c, g) in cells.iter_mut().zip(&answer.group_by) {
                    if r.groups.get(g).is_none_or(Value::is_null) {
                        c.clear();
                    }
                }
                write_csv_row(&mut out, &cells)?;
            }
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = answer.rows.iter().map(row_cells).collect();
            write_table(&mut out, &header, &rows)?;
            if !answer.group_by.is_empty() {
                writeln!(out, "total: {}", answer.total)?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
