//! Progress bars: the long commands (ingest of a file, export, verify of a
//! bundle and of a store, migrate, bench populate) draw one on a terminal
//! and nothing when piped or asked for `--json`, so what a script reads
//! stays clean: no bar, no carriage return, no escape code.

use std::path::Path;
use std::process::{Command, Output};

use sealtrail_testkit::cli::{init, Server};
use sealtrail_testkit::postgres_schema;
use sealtrail_testkit::tools::need_tool;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

/// Runs `sealtrail ARGS` with stdout and stderr piped; asserts success.
fn piped(args: &[&str]) -> Output {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "sealtrail {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Neither stream carries anything a bar would draw.
fn assert_no_bar(what: &str, out: &Output) {
    for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !bytes.contains(&0x1b) && !bytes.contains(&b'\r'),
            "{what}: {name} carries a bar or escape codes: {text:?}"
        );
    }
}

fn events_file(path: &Path, n: u64) {
    let lines: String = (0..n)
        .map(|i| {
            format!(
                "{{\"id\":\"p{i}\",\"agent\":{{\"id\":\"bar-agent\"}},\"kind\":\"tool_call\",\
                 \"tool\":{{\"name\":\"crm.lookup\",\"arguments\":{{\"customer\":{i}}}}}}}\n"
            )
        })
        .collect();
    std::fs::write(path, lines).unwrap();
}

#[test]
fn piped_long_commands_print_no_bar_or_escape_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (key, vkey) = init(BIN, &data, &[]);
    let mut server = Server::start(BIN, &data, "0.05", &[], None);
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (events, bundle, jsonl) = (
        tmp.path().join("events.jsonl"),
        tmp.path().join("bundle.zip"),
        tmp.path().join("events.out.jsonl"),
    );
    events_file(&events, 500);
    let remote = ["--server", &server.url, "--api-key", &key];

    let out = piped(&[&["ingest", &s(&events), "--batch-size", "50"][..], &remote].concat());
    assert_no_bar("ingest", &out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("accepted 500"));
    let out = piped(&[&["export", "-o", &s(&bundle)][..], &remote].concat());
    assert_no_bar("export (bundle)", &out);
    let out = piped(
        &[
            &["export", "--format", "jsonl", "-o", &s(&jsonl)][..],
            &remote,
        ]
        .concat(),
    );
    assert_no_bar("export (jsonl)", &out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrote 500 events"));
    server.terminate_cleanly();

    assert_no_bar(
        "verify (bundle)",
        &piped(&["verify", &s(&bundle), "--vkey", &vkey]),
    );
    assert_no_bar("verify --data", &piped(&["verify", "--data", &s(&data)]));
    let populated = tmp.path().join("populated");
    assert_no_bar(
        "bench populate",
        &piped(&[
            "bench",
            "populate",
            "--data",
            &s(&populated),
            "--entries",
            "3000",
            "--batch",
            "256",
        ]),
    );
    if let Some((url, schema)) = postgres_schema("piped_migrate_prints_no_bar", "bars") {
        assert_no_bar(
            "migrate",
            &piped(&[
                "migrate",
                "--from",
                &s(&data),
                "--to",
                &url,
                "--pg-schema",
                &schema.name,
            ]),
        );
    }
}

/// On a terminal (a pseudo-terminal made by util-linux `script`) the bar is
/// drawn; with `--json` on the same terminal it is not.
#[test]
fn a_terminal_gets_a_bar_and_json_gets_none() {
    let test = "a_terminal_gets_a_bar_and_json_gets_none";
    if !need_tool(test, "script") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let on_terminal = |dir: &str, json: &str| -> String {
        let command = format!(
            "{BIN} bench populate --data {} --entries 4000 --batch 128 {json}",
            tmp.path().join(dir).display()
        );
        let out = Command::new("script")
            .args(["-q", "-e", "-c", &command, "/dev/null"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{command}: {text}");
        text
    };
    let drawn = on_terminal("plain", "");
    assert!(
        drawn.contains('\x1b') && drawn.contains("entries sealed"),
        "no bar on a terminal: {drawn:?}"
    );
    let json = on_terminal("json", "--json");
    assert!(!json.contains('\x1b'), "a bar with --json: {json:?}");
    assert!(json.contains("\"entries\":4000"), "{json:?}");
}
