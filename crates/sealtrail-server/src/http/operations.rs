//! Operations: `GET /healthz`, `GET /readyz` and `GET /metrics`, served
//! without a key.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::logs::Root;

/// Liveness.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Liveness",
    security(()),
    responses((status = 200, description = "ok"))
)]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the default project's store answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness (the default project's store answers)",
    security(()),
    responses(
        (status = 200, description = "ready"),
        (status = 503, description = "store unavailable")
    )
)]
pub async fn readyz(State(root): State<Root>) -> impl IntoResponse {
    let Ok(log) = root.default_log() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting\n".to_string());
    };
    let store = log.store.clone();
    match tokio::task::spawn_blocking(move || store.head()).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n".to_string()),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unavailable: {e}\n"),
        ),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
    }
}

/// Prometheus metrics in the text exposition format (never keys).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "Prometheus metrics (never keys)",
    security(()),
    responses((status = 200, description = "OpenMetrics text exposition format", content_type = "application/openmetrics-text"))
)]
pub async fn metrics(State(root): State<Root>) -> impl IntoResponse {
    let queued: usize = root.logs().iter().map(|l| l.sequencer.queue_depth()).sum();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        crate::metrics::exposition(&root.metrics, &root.access.counters, queued),
    )
}
