//! `sealtrail migrate`: an embedded log with several checkpoints is copied
//! into a PostgreSQL schema; the copy must report what it copied and that it
//! is proven, `sealtrail serve --database` must then serve the same signed
//! checkpoint and go on at the next index, and a second migration into the
//! now non-empty schema must be refused.
//!
//! Needs PostgreSQL (`SEALTRAIL_TEST_DATABASE_URL`, else the local socket);
//! `SEALTRAIL_SKIP_POSTGRES=1` skips it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sealtrail_core::checkpoint::SignedCheckpoint;
use sealtrail_core::hash::Hash;
use sealtrail_core::note::Ed25519Verifier;
use sealtrail_core::proof::verify_consistency;
use sealtrail_store::prelude::*;
use sealtrail_store::sqlite::SqliteStore;
use sealtrail_testkit::cli::{init, Server};
use sealtrail_testkit::{fsck_ok, get_json, off_runtime, pg_store, postgres_schema};
use serde_json::{json, Value};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

const EVENTS: u64 = 2000;

fn event(n: u64) -> Value {
    json!({
        "id": format!("mig-{n}"),
        "agent": {"id": format!("agent-{}", n % 3), "instance": "i-1"},
        "session": format!("s-{}", n % 7),
        "kind": "tool_call",
        "tool": {"name": "crm.lookup", "arguments": {"customer": n}},
    })
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    query: &str,
    events: &[Value],
) -> Value {
    let r = http
        .post(format!("{url}/v1/events{query}"))
        .bearer_auth(key)
        .json(events)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "POST /v1/events{query} to {url}");
    r.json().await.unwrap()
}

async fn checkpoint(http: &reqwest::Client, url: &str, key: &str) -> Vec<u8> {
    let r = http
        .get(format!("{url}/v1/checkpoint"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "GET /v1/checkpoint on {url}");
    r.bytes().await.unwrap().to_vec()
}

fn migrate(data: &Path, db: &str, schema: &str) -> std::process::Output {
    Command::new(BIN)
        .args(["migrate", "--json", "--from"])
        .arg(data)
        .args(["--to", db, "--pg-schema", schema])
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_copies_an_embedded_log_that_postgres_then_serves() {
    let Some((db, schema)) = postgres_schema(
        "migrate_copies_an_embedded_log_that_postgres_then_serves",
        "mig",
    ) else {
        return;
    };
    let started = Instant::now();
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let (key, vkey) = init(BIN, data.path(), &[]);
    let verifier = Ed25519Verifier::from_vkey(&vkey).unwrap();

    // The embedded log: 2,000 events in 20 requests, checkpoints in between,
    // the last request waiting for a checkpoint that covers everything.
    let mut embedded = Server::start(
        BIN,
        data.path(),
        "0.05",
        &[],
        Some(logs.path().join("embedded.log")),
    );
    let http = reqwest::Client::new();
    let mut leaves = Vec::new();
    for r in 0..20u64 {
        let events: Vec<Value> = (r * 100..(r + 1) * 100).map(event).collect();
        let query = if r == 19 { "?wait=checkpoint" } else { "" };
        let body = post(&http, &embedded.url, &key, query, &events).await;
        for (k, res) in body["results"].as_array().unwrap().iter().enumerate() {
            assert_eq!(res["status"], "sealed");
            assert_eq!(res["index"], r * 100 + k as u64);
            leaves.push(res["leaf_hash"].as_str().unwrap().to_string());
            if r == 19 {
                assert!(res["proof"].is_string(), "wait=checkpoint gives proofs");
            }
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let note = checkpoint(&http, &embedded.url, &key).await;
    let cp = SignedCheckpoint::open(&note, &[&verifier])
        .unwrap()
        .checkpoint;
    assert_eq!(cp.size, EVENTS);
    embedded.terminate_cleanly();
    let sqlite_checkpoints = SqliteStore::open(data.path())
        .unwrap()
        .checkpoints()
        .unwrap()
        .len() as u64;
    assert!(
        sqlite_checkpoints >= 2,
        "only {sqlite_checkpoints} checkpoints"
    );

    // The copy.
    let migrated_at = Instant::now();
    let out = migrate(data.path(), &db, &schema.name);
    assert!(
        out.status.success(),
        "migrate failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "migrate --json: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    eprintln!("migrated in {:?}: {report}", migrated_at.elapsed());
    assert_eq!(report["entries"], EVENTS);
    assert_eq!(report["checkpoints"], sqlite_checkpoints);
    assert!(report["checkpoints"].as_u64().unwrap() >= 1);
    assert!(report["api_keys"].as_u64().unwrap() >= 1);
    assert_eq!(report["verified"], true);
    assert_eq!(report["root"], cp.root.to_base64());
    assert_eq!(report["origin"], cp.origin);

    // PostgreSQL serves the same log and goes on at index 2000.
    let pg_args = [
        "--database",
        db.as_str(),
        "--pg-schema",
        schema.name.as_str(),
    ];
    let mut served = Server::start(
        BIN,
        data.path(),
        "0.05",
        &pg_args,
        Some(logs.path().join("pg.log")),
    );
    let pg_note = checkpoint(&http, &served.url, &key).await;
    assert_eq!(
        String::from_utf8_lossy(&pg_note),
        String::from_utf8_lossy(&note),
        "the migrated log serves another checkpoint"
    );
    for i in [0u64, 1234, EVENTS - 1] {
        let e = get_json(&http, &format!("{}/v1/entries/{i}", served.url), &key).await;
        assert_eq!(e["leaf_hash"], leaves[i as usize].as_str(), "entry {i}");
        assert_eq!(e["body"]["id"], format!("mig-{i}"));
    }
    let dup = post(&http, &served.url, &key, "", &[event(7)]).await;
    assert_eq!(dup["results"][0]["status"], "duplicate");
    assert_eq!(dup["results"][0]["index"], 7);
    let more: Vec<Value> = (EVENTS..EVENTS + 10).map(event).collect();
    let body = post(&http, &served.url, &key, "?wait=checkpoint", &more).await;
    for (k, res) in body["results"].as_array().unwrap().iter().enumerate() {
        assert_eq!(res["status"], "sealed");
        assert_eq!(res["index"], EVENTS + k as u64);
    }
    let new_cp = SignedCheckpoint::open(&checkpoint(&http, &served.url, &key).await, &[&verifier])
        .unwrap()
        .checkpoint;
    assert_eq!(new_cp.size, EVENTS + 10);
    let proof = get_json(
        &http,
        &format!(
            "{}/v1/consistency?from={EVENTS}&to={}",
            served.url, new_cp.size
        ),
        &key,
    )
    .await;
    let path: Vec<Hash> = proof["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::from_base64(h.as_str().unwrap()).unwrap())
        .collect();
    verify_consistency(EVENTS, new_cp.size, &cp.root, &new_cp.root, &path)
        .expect("the PostgreSQL log extends the embedded one");
    served.terminate_cleanly();

    // The copy verifies on its own too.
    let (db2, name) = (db.clone(), schema.name.clone());
    let v2 = verifier.clone();
    let fsck = off_runtime(move || fsck_ok(&pg_store(&db2, &name, 2), &v2));
    assert_eq!(fsck.entries, EVENTS + 10);

    // A second migration into the now non-empty schema is refused.
    let out = migrate(data.path(), &db, &schema.name);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "second migrate: {stderr}");
    assert!(
        stderr.contains("already holds a log"),
        "second migrate: {stderr}"
    );
    eprintln!("migrate test done in {:?}", started.elapsed());
}
