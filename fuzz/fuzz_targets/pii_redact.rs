//! PII scan + redaction: redaction must never leak a detected value.
//!
//! The input (UTF-8 only) is put into an event four times: as free text
//! (`input`), as an identifier field (`session`), and as an attribute's
//! member name and value. The event is scanned and redacted with a policy
//! that hashes everything. Then:
//!
//! - no string of the redacted event, and no path of its summary, contains
//!   a detected value, unless that value also stands in the original
//!   *outside* every detected span (a second copy the scanner rightly did
//!   not report there, e.g. a bare number in the identifier field);
//! - the identifier field is either unchanged or an `h:<32 hex>` token;
//! - spans fall on character boundaries (slicing them cannot panic).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sealtrail_pii::{Action, RedactionPolicy, Redactor, Scanner, ID_TOKEN_PREFIX};
use serde_json::{json, Value};

fn redactor() -> &'static Redactor {
    static R: OnceLock<Redactor> = OnceLock::new();
    R.get_or_init(|| {
        let policy = RedactionPolicy {
            version: "fuzz/1".to_string(),
            default: Action::Hash,
            entities: Default::default(),
            min_score: 0.0,
        };
        match Redactor::new(policy, b"fuzz-key-0123456789abcdef", Scanner::default()) {
            Ok(r) => r,
            Err(e) => panic!("the fuzz policy is valid: {e}"),
        }
    })
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Object(map) => {
            for (k, item) in map {
                out.push(k.clone());
                strings(item, out);
            }
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let event = json!({
        "agent": {"id": "fuzz"},
        "kind": "custom",
        "input": text,
        "session": text,
        "attributes": {text: text},
    });
    let r = redactor();
    let scan = sealtrail_pii::scan_json(&event);
    let out = r.redact(&event);

    // The original strings with every detected span blanked out: what the
    // redactor may legitimately pass through.
    let mut residual = vec![
        "fuzz".to_string(),
        "custom".to_string(),
        "agent id kind input session attributes".to_string(),
    ];
    let mut values = Vec::new();
    for path in ["$.input", "$.session", "$.attributes"] {
        let mut blanked = text.to_string().into_bytes();
        for f in scan.findings.iter().filter(|f| f.path.starts_with(path)) {
            let (a, b) = (f.span.start, f.span.end);
            let Some(v) = text.get(a..b) else {
                panic!("span {a}..{b} of {} is not on a character boundary", f.path);
            };
            values.push((f.entity, v.to_string()));
            blanked[a..b].fill(0);
        }
        residual.push(String::from_utf8_lossy(&blanked).into_owned());
    }
    let mut outputs = Vec::new();
    strings(&out.event, &mut outputs);
    outputs.extend(out.summary.records.iter().map(|r| r.path.clone()));
    for (entity, v) in &values {
        for o in &outputs {
            if o.contains(v.as_str()) && !residual.iter().any(|r| r.contains(v.as_str())) {
                panic!("{entity} value {v:?} leaked into {o:?}");
            }
        }
    }

    if let Some(session) = out.event["session"].as_str() {
        let token = session
            .strip_prefix(ID_TOKEN_PREFIX)
            .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(
            session == text || token,
            "session is neither kept nor a token: {session:?}"
        );
    }
});
