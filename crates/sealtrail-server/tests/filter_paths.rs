//! One entry filter, every path: for a table of inputs (valid and not),
//! `GET /v1/events`, `POST /v1/exports`, `GET /v1/stats` and the client/CLI
//! path (flags or pairs read by `sealtrail_api`'s parser, the validated
//! filter sent by `sealtrail_client`) give the same answer, or the same 400
//! with the same code, field and message.
//!
//! One difference is the API's contract and is checked as such: a name an
//! endpoint does not take is `invalid_parameter` in a query string and
//! `invalid_request` in a JSON body; both name it in `field`.

use std::collections::BTreeSet;
use std::time::Duration;

use sealtrail_api::filter::{filter_from_pairs, EventsQuery, ExportRequest, StatsQuery};
use sealtrail_api::ErrorBody;
use sealtrail_client::{Client, Exporter};
use sealtrail_core::bundle::MANIFEST;
use sealtrail_testkit::{entries_text, event, unzip, TestServer};
use serde_json::{json, Value};

/// What one path said: the matching entries, or a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Entries(Vec<u64>),
    Refused {
        code: String,
        field: Option<String>,
        message: String,
    },
}

impl Answer {
    fn refused(body: &Value) -> Answer {
        let e = &body["error"];
        Answer::Refused {
            code: e["code"].as_str().unwrap_or("").to_string(),
            field: e["field"].as_str().map(str::to_string),
            message: e["message"].as_str().unwrap_or("").to_string(),
        }
    }

    fn of_error(e: ErrorBody) -> Answer {
        Answer::Refused {
            code: e.code.into_owned(),
            field: e.field,
            message: e.message,
        }
    }

    fn code(&self) -> Option<&str> {
        match self {
            Answer::Refused { code, .. } => Some(code),
            Answer::Entries(_) => None,
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Answer::Refused { field, .. } => field.as_deref(),
            Answer::Entries(_) => None,
        }
    }
}

/// 36 events: agents a, b, c, each in its own session; every fourth a
/// decision, every fifth denied.
async fn fill(s: &TestServer) {
    let events: Vec<Value> = (0..36u64)
        .map(|i| {
            let mut e = event(["a", "b", "c"][(i % 3) as usize], i);
            if i % 4 == 0 {
                e["kind"] = json!("decision");
            }
            if i % 5 == 0 {
                e["outcome"] = json!("denied");
            }
            e
        })
        .collect();
    let (status, body) = s.ingest(json!(events)).await;
    assert_eq!(status, 200, "{body}");
}

fn owned(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// `GET /v1/events`, following cursors.
async fn via_get(s: &TestServer, pairs: &[(&str, String)]) -> Answer {
    let mut indexes = Vec::new();
    let mut cursor: Option<u64> = None;
    loop {
        let mut q = pairs.to_vec();
        if let Some(c) = cursor {
            q.push(("cursor", c.to_string()));
        }
        let r = s.get("/v1/events").query(&q).send().await.unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        if status != 200 {
            assert_eq!(status, 400, "GET {pairs:?}: {body}");
            return Answer::refused(&body);
        }
        for e in body["events"].as_array().unwrap() {
            indexes.push(e["index"].as_u64().unwrap());
        }
        match body["next_cursor"].as_u64() {
            Some(c) if !pairs.iter().any(|(k, _)| *k == "cursor") => cursor = Some(c),
            _ => return Answer::Entries(indexes),
        }
    }
}

/// The `match` lines of a bundle, and its manifest's record of the filter.
fn matches_of(zip: &[u8]) -> (Vec<u64>, Value) {
    let m = unzip(zip);
    let manifest: Value = serde_json::from_slice(&m[MANIFEST]).unwrap();
    let matches = entries_text(&m)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["role"] == "match")
        .map(|l| l["index"].as_u64().unwrap())
        .collect();
    (matches, manifest["query"].clone())
}

/// `POST /v1/exports` with the pairs as JSON members (text values).
async fn via_post(s: &TestServer, pairs: &[(&str, String)]) -> (Answer, Option<Value>) {
    let mut body: serde_json::Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
        .collect();
    body.insert("bodies".into(), Value::Bool(false));
    let r = s.post("/v1/exports").json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    if status != 200 {
        assert_eq!(status, 400, "POST {pairs:?}: {bytes:?}");
        return (
            Answer::refused(&serde_json::from_slice(&bytes).unwrap()),
            None,
        );
    }
    let (matches, query) = matches_of(&bytes);
    (Answer::Entries(matches), Some(query))
}

/// `GET /v1/stats`: the total count, or the refusal.
async fn via_stats(s: &TestServer, pairs: &[(&str, String)]) -> Result<u64, Answer> {
    let r = s.get("/v1/stats").query(pairs).send().await.unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    if status != 200 {
        assert_eq!(status, 400, "stats {pairs:?}: {body}");
        return Err(Answer::refused(&body));
    }
    Ok(body["total"].as_u64().unwrap())
}

/// The client/CLI path: the parser the CLI runs its flags through, then
/// the typed client's query and export of the validated filter.
async fn via_client(
    client: &Client,
    exporter: &Exporter,
    pairs: &[(&str, String)],
) -> (Answer, Option<(Answer, Value)>) {
    let pairs = owned(pairs);
    let paged = pairs
        .iter()
        .any(|(k, _)| ["cursor", "limit", "include"].contains(&k.as_str()));
    let parsed = if paged {
        EventsQuery::from_pairs(&pairs)
    } else {
        filter_from_pairs(&pairs).map(|filter| EventsQuery {
            filter,
            ..EventsQuery::default()
        })
    };
    let q = match parsed {
        Ok(q) => q,
        Err(e) => return (Answer::of_error(e.into()), None),
    };
    let mut indexes = Vec::new();
    let mut page_q = q.clone();
    loop {
        let page = client.events(&page_q).await.unwrap();
        indexes.extend(page.events.iter().map(|e| e.index));
        match page.next_cursor {
            Some(c) if q.cursor.is_none() => page_q.cursor = Some(c),
            _ => break,
        }
    }
    let mut zip = Vec::new();
    let req = ExportRequest::new(&q.filter, Some(false));
    let export = if paged {
        None
    } else {
        exporter.export(&req, &mut zip).await.unwrap();
        let (matches, query) = matches_of(&zip);
        Some((Answer::Entries(matches), query))
    };
    (Answer::Entries(indexes), export)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_gives_the_same_answer_or_the_same_refusal() {
    let mut s = TestServer::start().await;
    fill(&s).await;
    let client = Client::new(&s.url, &s.key).unwrap();
    let exporter = Exporter::new(&s.url, &s.key, Duration::from_secs(60)).unwrap();
    let mac = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_string();
    let t = |s: &str| s.to_string();
    let cases: Vec<Vec<(&str, String)>> = vec![
        // Accepted.
        vec![],
        vec![("agent", t("a"))],
        vec![("agent", t("a")), ("kind", t("decision"))],
        vec![("kind", t("decision"))],
        vec![("outcome", t("denied"))],
        vec![("agent", t("b")), ("outcome", t("success"))],
        vec![("session", t("b-session"))],
        vec![("tool", t("crm.lookup")), ("action", t("lookup"))],
        vec![("scope", t("in_scope"))],
        vec![("scope", t("out_of_scope"))],
        vec![("scope", t("out_of_scope: agent is suspended"))],
        vec![("scope", t("unregistered_agent"))],
        vec![("subject", mac.clone())],
        vec![("subject", mac.to_uppercase())],
        vec![("data_class", t("pii"))],
        vec![("from", t("1970-01-02"))],
        vec![("from", t("1970-01-02")), ("to", t("2100-01-01"))],
        vec![("to", t("2100-01-01"))],
        vec![("to", t("1970-01-02"))],
        vec![("from", t("2026-01-01T10:00:00Z"))],
        vec![("from", t("2026-01-01T10:00:00.5+01:00"))],
        vec![("from", t("1795000000000000"))],
        // Empty values are absent.
        vec![("kind", t(""))],
        vec![("outcome", t("")), ("agent", t("c"))],
        vec![("from", t("")), ("subject", t("")), ("scope", t(""))],
        // Misspelt kinds and outcomes.
        vec![("kind", t("toolcall"))],
        vec![("kind", t("Tool_Call"))],
        vec![("outcome", t("ok"))],
        vec![("outcome", t("SUCCESS"))],
        // Subjects that are not a MAC.
        vec![("subject", t("zz"))],
        vec![("subject", mac[..62].to_string())],
        vec![("subject", format!("{mac}00"))],
        vec![("subject", t("alice@example.com"))],
        // Bad times.
        vec![("from", t("yesterday"))],
        vec![("from", t("2026-02-30"))],
        vec![("from", t("2026-01-01T10:00:00"))],
        vec![("to", t("1969-12-31"))],
        vec![("to", t("99999999999999999999"))],
        vec![("from", t("2100-01-01")), ("to", t("2026-01-01"))],
        // Scopes that are no verdict.
        vec![("scope", t("in-scope"))],
        vec![("scope", t("OUT_OF_SCOPE"))],
        vec![("scope", t("out_of_scope:"))],
        // Two bad values: the first in declaration order is named everywhere.
        vec![("outcome", t("ok")), ("kind", t("toolcall"))],
        // Unknown names.
        vec![("colour", t("red"))],
        vec![("agent", t("a")), ("Kind", t("decision"))],
        // Limits (query strings only).
        vec![("limit", t("5"))],
        vec![("limit", t("1000")), ("agent", t("a"))],
        vec![("limit", t("0"))],
        vec![("limit", t("1001"))],
        vec![("limit", t("ten"))],
        vec![("cursor", t("-1"))],
        vec![("include", t("bodies"))],
    ];
    let page_names = ["cursor", "limit", "include"];
    for pairs in &cases {
        let get = via_get(&s, pairs).await;
        let (client_answer, client_export) = via_client(&client, &exporter, pairs).await;
        let names: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
        let unknown = names
            .iter()
            .find(|n| !EventsQuery::PARAMS.contains(n))
            .copied();

        // The client/CLI path: the same answer or the same refusal (for a
        // name it does not take, the same code and field: the message lists
        // the names of each, and the CLI has no flag for it anyway).
        if unknown.is_some() {
            assert_eq!(client_answer.code(), get.code(), "client vs GET {pairs:?}");
            assert_eq!(
                client_answer.field(),
                get.field(),
                "client vs GET {pairs:?}"
            );
        } else {
            assert_eq!(client_answer, get, "client vs GET {pairs:?}");
        }

        // Exports take the filter only (no page): the same verdict on it.
        let paged = names.iter().any(|n| page_names.contains(n));
        let (post, post_query) = via_post(&s, pairs).await;
        match (&get, unknown, paged) {
            (_, Some(name), _) => {
                // A query string's unknown parameter; a JSON body's unknown member.
                assert_eq!(get.field(), Some(name), "GET {pairs:?}");
                assert_eq!(post.field(), Some(name), "POST {pairs:?}");
                assert!(
                    matches!(&post, Answer::Refused { code, .. } if code == "invalid_request"),
                    "POST {pairs:?}: {post:?}"
                );
            }
            (_, None, true) => {
                // `limit`, `cursor`, `include` are not filters: a body
                // naming them is refused, naming them.
                let name = names.iter().find(|n| page_names.contains(n)).copied();
                assert_eq!(post.field(), name, "POST {pairs:?}");
            }
            (Answer::Entries(want), None, false) => {
                let mut want: Vec<u64> = want.clone();
                want.sort_unstable();
                assert_eq!(post, Answer::Entries(want.clone()), "POST {pairs:?}");
                let (client_bundle, client_query) =
                    client_export.clone().expect("the client exported");
                assert_eq!(
                    client_bundle,
                    Answer::Entries(want),
                    "client export {pairs:?}"
                );
                // Both bundles record the same normal form of the filter.
                assert_eq!(post_query, Some(client_query), "manifests {pairs:?}");
            }
            (refused, None, false) => {
                assert_eq!(&post, refused, "POST vs GET {pairs:?}");
            }
        }

        // Stats take the counted filters only, in whole UTC days.
        let stats = via_stats(&s, pairs).await;
        let stats_unknown = names.iter().find(|n| !StatsQuery::PARAMS.contains(n));
        match (&get, stats_unknown) {
            (_, Some(name)) => {
                let e = stats.expect_err("stats took a parameter it does not know");
                assert_eq!(e.field(), Some(*name), "stats {pairs:?}");
                assert!(
                    matches!(&e, Answer::Refused { code, .. } if code == "invalid_parameter"),
                    "stats {pairs:?}: {e:?}"
                );
            }
            (Answer::Refused { .. }, None) => {
                assert_eq!(stats, Err(get.clone()), "stats vs GET {pairs:?}");
            }
            (Answer::Entries(want), None) => {
                let f = filter_from_pairs(&owned(pairs)).unwrap();
                let day = 86_400_000_000u64;
                let off_midnight = [("from", f.from), ("to", f.to)]
                    .into_iter()
                    .find(|(_, t)| t.is_some_and(|t| t % day != 0));
                match off_midnight {
                    Some((name, _)) => {
                        assert_eq!(stats.unwrap_err().field(), Some(name), "stats {pairs:?}")
                    }
                    None => assert_eq!(stats, Ok(want.len() as u64), "stats {pairs:?}"),
                }
            }
        }
    }
    // Every input above was judged on every path; and they are varied
    // enough to have exercised both verdicts on each filter.
    let fields: BTreeSet<String> = {
        let mut f = BTreeSet::new();
        for pairs in &cases {
            if let Answer::Refused { field: Some(x), .. } = via_get(&s, pairs).await {
                f.insert(x);
            }
        }
        f
    };
    for name in [
        "from", "to", "kind", "outcome", "subject", "scope", "limit", "colour",
    ] {
        assert!(fields.contains(name), "no refusal of {name} in the table");
    }
    s.stop().await;
}
