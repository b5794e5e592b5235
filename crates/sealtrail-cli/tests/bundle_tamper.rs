//! Tampering with real evidence bundles (exported by a real server), byte by
//! byte: a body, a header, a salt, a proof, the checkpoint signature; an
//! entry deleted, two swapped, the file truncated or corrupted, a forged
//! entry appended; and the omission test, where one event of the agent is
//! dropped and everything an attacker can fix is fixed. `sealtrail verify`
//! must fail (exit 1) and name the right entry every time.

use std::path::Path;

use sealtrail_testkit::bundle::{
    entry_lines, member_mut, read_zip, set_entry_lines, verify_json, write_zip, LogWithBundles,
};

use sealtrail_testkit::cli::init;
use serde_json::Value;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

/// The agent bundle's members, and the log (kept running for its vkey).
fn honest() -> (LogWithBundles, Vec<(String, Vec<u8>)>) {
    let log = LogWithBundles::start(BIN);
    let path = log.agent_bundle();
    let (code, report) = verify_json(BIN, &path, &log.vkey);
    assert_eq!(code, 0, "the honest bundle must verify: {report:#}");
    assert_eq!(report["completeness"]["proven"], true, "{report:#}");
    (log, read_zip(&path))
}

/// Writes `members` as a bundle and verifies it: the report, after
/// checking it failed with exit status 1.
fn verify_tampered(log: &LogWithBundles, members: &[(String, Vec<u8>)]) -> Value {
    let path = log.dir.path().join("tampered.zip");
    write_zip(&path, members);
    verify_file(log, &path)
}

fn verify_file(log: &LogWithBundles, path: &Path) -> Value {
    let (code, report) = verify_json(BIN, path, &log.vkey);
    assert_eq!(code, 1, "tampering must fail verification: {report:#}");
    assert_eq!(report["ok"], false);
    report
}

/// Asserts a failure names `entry` with a reason containing `what`.
fn assert_names(report: &Value, entry: u64, what: &str) {
    let failures = report["failures"].as_array().unwrap();
    assert!(
        failures
            .iter()
            .any(|f| f["entry"] == entry && f["reason"].as_str().unwrap().contains(what)),
        "expected a failure of entry {entry} containing {what:?}: {failures:#?}"
    );
}

/// The index of the `n`-th line with role `role`.
fn nth(lines: &[Value], role: &str, n: usize) -> u64 {
    lines.iter().filter(|l| l["role"] == role).nth(n).unwrap()["index"]
        .as_u64()
        .unwrap()
}

fn edit_line(members: &mut [(String, Vec<u8>)], index: u64, f: impl FnOnce(&mut Value)) {
    let mut lines = entry_lines(members);
    let line = lines.iter_mut().find(|l| l["index"] == index).unwrap();
    f(line);
    set_entry_lines(members, &lines);
}

/// Changes one character of a JSON string field of a line.
fn flip_char(v: &mut Value, field: &str, at: usize) {
    let s = v[field].as_str().unwrap().to_string();
    let mut b = s.into_bytes();
    b[at] = if b[at] == b'a' { b'b' } else { b'a' };
    v[field] = Value::String(String::from_utf8(b).unwrap());
}

#[test]
fn one_byte_of_a_body_header_salt_proof_or_signature() {
    let (log, honest) = honest();
    let lines = entry_lines(&honest);
    let m1 = nth(&lines, "match", 1);
    let m2 = nth(&lines, "match", 2);

    let mut m = honest.clone();
    edit_line(&mut m, m1, |l| {
        let at = l["body"].as_str().unwrap().find("result").unwrap();
        flip_char(l, "body", at);
    });
    assert_names(
        &verify_tampered(&log, &m),
        m1,
        "body does not match the header's commitment",
    );

    let mut m = honest.clone();
    edit_line(&mut m, m1, |l| flip_char(l, "salt", 10));
    assert_names(
        &verify_tampered(&log, &m),
        m1,
        "body does not match the header's commitment",
    );

    let mut m = honest.clone();
    edit_line(&mut m, m2, |l| {
        let at = l["header"].as_str().unwrap().find("crm.lookup").unwrap();
        flip_char(l, "header", at + 4);
    });
    assert_names(
        &verify_tampered(&log, &m),
        m2,
        "do not lead to the checkpoint's root",
    );

    let mut m = honest.clone();
    let proof = member_mut(&mut m, &format!("proofs/{m2}.tlog-proof"));
    // The third line is the first path hash.
    let at = proof
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .nth(1)
        .unwrap()
        .0
        + 5;
    proof[at] = if proof[at] == b'A' { b'B' } else { b'A' };
    assert_names(&verify_tampered(&log, &m), m2, "proof");

    let mut m = honest.clone();
    let cp = member_mut(&mut m, "checkpoint");
    let at = cp.len() - 10;
    cp[at] = if cp[at] == b'A' { b'B' } else { b'A' };
    let report = verify_tampered(&log, &m);
    let failures = report["failures"].as_array().unwrap();
    assert!(
        failures.iter().any(|f| f["member"] == "checkpoint"
            && f["entry"].is_null()
            && f["reason"].as_str().unwrap().contains("signature")),
        "{failures:#?}"
    );
    assert_eq!(report["completeness"]["proven"], false);
}

#[test]
fn deleted_swapped_and_forged_entries() {
    let (log, honest) = honest();
    let lines = entry_lines(&honest);
    let m1 = nth(&lines, "match", 1);
    let m2 = nth(&lines, "match", 2);

    // Delete an entry: its line and its proof.
    let mut m = honest.clone();
    let kept: Vec<Value> = lines.iter().filter(|l| l["index"] != m1).cloned().collect();
    set_entry_lines(&mut m, &kept);
    m.retain(|(n, _)| n != &format!("proofs/{m1}.tlog-proof"));
    let report = verify_tampered(&log, &m);
    assert_names(
        &report,
        m1,
        "which is not in the bundle (an entry was left out)",
    );

    // Swap two entries.
    let mut m = honest.clone();
    let mut swapped = lines.clone();
    let (i, j) = (
        lines.iter().position(|l| l["index"] == m1).unwrap(),
        lines.iter().position(|l| l["index"] == m2).unwrap(),
    );
    swapped.swap(i, j);
    set_entry_lines(&mut m, &swapped);
    assert_names(
        &verify_tampered(&log, &m),
        m1,
        &format!("comes after entry {m2}"),
    );

    // Append a forged entry: a fabricated header at a new index, with a
    // made-up proof (another entry's path under the new index).
    let mut m = honest.clone();
    let mut forged = lines.iter().find(|l| l["index"] == m2).unwrap().clone();
    let size = report["checkpoint"]["size"].as_u64().unwrap();
    let fake = size + 3;
    let header = forged["header"]
        .as_str()
        .unwrap()
        .replace(&format!("\"index\":{m2}"), &format!("\"index\":{fake}"));
    forged["header"] = Value::String(header);
    forged["index"] = fake.into();
    let mut all = lines.clone();
    all.push(forged);
    set_entry_lines(&mut m, &all);
    let proof = String::from_utf8(
        m.iter()
            .find(|(n, _)| n == &format!("proofs/{m2}.tlog-proof"))
            .unwrap()
            .1
            .clone(),
    )
    .unwrap()
    .replacen(&format!("index {m2}\n"), &format!("index {fake}\n"), 1);
    m.push((format!("proofs/{fake}.tlog-proof"), proof.into_bytes()));
    assert_names(
        &verify_tampered(&log, &m),
        fake,
        "not in the checkpoint's tree",
    );
}

#[test]
fn omission_with_everything_an_attacker_can_fix_fixed() {
    let (log, honest) = honest();
    let lines = entry_lines(&honest);
    let dropped = nth(&lines, "match", 1);
    let mut m = honest.clone();
    let kept: Vec<Value> = lines
        .iter()
        .filter(|l| l["index"] != dropped)
        .cloned()
        .collect();
    set_entry_lines(&mut m, &kept);
    m.retain(|(n, _)| n != &format!("proofs/{dropped}.tlog-proof"));
    // The manifest's counts (and README) say what the attacker wants.
    let manifest = member_mut(&mut m, "manifest.json");
    let mut v: Value = serde_json::from_slice(manifest).unwrap();
    for k in ["entries", "matches", "bodies"] {
        v["counts"][k] = (v["counts"][k].as_u64().unwrap() - 1).into();
    }
    *manifest = serde_json::to_vec_pretty(&v).unwrap();
    let readme = member_mut(&mut m, "README.md");
    *readme = b"# evidence\n".to_vec();
    let report = verify_tampered(&log, &m);
    assert_names(
        &report,
        dropped,
        "which is not in the bundle (an entry was left out)",
    );
    assert_eq!(report["completeness"]["proven"], false);
    // Only the omission is reported: the counts were fixed.
    assert!(
        report["failures"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["entry"] == dropped),
        "{report:#}"
    );
}

#[test]
fn truncated_and_corrupted_files() {
    let (log, honest) = honest();
    let path = log.dir.path().join("honest.zip");
    write_zip(&path, &honest);
    let bytes = std::fs::read(&path).unwrap();

    // Truncated in the middle of the second last proof: the central
    // directory is gone, the last proof too, and the one before is cut.
    let proofs: Vec<&(String, Vec<u8>)> = honest
        .iter()
        .filter(|(n, _)| n.starts_with("proofs/"))
        .collect();
    let index_of = |name: &str| -> u64 {
        name["proofs/".len()..name.len() - ".tlog-proof".len()]
            .parse()
            .unwrap()
    };
    let (cut_member, lost_member) = (proofs[proofs.len() - 2], proofs[proofs.len() - 1]);
    let at = bytes
        .windows(cut_member.1.len())
        .position(|w| w == cut_member.1.as_slice())
        .unwrap();
    let cut = log.dir.path().join("cut.zip");
    std::fs::write(&cut, &bytes[..at + cut_member.1.len() / 2]).unwrap();
    let report = verify_file(&log, &cut);
    let failures = report["failures"].as_array().unwrap();
    assert!(
        failures[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not a complete ZIP file"),
        "{failures:#?}"
    );
    assert_names(&report, index_of(&cut_member.0), "cannot be read");
    assert_names(&report, index_of(&lost_member.0), "is missing");
    assert_eq!(report["completeness"]["proven"], false);

    // One byte of a stored proof changed in the file itself: its checksum
    // no longer matches, and the entry is named.
    let target = honest
        .iter()
        .find(|(n, _)| n.starts_with("proofs/"))
        .unwrap();
    let index: u64 = target.0["proofs/".len()..target.0.len() - ".tlog-proof".len()]
        .parse()
        .unwrap();
    let needle = &target.1[30..60];
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    let mut corrupt = bytes.clone();
    corrupt[at] ^= 0x01;
    let bad = log.dir.path().join("corrupt.zip");
    std::fs::write(&bad, &corrupt).unwrap();
    let report = verify_file(&log, &bad);
    assert!(
        report["failures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["entry"] == index),
        "{report:#}"
    );
}

#[test]
fn human_output_and_exit_codes() {
    let log = LogWithBundles::start(BIN);
    let path = log.agent_bundle();
    let out = std::process::Command::new(BIN)
        .arg("verify")
        .arg(&path)
        .args(["--vkey", &log.vkey])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("signature verified"), "{text}");
    assert!(text.contains("Query: agent=bot"), "{text}");
    assert!(text.contains("Completeness: PROVEN (a:bot)"), "{text}");
    assert!(text.contains("PASS"), "{text}");

    // Without a trusted key: a loud warning, still checked.
    let out = std::process::Command::new(BIN)
        .arg("verify")
        .arg(&path)
        .env_remove("SEALTRAIL_VKEY")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARNING: no trusted key"));

    // Another log's key: the signature does not verify.
    let other = tempfile::tempdir().unwrap();
    let (_, other_vkey) = init(BIN, other.path(), &[]);
    let (code, report) = verify_json(BIN, &path, &other_vkey);
    assert_eq!(code, 1, "{report:#}");

    // Unreadable input: exit 2.
    let out = std::process::Command::new(BIN)
        .args(["verify", "/nonexistent/evidence.zip", "--vkey", &log.vkey])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A member that inflates past the reader's cap (here the checkpoint, 64 MiB
/// and one byte of deflated zeros, about 64 KiB in the file) is reported
/// unreadable by size instead of being inflated whole: a bundle is
/// untrusted input and `sealtrail verify` used to read every member to its
/// end, however large.
#[test]
fn a_member_inflating_past_its_cap_is_refused_by_size() {
    use sealtrail_core::bundle::synthetic::SyntheticLog;
    use sealtrail_core::bundle::CHECKPOINT;
    use sealtrail_core::filter::EventFilter;

    let mut log = SyntheticLog::new("example.com/bomb").unwrap();
    for i in 0..4 {
        log.append("bot", None, "tool_call", 10 + i).unwrap();
    }
    let members: Vec<(String, Vec<u8>)> = log
        .bundle(&EventFilter::default(), true)
        .unwrap()
        .into_iter()
        .map(|(name, bytes)| {
            if name == CHECKPOINT {
                (name, vec![0u8; (64 << 20) + 1])
            } else {
                (name, bytes)
            }
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.zip");
    write_zip(&path, &members);
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size < 1 << 20, "the bomb is small on disk: {size}");
    let (code, report) = verify_json(BIN, &path, &log.vkey());
    assert_eq!(code, 1, "{report:#}");
    let failures = report["failures"].as_array().unwrap();
    assert!(
        failures.iter().any(|f| f["member"] == CHECKPOINT
            && f["reason"]
                .as_str()
                .is_some_and(|r| r.contains("larger than 67108864 bytes"))),
        "{failures:#?}"
    );
}
