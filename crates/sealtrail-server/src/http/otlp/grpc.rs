//! OTLP/gRPC: the collector's `TraceService` on its own listener
//! (`serve --otlp-grpc-listen`), sharing the HTTP path's export logic.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use anyhow::Context as _;
use axum::http::{HeaderMap, Request as HttpRequest, Response as HttpResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::SERVICE_NAME;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::bytes::Buf;
use prost::Message;
use tokio::sync::watch;
use tonic::body::Body;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Response, Status};

use super::budget::{self, Budget};
use super::{export, rpc};
use crate::access::{Caller, Scope};
use crate::error::ApiError;
use crate::http::auth::admit;
use crate::log::AppState;
use crate::logs::Root;

/// The one method of `TraceService`.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// The error as a gRPC status; RetryInfo rides in `grpc-status-details-bin`.
fn to_status(e: &ApiError) -> Status {
    let s = rpc::status_of(e);
    let code = rpc::grpc_code(e);
    if s.details.is_empty() {
        Status::new(code, s.message)
    } else {
        let message = s.message.clone();
        Status::with_details(code, message, s.encode_to_vec().into())
    }
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'static>>;

/// OTLP's `TraceService`, written against tonic's server API instead of the
/// generated `TraceServiceServer`, for two things the generated one cannot
/// do: answer an unauthenticated call from its metadata before reading its
/// body (the generated server decodes the whole message, up to 16 MiB,
/// before the method sees the key), and count the spans of the raw message
/// before decoding it (`ExportCodec`).
#[derive(Clone)]
pub struct TraceGrpc {
    root: Root,
}

impl TraceGrpc {
    pub fn new(root: Root) -> TraceGrpc {
        TraceGrpc { root }
    }
}

impl NamedService for TraceGrpc {
    const NAME: &'static str = SERVICE_NAME;
}

/// The same bearer-key check as HTTP (scopes, project, rate limit,
/// revoked and expired keys, the auth counters), on the call's headers.
async fn authorize(root: &Root, headers: &HeaderMap) -> Result<(Caller, AppState), ApiError> {
    admit(
        root,
        &axum::http::Method::POST,
        headers,
        Some(Scope::Ingest),
        "OTLP/gRPC Export",
    )
    .await
}

impl tower::Service<HttpRequest<Body>> for TraceGrpc {
    type Response = HttpResponse<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: HttpRequest<Body>) -> Self::Future {
        let root = self.root.clone();
        Box::pin(async move {
            if req.uri().path() != EXPORT_PATH {
                let what = format!("{} is not a method of {SERVICE_NAME}", req.uri().path());
                return Ok(Status::unimplemented(what).into_http());
            }
            // Dropping `req` unread resets the stream: the body of a
            // refused call is never buffered or decoded.
            let (caller, state) = match authorize(&root, req.headers()).await {
                Ok(found) => found,
                Err(e) => return Ok(to_status(&e).into_http()),
            };
            let codec = ExportCodec {
                budget: Budget::for_limits(&state.limits),
            };
            let mut grpc = Grpc::new(codec)
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(state.limits.max_body_bytes);
            Ok(grpc.unary(Export { caller, state }, req).await)
        })
    }
}

/// One authorised call's export.
struct Export {
    caller: Caller,
    state: AppState,
}

impl UnaryService<ExportTraceServiceRequest> for Export {
    type Response = ExportTraceServiceResponse;
    type Future = BoxFuture<Response<ExportTraceServiceResponse>, Status>;

    fn call(&mut self, request: tonic::Request<ExportTraceServiceRequest>) -> Self::Future {
        let (caller, state) = (self.caller.clone(), self.state.clone());
        Box::pin(async move {
            let done = export(&state, &caller, request.get_ref())
                .await
                .map_err(|e| to_status(&e))?;
            let partial_success = (done.rejected > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: i64::try_from(done.rejected).unwrap_or(i64::MAX),
                error_message: done.error_message,
            });
            Ok(Response::new(ExportTraceServiceResponse {
                partial_success,
            }))
        })
    }
}

/// Protobuf in and out, with the export's spans and elements counted on
/// the (decompressed) message before it is decoded.
struct ExportCodec {
    budget: Budget,
}

impl Codec for ExportCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = ExportTraceServiceRequest;
    type Encoder = ResponseEncoder;
    type Decoder = BudgetedDecoder;

    fn encoder(&mut self) -> ResponseEncoder {
        ResponseEncoder
    }

    fn decoder(&mut self) -> BudgetedDecoder {
        BudgetedDecoder {
            budget: self.budget,
        }
    }
}

struct ResponseEncoder;

impl Encoder for ResponseEncoder {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("cannot encode the Export response: {e}")))
    }
}

struct BudgetedDecoder {
    budget: Budget,
}

impl BudgetedDecoder {
    fn decode_bytes(&self, bytes: &[u8]) -> Result<ExportTraceServiceRequest, Status> {
        budget::count_protobuf(bytes, self.budget)
            .map_err(|e| to_status(&super::http::refused(e, "an OTLP")))?;
        ExportTraceServiceRequest::decode(bytes).map_err(|e| {
            to_status(&ApiError::bad_request(
                "invalid_otlp",
                format!("message is not an OTLP ExportTraceServiceRequest: {e}"),
            ))
        })
    }
}

impl Decoder for BudgetedDecoder {
    type Item = ExportTraceServiceRequest;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        let len = src.remaining();
        // tonic hands over one contiguous buffer; copy only if it ever is not.
        let decoded = if src.chunk().len() == len {
            let decoded = self.decode_bytes(src.chunk());
            src.advance(len);
            decoded
        } else {
            let owned = src.copy_to_bytes(len);
            self.decode_bytes(&owned)
        };
        decoded.map(Some)
    }
}

/// Binds the gRPC listener (so a bad address fails `serve` at once).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for OTLP/gRPC on {addr}"))
}

/// Serves until `shutdown` turns true, then finishes in-flight calls.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    root: Root,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let service = TraceGrpc::new(root);
    let router = tonic::transport::Server::builder().add_service(service);
    let accepting = shutdown.clone();
    let stopped = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    match tls {
        None => {
            router
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    stopped,
                )
                .await
        }
        // Handshakes run per connection (crate::tls), never in tonic's accept loop.
        Some(config) => {
            let incoming = crate::tls::listen(listener, config, accepting)?.into_incoming();
            router.serve_with_incoming_shutdown(incoming, stopped).await
        }
    }
    .context("OTLP/gRPC server failed")
}
