//! TLS for the HTTP API and the OTLP/gRPC listener (`serve --tls-cert
//! --tls-key`): rustls with the ring provider.
//!
//! The certificate lives in a [`CertStore`], a rustls certificate resolver
//! whose key can be swapped while the server runs: [`CertStore::reload`]
//! (SIGHUP in `sealtrail serve`) and [`CertStore::watch`] (the files' mtime,
//! size and inode, polled) replace it for new handshakes; open connections
//! keep the session they negotiated. A new pair that does not load is
//! logged and the old one kept.
//!
//! Handshakes run in a task per connection with a time limit, so a client
//! that stalls or sends garbage never holds up the accept loop; finished
//! handshakes reach the HTTP server (axum) and the gRPC server (tonic)
//! through a channel ([`TlsListener`]).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use sha2::Digest;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Longest time a client may take to finish its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
pub use crate::config::DEFAULT_POLL_INTERVAL;
/// ALPN on the API port: HTTP/2 first, HTTP/1.1 for everyone else.
pub const ALPN_HTTP: &[&[u8]] = &[b"h2", b"http/1.1"];
/// ALPN on the OTLP/gRPC port: gRPC is HTTP/2 only.
pub const ALPN_GRPC: &[&[u8]] = &[b"h2"];

pub use crate::config::TlsOptions;

/// Why a certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate file {path} (--tls-cert, tls_cert): {source}")]
    ReadCert { path: PathBuf, source: io::Error },
    #[error("cannot read the TLS private key file {path} (--tls-key, tls_key): {source}")]
    ReadKey { path: PathBuf, source: io::Error },
    #[error(
        "the TLS certificate file {path} (--tls-cert) holds no PEM CERTIFICATE block{hint}; \
         give the server certificate (then its intermediates) in PEM"
    )]
    NoCert { path: PathBuf, hint: &'static str },
    #[error("the TLS certificate file {path} (--tls-cert) is not valid PEM: {reason}")]
    BadCertPem { path: PathBuf, reason: String },
    #[error(
        "the TLS private key file {path} (--tls-key) holds no PEM private key \
         (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block){hint}"
    )]
    NoKey { path: PathBuf, hint: &'static str },
    #[error("the TLS private key file {path} (--tls-key) is not valid PEM: {reason}")]
    BadKeyPem { path: PathBuf, reason: String },
    #[error("the TLS private key in {path} (--tls-key) cannot be used: {reason}")]
    BadKey { path: PathBuf, reason: String },
    #[error(
        "the TLS private key in {key} does not belong to the certificate in {cert}; \
         give the key the certificate was issued for"
    )]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("the TLS certificate in {path} (--tls-cert) cannot be used: {reason}")]
    BadCert { path: PathBuf, reason: String },
}

/// ring, not aws-lc-rs: reqwest 0.12's rustls already brings ring, so the
/// binary carries one provider and the build needs no cmake (docs/decisions.md).
/// rustls 0.23.48 deprecates it only for lacking post-quantum key exchange.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads the certificate chain and key and checks that they belong together.
pub fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    load_with(cert, key, &provider())
}

fn load_with(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let cert_pem = std::fs::read(cert).map_err(|source| TlsError::ReadCert {
        path: cert.to_path_buf(),
        source,
    })?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertPem {
            path: cert.to_path_buf(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        let swapped = PrivateKeyDer::from_pem_slice(&cert_pem).is_ok();
        return Err(TlsError::NoCert {
            path: cert.to_path_buf(),
            hint: if swapped {
                " (it holds a private key: are --tls-cert and --tls-key swapped?)"
            } else {
                ""
            },
        });
    }
    let key_pem = if key == cert {
        cert_pem
    } else {
        std::fs::read(key).map_err(|source| TlsError::ReadKey {
            path: key.to_path_buf(),
            source,
        })?
    };
    let key_der = match PrivateKeyDer::from_pem_slice(&key_pem) {
        Ok(k) => k,
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            let swapped = CertificateDer::pem_slice_iter(&key_pem)
                .next()
                .is_some_and(|c| c.is_ok());
            return Err(TlsError::NoKey {
                path: key.to_path_buf(),
                hint: if swapped {
                    " (it holds a certificate: are --tls-cert and --tls-key swapped?)"
                } else {
                    ""
                },
            });
        }
        Err(e) => {
            return Err(TlsError::BadKeyPem {
                path: key.to_path_buf(),
                reason: e.to_string(),
            })
        }
    };
    CertifiedKey::from_der(chain, key_der, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsError::Mismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        },
        rustls::Error::General(_) => TlsError::BadKey {
            path: key.to_path_buf(),
            reason: e.to_string(),
        },
        other => TlsError::BadCert {
            path: cert.to_path_buf(),
            reason: other.to_string(),
        },
    })
}

/// SHA-256 of the leaf certificate, hex: what the logs name a certificate by.
pub fn fingerprint(key: &CertifiedKey) -> String {
    key.cert
        .first()
        .map(|c| hex::encode(sha2::Sha256::digest(c.as_ref())))
        .unwrap_or_default()
}

/// What identifies a version of the two files without reading them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(Vec<Option<(SystemTime, u64, u64)>>);

fn stamp(paths: &[&Path]) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    Stamp(
        paths
            .iter()
            .map(|p| {
                std::fs::metadata(p).ok().map(|m| {
                    (
                        m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                        m.len(),
                        m.ino(),
                    )
                })
            })
            .collect(),
    )
}

/// The server's certificate, replaceable while it runs.
#[derive(Debug)]
pub struct CertStore {
    opts: TlsOptions,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files as they were at the last load attempt.
    seen: Mutex<Stamp>,
}

impl CertStore {
    /// Loads the pair; an error here refuses the server's start.
    pub fn open(opts: &TlsOptions) -> Result<Arc<CertStore>, TlsError> {
        let provider = provider();
        let seen = stamp(&[&opts.cert, &opts.key]);
        let key = load_with(&opts.cert, &opts.key, &provider)?;
        Ok(Arc::new(CertStore {
            opts: opts.clone(),
            provider,
            current: RwLock::new(Arc::new(key)),
            seen: Mutex::new(seen),
        }))
    }

    pub fn options(&self) -> &TlsOptions {
        &self.opts
    }

    /// The certificate new handshakes get.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads the files again; on success new handshakes use the new pair
    /// and its fingerprint is returned. On failure the old pair stays.
    pub fn reload(&self) -> Result<String, TlsError> {
        let now = stamp(&[&self.opts.cert, &self.opts.key]);
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = now;
        let key = load_with(&self.opts.cert, &self.opts.key, &self.provider)?;
        let print = fingerprint(&key);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
        Ok(print)
    }

    /// [`CertStore::reload`], logged; `why` says what asked for it.
    pub fn reload_logged(&self, why: &str) -> bool {
        match self.reload() {
            Ok(print) => {
                tracing::info!(
                    "TLS certificate reloaded ({why}) from {}: sha256 {print}",
                    self.opts.cert.display()
                );
                true
            }
            Err(e) => {
                tracing::error!("TLS reload ({why}) failed, keeping the current certificate: {e}");
                false
            }
        }
    }

    /// Polls the files every `poll_interval` until `shutdown`; reloads once
    /// a change has stayed the same for a whole interval, so that a cert
    /// and key written one after the other are read as a pair.
    pub async fn watch(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let every = self.opts.poll_interval;
        if every.is_zero() {
            return;
        }
        let mut pending: Option<Stamp> = None;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            let now = stamp(&[&self.opts.cert, &self.opts.key]);
            let seen = self
                .seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if now == seen {
                pending = None;
            } else if pending.as_ref() == Some(&now) {
                pending = None;
                self.reload_logged("the files changed");
            } else {
                pending = Some(now);
            }
        }
    }

    /// A rustls server configuration that takes its certificate from here.
    pub fn server_config(self: &Arc<Self>, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::BadCert {
                path: self.opts.cert.clone(),
                reason: e.to_string(),
            })?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Connections whose handshake is done, from [`listen`].
pub struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

/// Starts accepting on `listener`: each connection's handshake runs in its
/// own task (at most [`HANDSHAKE_TIMEOUT`]); failures are logged at debug
/// level and dropped. Stops when `shutdown` turns true or the returned
/// listener is dropped.
pub fn listen(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<TlsListener> {
    let local = listener.local_addr()?;
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(accept_loop(
        listener,
        TlsAcceptor::from(config),
        tx,
        shutdown,
    ));
    Ok(TlsListener { rx, local })
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = tx.closed() => return,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                if !matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                ) {
                    // Out of file descriptors, most likely: give the open
                    // connections a moment to close rather than spin.
                    tracing::error!("accept error: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, tx) = (acceptor.clone(), tx.clone());
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let _ = tx.send((stream, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accept loop stopped for shutdown; axum stops on the same signal.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

impl TlsListener {
    /// The connections as tonic's `serve_with_incoming` wants them.
    pub fn into_incoming(self) -> TlsIncoming {
        TlsIncoming(self.rx)
    }
}

/// A stream of [`TlsConn`] for tonic.
pub struct TlsIncoming(mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>);

impl tokio_stream::Stream for TlsIncoming {
    type Item = io::Result<TlsConn>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0
            .poll_recv(cx)
            .map(|c| c.map(|(stream, peer)| Ok(TlsConn { stream, peer })))
    }
}

/// One TLS connection, with the peer address tonic reports as `remote_addr`.
pub struct TlsConn {
    stream: TlsStream<TcpStream>,
    peer: SocketAddr,
}

impl tonic::transport::server::Connected for TlsConn {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        tonic::transport::server::TcpConnectInfo {
            local_addr: self.stream.get_ref().0.local_addr().ok(),
            remote_addr: Some(self.peer),
        }
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
