//! Web console sessions against a real server (issue 17): sign-in with a
//! person's key for an HttpOnly SameSite=Strict cookie, the cookie accepted
//! by every endpoint as its key (roles, scopes, self-audit), the CSRF
//! token on state changes, idle and absolute timeouts, sign-out and key
//! revocation ending the session server-side, and sessions shared by the
//! nodes of one PostgreSQL database.

use std::time::{Duration, Instant};

use reqwest::Method;
use sealtrail_server::config::ConsoleOptions;
use sealtrail_testkit::TestServer;
use serde_json::{json, Value};

/// A signed-in browser: the cookie it holds and the CSRF token it was given.
struct Browser {
    cookie: String,
    csrf: String,
    session: Value,
}

/// `DELETE /v1/console/session` as `b`'s browser sends it (cookie and CSRF
/// token); the response, for its status and `Set-Cookie`.
async fn sign_out(s: &TestServer, b: &Browser) -> reqwest::Response {
    s.http
        .delete(format!("{}/v1/console/session", s.url))
        .header("cookie", &b.cookie)
        .header("x-csrf-token", &b.csrf)
        .send()
        .await
        .unwrap()
}

async fn server_with(console: ConsoleOptions) -> TestServer {
    TestServer::start_with(|o| {
        o.audit_reads = true;
        o.console = console;
    })
    .await
}

async fn server() -> TestServer {
    server_with(ConsoleOptions::default()).await
}

async fn answer(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn sign_in_at(http: &reqwest::Client, url: &str, key: &str) -> (u16, Value, Option<String>) {
    let r = http
        .post(format!("{url}/v1/console/session"))
        .json(&json!({"key": key}))
        .send()
        .await
        .unwrap();
    let set = r
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_string());
    let (status, v) = answer(r).await;
    (status, v, set)
}

async fn sign_in(s: &TestServer, key: &str) -> Browser {
    browser_at(&s.http, &s.url, key).await
}

async fn browser_at(http: &reqwest::Client, url: &str, key: &str) -> Browser {
    let (status, session, set) = sign_in_at(http, url, key).await;
    assert_eq!(status, 200, "{session}");
    let set = set.expect("sign-in sets the cookie");
    let cookie = set.split(';').next().unwrap().trim().to_string();
    assert!(cookie.starts_with("sealtrail_session="), "{set}");
    Browser {
        cookie,
        csrf: session["csrf"].as_str().unwrap().to_string(),
        session,
    }
}

/// A request as the console's browser sends it: the cookie, and the CSRF
/// token when `csrf` says so.
async fn with_cookie(
    http: &reqwest::Client,
    url: &str,
    b: &Browser,
    method: Method,
    path: &str,
    body: Option<Value>,
    csrf: Option<&str>,
) -> (u16, Value) {
    let mut r = http
        .request(method, format!("{url}{path}"))
        .header("cookie", &b.cookie);
    if let Some(t) = csrf {
        r = r.header("x-csrf-token", t);
    }
    if let Some(body) = body {
        r = r.json(&body);
    }
    answer(r.send().await.unwrap()).await
}

async fn call(s: &TestServer, b: &Browser, method: Method, path: &str) -> (u16, Value) {
    with_cookie(&s.http, &s.url, b, method, path, None, None).await
}

/// Creates a key with the owner key: (secret, id).
async fn make_key(s: &TestServer, body: Value) -> (String, String) {
    let (status, v) = answer(s.post("/v1/keys").json(&body).send().await.unwrap()).await;
    assert_eq!(status, 201, "{v}");
    (
        v["key"].as_str().unwrap().to_string(),
        v["info"]["id"].as_str().unwrap().to_string(),
    )
}

fn ev(agent: &str, id: &str) -> Value {
    json!({"id": id, "agent": {"id": agent}, "session": "s-1", "kind": "tool_call",
           "action": "lookup", "tool": {"name": "crm.lookup", "arguments": {"q": "secret body"}}})
}

#[tokio::test]
async fn sign_in_use_and_sign_out() {
    let s = server().await;
    let (status, v) = s.ingest(json!([ev("bot-1", "e-1")])).await;
    assert_eq!(status, 200, "{v}");
    let owner_id = s.get_json("/v1/whoami").await["id"]
        .as_str()
        .unwrap()
        .to_string();

    let (status, session, set) = sign_in_at(&s.http, &s.url, &s.key).await;
    assert_eq!(status, 200, "{session}");
    let set = set.unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{attr} missing from {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: no Secure ({set})");
    assert_eq!(session["idle_timeout_s"], 1800);
    assert_eq!(session["whoami"]["role"], "owner");
    assert_eq!(session["whoami"]["id"], owner_id.as_str());
    assert_eq!(session["whoami"]["project"], "default");
    let expires = session["expires_at"].as_str().unwrap();
    let expires = sealtrail_core::time::parse_time(expires).unwrap();
    let twelve_h = sealtrail_server::clock::now_micros() + 12 * 3_600_000_000;
    assert!(expires.abs_diff(twelve_h) < 60_000_000, "{session}");
    let cookie = set.split(';').next().unwrap().to_string();
    let secret = cookie.trim_start_matches("sealtrail_session=");
    assert!(
        !session.to_string().contains(secret),
        "the body never repeats the cookie's secret"
    );
    let b = Browser {
        cookie: cookie.clone(),
        csrf: session["csrf"].as_str().unwrap().to_string(),
        session,
    };

    // The cookie is the key on any endpoint.
    let (status, v) = call(&s, &b, Method::GET, "/v1/events?agent=bot-1").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["events"][0]["header"]["agent"], "bot-1");
    let (status, v) = call(&s, &b, Method::GET, "/v1/console/session").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["csrf"], b.session["csrf"],
        "the same token after a reload"
    );

    // State changes need the token.
    let post = |csrf: Option<&'static str>| {
        let (http, url, b) = (&s.http, &s.url, &b);
        async move {
            with_cookie(
                http,
                url,
                b,
                Method::POST,
                "/v1/events",
                Some(json!([ev("bot-1", "e-2")])),
                csrf,
            )
            .await
        }
    };
    let (status, v) = post(None).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["code"], "csrf_failed");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("X-CSRF-Token"));
    let (status, v) = post(Some("not-the-token")).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["code"], "csrf_failed");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("X-CSRF-Token"));
    let (status, v) = with_cookie(
        &s.http,
        &s.url,
        &b,
        Method::POST,
        "/v1/events",
        Some(json!([ev("bot-1", "e-2")])),
        Some(&b.csrf),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["accepted"], 1);

    // An Authorization header wins over the cookie.
    let r = s
        .http
        .get(format!("{}/v1/whoami", s.url))
        .header("cookie", &b.cookie)
        .bearer_auth("stk_0000000000000000_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Sign-out needs the token, ends the session in the store, clears the cookie.
    let (status, v) = with_cookie(
        &s.http,
        &s.url,
        &b,
        Method::DELETE,
        "/v1/console/session",
        None,
        None,
    )
    .await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["code"], "csrf_failed");
    let r = sign_out(&s, &b).await;
    assert_eq!(r.status(), 204);
    let cleared = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    for path in ["/v1/events", "/v1/console/session", "/v1/whoami"] {
        let (status, v) = call(&s, &b, Method::GET, path).await;
        assert_eq!(status, 401, "{path}: the old cookie is dead: {v}");
        assert_eq!(v["error"]["code"], "session_expired", "{v}");
    }
    let (status, v) = answer(
        s.http
            .get(format!("{}/v1/console/session", s.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(v["error"]["code"], "no_session");

    // Sign-in, the read and sign-out are on record, attributed to the key
    // and saying they came through the console.
    let page = s
        .get_json(&format!("/v1/events?session=key:{owner_id}&include=body"))
        .await;
    let events: Vec<&Value> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["event"])
        .collect();
    let action = |a: &str| {
        events
            .iter()
            .find(|e| e["action"] == a)
            .unwrap_or_else(|| panic!("no {a} in {events:?}"))
    };
    for a in ["console.sign_in", "log.query", "console.sign_out"] {
        let e = action(a);
        assert!(
            e["principal"]
                .as_str()
                .unwrap()
                .ends_with("via console session"),
            "{e}"
        );
    }
}

#[tokio::test]
async fn agent_keys_and_bad_keys_cannot_sign_in() {
    let s = server().await;
    let (agent_key, _) = make_key(
        &s,
        json!({"name": "bot key", "role": "agent", "agent": "bot-1"}),
    )
    .await;
    let (status, v, set) = sign_in_at(&s.http, &s.url, &agent_key).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["code"], "agent_key_refused");
    assert!(set.is_none(), "no cookie for a refused sign-in");
    let (status, v, set) = sign_in_at(&s.http, &s.url, "stk_0123456789abcdef_wrong").await;
    assert_eq!(status, 401, "{v}");
    assert!(set.is_none());
    // A forged cookie is no session.
    let forged = Browser {
        cookie: format!("sealtrail_session={}", "A".repeat(43)),
        csrf: String::new(),
        session: Value::Null,
    };
    let (status, v) = call(&s, &forged, Method::GET, "/v1/events").await;
    assert_eq!(status, 401, "{v}");
    assert_eq!(v["error"]["code"], "session_expired");
}

#[tokio::test]
async fn the_cookie_carries_the_keys_role_and_scopes() {
    let s = server().await;
    let (_, v) = s.ingest(json!([ev("bot-1", "e-1")])).await;
    assert_eq!(v["accepted"], 1);
    let (auditor, _) = make_key(
        &s,
        json!({"name": "ext-audit", "role": "auditor", "bodies": false, "expires_in": 86400}),
    )
    .await;
    let (viewer, _) = make_key(&s, json!({"name": "v", "role": "viewer"})).await;

    let a = sign_in(&s, &auditor).await;
    assert_eq!(a.session["whoami"]["role"], "auditor");
    let (status, v) = call(&s, &a, Method::GET, "/v1/entries/0").await;
    assert_eq!(status, 200, "{v}");
    assert!(v["body"].is_null() && v["salt"].is_null(), "no body: {v}");
    let (status, v) = call(&s, &a, Method::GET, "/v1/events?include=body").await;
    assert_eq!(status, 403, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("`bodies`"));

    let w = sign_in(&s, &viewer).await;
    {
        let path = "/v1/keys";
        let (status, v) = call(&s, &w, Method::GET, path).await;
        assert_eq!(status, 403, "{path}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("console session's viewer key"),
            "{v}"
        );
    }
    let (status, v) = with_cookie(
        &s.http,
        &s.url,
        &w,
        Method::POST,
        "/v1/keys",
        Some(json!({"name": "x", "role": "owner"})),
        Some(&w.csrf),
    )
    .await;
    assert_eq!(status, 403, "a viewer makes no keys: {v}");
    let (status, _) = call(&s, &w, Method::GET, "/v1/events").await;
    assert_eq!(status, 200, "a viewer reads");
}

#[tokio::test]
async fn revoking_the_key_ends_its_sessions() {
    let s = server().await;
    let (member, id) = make_key(&s, json!({"name": "m", "role": "member"})).await;
    let b = sign_in(&s, &member).await;
    assert_eq!(call(&s, &b, Method::GET, "/v1/whoami").await.0, 200);
    let r = s
        .http
        .delete(format!("{}/v1/keys/{id}", s.url))
        .bearer_auth(&s.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, v) = call(&s, &b, Method::GET, "/v1/whoami").await;
    assert_eq!(status, 401, "{v}");
    assert_eq!(v["error"]["code"], "session_expired");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("revoked"),
        "{v}"
    );
    let (status, _, _) = sign_in_at(&s.http, &s.url, &member).await;
    assert_eq!(status, 401, "a revoked key cannot sign in");
}

#[tokio::test]
async fn an_idle_session_expires_and_a_busy_one_does_not() {
    let s = server_with(ConsoleOptions {
        idle_timeout: Duration::from_secs(2),
        session_max: Duration::from_secs(3600),
    })
    .await;
    let busy = sign_in(&s, &s.key).await;
    let idle = sign_in(&s, &s.key).await;
    assert_eq!(idle.session["idle_timeout_s"], 2);
    // Used every 250 ms for 3 s: longer than the idle timeout in all.
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        let (status, v) = call(&s, &busy, Method::GET, "/v1/whoami").await;
        assert_eq!(status, 200, "a busy session lives on: {v}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (status, v) = call(&s, &idle, Method::GET, "/v1/whoami").await;
    assert_eq!(status, 401, "{v}");
    assert_eq!(v["error"]["code"], "session_expired");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("unused"),
        "{v}"
    );
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_end_however_busy() {
    let s = server_with(ConsoleOptions {
        idle_timeout: Duration::from_secs(3600),
        session_max: Duration::from_secs(2),
    })
    .await;
    let b = sign_in(&s, &s.key).await;
    let t = Instant::now();
    loop {
        let (status, v) = call(&s, &b, Method::GET, "/v1/whoami").await;
        if status == 401 {
            assert_eq!(v["error"]["code"], "session_expired");
            assert!(
                v["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("maximum lifetime"),
                "{v}"
            );
            break;
        }
        assert_eq!(status, 200, "{v}");
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the session outlived its 2 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        t.elapsed() >= Duration::from_millis(1500),
        "ended early: {:?}",
        t.elapsed()
    );
}

/// Two nodes on one PostgreSQL database: a session opened on one works on
/// the other, and a sign-out on one ends it on both.
#[tokio::test]
async fn sessions_are_shared_by_the_nodes_of_one_database() {
    let Some((url, schema)) = sealtrail_testkit::postgres_schema("console_sessions_shared", "cons")
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
    let browser = browser_at(&http, &ua, &owner).await;
    let (status, v) =
        with_cookie(&http, &ub, &browser, Method::GET, "/v1/whoami", None, None).await;
    assert_eq!(status, 200, "opened on A, used on B at once: {v}");
    let (status, _) = with_cookie(
        &http,
        &ub,
        &browser,
        Method::DELETE,
        "/v1/console/session",
        None,
        Some(&browser.csrf),
    )
    .await;
    assert_eq!(status, 204, "signed out on B");
    let t = Instant::now();
    loop {
        let (status, _) =
            with_cookie(&http, &ua, &browser, Method::GET, "/v1/whoami", None, None).await;
        if status == 401 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_millis(2500),
            "A still takes the session"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

/// Over TLS the cookie is `Secure`: the browser never sends it in clear.
#[tokio::test]
async fn the_cookie_is_secure_over_tls() {
    use sealtrail_testkit::tls::TestCa;
    let ca = TestCa::new("sealtrail console test CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.leaf("localhost", &[]).write(dir.path(), "server");
    let mut s = TestServer::start_with(|o| {
        o.tls = Some(sealtrail_server::tls::TlsOptions::new(&cert, &key));
    })
    .await;
    let port = s.url.rsplit(':').next().unwrap().to_string();
    s.url = format!("https://localhost:{port}");
    s.http = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let (status, v, set) = sign_in_at(&s.http, &s.url, &s.key).await;
    assert_eq!(status, 200, "{v}");
    let set = set.unwrap();
    assert!(
        set.ends_with("; Secure") && set.contains("HttpOnly"),
        "{set}"
    );
    let b = sign_in(&s, &s.key).await;
    let r = sign_out(&s, &b).await;
    assert_eq!(r.status(), 204);
    let cleared = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Secure"), "{cleared}");
}

/// The data directory holds the session's hash, never its secret (nor the
/// CSRF token derived from it).
#[tokio::test]
async fn only_a_hash_of_the_session_reaches_the_disk() {
    use sha2::Digest;
    let mut s = server().await;
    let b = sign_in(&s, &s.key).await;
    let secret = b
        .cookie
        .trim_start_matches("sealtrail_session=")
        .to_string();
    let hashed = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
    s.stop().await;
    let mut files = vec![s.dir.path().to_path_buf()];
    let (mut saw_hash, mut read) = (false, 0);
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        read += 1;
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&secret),
            "{} holds the session secret",
            p.display()
        );
        assert!(
            !text.contains(&b.csrf),
            "{} holds the CSRF token",
            p.display()
        );
        saw_hash |= text.contains(&hashed);
    }
    assert!(read > 0);
    assert!(saw_hash, "the session is stored under its hash");
}
