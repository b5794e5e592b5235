//! The HTTP client.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::{body_snippet, from_error_answer, transport_message, ClientError};
use crate::tls::CaCert;
use crate::types::{
    ConsistencyResponse, EntryResponse, EventsPage, EventsQuery, IngestResponse, ProofResponse,
    StatsQuery, StatsResponse,
};

/// `Content-Type` of a JSON array (or single event object) body.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// The header naming the project a request acts on (docs/access.md).
pub const PROJECT_HEADER: &str = "sealtrail-project";

/// `Content-Type` of a body with one JSON event per line.
pub const CONTENT_TYPE_NDJSON: &str = "application/x-ndjson";

/// Whether `POST /v1/events` should hold its answer until a signed checkpoint
/// covers every sealed event (receipts then carry a tlog-proof).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wait {
    /// Answer as soon as the events are durable.
    #[default]
    Durable,
    /// `?wait=checkpoint`.
    Checkpoint,
}

/// Builds a [`Client`] with non-default timeouts or pooling.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    api_key: String,
    timeout: Duration,
    connect_timeout: Duration,
    pool_idle_timeout: Duration,
    pool_max_idle_per_host: usize,
    project: Option<String>,
    ca_cert: Option<CaSource>,
}

/// A CA given to the builder, read when the client is built.
#[derive(Debug, Clone)]
enum CaSource {
    Parsed(CaCert),
    File(PathBuf),
}

impl ClientBuilder {
    /// Act on this project: every request carries `Sealtrail-Project: <name>`
    /// (docs/access.md). Owner keys may name any project; other keys only
    /// their own (the server answers `403` otherwise). Without it a request
    /// acts on the key's own project (`default` for owner keys).
    pub fn project(mut self, name: impl Into<String>) -> Self {
        self.project = Some(name.into());
        self
    }

    /// Whole-request timeout (default 60 s, above the server's 30 s
    /// `?wait=checkpoint` limit).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// TCP connect timeout (default 10 s).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// How long an idle pooled connection is kept (default 90 s).
    pub fn pool_idle_timeout(mut self, t: Duration) -> Self {
        self.pool_idle_timeout = t;
        self
    }

    /// Trust only this CA for an `https://` server (default: the system's
    /// trust store).
    pub fn ca_cert(mut self, ca: CaCert) -> Self {
        self.ca_cert = Some(CaSource::Parsed(ca));
        self
    }

    /// [`ClientBuilder::ca_cert`] from a PEM file, read by
    /// [`ClientBuilder::build`] (errors name the file).
    pub fn ca_cert_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_cert = Some(CaSource::File(path.into()));
        self
    }

    /// Most idle connections kept per host (default unbounded).
    pub fn pool_max_idle_per_host(mut self, n: usize) -> Self {
        self.pool_max_idle_per_host = n;
        self
    }

    pub fn build(self) -> Result<Client, ClientError> {
        let base = parse_base_url(&self.base_url)?;
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", self.api_key)).map_err(|_| {
                ClientError::InvalidApiKey("contains characters not allowed in an HTTP header")
            })?;
        auth.set_sensitive(true);
        if self.api_key.trim().is_empty() {
            return Err(ClientError::InvalidApiKey("empty"));
        }
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        if let Some(project) = &self.project {
            let value = HeaderValue::from_str(project)
                .ok()
                .filter(|_| !project.trim().is_empty())
                .ok_or_else(|| {
                    ClientError::Build(format!(
                        "project name {project:?} cannot be sent in a header \
                         (project names are [a-z0-9][a-z0-9-]{{0,62}})"
                    ))
                })?;
            headers.insert(PROJECT_HEADER, value);
        }
        let ca = match self.ca_cert {
            None => None,
            Some(CaSource::Parsed(ca)) => Some(ca),
            Some(CaSource::File(path)) => Some(CaCert::from_file(path)?),
        };
        let http = reqwest::Client::builder();
        let http = crate::tls::configure(http, base.scheme() == "https", ca.as_ref())
            .default_headers(headers)
            .user_agent(concat!("sealtrail-client/", env!("CARGO_PKG_VERSION")))
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| crate::tls::build_error(&e, ca.as_ref()))?;
        Ok(Client {
            http,
            base,
            timeout: self.timeout,
            project: self.project,
        })
    }
}

/// Checks the base URL and normalises it to end in `/` so that joins keep any path prefix.
fn parse_base_url(url: &str) -> Result<Url, ClientError> {
    let invalid = |reason: String| ClientError::InvalidUrl {
        url: url.to_string(),
        reason,
    };
    let mut parsed = Url::parse(url.trim()).map_err(|e| invalid(e.to_string()))?;
    match parsed.scheme() {
        "http" | "https" => {}
        other => return Err(invalid(format!("scheme {other:?} is not http or https"))),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host".into()));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("must not have a query or fragment".into()));
    }
    if !parsed.path().ends_with('/') {
        let p = format!("{}/", parsed.path());
        parsed.set_path(&p);
    }
    Ok(parsed)
}

/// An async client for one sealtrail server. Cheap to clone (the connection
/// pool is shared); use one per process.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// Always ends in `/`.
    base: Url,
    timeout: Duration,
    /// Sent as `Sealtrail-Project` on every request.
    project: Option<String>,
}

/// One HTTP answer, fully read.
pub(crate) struct Answer {
    url: String,
    status: StatusCode,
    retry_after: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    fn error(&self) -> ClientError {
        from_error_answer(
            self.status.as_u16(),
            self.retry_after.as_deref(),
            &self.body,
        )
    }

    fn decode<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_slice(&self.body).map_err(|e| ClientError::Decode {
            url: self.url.clone(),
            status: self.status.as_u16(),
            message: format!(
                "{e} (body starts: {})",
                body_snippet(&self.body, self.status.as_u16())
            ),
        })
    }

    /// The body as `T` on 2xx, the server's error otherwise.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        if self.status.is_success() {
            self.decode()
        } else {
            Err(self.error())
        }
    }
}

impl Client {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:7700`),
    /// authenticating with `api_key`; default timeouts (see [`ClientBuilder`]).
    pub fn new(base_url: &str, api_key: &str) -> Result<Client, ClientError> {
        Self::builder(base_url, api_key).build()
    }

    pub fn builder(base_url: &str, api_key: &str) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.to_string(),
            api_key: api_key.to_string(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: usize::MAX,
            project: None,
            ca_cert: None,
        }
    }

    /// The project every request names (see [`ClientBuilder::project`]).
    pub fn project(&self) -> Option<&str> {
        self.project.as_deref()
    }

    /// The server's base URL, as normalised (ending in `/`).
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// The URL of `path` (relative, no leading `/`).
    fn url(&self, path: &str) -> Result<Url, ClientError> {
        self.base.join(path).map_err(|e| ClientError::InvalidUrl {
            url: format!("{}{path}", self.base),
            reason: e.to_string(),
        })
    }

    /// The URL of `segments` under the base, each one percent-encoded as a
    /// path segment (so an agent id with `/` or `?` stays one segment).
    pub(crate) fn segments_url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Sends `body` (if any) as JSON to `url` and decodes a 2xx answer as `T`.
    pub(crate) async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, ClientError> {
        let body = match body {
            None => None,
            Some(b) => Some((
                serde_json::to_vec(b).map_err(|e| ClientError::Decode {
                    url: url.to_string(),
                    status: 0,
                    message: format!("cannot serialize the request: {e}"),
                })?,
                CONTENT_TYPE_JSON,
            )),
        };
        self.send(method, url, body).await?.json()
    }

    /// Display form of the server for transport errors: the base URL without the trailing `/`.
    fn server(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_string()
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<(Vec<u8>, &str)>,
    ) -> Result<Answer, ClientError> {
        let url_text = url.to_string();
        let mut req = self.http.request(method, url);
        if let Some((body, content_type)) = body {
            req = req.header(CONTENT_TYPE, content_type).body(body);
        }
        let map_err = |e: reqwest::Error| {
            if e.is_timeout() && !e.is_connect() {
                ClientError::Timeout {
                    url: url_text.clone(),
                    after: self.timeout,
                }
            } else {
                ClientError::Transport {
                    url: self.server(),
                    message: transport_message(&e),
                }
            }
        };
        let resp = req.send().await.map_err(map_err)?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.bytes().await.map_err(map_err)?.to_vec();
        Ok(Answer {
            url: url_text,
            status,
            retry_after,
            body,
        })
    }

    /// Sends events as a JSON array; answers per event.
    pub async fn ingest(&self, events: &[Value]) -> Result<IngestResponse, ClientError> {
        self.ingest_values(events, Wait::Durable).await
    }

    /// Like [`Client::ingest`], holding the answer until a signed checkpoint
    /// covers the sealed events; each sealed receipt then carries a tlog-proof.
    pub async fn ingest_wait_checkpoint(
        &self,
        events: &[Value],
    ) -> Result<IngestResponse, ClientError> {
        self.ingest_values(events, Wait::Checkpoint).await
    }

    async fn ingest_values(
        &self,
        events: &[Value],
        wait: Wait,
    ) -> Result<IngestResponse, ClientError> {
        let body = serde_json::to_vec(events).map_err(|e| ClientError::Decode {
            url: self.server(),
            status: 0,
            message: format!("cannot serialize events: {e}"),
        })?;
        self.ingest_raw(body, CONTENT_TYPE_JSON, wait).await
    }

    /// Sends a pre-encoded body (`application/json` array or
    /// `application/x-ndjson` lines); the server's validation decides per event.
    ///
    /// `400` (or `403`) with per-event results (every event rejected) is
    /// returned as `Ok`, like `200` and `207`: look at `rejected`. A `400` or
    /// `403` that refuses the whole request (an error body) is an `Err`.
    pub async fn ingest_raw(
        &self,
        body: Vec<u8>,
        content_type: &str,
        wait: Wait,
    ) -> Result<IngestResponse, ClientError> {
        let mut url = self.url("v1/events")?;
        if wait == Wait::Checkpoint {
            url.set_query(Some("wait=checkpoint"));
        }
        let answer = self
            .send(Method::POST, url, Some((body, content_type)))
            .await?;
        match answer.status.as_u16() {
            200 | 207 => answer.decode(),
            // 403 with results: every event was for another agent or session
            // than the key may write (docs/access.md); without: the key itself.
            400 | 403 => {
                // All rejected (results present) or the request refused as a whole.
                match serde_json::from_slice::<IngestResponse>(&answer.body) {
                    Ok(r) => Ok(r),
                    Err(_) => Err(answer.error()),
                }
            }
            _ => Err(answer.error()),
        }
    }

    /// The latest signed checkpoint (C2SP signed note text).
    pub async fn checkpoint(&self) -> Result<String, ClientError> {
        self.text("v1/checkpoint").await
    }

    /// One entry: its header, and its body and salt unless erased.
    pub async fn entry(&self, index: u64) -> Result<EntryResponse, ClientError> {
        let url = self.url(&format!("v1/entries/{index}"))?;
        self.send(Method::GET, url, None).await?.json()
    }

    /// Inclusion proof of entry `index` in the tree of `size` (default: the
    /// latest checkpoint's size).
    pub async fn inclusion_proof(
        &self,
        index: u64,
        size: Option<u64>,
    ) -> Result<ProofResponse, ClientError> {
        let mut url = self.url(&format!("v1/entries/{index}/proof"))?;
        if let Some(size) = size {
            url.set_query(Some(&format!("size={size}")));
        }
        self.send(Method::GET, url, None).await?.json()
    }

    /// Consistency proof between the trees of sizes `from` and `to`.
    pub async fn consistency(
        &self,
        from: u64,
        to: u64,
    ) -> Result<ConsistencyResponse, ClientError> {
        let mut url = self.url("v1/consistency")?;
        url.set_query(Some(&format!("from={from}&to={to}")));
        self.send(Method::GET, url, None).await?.json()
    }

    /// One page of `GET /v1/events`; pass its `next_cursor` as the next
    /// query's `cursor` until it is `None`.
    pub async fn events(&self, q: &EventsQuery) -> Result<EventsPage, ClientError> {
        let mut url = self.url("v1/events")?;
        url.query_pairs_mut().extend_pairs(q.to_pairs());
        self.send(Method::GET, url, None).await?.json()
    }

    /// `GET /v1/stats`: entry counts, grouped.
    pub async fn stats(&self, q: &StatsQuery) -> Result<StatsResponse, ClientError> {
        let mut url = self.url("v1/stats")?;
        url.query_pairs_mut().extend_pairs(q.to_pairs());
        self.send(Method::GET, url, None).await?.json()
    }

    /// `GET /healthz`: `Ok` when the process is up.
    pub async fn healthz(&self) -> Result<(), ClientError> {
        self.text("healthz").await.map(|_| ())
    }

    /// `GET /metrics`: Prometheus text; see [`crate::metrics::prometheus_value`].
    pub async fn metrics(&self) -> Result<String, ClientError> {
        self.text("metrics").await
    }

    async fn text(&self, path: &str) -> Result<String, ClientError> {
        let url = self.url(path)?;
        let answer = self.send(Method::GET, url, None).await?;
        if !answer.status.is_success() {
            return Err(answer.error());
        }
        String::from_utf8(answer.body).map_err(|_| ClientError::Decode {
            url: answer.url,
            status: answer.status.as_u16(),
            message: "body is not UTF-8".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            parse_base_url("http://127.0.0.1:7700").unwrap().as_str(),
            "http://127.0.0.1:7700/"
        );
        assert_eq!(
            parse_base_url("http://h:1/prefix").unwrap().as_str(),
            "http://h:1/prefix/"
        );
        let c = Client::new("http://h:1/prefix/", "k").unwrap();
        assert_eq!(
            c.url("v1/entries/3/proof").unwrap().as_str(),
            "http://h:1/prefix/v1/entries/3/proof"
        );
        for bad in ["127.0.0.1:7700", "ftp://h/", "http://h/?a=b", "not a url"] {
            assert!(
                matches!(parse_base_url(bad), Err(ClientError::InvalidUrl { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            parse_base_url("https://h:7700").unwrap().as_str(),
            "https://h:7700/"
        );
    }

    #[test]
    fn bad_api_keys() {
        assert!(matches!(
            Client::new("http://h/", "a\nb"),
            Err(ClientError::InvalidApiKey(_))
        ));
        assert!(matches!(
            Client::new("http://h/", " "),
            Err(ClientError::InvalidApiKey("empty"))
        ));
    }
}
