//! `POST /v1/exports`: download an evidence bundle (docs/formats.md §9),
//! streamed to a writer chunk by chunk (a bundle can be large).

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};

use crate::error::{body_snippet, from_error_answer, transport_message};
use crate::ClientError;

/// What to export: the filter and whether to include the bodies of the
/// matches (the API's wire type; build it from a validated filter with
/// [`ExportRequest::new`]).
pub use sealtrail_api::filter::ExportRequest;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("writing the bundle: {0}")]
    Write(#[from] std::io::Error),
}

/// Downloads bundles from one server.
#[derive(Debug, Clone)]
pub struct Exporter {
    http: reqwest::Client,
    url: String,
    api_key: String,
    timeout: Duration,
    project: Option<String>,
}

impl Exporter {
    /// For the server at `base_url`, with `api_key`; `timeout` bounds the
    /// whole download (a large bundle takes a while to build and send).
    pub fn new(base_url: &str, api_key: &str, timeout: Duration) -> Result<Self, ClientError> {
        Self::with_ca_cert(base_url, api_key, timeout, None)
    }

    /// [`Exporter::new`], trusting only `ca` for an `https://` server
    /// (`None`: the system's trust store).
    pub fn with_ca_cert(
        base_url: &str,
        api_key: &str,
        timeout: Duration,
        ca: Option<&crate::CaCert>,
    ) -> Result<Self, ClientError> {
        let https = base_url.trim_start().starts_with("https://");
        let http = crate::tls::configure(reqwest::Client::builder(), https, ca)
            .timeout(timeout)
            .build()
            .map_err(|e| crate::tls::build_error(&e, ca))?;
        Ok(Exporter {
            http,
            url: format!("{}/v1/exports", base_url.trim_end_matches('/')),
            api_key: api_key.to_string(),
            timeout,
            project: None,
        })
    }

    /// Exports from this project (sends `Sealtrail-Project`).
    pub fn project(mut self, name: &str) -> Self {
        self.project = Some(name.to_string());
        self
    }

    /// Asks for a bundle and writes it to `out`; the number of bytes written.
    pub async fn export(
        &self,
        req: &ExportRequest,
        out: &mut impl std::io::Write,
    ) -> Result<u64, ExportError> {
        let map_err = |e: reqwest::Error| {
            if e.is_timeout() && !e.is_connect() {
                ClientError::Timeout {
                    url: self.url.clone(),
                    after: self.timeout,
                }
            } else {
                ClientError::Transport {
                    url: self.url.clone(),
                    message: transport_message(&e),
                }
            }
        };
        let mut request = self.http.post(&self.url).bearer_auth(&self.api_key);
        if let Some(p) = &self.project {
            request = request.header(crate::client::PROJECT_HEADER, p);
        }
        let mut resp = request.json(req).send().await.map_err(map_err)?;
        let status = resp.status().as_u16();
        if !resp.status().is_success() {
            let retry = resp
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = resp.bytes().await.map_err(map_err)?;
            return Err(from_error_answer(status, retry.as_deref(), &body).into());
        }
        let zip = resp
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/zip"));
        let mut written = 0u64;
        let mut first = true;
        while let Some(chunk) = resp.chunk().await.map_err(map_err)? {
            if first && !zip {
                return Err(ClientError::Decode {
                    url: self.url.clone(),
                    status,
                    message: format!(
                        "expected application/zip (body starts: {})",
                        body_snippet(&chunk, status)
                    ),
                }
                .into());
            }
            first = false;
            out.write_all(&chunk)?;
            written += chunk.len() as u64;
        }
        out.flush()?;
        Ok(written)
    }
}
