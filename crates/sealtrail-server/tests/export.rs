//! `POST /v1/exports` against a real server: the bundles verify offline with
//! the core verifier, hold exactly the entries a brute-force selection over
//! the whole log gives, and prove completeness where the query allows it.

use std::collections::BTreeMap;

use sealtrail_core::bundle::{verify_members, Manifest, Report, Role, MANIFEST};
use sealtrail_core::filter::EventFilter;
use sealtrail_core::header::EntryHeader;
use sealtrail_core::note::{Ed25519Verifier, NoteVerifier};
use sealtrail_testkit::{entries_text, unzip};
use sealtrail_testkit::{event, TestServer};
use serde_json::{json, Value};

/// Ingests three rounds (agents a, b, c; sessions per agent), a few ms
/// apart; returns the sealed time of the first event of rounds 1 and 2.
async fn fill(s: &TestServer) -> (u64, u64) {
    let mut starts = Vec::new();
    for round in 0..3u64 {
        let events: Vec<Value> = (0..12u64)
            .map(|i| {
                let agent = ["a", "b", "c"][(i % 3) as usize];
                let mut e = event(agent, round * 100 + i);
                if i % 4 == 0 {
                    e["kind"] = json!("decision");
                }
                e
            })
            .collect();
        let (status, body) = s.ingest(json!(events)).await;
        assert_eq!(status, 200, "{body}");
        starts.push(body["results"][0]["time"].as_u64().expect("time"));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    (starts[1], starts[2])
}

async fn export(s: &TestServer, body: Value) -> (u16, Vec<u8>) {
    let r = s.post("/v1/exports").json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.bytes().await.unwrap().to_vec())
}

fn verify(s: &TestServer, m: &mut BTreeMap<String, Vec<u8>>) -> Report {
    let v = Ed25519Verifier::from_vkey(&s.vkey).unwrap();
    verify_members(m, &[&v as &dyn NoteVerifier])
}

/// (index, role) of each line.
fn roles(m: &BTreeMap<String, Vec<u8>>) -> Vec<(u64, Role)> {
    entries_text(m)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let role: Role = serde_json::from_value(v["role"].clone()).unwrap();
            (v["index"].as_u64().unwrap(), role)
        })
        .collect()
}

/// Every header of the log up to `size`, from the tiles' source of truth.
async fn all_headers(s: &TestServer, size: u64) -> Vec<EntryHeader> {
    let mut out = Vec::new();
    for i in 0..size {
        let e = s.get_json(&format!("/v1/entries/{i}")).await;
        let bytes = sealtrail_core::jcs::to_canonical_vec(&e["header"]).unwrap();
        out.push(EntryHeader::parse(&bytes).unwrap());
    }
    out
}

/// The roles a bundle for `q` must have, by brute force (formats §9.1).
fn expected(all: &[EntryHeader], q: &EventFilter) -> Vec<(u64, Role)> {
    let mut out = Vec::new();
    let in_range = |h: &EntryHeader| q.time_check(h.time).is_ok();
    let pick: Vec<&EntryHeader> = match q.completeness_stream() {
        Some((field, id)) => all.iter().filter(|h| field.of(h).0 == Some(id)).collect(),
        None if q.is_time_only() => all.iter().collect(),
        None => {
            return all
                .iter()
                .filter(|h| q.matches(h).is_ok())
                .map(|h| (h.index, Role::Match))
                .collect()
        }
    };
    if let Some(b) = pick
        .iter()
        .rev()
        .find(|h| q.from.is_some_and(|f| h.time < f))
    {
        out.push((b.index, Role::Before));
    }
    for h in pick.iter().filter(|h| in_range(h)) {
        let role = if q.filters_match(h).is_ok() {
            Role::Match
        } else {
            Role::Stream
        };
        out.push((h.index, role));
    }
    if let Some(a) = pick.iter().find(|h| q.to.is_some_and(|t| h.time >= t)) {
        out.push((a.index, Role::After));
    }
    out
}

#[tokio::test]
async fn bundles_verify_and_hold_exactly_the_right_entries() {
    let s = TestServer::start().await;
    let (t1, t2) = fill(&s).await;
    let cases = [
        json!({"agent": "a", "from": t1, "to": t2}),
        json!({"agent": "b", "from": t1, "to": t2, "kind": "decision"}),
        json!({"agent": "a"}),
        json!({"agent": "a", "from": t2}),
        json!({"agent": "nobody", "from": t1, "to": t2}),
        json!({"session": "c-session", "from": t1, "to": t2, "bodies": false}),
        json!({"from": t1, "to": t2}),
        json!({"from": t1.to_string(), "to": t2.to_string()}),
        json!({"to": t1}),
        json!({}),
        json!({"kind": "decision", "from": t1}),
    ];
    for body in cases {
        let (status, zip) = export(&s, body.clone()).await;
        assert_eq!(status, 200, "{body}: {}", String::from_utf8_lossy(&zip));
        let mut m = unzip(&zip);
        let r = verify(&s, &mut m);
        assert!(r.ok(), "{body}: {:#?}", r.failures);
        let manifest = Manifest::parse(&m[MANIFEST]).unwrap();
        let q = manifest.query.clone();
        let claim = q.completeness_stream().is_some() || q.is_time_only();
        assert_eq!(r.complete, claim, "{body}");
        assert_eq!(manifest.completeness.proven, claim, "{body}");
        let all = all_headers(&s, manifest.checkpoint.size).await;
        assert_eq!(roles(&m), expected(&all, &q), "{body}");
        let with_bodies = body.get("bodies").is_none();
        assert_eq!(manifest.with_bodies, with_bodies);
        assert_eq!(
            r.counts.bodies,
            if with_bodies { r.counts.matches } else { 0 },
            "{body}"
        );
        assert!(m.contains_key("README.md") && m.contains_key("keys/log.vkey"));
        assert_eq!(
            String::from_utf8(m["keys/log.vkey"].clone())
                .unwrap()
                .trim(),
            s.vkey
        );
    }
}

#[tokio::test]
async fn bad_requests_get_the_standard_error_body() {
    let s = TestServer::start().await;
    let (status, bytes) = export(&s, json!({})).await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&bytes));
    let e: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(
        e["error"]["message"].as_str().unwrap().contains("empty"),
        "{e}"
    );
    fill(&s).await;
    for (body, field) in [
        (json!({"from": 20, "to": 10}), "from"),
        (json!({"from": "yesterday"}), "from"),
        (json!({"subject": "zz"}), "subject"),
    ] {
        let (status, bytes) = export(&s, body.clone()).await;
        assert_eq!(status, 400, "{body}");
        let e: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(e["error"]["field"], field, "{e}");
    }
    let (status, bytes) = export(&s, json!({"colour": "red"})).await;
    assert_eq!(status, 400);
    let e: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(e["error"]["code"], "invalid_request", "{e}");
    let r = s
        .http
        .post(format!("{}/v1/exports", s.url))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

/// `GET /v1/events` and `POST /v1/exports` take the same filters through
/// one validator: every input gets the same verdict on both (accepted, or
/// a 400 naming the same field), and a subject MAC in upper case is the
/// same filter as in lower case. Exports used to sign an empty bundle for
/// a misspelt kind or outcome, and refused upper-case subjects that the
/// query accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_and_queries_judge_filters_alike() {
    let mut s = TestServer::start().await;
    fill(&s).await;
    let mac = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let upper = mac.to_uppercase();
    let mixed = format!("{}{}", &upper[..32], &mac[32..]);
    // (member, value, accepted)
    let cases: Vec<(&str, String, bool)> = vec![
        ("kind", "tool_call".into(), true),
        ("kind", "toolcall".into(), false),
        ("kind", "Tool_Call".into(), false),
        ("kind", "".into(), true),
        ("outcome", "success".into(), true),
        ("outcome", "denied".into(), true),
        ("outcome", "ok".into(), false),
        ("outcome", "SUCCESS".into(), false),
        ("subject", mac.into(), true),
        ("subject", upper.clone(), true),
        ("subject", mixed, true),
        ("subject", "zz".into(), false),
        ("subject", mac[..62].into(), false),
        ("subject", format!("{mac}00"), false),
        ("subject", "alice@example.com".into(), false),
        ("from", "2026-01-01".into(), true),
        ("from", "1795000000000000".into(), true),
        ("from", "2026-01-01T10:00:00+01:00".into(), true),
        ("from", "yesterday".into(), false),
        ("from", "2026-02-30".into(), false),
        ("from", "2026-01-01T10:00:00".into(), false),
        ("from", "".into(), true),
        ("to", "2030-01-01T00:00:00Z".into(), true),
        ("to", "1969-12-31".into(), false),
        ("scope", "in_scope".into(), true),
        ("scope", "out_of_scope".into(), true),
        ("scope", "unregistered_agent".into(), true),
        ("scope", "out_of_scope: agent is suspended".into(), true),
        ("scope", "in-scope".into(), false),
        ("scope", "out_of_scope:".into(), false),
        ("scope", "OUT_OF_SCOPE".into(), false),
        ("tool", "crm.lookup".into(), true),
        ("action", "lookup".into(), true),
        ("data_class", "pii".into(), true),
    ];
    // (filters, the field a 400 must name, if refused)
    type Case<'a> = (Vec<(&'a str, String)>, Option<&'a str>);
    let mut pairs: Vec<Case> = cases
        .iter()
        .map(|(k, v, ok)| (vec![(*k, v.clone())], (!ok).then_some(*k)))
        .collect();
    pairs.push((
        vec![("from", "2026-02-01".into()), ("to", "2026-01-01".into())],
        Some("from"),
    ));
    for (params, bad_field) in pairs {
        let r = s.get("/v1/events").query(&params).send().await.unwrap();
        let get_status = r.status().as_u16();
        let get_body: Value = r.json().await.unwrap();
        let body: serde_json::Map<String, Value> = params
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
            .collect();
        let (post_status, bytes) = export(&s, Value::Object(body)).await;
        let post_body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        match bad_field {
            None => {
                assert_eq!(get_status, 200, "GET {params:?}: {get_body}");
                assert_eq!(post_status, 200, "POST {params:?}: {post_body}");
            }
            Some(field) => {
                for (how, status, body) in [
                    ("GET", get_status, &get_body),
                    ("POST", post_status, &post_body),
                ] {
                    assert_eq!(status, 400, "{how} {params:?}: {body}");
                    assert_eq!(
                        body["error"]["code"], "invalid_parameter",
                        "{how} {params:?}"
                    );
                    assert_eq!(body["error"]["field"], field, "{how} {params:?}: {body}");
                }
                assert_eq!(
                    get_body["error"]["message"], post_body["error"]["message"],
                    "{params:?}: the two endpoints explain the same refusal differently"
                );
            }
        }
    }
    // Upper case is normalised, not passed on: the bundle's manifest names
    // the MAC in lower case, exactly as a lower-case request does.
    let (status, bytes) = export(&s, json!({"subject": upper})).await;
    assert_eq!(status, 200);
    let manifest: Value = serde_json::from_slice(&unzip(&bytes)[MANIFEST]).unwrap();
    assert_eq!(manifest["query"]["subject"], mac, "{manifest}");
    // The refusal lists what is allowed.
    let (_, bytes) = export(&s, json!({"kind": "toolcall"})).await;
    let e: Value = serde_json::from_slice(&bytes).unwrap();
    let message = e["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("tool_call") && message.contains("model_call"),
        "{message}"
    );
    s.stop().await;
}
