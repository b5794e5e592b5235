//! `sealtrail scan FILE`: findings with paths and reasons, exit status
//! 0 (nothing) / 1 (found) / 2 (error), and a policy preview that never
//! prints the original values.

use std::process::Command;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

fn scan(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).arg("scan").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn scan_reports_findings_redacts_with_a_policy_and_sets_the_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        r#"{"agent":{"id":"a"},"kind":"tool_call","tool":{"name":"pay","arguments":{"card":"4111111111111111","to":"jane.roe@example.org"}}}"#,
    )
    .unwrap();
    let (code, out, _) = scan(&[event.to_str().unwrap(), "--json"]);
    assert_eq!(code, 1, "{out}");
    let findings: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let card = findings
        .iter()
        .find(|f| f["entity"] == "credit_card")
        .expect("card found");
    assert_eq!(card["path"], "$.tool.arguments.card");
    assert!(card["why"].as_str().unwrap().contains("Luhn"));
    assert!(findings.iter().any(|f| f["entity"] == "email"));

    let policy = dir.path().join("policy.json");
    std::fs::write(&policy, r#"{"version":"p/1","default":"mask"}"#).unwrap();
    let (code, out, _) = scan(&[
        event.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        !out.contains("4111111111111111") && !out.contains("jane.roe@example.org"),
        "{out}"
    );
    assert!(out.contains("\"policy_version\":\"p/1\""), "{out}");

    let clean = dir.path().join("clean.jsonl");
    std::fs::write(&clean, "{\"a\":1}\n{\"b\":\"hello\"}\n").unwrap();
    assert_eq!(scan(&[clean.to_str().unwrap()]).0, 0);

    let (code, _, err) = scan(&["/nonexistent/file.json"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read /nonexistent/file.json"), "{err}");
}
