//! `sealtrail verify --data DIR` on real stores written by a real
//! `sealtrail serve`, tampered with on disk: bytes of a body, a salt, a
//! header, a leaf hash, a tile node and a checkpoint signature changed;
//! entries deleted, swapped, inserted, appended; the segment truncated. Each
//! case must fail (exit 1) and name the exact entry (or tile node, or
//! checkpoint) and the reason, in `--json` and in the text output.

use std::path::{Path, PathBuf};
use std::process::Command;

use rusqlite::{params, Connection};
use sealtrail_core::checkpoint::SignedCheckpoint;
use sealtrail_core::frontier::Frontier;
use sealtrail_core::hash::{leaf_hash, Hash};
use sealtrail_core::header::commit_body;
use sealtrail_core::heads;
use sealtrail_core::note::NoteSigner;
use sealtrail_testkit::cli::{init, Server};
use serde_json::{json, Value};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

/// Entries in the test log: more than one full tile (256), so that there are
/// tile-level nodes to tamper with.
const N: u64 = 600;

/// A log of `N` events from 3 agents in 5 sessions, with several
/// checkpoints (the last covers everything), cleanly stopped.
fn build_log(dir: &Path) {
    let (key, _) = init(BIN, dir, &[]);
    let mut server = Server::start(BIN, dir, "0.05", &[], None);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (from, to) in [(0, 250), (250, 500), (500, N)] {
        let events: Vec<Value> = (from..to)
            .map(|i| {
                json!({
                    "id": format!("e{i}"),
                    "agent": {"id": format!("agent-{}", i % 3)},
                    "session": format!("session-{}", i % 5),
                    "kind": "tool_call",
                    "tool": {"name": "crm.lookup", "arguments": {"customer": i}},
                    "output": format!("result {i}"),
                })
            })
            .collect();
        rt.block_on(async {
            let r = reqwest::Client::new()
                .post(format!("{}/v1/events?wait=checkpoint", server.url))
                .bearer_auth(&key)
                .json(&events)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        });
    }
    server.terminate_cleanly();
}

/// A pristine log, and fresh copies of it to tamper with.
struct Fixture {
    _tmp: tempfile::TempDir,
    pristine: PathBuf,
    copies: std::cell::Cell<u32>,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let pristine = tmp.path().join("pristine");
        build_log(&pristine);
        let (code, report) = verify(&pristine);
        assert_eq!(code, 0, "{report}");
        assert_eq!(report["entries"], N);
        assert!(report["checkpoints"].as_u64().unwrap() >= 3, "{report}");
        assert_eq!(report["warnings"], json!([]), "{report}");
        Fixture {
            _tmp: tmp,
            pristine,
            copies: std::cell::Cell::new(0),
        }
    }

    fn copy(&self) -> PathBuf {
        let n = self.copies.get() + 1;
        self.copies.set(n);
        let to = self.pristine.with_file_name(format!("copy-{n}"));
        copy_dir(&self.pristine, &to);
        to
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn verify(dir: &Path) -> (i32, Value) {
    let out = Command::new(BIN)
        .args(["verify", "--json", "--data"])
        .arg(dir)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {:?} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), report)
}

fn verify_text(dir: &Path) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(["verify", "--data"])
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `(location, code)` of each problem.
fn problems(report: &Value) -> Vec<(String, String)> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["location"].as_str().unwrap().to_string(),
                p["code"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn p(location: &str, code: &str) -> (String, String) {
    (location.to_string(), code.to_string())
}

/// Problems located at entries, as `(index, code)`.
fn entry_problems(report: &Value) -> Vec<(u64, String)> {
    problems(report)
        .into_iter()
        .filter_map(|(l, c)| Some((l.strip_prefix("entry ")?.parse().ok()?, c)))
        .collect()
}

/// Verifies `dir`, expecting exit 1; the JSON report, checked against the
/// text output (same problems, one `FAIL` line each).
fn verify_fails(dir: &Path, case: &str) -> Value {
    let (code, report) = verify(dir);
    // Shown with --no-capture: what each tamper case reports.
    eprintln!("{case}: {report}");
    assert_eq!(code, 1, "{case}: {report}");
    assert_eq!(report["ok"], false);
    let (tcode, text, _) = verify_text(dir);
    assert_eq!(tcode, 1, "{case}: {text}");
    for (location, _) in problems(&report) {
        assert!(
            text.contains(&format!("FAIL {location}: ")),
            "{case}: {location} missing from\n{text}"
        );
    }
    assert!(
        text.lines().last().unwrap().starts_with("FAILED: "),
        "{text}"
    );
    report
}

fn db(dir: &Path) -> Connection {
    Connection::open(dir.join("log.db")).unwrap()
}

fn segment(dir: &Path) -> PathBuf {
    dir.join("segments").join("00000000.seg")
}

/// `(offset, header length, body length)` of entry `index`'s record.
fn record_at(dir: &Path, index: u64) -> (u64, u64, u64) {
    db(dir)
        .query_row(
            "SELECT off, hlen, blen FROM entries WHERE idx = ?1",
            [index as i64],
            |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                ))
            },
        )
        .unwrap()
}

fn flip_byte(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_clean_store_verifies_and_verify_changes_nothing() {
    let f = Fixture::new();
    let dir = f.copy();
    let (code, text, _) = verify_text(&dir);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.starts_with(&format!("OK: {N} entries ({N} bodies, 0 erased)")),
        "{text}"
    );

    // Bytes past the committed end of the segment are what a crash leaves
    // of an unacknowledged batch: not a problem, and verify (read-only)
    // must leave them for the server to cut, not destroy them itself.
    let seg = segment(&dir);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes.extend_from_slice(b"half a batch that never committed");
    std::fs::write(&seg, &bytes).unwrap();
    let (code, report) = verify(&dir);
    assert_eq!(code, 0, "{report}");
    assert_eq!(std::fs::read(&seg).unwrap(), bytes);

    // While a server has the store open (WAL in use): one consistent
    // read-only snapshot.
    let server = Server::start(BIN, &dir, "0.05", &[], None);
    let (code, report) = verify(&dir);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["entries"], N);
    drop(server);
}

#[test]
fn changed_bytes_are_named() {
    let f = Fixture::new();
    let (off, hlen, blen) = record_at(&f.pristine, 17);

    // A body byte, then a salt byte: only entry 17, its commitment.
    for (what, at) in [
        ("body", off + hlen + 32 + blen / 2),
        ("salt", off + hlen + 5),
    ] {
        let dir = f.copy();
        flip_byte(&segment(&dir), at);
        let report = verify_fails(&dir, what);
        assert_eq!(
            problems(&report),
            [p("entry 17", "body_mismatch")],
            "{what}: {report}"
        );
    }

    // A header byte: entry 17 no longer matches its leaf hash; entry 18's
    // prev, the tile node above it, the head and every checkpoint from
    // then on no longer match either; nothing before 17 is blamed.
    let dir = f.copy();
    flip_byte(&segment(&dir), off + hlen / 2);
    let report = verify_fails(&dir, "header");
    let entries = entry_problems(&report);
    assert_eq!(entries[0], (17, "leaf_mismatch".into()), "{report}");
    assert!(entries.contains(&(18, "prev_mismatch".into())), "{report}");
    assert!(
        entries.iter().all(|(i, _)| *i == 17 || *i == 18),
        "{report}"
    );
    let all = problems(&report);
    assert!(
        all.contains(&p("tile node level 8 index 0", "tile_node_mismatch")),
        "{report}"
    );
    assert!(all.contains(&p("head", "head_root")), "{report}");
    assert!(all
        .iter()
        .any(|(l, c)| l.starts_with("checkpoint ") && c == "checkpoint_root"));

    // A stored leaf hash (a hash of a level-0 tile): only that entry.
    let dir = f.copy();
    db(&dir)
        .execute(
            "UPDATE entries SET leaf = ?1 WHERE idx = 300",
            [vec![7u8; 32]],
        )
        .unwrap();
    let report = verify_fails(&dir, "leaf");
    assert_eq!(
        problems(&report),
        [p("entry 300", "leaf_mismatch")],
        "{report}"
    );

    // A tile node at level 8 (the hash over entries 256..511), as proofs
    // are served from: that node, named with the entries under it.
    let dir = f.copy();
    db(&dir)
        .execute(
            "UPDATE nodes SET hash = ?1 WHERE level = 8 AND idx = 1",
            [vec![9u8; 32]],
        )
        .unwrap();
    let report = verify_fails(&dir, "tile node");
    assert_eq!(
        problems(&report),
        [p("tile node level 8 index 1", "tile_node_mismatch")],
        "{report}"
    );
    assert!(report["problems"][0]["problem"]
        .as_str()
        .unwrap()
        .contains("256..511"));

    // A deleted tile node.
    let dir = f.copy();
    db(&dir)
        .execute("DELETE FROM nodes WHERE level = 8 AND idx = 0", [])
        .unwrap();
    let report = verify_fails(&dir, "tile node deleted");
    assert!(
        problems(&report).contains(&p("tile node level 8 index 0", "tile_node_missing")),
        "{report}"
    );

    // One byte of a checkpoint's signature.
    let dir = f.copy();
    let conn = db(&dir);
    let (size, note): (i64, Vec<u8>) = conn
        .query_row(
            "SELECT size, note FROM checkpoints ORDER BY size LIMIT 1 OFFSET 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let mut note = String::from_utf8(note).unwrap();
    let at = note.trim_end().len() - 10; // inside the base64 signature
    let c = note.as_bytes()[at];
    note.replace_range(at..at + 1, if c == b'A' { "B" } else { "A" });
    conn.execute(
        "UPDATE checkpoints SET note = ?1 WHERE size = ?2",
        params![note.as_bytes(), size],
    )
    .unwrap();
    let report = verify_fails(&dir, "checkpoint signature");
    assert_eq!(
        problems(&report),
        [p(&format!("checkpoint {size}"), "checkpoint_signature")],
        "{report}"
    );

    // A checkpoint re-signed with the log's own key whose stream-heads line
    // lies (a log hiding a stream's later entries from exports): the
    // signature is good, the replayed heads are not.
    let dir = f.copy();
    let conn = db(&dir);
    let (size, note): (i64, Vec<u8>) = conn
        .query_row(
            "SELECT size, note FROM checkpoints ORDER BY size LIMIT 1 OFFSET 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let signer = sealtrail_keys::load_signer(&dir).unwrap();
    let opened = SignedCheckpoint::open(&note, &[&signer.verifier()]).unwrap();
    let mut cp = opened.checkpoint;
    let mut root = heads::root_from_extensions(&cp.extensions).unwrap();
    root.0[7] ^= 0x40;
    cp.extensions = vec![heads::extension_line(&root)];
    let forged = SignedCheckpoint::sign(cp, &[&signer as &dyn NoteSigner]).unwrap();
    conn.execute(
        "UPDATE checkpoints SET note = ?1 WHERE size = ?2",
        params![forged.to_bytes(), size],
    )
    .unwrap();
    let report = verify_fails(&dir, "stream-heads root");
    assert_eq!(
        problems(&report),
        [p(&format!("checkpoint {size}"), "checkpoint_stream_heads")],
        "{report}"
    );
}

#[test]
fn removed_reordered_and_inserted_entries_are_named() {
    let f = Fixture::new();

    // A row deleted from the middle: entry 250 is missing; what follows it
    // no longer chains to it.
    let dir = f.copy();
    db(&dir)
        .execute("DELETE FROM entries WHERE idx = 250", [])
        .unwrap();
    let report = verify_fails(&dir, "deleted row");
    let entries = entry_problems(&report);
    assert_eq!(entries[0], (250, "missing".into()), "{report}");
    assert!(entries.contains(&(251, "prev_mismatch".into())), "{report}");
    assert!(entries.iter().all(|(i, _)| *i >= 250), "{report}");

    // Deleted, and the gap closed by renumbering the later rows.
    let dir = f.copy();
    db(&dir)
        .execute_batch(
            "DELETE FROM entries WHERE idx = 250;
             UPDATE entries SET idx = -(idx - 1) WHERE idx > 250;
             UPDATE entries SET idx = -idx WHERE idx < 0;",
        )
        .unwrap();
    let report = verify_fails(&dir, "deleted and renumbered");
    let entries = entry_problems(&report);
    assert_eq!(entries[0], (250, "index_mismatch".into()), "{report}");
    assert!(report["problems"][0]["problem"]
        .as_str()
        .unwrap()
        .contains("header says index 251 (an entry before it was removed"));
    assert!(entries.contains(&(N - 1, "missing".into())), "{report}");

    // The last rows deleted (the log cut short in the database).
    let dir = f.copy();
    db(&dir)
        .execute("DELETE FROM entries WHERE idx >= 590", [])
        .unwrap();
    let report = verify_fails(&dir, "tail deleted");
    let missing: Vec<u64> = entry_problems(&report)
        .into_iter()
        .filter(|(_, c)| c == "missing")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(missing, (590..N).collect::<Vec<_>>(), "{report}");

    // Two rows swapped (each points at the other's record).
    let dir = f.copy();
    db(&dir)
        .execute_batch(
            "UPDATE entries SET idx = -1 WHERE idx = 100;
             UPDATE entries SET idx = 100 WHERE idx = 101;
             UPDATE entries SET idx = 101 WHERE idx = -1;",
        )
        .unwrap();
    let report = verify_fails(&dir, "rows swapped");
    let entries = entry_problems(&report);
    assert!(
        entries.contains(&(100, "index_mismatch".into())),
        "{report}"
    );
    assert!(
        entries.contains(&(101, "index_mismatch".into())),
        "{report}"
    );
    assert!(
        entries
            .iter()
            .all(|(i, _)| *i == 100 || *i == 101 || *i == 102),
        "{report}"
    );

    // Two records of the same length swapped in the segment file, rows
    // untouched.
    let dir = f.copy();
    let (i, j) = (40..N)
        .flat_map(|i| (i + 1..(i + 20).min(N)).map(move |j| (i, j)))
        .find(|&(i, j)| {
            let (a, b) = (record_at(&dir, i), record_at(&dir, j));
            (a.1, a.2) == (b.1, b.2)
        })
        .expect("two records of the same length");
    let (a, b) = (record_at(&dir, i), record_at(&dir, j));
    let len = (a.1 + 32 + a.2) as usize;
    let mut bytes = std::fs::read(segment(&dir)).unwrap();
    let ra = bytes[a.0 as usize..a.0 as usize + len].to_vec();
    let rb = bytes[b.0 as usize..b.0 as usize + len].to_vec();
    bytes[a.0 as usize..a.0 as usize + len].copy_from_slice(&rb);
    bytes[b.0 as usize..b.0 as usize + len].copy_from_slice(&ra);
    std::fs::write(segment(&dir), bytes).unwrap();
    let report = verify_fails(&dir, "records swapped");
    let entries = entry_problems(&report);
    for (at, says) in [(i, j), (j, i)] {
        assert!(entries.contains(&(at, "leaf_mismatch".into())), "{report}");
        assert!(entries.contains(&(at, "index_mismatch".into())), "{report}");
        assert!(report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["location"] == format!("entry {at}")
                && p["problem"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("header says index {says} "))));
    }

    // A forged entry inserted at 300 (the later rows moved up by one, the
    // forgery's record appended to the segment): the entry it displaced
    // says it was inserted before.
    let dir = f.copy();
    let (header, _, body) = read_record(&dir, 299);
    let forged = forge_after(&dir, 299, &header, &body);
    let conn = db(&dir);
    conn.execute_batch(
        "UPDATE entries SET idx = -(idx + 1) WHERE idx >= 300;
         UPDATE entries SET idx = -idx WHERE idx < 0;",
    )
    .unwrap();
    insert_row_like(&conn, 299, 300, &forged);
    let report = verify_fails(&dir, "inserted");
    let entries = entry_problems(&report);
    assert_eq!(entries[0], (300, "inserted".into()), "{report}");
    assert_eq!(
        report["problems"][0]["problem"],
        "was inserted: entry 301 follows entry 299 directly in the hash chain"
    );
    assert!(
        entries.contains(&(301, "index_mismatch".into())),
        "{report}"
    );
    assert!(report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["location"] == "entry 301"
            && p["problem"]
                .as_str()
                .unwrap()
                .contains("header says index 300 (an entry was inserted before it")));
    assert!(entries.iter().all(|(i, _)| *i >= 300), "{report}");
    assert!(problems(&report)
        .iter()
        .any(|(l, c)| l.starts_with("checkpoint ") && c == "checkpoint_root"));
}

#[test]
fn a_truncated_segment_names_each_lost_entry() {
    let f = Fixture::new();
    let dir = f.copy();
    let (off, hlen, _) = record_at(&dir, 550);
    let seg = segment(&dir);
    let file = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    file.set_len(off + hlen / 2).unwrap();
    drop(file);

    let report = verify_fails(&dir, "truncated");
    let all = problems(&report);
    assert_eq!(
        all[0],
        p("segment 00000000.seg", "segment_truncated"),
        "{report}"
    );
    let entries = entry_problems(&report);
    assert_eq!(entries[0], (550, "record_truncated".into()), "{report}");
    let missing: Vec<u64> = entries[1..]
        .iter()
        .map(|(i, c)| {
            assert_eq!(c, "record_missing", "{report}");
            *i
        })
        .collect();
    assert_eq!(missing, (551..N).collect::<Vec<_>>());
    // The leaf hashes kept in the rows still agree with the tree and the
    // checkpoints: only the records are gone, and only they are blamed.
    assert_eq!(all.len(), 1 + (N - 550) as usize, "{report}");
    let (_, text, _) = verify_text(&dir);
    assert!(
        text.contains("FAIL entry 550: record is cut short: 00000000.seg ends at byte"),
        "{text}"
    );
    assert!(text.contains("FAIL entry 599: record is missing"), "{text}");
}

/// Entry `index`'s record: (header, salt, body).
fn read_record(dir: &Path, index: u64) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (off, hlen, blen) = record_at(dir, index);
    let bytes = std::fs::read(segment(dir)).unwrap();
    let (o, h, b) = (off as usize, hlen as usize, blen as usize);
    (
        bytes[o..o + h].to_vec(),
        bytes[o + h..o + h + 32].to_vec(),
        bytes[o + h + 32..o + h + 32 + b].to_vec(),
    )
}

/// A forged entry the way an attacker with write access but without the
/// log's key would make one: it copies entry `after`'s header, claims the
/// next index, chains to it (prev, stream links) and commits to a new body.
/// Its record is appended to the segment; returns (leaf, offset, header
/// length, body length).
fn forge_after(dir: &Path, after: u64, header: &[u8], body: &[u8]) -> (Hash, u64, u64, u64) {
    let mut h: Value = serde_json::from_slice(header).unwrap();
    h["index"] = json!(after + 1);
    h["prev"] = json!(leaf_hash(header).to_hex());
    h["event_id"] = json!("forged");
    for stream in ["agent", "session"] {
        if h["streams"][stream].is_object() {
            let n = h["streams"][stream]["n"].as_u64().unwrap();
            h["streams"][stream] = json!({"n": n + 1, "prev": after});
        }
    }
    let mut forged_body: Value = serde_json::from_slice(body).unwrap();
    forged_body["id"] = json!("forged");
    forged_body["output"] = json!("approved a refund of 1,000,000");
    let forged_body = sealtrail_core::jcs::to_canonical_vec(&forged_body).unwrap();
    let salt = [42u8; 32];
    h["body"] = json!(commit_body(&salt, &forged_body).to_hex());
    let forged_header = sealtrail_core::jcs::to_canonical_vec(&h).unwrap();
    let seg = segment(dir);
    let mut bytes = std::fs::read(&seg).unwrap();
    let off = bytes.len() as u64;
    bytes.extend_from_slice(&forged_header);
    bytes.extend_from_slice(&salt);
    bytes.extend_from_slice(&forged_body);
    std::fs::write(&seg, &bytes).unwrap();
    (
        leaf_hash(&forged_header),
        off,
        forged_header.len() as u64,
        forged_body.len() as u64,
    )
}

/// Inserts a row at `index` copied from row `like` (whatever the columns
/// are), pointing at the forged record.
fn insert_row_like(conn: &Connection, like: u64, index: u64, forged: &(Hash, u64, u64, u64)) {
    let (leaf, off, hlen, blen) = forged;
    conn.execute_batch(&format!(
        "CREATE TEMP TABLE forged AS SELECT * FROM entries WHERE idx = {like}"
    ))
    .unwrap();
    conn.execute(
        "UPDATE forged SET idx = ?1, leaf = ?2, off = ?3, hlen = ?4, blen = ?5, event_id = 'forged'",
        params![
            index as i64,
            leaf.0.to_vec(),
            *off as i64,
            *hlen as i64,
            *blen as i64
        ],
    )
    .unwrap();
    conn.execute_batch("INSERT INTO entries SELECT * FROM forged; DROP TABLE forged;")
        .unwrap();
}

#[test]
fn forged_entries_appended_after_the_head_are_named() {
    let f = Fixture::new();

    // A row and a record added after the head, the head left alone.
    let dir = f.copy();
    let (header, _, body) = read_record(&dir, N - 1);
    let forged = forge_after(&dir, N - 1, &header, &body);
    insert_row_like(&db(&dir), N - 1, N, &forged);
    let report = verify_fails(&dir, "appended beyond the head");
    assert_eq!(
        problems(&report),
        [p(&format!("entry {N}"), "beyond_head")],
        "{report}"
    );

    // The same, with the head moved over it (size, root, frontier, last
    // leaf, segment length) as the server itself would have: every hash
    // now agrees, but no checkpoint signed by the log's key covers it, and
    // the report says so, naming the entry.
    let dir = f.copy();
    let (header, _, body) = read_record(&dir, N - 1);
    let forged = forge_after(&dir, N - 1, &header, &body);
    let conn = db(&dir);
    insert_row_like(&conn, N - 1, N, &forged);
    let (frontier, segment_len): (Vec<u8>, i64) = conn
        .query_row("SELECT frontier, segment_len FROM head", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let nodes = frontier
        .chunks(32)
        .map(|c| Hash::from_slice(c).unwrap())
        .collect();
    let mut fr = Frontier::from_parts(N, nodes).unwrap();
    fr.append(forged.0);
    let new_frontier: Vec<u8> = fr.nodes().iter().flat_map(|h| h.0).collect();
    conn.execute(
        "UPDATE head SET size = ?1, root = ?2, frontier = ?3, last_leaf = ?4, segment_len = ?5",
        params![
            (N + 1) as i64,
            fr.root().0.to_vec(),
            new_frontier,
            forged.0 .0.to_vec(),
            segment_len + (forged.2 + 32 + forged.3) as i64
        ],
    )
    .unwrap();
    let (code, report) = verify(&dir);
    assert_eq!(code, 0, "no hash is wrong: {report}");
    assert_eq!(report["entries"], N + 1);
    assert_eq!(
        report["warnings"],
        json!([{
            "location": format!("entry {N}"),
            "code": "unsigned",
            "problem": format!("not covered by a signed checkpoint (the largest covers {N} entries): sealed after the last checkpoint (a crash before the next one?) or added without the log's key"),
        }]),
        "{report}"
    );
    let (_, text, _) = verify_text(&dir);
    assert!(
        text.contains(&format!("WARN entry {N}: not covered")),
        "{text}"
    );
}

#[test]
fn verify_exits_2_when_it_cannot_check() {
    let tmp = tempfile::tempdir().unwrap();
    // No data directory at all.
    let (code, text, err) = verify_text(&tmp.path().join("nothing"));
    assert_eq!(code, 2, "{text}");
    assert!(err.contains("cannot read the log key"), "{err}");
    // A key but no store: verify must not create one.
    let dir = tmp.path().join("keyonly");
    init(BIN, &dir, &[]);
    std::fs::remove_file(dir.join("log.db")).unwrap();
    let (code, _, err) = verify_text(&dir);
    assert_eq!(code, 2);
    assert!(err.contains("has no log.db"), "{err}");
    assert!(!dir.join("log.db").exists());
    // A database that is not SQLite.
    std::fs::write(
        dir.join("log.db"),
        b"not a database, just some bytes, long enough",
    )
    .unwrap();
    let (code, _, err) = verify_text(&dir);
    assert_eq!(code, 2);
    assert!(err.contains("cannot check the store"), "{err}");
}
