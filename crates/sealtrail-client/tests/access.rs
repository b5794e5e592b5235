//! The access methods against a stand-in server over real HTTP: methods,
//! paths, bodies, the project header, and a 403 that keeps its message.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use sealtrail_client::{
    AgentUpdate, Client, ClientError, CreateKey, NewAgent, TokenRequest, PROJECT_HEADER,
};
use serde_json::{json, Value};

/// What the stand-in saw: method, path and query, project header, body.
type Seen = Arc<Mutex<Vec<(String, String, Option<String>, Value)>>>;

fn answer(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn key_info(id: &str) -> Value {
    json!({"id": id, "name": "n", "role": "member", "scopes": ["read"], "project": "default",
           "created": 1, "created_by": "owner", "extra_field": true})
}

async fn handler(
    State(seen): State<Seen>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let project = headers
        .get(PROJECT_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri.to_string();
    seen.lock().unwrap().push((
        method.to_string(),
        path.clone(),
        project.clone(),
        body_json.clone(),
    ));
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok());
    if bearer == Some("Bearer viewer") && method != Method::GET {
        return answer(
            403,
            json!({"error": {"code": "forbidden", "message": "this viewer key lacks the `keys:write` scope needed for POST /v1/keys"}}),
        );
    }
    match (method.as_str(), path.as_str()) {
        ("GET", "/v1/whoami") => answer(
            200,
            json!({"id": "2f6c0e1d9a4b7c35", "name": "root", "role": "owner", "scopes": ["read"],
                   "project": project.unwrap_or_else(|| "default".into())}),
        ),
        ("GET", "/v1/keys") => answer(200, json!({"keys": [key_info("a"), key_info("b")]})),
        ("GET", "/v1/keys/a") => answer(200, key_info("a")),
        ("POST", "/v1/keys") => answer(201, json!({"key": "stk_a_secret", "info": key_info("a")})),
        ("PATCH", "/v1/keys/a") => answer(200, key_info("a")),
        ("POST", "/v1/keys/a/rotate") => {
            answer(201, json!({"key": "stk_c_secret", "info": key_info("c")}))
        }
        ("DELETE", "/v1/keys/a") => {
            let mut k = key_info("a");
            k["revoked"] = json!(5);
            answer(200, k)
        }
        ("POST", "/v1/tokens") => answer(
            201,
            json!({"token": "sts_x", "expires": 9, "agent": "bot", "session": body_json["session"]}),
        ),
        ("GET", "/v1/agents?status=active") => {
            answer(200, json!({"agents": [{"id": "bot", "status": "active"}]}))
        }
        ("GET", "/v1/agents/a%2Fb") => answer(200, json!({"id": "a/b", "status": "active"})),
        ("POST", "/v1/agents") => {
            let mut r = body_json.clone();
            r["version"] = json!(1);
            answer(201, r)
        }
        ("PATCH", "/v1/agents/bot") => answer(
            200,
            json!({"id": "bot", "status": body_json["status"], "version": 2}),
        ),
        ("GET", "/v1/projects") => answer(200, json!({"projects": [{"name": "default"}]})),
        ("POST", "/v1/projects") => answer(201, json!({"name": body_json["name"]})),
        ("GET", "/v1/signing-keys") => answer(200, json!({"keys": [{"vkey": "v"}]})),
        ("POST", "/v1/signing-keys/rotate") => answer(201, json!({"vkey": "w"})),
        _ => answer(
            404,
            json!({"error": {"code": "not_found", "message": "no such route"}}),
        ),
    }
}

async fn server() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new().fallback(handler).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn every_method_sends_what_the_contract_says() {
    let (url, seen) = server().await;
    let c = Client::builder(&url, "owner")
        .project("billing")
        .build()
        .unwrap();
    assert_eq!(c.project(), Some("billing"));

    assert_eq!(c.whoami().await.unwrap().project, "billing");
    assert_eq!(c.list_keys().await.unwrap().len(), 2);
    let k = c.get_key("a").await.unwrap();
    assert_eq!(k.extra["extra_field"], true);
    let mut req = CreateKey::new("ci", "agent");
    req.agent = Some("bot".into());
    req.expires_in = Some(60);
    assert_eq!(c.create_key(&req).await.unwrap().key, "stk_a_secret");
    let upd = sealtrail_client::KeyUpdate {
        role: Some("viewer".into()),
        ..Default::default()
    };
    c.update_key("a", &upd).await.unwrap();
    assert_eq!(
        c.rotate_key("a", Some(0)).await.unwrap().info.id,
        "c".to_string()
    );
    assert_eq!(c.revoke_key("a").await.unwrap().revoked, Some(5));
    let t = c
        .mint_token(&TokenRequest {
            session: "s1".into(),
            ttl_seconds: Some(60),
        })
        .await
        .unwrap();
    assert_eq!((t.token.as_str(), t.session.as_str()), ("sts_x", "s1"));
    assert_eq!(c.list_agents(Some("active")).await.unwrap()[0].id, "bot");
    assert_eq!(c.get_agent("a/b").await.unwrap().id, "a/b");
    let mut a = NewAgent::new("bot");
    a.risk_tier = Some("high".into());
    assert_eq!(c.register_agent(&a).await.unwrap().version, Some(1));
    let r = c
        .update_agent("bot", &AgentUpdate::status("suspended"))
        .await
        .unwrap();
    assert_eq!(r.status.as_deref(), Some("suspended"));
    assert_eq!(c.list_projects().await.unwrap()[0].name, "default");
    assert_eq!(c.create_project("p2").await.unwrap().name, "p2");
    assert_eq!(c.signing_keys().await.unwrap()["keys"][0]["vkey"], "v");
    assert_eq!(c.rotate_signing_key(Some(3600)).await.unwrap()["vkey"], "w");

    let seen = seen.lock().unwrap().clone();
    assert!(seen.iter().all(|s| s.2.as_deref() == Some("billing")));
    let find = |m: &str, p: &str| {
        seen.iter()
            .find(|s| s.0 == m && s.1 == p)
            .map(|s| s.3.clone())
            .unwrap_or_else(|| panic!("no {m} {p} in {seen:?}"))
    };
    assert_eq!(
        find("POST", "/v1/keys"),
        json!({"name": "ci", "role": "agent", "agent": "bot", "expires_in": 60})
    );
    assert_eq!(find("PATCH", "/v1/keys/a"), json!({"role": "viewer"}));
    assert_eq!(
        find("POST", "/v1/keys/a/rotate"),
        json!({"overlap_seconds": 0})
    );
    assert_eq!(find("DELETE", "/v1/keys/a"), Value::Null);
    assert_eq!(
        find("POST", "/v1/tokens"),
        json!({"session": "s1", "ttl_seconds": 60})
    );
    assert_eq!(find("POST", "/v1/agents")["risk_tier"], "high");
    assert_eq!(
        find("PATCH", "/v1/agents/bot"),
        json!({"status": "suspended"})
    );
    assert_eq!(find("POST", "/v1/projects"), json!({"name": "p2"}));
    assert_eq!(
        find("POST", "/v1/signing-keys/rotate"),
        json!({"overlap_seconds": 3600})
    );
}

#[tokio::test]
async fn no_project_header_unless_asked_and_403_keeps_the_message() {
    let (url, seen) = server().await;
    let c = Client::new(&url, "viewer").unwrap();
    assert_eq!(c.project(), None);
    let e = c
        .create_key(&CreateKey::new("x", "viewer"))
        .await
        .unwrap_err();
    assert!(e.is_forbidden(), "{e:?}");
    assert!(matches!(e, ClientError::Api { status: 403, .. }));
    assert!(
        e.to_string().contains("lacks the `keys:write` scope"),
        "{e}"
    );
    assert_eq!(seen.lock().unwrap()[0].2, None);
}

#[test]
fn project_names_that_cannot_be_headers_are_refused() {
    for bad in ["a\nb", "", " "] {
        let e = Client::builder("http://127.0.0.1:1", "k")
            .project(bad)
            .build()
            .unwrap_err();
        assert!(matches!(e, ClientError::Build(_)), "{bad:?}: {e:?}");
    }
}
