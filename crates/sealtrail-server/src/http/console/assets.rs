//! The console's single-page app, embedded in the binary from
//! `console/dist` (built by scripts/build-console.sh; not committed). Any
//! GET outside the API's own paths is the app's: a file of the build if
//! there is one, else `index.html`, whose router shows the view the path
//! names (`/search`, `/sessions/<id>`, …). API paths keep their JSON 404.
//!
//! `allow_missing`: a server built before the console still builds and
//! says at `/` how to build the console. In debug builds rust-embed reads
//! the files from disk, so a rebuilt console shows without recompiling.

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

#[derive(rust_embed::Embed)]
// Relative to this crate's manifest: rust-embed does not expand
// `$CARGO_MANIFEST_DIR` without its `interpolate-folder-path` feature (the
// literal path never exists, and `allow_missing` hid that: the console was
// never served).
#[folder = "../../console/dist"]
#[allow_missing = true]
struct Dist;

/// Paths that are the API's, never the console's (with or without more
/// after them).
const API_ROOTS: &[&str] = &[
    "/v1",
    "/tlog",
    "/projects",
    "/scim",
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
];

/// Content-Security-Policy of the console: its own scripts and WebAssembly
/// only, inline styles (the component library sets them), no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Hashed build outputs never change under their name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

const NOT_BUILT: &str = "<!doctype html>
<html lang=\"en\"><head><meta charset=\"utf-8\"><title>sealtrail console not built</title></head>
<body><main><h1>The sealtrail console was not built</h1>
<p>The console was not built: run <code>scripts/run.sh</code> (or <code>scripts/build-console.sh</code>) and rebuild the server.</p>
<p>The API is served as usual: see <a href=\"/openapi.json\">/openapi.json</a>.</p></main></body></html>
";

/// Is `path` one of the API's (so never the console's)? The roots above,
/// and any API version to come (`/v2/…`).
pub fn is_api(path: &str) -> bool {
    let version = path
        .strip_prefix("/v")
        .map(|rest| rest.split('/').next().unwrap_or(""))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    version
        || API_ROOTS.iter().any(|root| {
            path.strip_prefix(root)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
}

/// The router's fallback: the console for GET and HEAD outside the API,
/// the JSON 404 for everything else.
pub async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if !matches!(method, Method::GET | Method::HEAD) || is_api(path) {
        return ApiError::not_found("no such endpoint; see docs/api.md").into_response();
    }
    let mut resp = serve(path, &headers);
    if method == Method::HEAD {
        *resp.body_mut() = axum::body::Body::empty();
    }
    resp
}

/// The headers every console answer carries.
fn secure(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let rel = path.trim_start_matches('/');
    // No climbing out of the build directory (rust-embed reads the disk in
    // debug builds).
    let plain = !rel.split('/').any(|s| s == ".." || s == ".") && !rel.contains('\\');
    if plain && !rel.is_empty() {
        if let Some(file) = Dist::get(rel) {
            return secure(answer(rel, file, headers));
        }
    }
    // A missing hashed asset is a stale page asking for an old build: HTML
    // in place of a script would only confuse the browser.
    if rel.starts_with("assets/") {
        let resp = (
            StatusCode::NOT_FOUND,
            [(header::CACHE_CONTROL, "no-cache")],
            "no such console asset; reload the page",
        );
        return secure(resp.into_response());
    }
    match Dist::get("index.html") {
        Some(file) => secure(answer("index.html", file, headers)),
        None => secure(
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                NOT_BUILT,
            )
                .into_response(),
        ),
    }
}

/// A file of the build, with its type, caching and an ETag (its SHA-256),
/// or 304 when the browser has it.
fn answer(rel: &str, file: rust_embed::EmbeddedFile, headers: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
    let cache = if rel.starts_with("assets/") {
        IMMUTABLE
    } else {
        "no-cache"
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = file.data.into_owned().into_response();
        if let Ok(v) = HeaderValue::from_str(file.metadata.mimetype()) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        r
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_are_never_the_consoles() {
        for p in [
            "/v1",
            "/v1/",
            "/v1/nothing",
            "/tlog/tile/0/000",
            "/projects/x/tlog/checkpoint",
            "/scim/v2/Users",
            "/healthz",
            "/metrics",
            "/openapi.json",
            "/v2/everything",
            "/v10",
        ] {
            assert!(is_api(p), "{p}");
        }
        for p in [
            "/",
            "/search",
            "/sessions/abc",
            "/entries/7",
            "/v1x",
            "/metricsx",
            "/assets/a.js",
        ] {
            assert!(!is_api(p), "{p}");
        }
    }
}
