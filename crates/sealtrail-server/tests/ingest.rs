//! Ingest end to end over HTTP: receipts, idempotency, per-event errors,
//! stream links, waiting for a checkpoint and verifying the proof offline.

use sealtrail_core::header::EntryHeader;
use sealtrail_core::note::Ed25519Verifier;
use sealtrail_core::tlog_proof::TlogProof;
use sealtrail_testkit::{event, get_json, post_json, TestServer};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_sealed_with_receipts_and_retries_are_not_logged_twice() {
    let mut s = TestServer::start().await;
    let (status, body) = s
        .ingest(json!([event("a", 1), event("a", 2), event("b", 1)]))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 3);
    let results = body["results"].as_array().unwrap();
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["status"], "sealed");
        assert_eq!(r["index"], i as u64);
        assert_eq!(r["leaf_hash"].as_str().unwrap().len(), 64);
    }
    // A retry of the same events returns the original receipts.
    let (status, again) = s.ingest(json!([event("a", 2), event("a", 3)])).await;
    assert_eq!(status, 200);
    assert_eq!(again["duplicates"], 1);
    assert_eq!(again["results"][0]["status"], "duplicate");
    assert_eq!(again["results"][0]["index"], 1);
    assert_eq!(again["results"][0]["leaf_hash"], results[1]["leaf_hash"]);
    assert_eq!(again["results"][1]["index"], 3);
    // A duplicate inside one request is sealed once.
    let (_, dup) = s.ingest(json!([event("c", 1), event("c", 1)])).await;
    assert_eq!(dup["accepted"], 1);
    assert_eq!(dup["results"][1]["status"], "duplicate");
    assert_eq!(dup["results"][1]["index"], dup["results"][0]["index"]);

    // Stream links: a:3 is agent a's third entry, linked to index 1.
    let entry = s.get_json("/v1/entries/3").await;
    assert_eq!(
        entry["header"]["streams"]["agent"],
        json!({"n": 3, "prev": 1})
    );
    assert_eq!(
        entry["header"]["streams"]["session"],
        json!({"n": 3, "prev": 1})
    );
    assert_eq!(entry["body"]["tool"]["arguments"]["customer"], 3);
    assert_eq!(entry["salt"].as_str().unwrap().len(), 64);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_event_gets_a_named_error_and_the_others_are_sealed() {
    let mut s = TestServer::start().await;
    let (status, body) = s
        .ingest(json!([event("a", 1), {"agent": {"id": ""}, "kind": "tool_call"}, {"agent": {"id": "x"}, "kind": "tool_call", "colour": 1}]))
        .await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["accepted"], 1);
    assert_eq!(body["rejected"], 2);
    assert_eq!(body["results"][1]["status"], "rejected");
    assert_eq!(body["results"][1]["error"]["field"], "agent.id");
    assert!(body["results"][2]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("colour"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_gaps_are_recorded_in_the_header() {
    let mut s = TestServer::start().await;
    s.ingest(json!([event("a", 1), event("a", 2), event("a", 5)]))
        .await;
    let e = s.get_json("/v1/entries/2").await;
    assert_eq!(e["header"]["seq_gap"], json!({"expected": 3, "got": 5}));
    let e = s.get_json("/v1/entries/1").await;
    assert!(e["header"].get("seq_gap").is_none());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_checkpoint_returns_a_proof_that_verifies_offline() {
    let mut s = TestServer::start().await;
    s.ingest(json!([event("a", 1), event("a", 2)])).await;
    let r = s
        .post("/v1/events?wait=checkpoint")
        .json(&json!([event("a", 3)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    let receipt = &body["results"][0];
    let proof = TlogProof::parse(receipt["proof"].as_str().unwrap().as_bytes()).unwrap();
    assert_eq!(proof.index, 2);
    // Rebuild the leaf from the entry's header, as an auditor would.
    let entry = s.get_json("/v1/entries/2").await;
    let bytes = sealtrail_core::jcs::to_canonical_vec(&entry["header"]).unwrap();
    let header = EntryHeader::parse(&bytes).unwrap();
    let leaf = header.leaf_hash().unwrap();
    assert_eq!(leaf.to_hex(), receipt["leaf_hash"]);
    let vkey = Ed25519Verifier::from_vkey(&s.vkey).unwrap();
    let cp = proof.verify(&leaf, &[&vkey]).unwrap();
    assert!(cp.size >= 3);
    // The same receipt does not verify for another leaf.
    let other = sealtrail_core::hash::leaf_hash(b"forged");
    assert!(proof.verify(&other, &[&vkey]).is_err());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_a_clean_restart_and_the_tree_continues() {
    let dir = tempfile::tempdir().unwrap();
    let opts = sealtrail_testkit::options(dir.path());
    let (running, key) = sealtrail_server::start(opts.clone()).await.unwrap();
    let key = key.unwrap();
    let http = reqwest::Client::new();
    let url = format!("http://{}", running.addr);
    let r = http
        .post(format!("{url}/v1/events?wait=checkpoint"))
        .bearer_auth(&key)
        .json(&json!([event("a", 1), event("a", 2)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    running.stop().await.unwrap();

    let (running, again) = sealtrail_server::start(opts).await.unwrap();
    assert!(again.is_none(), "the owner key is shown only once");
    let url = format!("http://{}", running.addr);
    let r = post_json(
        &http,
        &format!("{url}/v1/events?wait=checkpoint"),
        &key,
        &json!([event("a", 2), event("a", 3)]),
    )
    .await;
    assert_eq!(r["results"][0]["status"], "duplicate");
    assert_eq!(r["results"][1]["index"], 2);
    let e = get_json(&http, &format!("{url}/v1/entries/2"), &key).await;
    assert_eq!(e["header"]["streams"]["agent"], json!({"n": 3, "prev": 1}));
    // Consistency from the first run's checkpoint to the new one.
    let c = get_json(&http, &format!("{url}/v1/consistency?from=2&to=3"), &key).await;
    assert!(!c["path"].as_array().unwrap().is_empty());
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_report_ingest_batches_fsync_queue_and_tree_size() {
    let mut s = TestServer::start().await;
    s.ingest(json!([event("a", 1), event("a", 2), {"agent": {}, "kind": "x"}]))
        .await;
    let text = s
        .http
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "sealtrail_events_sealed_total 2",
        "sealtrail_events_rejected_total 1",
        "sealtrail_tree_size 2",
        "sealtrail_ingest_queue_depth 0",
        "sealtrail_batch_events_count 1",
        "sealtrail_store_commit_seconds_count 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(text.contains("process_resident_memory_bytes "));
    // No secret ever appears in metrics.
    assert!(!text.contains(&s.key));
    s.stop().await;
}
