//! The few `google.rpc` messages OTLP answers with: `Status` (the body of
//! an OTLP/HTTP error) and `RetryInfo` (how long a gRPC client should wait).
//! Declared here because they are three small messages, not worth a crate.

use axum::http::StatusCode;

use crate::error::ApiError;

/// `google.rpc.Status` (schema `RpcStatus`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<Any>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Any {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<Duration>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Duration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// The gRPC status code of an HTTP error, as OTLP exporters read them:
/// UNAVAILABLE and RESOURCE_EXHAUSTED (with RetryInfo) are retried,
/// the others are not.
pub fn grpc_code(e: &ApiError) -> tonic::Code {
    match e.status {
        StatusCode::UNAUTHORIZED => tonic::Code::Unauthenticated,
        StatusCode::FORBIDDEN => tonic::Code::PermissionDenied,
        StatusCode::TOO_MANY_REQUESTS => tonic::Code::ResourceExhausted,
        StatusCode::SERVICE_UNAVAILABLE if e.body.code == "overloaded" => {
            tonic::Code::ResourceExhausted
        }
        StatusCode::SERVICE_UNAVAILABLE => tonic::Code::Unavailable,
        StatusCode::GATEWAY_TIMEOUT => tonic::Code::DeadlineExceeded,
        s if s.is_client_error() => tonic::Code::InvalidArgument,
        _ => tonic::Code::Internal,
    }
}

/// `google.rpc.Status` for an error, with RetryInfo when a retry can work.
pub fn status_of(e: &ApiError) -> Status {
    let details = e
        .retry_after
        .map(|secs| {
            let info = RetryInfo {
                retry_delay: Some(Duration {
                    seconds: i64::from(secs),
                    nanos: 0,
                }),
            };
            Any {
                type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
                value: prost::Message::encode_to_vec(&info),
            }
        })
        .into_iter()
        .collect();
    Status {
        code: grpc_code(e) as i32,
        message: e.body.message.clone(),
        details,
    }
}

impl utoipa::PartialSchema for Status {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "google.rpc.Status, as OTLP/HTTP answers errors (in the request's encoding: JSON here, protobuf for application/x-protobuf requests).",
            ))
            .property(
                "code",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .description(Some("gRPC status code")),
            )
            .property("message", ObjectBuilder::new().schema_type(Type::String))
            .property(
                "details",
                ArrayBuilder::new()
                    .items(ObjectBuilder::new().schema_type(Type::Object))
                    .description(Some("google.rpc.RetryInfo when a retry can work")),
            )
            .required("code")
            .required("message")
            .into()
    }
}

impl utoipa::ToSchema for Status {
    fn name() -> std::borrow::Cow<'static, str> {
        "RpcStatus".into()
    }
}
