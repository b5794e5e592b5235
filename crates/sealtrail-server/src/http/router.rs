//! The routes: every endpoint of the API and the handler serving it.

use axum::routing::{get, post};
use axum::Router;

use super::{admin, entries, export, ingest, openapi, operations, otlp, proofs, query, tiles};
use crate::error::ApiError;
use crate::logs::Root;

pub fn router(root: Root) -> Router {
    let tlog = Router::new()
        .route("/checkpoint", get(tiles::tlog_checkpoint))
        .route("/tile/{*rest}", get(tiles::tlog_tile));
    Router::new()
        .route(
            "/v1/events",
            post(ingest::post_events).get(query::get_events),
        )
        .route("/v1/traces", post(otlp::http::post_traces))
        .route("/v1/stats", get(query::get_stats))
        .route("/v1/exports", post(export::post_export))
        .route("/v1/checkpoint", get(proofs::get_checkpoint))
        .route("/v1/entries/{index}", get(entries::get_entry))
        .route("/v1/entries/{index}/proof", get(proofs::get_proof))
        .route("/v1/consistency", get(proofs::get_consistency))
        .merge(admin::routes())
        .nest("/tlog", tlog.clone())
        .nest("/projects/{project}/tlog", tlog)
        .route("/healthz", get(operations::healthz))
        .route("/readyz", get(operations::readyz))
        .route("/metrics", get(operations::metrics))
        .route("/openapi.json", get(openapi::get_openapi))
        .fallback(|| async { ApiError::not_found("no such endpoint; see docs/api.md") })
        .with_state(root)
}
