//! Every signed checkpoint commits to the head of every agent and session
//! stream at its size (docs/formats.md §8). These tests recompute the heads
//! from the served entries and compare, across a restart of the server.

use sealtrail_core::checkpoint::SignedCheckpoint;
use sealtrail_core::header::EntryHeader;
use sealtrail_core::heads::{self, StreamHead, StreamHeads};
use sealtrail_core::note::Ed25519Verifier;
use sealtrail_testkit::{event, options, TestServer};

/// Ingests `n` events spread over agents and sessions and waits until a
/// checkpoint covers them.
async fn ingest_and_wait(url: &str, key: &str, round: u64, n: u64) {
    let http = reqwest::Client::new();
    let batch: Vec<_> = (0..n)
        .map(|i| {
            let mut e = event(&format!("agent-{}", i % 5), round * 1000 + i);
            e["session"] = serde_json::json!(format!("session-{}", (i + round) % 7));
            e["agent"]["instance"] = serde_json::json!(format!("r{round}"));
            e
        })
        .collect();
    let r = http
        .post(format!("{url}/v1/events?wait=checkpoint"))
        .bearer_auth(key)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// The signed checkpoint's size and stream-heads root.
async fn checkpoint(url: &str, key: &str, vkey: &str) -> (u64, sealtrail_core::Hash) {
    let http = reqwest::Client::new();
    let note = http
        .get(format!("{url}/tlog/checkpoint"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let verifier = Ed25519Verifier::from_vkey(vkey).unwrap();
    let cp = SignedCheckpoint::open(&note, &[&verifier])
        .unwrap()
        .checkpoint;
    let root = heads::root_from_extensions(&cp.extensions).expect("heads line present");
    (cp.size, root)
}

/// Recomputes the heads from the entries' own stream links.
async fn recompute(url: &str, key: &str, size: u64) -> StreamHeads {
    let http = reqwest::Client::new();
    let mut h = StreamHeads::new();
    for i in 0..size {
        let v: serde_json::Value = http
            .get(format!("{url}/v1/entries/{i}"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let header: EntryHeader = serde_json::from_value(v["header"].clone()).unwrap();
        let agent = heads::agent_key(&header.agent);
        assert_eq!(h.get(&agent).map(|x| x.last), header.streams.agent.prev);
        h.set(
            &agent,
            StreamHead {
                n: header.streams.agent.n,
                last: i,
            },
        );
        if let (Some(s), Some(link)) = (&header.session, header.streams.session) {
            h.set(&heads::session_key(s), StreamHead { n: link.n, last: i });
        }
    }
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_commit_to_the_stream_heads_across_restarts() {
    let mut s = TestServer::start().await;
    ingest_and_wait(&s.url, &s.key, 0, 120).await;
    let (size, root) = checkpoint(&s.url, &s.key, &s.vkey).await;
    assert_eq!(size, 120);
    let mut h = recompute(&s.url, &s.key, size).await;
    assert_eq!(h.root(), root);
    assert_eq!(h.len(), 5 + 7);
    let proof = h.prove(&heads::agent_key("agent-3"));
    assert_eq!(
        proof.verify(&heads::agent_key("agent-3"), &root, size),
        Ok(h.get(&heads::agent_key("agent-3")))
    );
    assert_eq!(
        proof
            .verify(&heads::agent_key("nobody"), &root, size)
            .ok()
            .flatten(),
        None
    );

    // Restart on the same directory: the heads are reloaded from the store
    // and keep advancing.
    let dir = s.dir.path().to_path_buf();
    let key = s.key.clone();
    s.stop().await;
    let (running, _) = sealtrail_server::start(options(&dir)).await.unwrap();
    let url = format!("http://{}", running.addr);
    ingest_and_wait(&url, &key, 1, 77).await;
    let (size, root) = checkpoint(&url, &key, &s.vkey).await;
    assert_eq!(size, 197);
    let mut h = recompute(&url, &key, size).await;
    assert_eq!(h.root(), root);
    running.stop().await.unwrap();
}
