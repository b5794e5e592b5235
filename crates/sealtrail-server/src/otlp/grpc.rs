//! OTLP/gRPC: the collector's `TraceService` on its own listener
//! (`serve --otlp-grpc-listen`), sharing the HTTP path's export logic.

use std::net::SocketAddr;

use anyhow::Context;
use axum::http::Request as HttpRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::sync::watch;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use super::{export, rpc};
use crate::error::ApiError;
use crate::projects::Root;

pub struct OtlpTraceService {
    root: Root,
}

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

#[tonic::async_trait]
impl TraceService for OtlpTraceService {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        // The same bearer-key check as HTTP, on the gRPC metadata.
        let (mut parts, ()) = HttpRequest::new(()).into_parts();
        parts.headers = request.metadata().clone().into_headers();
        let (caller, state) = async {
            let caller =
                crate::access::caller::authenticate(&self.root.access, &parts.headers).await?;
            caller.require(crate::access::Scope::Ingest, "OTLP/gRPC Export")?;
            let state = crate::access::caller::log_for(&self.root, &caller, &parts.headers)?;
            Ok::<_, ApiError>((caller, state))
        }
        .await
        .map_err(|e| to_status(&e))?;
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
    let limit = root.opts_limits().max_body_bytes;
    let service = TraceServiceServer::new(OtlpTraceService { root })
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit);
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
