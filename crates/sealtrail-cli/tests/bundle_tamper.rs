//! Tampering with real evidence bundles (exported by a real server, format
//! version 2), byte by byte: a body, a header, a salt, a gap hash of the
//! shared proof, the checkpoint signature; an entry deleted, two swapped,
//! the file truncated or corrupted, a forged entry appended; and the
//! omission test, where one event of the agent is dropped and what an
//! attacker can fix is fixed. `sealtrail verify` must fail (exit 1) and name
//! the right entry wherever the failure concerns one. (Version 1 bundles
//! are tampered with in sealtrail-core's bundle tests.)

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

/// Asserts the shared proof failed as a whole: nothing is proven.
fn assert_shared_proof_fails(report: &Value) {
    let failures = report["failures"].as_array().unwrap();
    assert!(
        failures.iter().any(|f| f["entry"].is_null()
            && f["reason"]
                .as_str()
                .unwrap()
                .contains("no entry of the bundle is proven")),
        "{failures:#?}"
    );
    assert_eq!(report["counts"]["proofs_verified"], 0, "{report:#}");
    assert_eq!(report["completeness"]["proven"], false);
}

/// The index of the `n`-th line with role `role`.
fn nth(lines: &[Value], role: &str, n: usize) -> u64 {
    lines.iter().filter(|l| l["role"] == role).nth(n).unwrap()["index"]
        .as_u64()
        .unwrap()
}

fn edit_line(members: &mut Vec<(String, Vec<u8>)>, index: u64, f: impl FnOnce(&mut Value)) {
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

    // A header byte: the leaf changes and the shared proof no longer gives
    // the checkpoint's root. One proof covers every entry, so it cannot say
    // which leaf changed, and no entry is proven.
    let mut m = honest.clone();
    edit_line(&mut m, m2, |l| {
        let at = l["header"].as_str().unwrap().find("crm.lookup").unwrap();
        flip_char(l, "header", at + 4);
    });
    let report = verify_tampered(&log, &m);
    assert_shared_proof_fails(&report);

    // A gap hash of the shared proof.
    let mut m = honest.clone();
    let with_gaps = lines
        .iter()
        .find(|l| l["gaps"].as_array().is_some_and(|g| !g.is_empty()))
        .expect("an agent's bundle skips other agents' entries")["index"]
        .as_u64()
        .unwrap();
    edit_line(&mut m, with_gaps, |l| {
        let g = l["gaps"][0].as_str().unwrap().to_string();
        let mut b = g.into_bytes();
        b[3] = if b[3] == b'A' { b'B' } else { b'A' };
        l["gaps"][0] = Value::String(String::from_utf8(b).unwrap());
    });
    assert_shared_proof_fails(&verify_tampered(&log, &m));

    // A gap hash dropped from a line: the proof no longer fits there.
    let mut m = honest.clone();
    edit_line(&mut m, with_gaps, |l| {
        l["gaps"].as_array_mut().unwrap().pop();
    });
    assert_names(
        &verify_tampered(&log, &m),
        with_gaps,
        "gap hashes where the entries around them need",
    );

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

    // Delete an entry.
    let mut m = honest.clone();
    let kept: Vec<Value> = lines.iter().filter(|l| l["index"] != m1).cloned().collect();
    set_entry_lines(&mut m, &kept);
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

    // Append a forged entry: a fabricated header at a new index, past the
    // checkpoint's tree.
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
    forged.as_object_mut().unwrap().remove("gaps");
    let mut all = lines.clone();
    all.push(forged);
    set_entry_lines(&mut m, &all);
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
    // Besides the omission, only the shared proof complains (the gap
    // hashes were not rebuilt here; sealtrail-core's bundle tests rebuild
    // them too, and the stream's links still name the dropped entry).
    assert!(
        report["failures"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["entry"] == dropped
                || f["reason"].as_str().unwrap().contains("gap hashes")
                || f["reason"].as_str().unwrap().contains("shared proof")
                || f["reason"]
                    .as_str()
                    .unwrap()
                    .contains("no entry of the bundle is proven")),
        "{report:#}"
    );
}

#[test]
fn truncated_and_corrupted_files() {
    let (log, honest) = honest();
    let path = log.dir.path().join("honest.zip");
    write_zip(&path, &honest);
    let bytes = std::fs::read(&path).unwrap();

    // Truncated in the middle of the entries: the central directory is
    // gone, and so is the manifest, which a writer puts after the entries.
    let entries = honest
        .iter()
        .find(|(n, _)| n == "entries/0.jsonl")
        .expect("entries/0.jsonl");
    let cut = log.dir.path().join("cut.zip");
    let at = bytes.len() / 2;
    std::fs::write(&cut, &bytes[..at]).unwrap();
    let report = verify_file(&log, &cut);
    let failures = report["failures"].as_array().unwrap();
    assert!(
        failures[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not a complete ZIP file"),
        "{failures:#?}"
    );
    assert!(
        failures
            .iter()
            .any(|f| f["member"] == "manifest.json" && f["reason"] == "missing"),
        "{failures:#?}"
    );
    assert_eq!(report["completeness"]["proven"], false);

    // One byte of the entries changed in the file itself (deflated): the
    // member no longer inflates to bytes with its checksum.
    let mut corrupt = bytes.clone();
    let start = bytes
        .windows(entries.0.len())
        .position(|w| w == entries.0.as_bytes())
        .unwrap()
        + entries.0.len()
        + 64;
    corrupt[start] ^= 0x01;
    let bad = log.dir.path().join("corrupt.zip");
    std::fs::write(&bad, &corrupt).unwrap();
    let report = verify_file(&log, &bad);
    assert!(
        report["failures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["member"] == "entries/0.jsonl"),
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

/// Members that inflate past the reader's caps: the checkpoint (16 MiB for
/// every small member) and an entries member (64 MiB), each about 64 KiB of
/// deflated zeros in the file, and an oversized member stored as it is.
/// Each is reported unreadable by size, naming the member and the cap,
/// instead of being inflated whole: a bundle is untrusted input.
#[test]
fn a_member_inflating_past_its_cap_is_refused_by_size() {
    use sealtrail_core::bundle::synthetic::SyntheticLog;
    use sealtrail_core::bundle::CHECKPOINT;
    use sealtrail_core::filter::EventFilter;

    let mut log = SyntheticLog::new("example.com/bomb").unwrap();
    for i in 0..4 {
        log.append("bot", None, "tool_call", 10 + i).unwrap();
    }
    let honest = log.bundle(&EventFilter::default(), true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (member, bytes, cap, stored) in [
        (CHECKPOINT, vec![0u8; (64 << 20) + 1], 16u64 << 20, false),
        (
            "entries/0.jsonl",
            vec![b'0'; (96 << 20) + 1],
            64 << 20,
            false,
        ),
        (
            "completeness.json",
            vec![b' '; (16 << 20) + 1],
            16 << 20,
            true,
        ),
    ] {
        let members: Vec<(String, Vec<u8>)> = honest
            .clone()
            .into_iter()
            .filter(|(name, _)| name != member)
            .chain(std::iter::once((member.to_string(), bytes)))
            .collect();
        let path = dir.path().join("bomb.zip");
        if stored {
            write_zip_stored(&path, &members);
        } else {
            write_zip(&path, &members);
            let size = std::fs::metadata(&path).unwrap().len();
            assert!(size < 1 << 20, "the bomb is small on disk: {size}");
        }
        let (code, report) = verify_json(BIN, &path, &log.vkey());
        assert_eq!(code, 1, "{report:#}");
        let failures = report["failures"].as_array().unwrap();
        let want =
            format!("larger than {cap} bytes decompressed, the most this reader accepts for it");
        assert!(
            failures.iter().any(|f| f["member"] == member
                && f["reason"].as_str().is_some_and(|r| r.contains(&want))),
            "{member}: {failures:#?}"
        );
    }
}

/// Writes members as a ZIP without compression.
fn write_zip_stored(path: &Path, members: &[(String, Vec<u8>)]) {
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let stored = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    for (name, bytes) in members {
        z.start_file(name.as_str(), stored).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
}
