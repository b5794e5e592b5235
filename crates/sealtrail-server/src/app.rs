//! The HTTP application: routes, and `serve` (start, run, drain, stop).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{watch, Notify};

use crate::auth::KeyCache;
use crate::checkpointer::{Checkpointer, SharedMode};
use crate::datadir;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::sequencer::{Sequencer, SequencerConfig};
use crate::state::{AppState, Limits};
use crate::tiles::StoreTiles;
use crate::{ingest, query, read};

/// Everything `sealtrail serve` can be told.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub data: PathBuf,
    pub listen: SocketAddr,
    pub checkpoint_interval: Duration,
    pub sequencer: SequencerConfig,
    pub limits: Limits,
    /// Serve `/tlog/*` without an API key.
    pub public_tiles: bool,
    /// Where the entries live.
    pub backend: datadir::Backend,
    /// Where to serve OTLP/gRPC (off when `None`).
    pub otlp_grpc_listen: Option<SocketAddr>,
    /// PII and secrets scanning and the redaction policy.
    pub pii: crate::sensitive::PiiOptions,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/v1/events",
            post(ingest::post_events).get(query::get_events),
        )
        .route("/v1/traces", post(crate::otlp::http::post_traces))
        .route("/v1/stats", get(query::get_stats))
        .route("/v1/exports", post(crate::export::post_export))
        .route("/v1/checkpoint", get(read::get_checkpoint))
        .route("/v1/entries/{index}", get(read::get_entry))
        .route("/v1/entries/{index}/proof", get(read::get_proof))
        .route("/v1/consistency", get(read::get_consistency))
        .route("/tlog/checkpoint", get(read::tlog_checkpoint))
        .route("/tlog/tile/{*rest}", get(read::tlog_tile))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::not_found("no such endpoint; see docs/api.md") })
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.head()).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n".to_string()),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unavailable: {e}\n"),
        ),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(state.sequencer.queue_depth()),
    )
}

/// A running server: its address, and how to stop it.
pub struct Running {
    pub addr: SocketAddr,
    /// The OTLP/gRPC listener's address, when one was asked for.
    pub otlp_grpc_addr: Option<SocketAddr>,
    pub origin: String,
    pub vkey: String,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl Running {
    /// Stops accepting, finishes in-flight requests, seals what is queued,
    /// signs a last checkpoint, and returns.
    pub async fn stop(self) -> Result<()> {
        let _ = self.shutdown.send(true);
        self.task.await.context("server task panicked")?
    }

    /// Waits until the server stops by itself (it does not, unless it fails).
    pub async fn wait(self) -> Result<()> {
        self.task.await.context("server task panicked")?
    }

    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Opens the data directory (initialising it if needed) and starts serving.
pub async fn start(opts: ServeOptions) -> Result<(Running, Option<String>)> {
    let (data, backend) = (opts.data.clone(), opts.backend.clone());
    let (init, store) = tokio::task::spawn_blocking(move || {
        let init = datadir::init(&data, None, &backend)?;
        datadir::open_store(&data, &backend).map(|s| (init, s))
    })
    .await
    .context("store task")??;
    let signer = Arc::new(datadir::load_signer(&opts.data)?);
    let shared_store = opts.backend.is_shared();
    let metrics = Arc::new(Metrics::default());
    let seq_config = SequencerConfig {
        shared_store,
        ..opts.sequencer.clone()
    };
    let (seq_store, seq_metrics) = (store.clone(), metrics.clone());
    let (sequencer, seq_thread) =
        tokio::task::spawn_blocking(move || Sequencer::start(seq_store, seq_config, seq_metrics))
            .await
            .context("sequencer start task")?
            .context("cannot start the sequencer")?;
    let tiles = Arc::new(StoreTiles::new(store.clone()));
    let checkpointer = Checkpointer {
        store: store.clone(),
        tiles: tiles.clone(),
        signer: signer.clone(),
        origin: init.origin.clone(),
        interval: opts.checkpoint_interval,
        metrics: metrics.clone(),
        heads: std::sync::Mutex::new(None),
        shared: shared_store
            .then(|| {
                crate::auth::generate_key().map(|id| SharedMode {
                    node: format!("node-{}", &id[4..16]),
                    publisher: sequencer.publisher(),
                })
            })
            .transpose()
            .map_err(|e| anyhow::anyhow!("no randomness: {e}"))?,
    };
    let (checkpointer, latest) = tokio::task::spawn_blocking(move || {
        let latest = checkpointer.load_latest();
        (checkpointer, latest)
    })
    .await
    .context("checkpoint load task")?;
    let latest = latest?;
    let (cp_tx, cp_rx) = watch::channel(latest);
    let nudge = Arc::new(Notify::new());
    let (shutdown_tx, shutdown_rx) = watch::channel(false);

    let state = AppState {
        store: store.clone(),
        sequencer: sequencer.clone(),
        tiles,
        checkpoints: cp_rx,
        nudge: nudge.clone(),
        metrics,
        limits: opts.limits.clone(),
        keys: Arc::new(KeyCache::default()),
        public_tiles: opts.public_tiles,
        origin: init.origin.clone(),
        vkey: init.vkey.clone(),
        sensitive: crate::sensitive::Sensitive::load(&opts.data, &opts.pii)?.map(Arc::new),
    };
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let addr = listener.local_addr()?;
    let grpc = match opts.otlp_grpc_listen {
        Some(at) => Some(crate::otlp::grpc::bind(at).await?),
        None => None,
    };
    let otlp_grpc_addr = grpc.as_ref().map(|l| l.local_addr()).transpose()?;
    let grpc_task = grpc.map(|l| {
        tokio::spawn(crate::otlp::grpc::serve(
            l,
            state.clone(),
            shutdown_rx.clone(),
        ))
    });
    let app = router(state);

    let heads = sequencer.head();
    let cp_task = tokio::spawn(checkpointer.run(heads, cp_tx, nudge, shutdown_rx.clone()));
    let mut http_shutdown = shutdown_rx.clone();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = http_shutdown.wait_for(|stop| *stop).await;
            })
            .await
            .context("HTTP server failed")?;
        if let Some(t) = grpc_task {
            t.await.context("OTLP/gRPC task")??;
        }
        // Every handler is done; dropping the last handle lets the
        // sequencer finish its queue and exit.
        drop(sequencer);
        tokio::task::spawn_blocking(move || seq_thread.join())
            .await
            .context("sequencer join")?
            .map_err(|_| anyhow::anyhow!("the sequencer thread panicked"))?;
        cp_task.await.context("checkpointer task")?;
        Ok(())
    });
    Ok((
        Running {
            addr,
            otlp_grpc_addr,
            origin: init.origin,
            vkey: init.vkey,
            shutdown: shutdown_tx,
            task,
        },
        init.owner_api_key,
    ))
}
