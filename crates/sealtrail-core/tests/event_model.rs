//! The event model: parsing, round-trips and field-named errors.

use proptest::prelude::*;
use sealtrail_core::event::{Event, EventError, EventKind, Outcome, ReviewDecision};

fn err(json: &str) -> EventError {
    match Event::from_json_slice(json.as_bytes()) {
        Ok(e) => panic!("expected an error for {json}, got {e:?}"),
        Err(e) => e,
    }
}

/// Asserts the error's path exactly and that its message mentions every `needles`.
fn assert_err(json: &str, path: &str, needles: &[&str]) {
    let e = err(json);
    assert_eq!(e.path, path, "path for {json}: {e}");
    for n in needles {
        assert!(
            e.message.contains(n),
            "message for {json} should mention {n:?}: {e}"
        );
    }
    assert_eq!(e.to_string(), format!("{}: {}", e.path, e.message));
}

const FULL: &str = r#"{
  "id": "01JD3Y9Q5K7M2N4P6R8T0V2X4Z",
  "agent": {"id": "billing-agent", "name": "Billing", "version": "1.4.2", "instance": "pod-7"},
  "session": "sess-42",
  "parent": "01JD3Y9Q5K7M2N4P6R8T0V2X4Y",
  "seq": 17,
  "kind": "tool_call",
  "action": "refund.issue",
  "resource": "order/1234",
  "outcome": "success",
  "principal": "user:alice@example.com",
  "subjects": ["customer:991", "customer:992"],
  "data_classes": ["pii", "financial"],
  "model": {"provider": "anthropic", "name": "claude", "version": "2026-01", "input_tokens": 1200, "output_tokens": 85, "cost": 0.0125},
  "tool": {"name": "stripe.refund", "call_id": "call_1", "arguments": {"amount": 4200, "currency": "EUR"}, "result": {"ok": true, "id": "re_1"}},
  "input": {"messages": [{"role": "user", "content": "refund order 1234 \u20ac"}]},
  "output": "done",
  "reasoning": ["policy allows refunds < 50 EUR", 1.5],
  "review": {"reviewer": "bob", "decision": "approve", "reason": "looks right"},
  "change": {"target": "policy/refunds", "before": {"limit": 50}, "after": {"limit": 100}, "approved_by": "carol"},
  "occurred_at": "2026-11-22T13:21:31.123+01:00",
  "attributes": {"gen_ai.system": "anthropic", "retry": 0, "tags": ["a", "b"]}
}"#;

#[test]
fn minimal_event_parses() {
    let e = Event::from_json_slice(br#"{"agent":{"id":"a"},"kind":"tool_call"}"#).expect("minimal");
    assert_eq!(e.agent.id, "a");
    assert_eq!(e.kind, EventKind::ToolCall);
    assert_eq!(e.kind.as_str(), "tool_call");
    assert!(e.subjects.is_empty() && e.id.is_none() && e.attributes.is_none());
    assert_eq!(
        e.canonical_bytes().expect("canon"),
        br#"{"agent":{"id":"a"},"kind":"tool_call"}"#
    );
}

#[test]
fn full_event_parses_and_round_trips() {
    let e = Event::from_json_slice(FULL.as_bytes()).expect("full event");
    assert_eq!(e.outcome, Some(Outcome::Success));
    assert_eq!(
        e.review.as_ref().map(|r| r.decision),
        Some(ReviewDecision::Approve)
    );
    assert_eq!(e.model.as_ref().and_then(|m| m.cost), Some(0.0125));
    assert_eq!(e.data_classes, ["pii", "financial"]);

    let bytes = e.canonical_bytes().expect("canon");
    let again = Event::from_json_slice(&bytes).expect("canonical bytes parse");
    assert_eq!(again, e);
    assert_eq!(again.canonical_bytes().expect("canon"), bytes);

    // Canonical: sorted keys, no whitespace, and equal to JCS of the raw input.
    let raw =
        sealtrail_core::jcs::parse_strict(FULL.as_bytes(), &Default::default()).expect("parse");
    assert_eq!(
        bytes,
        sealtrail_core::jcs::to_canonical_vec(&raw).expect("canon")
    );
    assert!(bytes.starts_with(br#"{"action":"refund.issue","agent":{"id":"billing-agent""#));
}

#[test]
fn from_value_matches_from_json_slice() {
    let v: serde_json::Value = serde_json::from_str(FULL).expect("json");
    let a = Event::from_value(v).expect("from_value");
    let b = Event::from_json_slice(FULL.as_bytes()).expect("from_json_slice");
    assert_eq!(a, b);
}

#[test]
fn null_optional_fields_mean_absent() {
    let e =
        Event::from_json_slice(br#"{"agent":{"id":"a","name":null},"kind":"alert","input":null}"#)
            .expect("nulls");
    assert_eq!(
        e.canonical_bytes().expect("canon"),
        br#"{"agent":{"id":"a"},"kind":"alert"}"#
    );
}

#[test]
fn missing_agent_id() {
    assert_err(
        r#"{"agent":{},"kind":"tool_call"}"#,
        "agent.id",
        &["missing"],
    );
    assert_err(r#"{"kind":"tool_call"}"#, "agent", &["missing"]);
    assert_err(r#"{"agent":{"id":"a"}}"#, "kind", &["missing"]);
}

#[test]
fn empty_or_malformed_agent_id() {
    assert_err(
        r#"{"agent":{"id":""},"kind":"decision"}"#,
        "agent.id",
        &["empty"],
    );
    assert_err(
        r#"{"agent":{"id":" a"},"kind":"decision"}"#,
        "agent.id",
        &["whitespace"],
    );
    assert_err(
        r#"{"agent":{"id":"a\u0007"},"kind":"decision"}"#,
        "agent.id",
        &["control", "U+0007"],
    );
    let long = format!(
        r#"{{"agent":{{"id":"{}"}},"kind":"decision"}}"#,
        "x".repeat(257)
    );
    assert_err(&long, "agent.id", &["257 bytes", "256"]);
}

#[test]
fn wrong_type() {
    assert_err(
        r#"{"agent":{"id":"a"},"kind":"tool_call","seq":"3"}"#,
        "seq",
        &["invalid type", "string \"3\"", "u64"],
    );
    assert_err(
        r#"{"agent":{"id":"a"},"kind":"tool_call","subjects":["s",7]}"#,
        "subjects[1]",
        &["invalid type", "integer"],
    );
    assert_err(
        r#"{"agent":{"id":"a"},"kind":"tool_call","attributes":[]}"#,
        "attributes",
        &["invalid type"],
    );
    assert_err(r#"[1]"#, "$", &["invalid type: array", "object"]);
    assert_err(
        r#"{"agent":["a"],"kind":"alert"}"#,
        "agent",
        &["invalid type: array", "object"],
    );
}

#[test]
fn unknown_top_level_key() {
    assert_err(
        r#"{"agent":{"id":"a"},"kind":"alert","colour":"red"}"#,
        "$",
        &["unknown field \"colour\"", "occurred_at"],
    );
}

#[test]
fn unknown_nested_key() {
    assert_err(
        r#"{"agent":{"id":"a","nmae":"x"},"kind":"alert"}"#,
        "agent",
        &[
            "unknown field \"nmae\"",
            "expected one of \"id\", \"name\", \"version\", \"instance\"",
        ],
    );
    assert_err(
        r#"{"agent":{"id":"a"},"kind":"tool_call","tool":{"name":"t","args":{}}}"#,
        "tool",
        &["unknown field \"args\""],
    );
}

#[test]
fn bad_kind_lists_valid_kinds() {
    let all: Vec<String> = EventKind::ALL.iter().map(|k| format!("\"{k}\"")).collect();
    let needles: Vec<&str> = std::iter::once("unknown variant \"toolcall\"")
        .chain(all.iter().map(String::as_str))
        .collect();
    assert_err(
        r#"{"agent":{"id":"a"},"kind":"toolcall"}"#,
        "kind",
        &needles,
    );
}

#[test]
fn bad_outcome_and_review_decision() {
    assert_err(
        r#"{"agent":{"id":"a"},"kind":"alert","outcome":"ok"}"#,
        "outcome",
        &[
            "unknown variant \"ok\"",
            "\"success\"",
            "\"failure\"",
            "\"denied\"",
            "\"pending\"",
        ],
    );
    assert_err(
        r#"{"agent":{"id":"a"},"kind":"human_review","review":{"reviewer":"b","decision":"maybe"}}"#,
        "review.decision",
        &["\"approve\"", "\"stop\""],
    );
}

#[test]
fn bad_occurred_at() {
    assert_err(
        r#"{"agent":{"id":"a"},"kind":"alert","occurred_at":"2026-02-30T10:00:00Z"}"#,
        "occurred_at",
        &["RFC 3339", "day"],
    );
    assert_err(
        r#"{"agent":{"id":"a"},"kind":"alert","occurred_at":"yesterday"}"#,
        "occurred_at",
        &["RFC 3339"],
    );
    assert_err(
        r#"{"agent":{"id":"a"},"kind":"alert","occurred_at":"2026-11-22T13:21:31"}"#,
        "occurred_at",
        &["offset"],
    );
}

#[test]
fn duplicate_key() {
    assert_err(
        r#"{"agent":{"id":"a","id":"b"},"kind":"alert"}"#,
        "agent.id",
        &["duplicate", "\"id\""],
    );
    assert_err(
        r#"{"agent":{"id":"a"},"kind":"alert","kind":"alert"}"#,
        "kind",
        &["duplicate"],
    );
}

#[test]
fn invalid_utf8() {
    let mut bytes = br#"{"agent":{"id":"a"},"kind":"alert","action":""#.to_vec();
    let offset = bytes.len();
    bytes.extend_from_slice(b"\xc0\xaf\"}");
    let e = Event::from_json_slice(&bytes).unwrap_err();
    assert_eq!(e.path, "$");
    assert!(e.message.contains(&format!("byte offset {offset}")), "{e}");
}

#[test]
fn too_deep() {
    let deep = format!(
        r#"{{"agent":{{"id":"a"}},"kind":"alert","input":{}1{}}}"#,
        "[".repeat(70),
        "]".repeat(70)
    );
    let e = err(&deep);
    assert!(e.path.starts_with("input[0]"), "{e}");
    assert!(e.message.contains("deeper than 64"), "{e}");
}

#[test]
fn unsafe_integer_in_attributes() {
    assert_err(
        r#"{"agent":{"id":"a"},"kind":"alert","attributes":{"big":9007199254740993}}"#,
        "attributes.big",
        &["9007199254740993", "safe integer", "string"],
    );
    assert_err(
        r#"{"agent":{"id":"a"},"kind":"alert","seq":9007199254740992}"#,
        "seq",
        &["2^53-1"],
    );
}

#[test]
fn bad_data_class() {
    assert_err(
        r#"{"agent":{"id":"a"},"kind":"data_access","data_classes":["pii","PCI"]}"#,
        "data_classes[1]",
        &["\"PCI\"", "a-z"],
    );
    assert_err(
        r#"{"agent":{"id":"a"},"kind":"data_access","data_classes":["pii","pii"]}"#,
        "data_classes[1]",
        &["twice"],
    );
    let many: Vec<String> = (0..33).map(|i| format!("\"c{i}\"")).collect();
    let json = format!(
        r#"{{"agent":{{"id":"a"}},"kind":"data_access","data_classes":[{}]}}"#,
        many.join(",")
    );
    assert_err(&json, "data_classes", &["at most 32"]);
}

#[test]
fn too_many_subjects() {
    let many: Vec<String> = (0..65).map(|i| format!("\"s{i}\"")).collect();
    let json = format!(
        r#"{{"agent":{{"id":"a"}},"kind":"data_access","subjects":[{}]}}"#,
        many.join(",")
    );
    assert_err(&json, "subjects", &["at most 64", "65"]);
    assert_err(
        r#"{"agent":{"id":"a"},"kind":"data_access","subjects":["x",""]}"#,
        "subjects[1]",
        &["empty"],
    );
}

#[test]
fn other_field_rules() {
    let base = r#"{"agent":{"id":"a"},"kind":"alert","#;
    assert_err(&format!(r#"{base}"id":"has space"}}"#), "id", &["event id"]);
    assert_err(
        &format!(r#"{base}"tool":{{"name":""}}}}"#),
        "tool.name",
        &["empty"],
    );
    assert_err(
        &format!(r#"{base}"review":{{"reviewer":"","decision":"stop"}}}}"#),
        "review.reviewer",
        &["empty"],
    );
    assert_err(
        &format!(r#"{base}"change":{{"target":""}}}}"#),
        "change.target",
        &["empty"],
    );
    assert_err(
        &format!(r#"{base}"attributes":{{"":1}}}}"#),
        r#"attributes[""]"#,
        &["empty"],
    );
    assert_err(
        &format!(r#"{base}"model":{{"cost":-1}}}}"#),
        "model.cost",
        &["≥ 0"],
    );
    assert_err(
        &format!(r#"{base}"session":"a\nb"}}"#),
        "session",
        &["control"],
    );
}

#[test]
fn validate_catches_what_code_can_build() {
    let mut e = Event::from_json_slice(br#"{"agent":{"id":"a"},"kind":"model_call","model":{}}"#)
        .expect("ok");
    if let Some(m) = e.model.as_mut() {
        m.cost = Some(f64::NAN);
    }
    assert_eq!(
        e.validate().map_err(|e| e.path),
        Err("model.cost".to_owned())
    );
    assert!(e.canonical_bytes().is_err());
    e.model = None;
    e.input = Some(serde_json::json!({"n": [u64::MAX]}));
    let err = e.validate().unwrap_err();
    assert_eq!(err.path, "input.n[0]");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Event::from_json_slice(&bytes);
    }

    #[test]
    fn event_shaped_text_never_panics(s in r#"\{"agent":\{"id":"[a-z ]{0,3}"\},"kind":"[a-z_]{0,12}"(,"[a-z_]{1,12}":("[0-9T:Z.+-]{0,30}"|[0-9]{1,20}|\[\]|\{\}|null))?\}"#) {
        if let Ok(e) = Event::from_json_slice(s.as_bytes()) {
            let bytes = e.canonical_bytes().expect("validated events canonicalize");
            prop_assert_eq!(Event::from_json_slice(&bytes).ok(), Some(e));
        }
    }
}

#[test]
fn parse_with_body_returns_the_event_and_the_canonical_form_of_what_was_sent() {
    let sent = br#"{ "kind":"tool_call", "session": null, "agent":{"id":"a"}, "subjects": [], "attributes": {"z": 1.50, "a": [1e2]} }"#;
    let (event, body) = sealtrail_core::event::Event::parse_with_body(sent).unwrap();
    assert_eq!(
        event,
        sealtrail_core::event::Event::from_json_slice(sent).unwrap()
    );
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        r#"{"agent":{"id":"a"},"attributes":{"a":[100],"z":1.5},"kind":"tool_call","session":null,"subjects":[]}"#
    );
    // The body is itself a valid event, and canonical.
    let (again, body2) = sealtrail_core::event::Event::parse_with_body(&body).unwrap();
    // (`1e2` and `100` are the same number but not the same `Value`.)
    assert_eq!(
        again.canonical_bytes().unwrap(),
        event.canonical_bytes().unwrap()
    );
    assert_eq!(body2, body);
    // Errors are the same as from_json_slice's.
    let bad = br#"{"agent":{"id":""},"kind":"tool_call"}"#;
    assert_eq!(
        sealtrail_core::event::Event::parse_with_body(bad)
            .unwrap_err()
            .path,
        "agent.id"
    );
}
