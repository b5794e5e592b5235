//! Three real `sealtrail serve` processes on one PostgreSQL schema, ingesting
//! concurrently; one is killed with SIGKILL at a random moment. The other two
//! must keep acknowledging, take over checkpointing, and stop cleanly on
//! SIGTERM; afterwards every acknowledged event must be in the store with its
//! index and leaf hash, no event may be sealed twice, indices must be dense
//! and fsck must be clean.
//!
//! Needs PostgreSQL (`SEALTRAIL_TEST_DATABASE_URL`, else the local socket);
//! `SEALTRAIL_SKIP_POSTGRES=1` skips it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sealtrail_core::checkpoint::SignedCheckpoint;
use sealtrail_core::note::Ed25519Verifier;
use sealtrail_store::prelude::*;
use sealtrail_testkit::cli::{init, Server};
use sealtrail_testkit::{fsck_ok, off_runtime, pg_store, post_json, postgres_schema, random_hex};
use serde_json::{json, Value};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

const NODES: usize = 3;
const WORKERS_PER_NODE: usize = 3;

fn event(id: &str, worker: usize, n: usize) -> Value {
    json!({
        "id": id,
        "agent": {"id": format!("agent-{}", worker % 4)},
        "session": format!("s-{worker}"),
        "kind": "tool_call",
        "tool": {"name": "db.query", "arguments": {"q": "select 1", "n": n}},
        "output": "x".repeat(200),
    })
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    /// Event id -> (index, leaf hash, node).
    acked: HashMap<String, (u64, String, usize)>,
    /// Per node: requests acknowledged that were sent after the kill.
    after_kill: [usize; NODES],
    /// Refusals from nodes that were not killed.
    survivor_errors: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
async fn hammer(
    url: String,
    key: String,
    node: usize,
    worker: usize,
    seen: Arc<Mutex<Seen>>,
    killed: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let http = reqwest::Client::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let ids: Vec<String> = (0..50)
            .map(|i| format!("n{node}-w{worker}-{n}-{i}"))
            .collect();
        let batch: Vec<Value> = ids.iter().map(|id| event(id, worker, n)).collect();
        n += 1;
        let after_kill = killed.load(Ordering::SeqCst) != usize::MAX;
        let victim = killed.load(Ordering::SeqCst) == node;
        let sent = http
            .post(format!("{url}/v1/events"))
            .bearer_auth(&key)
            .json(&batch)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                if killed.load(Ordering::SeqCst) == node {
                    return; // the killed node: this request was not acknowledged
                }
                seen.lock()
                    .unwrap()
                    .survivor_errors
                    .push(format!("node {node}: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let status = resp.status();
        let body = resp.json::<Value>().await;
        let body = match (status.as_u16(), body) {
            (200, Ok(b)) => b,
            (s, b) => {
                if killed.load(Ordering::SeqCst) == node {
                    return;
                }
                seen.lock()
                    .unwrap()
                    .survivor_errors
                    .push(format!("node {node}: status {s}: {b:?}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let mut s = seen.lock().unwrap();
        for (id, r) in ids.iter().zip(body["results"].as_array().unwrap()) {
            assert_eq!(r["status"], "sealed", "{id}: {r}");
            s.acked.insert(
                id.clone(),
                (
                    r["index"].as_u64().unwrap(),
                    r["leaf_hash"].as_str().unwrap().to_string(),
                    node,
                ),
            );
        }
        if after_kill && !victim {
            s.after_kill[node] += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_one_node_loses_nothing_and_the_others_go_on() {
    let Some((db, schema)) = postgres_schema(
        "sigkill_of_one_node_loses_nothing_and_the_others_go_on",
        "mnc",
    ) else {
        return;
    };
    let started = Instant::now();
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let (key, vkey) = init(
        BIN,
        data.path(),
        &["--database", &db, "--pg-schema", &schema.name],
    );
    let verifier = Ed25519Verifier::from_vkey(&vkey).unwrap();
    let mut servers: Vec<Server> = (0..NODES)
        .map(|k| {
            Server::start(
                BIN,
                data.path(),
                "0.1",
                &["--database", &db, "--pg-schema", &schema.name],
                Some(logs.path().join(format!("node{k}.log"))),
            )
        })
        .collect();
    let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();

    let seen: Arc<Mutex<Seen>> = Arc::default();
    let killed = Arc::new(AtomicUsize::new(usize::MAX));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..NODES * WORKERS_PER_NODE)
        .map(|w| {
            let node = w % NODES;
            tokio::spawn(hammer(
                urls[node].clone(),
                key.clone(),
                node,
                w,
                seen.clone(),
                killed.clone(),
                stop.clone(),
            ))
        })
        .collect();

    // Node 0 started first, so it most likely holds the checkpointer lease:
    // killing it also tests the takeover.
    let victim = 0;
    // Load first (on a busy CI machine the nodes' first batches can take
    // seconds), then a random moment within it.
    let loaded = std::time::Instant::now();
    while seen.lock().unwrap().acked.len() <= 500 {
        assert!(
            loaded.elapsed() < Duration::from_secs(30),
            "the nodes acknowledged nothing for 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = random_hex(2);
    let delay = u64::from_str_radix(&r, 16).unwrap() % 700;
    eprintln!(
        "killing node {victim} after {delay} ms (schema {})",
        schema.name
    );
    tokio::time::sleep(Duration::from_millis(delay)).await;
    let before = seen.lock().unwrap().acked.len();
    killed.store(victim, Ordering::SeqCst);
    servers[victim].kill(); // SIGKILL
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("worker");
    }

    let (acked, after_kill, errors) = {
        let s = seen.lock().unwrap();
        (s.acked.clone(), s.after_kill, s.survivor_errors.clone())
    };
    eprintln!(
        "{} events acknowledged ({before} before the kill); requests acknowledged after it per node: {after_kill:?}",
        acked.len()
    );
    assert!(
        errors.is_empty(),
        "the surviving nodes refused requests: {:?}\n{}",
        &errors[..errors.len().min(5)],
        servers[1].stderr()
    );
    assert!(
        before > 500,
        "too little acknowledged before the kill: {before}"
    );
    for (node, n) in after_kill.iter().enumerate() {
        if node != victim {
            assert!(
                *n >= 3,
                "node {node} acknowledged only {n} requests after node {victim} was killed:\n{}",
                servers[node].stderr()
            );
        }
    }

    // Retrying an event the dead node acknowledged, through a survivor.
    let http = reqwest::Client::new();
    let (id, (index, leaf, _)) = acked
        .iter()
        .find(|(_, (_, _, node))| *node == victim)
        .expect("the victim acknowledged something");
    let body = post_json(
        &http,
        &format!("{}/v1/events", urls[1]),
        &key,
        &json!([event(id, 0, 0)]),
    )
    .await;
    assert_eq!(body["results"][0]["status"], "duplicate", "{body}");
    assert_eq!(body["results"][0]["index"], *index);
    assert_eq!(body["results"][0]["leaf_hash"], leaf.as_str());

    // The survivors take over checkpointing (the lease expires) and serve a
    // checkpoint covering everything.
    let head = {
        let (db, name) = (db.clone(), schema.name.clone());
        off_runtime(move || pg_store(&db, &name, 1).head().unwrap())
    };
    let waited = Instant::now();
    for url in &urls[1..] {
        loop {
            let r = http
                .get(format!("{url}/v1/checkpoint"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            if r.status() == 200 {
                let signed = SignedCheckpoint::open(&r.bytes().await.unwrap(), &[&verifier])
                    .expect("checkpoint verifies");
                if signed.checkpoint.size == head.size {
                    assert_eq!(signed.checkpoint.root, head.root);
                    break;
                }
            }
            assert!(
                waited.elapsed() < Duration::from_secs(15),
                "{url} serves no checkpoint of size {} 15 s after the kill",
                head.size
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    eprintln!(
        "survivors serve the final checkpoint after {:?}",
        waited.elapsed()
    );

    for (k, s) in servers.iter_mut().enumerate().skip(1) {
        let status = s.terminate();
        assert!(
            status.success(),
            "node {k} did not stop cleanly on SIGTERM: {status:?}\n{}",
            s.stderr()
        );
    }

    let (db2, name) = (db.clone(), schema.name.clone());
    let report = off_runtime(move || {
        let store = pg_store(&db2, &name, 2);
        let head = store.head().unwrap();
        let mut indices: HashMap<u64, &str> = HashMap::new();
        for (id, (index, _, _)) in &acked {
            if let Some(other) = indices.insert(*index, id) {
                panic!("index {index} acknowledged for {id} and {other}");
            }
        }
        let mut ids: HashMap<String, u64> = HashMap::new();
        let mut next = 0u64;
        while next < head.size {
            let end = (next + 4096).min(head.size);
            for e in store.entries(next, end).unwrap() {
                assert_eq!(e.index, next, "entries are not dense");
                let body: Value = serde_json::from_slice(e.body.as_ref().unwrap()).unwrap();
                let id = body["id"].as_str().unwrap().to_string();
                if let Some(first) = ids.insert(id.clone(), e.index) {
                    panic!("event {id} is sealed twice: at {first} and {}", e.index);
                }
                if let Some((index, leaf, node)) = acked.get(&id) {
                    assert_eq!(*index, e.index, "{id} acknowledged by node {node}");
                    assert_eq!(&e.leaf_hash.to_hex(), leaf, "{id}");
                }
                next += 1;
            }
        }
        assert_eq!(next, head.size);
        for id in acked.keys() {
            assert!(ids.contains_key(id), "acknowledged event {id} is gone");
        }
        let report = fsck_ok(&store, &verifier);
        assert_eq!(report.entries, head.size);
        assert!(report.checkpoints > 0);
        report
    });
    eprintln!(
        "{} entries, {} checkpoints verified; test took {:?}",
        report.entries,
        report.checkpoints,
        started.elapsed()
    );
}
