//! The `sealtrail` commands a new user runs, end to end against a real
//! server: init, serve, ingest (with a bad line), proof --verify (and a
//! wrong key), and the messages and exit codes they get.

use std::io::Write;
use std::process::{Command, Stdio};

use sealtrail_testkit::cli::{init, init_json, init_output, Server};
use serde_json::Value;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

#[test]
fn init_ingest_and_verify_a_proof_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let init = init_json(BIN, dir.path(), &["--origin", "example.com/agents"]);
    assert_eq!(init["origin"], "example.com/agents");
    let key = init["owner_api_key"].as_str().unwrap().to_string();
    let vkey = init["vkey"].as_str().unwrap().to_string();
    assert!(key.starts_with("stk_"));
    assert!(vkey.starts_with("example.com/agents+"));
    // The key file is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("log.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // A second init says so and shows no key.
    let again = init_output(BIN, dir.path(), &[]);
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(again["owner_api_key"].is_null());

    let server = Server::start(BIN, dir.path(), "0.1", &[], None);
    let url = server.url.clone();
    let mut ingest = Command::new(BIN)
        .args(["ingest", "-", "--wait-checkpoint", "--server", &url])
        .env("SEALTRAIL_API_KEY", &key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ingest
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"{\"id\":\"e1\",\"agent\":{\"id\":\"bot\"},\"kind\":\"tool_call\",\"tool\":{\"name\":\"crm.lookup\"}}\n\
              {\"agent\":{\"id\":\"bot\"},\"kind\":\"teleport\"}\n\
              {\"id\":\"e2\",\"agent\":{\"id\":\"bot\"},\"kind\":\"decision\"}\n",
        )
        .unwrap();
    let out = ingest.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a rejected line makes the exit status 1"
    );
    assert!(
        stderr.contains("line 2") && stderr.contains("kind"),
        "{stderr}"
    );

    let proof = Command::new(BIN)
        .args(["proof", "1", "--verify", "--server", &url, "--vkey", &vkey])
        .env("SEALTRAIL_API_KEY", &key)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&proof.stdout);
    assert!(
        proof.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&proof.stderr)
    );
    assert!(
        stdout.contains("entry 1 is included") && stdout.contains("OK"),
        "{stdout}"
    );

    // Another log's key must not verify it.
    let other = tempfile::tempdir().unwrap();
    let other_init = init_output(BIN, other.path(), &["--origin", "example.com/agents"]);
    let other_vkey = serde_json::from_slice::<Value>(&other_init.stdout).unwrap()["vkey"]
        .as_str()
        .unwrap()
        .to_string();
    let bad = Command::new(BIN)
        .args([
            "proof",
            "1",
            "--verify",
            "--server",
            &url,
            "--vkey",
            &other_vkey,
        ])
        .env("SEALTRAIL_API_KEY", &key)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&bad.stdout),
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(
        text.to_lowercase().contains("signature") || text.contains("trusted"),
        "{text}"
    );

    // A wrong API key is a clear error.
    let denied = Command::new(BIN)
        .args(["proof", "0", "--server", &url, "--api-key", "stk_wrong"])
        .output()
        .unwrap();
    assert_eq!(denied.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&denied.stderr).contains("unknown API key"));
}

/// Whoever starts the server and waits for its banner may stop it at once:
/// SIGTERM right after "listening on" drains and exits 0 (the handlers used
/// to be installed after the banner, so an early SIGTERM met the default
/// action and the process died with the signal).
#[test]
fn sigterm_at_once_after_the_banner_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    init(BIN, dir.path(), &[]);
    for _ in 0..5 {
        let mut server = Server::start(BIN, dir.path(), "1", &[], None);
        server.terminate_cleanly();
    }
}
