//! The console's app at `/` (issue 17): any GET outside the API's paths is
//! the app (the built `index.html`, or a page saying how to build it), with
//! the console's security headers; the API's unknown paths keep their JSON
//! 404 and other methods never reach the app.

use sealtrail_testkit::TestServer;
use serde_json::Value;

const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn console_dist() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../console/dist")
}

#[tokio::test]
async fn client_routes_are_the_app_with_its_security_headers() {
    let s = TestServer::start().await;
    let built = console_dist().join("index.html").exists();
    let mut first: Option<String> = None;
    for path in ["/", "/search", "/sessions/run-7", "/entries/12", "/v1x"] {
        let r = s.http.get(format!("{}{path}", s.url)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers().clone();
        assert!(
            h["content-type"].to_str().unwrap().starts_with("text/html"),
            "{path}: {:?}",
            h["content-type"]
        );
        assert_eq!(h["content-security-policy"], CSP, "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["cache-control"], "no-cache", "index.html is revalidated");
        let text = r.text().await.unwrap();
        if !built {
            assert!(
                text.contains("console was not built") && text.contains("scripts/run.sh"),
                "{text}"
            );
        }
        // Every client route is the same page: its router picks the view.
        match &first {
            None => first = Some(text),
            Some(f) => assert_eq!(f, &text, "{path}"),
        }
    }
    // A missing build output is a 404, not the page (a stale page must
    // not get HTML for a script).
    let r = s
        .http
        .get(format!("{}/assets/gone-0000.js", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    // HEAD works as GET, without a body.
    let r = s
        .http
        .head(format!("{}/search", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn api_paths_keep_their_json_404() {
    let s = TestServer::start().await;
    for path in [
        "/v1/nothing-here",
        "/v1",
        "/tlog/nothing",
        "/projects/x/nothing",
        "/scim/v2/Users",
        "/openapi.json/x",
    ] {
        let r = s.http.get(format!("{}{path}", s.url)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "not_found", "{path}: {v}");
    }
    // Only GET and HEAD reach the app.
    let r = s
        .http
        .post(format!("{}/search", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "not_found");
    // The API's own answers are not the console's: no console CSP on JSON.
    let r = s.get("/v1/whoami").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-security-policy").is_none());
}

/// Files of a built console are served with their type, and hashed assets
/// are cached for good. Needs `console/dist` (scripts/build-console.sh).
#[tokio::test]
async fn built_assets_are_served_and_cached() {
    let dist = console_dist();
    let asset = std::fs::read_dir(dist.join("assets")).ok().and_then(|d| {
        d.filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .find(|n| n.ends_with(".js"))
    });
    let Some(asset) = asset else {
        sealtrail_testkit::skip_or_fail(
            "built_assets_are_served_and_cached",
            "console/dist was not built (scripts/build-console.sh)",
        );
        return;
    };
    let s = TestServer::start().await;
    let r = s
        .http
        .get(format!("{}/assets/{asset}", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    let etag = r.headers()["etag"].clone();
    let r = s
        .http
        .get(format!("{}/assets/{asset}", s.url))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
}
