//! `sealtrail bench populate` builds a log that verifies; `sealtrail
//! query` and `sealtrail stats` read it in every output format; `sealtrail
//! bench query` reports on it.

use std::path::Path;
use std::process::{Command, Output};

use sealtrail_testkit::cli::Server;
use serde_json::Value;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "sealtrail {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `sealtrail query|stats` against `server` with `key`, plus `args`.
fn client(cmd: &str, server: &Server, key: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg(cmd)
        .args(["--server", &server.url])
        .env("SEALTRAIL_API_KEY", key)
        .args(args)
        .output()
        .unwrap()
}

fn client_ok(cmd: &str, server: &Server, key: &str, args: &[&str]) -> String {
    let out = client(cmd, server, key, args);
    assert!(
        out.status.success(),
        "sealtrail {cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Splits RFC 4180 CSV into records of fields.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut field) = (Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    records
}

fn populate(dir: &Path, entries: &str) -> Value {
    let out = ok(&[
        "bench",
        "populate",
        "--data",
        dir.to_str().unwrap(),
        "--entries",
        entries,
        "--agents",
        "5",
        "--days",
        "3",
        "--start",
        "2026-03-01",
        "--batch",
        "500",
        "--json",
    ]);
    serde_json::from_str(&out).unwrap()
}

#[test]
fn populate_then_query_and_stats_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let summary = populate(&data, "3000");
    assert_eq!(summary["entries"], 3000);
    let key = summary["owner_api_key"].as_str().unwrap().to_string();
    let verify = ok(&["verify", "--data", data.to_str().unwrap()]);
    assert!(verify.starts_with("OK: 3000 entries"), "{verify}");
    let again = run(&["bench", "populate", "--data", data.to_str().unwrap()]);
    assert!(!again.status.success(), "a second populate must refuse");

    let report: Value = serde_json::from_str(&ok(&[
        "bench",
        "query",
        "--data",
        data.to_str().unwrap(),
        "--iterations",
        "20",
        "--stats-iterations",
        "2",
        "--json",
    ]))
    .unwrap();
    assert_eq!(report["entries"], 3000);
    assert_eq!(report["agents"], 5);
    assert_eq!(report["days"], 3);
    assert_eq!(report["pages"][0]["store"]["count"], 20);
    assert!(report["pages"][0]["mean_events_per_page"].as_f64().unwrap() > 0.0);

    let server = Server::start(BIN, &data, "1", &[], None);
    let filters = ["--agent", "agent-001", "--kind", "tool_call"];

    // Stats: the count the query must find, and days from --start.
    let stats: Value = serde_json::from_str(&client_ok(
        "stats",
        &server,
        &key,
        &[&filters[..], &["--format", "json"]].concat(),
    ))
    .unwrap();
    let want = stats["total"].as_u64().unwrap();
    assert!(want > 50, "{stats}");
    let by_day = client_ok("stats", &server, &key, &["--group-by", "day"]);
    let lines: Vec<&str> = by_day.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["day", "count"]
    );
    assert!(lines[1].starts_with("2026-03-01 "), "{by_day}");
    assert_eq!(lines.len(), 5, "header, 3 days, total:\n{by_day}");
    assert_eq!(lines[4], "total: 3000");
    let csv = parse_csv(&client_ok(
        "stats",
        &server,
        &key,
        &["--group-by", "agent,outcome", "--format", "csv"],
    ));
    assert_eq!(csv[0], ["agent", "outcome", "count"]);
    let sum: u64 = csv[1..].iter().map(|r| r[2].parse::<u64>().unwrap()).sum();
    assert_eq!(sum, 3000);

    // JSON lines, all pages: every event matches, as many as counted.
    let jsonl = client_ok(
        "query",
        &server,
        &key,
        &[&filters[..], &["--all", "--format", "jsonl"]].concat(),
    );
    let events: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len() as u64, want);
    for e in &events {
        assert_eq!(e["header"]["agent"], "agent-001");
        assert_eq!(e["header"]["kind"], "tool_call");
        assert!(e.get("event").is_none());
    }
    let indexes: Vec<u64> = events
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert!(
        indexes.windows(2).all(|w| w[0] < w[1]),
        "in log order, no repeats"
    );

    // One JSON document; bodies on request.
    let json: Value = serde_json::from_str(&client_ok(
        "query",
        &server,
        &key,
        &[
            &filters[..],
            &["--all", "--format", "json", "--include-bodies"],
        ]
        .concat(),
    ))
    .unwrap();
    assert_eq!(json["events"].as_array().unwrap().len() as u64, want);
    assert_eq!(json["next_cursor"], Value::Null);
    assert_eq!(json["events"][0]["event"]["agent"]["id"], "agent-001");

    // CSV with a header row; bodies quoted as RFC 4180 says.
    let csv = parse_csv(&client_ok(
        "query",
        &server,
        &key,
        &[
            &filters[..],
            &["--all", "--format", "csv", "--include-bodies"],
        ]
        .concat(),
    ));
    assert_eq!(csv[0][..3], ["index", "time", "agent"]);
    assert_eq!(csv[0].last().unwrap(), "salt");
    assert_eq!(csv.len() as u64, want + 1);
    let event_col = csv[0].iter().position(|c| c == "event").unwrap();
    for (row, e) in csv[1..].iter().zip(&events) {
        assert_eq!(row.len(), csv[0].len());
        assert_eq!(row[0], e["index"].to_string());
        let body: Value = serde_json::from_str(&row[event_col]).unwrap();
        assert_eq!(body["kind"], "tool_call");
    }

    // The table: a header, aligned columns, a count; --limit cuts it and
    // says where to go on; --cursor goes on from there.
    let out = client(
        "query",
        &server,
        &key,
        &[&filters[..], &["--limit", "7"]].concat(),
    );
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("index  time"), "{table}");
    assert_eq!(lines.len(), 9, "{table}");
    assert_eq!(lines[8], "(7 entries)");
    let agent_at = lines[0].find("agent").unwrap();
    for l in &lines[1..8] {
        assert_eq!(&l[agent_at..agent_at + 9], "agent-001", "aligned:\n{table}");
    }
    let stderr = String::from_utf8(out.stderr).unwrap();
    let cursor = stderr
        .split("--cursor ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no cursor in {stderr:?}"));
    assert_eq!(cursor, indexes[6].to_string());
    let next = client_ok(
        "query",
        &server,
        &key,
        &[
            &filters[..],
            &["--cursor", cursor, "--limit", "3", "--format", "jsonl"],
        ]
        .concat(),
    );
    let next: Vec<u64> = next
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["index"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(next, indexes[7..10]);

    // Time ranges as dates: the first day only.
    let day1: Value = serde_json::from_str(&client_ok(
        "query",
        &server,
        &key,
        &[
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-02",
            "--all",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    let n = day1["events"].as_array().unwrap().len();
    assert_eq!(n.to_string(), lines_count(&by_day, "2026-03-01"));

    // Bad input: the server's message reaches the user.
    let bad = client("query", &server, &key, &["--kind", "toolcall"]);
    assert_eq!(bad.status.code(), Some(2));
    let msg = String::from_utf8(bad.stderr).unwrap();
    assert!(msg.contains("not an event kind"), "{msg}");
    let bad = client("query", &server, &key, &["--from", "last week"]);
    assert!(!bad.status.success());
    let bad = client("stats", &server, &key, &["--group-by", "colour"]);
    assert!(!bad.status.success());
}

/// The count printed on `day`'s line of a `stats --group-by day` table.
fn lines_count(table: &str, day: &str) -> String {
    table
        .lines()
        .find(|l| l.starts_with(day))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_default()
        .to_string()
}
