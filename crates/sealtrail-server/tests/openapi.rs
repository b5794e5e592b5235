//! The OpenAPI document is served without a key, is OpenAPI 3.1, and names
//! exactly the routes the server has (read from the router's source, so a
//! new route without a description, or a described route that is gone,
//! fails here).

use std::collections::BTreeSet;

use sealtrail_testkit::TestServer;
use serde_json::Value;

/// Every path the router serves, in OpenAPI's `{name}` form.
fn routes_in_source() -> BTreeSet<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut out = BTreeSet::new();
    for file in ["app.rs", "admin/mod.rs"] {
        let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
        for part in text.split(".route(").skip(1) {
            let path = part.trim_start().split('"').nth(1).unwrap().to_string();
            let path = path.replace("{*rest}", "{path}");
            // The tiles router is nested under /tlog and /projects/{project}/tlog.
            if path == "/checkpoint" || path.starts_with("/tile/") {
                out.insert(format!("/tlog{path}"));
                out.insert(format!("/projects/{{project}}/tlog{path}"));
            } else {
                out.insert(path);
            }
        }
    }
    out
}

#[tokio::test]
async fn the_document_describes_every_route_and_only_those() {
    let s = TestServer::start().await;
    let r = s
        .http
        .get(format!("{}/openapi.json", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "served without a key");
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let described: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(described, routes_in_source());
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["summary"].as_str().is_some_and(|t| !t.is_empty()),
                "{method} {path}"
            );
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
        }
    }
    // Every $ref points at a schema that exists.
    let text = doc.to_string();
    for piece in text.split("\"#/components/schemas/").skip(1) {
        let name = piece.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "missing schema {name}"
        );
    }
}
