//! Agent registry records and scope verdicts: any JSON the record parser
//! accepts validates without panicking and re-serializes to the same record;
//! a verdict is always one of the three documented shapes, on one line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealtrail_core::registry::{
    glob_match, scope_verdict, AgentRecord, ScopeInput, IN_SCOPE, OUT_OF_SCOPE_PREFIX, UNREGISTERED,
};

fuzz_target!(|data: &[u8]| {
    // First byte splits the rest: a record, then an event's fields.
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let cut = (cut as usize).min(rest.len());
    let (record, fields) = rest.split_at(cut);
    let fields = String::from_utf8_lossy(fields);
    let mut parts = fields.splitn(4, '\u{0}');
    let (tool, action, resource) = (parts.next(), parts.next(), parts.next());
    let classes: Vec<String> = parts
        .next()
        .unwrap_or("")
        .split(',')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    let input = ScopeInput {
        tool,
        action,
        resource,
        data_classes: &classes,
    };
    if let (Some(p), Some(t)) = (tool, action) {
        let _ = glob_match(p, t);
    }
    let rec = serde_json::from_slice::<AgentRecord>(record).ok();
    if let Some(r) = &rec {
        let _ = r.validate();
        let again: AgentRecord =
            serde_json::from_str(&serde_json::to_string(r).expect("serializes"))
                .expect("parses back");
        assert_eq!(&again, r);
    }
    let v = scope_verdict(rec.as_ref(), &input);
    assert!(
        v == IN_SCOPE || v == UNREGISTERED || v.starts_with(OUT_OF_SCOPE_PREFIX),
        "{v}"
    );
    assert!(!v.contains('\n'), "{v}");
});
