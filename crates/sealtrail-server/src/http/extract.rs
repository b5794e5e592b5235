//! Request extractors whose refusals are the API's one error shape.
//!
//! axum's own `Json`, `Query` and `Path` answer a bad request with plain
//! text (and a malformed JSON body with 422), which no client of ours can
//! parse and the OpenAPI document does not promise. These wrappers answer
//! `400 {"error": {"code", "message", "field"?}}` instead, naming the part of
//! the request that was wrong.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body (`Content-Type: application/json`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

/// A query string.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

/// Path parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        let code = match e {
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            _ => "invalid_request",
        };
        let mut err = ApiError::bad_request(code, e.body_text());
        if let JsonRejection::MissingJsonContentType(_) = e {
            err.status = axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE;
            err.body.message = "send the request body as application/json".into();
        }
        err
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        ApiError::bad_request("invalid_parameter", e.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        ApiError::bad_request("invalid_parameter", e.body_text())
    }
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(v) = <axum::Json<T> as FromRequest<S>>::from_request(req, state).await?;
        Ok(ApiJson(v))
    }
}

/// An optional body: none when the request has no `Content-Type` (an
/// empty POST); a body that is there must be valid.
impl<S, T> OptionalFromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let v = <axum::Json<T> as OptionalFromRequest<S>>::from_request(req, state).await?;
        Ok(v.map(|axum::Json(v)| ApiJson(v)))
    }
}

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(v) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(v))
    }
}

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(v) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(ApiPath(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::StatusCode;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body1 {
        #[allow(dead_code)]
        n: u64,
    }

    fn post(ct: Option<&str>, body: &'static str) -> Request {
        let mut b = axum::http::Request::builder().method("POST").uri("/x");
        if let Some(ct) = ct {
            b = b.header("content-type", ct);
        }
        b.body(Body::from(body)).expect("request")
    }

    #[tokio::test]
    async fn json_refusals_are_400_in_the_error_shape() {
        for body in [r#"{"n": {}}"#, "[null, null]", r#"{"n": 1, "x": 2}"#, "{"] {
            let e = <ApiJson<Body1> as FromRequest<()>>::from_request(
                post(Some("application/json"), body),
                &(),
            )
            .await
            .expect_err(body);
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(e.body.code, "invalid_request");
        }
        let e = <ApiJson<Body1> as FromRequest<()>>::from_request(post(Some("text/csv"), "1"), &())
            .await
            .expect_err("csv");
        assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[tokio::test]
    async fn an_absent_optional_body_is_none_and_a_bad_one_is_refused() {
        let none = <ApiJson<Body1> as OptionalFromRequest<()>>::from_request(post(None, ""), &())
            .await
            .expect("absent");
        assert!(none.is_none());
        let e = <ApiJson<Body1> as OptionalFromRequest<()>>::from_request(
            post(Some("application/json"), r#"{"n": "x"}"#),
            &(),
        )
        .await
        .expect_err("bad");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }
}
