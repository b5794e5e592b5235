//! `sealtrail export` against a real server: bundles for the completeness
//! cases verify with `sealtrail verify`; JSONL, CSV and OCSF hold the
//! matching events.

use sealtrail_testkit::bundle::{entry_lines, read_zip, verify_json, LogWithBundles, PER_ROUND};
use serde_json::Value;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

#[test]
fn bundles_of_every_kind_verify() {
    let log = LogWithBundles::start(BIN);
    let (t1, t2) = (log.t1.to_string(), log.t2.to_string());
    let cases: [(&[&str], Option<&str>); 5] = [
        (
            &["--agent", "bot", "--from", &t1, "--to", &t2],
            Some("a:bot"),
        ),
        (
            &["--session", "other-session", "--no-bodies"],
            Some("s:other-session"),
        ),
        (&["--from", &t1, "--to", &t2], Some("range")),
        (&["--kind", "decision"], None),
        (&["--agent", "nobody"], Some("a:nobody")),
    ];
    for (i, (args, claim)) in cases.iter().enumerate() {
        let path = log.bundle(args, &format!("b{i}.zip"));
        let (code, report) = verify_json(BIN, &path, &log.vkey);
        assert_eq!(code, 0, "{args:?}: {report:#}");
        assert_eq!(
            report["completeness"]["claimed"].as_str(),
            *claim,
            "{args:?}"
        );
        assert_eq!(
            report["completeness"]["proven"],
            claim.is_some(),
            "{args:?}"
        );
        let members = read_zip(&path);
        let lines = entry_lines(&members);
        let matches = lines.iter().filter(|l| l["role"] == "match").count() as u64;
        assert_eq!(report["counts"]["matches"], matches);
        if args.contains(&"--no-bodies") {
            assert!(lines.iter().all(|l| l["body"].is_null()));
        }
    }
    // The range bundle holds round 1 exactly.
    let path = log.bundle(&["--from", &t1, "--to", &t2], "range.zip");
    let (_, report) = verify_json(BIN, &path, &log.vkey);
    assert_eq!(report["counts"]["matches"], PER_ROUND);
    assert_eq!(report["first_index"], PER_ROUND);
    assert_eq!(report["last_index"], 2 * PER_ROUND - 1);
}

#[test]
fn jsonl_csv_and_ocsf() {
    let log = LogWithBundles::start(BIN);
    let dir = log.dir.path();
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let run = |format: &str, name: &str| {
        let out = log.export(&["--agent", "bot", "--format", format], &dir.join(name));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let bot_events = 3 * PER_ROUND / 3;
    run("jsonl", "bot.jsonl");
    let lines: Vec<Value> = read("bot.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, bot_events);
    assert!(lines
        .iter()
        .all(|l| l["header"]["agent"] == "bot" && l["event"].is_object()));
    run("csv", "bot.csv");
    let csv = read("bot.csv");
    assert!(csv.starts_with("index,time,agent,session,kind"), "{csv}");
    assert_eq!(csv.lines().count() as u64, bot_events + 1);
    run("ocsf", "bot.ocsf.jsonl");
    let ocsf: Vec<Value> = read("bot.ocsf.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ocsf.len() as u64, bot_events);
    assert!(ocsf.iter().all(|e| e["class_uid"] == 6003), "{:#}", ocsf[0]);

    // A bad filter: the server's error, exit 2, no file left behind.
    let out = log.export(&["--from", "20", "--to", "10"], &dir.join("bad.zip"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("from"),
        "{out:?}"
    );
    assert!(!dir.join("bad.zip").exists());
}
