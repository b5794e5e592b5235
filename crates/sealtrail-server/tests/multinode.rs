//! Three in-process server nodes on one data directory and one PostgreSQL
//! schema, ingesting concurrently. Every acknowledged index must belong to
//! exactly one event and the indices must be dense (no fork, gap or
//! duplicate); any node must serve any entry with the leaf hash another node
//! acknowledged; every node must serve the final checkpoint, all checkpoints
//! must be mutually consistent, a retry through another node must be a
//! duplicate, and the store must pass fsck.
//!
//! Needs PostgreSQL (`SEALTRAIL_TEST_DATABASE_URL`, else the local socket);
//! `SEALTRAIL_SKIP_POSTGRES=1` skips it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sealtrail_core::checkpoint::SignedCheckpoint;
use sealtrail_core::hash::Hash;
use sealtrail_core::note::Ed25519Verifier;
use sealtrail_core::proof::verify_consistency;
use sealtrail_keys::Backend;
use sealtrail_store::postgres::PgOptions;
use sealtrail_store::prelude::*;
use sealtrail_testkit::{fsck_ok, off_runtime, pg_store, postgres_schema};
use serde_json::{json, Value};

const NODES: usize = 3;
const TASKS_PER_NODE: usize = 4;
const REQUESTS_PER_TASK: usize = 20;
const EVENTS_PER_REQUEST: usize = 50;
const TOTAL: usize = NODES * TASKS_PER_NODE * REQUESTS_PER_TASK * EVENTS_PER_REQUEST;

fn event(node: usize, task: usize, req: usize, i: usize) -> Value {
    json!({
        "id": format!("mn-n{node}-t{task}-r{req}-e{i}"),
        // Agents are shared by every node: their stream links cross nodes.
        "agent": {"id": format!("agent-{}", (task + i) % 5), "instance": format!("n{node}t{task}")},
        "session": format!("s-n{node}-t{task}"),
        "kind": "tool_call",
        "action": "lookup",
        "outcome": "success",
        "tool": {"name": "crm.lookup", "arguments": {"customer": req * 100 + i}},
    })
}

#[derive(Debug, Clone)]
struct Ack {
    id: String,
    node: usize,
    index: u64,
    leaf: String,
}

struct Node {
    url: String,
    running: Option<sealtrail_server::app::Running>,
}

fn get(http: &reqwest::Client, key: &str, url: String) -> reqwest::RequestBuilder {
    http.get(url)
        .bearer_auth(key)
        .timeout(Duration::from_secs(20))
}

/// The latest checkpoint a node serves (size, root), verified.
async fn checkpoint_of(
    http: &reqwest::Client,
    key: &str,
    node: &Node,
    verifier: &Ed25519Verifier,
) -> Option<(u64, Hash)> {
    let r = get(http, key, format!("{}/v1/checkpoint", node.url))
        .send()
        .await
        .expect("GET /v1/checkpoint");
    if r.status() == 404 {
        return None;
    }
    assert_eq!(r.status(), 200, "GET /v1/checkpoint on {}", node.url);
    let bytes = r.bytes().await.unwrap();
    let signed = SignedCheckpoint::open(&bytes, &[verifier]).unwrap_or_else(|e| {
        panic!(
            "{} serves a checkpoint that does not verify: {e}\n{}",
            node.url,
            String::from_utf8_lossy(&bytes)
        )
    });
    Some((signed.checkpoint.size, signed.checkpoint.root))
}

fn record(seen: &Mutex<BTreeMap<u64, Hash>>, size: u64, root: Hash, from: &str) {
    let mut s = seen.lock().unwrap();
    if let Some(other) = s.insert(size, root) {
        assert_eq!(
            other, root,
            "two checkpoints of size {size} with different roots (one from {from}): a fork"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_one_schema_sequence_one_log() {
    let Some((url, schema)) = postgres_schema("three_nodes_on_one_schema_sequence_one_log", "mn")
    else {
        return;
    };
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let opts = |dir: &std::path::Path| {
        let mut o = sealtrail_testkit::options(dir);
        o.backend = Backend::Postgres {
            url: url.clone(),
            schema: schema.name.clone(),
        };
        o
    };

    // The first start initialises (key file, schema, owner key); the others
    // start together on the initialised directory and reuse log.key.
    let (first, owner) = sealtrail_server::start(opts(dir.path())).await.unwrap();
    let key = owner.expect("the first start initialises and prints the owner key");
    let (b, c) = tokio::join!(
        sealtrail_server::start(opts(dir.path())),
        sealtrail_server::start(opts(dir.path()))
    );
    let (b, c) = (b.unwrap(), c.unwrap());
    assert!(
        b.1.is_none() && c.1.is_none(),
        "only the first start may create an owner key"
    );
    let (b, c) = (b.0, c.0);
    assert_eq!(first.vkey, b.vkey);
    assert_eq!(first.vkey, c.vkey);
    assert_eq!(first.origin, b.origin);
    let verifier = Ed25519Verifier::from_vkey(&first.vkey).unwrap();
    let mut nodes: Vec<Node> = [first, b, c]
        .into_iter()
        .map(|r| Node {
            url: format!("http://{}", r.addr),
            running: Some(r),
        })
        .collect();
    let urls: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
    eprintln!(
        "3 nodes up on schema {} in {:?}",
        schema.name,
        started.elapsed()
    );

    // Watch checkpoints on every node while ingesting.
    let http = reqwest::Client::new();
    let seen: Arc<Mutex<BTreeMap<u64, Hash>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (http, key, seen, done) = (http.clone(), key.clone(), seen.clone(), done.clone());
        let urls = urls.clone();
        let verifier = verifier.clone();
        tokio::spawn(async move {
            let mut k = 0;
            while !done.load(Ordering::Relaxed) {
                let node = Node {
                    url: urls[k % NODES].clone(),
                    running: None,
                };
                if let Some((size, root)) = checkpoint_of(&http, &key, &node, &verifier).await {
                    record(&seen, size, root, &node.url);
                }
                k += 1;
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        })
    };

    let ingest_started = Instant::now();
    let mut tasks = Vec::new();
    for (node, url) in urls.iter().enumerate() {
        for task in 0..TASKS_PER_NODE {
            let (http, key, url) = (http.clone(), key.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                let mut acks = Vec::new();
                for req in 0..REQUESTS_PER_TASK {
                    let batch: Vec<Value> = (0..EVENTS_PER_REQUEST)
                        .map(|i| event(node, task, req, i))
                        .collect();
                    let resp = http
                        .post(format!("{url}/v1/events"))
                        .bearer_auth(&key)
                        .json(&batch)
                        .timeout(Duration::from_secs(30))
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("node {node} request failed: {e}"));
                    let status = resp.status();
                    let body: Value = resp.json().await.unwrap();
                    assert_eq!(
                        status, 200,
                        "node {node} task {task} request {req} was refused: {body}"
                    );
                    let results = body["results"].as_array().unwrap();
                    assert_eq!(results.len(), EVENTS_PER_REQUEST);
                    for (e, r) in batch.iter().zip(results) {
                        assert_eq!(r["status"], "sealed", "first submission of {}", e["id"]);
                        acks.push(Ack {
                            id: e["id"].as_str().unwrap().to_string(),
                            node,
                            index: r["index"].as_u64().unwrap(),
                            leaf: r["leaf_hash"].as_str().unwrap().to_string(),
                        });
                    }
                }
                acks
            }));
        }
    }
    let mut acks: Vec<Ack> = Vec::with_capacity(TOTAL);
    for t in tasks {
        acks.extend(t.await.expect("ingest task"));
    }
    let ingest_time = ingest_started.elapsed();
    eprintln!(
        "{TOTAL} events acknowledged through {NODES} nodes in {ingest_time:?} ({:.0} events/s)",
        TOTAL as f64 / ingest_time.as_secs_f64()
    );

    // Every index in 0..size was acknowledged to exactly one event.
    assert_eq!(acks.len(), TOTAL);
    let mut by_index: HashMap<u64, &Ack> = HashMap::new();
    for a in &acks {
        if let Some(other) = by_index.insert(a.index, a) {
            panic!(
                "index {} acknowledged twice: {} (node {}) and {} (node {})",
                a.index, a.id, a.node, other.id, other.node
            );
        }
    }
    let size = TOTAL as u64;
    if let Some(missing) = (0..size).find(|i| !by_index.contains_key(i)) {
        let max = acks.iter().map(|a| a.index).max().unwrap();
        panic!("index {missing} was acknowledged to no event (largest index {max}): a gap");
    }
    for node in 0..NODES {
        let n = acks.iter().filter(|a| a.node == node).count();
        assert_eq!(n, TOTAL / NODES, "node {node} acknowledged {n} events");
    }

    // Any node serves what another acknowledged.
    let mut reads = Vec::new();
    for chunk in (0..size).step_by(7).collect::<Vec<_>>().chunks(200) {
        let chunk = chunk.to_vec();
        let (http, key, urls) = (http.clone(), key.clone(), urls.clone());
        let acked: Vec<Ack> = chunk.iter().map(|i| by_index[i].clone()).collect();
        reads.push(tokio::spawn(async move {
            for a in acked {
                let other = &urls[(a.node + 1 + (a.index as usize % 2)) % NODES];
                let r = get(&http, &key, format!("{other}/v1/entries/{}", a.index))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "entry {} from {other}", a.index);
                let e: Value = r.json().await.unwrap();
                assert_eq!(
                    e["leaf_hash"],
                    a.leaf.as_str(),
                    "entry {} from {other}",
                    a.index
                );
                assert_eq!(
                    e["body"]["id"],
                    a.id.as_str(),
                    "entry {} from {other}",
                    a.index
                );
                assert_eq!(e["header"]["index"], a.index);
            }
        }));
    }
    for r in reads {
        r.await.expect("cross-node reads");
    }

    // Every node serves a checkpoint of the final size within a few seconds.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut finals = Vec::new();
    for node in &nodes {
        loop {
            let cp = checkpoint_of(&http, &key, node, &verifier).await;
            if let Some((s, root)) = cp {
                record(&seen, s, root, &node.url);
                if s == size {
                    finals.push(root);
                    break;
                }
                assert!(s < size, "{} serves a checkpoint of {s} > {size}", node.url);
            }
            assert!(
                Instant::now() < deadline,
                "{} still serves {cp:?} {:?} after ingest, not size {size}",
                node.url,
                ingest_started.elapsed() - ingest_time
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    done.store(true, Ordering::Relaxed);
    watcher.await.unwrap();
    assert!(finals.windows(2).all(|w| w[0] == w[1]));

    // Retrying an acknowledged event through another node is a duplicate.
    for node in 0..NODES {
        let a = acks.iter().find(|a| a.node == node).unwrap();
        let parts: Vec<usize> =
            a.id.split('-')
                .skip(1)
                .map(|p| p[1..].parse().unwrap())
                .collect();
        let other = &urls[(node + 1) % NODES];
        let r = http
            .post(format!("{other}/v1/events"))
            .bearer_auth(&key)
            .json(&json!([event(parts[0], parts[1], parts[2], parts[3])]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        let res = &body["results"][0];
        assert_eq!(
            res["status"], "duplicate",
            "retry of {} on {other}: {body}",
            a.id
        );
        assert_eq!(res["index"], a.index);
        assert_eq!(res["leaf_hash"], a.leaf.as_str());
    }

    // Checkpoints seen anywhere, and those stored, are mutually consistent:
    // each extends the previous one, proven by a node's consistency proof.
    let stored = {
        let (url, name) = (url.clone(), schema.name.clone());
        off_runtime(move || pg_store(&url, &name, 2).checkpoints().unwrap())
    };
    for cp in &stored {
        let opened = SignedCheckpoint::open(&cp.note, &[&verifier]).unwrap();
        assert_eq!(opened.checkpoint.size, cp.size);
        record(&seen, cp.size, opened.checkpoint.root, "the store");
    }
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.len() >= 2,
        "too few checkpoints to compare: {:?}",
        seen.keys()
    );
    assert_eq!(seen.keys().next_back(), Some(&size));
    let sizes: Vec<(u64, Hash)> = seen.into_iter().filter(|(s, _)| *s > 0).collect();
    let mut pairs: Vec<((u64, Hash), (u64, Hash))> =
        sizes.windows(2).map(|w| (w[0], w[1])).collect();
    pairs.push((sizes[0], *sizes.last().unwrap()));
    for (k, ((from, from_root), (to, to_root))) in pairs.into_iter().enumerate() {
        let node = &urls[k % NODES];
        let r = get(
            &http,
            &key,
            format!("{node}/v1/consistency?from={from}&to={to}"),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), 200, "consistency {from}..{to} from {node}");
        let body: Value = r.json().await.unwrap();
        let path: Vec<Hash> = body["path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| Hash::from_base64(h.as_str().unwrap()).unwrap())
            .collect();
        verify_consistency(from, to, &from_root, &to_root, &path).unwrap_or_else(|e| {
            panic!("checkpoints {from} and {to} are not consistent ({node}): {e}")
        });
    }
    eprintln!("{} checkpoints, all consistent", sizes.len());

    for n in &mut nodes {
        n.running.take().unwrap().stop().await.expect("clean stop");
    }

    // The store: every receipt holds, and fsck is clean.
    let (url2, name) = (url.clone(), schema.name.clone());
    let vkey = verifier.clone();
    let final_root = finals[0];
    off_runtime(move || {
        let store = pg_store(&url2, &name, PgOptions::default().pool_size);
        let head = store.head().unwrap();
        assert_eq!(head.size, size, "the store's head after the stop");
        assert_eq!(head.root, final_root);
        let leaves = store.leaf_hashes(0, size).unwrap();
        for a in &acks {
            assert_eq!(
                leaves[a.index as usize].to_hex(),
                a.leaf,
                "stored leaf of {} at {}",
                a.id,
                a.index
            );
        }
        let report = fsck_ok(&store, &vkey);
        assert_eq!(report.entries, size);
        assert!(report.checkpoints >= 2);
        assert_eq!(report.root, Some(final_root));
    });
    eprintln!("multinode test done in {:?}", started.elapsed());
}
