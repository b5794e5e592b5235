//! The Streamable HTTP relay: a reverse proxy in front of one MCP server.
//!
//! Requests keep their path and query and go to the upstream origin; the
//! agent's request body is read whole (a JSON-RPC message is small, and the
//! policy has to see it before the server does), the server's answer —
//! JSON or a `text/event-stream` — streams back frame by frame as it comes.
//! Headers pass both ways (`Mcp-Session-Id`, `Mcp-Protocol-Version`,
//! `Mcp-Method`, `Mcp-Name`, auth…) except hop-by-hop ones, `Host` (the
//! upstream's) and `Accept-Encoding` (so the recorder reads plain bytes).
//! The recorder gets each request body and a tee of each answer's frames.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Instant, SystemTime};

use base64::Engine;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Map;
use tokio::net::TcpListener;

use crate::jsonrpc::Side;
use crate::recorder::{Ctx, Feed, FeedTx, HttpMeta};
use crate::scope::{Scope, Verdict};
use crate::ProxyError;

/// Largest agent request body relayed (the MCP SDK's servers refuse far
/// smaller ones themselves, and their answer is what the agent should see).
const MAX_REQUEST_BODY: usize = 64 << 20;

type ProxyBody = UnsyncBoxBody<Bytes, hyper::Error>;

/// The upstream MCP server.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// `http(s)://host:port`, no trailing slash.
    origin: String,
    /// The MCP endpoint's path (`/mcp`).
    pub path: String,
    /// For an https:// upstream: the only CA trusted (else the system's store).
    pub ca_cert: Option<std::path::PathBuf>,
}

impl Upstream {
    /// Parses `--upstream` (http:// or https://).
    pub fn parse(url: &str) -> Result<Upstream, ProxyError> {
        let refuse = |why: String| ProxyError::Upstream {
            url: url.to_owned(),
            why,
        };
        let uri: Uri = url.parse().map_err(|e| refuse(format!("not a URL: {e}")))?;
        let scheme = match uri.scheme_str() {
            Some(s @ ("http" | "https")) => s,
            _ => {
                return Err(refuse(
                    "only http:// and https:// upstreams are supported".into(),
                ))
            }
        };
        let Some(authority) = uri.authority() else {
            return Err(refuse("no host".into()));
        };
        Ok(Upstream {
            origin: format!("{scheme}://{authority}"),
            path: uri.path().to_string(),
            ca_cert: None,
        })
    }

    fn is_https(&self) -> bool {
        self.origin.starts_with("https://")
    }

    /// A connector for http:// and https://; roots are loaded only for an
    /// https:// upstream: `ca_cert` alone, or the system's trust store.
    fn connector(&self) -> Result<HttpsConnector<HttpConnector>, ProxyError> {
        use hyper_rustls::ConfigBuilderExt;
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let ca_error = |path: &std::path::Path, why: String| ProxyError::UpstreamCa {
            path: path.to_owned(),
            why,
        };
        // ring, as everywhere in sealtrail (docs/decisions.md, "TLS everywhere").
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ProxyError::Upstream {
                url: self.origin.clone(),
                why: format!("no TLS protocol version available: {e}"),
            })?;
        let config = match (&self.ca_cert, self.is_https()) {
            (Some(path), _) => {
                use rustls::pki_types::pem::PemObject;
                let pem = std::fs::read(path)
                    .map_err(|e| ca_error(path, format!("cannot read it: {e}")))?;
                let mut roots = rustls::RootCertStore::empty();
                for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| ca_error(path, format!("not PEM: {e}")))?;
                    roots
                        .add(cert)
                        .map_err(|e| ca_error(path, format!("not a usable CA certificate: {e}")))?;
                }
                if roots.is_empty() {
                    return Err(ca_error(path, "holds no PEM CERTIFICATE block".into()));
                }
                builder.with_root_certificates(roots)
            }
            (None, true) => builder
                .with_native_roots()
                .map_err(|e| ProxyError::Upstream {
                    url: self.origin.clone(),
                    why: format!("cannot read the system's trust store: {e}"),
                })?,
            (None, false) => builder.with_root_certificates(rustls::RootCertStore::empty()),
        }
        .with_no_client_auth();
        Ok(hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http))
    }

    fn target(&self, incoming: &Uri) -> Result<Uri, hyper::http::uri::InvalidUri> {
        let pq = incoming.path_and_query().map_or("/", |p| p.as_str());
        format!("{}{pq}", self.origin).parse()
    }
}

struct Proxy {
    upstream: Upstream,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    feed: FeedTx,
    scope: Option<Arc<Scope>>,
    exchanges: AtomicU64,
}

/// Serves until SIGINT or SIGTERM. Prints the listening URL on stdout.
pub async fn run(
    listen: &str,
    upstream: Upstream,
    feed: FeedTx,
    scope: Option<Arc<Scope>>,
) -> Result<(), ProxyError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| ProxyError::Listen {
            addr: listen.to_owned(),
            source,
        })?;
    let addr: SocketAddr = listener.local_addr().map_err(|source| ProxyError::Listen {
        addr: listen.to_owned(),
        source,
    })?;
    println!(
        "sealtrail mcp-proxy listening on http://{addr}{}",
        upstream.path
    );

    let connector = upstream.connector()?;
    let proxy = Arc::new(Proxy {
        upstream,
        client: Client::builder(TokioExecutor::new()).build(connector),
        feed,
        scope,
        exchanges: AtomicU64::new(0),
    });

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|source| ProxyError::Io {
            what: "cannot watch for SIGTERM",
            source,
        })?;
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        };
        let _ = stream.set_nodelay(true);
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let proxy = proxy.clone();
                async move { Ok::<_, Infallible>(proxy.handle(req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
    Ok(())
}

impl Proxy {
    async fn handle(&self, req: Request<Incoming>) -> Response<ProxyBody> {
        let exchange = self.exchanges.fetch_add(1, Ordering::Relaxed) + 1;
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                let status = if e
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    StatusCode::BAD_REQUEST
                };
                return plain(status, "cannot read the request body");
            }
        };
        let at = Instant::now();
        let session = header_str(&parts.headers, "mcp-session-id").map(Arc::from);
        let meta = HttpMeta {
            mcp_method: header_str(&parts.headers, "mcp-method"),
            mcp_name: header_str(&parts.headers, "mcp-name").map(|v| decode_header_value(&v)),
            protocol_version: header_str(&parts.headers, "mcp-protocol-version"),
            status: None,
        };
        let ctx = Ctx {
            exchange,
            session: session.clone(),
            http: Some(Arc::new(meta.clone())),
        };
        let is_message = parts.method == Method::POST && !body.is_empty();

        if let (true, Some(scope)) = (is_message, &self.scope) {
            if let Verdict::Deny { response, reason } = scope.judge(&body) {
                let _ = self.feed.send(Feed::Denied {
                    ctx,
                    at,
                    wall: SystemTime::now(),
                    bytes: body,
                    reason,
                });
                return match response {
                    Some(r) => json_response(r),
                    None => plain(StatusCode::ACCEPTED, ""),
                };
            }
        }

        let target = match self.upstream.target(&parts.uri) {
            Ok(t) => t,
            Err(_) => return plain(StatusCode::BAD_REQUEST, "bad request target"),
        };
        let mut up = Request::builder().method(parts.method.clone()).uri(target);
        if let Some(h) = up.headers_mut() {
            copy_headers(&parts.headers, h);
            h.remove(hyper::header::HOST);
            h.remove(hyper::header::ACCEPT_ENCODING);
        }
        let Ok(up) = up.body(Full::new(body.clone())) else {
            return plain(StatusCode::BAD_REQUEST, "bad request");
        };
        // Queued before the answer's frames can be: the recorder sees the
        // request first.
        if is_message {
            let _ = self.feed.send(Feed::Message {
                origin: Side::Client,
                ctx: ctx.clone(),
                at,
                wall: SystemTime::now(),
                bytes: body,
            });
        }

        let resp = match self.client.request(up).await {
            Ok(r) => r,
            Err(e) => return self.upstream_failed(ctx, &e.to_string()),
        };
        let (mut rparts, rbody) = resp.into_parts();
        let answer_session = header_str(&rparts.headers, "mcp-session-id")
            .map(Arc::from)
            .or(session.clone());
        let rctx = Ctx {
            exchange,
            session: answer_session,
            http: Some(Arc::new(HttpMeta {
                status: Some(rparts.status.as_u16()),
                ..meta
            })),
        };
        if parts.method == Method::DELETE && rparts.status.is_success() {
            self.session_ended(session);
        }
        let content_type = header_str(&rparts.headers, CONTENT_TYPE.as_str()).unwrap_or_default();
        let mode = if content_type.starts_with("text/event-stream") {
            Some(true)
        } else if content_type.starts_with("application/json") {
            Some(false)
        } else {
            None
        };
        let mut headers = HeaderMap::new();
        copy_headers(&rparts.headers, &mut headers);
        rparts.headers = headers;
        let body = TeeBody {
            inner: rbody,
            feed: self.feed.clone(),
            ctx: rctx,
            sse: mode,
            ended: false,
        };
        Response::from_parts(rparts, body.boxed_unsync())
    }

    /// The upstream could not be reached: 502 to the agent, and on record.
    fn upstream_failed(&self, ctx: Ctx, why: &str) -> Response<ProxyBody> {
        let mut attributes = Map::new();
        attributes.insert("upstream".into(), self.upstream.origin.clone().into());
        attributes.insert("error".into(), why.into());
        let _ = self.feed.send(Feed::Note {
            session: ctx.session.clone(),
            wall: SystemTime::now(),
            kind: "custom",
            action: "mcp/upstream_unreachable",
            outcome: "failure",
            attributes,
        });
        let ctx = Ctx {
            http: Some(Arc::new(HttpMeta {
                status: Some(502),
                ..HttpMeta::default()
            })),
            ..ctx
        };
        let _ = self.feed.send(Feed::BodyEnd {
            ctx,
            at: Instant::now(),
            wall: SystemTime::now(),
        });
        plain(StatusCode::BAD_GATEWAY, "the MCP server is unreachable")
    }

    fn session_ended(&self, session: Option<Arc<str>>) {
        let _ = self.feed.send(Feed::Note {
            session,
            wall: SystemTime::now(),
            kind: "agent_lifecycle",
            action: "mcp/session_end",
            outcome: "success",
            attributes: Map::new(),
        });
    }
}

/// The upstream's answer body, relayed frame by frame, with a copy of each
/// data frame for the recorder (a `Bytes` clone: no copy of the data).
struct TeeBody {
    inner: Incoming,
    feed: FeedTx,
    ctx: Ctx,
    /// `Some(true)`: SSE; `Some(false)`: JSON; `None`: not recorded.
    sse: Option<bool>,
    ended: bool,
}

impl TeeBody {
    fn end(&mut self) {
        if !std::mem::replace(&mut self.ended, true) {
            let _ = self.feed.send(Feed::BodyEnd {
                ctx: self.ctx.clone(),
                at: Instant::now(),
                wall: SystemTime::now(),
            });
        }
    }
}

impl Body for TeeBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(sse), Some(data)) = (this.sse, frame.data_ref()) {
                    let _ = this.feed.send(Feed::Body {
                        ctx: this.ctx.clone(),
                        at: Instant::now(),
                        wall: SystemTime::now(),
                        bytes: data.clone(),
                        sse,
                    });
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => {
                this.end();
                Poll::Ready(other)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for TeeBody {
    fn drop(&mut self) {
        // Also when the agent went away mid-stream.
        self.end();
    }
}

/// Copies end-to-end headers (RFC 9110 §7.6.1: not the hop-by-hop ones,
/// nor any the `Connection` header names).
fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    let named: Vec<String> = from
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    for (name, value) in from {
        let n = name.as_str();
        let hop = matches!(
            n,
            "connection"
                | "keep-alive"
                | "proxy-authenticate"
                | "proxy-authorization"
                | "proxy-connection"
                | "te"
                | "trailer"
                | "transfer-encoding"
                | "upgrade"
        ) || named.iter().any(|c| c == n);
        if !hop {
            to.append(name.clone(), value.clone());
        }
    }
}

fn header_str(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(HeaderName::from_bytes(name.as_bytes()).ok()?)?
        .to_str()
        .ok()
        .map(str::to_string)
}

/// `Mcp-Name` carries non-ASCII names as `=?base64?…?=` (MCP 2026-07-28).
fn decode_header_value(v: &str) -> String {
    v.strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| v.to_string())
}

fn plain(status: StatusCode, text: &'static str) -> Response<ProxyBody> {
    let mut r = Response::new(full(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn json_response(body: Vec<u8>) -> Response<ProxyBody> {
    let mut r = Response::new(full(Bytes::from(body)));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn full(b: Bytes) -> ProxyBody {
    Full::new(b).map_err(|never| match never {}).boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_targets_keep_path_and_query() {
        let u = Upstream::parse("http://127.0.0.1:8000/mcp").unwrap();
        assert_eq!(u.path, "/mcp");
        let t = u.target(&"/mcp?x=1".parse().unwrap()).unwrap();
        assert_eq!(t.to_string(), "http://127.0.0.1:8000/mcp?x=1");
        assert!(Upstream::parse("https://h/mcp").unwrap().is_https());
        assert!(Upstream::parse("ftp://h/mcp").is_err());
        assert!(Upstream::parse("not a url").is_err());
    }

    #[test]
    fn hop_by_hop_headers_stay_behind() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, x-private"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("mcp-session-id", HeaderValue::from_static("abc"));
        h.insert("mcp-method", HeaderValue::from_static("tools/call"));
        let mut out = HeaderMap::new();
        copy_headers(&h, &mut out);
        let names: Vec<_> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["mcp-session-id", "mcp-method"]);
    }

    #[test]
    fn base64_header_values() {
        assert_eq!(decode_header_value("=?base64?w6lsw6hu?="), "élèn");
        assert_eq!(decode_header_value("plain"), "plain");
        assert_eq!(decode_header_value("=?base64?!!?="), "=?base64?!!?=");
    }
}
