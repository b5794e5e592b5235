//! What can go wrong talking to a sealtrail server.

use std::time::Duration;

/// The server's error object: `{"error": {"code", "message", "field"}}` on a
/// failed request, or `results[i].error` for one rejected event (the API's
/// one error type, shared with the server).
pub use sealtrail_api::ErrorBody as ApiError;
use sealtrail_api::ErrorEnvelope;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL given to [`crate::Client::new`] is unusable.
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The API key cannot be sent in an HTTP header.
    #[error("invalid API key: {0}")]
    InvalidApiKey(&'static str),
    /// The CA certificate given for `https://` cannot be used.
    #[error("invalid CA certificate {file}: {reason}")]
    InvalidCaCert { file: String, reason: String },
    /// The HTTP client could not be built (TLS backend, resolver…).
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
    /// No answer: connection refused, DNS failure, connection reset…
    #[error("cannot reach sealtrail at {url}: {message}")]
    Transport { url: String, message: String },
    /// The server did not answer within the request timeout.
    #[error("no answer from {url} within {} s (request timeout)", after.as_secs_f64())]
    Timeout { url: String, after: Duration },
    /// The server answered with an error status.
    #[error("{}", api_display(*status, error, *retry_after))]
    Api {
        status: u16,
        /// The server's error body; synthesised (`code` = `http_<status>`) when
        /// the body was not sealtrail's error JSON (a proxy's error page, say).
        error: ApiError,
        /// `Retry-After` in seconds, kept for 429 and 503.
        retry_after: Option<Duration>,
    },
    /// The server answered, but not with what the API promises.
    #[error("unexpected answer from {url} (HTTP {status}): {message}")]
    Decode {
        url: String,
        status: u16,
        message: String,
    },
}

fn api_display(status: u16, error: &ApiError, retry_after: Option<Duration>) -> String {
    let mut s = format!("server answered HTTP {status}: {error}");
    if let Some(d) = retry_after {
        s.push_str(&format!(" (retry after {} s)", d.as_secs()));
    }
    s
}

impl ClientError {
    /// How long the server asked us to wait before retrying (429/503 with `Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's error object, when it answered with one.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            ClientError::Api { error, .. } => Some(error),
            _ => None,
        }
    }

    /// `true` for `403`: the key's role or scopes do not allow the request,
    /// or it named another project. The server's explanation is in
    /// [`ClientError::api_error`] and in this error's text.
    pub fn is_forbidden(&self) -> bool {
        self.status() == Some(403)
    }

    /// `true` for overload answers (429, 503) that are worth retrying after
    /// [`ClientError::retry_after`].
    pub fn is_overloaded(&self) -> bool {
        matches!(self.status(), Some(429 | 503))
    }

    /// `true` when no HTTP answer came back at all (refused, reset, timed out).
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            ClientError::Transport { .. } | ClientError::Timeout { .. }
        )
    }

    /// A short label for counting errors by kind: the API error code
    /// (`invalid_event`, `overloaded`, `http_502`…), `transport`, `timeout` or `decode`.
    pub fn code(&self) -> String {
        match self {
            ClientError::Api { error, .. } => error.code.to_string(),
            ClientError::Transport { .. } => "transport".into(),
            ClientError::Timeout { .. } => "timeout".into(),
            ClientError::Decode { .. } => "decode".into(),
            ClientError::InvalidUrl { .. } => "invalid_url".into(),
            ClientError::InvalidApiKey(_) => "invalid_api_key".into(),
            ClientError::Build(_) => "build".into(),
            ClientError::InvalidCaCert { .. } => "invalid_ca_cert".into(),
        }
    }
}

/// Reads `Retry-After` as delta-seconds (the only form the sealtrail server sends).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse::<u64>().ok().map(Duration::from_secs)
}

/// The error for a non-success answer: the server's error JSON when the body is
/// one, otherwise a synthesised `http_<status>` error quoting the start of the body.
pub(crate) fn from_error_answer(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
) -> ClientError {
    let retry_after = if matches!(status, 429 | 503) {
        retry_after.and_then(parse_retry_after)
    } else {
        None
    };
    let error = match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(env) => env.error,
        Err(_) => ApiError::new(format!("http_{status}"), body_snippet(body, status)),
    };
    ClientError::Api {
        status,
        error,
        retry_after,
    }
}

/// The start of a body for an error message, or the status's reason phrase if empty.
pub(crate) fn body_snippet(body: &[u8], status: u16) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("no body")
            .to_string();
    }
    let mut out: String = text.chars().take(MAX).collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out.replace(['\n', '\r'], " ")
}

/// A readable cause for a reqwest failure: the root cause for connection
/// failures ("Connection refused (os error 111)"), the whole chain otherwise.
pub(crate) fn transport_message(err: &reqwest::Error) -> String {
    let mut chain: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        let s = e.to_string();
        if !s.is_empty() && chain.last() != Some(&s) {
            chain.push(s);
        }
        source = e.source();
    }
    if err.is_connect() {
        if let Some(root) = chain.last() {
            return root.clone();
        }
    }
    if chain.is_empty() {
        err.to_string()
    } else {
        chain.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_error_body() {
        let body = br#"{"error": {"code": "invalid_event", "message": "agent.id: required field is missing", "field": "agent.id"}}"#;
        let e = from_error_answer(400, None, body);
        assert_eq!(e.status(), Some(400));
        assert_eq!(e.code(), "invalid_event");
        let api = e.api_error().unwrap();
        assert_eq!(api.field.as_deref(), Some("agent.id"));
        assert_eq!(
            e.to_string(),
            "server answered HTTP 400: agent.id: required field is missing [invalid_event]"
        );
        assert!(!e.is_overloaded());
        assert_eq!(e.retry_after(), None);
    }

    #[test]
    fn forbidden_keeps_the_servers_message() {
        let body = br#"{"error": {"code": "forbidden", "message": "this viewer key lacks the `keys:write` scope needed for POST /v1/keys"}}"#;
        let e = from_error_answer(403, None, body);
        assert!(e.is_forbidden());
        assert_eq!(
            e.to_string(),
            "server answered HTTP 403: this viewer key lacks the `keys:write` scope needed for POST /v1/keys [forbidden]"
        );
    }

    #[test]
    fn keeps_retry_after_for_overload_only() {
        let body = br#"{"error": {"code": "overloaded", "message": "ingest queue is full"}}"#;
        let e = from_error_answer(429, Some("3"), body);
        assert!(e.is_overloaded());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(
            e.to_string(),
            "server answered HTTP 429: ingest queue is full [overloaded] (retry after 3 s)"
        );
        let e = from_error_answer(503, Some(" 10 "), body);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(10)));
        // An HTTP-date or junk is not delta-seconds: no hint rather than a wrong one.
        let e = from_error_answer(503, Some("Wed, 21 Oct 2015 07:28:00 GMT"), body);
        assert_eq!(e.retry_after(), None);
        let e = from_error_answer(400, Some("3"), body);
        assert_eq!(e.retry_after(), None);
    }

    #[test]
    fn non_json_error_body_is_quoted() {
        let e = from_error_answer(502, None, b"<html>\nBad Gateway\n</html>");
        assert_eq!(e.code(), "http_502");
        assert_eq!(
            e.to_string(),
            "server answered HTTP 502: <html> Bad Gateway </html> [http_502]"
        );
        let e = from_error_answer(404, None, b"");
        assert_eq!(
            e.to_string(),
            "server answered HTTP 404: Not Found [http_404]"
        );
        let long = vec![b'x'; 1000];
        let e = from_error_answer(500, None, &long);
        assert!(e.api_error().unwrap().message.chars().count() <= 201);
    }

    #[test]
    fn field_not_repeated_when_message_names_it() {
        let a = ApiError {
            code: "invalid_event".into(),
            message: "must not be empty".into(),
            field: Some("tool.name".into()),
        };
        assert_eq!(
            a.to_string(),
            "tool.name: must not be empty [invalid_event]"
        );
        let a = ApiError {
            code: "unauthorized".into(),
            message: "missing or unknown API key".into(),
            field: None,
        };
        assert_eq!(a.to_string(), "missing or unknown API key [unauthorized]");
    }
}
