//! Sensitive data at ingest (docs/pii.md): detected data classes land in the
//! sealed header, the redaction policy rewrites the body before it is
//! committed (the original never reaches the disk), the header names the
//! policy version, and a policy file and `--no-pii-scan` are honoured.

mod common;

use std::path::Path;

use common::TestServer;
use serde_json::json;

const CARD: &str = "4111 1111 1111 1111";
const SECRET: &str = "sk-ant-api03-Zq8vN3kR7tW2yB5mL9pX4cJ6hF1dG0sA";
const EMAIL: &str = "jane.roe@example.org";

fn sensitive_event(id: &str) -> serde_json::Value {
    json!({
        "id": id,
        "agent": {"id": "billing-bot"},
        "kind": "tool_call",
        "data_classes": ["customer"],
        "tool": {"name": "payments.charge",
                 "arguments": {"card": CARD, "receipt_to": EMAIL},
                 "result": {"debug": format!("used api_key={SECRET}")}},
        "outcome": "success",
    })
}

/// Every byte the store holds for the log (database and segments).
fn store_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                all.extend(std::fs::read(&p).unwrap());
            }
        }
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standard_policy_redacts_before_anything_is_stored() {
    let mut s = TestServer::start().await;
    let (status, answer) = s.ingest(json!([sensitive_event("e-1")])).await;
    assert_eq!(status, 200, "{answer}");
    let entry = s.get_json("/v1/entries/0").await;
    let header = &entry["header"];
    let classes: Vec<&str> = header["data_classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for c in ["credential", "customer", "pci", "pii"] {
        assert!(classes.contains(&c), "{c} missing from {classes:?}");
    }
    assert_eq!(header["redacted"], "sealtrail-standard/1");
    let body = entry["body"].to_string();
    for secret in [CARD, SECRET, EMAIL] {
        assert!(!body.contains(secret), "{secret} stored in {body}");
    }
    // The e-mail is hashed with the data directory's key: still joinable.
    assert!(body.contains("[hash:"), "{body}");
    // The header commits to the redacted body.
    let salt = hex::decode(entry["salt"].as_str().unwrap()).unwrap();
    let stored = sealtrail_core::jcs::to_canonical_vec(&entry["body"]).unwrap();
    let commitment = sealtrail_core::header::commit_body(&salt.try_into().unwrap(), &stored);
    assert_eq!(header["body"], commitment.to_hex());

    s.stop().await;
    let disk = store_bytes(s.dir.path());
    for secret in [CARD, SECRET, EMAIL] {
        assert!(!contains(&disk, secret), "{secret} is on disk");
    }
    assert!(contains(&disk, "payments.charge"), "the store was read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_file_and_turning_scanning_off_are_honoured() {
    // A policy that keeps e-mail addresses and masks everything else.
    let policy_dir = tempfile::tempdir().unwrap();
    let policy = policy_dir.path().join("policy.json");
    std::fs::write(
        &policy,
        r#"{"version": "acme/7", "default": "mask", "entities": {"email": "keep"}}"#,
    )
    .unwrap();
    let mut s = TestServer::start_with(|o| o.pii.policy = Some(policy.clone())).await;
    let (status, answer) = s.ingest(json!([sensitive_event("e-2")])).await;
    assert_eq!(status, 200, "{answer}");
    let entry = s.get_json("/v1/entries/0").await;
    assert_eq!(entry["header"]["redacted"], "acme/7");
    let body = entry["body"].to_string();
    assert!(body.contains(EMAIL), "{body}");
    assert!(!body.contains(CARD) && !body.contains(SECRET), "{body}");
    s.stop().await;

    let mut s = TestServer::start_with(|o| o.pii.disabled = true).await;
    let (status, _) = s.ingest(json!([sensitive_event("e-3")])).await;
    assert_eq!(status, 200);
    let entry = s.get_json("/v1/entries/0").await;
    assert!(entry["header"].get("redacted").is_none());
    assert_eq!(entry["header"]["data_classes"], json!(["customer"]));
    assert!(entry["body"].to_string().contains(CARD));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_redaction_would_make_invalid_is_refused_not_stored() {
    // A policy that drops personal data, and an agent id that is an e-mail
    // address: dropping it leaves no agent id. The event is refused with the
    // reason; storing the address instead is not an option.
    let policy_dir = tempfile::tempdir().unwrap();
    let policy = policy_dir.path().join("policy.json");
    std::fs::write(&policy, r#"{"version": "strict/1", "default": "drop"}"#).unwrap();
    let mut s = TestServer::start_with(|o| o.pii.policy = Some(policy.clone())).await;
    let mut bad = sensitive_event("e-4");
    bad["agent"]["id"] = json!(EMAIL);
    let (status, answer) = s.ingest(json!([bad, sensitive_event("e-5")])).await;
    assert_eq!(status, 207, "{answer}");
    let error = &answer["results"][0]["error"];
    assert_eq!(error["code"], "unredactable_event", "{answer}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("cannot be redacted"),
        "{answer}"
    );
    assert!(
        !answer.to_string().contains(EMAIL),
        "the answer echoes the value"
    );
    assert_eq!(answer["results"][1]["status"], "sealed", "{answer}");
    s.stop().await;
    assert!(!contains(&store_bytes(s.dir.path()), EMAIL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_policy_file_stops_the_server_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("bad.json");
    std::fs::write(&policy, r#"{"version": "x", "default": "shred"}"#).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut opts = common::options(data.path());
    opts.pii.policy = Some(policy);
    let err = match sealtrail_server::start(opts).await {
        Ok(_) => panic!("a bad policy must not start"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("not a valid redaction policy"), "{err}");
}
