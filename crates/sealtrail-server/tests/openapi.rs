//! The OpenAPI document is served without a key, is OpenAPI 3.1, and
//! describes exactly the routes the server has, method by method: every
//! documented method of every documented path is routed (sent to the
//! running server, it never gets 405 nor the "no such endpoint" fallback),
//! every other method of those paths is 405, and no route is registered in
//! the source outside the described ones. Each operation's scope matches the
//! `Ctx<scope::…>` its handler takes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sealtrail_testkit::TestServer;
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// `(method, path)` of every documented operation.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if METHODS.contains(&method.as_str()) {
                out.insert((method.clone(), path.clone()));
            }
        }
    }
    out
}

/// A concrete path for a documented one (`{index}` → `0`, …).
fn concrete(path: &str) -> String {
    path.replace("{index}", "0")
        .replace("{id}", "0000000000000000")
        .replace("{project}", "default")
        .replace("{path}", "0/000")
}

async fn document(s: &TestServer) -> Value {
    let r = s
        .http
        .get(format!("{}/openapi.json", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "served without a key");
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    r.json().await.unwrap()
}

#[tokio::test]
async fn the_document_is_complete_and_consistent() {
    let s = TestServer::start().await;
    let doc = document(&s).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let mut ids = BTreeSet::new();
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][&method];
        assert!(
            op["summary"].as_str().is_some_and(|t| !t.is_empty()),
            "{method} {path}"
        );
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path}"
        );
        let id = op["operationId"].as_str().unwrap_or_default().to_string();
        assert!(ids.insert(id.clone()), "operationId {id:?} is used twice");
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

#[tokio::test]
async fn documented_methods_are_routed_and_the_others_are_405() {
    let s = TestServer::start().await;
    let doc = document(&s).await;
    let documented = operations(&doc);
    assert!(documented.len() > 30, "{documented:?}");
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in paths {
        for method in METHODS {
            // No key: nothing changes, and a routed request is answered by
            // its handler (401, or 200 for the open ones), never by the router.
            let url = format!("{}{}", s.url, concrete(path));
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = s.http.request(m, &url).send().await.unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            if documented.contains(&(method.to_string(), path.clone())) {
                assert_ne!(status, 405, "{method} {path}: documented, not routed");
                assert!(
                    !body.contains("no such endpoint"),
                    "{method} {path}: documented, but the fallback answered"
                );
            } else {
                assert_eq!(
                    status, 405,
                    "{method} {path}: routed, not documented ({body})"
                );
            }
        }
    }
    // A path nobody described is the fallback's.
    let r = s
        .http
        .get(format!("{}/v1/nothing-here", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Routes registered without a description: only the tile routes, which
/// OpenAPI cannot spell the way axum does (`{*path}`), and which the
/// probe above reaches through their documented `{path}`.
#[test]
fn no_route_is_registered_outside_the_described_ones() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut found = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            for call in [
                ".route(",
                ".nest(",
                ".merge(",
                ".route_service(",
                ".nest_service(",
            ] {
                if let Some(at) = line.find(call) {
                    let arg = line[at + call.len()..].trim();
                    let tile_route = call == ".route("
                        && (arg.starts_with("TILE,") || arg.starts_with("PROJECT_TILE,"));
                    // `OpenApi::merge` of two documents is no route.
                    let documents = call == ".merge(" && arg.contains("::openapi()");
                    if !tile_route && !documents {
                        found.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "routes outside routes!(…):\n{}",
        found.join("\n")
    );
}

/// The scope names of `access::Scope`, by the name of their variant (which
/// is the name of their marker type in `http::auth::scope`).
fn scope_names() -> BTreeMap<String, String> {
    sealtrail_server::access::Scope::ALL
        .iter()
        .map(|s| (format!("{s:?}"), s.as_str().to_string()))
        .collect()
}

/// Every `#[utoipa::path(…)]` in the source with the function it describes:
/// `(file, fn name, attribute text, text up to the function's body end)`.
fn described_handlers() -> Vec<(String, String, String, String)> {
    let mut files = Vec::new();
    rust_files(&src().join("http"), &mut files);
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for piece in text.split("#[utoipa::path(").skip(1) {
            let Some(end) = piece.find("\n)]") else {
                continue;
            };
            let attr = piece[..end].to_string();
            let rest = &piece[end..];
            let Some(at) = rest.find("async fn ") else {
                continue;
            };
            let name: String = rest[at + 9..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // The function: up to the next item at column 0 ("\n}").
            let body_end = rest[at..].find("\n}").map_or(rest.len(), |e| at + e);
            out.push((
                f.display().to_string(),
                name,
                attr,
                rest[at..body_end].to_string(),
            ));
        }
    }
    out
}

#[test]
fn each_operation_names_the_scope_its_handler_takes() {
    let names = scope_names();
    let handlers = described_handlers();
    assert!(handlers.len() > 30, "found {} handlers", handlers.len());
    for (file, name, attr, func) in handlers {
        let declared: Vec<String> = attr
            .split("security((\"bearer\" = [")
            .nth(1)
            .and_then(|s| s.split(']').next())
            .map(|list| {
                list.split(',')
                    .map(|s| s.trim().trim_matches('"').to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let Some(typed) = func.split("Ctx<scope::").nth(1).map(|s| {
            s.chars()
                .take_while(|c| c.is_alphanumeric())
                .collect::<String>()
        }) else {
            // No Ctx: the open operations and the tiles (public or
            // `proofs`, checked in the handler).
            continue;
        };
        if typed == "Authenticated" {
            // The need depends on the request; what the document names must
            // be a scope the handler checks.
            let checked: BTreeSet<String> = func
                .split("require(Scope::")
                .skip(1)
                .filter_map(|s| {
                    let v: String = s.chars().take_while(|c| c.is_alphanumeric()).collect();
                    names.get(&v).cloned()
                })
                .collect();
            for d in &declared {
                assert!(
                    checked.contains(d),
                    "{file}: {name} documents scope {d:?} but checks only {checked:?}"
                );
            }
        } else {
            let want = names
                .get(&typed)
                .unwrap_or_else(|| panic!("{file}: {name}: no scope {typed}"));
            assert_eq!(
                declared,
                vec![want.clone()],
                "{file}: {name} takes Ctx<scope::{typed}>"
            );
        }
    }
}
