//! The client against a stand-in server that answers what docs/api.md promises
//! (and a few things it does not), over real HTTP.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sealtrail_client::{Client, ClientError, EventResult, Hash, Wait, CONTENT_TYPE_NDJSON};
use serde_json::json;

const H: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn json_answer(status: u16, body: serde_json::Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn sealed(i: u64) -> serde_json::Value {
    json!({"status": "sealed", "index": i, "leaf_hash": H, "time": 1795000000123456u64})
}

fn rejected() -> serde_json::Value {
    json!({"status": "rejected", "error": {"code": "invalid_event", "field": "agent.id", "message": "agent.id: required field is missing"}})
}

/// Echoes what it received in the results so tests can check the request.
async fn events_ok(RawQuery(q): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer secret") {
        return json_answer(
            401,
            json!({"error": {"code": "unauthorized", "message": "missing or unknown API key"}}),
        );
    }
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let n = if ct == "application/json" {
        serde_json::from_slice::<Vec<serde_json::Value>>(&body)
            .map(|v| v.len())
            .unwrap_or(0)
    } else {
        body.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count()
    };
    let wait = q.as_deref() == Some("wait=checkpoint");
    let results: Vec<_> = (0..n as u64)
        .map(|i| {
            let mut r = sealed(100 + i);
            if wait {
                r["proof"] = json!("c2sp.org/tlog-proof@v1\nindex 100\n\nx\n");
            }
            r["ct_seen"] = json!(ct);
            r
        })
        .collect();
    json_answer(
        200,
        json!({"accepted": n, "duplicates": 0, "rejected": 0, "results": results}),
    )
}

async fn server() -> String {
    let app = Router::new()
        .route("/ok/v1/events", post(events_ok))
        .route(
            "/partial/v1/events",
            post(|| async {
                json_answer(207, json!({"accepted": 1, "duplicates": 1, "rejected": 1, "results": [
                    sealed(41),
                    {"status": "duplicate", "index": 7, "leaf_hash": H, "time": 1u64},
                    rejected(),
                ]}))
            }),
        )
        .route(
            "/none/v1/events",
            post(|| async {
                json_answer(400, json!({"accepted": 0, "duplicates": 0, "rejected": 1, "results": [rejected()]}))
            }),
        )
        .route(
            "/refused/v1/events",
            post(|| async {
                json_answer(400, json!({"error": {"code": "invalid_json", "message": "body is not a JSON array or object", "field": null}}))
            }),
        )
        .route(
            "/busy/v1/events",
            post(|| async {
                let mut r = json_answer(429, json!({"error": {"code": "overloaded", "message": "ingest queue is full"}}));
                r.headers_mut().insert("retry-after", "2".parse().unwrap());
                r
            }),
        )
        .route(
            "/proxy/v1/events",
            post(|| async { (StatusCode::BAD_GATEWAY, "<html>Bad Gateway</html>").into_response() }),
        )
        .route(
            "/garbage/v1/events",
            post(|| async { (StatusCode::OK, "{\"accepted\": \"many\"}").into_response() }),
        )
        .route(
            "/slow/v1/checkpoint",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route(
            "/ok/v1/checkpoint",
            get(|| async { "example.com/log\n3\nAAAA\n\n— example.com/log sig\n" }),
        )
        .route(
            "/ok/v1/entries/{index}",
            get(|Path(index): Path<u64>| async move {
                if index > 10 {
                    return json_answer(404, json!({"error": {"code": "not_found", "message": format!("no entry {index}")}}));
                }
                json_answer(200, json!({"index": index, "leaf_hash": H, "header": {"v": 1}, "body": null, "salt": null}))
            }),
        )
        .route(
            "/ok/v1/entries/{index}/proof",
            get(|Path(index): Path<u64>, RawQuery(q): RawQuery| async move {
                let root = Hash::from_hex(H).unwrap().to_base64();
                let size: u64 = q
                    .as_deref()
                    .and_then(|q| q.strip_prefix("size="))
                    .map(|s| s.parse().unwrap())
                    .unwrap_or(1000);
                json_answer(200, json!({"index": index, "size": size, "leaf_hash": H, "root": root, "path": [root]}))
            }),
        )
        .route(
            "/ok/v1/consistency",
            get(|RawQuery(q): RawQuery| async move {
                assert_eq!(q.as_deref(), Some("from=10&to=1000"));
                json_answer(200, json!({"from": 10, "to": 1000, "path": []}))
            }),
        )
        .route(
            "/ok/metrics",
            get(|| async { "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 1024\n" }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn ingest_answers() {
    let base = server().await;
    let c = Client::new(&format!("{base}/ok"), "secret").unwrap();
    let events = [
        json!({"agent": {"id": "a"}, "kind": "custom"}),
        json!({"x": 1}),
    ];
    let r = c.ingest(&events).await.unwrap();
    assert_eq!(r.accepted, 2);
    assert_eq!(r.results.len(), 2);
    assert!(r
        .results
        .iter()
        .all(|x| x.receipt().unwrap().proof.is_none()));

    let r = c.ingest_wait_checkpoint(&events).await.unwrap();
    assert!(r
        .results
        .iter()
        .all(|x| x.receipt().unwrap().proof.is_some()));

    let r = c
        .ingest_raw(
            b"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n".to_vec(),
            CONTENT_TYPE_NDJSON,
            Wait::Durable,
        )
        .await
        .unwrap();
    assert_eq!(r.results.len(), 3);

    let wrong_key = Client::new(&format!("{base}/ok"), "nope").unwrap();
    let e = wrong_key.ingest(&events).await.unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert_eq!(e.code(), "unauthorized");

    let c = Client::new(&format!("{base}/partial"), "k").unwrap();
    let r = c.ingest(&events).await.unwrap();
    assert_eq!((r.accepted, r.duplicates, r.rejected), (1, 1, 1));
    assert!(matches!(r.results[1], EventResult::Duplicate(_)));
    assert!(
        matches!(&r.results[2], EventResult::Rejected(e) if e.field.as_deref() == Some("agent.id"))
    );

    // 400 with per-event results is an answer, not a failure of the call.
    let c = Client::new(&format!("{base}/none"), "k").unwrap();
    let r = c.ingest(&events).await.unwrap();
    assert_eq!(r.rejected, 1);

    let c = Client::new(&format!("{base}/refused"), "k").unwrap();
    let e = c.ingest(&events).await.unwrap_err();
    assert_eq!((e.status(), e.code().as_str()), (Some(400), "invalid_json"));

    let c = Client::new(&format!("{base}/busy"), "k").unwrap();
    let e = c.ingest(&events).await.unwrap_err();
    assert!(e.is_overloaded());
    assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));

    let c = Client::new(&format!("{base}/proxy"), "k").unwrap();
    let e = c.ingest(&events).await.unwrap_err();
    assert_eq!(e.code(), "http_502");
    assert!(e.to_string().contains("Bad Gateway"), "{e}");

    let c = Client::new(&format!("{base}/garbage"), "k").unwrap();
    let e = c.ingest(&events).await.unwrap_err();
    assert!(
        matches!(e, ClientError::Decode { status: 200, .. }),
        "{e:?}"
    );
}

#[tokio::test]
async fn read_endpoints() {
    let base = server().await;
    let c = Client::new(&format!("{base}/ok/"), "secret").unwrap();
    assert!(c
        .checkpoint()
        .await
        .unwrap()
        .starts_with("example.com/log\n"));
    let e = c.entry(3).await.unwrap();
    assert_eq!((e.index, e.header["v"].as_u64()), (3, Some(1)));
    let err = c.entry(11).await.unwrap_err();
    assert_eq!(
        (err.status(), err.code().as_str()),
        (Some(404), "not_found")
    );
    let p = c.inclusion_proof(3, None).await.unwrap();
    assert_eq!((p.index, p.size, p.path.len()), (3, 1000, 1));
    assert_eq!(p.root.to_hex(), H);
    let p = c.inclusion_proof(3, Some(17)).await.unwrap();
    assert_eq!(p.size, 17);
    let cons = c.consistency(10, 1000).await.unwrap();
    assert_eq!((cons.from, cons.to), (10, 1000));
    let m = c.metrics().await.unwrap();
    assert_eq!(
        sealtrail_client::metrics::prometheus_value(&m, "process_resident_memory_bytes"),
        Some(1024.0)
    );
}

#[tokio::test]
async fn transport_failures() {
    // A port that was just free: nothing listens there.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let c = Client::new(&format!("http://{addr}"), "k").unwrap();
    let e = c.checkpoint().await.unwrap_err();
    assert!(e.is_transport());
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("cannot reach sealtrail at http://{addr}: ")),
        "{msg}"
    );
    assert!(msg.to_lowercase().contains("refused"), "{msg}");

    let base = server().await;
    let c = Client::builder(&format!("{base}/slow"), "k")
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let e = c.checkpoint().await.unwrap_err();
    assert!(matches!(e, ClientError::Timeout { .. }), "{e:?}");
    assert_eq!(e.code(), "timeout");
}
