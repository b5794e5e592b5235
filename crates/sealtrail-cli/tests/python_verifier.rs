//! The independent Python verifier (`verifiers/python/sealtrail_verify.py`,
//! written from docs/formats.md alone, not from this code) against evidence
//! bundles exported by a real `sealtrail serve`:
//!
//! - every bundle (agent, session, range, filtered, header-only, empty,
//!   to-the-head) passes both verifiers, and both count the same entries and
//!   agree on the completeness claim;
//! - each tampering of `verifiers/python/tamper.py` (a byte of a body, a
//!   header, a salt, a proof, the checkpoint signature; a deleted, swapped,
//!   forged or omitted entry; a truncated file) fails both verifiers, and
//!   both name the entry the tampering concerns — in fact the very same set
//!   of entries.
//!
//! Needs `python3` with the `cryptography` package (scripts/setup.sh
//! installs it); `SEALTRAIL_SKIP_PYTHON=1` skips these tests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use sealtrail_testkit::bundle::{verify_json, LogWithBundles};
use sealtrail_testkit::cli::init;
use serde_json::Value;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

/// The ten tamper cases of tamper.py.
const CASES: [&str; 10] = [
    "body",
    "header",
    "salt",
    "proof",
    "checkpoint-sig",
    "delete",
    "swap",
    "truncate",
    "forge",
    "omit",
];

fn verifier_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../verifiers/python")
}

/// False (after [`sealtrail_testkit::skip_or_fail`]) when `SEALTRAIL_SKIP_PYTHON=1`;
/// panics with advice when python3 or its `cryptography` package is missing.
fn python_available(test: &str) -> bool {
    if std::env::var("SEALTRAIL_SKIP_PYTHON").is_ok_and(|v| v == "1") {
        sealtrail_testkit::skip_or_fail(test, "SEALTRAIL_SKIP_PYTHON=1");
        return false;
    }
    let ok = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "python3 with the `cryptography` package is needed for the independent verifier \
         (pip install cryptography, or scripts/setup.sh); SEALTRAIL_SKIP_PYTHON=1 skips this test"
    );
    true
}

/// `python3 sealtrail_verify.py BUNDLE [--vkey VKEY] --json`: exit code and report.
fn py_verify(bundle: &Path, vkey: Option<&str>) -> (i32, Value) {
    let mut cmd = Command::new("python3");
    cmd.arg(verifier_dir().join("sealtrail_verify.py"))
        .arg(bundle)
        .arg("--json");
    if let Some(vkey) = vkey {
        cmd.args(["--vkey", vkey]);
    }
    let out = cmd.output().unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "sealtrail_verify.py --json printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

/// `python3 tamper.py IN OUT CASE`: the entry the tampering concerns (None
/// for the checkpoint).
fn tamper(input: &Path, output: &Path, case: &str) -> Option<u64> {
    let out = Command::new("python3")
        .arg(verifier_dir().join("tamper.py"))
        .arg(input)
        .arg(output)
        .arg(case)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tamper.py {case}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["entry"].as_u64()
}

/// The entries a report's failures name (None: a bundle-level failure).
fn named(report: &Value) -> BTreeSet<Option<u64>> {
    report["failures"]
        .as_array()
        .unwrap_or_else(|| panic!("no failures array: {report}"))
        .iter()
        .map(|f| f["entry"].as_u64())
        .collect()
}

fn show(report: &Value) -> String {
    report["failures"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .map(|f| {
                    format!(
                        "\n  entry {} [{}]: {}",
                        f["entry"], f["member"], f["reason"]
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn real_bundles_pass_both_verifiers() {
    if !python_available("real_bundles_pass_both_verifiers") {
        return;
    }
    let log = LogWithBundles::start(BIN);
    let (t1, t2) = (log.t1.to_string(), log.t2.to_string());
    let far = (log.t2 + 3_600_000_000).to_string();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "agent-range",
            vec!["--agent", "bot", "--from", &t1, "--to", &t2],
        ),
        ("agent-to-head", vec!["--agent", "bot", "--from", &t1]),
        ("agent-all", vec!["--agent", "other"]),
        (
            "agent-filtered",
            vec!["--agent", "third", "--kind", "decision", "--from", &t1],
        ),
        (
            "session",
            vec!["--session", "other-session", "--from", &t1, "--to", &t2],
        ),
        (
            "empty-stream",
            vec!["--agent", "nobody", "--from", &t1, "--to", &t2],
        ),
        ("range", vec!["--from", &t1, "--to", &t2]),
        ("range-open-start", vec!["--to", &t1]),
        ("range-empty-future", vec!["--from", &far]),
        ("whole-log", vec![]),
        ("kind-no-bodies", vec!["--kind", "decision", "--no-bodies"]),
        ("tool", vec!["--tool", "crm.lookup", "--from", &t2]),
    ];
    for (name, args) in &cases {
        let bundle = log.bundle(args, &format!("{name}.zip"));
        let (py_code, py) = py_verify(&bundle, Some(&log.vkey));
        assert_eq!(
            py_code,
            0,
            "{name}: the Python verifier fails a real bundle:{}",
            show(&py)
        );
        assert_eq!(py["ok"], true, "{name}");
        assert_eq!(py["warnings"], serde_json::json!([]), "{name}: {py}");
        let (rs_code, rs) = verify_json(BIN, &bundle, &log.vkey);
        assert_eq!(
            rs_code,
            0,
            "{name}: sealtrail verify fails it:{}",
            show(&rs)
        );
        for k in ["entries", "matches", "bodies", "erased"] {
            assert_eq!(py["counts"][k], rs["counts"][k], "{name}: counts.{k}");
        }
        assert_eq!(
            py["completeness"]["proven"], rs["completeness"]["proven"],
            "{name}: completeness claimed"
        );
        assert_eq!(
            py["completeness"]["verified"], py["completeness"]["proven"],
            "{name}: a claim made must be shown"
        );
        assert_eq!(py["checkpoint"]["size"], rs["checkpoint"]["size"], "{name}");
        assert_eq!(py["checkpoint"]["root"], rs["checkpoint"]["root"], "{name}");
    }

    // Without a trusted key it falls back to keys/log.vkey, and says so.
    let bundle = log.agent_bundle();
    let (code, py) = py_verify(&bundle, None);
    assert_eq!(code, 0);
    assert!(
        py["warnings"][0]
            .as_str()
            .unwrap()
            .contains("keys/log.vkey"),
        "{py}"
    );
    // With another log's key, both refuse the checkpoint.
    let other = tempfile::tempdir().unwrap();
    let (_, other_vkey) = init(BIN, other.path(), &[]);
    let (code, py) = py_verify(&bundle, Some(&other_vkey));
    assert_eq!(code, 1);
    assert!(named(&py).contains(&None), "{py}");
    let (code, _) = verify_json(BIN, &bundle, &other_vkey);
    assert_eq!(code, 1);
}

#[test]
fn tampered_bundles_fail_both_verifiers_naming_the_same_entries() {
    if !python_available("tampered_bundles_fail_both_verifiers_naming_the_same_entries") {
        return;
    }
    let log = LogWithBundles::start(BIN);
    let (t1, t2) = (log.t1.to_string(), log.t2.to_string());
    let bundles = [
        ("agent-range", log.agent_bundle()),
        (
            "agent-to-head",
            log.bundle(&["--agent", "bot", "--from", &t1], "to-head.zip"),
        ),
        (
            "session",
            log.bundle(
                &["--session", "other-session", "--from", &t1, "--to", &t2],
                "session.zip",
            ),
        ),
        (
            "range",
            log.bundle(&["--from", &t1, "--to", &t2], "range.zip"),
        ),
    ];
    for (kind, bundle) in &bundles {
        for case in CASES {
            let bad = log.dir.path().join(format!("{kind}-{case}.zip"));
            let entry = tamper(bundle, &bad, case);
            let (py_code, py) = py_verify(&bad, Some(&log.vkey));
            let (rs_code, rs) = verify_json(BIN, &bad, &log.vkey);
            assert_eq!(py_code, 1, "{kind}/{case}: the Python verifier passes it");
            assert_eq!(rs_code, 1, "{kind}/{case}: sealtrail verify passes it");
            let (py_named, rs_named) = (named(&py), named(&rs));
            assert!(
                py_named.contains(&entry),
                "{kind}/{case}: the Python verifier does not name entry {entry:?}:{}",
                show(&py)
            );
            assert!(
                rs_named.contains(&entry),
                "{kind}/{case}: sealtrail verify does not name entry {entry:?}:{}",
                show(&rs)
            );
            assert_eq!(
                py_named,
                rs_named,
                "{kind}/{case}: the two verifiers name different entries\npython:{}\nrust:{}",
                show(&py),
                show(&rs)
            );
        }
    }
}

/// Both formats, both verifiers: bundles of version 1 (a proof file per
/// entry, what earlier sealtrail wrote) and version 2 from the synthetic log,
/// for each kind of completeness claim, verify with both and count alike.
#[test]
fn version_1_and_2_bundles_pass_both_verifiers() {
    use sealtrail_core::bundle::synthetic::SyntheticLog;
    use sealtrail_core::bundle::zip::write_zip;
    use sealtrail_core::filter::EventFilter;

    if !python_available("version_1_and_2_bundles_pass_both_verifiers") {
        return;
    }
    let mut log = SyntheticLog::new("example.com/formats").unwrap();
    for i in 0..300u64 {
        let agent = ["bot", "other", "third"][(i % 3) as usize];
        let session = if i % 2 == 0 { "s1" } else { "s2" };
        log.append(agent, Some(session), "tool_call", 1000 + 10 * i)
            .unwrap();
    }
    let vkey = log.vkey();
    let dir = tempfile::tempdir().unwrap();
    let queries = [
        EventFilter {
            agent: Some("bot".into()),
            from: Some(1500),
            to: Some(2500),
            ..EventFilter::default()
        },
        EventFilter {
            session: Some("s2".into()),
            ..EventFilter::default()
        },
        EventFilter {
            from: Some(1200),
            to: Some(3000),
            ..EventFilter::default()
        },
        EventFilter {
            kind: Some("tool_call".into()),
            agent: None,
            from: Some(3500),
            ..EventFilter::default()
        },
    ];
    for (q, query) in queries.iter().enumerate() {
        for version in [1u64, 2] {
            let members = if version == 1 {
                log.bundle_v1(query, true).unwrap()
            } else {
                log.bundle(query, true).unwrap()
            };
            let path = dir.path().join(format!("q{q}-v{version}.zip"));
            std::fs::write(&path, write_zip(&members).unwrap()).unwrap();
            let (py_code, py) = py_verify(&path, Some(&vkey));
            assert_eq!(py_code, 0, "query {q}, v{version}: Python:{}", show(&py));
            let (rs_code, rs) = verify_json(BIN, &path, &vkey);
            assert_eq!(rs_code, 0, "query {q}, v{version}: Rust:{}", show(&rs));
            for k in ["entries", "matches", "bodies", "erased"] {
                assert_eq!(
                    py["counts"][k], rs["counts"][k],
                    "query {q}, v{version}: {k}"
                );
            }
            assert_eq!(
                py["completeness"]["proven"], rs["completeness"]["proven"],
                "query {q}, v{version}"
            );
        }
    }
}
