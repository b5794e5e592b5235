//! Identity and access against a real server (docs/access.md): the
//! permission matrix, agent-key binding, revocation, expiry and retirement,
//! session tokens, scope verdicts, self-audit events in an evidence bundle,
//! projects and rate limits.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use sealtrail_core::bundle::verify_members;
use sealtrail_core::note::{Ed25519Verifier, NoteVerifier};
use sealtrail_testkit::TestServer;
use sealtrail_testkit::{entries_text, unzip};
use serde_json::{json, Value};

async fn server() -> TestServer {
    TestServer::start_with(|o| o.audit_reads = true).await
}

async fn call(
    s: &TestServer,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = s
        .http
        .request(method, format!("{}{path}", s.url))
        .bearer_auth(key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Creates a key with the owner key; (secret, id).
async fn make_key(s: &TestServer, body: Value) -> (String, String) {
    let (status, v) = call(s, &s.key, Method::POST, "/v1/keys", Some(body)).await;
    assert_eq!(status, 201, "{v}");
    (
        v["key"].as_str().unwrap().to_string(),
        v["info"]["id"].as_str().unwrap().to_string(),
    )
}

fn ev(agent: &str, id: &str) -> Value {
    json!({"id": id, "agent": {"id": agent}, "session": "s-1", "kind": "tool_call",
           "action": "lookup", "tool": {"name": "crm.lookup"}})
}

/// Every role against every endpoint: allowed, or 403 naming the scope.
#[tokio::test]
async fn permission_matrix() {
    let s = server().await;
    let (_, v) = s.ingest(json!([ev("bot-1", "seed-1")])).await;
    assert_eq!(v["accepted"], 1);
    let mut keys: BTreeMap<&str, String> = BTreeMap::new();
    keys.insert("owner", s.key.clone());
    for role in ["admin", "member", "viewer", "auditor", "agent"] {
        let mut body = json!({"name": format!("{role} key"), "role": role});
        if role == "auditor" {
            body["expires_in"] = json!(3600);
        }
        if role == "agent" {
            body["agent"] = json!("bot-1");
        }
        keys.insert(role, make_key(&s, body).await.0);
    }
    // The documented table (docs/access.md), written out independently of
    // the server's own.
    let table: BTreeMap<&str, &[&str]> = BTreeMap::from([
        (
            "owner",
            &[
                "ingest",
                "read",
                "bodies",
                "proofs",
                "export",
                "agents:read",
                "agents:write",
                "keys:read",
                "keys:write",
                "projects",
                "signing",
            ][..],
        ),
        (
            "admin",
            &[
                "ingest",
                "read",
                "bodies",
                "proofs",
                "export",
                "agents:read",
                "agents:write",
                "keys:read",
                "keys:write",
            ][..],
        ),
        (
            "member",
            &[
                "ingest",
                "read",
                "bodies",
                "proofs",
                "export",
                "agents:read",
            ][..],
        ),
        ("viewer", &["read", "bodies", "proofs", "agents:read"][..]),
        (
            "auditor",
            &[
                "read",
                "bodies",
                "proofs",
                "export",
                "agents:read",
                "keys:read",
            ][..],
        ),
        ("agent", &["ingest", "proofs"][..]),
    ]);
    type Endpoint = (&'static str, Method, &'static str, Option<Value>);
    let endpoints = |role: &str| -> Vec<Endpoint> {
        vec![
            (
                "ingest",
                Method::POST,
                "/v1/events",
                Some(json!([ev("bot-1", &format!("m-{role}"))])),
            ),
            (
                "ingest",
                Method::POST,
                "/v1/traces",
                Some(json!({"resourceSpans": []})),
            ),
            ("read", Method::GET, "/v1/events?limit=1", None),
            ("read", Method::GET, "/v1/stats?group_by=agent", None),
            ("read", Method::GET, "/v1/entries/0", None),
            (
                "export",
                Method::POST,
                "/v1/exports",
                Some(json!({"agent": "bot-1", "bodies": false})),
            ),
            ("proofs", Method::GET, "/v1/checkpoint", None),
            ("proofs", Method::GET, "/v1/entries/0/proof", None),
            ("proofs", Method::GET, "/v1/consistency?from=0&to=1", None),
            ("proofs", Method::GET, "/tlog/checkpoint", None),
            ("proofs", Method::GET, "/v1/signing-keys", None),
            ("agents:read", Method::GET, "/v1/agents", None),
            (
                "agents:write",
                Method::POST,
                "/v1/agents",
                Some(json!({"id": format!("agent-by-{role}")})),
            ),
            ("keys:read", Method::GET, "/v1/keys", None),
            (
                "keys:write",
                Method::POST,
                "/v1/keys",
                Some(json!({"name": "new", "role": "viewer"})),
            ),
            (
                "projects",
                Method::POST,
                "/v1/projects",
                Some(json!({"name": format!("p-{role}")})),
            ),
            (
                "signing",
                Method::POST,
                "/v1/signing-keys/rotate",
                Some(json!({"overlap_seconds": 60})),
            ),
        ]
    };
    // A checkpoint exists before proofs are asked for.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut checked = 0;
    for (role, key) in &keys {
        for (scope, method, path, body) in endpoints(role) {
            let allowed = table[role].contains(&scope);
            let (status, v) = call(&s, key, method.clone(), path, body).await;
            if allowed {
                assert!(
                    status != 403 && status != 401 && status < 500,
                    "{role} {method} {path}: {status} {v}"
                );
            } else {
                assert_eq!(status, 403, "{role} {method} {path}: {v}");
                // OTLP answers errors as a google.rpc.Status, the rest as {"error": …}.
                let msg = v["error"]["message"]
                    .as_str()
                    .or(v["message"].as_str())
                    .unwrap_or_else(|| panic!("{role} {path}: no message in {v}"));
                assert!(
                    msg.contains(&format!("lacks the `{scope}` scope needed for")),
                    "{role} {path}: {msg}"
                );
                if path != "/v1/traces" {
                    assert_eq!(v["error"]["code"], "forbidden");
                }
            }
            checked += 1;
        }
        // Every key may see itself; only agent keys mint session tokens.
        let (status, who) = call(&s, key, Method::GET, "/v1/whoami", None).await;
        assert_eq!(status, 200);
        assert_eq!(who["role"], *role);
        let (status, _) = call(
            &s,
            key,
            Method::POST,
            "/v1/tokens",
            Some(json!({"session": "t"})),
        )
        .await;
        assert_eq!(
            status,
            if *role == "agent" { 201 } else { 403 },
            "{role} tokens"
        );
    }
    assert_eq!(checked, 6 * 17);
}

#[tokio::test]
async fn an_agent_key_writes_only_for_its_agent() {
    let s = server().await;
    let (key, _) = make_key(
        &s,
        json!({"name": "bot", "role": "agent", "agent": "bot-1"}),
    )
    .await;
    assert!(key.starts_with("sta_"));
    let (status, v) = call(
        &s,
        &key,
        Method::POST,
        "/v1/events",
        Some(json!([ev("bot-2", "x-1")])),
    )
    .await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["results"][0]["error"]["code"], "agent_mismatch");
    assert!(v["results"][0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("\"bot-1\" only"));
    // Mixed: its own event is sealed, the forged one is not.
    let (status, v) = call(
        &s,
        &key,
        Method::POST,
        "/v1/events",
        Some(json!([ev("bot-1", "ok-1"), ev("bot-2", "x-2")])),
    )
    .await;
    assert_eq!(status, 207, "{v}");
    assert_eq!(v["accepted"], 1);
    // The same forgery over OTLP is rejected as a partial success.
    let span = json!({"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "bot-2"}}]},
        "scopeSpans": [{"spans": [{"traceId": "0102030405060708090a0b0c0d0e0f10",
        "spanId": "0102030405060708", "name": "execute_tool crm.lookup", "kind": 1,
        "startTimeUnixNano": "1795000000000000000", "endTimeUnixNano": "1795000000100000000",
        "attributes": [{"key": "gen_ai.agent.id", "value": {"stringValue": "bot-2"}}]}]}]}]});
    let (status, v) = call(&s, &key, Method::POST, "/v1/traces", Some(span)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["partialSuccess"]["rejectedSpans"], "1", "{v}");
    assert!(v["partialSuccess"]["errorMessage"]
        .as_str()
        .unwrap()
        .contains("writes for agent"));
    // Nobody writes as the server itself, not even the owner.
    let (status, v) = s.ingest(json!([ev("sealtrail", "forged-audit")])).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["results"][0]["error"]["code"], "reserved_agent");
    let page = s.get_json("/v1/events?agent=bot-2").await;
    assert_eq!(page["events"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn revoked_expired_and_retired_keys_are_refused_at_once() {
    let s = server().await;
    let (key, id) = make_key(&s, json!({"name": "m", "role": "member"})).await;
    let (status, _) = call(&s, &key, Method::GET, "/v1/whoami", None).await;
    assert_eq!(status, 200);
    let (status, v) = call(&s, &s.key, Method::DELETE, &format!("/v1/keys/{id}"), None).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["revoked"].as_u64().is_some());
    let (status, v) = call(&s, &key, Method::GET, "/v1/whoami", None).await;
    assert_eq!(status, 401);
    assert_eq!(v["error"]["code"], "key_revoked");
    assert!(
        !v.to_string().contains(&key[21..]),
        "the secret is never echoed"
    );

    let (key, _) = make_key(
        &s,
        json!({"name": "short", "role": "viewer", "expires_in": 1}),
    )
    .await;
    assert_eq!(call(&s, &key, Method::GET, "/v1/whoami", None).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, v) = call(&s, &key, Method::GET, "/v1/whoami", None).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (401, Some("key_expired"))
    );

    // A retired agent cannot write: its keys and their session tokens die.
    let (status, _) = call(
        &s,
        &s.key,
        Method::POST,
        "/v1/agents",
        Some(json!({"id": "bot-9"})),
    )
    .await;
    assert_eq!(status, 201);
    let (akey, _) = make_key(&s, json!({"name": "b9", "role": "agent", "agent": "bot-9"})).await;
    let (status, t) = call(
        &s,
        &akey,
        Method::POST,
        "/v1/tokens",
        Some(json!({"session": "task-1"})),
    )
    .await;
    assert_eq!(status, 201, "{t}");
    let token = t["token"].as_str().unwrap().to_string();
    let mut e = ev("bot-9", "t-1");
    e["session"] = json!("task-1");
    assert_eq!(
        call(&s, &token, Method::POST, "/v1/events", Some(json!([e])))
            .await
            .0,
        200
    );
    let (status, v) = call(
        &s,
        &s.key,
        Method::PATCH,
        "/v1/agents/bot-9",
        Some(json!({"status": "retired"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    for k in [&akey, &token] {
        let (status, v) = call(
            &s,
            k,
            Method::POST,
            "/v1/events",
            Some(json!([ev("bot-9", "after")])),
        )
        .await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (401, Some("key_revoked")),
            "{v}"
        );
    }
    let (status, v) = call(
        &s,
        &s.key,
        Method::PATCH,
        "/v1/agents/bot-9",
        Some(json!({"status": "active"})),
    )
    .await;
    assert_eq!(status, 409, "retirement is final: {v}");
    // A wrong secret for a real key id is refused, naming only the id.
    let bad = format!("{}x", &akey[..akey.len() - 1]);
    let (status, v) = call(&s, &bad, Method::GET, "/v1/whoami", None).await;
    assert_eq!(status, 401);
    assert!(!v.to_string().contains(&bad[21..]));
}

#[tokio::test]
async fn session_tokens_write_one_session_and_expire() {
    let s = server().await;
    let (akey, _) = make_key(&s, json!({"name": "b", "role": "agent", "agent": "bot-1"})).await;
    let (_, t) = call(
        &s,
        &akey,
        Method::POST,
        "/v1/tokens",
        Some(json!({"session": "task-7", "ttl_seconds": 1})),
    )
    .await;
    let token = t["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("sts_"));
    let mut own = ev("bot-1", "t-ok");
    own["session"] = json!("task-7");
    let (status, v) = call(
        &s,
        &token,
        Method::POST,
        "/v1/events",
        Some(json!([own, ev("bot-1", "t-other")])),
    )
    .await;
    assert_eq!(status, 207, "{v}");
    assert_eq!(v["results"][1]["error"]["code"], "session_mismatch");
    // Tokens write; they do not read or mint more tokens.
    assert_eq!(
        call(&s, &token, Method::GET, "/v1/events", None).await.0,
        403
    );
    assert_eq!(
        call(
            &s,
            &token,
            Method::POST,
            "/v1/tokens",
            Some(json!({"session": "x"}))
        )
        .await
        .0,
        403
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, v) = call(&s, &token, Method::GET, "/v1/whoami", None).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (401, Some("token_expired"))
    );
    let forged = format!("{}A", &token[..token.len() - 1]);
    assert_eq!(
        call(&s, &forged, Method::GET, "/v1/whoami", None).await.0,
        401
    );
}

#[tokio::test]
async fn scope_verdicts_are_sealed_and_queryable() {
    let s = server().await;
    let agent = json!({"id": "support-bot", "name": "Support", "owner": "cx-team", "purpose": "answers tickets",
        "risk_tier": "limited", "scope": {"tools": ["crm.*"], "actions": ["lookup", "reply"],
        "resources": ["crm:customer/*"], "data_classes": ["pii"]}});
    let (status, v) = call(&s, &s.key, Method::POST, "/v1/agents", Some(agent)).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["version"], 1);
    let e = |id: &str, tool: &str, action: &str, resource: &str, classes: Value| {
        json!({"id": id, "agent": {"id": "support-bot"}, "kind": "tool_call", "action": action,
               "resource": resource, "tool": {"name": tool}, "data_classes": classes})
    };
    let events = json!([
        e(
            "in-1",
            "crm.lookup",
            "lookup",
            "crm:customer/42",
            json!(["pii"])
        ),
        e(
            "out-tool",
            "shell.exec",
            "lookup",
            "crm:customer/42",
            json!([])
        ),
        e(
            "out-action",
            "crm.lookup",
            "delete",
            "crm:customer/42",
            json!([])
        ),
        e(
            "out-resource",
            "crm.lookup",
            "lookup",
            "billing:invoice/jane@example.com",
            json!([])
        ),
        e(
            "out-class",
            "crm.lookup",
            "lookup",
            "crm:customer/42",
            json!(["pci"])
        ),
        ev("stranger", "unreg-1"),
    ]);
    let (status, v) = s.ingest(events).await;
    assert_eq!(
        status, 200,
        "out-of-scope events are recorded, never dropped: {v}"
    );
    let verdict = |id: &str| {
        let s = &s;
        let id = id.to_string();
        async move {
            let page = s.get_json("/v1/events?limit=100").await;
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["header"]["event_id"] == id.as_str())
                .map(|x| x["header"]["scope"].as_str().unwrap().to_string())
                .unwrap()
        }
    };
    assert_eq!(verdict("in-1").await, "in_scope");
    assert_eq!(
        verdict("out-tool").await,
        "out_of_scope: tool \"shell.exec\" not allowed"
    );
    assert_eq!(
        verdict("out-action").await,
        "out_of_scope: action \"delete\" not allowed"
    );
    assert_eq!(
        verdict("out-resource").await,
        "out_of_scope: resource not allowed"
    );
    assert_eq!(
        verdict("out-class").await,
        "out_of_scope: data class \"pci\" not allowed"
    );
    assert_eq!(verdict("unreg-1").await, "unregistered_agent");
    let ids = |q: &str| {
        let s = &s;
        let q = q.to_string();
        async move {
            let page = s.get_json(&format!("/v1/events?{q}")).await;
            let mut ids: Vec<String> = page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["header"]["event_id"].as_str().unwrap_or("").to_string())
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(
        ids("scope=out_of_scope").await,
        ["out-action", "out-class", "out-resource", "out-tool"]
    );
    assert_eq!(ids("scope=in_scope").await, ["in-1"]);
    assert_eq!(ids("scope=unregistered_agent").await, ["unreg-1"]);
    let metrics = s
        .http
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sealtrail_events_out_of_scope_total 4\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sealtrail_events_unregistered_agent_total 1\n"),
        "{metrics}"
    );
    // The resource itself (personal data) never reaches a header.
    for i in 0..8 {
        let entry = s.get_json(&format!("/v1/entries/{i}")).await;
        assert!(!entry["header"].to_string().contains("jane@"));
    }
    // Suspending the agent makes its next events out of scope.
    let (status, _) = call(
        &s,
        &s.key,
        Method::PATCH,
        "/v1/agents/support-bot",
        Some(json!({"status": "suspended"})),
    )
    .await;
    assert_eq!(status, 200);
    s.ingest(json!([e(
        "late",
        "crm.lookup",
        "lookup",
        "crm:customer/1",
        json!([])
    )]))
    .await;
    assert_eq!(verdict("late").await, "out_of_scope: agent is suspended");
    // Bad records get a 400 naming the field.
    let (status, v) = call(
        &s,
        &s.key,
        Method::POST,
        "/v1/agents",
        Some(json!({"id": "x", "annex_iii": "employment"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["field"], "annex_iii", "{v}");
    let (status, v) = call(
        &s,
        &s.key,
        Method::POST,
        "/v1/agents",
        Some(json!({"id": "x", "colour": "red"})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("colour"),
        "{v}"
    );
}

#[tokio::test]
async fn administrative_actions_are_attributed_events_in_a_verified_bundle() {
    let s = server().await;
    let (admin, admin_id) = make_key(&s, json!({"name": "alice", "role": "admin"})).await;
    let (viewer, vid) = {
        let (status, v) = call(
            &s,
            &admin,
            Method::POST,
            "/v1/keys",
            Some(json!({"name": "bob", "role": "viewer"})),
        )
        .await;
        assert_eq!(status, 201);
        (
            v["key"].as_str().unwrap().to_string(),
            v["info"]["id"].as_str().unwrap().to_string(),
        )
    };
    // An admin cannot mint owners, nor promote to owner.
    let (status, _) = call(
        &s,
        &admin,
        Method::POST,
        "/v1/keys",
        Some(json!({"name": "x", "role": "owner"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, v) = call(
        &s,
        &admin,
        Method::PATCH,
        &format!("/v1/keys/{vid}"),
        Some(json!({"role": "member"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (status, _) = call(
        &s,
        &admin,
        Method::POST,
        &format!("/v1/keys/{vid}/rotate"),
        Some(json!({"overlap_seconds": 0})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        call(&s, &viewer, Method::GET, "/v1/whoami", None).await.0,
        401,
        "rotated out with no overlap"
    );
    call(
        &s,
        &admin,
        Method::POST,
        "/v1/agents",
        Some(json!({"id": "bot-1"})),
    )
    .await;
    call(
        &s,
        &admin,
        Method::PATCH,
        "/v1/agents/bot-1",
        Some(json!({"purpose": "refunds"})),
    )
    .await;
    call(&s, &admin, Method::GET, "/v1/events?agent=bot-1", None).await;
    let (status, v) = call(
        &s,
        &s.key,
        Method::POST,
        "/v1/signing-keys/rotate",
        Some(json!({"overlap_seconds": 3600})),
    )
    .await;
    assert_eq!(status, 201, "{v}");

    let page = s
        .get_json("/v1/events?agent=sealtrail&include=body&limit=100")
        .await;
    let events: Vec<&Value> = page["events"].as_array().unwrap().iter().collect();
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["event"]["kind"].as_str().unwrap(),
                e["event"]["action"].as_str().unwrap(),
            )
        })
        .collect();
    for want in [
        ("access_change", "key.create"),
        ("access_change", "key.update"),
        ("access_change", "key.rotate"),
        ("config_change", "agent.register"),
        ("config_change", "agent.update"),
        ("data_access", "log.query"),
        ("config_change", "signing_key.rotate"),
    ] {
        assert!(actions.contains(&want), "{want:?} missing from {actions:?}");
    }
    let update = events
        .iter()
        .find(|e| e["event"]["action"] == "key.update")
        .unwrap();
    assert_eq!(
        update["event"]["principal"],
        format!("key:{admin_id} alice (admin)")
    );
    assert_eq!(update["event"]["session"], format!("key:{admin_id}"));
    assert_eq!(update["event"]["change"]["before"]["role"], "viewer");
    assert_eq!(update["event"]["change"]["after"]["role"], "member");
    let text = page.to_string();
    assert!(
        !text.contains("secret_hash") && !text.contains(&viewer[21..]),
        "no secrets in audit events"
    );

    // The admin stream exports as a stream-complete bundle that verifies.
    let r = s
        .post("/v1/exports")
        .json(&json!({"agent": "sealtrail"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut m = unzip(&r.bytes().await.unwrap());
    let v = Ed25519Verifier::from_vkey(&s.vkey).unwrap();
    let report = verify_members(&mut m, &[&v as &dyn NoteVerifier]);
    assert!(report.ok(), "{report:?}");
    let lines = entries_text(&m);
    for action in [
        "key.create",
        "key.update",
        "key.rotate",
        "agent.register",
        "signing_key.rotate",
    ] {
        assert!(lines.contains(action), "{action} not in the bundle");
    }
    let manifest: Value = serde_json::from_slice(&m["manifest.json"]).unwrap();
    assert!(manifest.to_string().contains("complete"), "{manifest}");
}

#[tokio::test]
async fn projects_are_separate_logs() {
    let mut s = server().await;
    let (status, p) = call(
        &s,
        &s.key,
        Method::POST,
        "/v1/projects",
        Some(json!({"name": "team-a"})),
    )
    .await;
    assert_eq!(status, 201, "{p}");
    assert!(p["origin"].as_str().unwrap().ends_with("/team-a"));
    assert_eq!(
        call(
            &s,
            &s.key,
            Method::POST,
            "/v1/projects",
            Some(json!({"name": "team-a"}))
        )
        .await
        .0,
        409
    );
    assert_eq!(
        call(
            &s,
            &s.key,
            Method::POST,
            "/v1/projects",
            Some(json!({"name": "Bad Name"}))
        )
        .await
        .0,
        400
    );
    let in_a = |b: reqwest::RequestBuilder| b.header("Sealtrail-Project", "team-a");
    // A member key of team-a, made by the owner acting on team-a.
    let r = in_a(s.post("/v1/keys"))
        .json(&json!({"name": "a-member", "role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let member: Value = r.json().await.unwrap();
    let member = member["key"].as_str().unwrap().to_string();
    let (status, v) = call(
        &s,
        &member,
        Method::POST,
        "/v1/events",
        Some(json!([ev("bot-a", "a-1")])),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["results"][0]["index"], 2,
        "team-a's own log: project.create, key.create, then this"
    );
    // It cannot reach another project.
    let r = s
        .http
        .get(format!("{}/v1/events", s.url))
        .bearer_auth(&member)
        .header("Sealtrail-Project", "default")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let default_page = s.get_json("/v1/events?agent=bot-a").await;
    assert_eq!(default_page["events"].as_array().unwrap().len(), 0);
    let a_page: Value = in_a(s.get("/v1/events?agent=bot-a"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a_page["events"].as_array().unwrap().len(), 1);
    // Its own checkpoint and tiles, under its own origin.
    let mut cp = String::new();
    for _ in 0..100 {
        let r = s
            .get("/projects/team-a/tlog/checkpoint")
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            cp = r.text().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(cp.starts_with(p["origin"].as_str().unwrap()), "{cp}");
    assert_eq!(
        s.get("/projects/nope/tlog/checkpoint")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // It survives a restart.
    let dir = s.dir.path().to_path_buf();
    s.stop().await;
    let mut opts = sealtrail_testkit::options(&dir);
    opts.audit_reads = true;
    let (running, _) = sealtrail_server::start(opts).await.unwrap();
    let url = format!("http://{}", running.addr);
    let r = s
        .http
        .get(format!("{url}/v1/events?agent=bot-a"))
        .bearer_auth(&member)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 1);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_key_over_its_rate_limit_gets_429_with_retry_after() {
    let s = server().await;
    let (key, _) = make_key(
        &s,
        json!({"name": "slow", "role": "viewer",
        "rate_limit": {"per_second": 0.5, "burst": 2}}),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(call(&s, &key, Method::GET, "/v1/whoami", None).await.0, 200);
    }
    let r = s
        .http
        .get(format!("{}/v1/whoami", s.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limited");
    // Other keys are not affected.
    assert_eq!(
        call(&s, &s.key, Method::GET, "/v1/whoami", None).await.0,
        200
    );
    let bad = call(
        &s,
        "stk_0123456789abcdef_nope",
        Method::GET,
        "/v1/whoami",
        None,
    )
    .await;
    assert_eq!(bad.0, 401);
    let metrics = s
        .http
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sealtrail_requests_rate_limited_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sealtrail_requests_unauthorized_total 1\n"),
        "{metrics}"
    );
}

/// Owner keys of data directories made before key ids existed keep working,
/// and can now be listed, rotated and revoked like any other.
#[tokio::test]
async fn keys_made_before_key_ids_are_adopted() {
    let mut s = server().await;
    let dir = s.dir.path().to_path_buf();
    s.stop().await;
    let legacy = format!("stk_{}", "L".repeat(43));
    {
        let store = sealtrail_store::sqlite::SqliteStore::open(&dir).unwrap();
        sealtrail_store::AccessRecords::put_api_key(
            &store,
            &sealtrail_store::ApiKeyRecord {
                key_hash: sealtrail_core::hash::sha256(legacy.as_bytes()),
                name: "owner".into(),
                role: "owner".into(),
                created: 1,
            },
        )
        .unwrap();
    }
    let (running, _) = sealtrail_server::start(sealtrail_testkit::options(&dir))
        .await
        .unwrap();
    let url = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let who: Value = http
        .get(format!("{url}/v1/whoami"))
        .bearer_auth(&legacy)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = who["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("legacy-"), "{who}");
    assert_eq!(who["role"], "owner");
    let list: Value = http
        .get(format!("{url}/v1/keys"))
        .bearer_auth(&s.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list.to_string().contains(&id), "{list}");
    let r = http
        .delete(format!("{url}/v1/keys/{id}"))
        .bearer_auth(&s.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("{url}/v1/whoami"))
        .bearer_auth(&legacy)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "key_revoked");
    // A near miss of the legacy key is just unknown.
    let near = format!("stk_{}M", "L".repeat(42));
    let r = http
        .get(format!("{url}/v1/whoami"))
        .bearer_auth(&near)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    running.stop().await.unwrap();
}

/// Two nodes on one PostgreSQL schema: a key made on one works on the
/// other, a revocation on one holds on the other within a couple of
/// seconds, and a project made on one is served by the other.
#[tokio::test]
async fn revocations_and_projects_reach_every_node() {
    let Some((url, schema)) =
        sealtrail_testkit::postgres_schema("revocations_reach_every_node", "acl")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let opts = || sealtrail_testkit::postgres_options(dir.path(), &url, &schema.name);
    let (a, owner) = sealtrail_server::start(opts()).await.unwrap();
    let owner = owner.unwrap();
    let (b, _) = sealtrail_server::start(opts()).await.unwrap();
    let (ua, ub) = (format!("http://{}", a.addr), format!("http://{}", b.addr));
    let http = reqwest::Client::new();
    let status = |url: String, key: String| {
        let http = http.clone();
        async move {
            http.get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Waits up to 5 s for `want`; the seconds it took.
    let until = |url: String, key: String, want: u16| {
        let status = &status;
        async move {
            let t = std::time::Instant::now();
            while status(url.clone(), key.clone()).await != want {
                assert!(t.elapsed() < Duration::from_secs(5), "{url}: never {want}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            t.elapsed()
        }
    };
    let made: Value = http
        .post(format!("{ua}/v1/keys"))
        .bearer_auth(&owner)
        .json(&json!({"name": "m", "role": "member"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = made["info"]["id"].as_str().unwrap().to_string();
    let secret = made["key"].as_str().unwrap().to_string();
    until(format!("{ub}/v1/whoami"), secret.clone(), 200).await;
    let r = http
        .delete(format!("{ua}/v1/keys/{key}"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        status(format!("{ua}/v1/whoami"), secret.clone()).await,
        401,
        "at once on the node that revoked it"
    );
    let took = until(format!("{ub}/v1/whoami"), secret.clone(), 401).await;
    assert!(
        took < Duration::from_millis(2500),
        "other node took {took:?}"
    );

    let r = http
        .post(format!("{ua}/v1/projects"))
        .bearer_auth(&owner)
        .json(&json!({"name": "shared"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let t = std::time::Instant::now();
    loop {
        let r = http
            .get(format!("{ub}/v1/events"))
            .bearer_auth(&owner)
            .header("Sealtrail-Project", "shared")
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "node b never opened the project: {}",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Two nodes asked to create one project at once: one makes it.
    let create = |url: String| {
        http.post(format!("{url}/v1/projects"))
            .bearer_auth(&owner)
            .json(&json!({"name": "race"}))
            .send()
    };
    let (ra, rb) = tokio::join!(create(ua.clone()), create(ub.clone()));
    let mut codes = [ra.unwrap().status().as_u16(), rb.unwrap().status().as_u16()];
    codes.sort();
    assert_eq!(codes, [201, 409]);
    // A node with a data directory of its own (the default log's key copied
    // in, as docs/deploy.md says) does not serve the project until its key
    // is there too: it never makes a key of its own for it.
    let dir_c = tempfile::tempdir().unwrap();
    for f in ["log.key", "signing-keys.json"] {
        if dir.path().join(f).exists() {
            std::fs::copy(dir.path().join(f), dir_c.path().join(f)).unwrap();
        }
    }
    let mut oc = opts();
    oc.data = dir_c.path().to_path_buf();
    let (c, _) = sealtrail_server::start(oc).await.unwrap();
    let uc = format!("http://{}", c.addr);
    let in_shared = |url: &str| {
        http.get(format!("{url}/v1/events"))
            .bearer_auth(&owner)
            .header("Sealtrail-Project", "shared")
            .send()
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(in_shared(&uc).await.unwrap().status(), 404);
    assert!(!dir_c.path().join("projects/shared/log.key").exists());
    let (from, to) = (
        dir.path().join("projects/shared"),
        dir_c.path().join("projects/shared"),
    );
    std::fs::create_dir_all(&to).unwrap();
    for e in std::fs::read_dir(&from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
    let t = std::time::Instant::now();
    while in_shared(&uc).await.unwrap().status() != 200 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "node c never opened the project"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.stop().await.unwrap();
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    // The projects' own schemas are not the guard's: drop them here.
    let name = schema.name.clone();
    sealtrail_testkit::off_runtime(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        for p in ["shared", "race"] {
            c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}_{p}\" CASCADE"))
                .unwrap();
        }
    });
}

/// A change whose audit event was sealed but which could not be stored is
/// answered 503, takes no effect, and the log says it failed.
#[tokio::test]
async fn an_audited_change_that_cannot_be_stored_is_logged_as_failed() {
    let s = server().await;
    // The access records' table goes away under the running server; the
    // log's own tables stay, so audit events can still be sealed.
    let db = rusqlite::Connection::open(s.dir.path().join("log.db")).unwrap();
    db.execute_batch("DROP TABLE access").unwrap();
    drop(db);
    let (status, v) = call(
        &s,
        &s.key,
        Method::POST,
        "/v1/keys",
        Some(json!({"name": "n", "role": "viewer"})),
    )
    .await;
    assert_eq!(status, 503, "{v}");
    assert!(v.get("key").is_none(), "no secret handed out: {v}");
    let page = s.get_json("/v1/events?agent=sealtrail&include=body").await;
    let outcomes: Vec<(String, String)> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["action"] == "key.create")
        .map(|e| {
            (
                e["event"]["outcome"].as_str().unwrap().to_string(),
                e["event"]["attributes"]["error"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert_eq!(outcomes[0].0, "success");
    assert_eq!(outcomes[1].0, "failure");
    assert!(outcomes[1].1.contains("unavailable"), "{outcomes:?}");
    let list: Value = s.get_json("/v1/keys").await;
    assert_eq!(
        list["keys"].as_array().unwrap().len(),
        1,
        "only the owner key: {list}"
    );
}

/// An auditor key made without bodies reads headers, exports without
/// bodies, and is refused bodies; keys show when they were last used.
#[tokio::test]
async fn auditors_without_bodies_and_last_used_times() {
    let s = server().await;
    let (_, v) = s.ingest(json!([ev("bot-1", "b-1")])).await;
    assert_eq!(v["accepted"], 1);
    let (status, v) = call(
        &s,
        &s.key,
        Method::POST,
        "/v1/keys",
        Some(json!({"name": "ext-audit", "role": "auditor", "bodies": false})),
    )
    .await;
    assert_eq!(status, 400, "auditor keys must expire: {v}");
    assert_eq!(v["error"]["field"], "expires");
    let (key, id) = make_key(
        &s,
        json!({"name": "ext-audit", "role": "auditor", "bodies": false,
        "expires_in": 7 * 86400}),
    )
    .await;
    let (status, v) = call(&s, &key, Method::GET, "/v1/events?include=body", None).await;
    assert_eq!(status, 403, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("`bodies`"));
    let (status, v) = call(&s, &key, Method::GET, "/v1/events?agent=bot-1", None).await;
    assert_eq!(status, 200);
    assert_eq!(v["events"][0]["header"]["agent"], "bot-1");
    let (status, v) = call(&s, &key, Method::GET, "/v1/entries/0", None).await;
    assert_eq!(status, 200);
    assert!(v["body"].is_null() && v["salt"].is_null(), "{v}");
    let r = s
        .http
        .post(format!("{}/v1/exports", s.url))
        .bearer_auth(&key)
        .json(&json!({"agent": "bot-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "an export without bodies by default");
    let m = unzip(&r.bytes().await.unwrap());
    let manifest: Value = serde_json::from_slice(&m["manifest.json"]).unwrap();
    assert_eq!(manifest["with_bodies"], false, "{manifest}");
    let r = s
        .http
        .post(format!("{}/v1/exports", s.url))
        .bearer_auth(&key)
        .json(&json!({"agent": "bot-1", "bodies": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let info = s.get_json(&format!("/v1/keys/{id}")).await;
    let used = info["last_used"]
        .as_u64()
        .expect("last_used is set once the key is used");
    assert!(used >= info["created"].as_u64().unwrap(), "{info}");
    // Its reads are on record, attributed to it.
    let page = s
        .get_json(&format!("/v1/events?session=key:{id}&include=body"))
        .await;
    let actions: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["action"].as_str().unwrap())
        .collect();
    for a in ["log.query", "log.entry_read", "log.export"] {
        assert!(actions.contains(&a), "{a} not in {actions:?}");
    }
}
