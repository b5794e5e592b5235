//! Security controls under ingest overload: with the ingest queue full (the
//! log's writes stalled by a row lock another PostgreSQL session holds on
//! the log head), revoking a key is not refused; once writes resume it
//! answers 200, ahead of the ingest that was waiting, the key is refused on
//! its next request, and the revocation's audit event is in the log.
//!
//! Needs PostgreSQL (`SEALTRAIL_TEST_DATABASE_URL`, else the local socket).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use sealtrail_testkit::postgres_schema;
use serde_json::{json, Value};

/// Events per flooding request, and the ingest queue limit.
const PER_REQUEST: usize = 5;
const QUEUE_LIMIT: usize = 20;

/// Holds `SELECT … FOR UPDATE` on the log head of `schema` (every batch
/// write takes that row lock) until told to let go.
fn stall_writes(url: &str, schema: &str) -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (url, schema) = (url.to_string(), schema.to_string());
    let (held_tx, held) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let mut tx = c.transaction().unwrap();
        tx.batch_execute(&format!(
            "SET LOCAL search_path TO \"{schema}\"; SELECT 1 FROM head WHERE id = 1 FOR UPDATE"
        ))
        .unwrap();
        held_tx.send(()).unwrap();
        let _ = released.recv_timeout(Duration::from_secs(60));
        tx.rollback().unwrap();
    });
    held.recv().unwrap();
    (release, thread)
}

fn flood_event(n: usize) -> Value {
    json!({"id": format!("flood-{n}"), "agent": {"id": "flooder"}, "kind": "tool_call"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_holds_at_once_while_ingest_is_overloaded() {
    let Some((url, schema)) = postgres_schema("revocation_under_overload", "lane") else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "this test needs PostgreSQL in CI"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut opts = sealtrail_testkit::options(dir.path());
    opts.backend = sealtrail_keys::Backend::Postgres {
        url: url.clone(),
        schema: schema.name.clone(),
    };
    opts.sequencer.queue_limit = QUEUE_LIMIT;
    let (running, owner) = sealtrail_server::start(opts).await.unwrap();
    let owner = owner.unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();

    let made: Value = http
        .post(format!("{base}/v1/keys"))
        .bearer_auth(&owner)
        .json(&json!({"name": "to-revoke", "role": "member"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, secret) = (
        made["info"]["id"].as_str().unwrap().to_string(),
        made["key"].as_str().unwrap().to_string(),
    );
    let whoami = |key: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let r = http
                .get(format!("{base}/v1/whoami"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(whoami(secret.clone()).await.0, 200);

    // Writes stall; ingest fills the queue until it is refused.
    let (release, holder) = stall_writes(&url, &schema.name);
    let mut flood = Vec::new();
    let started = Instant::now();
    let overloaded = loop {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "ingest was never refused as overloaded"
        );
        let n = flood.len();
        let body: Vec<Value> = (0..PER_REQUEST)
            .map(|i| flood_event(n * PER_REQUEST + i))
            .collect();
        let request = http
            .post(format!("{base}/v1/events"))
            .bearer_auth(&owner)
            .json(&body)
            .send();
        let mut pending = tokio::spawn(request);
        match tokio::time::timeout(Duration::from_millis(300), &mut pending).await {
            Ok(answer) => {
                let r = answer.unwrap().unwrap();
                assert_eq!(r.status(), 503, "with writes stalled nothing can be sealed");
                break r.json::<Value>().await.unwrap();
            }
            Err(_) => flood.push(pending),
        }
    };
    assert_eq!(overloaded["error"]["code"], "overloaded", "{overloaded}");
    assert!(flood.len() * PER_REQUEST >= QUEUE_LIMIT - PER_REQUEST);

    // The revocation is not refused: it waits for the stalled write ...
    let revoke = tokio::spawn(
        http.delete(format!("{base}/v1/keys/{id}"))
            .bearer_auth(&owner)
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    if revoke.is_finished() {
        let r = revoke.await.unwrap().unwrap();
        let status = r.status();
        panic!(
            "the revocation was answered {status} while ingest was overloaded: {}",
            r.text().await.unwrap()
        );
    }
    // ... and goes through as soon as writes resume.
    release.send(()).unwrap();
    let r = tokio::time::timeout(Duration::from_secs(20), revoke)
        .await
        .expect("the revocation was not answered after writes resumed")
        .unwrap()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (status, v) = whoami(secret.clone()).await;
    assert_eq!(status, 401, "{v}");
    assert_eq!(v["error"]["code"], "key_revoked");

    // The flood drains; the audit event was sealed ahead of it.
    let mut flood_indices = Vec::new();
    for pending in flood {
        let r = pending.await.unwrap().unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        for result in v["results"].as_array().unwrap() {
            flood_indices.push(result["index"].as_u64().unwrap());
        }
    }
    holder.join().unwrap();
    let found: Value = http
        .get(format!(
            "{base}/v1/events?agent=sealtrail&action=key.revoke"
        ))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = found["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{found}");
    let audit_index = events[0]["index"].as_u64().unwrap();
    let behind = flood_indices.iter().filter(|i| **i > audit_index).count();
    assert!(
        behind >= flood_indices.len() - PER_REQUEST,
        "only {behind} of {} waiting ingest events were sealed after the revocation (index {audit_index})",
        flood_indices.len()
    );
    running.stop().await.unwrap();
}
