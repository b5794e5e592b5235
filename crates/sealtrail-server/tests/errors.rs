//! Every error path of the ingest and read API: status code, stable code,
//! and a message that tells the user what to do. Nothing acknowledged is lost.

use sealtrail_testkit::{event, TestServer};
use serde_json::{json, Value};

async fn body(r: reqwest::Response) -> (u16, Value) {
    let s = r.status().as_u16();
    (s, r.json().await.unwrap())
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    body(request.send().await.unwrap()).await
}

fn assert_error(got: &(u16, Value), status: u16, code: &str, needle: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
    let msg = got.1["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(needle),
        "message {msg:?} should mention {needle:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_errors() {
    let mut s = TestServer::start().await;
    let url = format!("{}/v1/events", s.url);
    let none = send(s.http.post(&url).json(&json!([event("a", 1)]))).await;
    assert_error(&none, 401, "unauthorized", "Authorization: Bearer");
    let basic = send(s.http.post(&url).header("authorization", "Basic abc")).await;
    assert_error(&basic, 401, "unauthorized", "Bearer scheme");
    let foreign = send(s.http.post(&url).bearer_auth("sk-live-123")).await;
    assert_error(&foreign, 401, "unauthorized", "start with stk_");
    let unknown = send(s.http.post(&url).bearer_auth("stk_nope")).await;
    assert_error(&unknown, 401, "unauthorized", "unknown API key");
    // Reads need a key too, tiles included (they are not public by default).
    let r = s
        .http
        .get(format!("{}/tlog/checkpoint", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Health and metrics do not.
    assert_eq!(
        s.http
            .get(format!("{}/healthz", s.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        s.http
            .get(format!("{}/readyz", s.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_shape_errors() {
    let mut s = TestServer::start_with(|o| {
        o.limits.max_body_bytes = 64 * 1024;
        o.limits.max_events_per_request = 5;
        o.limits.max_event_bytes = 4096;
    })
    .await;
    let post = |ct: &'static str, b: Vec<u8>| {
        s.post("/v1/events")
            .header("content-type", ct)
            .body(b)
            .send()
    };

    let huge = body(
        post("application/json", vec![b' '; 100 * 1024])
            .await
            .unwrap(),
    )
    .await;
    assert_error(&huge, 413, "body_too_large", "exceeds 65536 bytes");
    let many = serde_json::to_vec(&(0..6).map(|i| event("a", i)).collect::<Vec<_>>()).unwrap();
    let many = body(post("application/json", many).await.unwrap()).await;
    assert_error(&many, 413, "too_many_events", "limit is 5");
    let ct = body(post("text/csv", b"a,b".to_vec()).await.unwrap()).await;
    assert_error(&ct, 415, "unsupported_media_type", "application/x-ndjson");
    let broken = body(
        post("application/json", b"[{\"agent\":".to_vec())
            .await
            .unwrap(),
    )
    .await;
    assert_error(&broken, 400, "invalid_json", "not a JSON array");
    let empty = body(post("application/json", b"[]".to_vec()).await.unwrap()).await;
    assert_error(&empty, 400, "empty_request", "no events");
    let scalar = body(post("application/json", b"\"hi\"".to_vec()).await.unwrap()).await;
    assert_error(
        &scalar,
        400,
        "invalid_json",
        "array of events or one event object",
    );
    let wait = send(
        s.post("/v1/events?wait=forever")
            .json(&json!([event("a", 1)])),
    )
    .await;
    assert_error(&wait, 400, "invalid_parameter", "wait=checkpoint");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_event_errors_name_the_problem_and_spare_the_others() {
    let mut s = TestServer::start_with(|o| o.limits.max_event_bytes = 4096).await;
    let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    let lines = [
        r#"{"agent":{"id":"a"},"kind":"tool_call"}"#.to_string(),
        r#"{"agent":{"id":"a"},"kind":"tool_call","seq":"3"}"#.to_string(),
        r#"{"agent":{"id":"a","id":"b"},"kind":"tool_call"}"#.to_string(),
        format!(r#"{{"agent":{{"id":"a"}},"kind":"custom","input":{deep}}}"#),
        format!(
            r#"{{"agent":{{"id":"a"}},"kind":"custom","output":"{}"}}"#,
            "x".repeat(5000)
        ),
        "{\"agent\":{\"id\":\"a\u{e9}\"},\"kind\":\"custom\"}".to_string(),
        r#"{"agent":{"id":"a"},"kind":"custom","attributes":{"n":9007199254740993}}"#.to_string(),
        r#"{"agent":{"id":"a"}}"#.to_string(),
    ];
    let mut nd = Vec::new();
    for l in &lines {
        nd.extend_from_slice(l.as_bytes());
        nd.push(b'\n');
    }
    // Invalid UTF-8 must survive into the request body as raw bytes.
    let pos = nd.windows(2).position(|w| w == b"a\xc3").map(|p| p + 1);
    if let Some(p) = pos {
        nd[p] = 0xff;
        nd.remove(p + 1);
    }
    let r = s
        .post("/v1/events")
        .header("content-type", "application/x-ndjson")
        .body(nd)
        .send()
        .await
        .unwrap();
    let (status, b) = body(r).await;
    assert_eq!(status, 207, "{b}");
    let res = b["results"].as_array().unwrap();
    assert_eq!(res[0]["status"], "sealed");
    let err = |i: usize| {
        (
            res[i]["error"]["code"].as_str().unwrap().to_string(),
            res[i]["error"]["message"].as_str().unwrap().to_string(),
        )
    };
    assert!(
        err(1).1.contains("seq") && err(1).1.contains("expected"),
        "{:?}",
        err(1)
    );
    assert!(err(2).1.contains("duplicate"), "{:?}", err(2));
    assert!(
        err(3).1.contains("deep") || err(3).1.contains("depth") || err(3).1.contains("nest"),
        "{:?}",
        err(3)
    );
    assert_eq!(err(4).0, "event_too_large");
    assert!(err(4).1.contains("limit is 4096"), "{:?}", err(4));
    assert!(err(5).1.to_lowercase().contains("utf-8"), "{:?}", err(5));
    assert!(
        err(6).1.contains("9007199254740993") && err(6).1.contains("string"),
        "{:?}",
        err(6)
    );
    assert!(err(7).1.contains("kind"), "{:?}", err(7));
    assert_eq!(b["accepted"], 1);
    assert_eq!(b["rejected"], 7);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_errors() {
    let mut s = TestServer::start().await;
    let cp = send(s.get("/v1/checkpoint")).await;
    assert_error(&cp, 404, "not_found", "no checkpoint");
    s.ingest(json!([event("a", 1), event("a", 2)])).await;
    let missing = send(s.get("/v1/entries/99")).await;
    assert_error(&missing, 404, "not_found", "no entry 99");
    let bad = send(s.get("/v1/entries/-1")).await;
    assert_error(&bad, 400, "invalid_parameter", "non-negative integer");
    let big = send(s.get("/v1/entries/0/proof?size=50")).await;
    assert_error(&big, 400, "invalid_parameter", "larger than the log");
    let outside = send(s.get("/v1/entries/1/proof?size=1")).await;
    assert_error(&outside, 404, "not_found", "not in the tree of size 1");
    let order = send(s.get("/v1/consistency?from=2&to=1")).await;
    assert_error(&order, 400, "invalid_parameter", "must not be larger");
    let tile = send(s.get("/tlog/tile/0/000.p/9")).await;
    assert_error(&tile, 404, "not_found", "not in the tree");
    let path = send(s.get("/tlog/tile/0/x000/000")).await;
    assert_error(&path, 404, "not_found", "canonically");
    let nothing = send(s.get("/v2/everything")).await;
    assert_error(&nothing, 404, "not_found", "no such endpoint");
    s.stop().await;
}

/// Malformed query strings and JSON bodies are refused in the API's one
/// error shape (axum's own rejections were plain text, and 422 for a body of
/// the wrong type: found by schemathesis against /openapi.json).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_queries_and_bodies_answer_the_error_shape() {
    let mut s = TestServer::start().await;
    s.ingest(json!([event("a", 1)])).await;
    let url = |p: &str| format!("{}{p}", s.url);
    for (method, path, body) in [
        (
            "POST",
            "/v1/keys/x/rotate",
            Some(r#"{"overlap_seconds": {}}"#),
        ),
        ("POST", "/v1/signing-keys/rotate", Some("[null, null]")),
        (
            "POST",
            "/v1/signing-keys/rotate",
            Some(r#"{"overlap_seconds": -1}"#),
        ),
        ("POST", "/v1/keys", Some("{")),
        ("GET", "/v1/agents?status=sleeping", None),
        ("GET", "/v1/consistency?from=x&to=1", None),
        ("GET", "/v1/entries/0/proof?size=big", None),
        ("POST", "/v1/events?wait=checkpoint&also=1", Some("[]")),
    ] {
        let mut r = match method {
            "GET" => s.http.get(url(path)),
            _ => s.http.post(url(path)),
        }
        .bearer_auth(&s.key);
        if let Some(b) = body {
            r = r.header("content-type", "application/json").body(b);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = r.text().await.unwrap();
        assert_eq!(status, 400, "{method} {path}: {text}");
        assert!(ct.starts_with("application/json"), "{method} {path}: {ct}");
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
        assert!(v["error"]["code"].is_string(), "{method} {path}: {v}");
        assert!(v["error"]["message"].is_string(), "{method} {path}: {v}");
    }
    // A JSON body sent as something else is a 415 in the same shape.
    let r = s
        .http
        .post(url("/v1/keys"))
        .bearer_auth(&s.key)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "unsupported_media_type");
    s.stop().await;
}

/// Tile names whose index arithmetic leaves 64 bits, or that no parser may
/// accept: each is a 4xx with a message, never a dropped connection (the
/// handler used to compute `index * 256` unchecked and panic on the first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overflowing_tile_paths_are_4xx_not_a_panic() {
    let mut s = TestServer::start().await;
    s.ingest(json!([event("a", 1), event("a", 2)])).await;
    for path in [
        "/tlog/tile/0/x018/x446/x744/x073/x709/x551/615",
        "/tlog/tile/0/x018/x446/x744/x073/x709/x551/615.p/1",
        "/tlog/tile/entries/x018/x446/x744/x073/x709/x551/615",
        "/tlog/tile/entries/x018/x446/x744/x073/x709/x551/615.p/2",
        "/tlog/tile/0/x072/x057/x594/x037/x927/936",
        "/tlog/tile/entries/x072/x057/x594/x037/x927/936.p/1",
        "/tlog/tile/7/x072/x057/x594/x037/x927/936",
        "/tlog/tile/63/x018/x446/x744/x073/x709/x551/615",
        "/tlog/tile/63/000",
        "/tlog/tile/255/000",
        "/tlog/tile/0/000.p/0",
        "/tlog/tile/0/000.p/257",
        "/tlog/tile/entries/000.p/0",
        "/tlog/tile/entries/000.p/257",
        "/tlog/tile/0/x018/x446/x744/x073/x709/x551/616",
    ] {
        let r = s.get(path).send().await;
        let r = r.unwrap_or_else(|e| panic!("{path}: no answer (did the handler panic?): {e}"));
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert!((400..500).contains(&status), "{path}: {status} {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{path}: {body}"
        );
    }
    // The server is still there and still serves the real tile.
    let ok = s.get("/tlog/tile/entries/000.p/2").send().await.unwrap();
    assert_eq!(ok.status(), 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_503_with_retry_after_and_loses_nothing_acknowledged() {
    let mut s = TestServer::start_with(|o| {
        o.sequencer.queue_limit = 50;
        o.sequencer.batch_max = 64;
    })
    .await;
    let mut tasks = Vec::new();
    for w in 0..24u64 {
        let req = s.post("/v1/events");
        tasks.push(tokio::spawn(async move {
            let batch: Vec<Value> = (0..40).map(|i| event(&format!("w{w}"), i)).collect();
            let r = req.json(&batch).send().await.unwrap();
            let retry = r.headers().get("retry-after").is_some();
            let (status, b) = (r.status().as_u16(), r.json::<Value>().await.unwrap());
            (status, retry, b)
        }));
    }
    let mut overloaded = 0;
    let mut sealed = Vec::new();
    for t in tasks {
        let (status, retry, b) = t.await.unwrap();
        match status {
            200 => sealed.extend(
                b["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["index"].as_u64().unwrap()),
            ),
            503 => {
                overloaded += 1;
                assert!(retry);
                assert_eq!(b["error"]["code"], "overloaded");
                assert!(b["error"]["message"].as_str().unwrap().contains("retry"));
            }
            other => panic!("unexpected {other}: {b}"),
        }
    }
    assert!(
        overloaded > 0,
        "24 concurrent requests of 40 events should overflow a queue of 50"
    );
    sealed.sort_unstable();
    let expected: Vec<u64> = (0..sealed.len() as u64).collect();
    assert_eq!(
        sealed, expected,
        "acknowledged indices are dense and unique"
    );
    s.stop().await;
}

/// `?wait=checkpoint` that no checkpoint answers in time: 504 with a message
/// that says the events are sealed and where to get their proofs later. Made
/// deterministic by letting another "node" hold the signer lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_a_checkpoint_that_does_not_come_answers_504_and_keeps_the_events() {
    let Some((url, schema)) = sealtrail_testkit::postgres_schema("checkpoint_timeout", "cpto")
    else {
        return;
    };
    let (u, name) = (url.clone(), schema.name.clone());
    sealtrail_testkit::off_runtime(move || {
        use sealtrail_store::prelude::*;
        let store = sealtrail_testkit::pg_store(&u, &name, 1);
        let now = sealtrail_server::clock::now_micros();
        assert!(store
            .acquire_lease("checkpointer", "another-node", now, 3_600_000_000)
            .unwrap());
    });
    let mut s = TestServer::start_with(|o| {
        o.backend = sealtrail_keys::Backend::Postgres {
            url: url.clone(),
            schema: schema.name.clone(),
        };
        o.limits.wait_timeout = std::time::Duration::from_millis(300);
    })
    .await;
    let r = s
        .post("/v1/events?wait=checkpoint")
        .json(&json!([event("a", 1)]))
        .send()
        .await
        .unwrap();
    let got = body(r).await;
    assert_error(&got, 504, "checkpoint_timeout", "events are sealed");
    assert!(got.1["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/v1/entries/{index}/proof"));
    // The event was sealed all the same.
    let e = body(s.get("/v1/entries/0").send().await.unwrap()).await;
    assert_eq!(e.0, 200);
    assert_eq!(e.1["body"]["id"], "a-1");
    s.stop().await;
}
