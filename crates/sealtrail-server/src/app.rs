//! The server: start (open the data directory, every project's log, the
//! listeners), run, drain and stop. The top layer: it wires `http` to
//! `logs`, `access` and the TLS listeners.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::watch;

use crate::access::{Access, DEFAULT_PROJECT};
use crate::config::ServeOptions;
use crate::logs::Root;
use crate::metrics::Metrics;

/// A running server: its address, and how to stop it.
pub struct Running {
    pub addr: SocketAddr,
    /// The OTLP/gRPC listener's address, when one was asked for.
    pub otlp_grpc_addr: Option<SocketAddr>,
    pub origin: String,
    pub vkey: String,
    /// The log's signing keys (rotation, history, current vkeys).
    pub signing_keys: Arc<sealtrail_keys::KeyRing>,
    /// The TLS certificate both listeners present (`None`: plain HTTP).
    pub tls: Option<Arc<crate::tls::CertStore>>,
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

    /// `https` with TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// Opens the data directory (initialising it if needed) and starts serving.
pub async fn start(opts: ServeOptions) -> Result<(Running, Option<String>)> {
    // A bad certificate refuses the start before the data directory is touched.
    let tls = match &opts.tls {
        Some(t) => {
            let store = crate::tls::CertStore::open(t)?;
            tracing::info!(
                "TLS certificate from {}: sha256 {}",
                t.cert.display(),
                crate::tls::fingerprint(&store.current())
            );
            Some(store)
        }
        None => None,
    };
    let (data, backend, signing) = (
        opts.data.clone(),
        opts.backend.clone(),
        opts.signing.clone(),
    );
    let (rate, console) = (opts.rate_limit, opts.console);
    let (init, store, access) = tokio::task::spawn_blocking(move || {
        let init = sealtrail_keys::init(
            &data,
            None,
            &backend,
            &signing,
            &crate::access::owner_key_maker,
        )?;
        let store = sealtrail_keys::open_store(&data, &backend)?;
        let access = Access::load(store.clone(), &data, rate, console)?;
        anyhow::Ok((init, store, access))
    })
    .await
    .context("store task")??;
    let access = Arc::new(access);
    let metrics = Arc::new(Metrics::default());
    let sensitive = crate::sensitive::Sensitive::load(&opts.data, &opts.pii)?.map(Arc::new);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let shared = opts.backend.is_shared();
    let root = Root::new(
        access.clone(),
        opts.clone(),
        metrics,
        sensitive,
        shutdown_rx.clone(),
    );
    let default = root.open(DEFAULT_PROJECT, None, Some(store)).await?;
    for p in access.projects() {
        match root.open_existing(&p).await {
            Ok(_) => {}
            // Another node made it; this one serves it once its key is here.
            Err(e) if shared => tracing::warn!("{e:#}"),
            Err(e) => return Err(e.context(format!("cannot open project {}", p.name))),
        }
    }
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let addr = listener.local_addr()?;
    let grpc = match opts.otlp_grpc_listen {
        Some(at) => Some(crate::http::otlp::grpc::bind(at).await?),
        None => None,
    };
    let otlp_grpc_addr = grpc.as_ref().map(|l| l.local_addr()).transpose()?;
    let grpc_tls = match &tls {
        Some(store) => Some(store.server_config(crate::tls::ALPN_GRPC)?),
        None => None,
    };
    let grpc_task = grpc.map(|l| {
        tokio::spawn(crate::http::otlp::grpc::serve(
            l,
            grpc_tls,
            root.clone(),
            shutdown_rx.clone(),
        ))
    });
    let http_listener = match &tls {
        Some(store) => {
            let config = store.server_config(crate::tls::ALPN_HTTP)?;
            tokio::spawn(store.clone().watch(shutdown_rx.clone()));
            Listener::Tls(crate::tls::listen(listener, config, shutdown_rx.clone())?)
        }
        None => Listener::Plain(listener),
    };
    let upkeep = tokio::spawn(crate::access::upkeep(
        access.clone(),
        shared,
        opts.access_upkeep,
        shutdown_rx.clone(),
    ));
    let follow = shared.then(|| tokio::spawn(root.clone().follow_projects()));
    let app = crate::http::router(root.clone());
    let mut http_shutdown = shutdown_rx.clone();
    let task = tokio::spawn(async move {
        let stopped = async move {
            let _ = http_shutdown.wait_for(|stop| *stop).await;
        };
        match http_listener {
            Listener::Plain(l) => {
                use axum::serve::ListenerExt;
                // As on the TLS listener: an answer written in two parts
                // must not wait for the client's delayed ACK (Nagle).
                let l = l.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                axum::serve(l, app).with_graceful_shutdown(stopped).await
            }
            Listener::Tls(l) => axum::serve(l, app).with_graceful_shutdown(stopped).await,
        }
        .context("HTTP server failed")?;
        if let Some(t) = grpc_task {
            t.await.context("OTLP/gRPC task")??;
        }
        // Every handler is done; dropping the last handles lets each
        // sequencer finish its queue and exit.
        upkeep.await.context("access upkeep task")?;
        if let Some(f) = follow {
            f.await.context("project follower task")?;
        }
        root.close().await
    });
    let signing_keys = default.signing_keys.clone();
    Ok((
        Running {
            addr,
            otlp_grpc_addr,
            origin: init.origin,
            vkey: signing_keys.primary_vkey(),
            signing_keys,
            tls,
            shutdown: shutdown_tx,
            task,
        },
        init.owner_api_key,
    ))
}

/// The API listener: plain TCP, or TLS with handshakes done off the accept loop.
enum Listener {
    Plain(tokio::net::TcpListener),
    Tls(crate::tls::TlsListener),
}
