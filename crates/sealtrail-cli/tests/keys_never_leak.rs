//! API keys never appear in the server's logs, its answers, its metrics or
//! its data directory (docs/access.md "What never leaks"): a real
//! `sealtrail serve` at debug log level is driven through every key path —
//! good, wrong, revoked, expired, rate-limited, other-project keys and
//! session tokens — and everything it wrote is searched for each secret.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use sealtrail_testkit::cli::init;
use serde_json::{json, Value};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

/// Every file under `dir`, as bytes.
fn files(dir: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if let Ok(b) = std::fs::read(&p) {
            out.push((p.display().to_string(), b));
        }
    }
}

#[test]
fn secrets_never_reach_logs_answers_metrics_or_storage() {
    let dir = tempfile::tempdir().unwrap();
    let (owner, _) = init(BIN, dir.path(), &[]);
    let log = dir.path().join("server.log");
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--checkpoint-interval",
            "0.2",
            "--log-format",
            "json",
        ])
        .arg("--data")
        .arg(dir.path())
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("server output").unwrap();
        if let Some(u) = line.strip_prefix("sealtrail listening on ") {
            break u.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (secrets, answers) = rt.block_on(async {
        let http = reqwest::Client::new();
        let mut answers = String::new();
        let mut secrets = vec![owner.clone()];
        macro_rules! send {
            ($req:expr) => {{
                let r = $req.send().await.unwrap();
                answers.push_str(&format!("{:?}\n", r.headers()));
                let text = r.text().await.unwrap();
                answers.push_str(&text);
                answers.push('\n');
                serde_json::from_str::<Value>(&text).unwrap_or(Value::Null)
            }};
        }
        let make = |body: Value| {
            let http = http.clone();
            let (url, owner) = (url.clone(), owner.clone());
            async move {
                http.post(format!("{url}/v1/keys")).bearer_auth(&owner).json(&body).send().await.unwrap()
            }
        };
        let mut made = Vec::new();
        for body in [
            json!({"name": "bot", "role": "agent", "agent": "bot-1"}),
            json!({"name": "m", "role": "member"}),
            json!({"name": "a", "role": "auditor", "expires_in": 3600}),
            json!({"name": "slow", "role": "viewer", "rate_limit": {"per_second": 0.1, "burst": 1}}),
        ] {
            let v: Value = make(body).await.json().await.unwrap();
            made.push((v["key"].as_str().unwrap().to_string(), v["info"]["id"].as_str().unwrap().to_string()));
        }
        let (agent, _) = made[0].clone();
        let (member, member_id) = made[1].clone();
        let (auditor, _) = made[2].clone();
        let (slow, _) = made[3].clone();
        secrets.extend([agent.clone(), member.clone(), auditor.clone(), slow.clone()]);
        // The one answer that holds a secret on purpose, so not searched.
        let token: Value = http
            .post(format!("{url}/v1/tokens"))
            .bearer_auth(&agent)
            .json(&json!({"session": "s"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["token"].as_str().unwrap().to_string();
        secrets.push(token.clone());
        let ev = json!([{"agent": {"id": "bot-1"}, "session": "s", "kind": "tool_call"}]);
        for k in [&agent, &token, &member] {
            send!(http.post(format!("{url}/v1/events")).bearer_auth(k).json(&ev));
            send!(http.post(format!("{url}/v1/events")).bearer_auth(k).json(&json!([{"agent": {"id": "other"}, "kind": "custom"}])));
            send!(http.get(format!("{url}/v1/events")).bearer_auth(k));
            send!(http.get(format!("{url}/v1/whoami")).bearer_auth(k).header("Sealtrail-Project", "elsewhere"));
        }
        send!(http.post(format!("{url}/v1/exports")).bearer_auth(&auditor).json(&json!({"agent": "bot-1"})));
        for _ in 0..3 {
            send!(http.get(format!("{url}/v1/whoami")).bearer_auth(&slow));
        }
        // Wrong secrets for real ids, and garbage.
        for k in [&member, &agent] {
            let wrong = format!("{}Q", &k[..k.len() - 1]);
            secrets.push(wrong.clone());
            send!(http.get(format!("{url}/v1/events")).bearer_auth(&wrong));
        }
        let garbage = "stk_0123456789abcdef_this-is-not-a-real-secret-at-all";
        secrets.push(garbage.to_string());
        send!(http.get(format!("{url}/v1/events")).bearer_auth(garbage));
        // Revoked, then used.
        send!(http.delete(format!("{url}/v1/keys/{member_id}")).bearer_auth(&owner));
        send!(http.get(format!("{url}/v1/events")).bearer_auth(&member));
        send!(http.post(format!("{url}/v1/traces")).bearer_auth(&member).header("content-type", "application/json").body("{}"));
        send!(http.get(format!("{url}/v1/keys")).bearer_auth(&owner));
        send!(http.get(format!("{url}/v1/events?agent=sealtrail&include=body&limit=1000")).bearer_auth(&owner));
        let metrics = http.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("sealtrail_"), "{metrics}");
        answers.push_str(&metrics);
        (secrets, answers)
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(
        stderr.contains("DEBUG") || stderr.contains("\"level\""),
        "debug logging was on: {stderr}"
    );
    let mut stored = Vec::new();
    files(dir.path(), &mut stored);
    for secret in &secrets {
        // The whole key, and its secret part alone (after `stk_<id>_`).
        let parts = [secret.as_str(), secret.get(21..).unwrap_or(secret)];
        for needle in parts {
            assert!(!stderr.contains(needle), "a key is in the server's log");
            assert!(
                !answers.contains(needle),
                "a key is in an answer or in /metrics"
            );
            for (path, bytes) in &stored {
                if path.ends_with("server.log") {
                    continue;
                }
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "a key is stored in {path}"
                );
            }
        }
    }
    // The answers did name the keys by id where they had to.
    assert!(answers.contains("has been revoked"), "{answers}");
    assert!(answers.contains("rate_limited"));
}
