//! `POST /v1/traces`: OTLP/HTTP. Protobuf or JSON by `Content-Type`,
//! optionally gzip; answers in the request's encoding, errors as a
//! `google.rpc.Status` with `Retry-After` where a retry can work (the
//! OTLP spec's retryable codes: 429, 502, 503, 504).

use std::io::Read;

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use super::budget::{self, Budget, BudgetError};
use super::{export, rpc, Exported};
use crate::error::ApiError;
use crate::http::auth::{scope, Ctx};
use crate::http::openapi::{AnyObject, Binary};

/// The two OTLP/HTTP encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn from_headers(headers: &HeaderMap) -> Option<Encoding> {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if mime.eq_ignore_ascii_case("application/x-protobuf") {
            Some(Encoding::Protobuf)
        } else if mime.eq_ignore_ascii_case("application/json") {
            Some(Encoding::Json)
        } else {
            None
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// The refusals of `POST /v1/traces`: a `google.rpc.Status` in the
/// request's encoding.
pub struct OtlpRefusals;

impl utoipa::IntoResponses for OtlpRefusals {
    fn responses() -> std::collections::BTreeMap<
        String,
        utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
    > {
        use utoipa::openapi::{Content, Ref, ResponseBuilder};
        use utoipa::PartialSchema;
        [
            ("400", "Undecodable"),
            ("401", "Missing, unknown, revoked or expired key (`unauthorized`, `key_revoked`, `key_expired`, `token_expired`)"),
            ("403", "The key lacks the scope this endpoint needs (`forbidden`), or may not act on that project"),
            ("413", "Too large"),
            ("415", "Unsupported media type"),
            ("429", "Over the key's rate limit (`rate_limited`), with Retry-After"),
            ("503", "Overloaded or storage unavailable, with Retry-After"),
        ]
        .into_iter()
        .map(|(code, text)| {
            let r = ResponseBuilder::new()
                .description(text)
                .content(
                    "application/json",
                    Content::new(Some(Ref::from_schema_name("RpcStatus"))),
                )
                .content("application/x-protobuf", Content::new(Some(Binary::schema())))
                .build();
            (code.to_string(), r.into())
        })
        .collect()
    }
}

#[utoipa::path(
    post,
    path = "/v1/traces",
    tag = "ingest",
    summary = "OTLP/HTTP trace ingest (protobuf or JSON, optionally gzip)",
    security(("bearer" = ["ingest"])),
    request_body(content(
        (inline(Binary) = "application/x-protobuf"),
        (inline(AnyObject) = "application/json")
    )),
    responses(
        (
            status = 200,
            description = "ExportTraceServiceResponse, with partial_success naming rejected spans",
            content(
                (inline(AnyObject) = "application/json"),
                (inline(Binary) = "application/x-protobuf")
            )
        ),
        OtlpRefusals
    )
)]
/// `POST /v1/traces`. The caller's refusal (401, 403, 429, a bad project)
/// is taken as a value, to be answered in the request's encoding like
/// every other error here.
pub async fn post_traces(ctx: Result<Ctx<scope::Ingest>, ApiError>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // Errors are answered in the request's encoding; JSON when unknown.
    let encoding = Encoding::from_headers(&parts.headers);
    let answer = async {
        let Ctx {
            caller, log: state, ..
        } = ctx?;
        let encoding = encoding.ok_or_else(|| {
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send OTLP as application/x-protobuf or application/json",
            )
        })?;
        let limit = state.limits.max_body_bytes;
        let bytes = axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| too_large(limit))?;
        let bytes = decompress(&parts.headers, &bytes, limit)?;
        let request = decode(encoding, &bytes, Budget::for_limits(&state.limits))?;
        drop(bytes);
        export(&state, &caller, &request).await
    }
    .await;
    let encoding = encoding.unwrap_or(Encoding::Json);
    match answer {
        Ok(done) => success(encoding, &done),
        Err(e) => failure(encoding, &e),
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("request body exceeds {limit} bytes (after decompression); export smaller batches"),
    )
}

/// The body as sent, or gunzipped with the same size limit (a small gzip
/// body must not expand past what an uncompressed one may be).
fn decompress<'a>(
    headers: &HeaderMap,
    bytes: &'a [u8],
    limit: usize,
) -> Result<std::borrow::Cow<'a, [u8]>, ApiError> {
    let coding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim();
    if coding.eq_ignore_ascii_case("identity") || coding.is_empty() {
        return Ok(bytes.into());
    }
    if !coding.eq_ignore_ascii_case("gzip") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            format!("Content-Encoding {coding:?} is not supported; use gzip or none"),
        ));
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            ApiError::bad_request("invalid_gzip", format!("body is not valid gzip: {e}"))
        })?;
    if out.len() > limit {
        return Err(too_large(limit));
    }
    Ok(out.into())
}

/// Decodes an export whose spans and other repeated elements fit `budget`
/// (counted on the bytes first, so an over-budget body is never decoded).
pub fn decode(
    encoding: Encoding,
    bytes: &[u8],
    budget: Budget,
) -> Result<ExportTraceServiceRequest, ApiError> {
    match encoding {
        Encoding::Protobuf => {
            budget::count_protobuf(bytes, budget).map_err(|e| refused(e, "an OTLP"))?;
            ExportTraceServiceRequest::decode(bytes).map_err(|e| {
                ApiError::bad_request(
                    "invalid_otlp",
                    format!("body is not an OTLP ExportTraceServiceRequest: {e}"),
                )
            })
        }
        Encoding::Json => {
            budget::count_json(bytes, budget).map_err(|e| refused(e, "OTLP/JSON"))?;
            serde_json::from_slice(bytes).map_err(|e| {
                ApiError::bad_request(
                    "invalid_otlp",
                    format!("body is not OTLP/JSON ExportTraceServiceRequest: {e}"),
                )
            })
        }
    }
}

/// The answer to a body refused before decoding: 413 over the budget, 400
/// when it is not even well-formed (`what` names the expected encoding).
pub fn refused(e: BudgetError, what: &str) -> ApiError {
    match e {
        BudgetError::TooManySpans { .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_spans",
            e.to_string(),
        ),
        BudgetError::TooManyElements { .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_elements",
            e.to_string(),
        ),
        BudgetError::Malformed(why) => ApiError::bad_request(
            "invalid_otlp",
            format!("body is not {what} ExportTraceServiceRequest: {why}"),
        ),
    }
}

fn with_type(encoding: Encoding, status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    resp
}

/// ExportTraceServiceResponse; `partial_success` only when spans were
/// rejected (the spec: an empty one means full success).
fn success(encoding: Encoding, done: &Exported) -> Response {
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceResponse,
    };
    let partial = (done.rejected > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: i64::try_from(done.rejected).unwrap_or(i64::MAX),
        error_message: done.error_message.clone(),
    });
    let body = match encoding {
        Encoding::Protobuf => ExportTraceServiceResponse {
            partial_success: partial,
        }
        .encode_to_vec(),
        // Written by hand: int64 is a string in OTLP/JSON.
        Encoding::Json => match partial {
            Some(p) => serde_json::json!({"partialSuccess": {
                "rejectedSpans": p.rejected_spans.to_string(),
                "errorMessage": p.error_message,
            }}),
            None => serde_json::json!({}),
        }
        .to_string()
        .into_bytes(),
    };
    with_type(encoding, StatusCode::OK, body)
}

fn failure(encoding: Encoding, e: &ApiError) -> Response {
    let status = rpc::status_of(e);
    let body = match encoding {
        Encoding::Protobuf => status.encode_to_vec(),
        Encoding::Json => serde_json::json!({"code": status.code, "message": status.message})
            .to_string()
            .into_bytes(),
    };
    let mut resp = with_type(encoding, e.status, body);
    if let Some(secs) = e.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_capped_at_the_body_limit() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&vec![0u8; 10_000]).unwrap();
        let gz = enc.finish().unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(decompress(&h, &gz, 10_000).unwrap().len(), 10_000);
        let e = decompress(&h, &gz, 9_999).unwrap_err();
        assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
        let e = decompress(&h, b"not gzip", 100).unwrap_err();
        assert_eq!(e.body.code, "invalid_gzip");
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        assert_eq!(
            decompress(&h, b"x", 100).unwrap_err().status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }

    #[test]
    fn undecodable_bodies_are_400() {
        assert_eq!(
            decode(Encoding::Protobuf, b"\xff\xff", Budget::UNLIMITED)
                .unwrap_err()
                .status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            decode(Encoding::Json, b"[", Budget::UNLIMITED)
                .unwrap_err()
                .status,
            StatusCode::BAD_REQUEST
        );
        let ok = decode(Encoding::Json, br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"x","kind":3,"startTimeUnixNano":"1544712660000000000"}]}]}]}"#, Budget::UNLIMITED).unwrap();
        let span = &ok.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.span_id, hex::decode("eee19b7ec3c1b174").unwrap());
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
    }

    #[test]
    fn bodies_over_the_budget_are_413_before_decoding() {
        let budget = Budget {
            max_spans: 2,
            max_elements: 100,
        };
        // Three empty spans in one scope of one resource.
        let body = b"\x0a\x08\x12\x06\x12\x00\x12\x00\x12\x00";
        let e = decode(Encoding::Protobuf, body, budget).unwrap_err();
        assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(e.body.code, "too_many_spans");
        assert!(
            e.body.message.contains("more than 2 spans"),
            "{}",
            e.body.message
        );
        let json = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{},{},{}]}]}]}"#;
        let e = decode(Encoding::Json, json, budget).unwrap_err();
        assert_eq!(e.body.code, "too_many_spans");
        let many = format!(r#"{{"resourceSpans":[{}]}}"#, ["{}"; 101].join(","));
        let e = decode(Encoding::Json, many.as_bytes(), budget).unwrap_err();
        assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(e.body.code, "too_many_elements");
        let e = decode(Encoding::Protobuf, b"\x0a\x09", budget).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(
            e.body.message.contains("runs past the end"),
            "{}",
            e.body.message
        );
    }
}
