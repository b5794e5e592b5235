//! `sealtrail monitor`: the real binary against real servers. It follows a
//! growing log (tiles and /v1 proofs), alerts on a fork between two copies of
//! one log and on a rollback to an old copy (with evidence both notes of which
//! verify), on a tampered signature, and survives a server that goes away.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sealtrail_core::checkpoint::SignedCheckpoint;
use sealtrail_core::note::{Ed25519Verifier, NoteVerifier};
use sealtrail_testkit::cli::{init, Server};
use serde_json::{json, Value};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

/// Events `agent-{tag}-{n}` for `n` in `range`, sealed and covered by a
/// checkpoint when this returns.
fn ingest(url: &str, key: &str, tag: &str, range: std::ops::Range<u32>) {
    let events: Vec<Value> = range
        .map(|n| json!({"id": format!("{tag}-{n}"), "agent": {"id": format!("agent-{tag}")}, "kind": "decision", "action": format!("step {n}")}))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{url}/v1/events?wait=checkpoint"))
            .bearer_auth(key)
            .json(&events)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    });
}

/// The server's current signed checkpoint.
fn checkpoint(url: &str, key: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{url}/v1/checkpoint"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    })
}

fn monitor_cmd(url: &str, vkey: &str, state: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(["monitor", url, "--vkey", vkey, "--state"])
        .arg(state)
        .args(extra)
        .env_remove("SEALTRAIL_API_KEY");
    c
}

/// `sealtrail monitor --once --json …`: (exit code, the observation, stderr).
fn once(url: &str, vkey: &str, state: &Path, extra: &[&str]) -> (i32, Value, String) {
    let out: Output = monitor_cmd(url, vkey, state, &[&["--once", "--json"], extra].concat())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let line: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout {:?} stderr {stderr}", out.stdout));
    (out.status.code().unwrap(), line, stderr)
}

fn state_checkpoint(state: &Path) -> String {
    let s: Value = serde_json::from_slice(&std::fs::read(state).unwrap()).unwrap();
    s["checkpoint"].as_str().unwrap().to_string()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Evidence files written next to `state`.
fn evidence_files(state: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(state.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".evidence.json"))
        .collect();
    v.sort();
    v
}

/// Opens a signed note with the log's key; (size, base64 root).
fn open_note(note: &str, vkey: &str) -> (u64, String) {
    let v = Ed25519Verifier::from_vkey(vkey).unwrap();
    let c = SignedCheckpoint::open(note.as_bytes(), &[&v as &dyn NoteVerifier])
        .unwrap_or_else(|e| panic!("note does not verify: {e}\n{note}"))
        .checkpoint;
    (c.size, c.root.to_base64())
}

/// A running `sealtrail monitor` (follow mode, `--json`) whose output lines
/// arrive on a channel.
struct Follower {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Follower {
    fn start(url: &str, vkey: &str, state: &Path, extra: &[&str]) -> Follower {
        let mut child = monitor_cmd(
            url,
            vkey,
            state,
            &[&["--json", "--interval", "100ms", "--timeout", "2s"], extra].concat(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("monitor printed non-JSON {line:?}: {e}"));
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        Follower { child, lines }
    }

    /// Observations until one satisfies `until`; all of them, that one last.
    fn until(&self, what: &str, until: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    let done = until(&v);
                    seen.push(v);
                    if done {
                        return seen;
                    }
                }
                Err(_) => panic!("monitor never reported {what}; saw {seen:#?}"),
            }
        }
    }

    /// SIGTERM; the exit code.
    fn stop(mut self) -> i32 {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().unwrap().code().unwrap()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn follows_a_growing_log_across_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let state = dir.path().join("monitor.json");
    let (key, vkey) = init(BIN, &data, &[]);
    let server = Server::start(BIN, &data, "0.1", &["--public-tiles"], None);
    ingest(&server.url, &key, "a", 0..5);

    // No API key: checkpoints and tiles from /tlog, proofs computed from tiles.
    let follower = Follower::start(&server.url, &vkey, &state, &[]);
    let first = follower.until("the first checkpoint", |v| v["status"] != "unreachable");
    assert_eq!(first.last().unwrap()["status"], "trusted", "{first:#?}");
    assert_eq!(first.last().unwrap()["size"], 5);

    // Across the first full tile (256) and into the next one.
    let mut sizes = vec![5u64];
    for (tag, n) in [("b", 300u32), ("c", 7), ("d", 250)] {
        ingest(&server.url, &key, tag, 0..n);
        let want = sizes.last().unwrap() + u64::from(n);
        let seen = follower.until(&format!("size {want}"), |v| v["size"] == want);
        for v in &seen {
            assert!(
                ["unchanged", "advanced"].contains(&v["status"].as_str().unwrap()),
                "{v}"
            );
        }
        assert_eq!(seen.last().unwrap()["status"], "advanced");
        assert_eq!(seen.last().unwrap()["trusted_size"], want);
        sizes.push(want);
    }
    // Nothing went wrong, so SIGTERM ends it with 0.
    assert_eq!(follower.stop(), 0);
    assert_eq!(state_checkpoint(&state), checkpoint(&server.url, &key));

    // With an API key the proofs come from /v1/consistency.
    let (code, line, _) = once(&server.url, &vkey, &state, &["--api-key", &key]);
    assert_eq!((code, &line["status"]), (0, &json!("unchanged")), "{line}");
    ingest(&server.url, &key, "e", 0..3);
    let (code, line, _) = once(&server.url, &vkey, &state, &["--api-key", &key]);
    assert_eq!((code, &line["status"]), (0, &json!("advanced")), "{line}");
    assert_eq!(line["size"], 565);
    assert_eq!(state_checkpoint(&state), checkpoint(&server.url, &key));
    assert!(evidence_files(&state).is_empty());

    // The human output says what happened.
    let out = monitor_cmd(&server.url, &vkey, &state, &["--once"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("OK unchanged: size 565"), "{text}");
}

#[test]
fn fork_between_two_copies_of_one_log_is_alerted_with_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let state = dir.path().join("monitor.json");
    let alert_log = dir.path().join("alerts.log");
    let (key, vkey) = init(BIN, &a, &[]);
    let mut server = Server::start(BIN, &a, "0.1", &[], None);
    ingest(&server.url, &key, "common", 0..20);
    server.terminate_cleanly();
    // Same key, same first 20 entries; from here on they diverge.
    copy_dir(&a, &b);
    let sa = Server::start(BIN, &a, "0.1", &[], None);
    let sb = Server::start(BIN, &b, "0.1", &[], None);
    ingest(&sa.url, &key, "only-in-a", 0..5);
    ingest(&sb.url, &key, "only-in-b", 0..5);

    let (code, line, _) = once(&sa.url, &vkey, &state, &["--api-key", &key]);
    assert_eq!((code, &line["status"]), (0, &json!("trusted")), "{line}");
    let trusted = state_checkpoint(&state);

    let alert_cmd = format!(
        "echo \"$SEALTRAIL_ALERT $SEALTRAIL_ALERT_TRUSTED_SIZE $SEALTRAIL_ALERT_SEEN_SIZE $SEALTRAIL_ALERT_EVIDENCE\" >> {}",
        alert_log.display()
    );
    // Same size, different root.
    let (code, line, stderr) = once(
        &sb.url,
        &vkey,
        &state,
        &["--api-key", &key, "--alert-command", &alert_cmd],
    );
    assert_eq!(code, 1, "{line} {stderr}");
    assert_eq!(line["status"], "fork");
    assert_eq!(
        (&line["size"], &line["trusted_size"]),
        (&json!(25), &json!(25))
    );
    assert_ne!(line["root"], line["trusted_root"]);
    eprintln!("{stderr}"); // shown with --no-capture: the alert as printed
    assert!(stderr.contains("!!! FORK"), "{stderr}");
    assert!(stderr.contains("same size 25"), "{stderr}");
    // The bad checkpoint is not trusted.
    assert_eq!(state_checkpoint(&state), trusted);

    // A larger tree whose consistency proof from the trusted one fails;
    // without an API key (tiles) too.
    drop(sb);
    let mut sb = Server::start(BIN, &b, "0.1", &["--public-tiles"], None);
    ingest(&sb.url, &key, "only-in-b", 5..12);
    let (code, line, stderr) = once(&sb.url, &vkey, &state, &["--alert-command", &alert_cmd]);
    assert_eq!(code, 1, "{line} {stderr}");
    assert_eq!(line["status"], "fork");
    assert_eq!(
        (&line["size"], &line["trusted_size"]),
        (&json!(32), &json!(25))
    );
    assert!(
        line["message"]
            .as_str()
            .unwrap()
            .contains("does not extend the trusted one"),
        "{line}"
    );
    assert_eq!(state_checkpoint(&state), trusted);
    sb.terminate_cleanly();

    // Two evidence files, each with two notes that verify with the log's
    // key and do not agree.
    let files = evidence_files(&state);
    assert_eq!(files.len(), 2, "{files:?}");
    let mut kinds = Vec::new();
    for f in &files {
        let e: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        assert_eq!(e["kind"], "fork");
        assert_eq!(e["vkey"], vkey.as_str());
        let (ts, tr) = open_note(e["trusted"]["note"].as_str().unwrap(), &vkey);
        let (cs, cr) = open_note(e["conflicting"]["note"].as_str().unwrap(), &vkey);
        assert_eq!(e["trusted"]["note"], trusted.as_str());
        assert_eq!(
            (ts, &tr),
            (25, &e["trusted"]["root"].as_str().unwrap().to_string())
        );
        assert_eq!(e["conflicting"]["size"], cs);
        assert_ne!(tr, cr);
        kinds.push((cs, e["consistency_proof"].is_null()));
    }
    kinds.sort();
    assert_eq!(kinds, [(25, true), (32, false)]);

    // The alert command ran once per alert, with the details.
    let alerts = std::fs::read_to_string(&alert_log).unwrap();
    let lines: Vec<&str> = alerts.lines().collect();
    assert_eq!(lines.len(), 2, "{alerts}");
    assert!(lines[0].starts_with("FORK 25 25 "), "{alerts}");
    assert!(lines[1].starts_with("FORK 25 32 "), "{alerts}");
    assert!(lines[1].ends_with(".evidence.json"), "{alerts}");

    // The honest server still checks out against the trusted checkpoint.
    let (code, line, _) = once(&sa.url, &vkey, &state, &["--api-key", &key]);
    assert_eq!((code, &line["status"]), (0, &json!("unchanged")), "{line}");
}

#[test]
fn rollback_to_an_old_copy_is_alerted() {
    let dir = tempfile::tempdir().unwrap();
    let (live, old) = (dir.path().join("live"), dir.path().join("old"));
    let state = dir.path().join("monitor.json");
    let (key, vkey) = init(BIN, &live, &[]);
    let mut server = Server::start(BIN, &live, "0.1", &[], None);
    ingest(&server.url, &key, "x", 0..10);
    server.terminate_cleanly();
    copy_dir(&live, &old);

    let mut server = Server::start(BIN, &live, "0.1", &[], None);
    ingest(&server.url, &key, "x", 10..30);
    let (code, line, _) = once(&server.url, &vkey, &state, &["--api-key", &key]);
    assert_eq!((code, &line["status"]), (0, &json!("trusted")), "{line}");
    assert_eq!(line["size"], 30);
    server.terminate_cleanly();
    let trusted = state_checkpoint(&state);

    // The old copy is served in its place.
    let stale = Server::start(BIN, &old, "0.1", &[], None);
    let (code, line, stderr) = once(&stale.url, &vkey, &state, &["--api-key", &key]);
    assert_eq!(code, 1, "{line} {stderr}");
    assert_eq!(line["status"], "rollback");
    assert_eq!(
        (&line["size"], &line["trusted_size"]),
        (&json!(10), &json!(30))
    );
    assert!(stderr.contains("!!! ROLLBACK"), "{stderr}");
    assert!(stderr.contains("entries 10..30"), "{stderr}");
    assert_eq!(state_checkpoint(&state), trusted);

    let files = evidence_files(&state);
    assert_eq!(files.len(), 1);
    let e: Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert_eq!(e["kind"], "rollback");
    assert_eq!(
        open_note(e["trusted"]["note"].as_str().unwrap(), &vkey).0,
        30
    );
    assert_eq!(
        open_note(e["conflicting"]["note"].as_str().unwrap(), &vkey).0,
        10
    );

    // Following, the same rollback is reported on every check but alerted
    // (evidence, command) once.
    let follower = Follower::start(&stale.url, &vkey, &state, &["--api-key", &key]);
    let seen = follower.until("three rollbacks", |v| v["repeat"] == true);
    assert_eq!(seen[0]["status"], "rollback");
    assert_eq!(seen[0]["repeat"], false);
    assert_eq!(follower.stop(), 1, "an alert was raised during the run");
    assert_eq!(evidence_files(&state).len(), 2);
    assert_eq!(state_checkpoint(&state), trusted);
}

/// Answers every request with `body` (HTTP/1.1, 200), until the test ends.
fn fake_server(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let mut got = Vec::new();
            // Read the request head, then answer.
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn tampered_or_foreign_signature_is_alerted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let state = dir.path().join("monitor.json");
    let (key, vkey) = init(BIN, &data, &[]);
    let server = Server::start(BIN, &data, "0.1", &[], None);
    ingest(&server.url, &key, "s", 0..4);
    let real = checkpoint(&server.url, &key);
    // Tiles that are not public need the API key: said so, nothing trusted.
    let (code, line, _) = once(&server.url, &vkey, &state, &[]);
    assert_eq!((code, &line["status"]), (3, &json!("error")), "{line}");
    assert!(
        line["message"].as_str().unwrap().contains("pass --api-key"),
        "{line}"
    );
    assert!(!state.exists());
    let (code, _, _) = once(&server.url, &vkey, &state, &["--api-key", &key]);
    assert_eq!(code, 0);

    // One bit of the signature changed.
    let sig_line = real.lines().last().unwrap();
    let (head, sig) = sig_line.rsplit_once(' ').unwrap();
    let mut sig = sig.as_bytes().to_vec();
    sig[20] = if sig[20] == b'A' { b'B' } else { b'A' };
    let tampered = real.replace(
        sig_line,
        &format!("{head} {}", String::from_utf8(sig).unwrap()),
    );
    assert_ne!(tampered, real);
    // The checkpoint text changed (a different root under the old signature).
    let lines: Vec<&str> = real.lines().collect();
    let other_root = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let forged_root = real.replace(lines[2], other_root);
    // A checkpoint of another log (another key).
    let other = dir.path().join("other");
    let (okey, _) = init(BIN, &other, &[]);
    let oserver = Server::start(BIN, &other, "0.1", &[], None);
    ingest(&oserver.url, &okey, "o", 0..4);
    let foreign = checkpoint(&oserver.url, &okey);

    for (what, note) in [
        ("tampered signature", tampered),
        ("changed root", forged_root),
        ("another log's key", foreign),
        ("not a note", "<html>maintenance</html>\n".to_string()),
    ] {
        let url = fake_server(note);
        let (code, line, stderr) = once(&url, &vkey, &state, &[]);
        assert_eq!(code, 1, "{what}: {line} {stderr}");
        assert_eq!(line["status"], "bad_signature", "{what}: {line}");
        assert!(stderr.contains("!!! BAD SIGNATURE"), "{what}: {stderr}");
        assert_eq!(state_checkpoint(&state), real, "{what}");
    }
    // A bad signature proves nothing about the log's key: no evidence file.
    assert!(evidence_files(&state).is_empty());
}

#[test]
fn a_state_file_of_another_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("monitor.json");
    let (key, vkey) = init(BIN, &dir.path().join("one"), &[]);
    let (_, other_vkey) = init(BIN, &dir.path().join("two"), &[]);
    let server = Server::start(BIN, &dir.path().join("one"), "0.1", &[], None);
    ingest(&server.url, &key, "s", 0..2);
    let (code, _, _) = once(&server.url, &vkey, &state, &["--api-key", &key]);
    assert_eq!(code, 0);
    let out = monitor_cmd(
        &server.url,
        &other_vkey,
        &state,
        &["--once", "--api-key", &key],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("belongs to another log"), "{stderr}");
    // A state file someone edited no longer verifies.
    let edited = std::fs::read_to_string(&state)
        .unwrap()
        .replace("\\n2\\n", "\\n3\\n");
    std::fs::write(&state, edited).unwrap();
    let out = monitor_cmd(&server.url, &vkey, &state, &["--once", "--api-key", &key])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not verify"), "{stderr}");
}

/// `sealtrail serve` on a fixed address (for a server that comes back).
fn serve_at(data: &Path, addr: &str) -> Server {
    let mut child = Command::new(BIN)
        .args(["serve", "--checkpoint-interval", "0.1", "--listen", addr])
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("serve exited").unwrap();
        if let Some(u) = line.strip_prefix("sealtrail listening on ") {
            break u.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        url,
        log: None,
    }
}

#[test]
fn an_unreachable_server_is_reported_and_followed_again_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let state = dir.path().join("monitor.json");
    let (key, vkey) = init(BIN, &data, &[]);
    // A free port, with nothing listening on it yet.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let url = format!("http://{addr}");

    let (code, line, _) = once(&url, &vkey, &state, &["--api-key", &key]);
    assert_eq!(
        (code, &line["status"]),
        (3, &json!("unreachable")),
        "{line}"
    );
    assert!(!state.exists());

    let follower = Follower::start(&url, &vkey, &state, &["--api-key", &key]);
    follower.until("unreachable", |v| v["status"] == "unreachable");
    let mut server = serve_at(&data, &addr);
    ingest(&server.url, &key, "u", 0..6);
    follower.until("the first checkpoint", |v| v["size"] == 6);
    server.terminate_cleanly();
    follower.until("unreachable again", |v| v["status"] == "unreachable");
    let server = serve_at(&data, &addr);
    ingest(&server.url, &key, "u", 6..9);
    let seen = follower.until("size 9", |v| v["size"] == 9);
    assert_eq!(seen.last().unwrap()["status"], "advanced");
    assert!(seen.iter().all(|v| v["status"] != "fork"), "{seen:#?}");
    assert_eq!(follower.stop(), 0);
    assert_eq!(state_checkpoint(&state), checkpoint(&server.url, &key));
}
