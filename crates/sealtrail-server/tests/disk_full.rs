//! A full disk: ingest answers 503 `storage_full` with Retry-After, nothing
//! acknowledged is damaged, and ingest resumes once space is freed.
//!
//! Needs root to mount a small tmpfs; elsewhere it prints SKIPPED (and
//! fails in CI, where it must run).

use std::process::Command;

use sealtrail_core::note::Ed25519Verifier;
use sealtrail_store::sqlite::SqliteStore;
use sealtrail_testkit::{event, fsck_ok, options, skip_or_fail};
use serde_json::json;

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(dir: &std::path::Path, size: &str) -> Option<Mount> {
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok.then(|| Mount(dir.to_path_buf()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_answers_503_keeps_acknowledged_events_and_recovers() {
    let outer = tempfile::tempdir().unwrap();
    let Some(_mount) = mount_tmpfs(outer.path(), "6m") else {
        skip_or_fail(
            "full_disk_answers_503_keeps_acknowledged_events_and_recovers",
            "cannot mount a tmpfs here (needs root)",
        );
        return;
    };
    let data = outer.path().join("data");
    // Ballast we delete later to "free space".
    let ballast = outer.path().join("ballast");
    std::fs::write(&ballast, vec![0u8; 2 << 20]).unwrap();

    let (running, key) = sealtrail_server::start(options(&data)).await.unwrap();
    let key = key.unwrap();
    let url = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let pad = "x".repeat(2000);
    let mut acked: Vec<(u64, String)> = Vec::new();
    let mut full_answer = None;
    for n in 0..2000u64 {
        let mut batch = Vec::new();
        for k in 0..20 {
            let mut e = event("filler", n * 20 + k);
            e["output"] = json!(pad);
            batch.push(e);
        }
        let r = http
            .post(format!("{url}/v1/events"))
            .bearer_auth(&key)
            .json(&batch)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let body: serde_json::Value = r.json().await.unwrap();
        if status == 503 {
            full_answer = Some((retry, body));
            break;
        }
        assert_eq!(status, 200, "{body}");
        for r in body["results"].as_array().unwrap() {
            acked.push((
                r["index"].as_u64().unwrap(),
                r["leaf_hash"].as_str().unwrap().to_string(),
            ));
        }
    }
    let (retry, body) = full_answer.expect("the disk never filled up");
    assert_eq!(body["error"]["code"], "storage_full", "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("storage is full"));
    assert!(retry.is_some(), "503 must carry Retry-After");
    assert!(!acked.is_empty());

    // Free space: ingest works again, continuing the same tree.
    std::fs::remove_file(&ballast).unwrap();
    let r = http
        .post(format!("{url}/v1/events?wait=checkpoint"))
        .bearer_auth(&key)
        .json(&json!([event("after", 1)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let after: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        after["results"][0]["index"].as_u64().unwrap(),
        acked.len() as u64
    );
    let vkey = running.vkey.clone();
    running.stop().await.unwrap();

    // Every acknowledged event is there with its receipt; the store verifies.
    let store = SqliteStore::open(&data).unwrap();
    use sealtrail_store::prelude::*;
    for (index, leaf) in &acked {
        let e = store
            .entry(*index)
            .unwrap()
            .expect("acknowledged entry missing");
        assert_eq!(&e.leaf_hash.to_hex(), leaf);
    }
    let v = Ed25519Verifier::from_vkey(&vkey).unwrap();
    let report = fsck_ok(&store, &v);
    assert_eq!(report.entries, acked.len() as u64 + 1);
}
