//! Every query filter of the embedded store is answered from an index:
//! `EXPLAIN QUERY PLAN` of each statement a query page runs is a search by
//! a key (the posting lists' or the entries' primary key), never a scan of
//! a table, never a sort.

use sealtrail_store::sqlite::SqliteStore;

#[test]
fn every_query_statement_searches_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let plan = store.query_plan().unwrap();
    let text = plan.join("\n");
    for step in &plan {
        assert!(
            step.starts_with("SEARCH"),
            "not a keyed search: {step}\n{text}"
        );
        assert!(!step.contains("TEMP B-TREE"), "sorts: {step}\n{text}");
    }
    for want in [
        // Time → index: binary search by primary key.
        "SEARCH entries USING INTEGER PRIMARY KEY (rowid=?)",
        // Each filter's list, from the first row that can hold the cursor.
        "SEARCH postings USING PRIMARY KEY (field=? AND value=? AND last>?)",
        // A page without value filters: the primary key range.
        "SEARCH entries USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)",
    ] {
        assert!(
            plan.iter().any(|s| s == want),
            "expected {want:?} in\n{text}"
        );
    }
}
