//! Agent registry records and scope verdicts: any JSON the record parser
//! accepts validates without panicking and re-serializes to the same record;
//! a verdict is always one of the three documented shapes, on one line;
//! `glob_match` (the matcher of scope patterns, here and in the MCP proxy)
//! agrees with the textbook table (dynamic programming) definition of `*`
//! and `?` over characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealtrail_core::registry::{
    glob_match, scope_verdict, AgentRecord, ScopeInput, IN_SCOPE, OUT_OF_SCOPE_PREFIX, UNREGISTERED,
};

/// `*` any run of characters, `?` one character, the rest literal:
/// `m[i][j]` says whether `p[i..]` matches `t[j..]`.
fn reference(p: &[char], t: &[char]) -> bool {
    let mut m = vec![vec![false; t.len() + 1]; p.len() + 1];
    m[p.len()][t.len()] = true;
    for i in (0..p.len()).rev() {
        for j in (0..=t.len()).rev() {
            let one = j < t.len() && m[i + 1][j + 1];
            m[i][j] = match p[i] {
                '*' => m[i + 1][j] || (j < t.len() && m[i][j + 1]),
                '?' => one,
                c => one && t[j] == c,
            };
        }
    }
    m[0][0]
}

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
        let got = glob_match(p, t);
        if p.chars().count() <= 64 && t.chars().count() <= 256 {
            let (pc, tc): (Vec<char>, Vec<char>) = (p.chars().collect(), t.chars().collect());
            assert_eq!(got, reference(&pc, &tc), "glob_match({p:?}, {t:?})");
        }
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
