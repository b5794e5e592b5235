//! Sensitive data at ingest (docs/pii.md): detected data classes land in the
//! sealed header, the redaction policy rewrites the body before it is
//! committed (the original never reaches the disk), the header names the
//! policy version, and a policy file and `--no-pii-scan` are honoured.

use sealtrail_pii::id_corpus;

use std::path::Path;

use sealtrail_testkit::TestServer;
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

/// `h:` and 32 lower-case hex digits: an identifier token.
fn is_id_token(v: &serde_json::Value) -> bool {
    v.as_str()
        .and_then(|s| s.strip_prefix("h:"))
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identifier_field_with_personal_data_is_tokenised_not_refused() {
    // A policy that drops personal data, and an agent id that is an e-mail
    // address. Dropping it would leave no agent id; the agent id becomes
    // its keyed token instead, and the event is stored.
    let policy_dir = tempfile::tempdir().unwrap();
    let policy = policy_dir.path().join("policy.json");
    std::fs::write(&policy, r#"{"version": "strict/1", "default": "drop"}"#).unwrap();
    let mut s = TestServer::start_with(|o| o.pii.policy = Some(policy.clone())).await;
    let mut ev = sensitive_event("e-4");
    ev["agent"]["id"] = json!(EMAIL);
    let (status, answer) = s.ingest(json!([ev, sensitive_event("e-5")])).await;
    assert_eq!(status, 200, "{answer}");
    let entry = s.get_json("/v1/entries/0").await;
    assert!(is_id_token(&entry["header"]["agent"]), "{entry}");
    assert_eq!(entry["body"]["agent"]["id"], entry["header"]["agent"]);
    assert_eq!(entry["header"]["redacted"], "strict/1");
    s.stop().await;
    assert!(!contains(&store_bytes(s.dir.path()), EMAIL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_redaction_would_make_invalid_is_still_refused_not_stored() {
    // `review.reviewer` is required and is not an identifier field: a
    // policy that drops e-mail addresses leaves a review without reviewer.
    // Storing the address instead is not an option, so the event is refused.
    let policy_dir = tempfile::tempdir().unwrap();
    let policy = policy_dir.path().join("policy.json");
    std::fs::write(&policy, r#"{"version": "strict/1", "default": "drop"}"#).unwrap();
    let mut s = TestServer::start_with(|o| o.pii.policy = Some(policy.clone())).await;
    let bad = json!({"agent": {"id": "billing-bot"}, "kind": "human_review",
                     "review": {"reviewer": EMAIL, "decision": "approve"}});
    let (status, answer) = s.ingest(json!([bad, sensitive_event("e-5")])).await;
    assert_eq!(status, 207, "{answer}");
    let error = &answer["results"][0]["error"];
    assert_eq!(error["code"], "unredactable_event", "{answer}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("cannot be redacted"), "{answer}");
    assert!(message.contains("review.reviewer"), "{answer}");
    assert!(
        !answer.to_string().contains(EMAIL),
        "the answer echoes the value"
    );
    assert_eq!(answer["results"][1]["status"], "sealed", "{answer}");
    s.stop().await;
    assert!(!contains(&store_bytes(s.dir.path()), EMAIL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_number_as_session_becomes_one_token_for_the_whole_session() {
    // Before: the session was hashed to `[hash:…]` span by span. Now it is
    // replaced whole by `h:` + keyed MAC, the same for both events, so the
    // session stream links them.
    const PHONE: &str = "+49 30 1234-5678";
    let mut s = TestServer::start().await;
    let ev = |id: &str| {
        json!({"id": id, "agent": {"id": "whatsapp-bot"}, "kind": "model_call",
               "session": PHONE, "input": "hello"})
    };
    let (status, answer) = s.ingest(json!([ev("m-1"), ev("m-2")])).await;
    assert_eq!(status, 200, "{answer}");
    let first = s.get_json("/v1/entries/0").await;
    let second = s.get_json("/v1/entries/1").await;
    let token = &first["header"]["session"];
    assert!(is_id_token(token), "{first}");
    assert_eq!(&second["header"]["session"], token);
    assert_eq!(&first["body"]["session"], token);
    assert_eq!(
        second["header"]["streams"]["session"],
        json!({"n": 2, "prev": 0})
    );
    assert!(first["header"]["data_classes"]
        .as_array()
        .unwrap()
        .contains(&json!("pii")));
    s.stop().await;
    let disk = store_bytes(s.dir.path());
    assert!(!contains(&disk, PHONE) && !contains(&disk, "1234-5678"));
}

#[test]
fn events_whose_ids_are_machine_identifiers_are_accepted_unchanged() {
    use sealtrail_server::pipeline::decode::{prepare, PrepareWith};
    use sealtrail_server::sensitive::Sensitive;
    let sensitive = Sensitive::with(
        sealtrail_pii::RedactionPolicy::standard(),
        &[7u8; 32],
        sealtrail_pii::ScanConfig::default(),
    )
    .unwrap();
    let with = PrepareWith {
        max_event_bytes: 1 << 20,
        sensitive: Some(&sensitive),
    };
    // UUIDs the previous detectors read as phone or card numbers: as an
    // event `id` they were refused with `unredactable_event`.
    let mut ids: Vec<(&str, String)> = [
        "05318337-9945-468c-adf5-b1343fcfdbdf",
        "08843116-8417-4b5a-bed3-a5221ba704d2",
        "42795344-9281-4748-aeed-c941a02c5d07",
        "01621535-0352-7b53-8eeb-aa619693e8ca",
    ]
    .iter()
    .map(|u| ("regression", u.to_string()))
    .collect();
    ids.extend(id_corpus::corpus(16, 40).map(|(k, id)| (k.name, id)));
    for (kind, id) in ids {
        let event = id_corpus::event_with(
            id_corpus::KINDS
                .iter()
                .find(|k| k.name == kind)
                .unwrap_or(&id_corpus::KINDS[0]),
            &id,
        );
        let bytes = serde_json::to_vec(&event).unwrap();
        let prepared = match prepare(&bytes, with, [0u8; 32]) {
            Ok(p) => p,
            Err(e) => panic!("{kind} {id}: {} {}", e.code, e.message),
        };
        assert_eq!(prepared.redacted, None, "{kind} {id}");
        assert_eq!(
            prepared.body,
            sealtrail_core::jcs::to_canonical_vec(&event).unwrap(),
            "{kind} {id}"
        );
        assert_eq!(prepared.session.as_deref(), Some(id.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_policy_file_stops_the_server_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("bad.json");
    std::fs::write(&policy, r#"{"version": "x", "default": "shred"}"#).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut opts = sealtrail_testkit::options(data.path());
    opts.pii.policy = Some(policy);
    let err = match sealtrail_server::start(opts).await {
        Ok(_) => panic!("a bad policy must not start"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("not a valid redaction policy"), "{err}");
}
