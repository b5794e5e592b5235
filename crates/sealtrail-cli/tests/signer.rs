//! Signing keys with the `sealtrail` binary: the reference external signer
//! (`sealtrail signer`), a server that signs through it with no private key
//! anywhere in its data directory (and keeps ingesting when the signer
//! fails), and `sealtrail signing-key rotate|list` on a running server's data
//! directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use sealtrail_core::checkpoint::{Checkpoint, SignedCheckpoint};
use sealtrail_core::hash::sha256;
use sealtrail_core::note::{Ed25519Signer, Ed25519Verifier, Note, NoteVerifier};
use sealtrail_testkit::cli::{init_json, Server};
use serde_json::{json, Value};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

const ORIGIN: &str = "example.com/ext-signed";

fn sealtrail(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(b) = stdin {
        input.write_all(b).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A key file (mode 0600) in `dir`, and its signer.
fn key_file(dir: &Path, seed: u8) -> (PathBuf, Ed25519Signer) {
    let signer = Ed25519Signer::from_seed(ORIGIN, [seed; 32]).unwrap();
    let path = dir.join("signing.key");
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .unwrap();
    writeln!(f, "{}", signer.to_skey()).unwrap();
    (path, signer)
}

fn checkpoint_text(origin: &str) -> String {
    Checkpoint {
        origin: origin.into(),
        size: 3,
        root: sha256(b"root"),
        extensions: vec![],
    }
    .to_text()
}

#[test]
fn the_reference_signer() {
    let keys = tempfile::tempdir().unwrap();
    let (path, signer) = key_file(keys.path(), 1);
    let key = path.to_str().unwrap();

    let out = sealtrail(&["signer", "--key", key, "vkey"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), signer.vkey());

    let text = checkpoint_text(ORIGIN);
    let out = sealtrail(&["signer", "--key", key, "sign"], Some(text.as_bytes()));
    assert!(out.status.success(), "{}", stderr(&out));
    use base64::Engine as _;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(stdout(&out).trim())
        .unwrap();
    assert_eq!(sig.len(), 64);
    assert!(signer.verifier().verify(text.as_bytes(), &sig));

    // It signs checkpoints of its own log only.
    for bad in [checkpoint_text("other.example/log"), "hello\n".to_string()] {
        let out = sealtrail(&["signer", "--key", key, "sign"], Some(bad.as_bytes()));
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            stderr(&out).contains("refusing to sign"),
            "{}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty());
    }
    let out = sealtrail(&["signer", "--key", "/nonexistent", "vkey"], None);
    assert_eq!(out.status.code(), Some(2));
}

async fn ingest(url: &str, key: &str, round: u64, wait: bool) -> Value {
    let events: Vec<Value> = (0..4)
        .map(|i| json!({"id": format!("r{round}-{i}"), "agent": {"id": "bot"}, "kind": "decision"}))
        .collect();
    let q = if wait { "?wait=checkpoint" } else { "" };
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/events{q}"))
        .bearer_auth(key)
        .json(&events)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn checkpoint(url: &str, key: &str) -> Vec<u8> {
    reqwest::Client::new()
        .get(format!("{url}/tlog/checkpoint"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

fn opens_with(note: &[u8], vkey: &str) -> bool {
    let v = Ed25519Verifier::from_vkey(vkey).unwrap();
    SignedCheckpoint::open(note, &[&v as &dyn NoteVerifier]).is_ok()
}

fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_signing_through_an_external_signer() {
    let keys = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (path, signer) = key_file(keys.path(), 2);
    let cmd = format!("'{BIN}' signer --key '{}'", path.display());

    let init = init_json(BIN, data.path(), &["--signer-command", &cmd]);
    assert_eq!(init["origin"], ORIGIN);
    assert_eq!(init["vkey"], signer.vkey());
    let owner = init["owner_api_key"].as_str().unwrap().to_string();

    let log = keys.path().join("serve.log");
    let mut server = Server::start(
        BIN,
        data.path(),
        "0.2",
        &["--signer-command", &cmd],
        Some(log.clone()),
    );
    ingest(&server.url, &owner, 0, true).await;
    let note = checkpoint(&server.url, &owner).await;
    assert!(opens_with(&note, &signer.vkey()));
    assert_eq!(Note::parse(&note).unwrap().signatures().len(), 1);

    let list = sealtrail(
        &[
            "signing-key",
            "list",
            "--json",
            "--data",
            data.path().to_str().unwrap(),
        ],
        None,
    );
    assert!(list.status.success(), "{}", stderr(&list));
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list["keys"][0]["source"], "command");
    assert_eq!(list["keys"][0]["role"], "primary");
    let rotate = sealtrail(
        &[
            "signing-key",
            "rotate",
            "--data",
            data.path().to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(rotate.status.code(), Some(2));
    assert!(
        stderr(&rotate).contains("external signer"),
        "{}",
        stderr(&rotate)
    );
    server.terminate_cleanly();

    // No private key anywhere in the data directory.
    let skey = signer.to_skey();
    let secret = skey.splitn(5, '+').nth(4).unwrap();
    for f in all_files(data.path()) {
        let bytes = std::fs::read(&f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(secret) && !text.contains("PRIVATE+KEY"),
            "{} holds a private key",
            f.display()
        );
    }

    // A signer that fails: events are still accepted, no checkpoint is
    // signed, and the server says why.
    let broken = keys.path().join("broken.sh");
    std::fs::write(
        &broken,
        format!("#!/bin/sh\nif [ \"$1\" = vkey ]; then exec {cmd} vkey; fi\necho 'signer offline' >&2\nexit 1\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).unwrap();
    let broken = broken.display().to_string();
    let mut server = Server::start(
        BIN,
        data.path(),
        "0.2",
        &["--signer-command", &broken],
        Some(log.clone()),
    );
    let before = Checkpoint::parse(
        Note::parse(&checkpoint(&server.url, &owner).await)
            .unwrap()
            .text(),
    )
    .unwrap()
    .size;
    let r = ingest(&server.url, &owner, 1, false).await;
    assert_eq!(r["results"].as_array().unwrap().len(), 4);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let still = checkpoint(&server.url, &owner).await;
    let size = Checkpoint::parse(Note::parse(&still).unwrap().text())
        .unwrap()
        .size;
    assert_eq!(size, before, "no checkpoint without a signature");
    let text = server.stderr();
    assert!(
        text.contains("checkpoint not signed") && text.contains("signer offline"),
        "{text}"
    );
    server.kill();

    // The signer back: the next checkpoint covers everything.
    let server = Server::start(
        BIN,
        data.path(),
        "0.2",
        &["--signer-command", &cmd],
        Some(log),
    );
    ingest(&server.url, &owner, 2, true).await;
    let note = checkpoint(&server.url, &owner).await;
    assert!(opens_with(&note, &signer.vkey()));
    let size = Checkpoint::parse(Note::parse(&note).unwrap().text())
        .unwrap()
        .size;
    assert_eq!(size, before + 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_with_the_cli_while_serving() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap().to_string();
    let init = init_json(BIN, data.path(), &["--origin", ORIGIN]);
    let owner = init["owner_api_key"].as_str().unwrap().to_string();
    let old = init["vkey"].as_str().unwrap().to_string();
    let mut server = Server::start(BIN, data.path(), "0.2", &[], None);
    ingest(&server.url, &owner, 0, true).await;

    let out = sealtrail(
        &[
            "signing-key",
            "rotate",
            "--data",
            &dir,
            "--overlap",
            "1h",
            "--json",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["old_vkey"], old.as_str());
    let new = r["new_vkey"].as_str().unwrap().to_string();
    assert!(new.starts_with(&format!("{ORIGIN}+")));

    ingest(&server.url, &owner, 1, true).await;
    let note = checkpoint(&server.url, &owner).await;
    assert_eq!(Note::parse(&note).unwrap().signatures().len(), 2);
    assert!(opens_with(&note, &old));
    assert!(opens_with(&note, &new));

    let out = sealtrail(&["signing-key", "list", "--data", &dir, "--json"], None);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let roles: Vec<&str> = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, vec!["overlap", "primary"]);
    let text = stdout(&sealtrail(&["signing-key", "list", "--data", &dir], None));
    assert!(
        text.contains("co-signs until") && text.contains(&new),
        "{text}"
    );

    // End the overlap now: the old key stops signing.
    let out = sealtrail(
        &["signing-key", "rotate", "--data", &dir, "--overlap", "0"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let newest = signing_keys_primary(data.path());
    ingest(&server.url, &owner, 2, true).await;
    let note = checkpoint(&server.url, &owner).await;
    assert!(opens_with(&note, &newest));
    assert!(
        opens_with(&note, &old),
        "the first rotation's overlap still runs"
    );
    assert!(!opens_with(&note, &new), "retired by the second rotation");
    server.terminate_cleanly();

    // fsck takes every key of the history.
    let out = sealtrail(&["verify", "--data", &dir], None);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

fn signing_keys_primary(data: &Path) -> String {
    let h: Value =
        serde_json::from_slice(&std::fs::read(data.join("signing-keys.json")).unwrap()).unwrap();
    h["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "primary")
        .unwrap()["vkey"]
        .as_str()
        .unwrap()
        .to_string()
}
