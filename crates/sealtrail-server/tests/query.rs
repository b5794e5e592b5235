//! `GET /v1/events` and `GET /v1/stats` over HTTP: filters, pagination,
//! bodies, times in both forms, the 400s, and the same answers from the
//! embedded store and from PostgreSQL.

use sealtrail_testkit::TestServer;
use serde_json::{json, Value};

const KINDS: [&str; 3] = ["tool_call", "model_call", "decision"];

/// Event `n`: three agents, two sessions each, kinds, outcomes and data
/// classes cycling with different periods.
fn varied(n: u64) -> Value {
    let agent = format!("agent-{}", n % 3);
    let mut e = json!({
        "id": format!("q-{n}"),
        "agent": {"id": agent},
        "session": format!("{agent}-s{}", n % 2),
        "kind": KINDS[(n % KINDS.len() as u64) as usize],
        "action": if n % 4 == 0 { "refund" } else { "lookup" },
        "attributes": {"n": n},
    });
    if n % 5 != 4 {
        e["outcome"] = json!(["success", "failure", "denied", "success"][(n % 5) as usize]);
    }
    if n % 3 == 0 {
        e["tool"] = json!({"name": "crm.lookup"});
    }
    if n % 7 == 0 {
        e["data_classes"] = json!(["pii"]);
    }
    e
}

/// Ingests `count` varied events in requests of 50; returns them with
/// their receipts, in log order.
async fn fill(s: &TestServer, count: u64) -> Vec<(Value, Value)> {
    let mut out = Vec::new();
    for start in (0..count).step_by(50) {
        let events: Vec<Value> = (start..(start + 50).min(count)).map(varied).collect();
        let (status, answer) = s.ingest(json!(events)).await;
        assert_eq!(status, 200, "{answer}");
        for (e, r) in events
            .into_iter()
            .zip(answer["results"].as_array().unwrap())
        {
            out.push((e, r.clone()));
        }
    }
    out.sort_by_key(|(_, r)| r["index"].as_u64());
    out
}

/// Every page of `/v1/events?{query}`, following `next_cursor`.
async fn all_pages(s: &TestServer, query: &str) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut cursor: Option<u64> = None;
    for _ in 0..1000 {
        let url = match cursor {
            Some(c) => format!("/v1/events?{query}&cursor={c}"),
            None => format!("/v1/events?{query}"),
        };
        let r = s.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let page: Value = r.json().await.unwrap();
        for e in page["events"].as_array().unwrap() {
            if let Some(last) = out.last() {
                assert!(e["index"].as_u64() > last["index"].as_u64(), "{url}: order");
            }
            out.push(e.clone());
        }
        match page["next_cursor"].as_u64() {
            Some(c) => cursor = Some(c),
            None => {
                assert!(page["next_cursor"].is_null());
                return out;
            }
        }
    }
    panic!("pagination did not end");
}

fn indexes(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect()
}

/// Which submitted events a query should find.
type Keep = Box<dyn Fn(&Value) -> bool>;

/// Indexes of the sealed events whose submitted JSON passes `keep`.
fn expected(sealed: &[(Value, Value)], keep: impl Fn(&Value) -> bool) -> Vec<u64> {
    sealed
        .iter()
        .filter(|(e, _)| keep(e))
        .map(|(_, r)| r["index"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_combine_and_pages_join_up() {
    let mut s = TestServer::start().await;
    let sealed = fill(&s, 240).await;

    let all = all_pages(&s, "limit=1000").await;
    assert_eq!(indexes(&all), (0..240).collect::<Vec<_>>());
    let e = &all[17];
    assert_eq!(e["header"]["index"], 17);
    assert_eq!(e["header"]["agent"], sealed[17].0["agent"]["id"]);
    assert_eq!(e["leaf_hash"], sealed[17].1["leaf_hash"]);
    assert_eq!(e["time"], sealed[17].1["time"]);
    assert!(e.get("event").is_none(), "no bodies unless asked");

    let cases: Vec<(&str, Keep)> = vec![
        ("agent=agent-1", Box::new(|e| e["agent"]["id"] == "agent-1")),
        (
            "session=agent-2-s1",
            Box::new(|e| e["session"] == "agent-2-s1"),
        ),
        ("kind=decision", Box::new(|e| e["kind"] == "decision")),
        ("action=refund", Box::new(|e| e["action"] == "refund")),
        (
            "tool=crm.lookup",
            Box::new(|e| e["tool"]["name"] == "crm.lookup"),
        ),
        ("outcome=denied", Box::new(|e| e["outcome"] == "denied")),
        (
            "data_class=pii",
            Box::new(|e| e["data_classes"] == json!(["pii"])),
        ),
        (
            "agent=agent-0&kind=tool_call&outcome=success",
            Box::new(|e| {
                e["agent"]["id"] == "agent-0"
                    && e["kind"] == "tool_call"
                    && e["outcome"] == "success"
            }),
        ),
        (
            "session=agent-1-s0&action=lookup&data_class=pii",
            Box::new(|e| {
                e["session"] == "agent-1-s0"
                    && e["action"] == "lookup"
                    && e["data_classes"] == json!(["pii"])
            }),
        ),
        ("agent=nobody", Box::new(|_| false)),
        (
            "kind=tool_call&action=refund&tool=nothing",
            Box::new(|_| false),
        ),
        ("scope=out_of_scope", Box::new(|_| false)),
    ];
    for (query, keep) in &cases {
        for limit in [3, 100] {
            let got = all_pages(&s, &format!("{query}&limit={limit}")).await;
            assert_eq!(
                indexes(&got),
                expected(&sealed, keep),
                "{query} limit {limit}"
            );
        }
    }

    // Time ranges, as microseconds and as RFC 3339; from inclusive, to exclusive.
    let t = |i: usize| sealed[i].1["time"].as_u64().unwrap();
    let (from, to) = (t(60), t(180));
    let want: Vec<u64> = (0..240u64)
        .filter(|&i| t(i as usize) >= from && t(i as usize) < to)
        .collect();
    let got = all_pages(&s, &format!("from={from}&to={to}")).await;
    assert_eq!(indexes(&got), want);
    let rfc = |us: u64| sealtrail_core::time::format_time(us);
    let got = all_pages(&s, &format!("from={}&to={}", rfc(from), rfc(to))).await;
    assert_eq!(indexes(&got), want);
    let got = all_pages(&s, &format!("from={}&agent=agent-2", rfc(to))).await;
    assert_eq!(
        indexes(&got),
        expected(&sealed, |e| e["agent"]["id"] == "agent-2")
            .into_iter()
            .filter(|&i| t(i as usize) >= to)
            .collect::<Vec<_>>()
    );
    let empty = s.get_json(&format!("/v1/events?from={}", t(239) + 1)).await;
    assert_eq!(empty, json!({"events": [], "next_cursor": null}));

    // Bodies on request: the event as submitted, and its salt.
    let got = all_pages(&s, "agent=agent-1&include=body&limit=9").await;
    assert_eq!(got.len(), 80);
    for e in &got {
        let i = e["index"].as_u64().unwrap() as usize;
        assert_eq!(e["event"], sealed[i].0);
        assert_eq!(e["salt"].as_str().unwrap().len(), 64);
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_by_agent_kind_outcome_and_day() {
    let mut s = TestServer::start().await;
    let total = s.get_json("/v1/stats").await;
    assert_eq!(
        total,
        json!({"group_by": [], "rows": [{"count": 0}], "total": 0})
    );
    let sealed = fill(&s, 120).await;
    let day = sealtrail_core::time::format_day(
        (sealed[0].1["time"].as_u64().unwrap() / 86_400_000_000) as i64,
    );

    let by_agent = s.get_json("/v1/stats?group_by=agent").await;
    assert_eq!(
        by_agent,
        json!({"group_by": ["agent"], "rows": [
            {"agent": "agent-0", "count": 40},
            {"agent": "agent-1", "count": 40},
            {"agent": "agent-2", "count": 40},
        ], "total": 120})
    );
    let by_outcome = s.get_json("/v1/stats?group_by=outcome").await;
    let rows = by_outcome["rows"].as_array().unwrap();
    let count_of = |o: Value| {
        rows.iter()
            .find(|r| r["outcome"] == o)
            .map_or(0, |r| r["count"].as_u64().unwrap())
    };
    assert_eq!(count_of(Value::Null), 24, "no outcome: counted under null");
    assert_eq!(count_of(json!("success")), 48);
    assert_eq!(by_outcome["total"], 120);

    let grouped = s
        .get_json("/v1/stats?group_by=agent,kind,outcome,day&agent=agent-0&kind=tool_call")
        .await;
    let want_n = sealed
        .iter()
        .filter(|(e, _)| e["agent"]["id"] == "agent-0" && e["kind"] == "tool_call")
        .count() as u64;
    assert_eq!(grouped["total"], want_n);
    for r in grouped["rows"].as_array().unwrap() {
        assert_eq!(r["agent"], "agent-0");
        assert_eq!(r["kind"], "tool_call");
        // Events sent right before a UTC midnight may land on the next day.
        assert!(r["day"].as_str().unwrap() >= day.as_str());
    }
    let on_day = s
        .get_json(&format!(
            "/v1/stats?from={day}&to=2999-01-01&outcome=denied"
        ))
        .await;
    assert_eq!(
        on_day["total"].as_u64().unwrap(),
        sealed
            .iter()
            .filter(|(e, _)| e["outcome"] == "denied")
            .count() as u64
    );
    let none = s.get_json("/v1/stats?group_by=day&to=1999-01-01").await;
    assert_eq!(none["rows"], json!([]));
    s.stop().await;
}

/// `(path, parameter at fault, words the message must contain)`.
const BAD: &[(&str, &str, &str)] = &[
    ("/v1/events?limit=0", "limit", "from 1 to 1000"),
    ("/v1/events?limit=1001", "limit", "from 1 to 1000"),
    ("/v1/events?limit=ten", "limit", "whole number"),
    ("/v1/events?cursor=-1", "cursor", "not an entry index"),
    ("/v1/events?from=yesterday", "from", "RFC 3339"),
    ("/v1/events?to=2026-02-30", "to", "not a valid date"),
    ("/v1/events?from=2026-01-01T10:00:00", "from", "time zone"),
    (
        "/v1/events?from=2026-02-01&to=2026-01-01",
        "from",
        "after to",
    ),
    ("/v1/events?kind=toolcall", "kind", "tool_call"),
    ("/v1/events?outcome=ok", "outcome", "success"),
    ("/v1/events?include=everything", "include", "include=body"),
    (
        "/v1/events?subject=alice%40example.com",
        "subject",
        "64 hex digits",
    ),
    ("/v1/events?agent=a&agent=b", "agent", "more than once"),
    ("/v1/events?colour=blue", "colour", "unknown parameter"),
    (
        "/v1/stats?group_by=colour",
        "group_by",
        "agent, kind, outcome",
    ),
    ("/v1/stats?group_by=day,day", "group_by", "twice"),
    (
        "/v1/stats?from=2026-01-01T12:00:00Z",
        "from",
        "UTC midnight",
    ),
    ("/v1/stats?to=1795000000000001", "to", "UTC midnight"),
    ("/v1/stats?session=x", "session", "unknown parameter"),
    ("/v1/stats?kind=nope", "kind", "not an event kind"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_are_400_naming_the_parameter() {
    let mut s = TestServer::start().await;
    fill(&s, 5).await;
    for (path, field, words) in BAD {
        let r = s.get(path).send().await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_parameter", "{path}: {body}");
        assert_eq!(body["error"]["field"], *field, "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(words),
            "{path}: {message:?} lacks {words:?}"
        );
    }
    // Reads need a key like every /v1 endpoint.
    for path in ["/v1/events", "/v1/stats"] {
        let r = s.http.get(format!("{}{path}", s.url)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    s.stop().await;
}

/// What two logs of the same events must agree on (times, salts and so
/// leaf hashes differ between them).
fn comparable(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .map(|e| {
            let h = &e["header"];
            json!([
                e["index"],
                h["agent"],
                h["session"],
                h["kind"],
                h["action"],
                h["outcome"],
                h["data_classes"],
                h["streams"]
            ])
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_the_embedded_store_answer_alike() {
    let Some((url, schema)) = sealtrail_testkit::postgres_schema("query_pg_and_sqlite", "qry")
    else {
        return;
    };
    let mut lite = TestServer::start().await;
    let mut pg = TestServer::start_with(|o| {
        o.backend = sealtrail_keys::Backend::Postgres {
            url: url.clone(),
            schema: schema.name.clone(),
        };
    })
    .await;
    fill(&lite, 150).await;
    fill(&pg, 150).await;
    for query in [
        "limit=1000",
        "agent=agent-2&limit=7",
        "session=agent-0-s1",
        "kind=model_call&outcome=failure",
        "data_class=pii&limit=2",
        "action=refund&tool=crm.lookup",
        "agent=nobody",
    ] {
        let (a, b) = (all_pages(&lite, query).await, all_pages(&pg, query).await);
        assert!(!a.is_empty() || query.contains("nobody"), "{query}");
        assert_eq!(comparable(&a), comparable(&b), "{query}");
    }
    for query in [
        "group_by=agent,kind,outcome",
        "group_by=kind&agent=agent-1",
        "",
    ] {
        let (a, b) = (
            lite.get_json(&format!("/v1/stats?{query}")).await,
            pg.get_json(&format!("/v1/stats?{query}")).await,
        );
        assert_eq!(a, b, "{query}");
    }
    lite.stop().await;
    pg.stop().await;
}
