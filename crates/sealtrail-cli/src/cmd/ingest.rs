//! `sealtrail ingest FILE`: send JSONL events to a server.
//!
//! Each non-blank line is sent verbatim as one NDJSON event, so the server's
//! validation is the single source of truth; `results[i]` of each request maps
//! back to a line number by position. Overload answers (429/503) are retried
//! after `Retry-After`; a request refused as a whole for its size is split in
//! two until each part fits (a single line refused so is reported as rejected).

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::ProgressBar;
use sealtrail_client::{ApiError, Client, ClientError, EventResult, Wait, CONTENT_TYPE_NDJSON};
use serde_json::{json, Value};

use crate::output::progress;
use crate::remote::{runtime, ServerArgs};

/// Send JSONL events from a file (or - for stdin) to a server.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// JSONL file, one event per line (`-` reads stdin); blank lines are skipped.
    #[arg(value_name = "FILE")]
    pub file: String,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Events per request (the server accepts up to 10,000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
    /// Hold each request until a signed checkpoint covers its events; receipts
    /// then carry offline-verifiable inclusion proofs (see --receipts).
    #[arg(long)]
    pub wait_checkpoint: bool,
    /// Write one JSON receipt per input line (line, status, index, leaf_hash,
    /// time, proof or error) to this JSONL file.
    #[arg(long, value_name = "FILE")]
    pub receipts: Option<PathBuf>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Requests are kept well under the server's 16 MiB default body limit.
const MAX_REQUEST_BYTES: usize = 8 << 20;
/// Overload answers retried per request before giving up.
const MAX_TRIES: u32 = 10;
/// Longest wait honoured between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Rejections listed in the `--json` summary (all are printed to stderr).
const MAX_JSON_REJECTIONS: usize = 1000;

/// One input line to send.
struct Line {
    /// 1-based line number in the input.
    no: u64,
    bytes: Vec<u8>,
}

/// Reads the input in batches of non-blank lines.
struct LineReader<R> {
    inner: R,
    line_no: u64,
    done: bool,
}

impl<R: BufRead> LineReader<R> {
    fn new(inner: R) -> Self {
        LineReader {
            inner,
            line_no: 0,
            done: false,
        }
    }

    /// Up to `max_lines` lines and about `max_bytes` bytes (at least one line).
    fn next_batch(&mut self, max_lines: usize, max_bytes: usize) -> io::Result<Vec<Line>> {
        let mut batch = Vec::new();
        let mut bytes = 0;
        while !self.done && batch.len() < max_lines && (batch.is_empty() || bytes < max_bytes) {
            let mut buf = Vec::new();
            if self.inner.read_until(b'\n', &mut buf)? == 0 {
                self.done = true;
                break;
            }
            self.line_no += 1;
            if buf.last() == Some(&b'\n') {
                buf.pop();
            }
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            bytes += buf.len() + 1;
            batch.push(Line {
                no: self.line_no,
                bytes: buf,
            });
        }
        Ok(batch)
    }
}

/// Running totals.
#[derive(Debug, Default)]
struct Tally {
    events: u64,
    accepted: u64,
    duplicates: u64,
    rejected: u64,
    requests: u64,
    with_proof: u64,
    rejections: Vec<Value>,
}

impl Tally {
    fn summary(&self) -> String {
        format!(
            "accepted {}, duplicates {}, rejected {}",
            self.accepted, self.duplicates, self.rejected
        )
    }
}

pub fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    let client = args.server.client()?;
    // The bar follows the bytes read: a file's size is known, a pipe's not.
    let (input, bar): (Box<dyn BufRead>, ProgressBar) = if args.file == "-" {
        let bar = progress::bytes(None, args.json);
        let input = BufReader::new(bar.wrap_read(io::stdin()));
        (Box::new(input), bar)
    } else {
        let f = File::open(&args.file).with_context(|| format!("cannot open {}", args.file))?;
        let bar = progress::bytes(f.metadata().ok().map(|m| m.len()), args.json);
        let input = BufReader::with_capacity(1 << 20, bar.wrap_read(f));
        (Box::new(input), bar)
    };
    let mut receipts = match &args.receipts {
        Some(path) => {
            Some(BufWriter::new(File::create(path).with_context(|| {
                format!("cannot create {}", path.display())
            })?))
        }
        None => None,
    };
    let wait = if args.wait_checkpoint {
        Wait::Checkpoint
    } else {
        Wait::Durable
    };
    let rt = runtime(0)?;
    let start = Instant::now();
    let mut reader = LineReader::new(input);
    let mut tally = Tally::default();
    let name = if args.file == "-" {
        "stdin"
    } else {
        args.file.as_str()
    };
    loop {
        let batch = reader
            .next_batch(args.batch_size as usize, MAX_REQUEST_BYTES)
            .with_context(|| format!("reading {name} after line {}", reader.line_no))?;
        if batch.is_empty() {
            break;
        }
        let results = rt
            .block_on(send_lines(&client, &batch, wait, &mut tally.requests, &bar))
            .with_context(|| {
                let mut msg = format!("stopped at line {} of {name}", batch[0].no);
                if tally.events > 0 {
                    msg.push_str(&format!(
                        "; before it: {} ({} answered)",
                        tally.summary(),
                        plural(tally.events, "line")
                    ));
                }
                msg
            })?;
        for (line, result) in batch.iter().zip(&results) {
            record(&mut tally, line.no, result, &bar);
            if let Some(w) = receipts.as_mut() {
                let mut v = serde_json::to_value(result)?;
                if let Value::Object(m) = &mut v {
                    m.insert("line".into(), line.no.into());
                }
                serde_json::to_writer(&mut *w, &v)?;
                w.write_all(b"\n")?;
            }
        }
    }
    bar.finish_and_clear();
    if let Some(mut w) = receipts {
        w.flush().context("writing receipts")?;
    }
    let secs = start.elapsed().as_secs_f64();
    if args.json {
        let truncated = tally.rejections.len() as u64 != tally.rejected;
        let mut out = json!({
            "file": args.file,
            "events": tally.events,
            "accepted": tally.accepted,
            "duplicates": tally.duplicates,
            "rejected": tally.rejected,
            "requests": tally.requests,
            "seconds": (secs * 1000.0).round() / 1000.0,
            "rejections": tally.rejections,
        });
        if truncated {
            out["rejections_truncated"] = true.into();
        }
        if args.wait_checkpoint {
            out["with_proof"] = tally.with_proof.into();
        }
        if let Some(p) = &args.receipts {
            out["receipts"] = p.display().to_string().into();
        }
        println!("{out}");
    } else if tally.events == 0 {
        println!("no events in {name}");
    } else {
        let rate = if secs > 0.0 {
            format!(", {:.0} events/s", tally.events as f64 / secs)
        } else {
            String::new()
        };
        println!(
            "{} ({} in {}, {secs:.2} s{rate})",
            tally.summary(),
            plural(tally.events, "event"),
            plural(tally.requests, "request")
        );
        if args.wait_checkpoint {
            println!(
                "{} receipts carry an inclusion proof{}",
                tally.with_proof,
                match &args.receipts {
                    Some(p) => format!(" (written to {})", p.display()),
                    None => " (use --receipts FILE to keep them)".into(),
                }
            );
        }
    }
    Ok(if tally.rejected > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Counts one line's result; a rejection is printed on stderr (above the
/// progress bar, if one is drawn).
fn record(tally: &mut Tally, line: u64, result: &EventResult, bar: &ProgressBar) {
    tally.events += 1;
    match result {
        EventResult::Sealed(r) => {
            tally.accepted += 1;
            tally.with_proof += u64::from(r.proof.is_some());
        }
        EventResult::Duplicate(r) => {
            tally.duplicates += 1;
            tally.with_proof += u64::from(r.proof.is_some());
        }
        EventResult::Rejected(e) => {
            tally.rejected += 1;
            bar.suspend(|| eprintln!("{}", rejection_line(line, e)));
            if tally.rejections.len() < MAX_JSON_REJECTIONS {
                tally.rejections.push(json!({
                    "line": line,
                    "code": e.code,
                    "field": e.field,
                    "message": e.message,
                }));
            }
        }
    }
}

/// `1 event`, `2 events`.
pub fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// `line 3: agent.id: required field is missing [invalid_event]`.
fn rejection_line(line: u64, e: &ApiError) -> String {
    format!("line {line}: {e}")
}

/// The NDJSON body of `lines`.
fn ndjson(lines: &[Line]) -> Vec<u8> {
    let mut body = Vec::with_capacity(lines.iter().map(|l| l.bytes.len() + 1).sum());
    for l in lines {
        body.extend_from_slice(&l.bytes);
        body.push(b'\n');
    }
    body
}

/// Whether a whole-request refusal may be about the request's size or one
/// line's content, so that smaller requests could succeed.
fn splittable(e: &ClientError) -> bool {
    matches!(e.status(), Some(400 | 413)) && e.api_error().is_some()
}

/// Sends `lines` (in order) and returns one result per line.
async fn send_lines(
    client: &Client,
    lines: &[Line],
    wait: Wait,
    requests: &mut u64,
    bar: &ProgressBar,
) -> anyhow::Result<Vec<EventResult>> {
    let mut results: Vec<Option<EventResult>> = vec![None; lines.len()];
    // Ranges still to send, the next one last; halves keep the input order.
    let mut todo: Vec<std::ops::Range<usize>> = Vec::new();
    todo.push(0..lines.len());
    while let Some(range) = todo.pop() {
        let part = &lines[range.clone()];
        match send_with_retry(client, part, wait, requests, bar).await {
            Ok(answers) => {
                if answers.len() != part.len() {
                    bail!(
                        "the server answered {} results for the {} events of lines {}..={}",
                        answers.len(),
                        part.len(),
                        part[0].no,
                        part[part.len() - 1].no
                    );
                }
                for (slot, a) in results[range].iter_mut().zip(answers) {
                    *slot = Some(a);
                }
            }
            Err(e) if splittable(&e) && part.len() > 1 => {
                let mid = range.start + part.len() / 2;
                todo.push(mid..range.end);
                todo.push(range.start..mid);
            }
            Err(e) if splittable(&e) => {
                let error = e.api_error().cloned().unwrap_or_else(|| ApiError {
                    code: e.code().into(),
                    message: e.to_string(),
                    field: None,
                });
                results[range.start] = Some(EventResult::Rejected(error));
            }
            Err(e) => return Err(e.into()),
        }
    }
    // Every slot was filled above: each range either answered or was split.
    results
        .into_iter()
        .map(|r| r.context("internal error: a line got no result"))
        .collect()
}

/// One request, retried on 429/503 after the server's `Retry-After`.
async fn send_with_retry(
    client: &Client,
    lines: &[Line],
    wait: Wait,
    requests: &mut u64,
    bar: &ProgressBar,
) -> Result<Vec<EventResult>, ClientError> {
    let body = ndjson(lines);
    let mut tries = 0;
    loop {
        tries += 1;
        *requests += 1;
        match client
            .ingest_raw(body.clone(), CONTENT_TYPE_NDJSON, wait)
            .await
        {
            Ok(answer) => return Ok(answer.results),
            Err(e) if e.is_overloaded() && tries < MAX_TRIES => {
                let delay = backoff(e.retry_after(), tries);
                bar.suspend(|| {
                    eprintln!(
                        "server busy ({}), retrying in {} s ({tries}/{MAX_TRIES})",
                        e.code(),
                        delay.as_secs_f64()
                    )
                });
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The server's `Retry-After` when given, else 0.5 s doubling per try; capped.
pub fn backoff(retry_after: Option<Duration>, tries: u32) -> Duration {
    let d = retry_after
        .unwrap_or_else(|| Duration::from_millis(500).saturating_mul(1 << tries.min(10)) / 2);
    d.min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_batches_skipping_blank_lines() {
        let input = b"{\"a\":1}\n\n   \n{\"b\":2}\r\n{bad\n\t\n{\"c\":3}";
        let mut r = LineReader::new(&input[..]);
        let b = r.next_batch(2, 1 << 20).unwrap();
        assert_eq!(
            b.iter().map(|l| l.no).collect::<Vec<_>>(),
            vec![1, 4],
            "blank lines count for numbering but are not sent"
        );
        assert_eq!(b[1].bytes, b"{\"b\":2}");
        let b = r.next_batch(2, 1 << 20).unwrap();
        assert_eq!(b.iter().map(|l| l.no).collect::<Vec<_>>(), vec![5, 7]);
        assert_eq!(ndjson(&b), b"{bad\n{\"c\":3}\n");
        assert!(r.next_batch(2, 1 << 20).unwrap().is_empty());
        assert!(r.next_batch(2, 1 << 20).unwrap().is_empty());
    }

    #[test]
    fn batches_respect_the_byte_budget() {
        let line = format!("{{\"x\":\"{}\"}}\n", "y".repeat(100));
        let input = line.repeat(10);
        let mut r = LineReader::new(input.as_bytes());
        // Budget of ~2.5 lines: a batch stops once it reaches it.
        let b = r.next_batch(100, 250).unwrap();
        assert_eq!(b.len(), 3);
        // A line larger than the budget still goes, alone.
        let mut r = LineReader::new(input.as_bytes());
        assert_eq!(r.next_batch(100, 1).unwrap().len(), 1);
    }

    #[test]
    fn rejection_lines() {
        let e = ApiError {
            code: "invalid_event".into(),
            message: "agent.id: required field is missing".into(),
            field: Some("agent.id".into()),
        };
        assert_eq!(
            rejection_line(3, &e),
            "line 3: agent.id: required field is missing [invalid_event]"
        );
        let e = ApiError {
            code: "invalid_event".into(),
            message: "unknown variant `nope`".into(),
            field: Some("kind".into()),
        };
        assert_eq!(
            rejection_line(9, &e),
            "line 9: kind: unknown variant `nope` [invalid_event]"
        );
    }

    #[test]
    fn backoff_honours_retry_after_and_caps() {
        assert_eq!(
            backoff(Some(Duration::from_secs(2)), 1),
            Duration::from_secs(2)
        );
        assert_eq!(backoff(Some(Duration::from_secs(3600)), 1), MAX_BACKOFF);
        assert_eq!(backoff(None, 1), Duration::from_millis(500));
        assert_eq!(backoff(None, 2), Duration::from_secs(1));
        assert_eq!(backoff(None, 30), MAX_BACKOFF);
    }

    #[test]
    fn tally_counts() {
        let mut t = Tally::default();
        let r: EventResult = serde_json::from_value(json!({
            "status": "sealed", "index": 1, "time": 2,
            "leaf_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "proof": "p"
        }))
        .unwrap();
        record(&mut t, 1, &r, &ProgressBar::hidden());
        let r: EventResult = serde_json::from_value(json!({
            "status": "rejected", "error": {"code": "invalid_event", "message": "m", "field": "kind"}
        }))
        .unwrap();
        record(&mut t, 2, &r, &ProgressBar::hidden());
        assert_eq!(
            (t.events, t.accepted, t.rejected, t.with_proof),
            (2, 1, 1, 1)
        );
        assert_eq!(t.rejections[0]["line"], 2);
        assert_eq!(t.summary(), "accepted 1, duplicates 0, rejected 1");
    }
}
