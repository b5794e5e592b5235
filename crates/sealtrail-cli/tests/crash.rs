//! Crash safety: the real `sealtrail serve` is killed with SIGKILL in the
//! middle of heavy concurrent ingest, at random moments, many times. After
//! each restart every acknowledged event must be present with its receipt's
//! index and leaf hash, no index may be duplicated or skipped, and the whole
//! store must verify (fsck re-derives every hash and the signed checkpoints).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sealtrail_core::note::Ed25519Verifier;
use sealtrail_store::prelude::*;
use sealtrail_store::sqlite::SqliteStore;
use sealtrail_testkit::cli::{init, Server};
use sealtrail_testkit::{fsck_ok, get_json, post_json};
use serde_json::{json, Value};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

/// Tiny deterministic PRNG (xorshift) for kill moments and ids.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

type Acked = Arc<Mutex<HashMap<String, (u64, String)>>>;

async fn hammer(
    url: String,
    key: String,
    worker: u64,
    round: u64,
    acked: Acked,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let http = reqwest::Client::new();
    let mut n = 0u64;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let batch: Vec<Value> = (0..50)
            .map(|i| {
                json!({
                    "id": format!("r{round}-w{worker}-{n}-{i}"),
                    "agent": {"id": format!("agent-{}", worker % 4)},
                    "session": format!("s-{round}-{worker}"),
                    "kind": "tool_call",
                    "tool": {"name": "db.query", "arguments": {"q": "select 1", "n": n}},
                    "output": "x".repeat(300),
                })
            })
            .collect();
        n += 1;
        let Ok(resp) = http
            .post(format!("{url}/v1/events"))
            .bearer_auth(&key)
            .json(&batch)
            .timeout(Duration::from_secs(5))
            .send()
            .await
        else {
            return; // the server died: this request was not acknowledged
        };
        if resp.status() != 200 {
            return;
        }
        let Ok(body) = resp.json::<Value>().await else {
            return;
        };
        let mut a = acked.lock().unwrap();
        for (e, r) in batch.iter().zip(body["results"].as_array().unwrap()) {
            a.insert(
                e["id"].as_str().unwrap().to_string(),
                (
                    r["index"].as_u64().unwrap(),
                    r["leaf_hash"].as_str().unwrap().to_string(),
                ),
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_ingest_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let (key, vkey) = init(BIN, dir.path(), &[]);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let acked: Acked = Arc::default();
    let rounds = std::env::var("SEALTRAIL_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12u64);
    let started = Instant::now();

    for round in 0..rounds {
        let mut server = Server::start(BIN, dir.path(), "0.05", &[], None);
        let url = server.url.clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let workers: Vec<_> = (0..6)
            .map(|w| {
                tokio::spawn(hammer(
                    url.clone(),
                    key.clone(),
                    w,
                    round,
                    acked.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        let delay = 60 + rng.next() % 400;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        server.kill(); // SIGKILL
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for w in workers {
            let _ = w.await;
        }
    }

    // Restart once more and check everything that was acknowledged.
    let mut server = Server::start(BIN, dir.path(), "0.05", &[], None);
    let url = server.url.clone();
    let http = reqwest::Client::new();
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 1000,
        "too little was acknowledged to test anything: {}",
        acked.len()
    );
    let mut by_index: HashMap<u64, &str> = HashMap::new();
    for (id, (index, _)) in &acked {
        if let Some(other) = by_index.insert(*index, id) {
            panic!("index {index} acknowledged for two events: {id} and {other}");
        }
    }
    // Spot-check over HTTP that a retried acknowledged event is a duplicate.
    let (id, (index, leaf)) = acked.iter().next().unwrap();
    let parts: Vec<&str> = id.split('-').collect();
    let worker: u64 = parts[1].trim_start_matches('w').parse().unwrap();
    let body = get_json(&http, &format!("{url}/v1/entries/{index}"), &key).await;
    assert_eq!(body["body"]["id"], id.as_str());
    assert_eq!(body["leaf_hash"], leaf.as_str());
    let retry = post_json(
        &http,
        &format!("{url}/v1/events"),
        &key,
        &json!([{"id": id, "agent": {"id": format!("agent-{}", worker % 4)}, "kind": "tool_call"}]),
    )
    .await;
    assert_eq!(retry["results"][0]["status"], "duplicate");
    assert_eq!(retry["results"][0]["index"], *index);

    // Clean stop with SIGTERM: drains and exits 0.
    server.terminate_cleanly();

    let store = SqliteStore::open(dir.path()).unwrap();
    for (id, (index, leaf)) in &acked {
        let e = store
            .entry(*index)
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged event {id} at index {index} is gone"));
        assert_eq!(&e.leaf_hash.to_hex(), leaf, "event {id}");
        let body: Value = serde_json::from_slice(e.body.as_ref().unwrap()).unwrap();
        assert_eq!(body["id"], id.as_str());
    }
    let v = Ed25519Verifier::from_vkey(&vkey).unwrap();
    let report = fsck_ok(&store, &v);
    assert!(report.checkpoints > 0);
    eprintln!(
        "{rounds} SIGKILLs, {} acknowledged events, {} entries, {} checkpoints verified in {:?}",
        acked.len(),
        report.entries,
        report.checkpoints,
        started.elapsed()
    );
}
