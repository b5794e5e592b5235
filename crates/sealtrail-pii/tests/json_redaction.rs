//! JSON paths, data classes, and redaction: the output never holds the
//! original value, hashes are keyed and stable, and what cannot be scanned
//! is redacted (fail closed).

use sealtrail_pii::{
    data_classes, scan_json, Action, Entity, RedactionPolicy, Redactor, ScanConfig, Scanner,
    UNSCANNED,
};
use serde_json::json;

const KEY: &[u8] = b"project-key-0123456789abcdef";

fn event() -> serde_json::Value {
    json!({
        "agent": {"id": "billing-bot"},
        "kind": "tool_call",
        "tool": {
            "name": "charge",
            "arguments": {
                "card": "4111 1111 1111 1111",
                "email": "jane.doe@example.org",
                "iban": "DE89370400440532013000",
                "notes": ["call +44 20 7946 0958", "ssn 536-22-5486"],
                "passportNumber": "C01X00T47",
                "api_key": "sk-proj-Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5hJ7kL9mN1pQ3sT5",
                "amount": 1200,
                "odd key": "x"
            }
        },
        "attributes": {"jane.doe@example.org": true, "dob": "1985-07-30"}
    })
}

const ORIGINALS: &[&str] = &[
    "4111 1111 1111 1111",
    "jane.doe@example.org",
    "DE89370400440532013000",
    "+44 20 7946 0958",
    "536-22-5486",
    "C01X00T47",
    "sk-proj-Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5hJ7kL9mN1pQ3sT5",
    "1985-07-30",
];

#[test]
fn json_paths_and_spans() {
    let ev = event();
    let scan = scan_json(&ev);
    assert!(scan.errors.is_empty());
    let at = |path: &str| {
        scan.findings
            .iter()
            .filter(|f| f.path == path)
            .map(|f| f.entity)
            .collect::<Vec<_>>()
    };
    assert_eq!(at("$.tool.arguments.card"), [Entity::CreditCard]);
    assert_eq!(at("$.tool.arguments.email"), [Entity::Email]);
    assert_eq!(at("$.tool.arguments.iban"), [Entity::Iban]);
    assert_eq!(at("$.tool.arguments.notes[0]"), [Entity::Phone]);
    assert_eq!(at("$.tool.arguments.notes[1]"), [Entity::UsSsn]);
    assert_eq!(at("$.tool.arguments.passportNumber"), [Entity::Passport]);
    assert_eq!(at("$.tool.arguments.api_key"), [Entity::ApiKey]);
    assert_eq!(at("$.attributes.dob"), [Entity::DateOfBirth]);
    // A finding in a member name.
    let in_key = scan
        .findings
        .iter()
        .find(|f| f.in_key)
        .expect("key finding");
    assert_eq!(in_key.path, "$.attributes['jane.doe@example.org']");
    assert_eq!(in_key.entity, Entity::Email);
    // Spans are byte offsets into the string at the path.
    let ssn = scan
        .findings
        .iter()
        .find(|f| f.entity == Entity::UsSsn)
        .expect("ssn");
    assert_eq!(
        &"ssn 536-22-5486"[ssn.span.start..ssn.span.end],
        "536-22-5486"
    );
    // Findings serialise without the value (paths name member names, so the
    // member that *is* an e-mail shows in its own path; redaction summaries
    // use redacted names instead).
    let text = serde_json::to_string(
        &scan
            .findings
            .iter()
            .filter(|f| !f.path.contains('@'))
            .collect::<Vec<_>>(),
    )
    .expect("json");
    for v in ORIGINALS {
        assert!(!text.contains(v), "{v} leaked into findings JSON");
    }
}

#[test]
fn classes_merge_with_declared() {
    let scan = scan_json(&event());
    let classes = data_classes(&scan.findings, &["PHI".to_string(), "custom".to_string()]);
    assert_eq!(
        classes,
        ["credential", "custom", "financial", "pci", "phi", "pii"]
    );
}

#[test]
fn list_items_take_the_list_name_as_context() {
    let scan = scan_json(
        &json!({"phones": ["4155552671"], "ids": ["4155552671"], "patient": {"nhsNumber": "9434765919"}}),
    );
    let at = |path: &str| {
        scan.findings
            .iter()
            .filter(|f| f.path == path)
            .map(|f| f.entity)
            .collect::<Vec<_>>()
    };
    assert_eq!(at("$.phones[0]"), [Entity::Phone]);
    assert!(at("$.ids[0]").is_empty());
    assert_eq!(at("$.patient.nhsNumber"), [Entity::NhsNumber]);
    assert_eq!(data_classes(&scan.findings, &[]), ["phi", "pii"]);
}

#[test]
fn redacted_output_never_contains_originals() {
    for default in [Action::Mask, Action::Hash, Action::Drop] {
        let policy = RedactionPolicy {
            version: "t/1".into(),
            default,
            entities: Default::default(),
            min_score: 0.5,
        };
        let r = Redactor::new(policy, KEY, Scanner::default()).expect("redactor");
        let out = r.redact(&event());
        let text = serde_json::to_string(&out).expect("json");
        for v in ORIGINALS {
            assert!(!text.contains(v), "{default:?}: {v} leaked: {text}");
        }
        assert_eq!(out.event["agent"]["id"], "billing-bot");
        assert_eq!(out.summary.policy_version, "t/1");
        assert!(out.summary.unscanned.is_empty());
    }
}

#[test]
fn policy_actions_per_entity() {
    let policy = RedactionPolicy::from_json(
        r#"{"version": "acme/2", "default": "mask",
            "entities": {"email": "hash", "phone": "keep", "api_key": "drop"}}"#,
    )
    .expect("policy");
    let r = Redactor::new(policy, KEY, Scanner::default()).expect("redactor");
    let out = r.redact(&event());
    let args = &out.event["tool"]["arguments"];
    assert_eq!(args["card"], "[redacted:credit_card]");
    assert!(args["email"].as_str().expect("str").starts_with("[hash:"));
    assert_eq!(args["notes"][0], "call +44 20 7946 0958");
    assert_eq!(args["notes"][1], "ssn [redacted:us_ssn]");
    assert!(args.get("api_key").is_none(), "dropped member");
    assert_eq!(args["amount"], 1200);
    // The member name holding an e-mail is hashed too, and the summary path
    // uses the hashed name.
    let attrs = out.event["attributes"].as_object().expect("obj");
    assert!(attrs.keys().any(|k| k.starts_with("[hash:")));
    let rec = out
        .summary
        .records
        .iter()
        .find(|r| r.in_key)
        .expect("key record");
    assert!(rec.path.starts_with("$.attributes['[hash:"), "{}", rec.path);
    assert!(out
        .summary
        .records
        .iter()
        .any(|r| r.entity == Entity::Phone && r.action == Action::Keep));
}

#[test]
fn hash_is_keyed_and_stable() {
    let mk = |key: &[u8]| {
        Redactor::new(RedactionPolicy::standard(), key, Scanner::default()).expect("redactor")
    };
    let a = mk(KEY);
    let b = mk(b"another-project-key-000000");
    let h1 = a.hash_token(Entity::Email, "jane.doe@example.org");
    assert_eq!(
        h1,
        a.hash_token(Entity::Email, "Jane.Doe@example.org"),
        "normalised"
    );
    assert_eq!(
        h1,
        mk(KEY).hash_token(Entity::Email, "jane.doe@example.org"),
        "stable"
    );
    assert_ne!(
        h1,
        b.hash_token(Entity::Email, "jane.doe@example.org"),
        "keyed"
    );
    assert_eq!(h1.len(), "[hash:]".len() + 16);
    assert_eq!(
        a.hash_token(Entity::CreditCard, "4111 1111 1111 1111"),
        a.hash_token(Entity::CreditCard, "4111111111111111")
    );
    assert!(Redactor::new(RedactionPolicy::standard(), b"short", Scanner::default()).is_err());
}

#[test]
fn fails_closed_on_fields_it_cannot_scan() {
    let scanner = Scanner::new(ScanConfig {
        max_text_bytes: 64,
        max_depth: 4,
        ..ScanConfig::default()
    });
    let policy = RedactionPolicy {
        version: "t/1".into(),
        default: Action::Keep,
        entities: Default::default(),
        min_score: 0.5,
    };
    let r = Redactor::new(policy, KEY, scanner.clone()).expect("redactor");
    let long = format!("{} card 4111111111111111", "x".repeat(80));
    let deep = json!({"a": {"b": {"c": {"d": {"e": "4111111111111111"}}}}});
    let out = r.redact(&json!({"long": long, "short": "ok", "deep": deep}));
    assert_eq!(out.event["long"], UNSCANNED);
    assert_eq!(out.event["short"], "ok");
    let text = serde_json::to_string(&out.event).expect("json");
    assert!(!text.contains("4111111111111111"), "{text}");
    let paths: Vec<&str> = out
        .summary
        .unscanned
        .iter()
        .map(|u| u.path.as_str())
        .collect();
    assert!(paths.contains(&"$.long"), "{paths:?}");
    assert!(paths.iter().any(|p| p.starts_with("$.deep")), "{paths:?}");
    // The scanner reports the same fields as errors.
    let scan = scanner.scan_json(&json!({"long": format!("{} 4111111111111111", "x".repeat(80))}));
    assert_eq!(scan.errors.len(), 1);
    assert_eq!(scan.errors[0].path, "$.long");
}

#[test]
fn policy_documents_are_checked() {
    assert!(RedactionPolicy::from_json(r#"{"version": ""}"#).is_err());
    assert!(
        RedactionPolicy::from_json(r#"{"version": "x", "entities": {"names": "mask"}}"#).is_err()
    );
    assert!(RedactionPolicy::from_json(r#"{"version": "x", "min_score": 2}"#).is_err());
    assert!(RedactionPolicy::from_json(r#"{"version": "x", "extra": 1}"#).is_err());
    let p = RedactionPolicy::from_json(r#"{"version": "x"}"#).expect("minimal");
    assert_eq!(p.action(Entity::Email), Action::Mask);
}
