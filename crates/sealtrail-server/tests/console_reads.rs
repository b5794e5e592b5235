//! The read endpoints the web console's views use (issue 17): the history
//! of signed checkpoints, an export's plan before the download, and the
//! number of entries an export holds in its headers.

use std::time::Duration;

use sealtrail_testkit::{unzip, TestServer};
use serde_json::{json, Value};

fn ev(agent: &str, n: u64) -> Value {
    json!({"id": format!("{agent}-{n}"), "agent": {"id": agent}, "session": format!("{agent}-s"),
           "seq": n, "kind": "tool_call", "action": "lookup"})
}

/// Ingests in `rounds` requests, each waiting for its checkpoint, so the
/// log has at least that many checkpoints.
async fn grow(s: &TestServer, rounds: u64) {
    for r in 0..rounds {
        let (status, v) = answer(
            s.post("/v1/events?wait=checkpoint")
                .json(&json!([ev("bot-a", r), ev("bot-b", r)]))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{v}");
    }
}

async fn answer(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn checkpoints_newest_first_a_page_at_a_time() {
    let s = TestServer::start().await;
    grow(&s, 4).await;
    let all = s.get_json("/v1/checkpoints").await;
    let cps = all["checkpoints"].as_array().unwrap();
    assert!(cps.len() >= 4, "{all}");
    let sizes: Vec<u64> = cps.iter().map(|c| c["size"].as_u64().unwrap()).collect();
    assert!(
        sizes.windows(2).all(|w| w[0] > w[1]),
        "newest first: {sizes:?}"
    );
    assert!(all.get("next_before").is_none(), "one page holds them all");
    // The newest is the one GET /v1/checkpoint serves.
    let latest = s
        .get("/v1/checkpoint")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(cps[0]["note"], latest.as_str());
    let signer = &cps[0]["signers"][0];
    assert_eq!(signer["key_id"].as_str().unwrap().len(), 8);
    assert!(
        s.vkey.contains(signer["key_id"].as_str().unwrap()),
        "{signer} vs {}",
        s.vkey
    );
    assert_eq!(cps[0]["root"].as_str().unwrap().len(), 64);
    assert!(cps[0]["time"].as_u64().unwrap() > 0);
    // Pages of two follow each other without overlap.
    let p1 = s.get_json("/v1/checkpoints?limit=2").await;
    let before = p1["next_before"].as_u64().unwrap();
    assert_eq!(before, sizes[1]);
    let p2 = s
        .get_json(&format!("/v1/checkpoints?limit=2&before={before}"))
        .await;
    assert_eq!(p2["checkpoints"][0]["size"].as_u64().unwrap(), sizes[2]);
    // Bad paging is a 400 naming the parameter; huge bounds are fine.
    for (q, field) in [("limit=0", "limit"), ("limit=1001", "limit")] {
        let (status, v) =
            answer(s.get(&format!("/v1/checkpoints?{q}")).send().await.unwrap()).await;
        assert_eq!(status, 400, "{q}: {v}");
        assert_eq!(v["error"]["field"], field, "{v}");
    }
    let (status, v) = answer(
        s.get("/v1/checkpoints?before=18446744073709551615")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (status, _) = answer(s.get("/v1/checkpoints?before=-1").send().await.unwrap()).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn an_exports_plan_matches_the_bundle() {
    let s = TestServer::start().await;
    grow(&s, 3).await;
    for body in [
        json!({}),
        json!({"agent": "bot-a"}),
        json!({"kind": "tool_call", "action": "lookup"}),
    ] {
        let (status, plan) =
            answer(s.post("/v1/exports/plan").json(&body).send().await.unwrap()).await;
        assert_eq!(status, 200, "{body}: {plan}");
        let r = s.post("/v1/exports").json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let header = r
            .headers()
            .get("x-sealtrail-entries")
            .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        let size: u64 = r.headers()["sealtrail-checkpoint-size"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let m = unzip(&r.bytes().await.unwrap());
        let manifest: Value = serde_json::from_slice(&m["manifest.json"]).unwrap();
        assert_eq!(plan["checkpoint_size"], size, "{plan}");
        assert_eq!(
            plan["entries"], manifest["counts"]["matches"],
            "{body}: {plan} vs {manifest}"
        );
        assert_eq!(plan["completeness"], manifest["completeness"], "{body}");
        if manifest["counts"]["matches"].as_u64().unwrap() > 0 {
            assert!(plan["first"].as_u64().unwrap() <= plan["last"].as_u64().unwrap());
        }
        if body == json!({}) {
            assert_eq!(plan["entries"], 6);
            assert_eq!(
                (plan["first"].as_u64(), plan["last"].as_u64()),
                (Some(0), Some(5))
            );
            assert_eq!(header, Some(6), "a time range's count is known up front");
        }
    }
    // A plan refuses what the export refuses.
    let (status, v) = answer(
        s.post("/v1/exports/plan")
            .json(&json!({"agent": 7}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    let (status, _) = answer(
        s.post("/v1/exports/plan")
            .body("{")
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_plan_of_an_empty_log_says_so() {
    let s = TestServer::start().await;
    let (status, v) = answer(
        s.post("/v1/exports/plan")
            .json(&json!({}))
            .timeout(Duration::from_secs(40))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404, "{v}");
}
