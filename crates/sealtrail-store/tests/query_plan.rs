//! Every query filter of the embedded store is answered from an index:
//! `EXPLAIN QUERY PLAN` of each page statement searches an index (or the
//! primary key range) and never scans `entries` whole.

mod common;

use common::subject;
use sealtrail_store::sqlite::SqliteStore;
use sealtrail_store::EventQuery;

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

/// Each filter alone, and the benchmark's selective page.
fn queries() -> Vec<(EventQuery, &'static str)> {
    let q = EventQuery::default;
    vec![
        (q(), "USING INTEGER PRIMARY KEY"),
        (
            EventQuery {
                from: Some(1),
                to: Some(2),
                ..q()
            },
            "USING INTEGER PRIMARY KEY",
        ),
        (
            EventQuery {
                agent: s("a"),
                ..q()
            },
            "USING INDEX entries_agent (agent=? AND rowid>? AND rowid<?)",
        ),
        (
            EventQuery {
                session: s("s"),
                ..q()
            },
            "USING INDEX entries_sid (sid=? AND rowid>? AND rowid<?)",
        ),
        (
            EventQuery {
                kind: s("k"),
                ..q()
            },
            "USING INDEX entries_kind (kind=? AND rowid>? AND rowid<?)",
        ),
        (
            EventQuery {
                action: s("x"),
                ..q()
            },
            "USING INDEX entries_action (action=? AND rowid>? AND rowid<?)",
        ),
        (
            EventQuery {
                tool: s("t"),
                ..q()
            },
            "USING INDEX entries_tool (tool=? AND rowid>? AND rowid<?)",
        ),
        (
            EventQuery {
                outcome: s("o"),
                ..q()
            },
            "USING INDEX entries_outcome (outcome=? AND rowid>? AND rowid<?)",
        ),
        (
            EventQuery {
                scope: s("out_of_scope"),
                ..q()
            },
            "USING INDEX entries_scope (<expr>=? AND rowid>? AND rowid<?)",
        ),
        (
            EventQuery {
                data_class: s("pii"),
                ..q()
            },
            "SEARCH d USING PRIMARY KEY (class=? AND idx>? AND idx<?)",
        ),
        (
            EventQuery {
                subject: Some(subject(1)),
                ..q()
            },
            "SEARCH d USING PRIMARY KEY (subject=? AND idx>? AND idx<?)",
        ),
        (
            EventQuery {
                agent: s("a"),
                kind: s("k"),
                from: Some(1),
                to: Some(2),
                ..q()
            },
            "USING INDEX entries_agent (agent=? AND rowid>? AND rowid<?)",
        ),
        (
            EventQuery {
                kind: s("k"),
                data_class: s("pii"),
                subject: Some(subject(1)),
                ..q()
            },
            "SEARCH d USING PRIMARY KEY (subject=? AND idx>? AND idx<?)",
        ),
    ]
}

#[test]
fn every_filter_searches_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    for (q, want) in queries() {
        let plan = store.query_plan(&q).unwrap();
        let text = plan.join("\n");
        assert!(
            plan.iter().all(|step| !step.starts_with("SCAN")),
            "{q:?} scans:\n{text}"
        );
        assert!(
            !plan.iter().any(|step| step.contains("TEMP B-TREE")),
            "{q:?} sorts instead of reading in index order:\n{text}"
        );
        assert!(text.contains(want), "{q:?}: expected {want:?} in\n{text}");
    }
}
