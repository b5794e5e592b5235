//! `serve` with TLS (docs/deploy.md, "TLS"), in-process, with a throwaway
//! CA made here: HTTPS ingest and query over HTTP/1.1 and h2 (ALPN),
//! OTLP/gRPC over TLS, start refused for unusable PEM files, handshakes that
//! stall or fail never hold up other clients, and certificate reload (by
//! call and by file change) that new connections see while open ones carry on.

use sealtrail_testkit::tls;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sealtrail_server::tls::TlsOptions;
use sealtrail_testkit::{event, TestServer};
use serde_json::{json, Value};
use tls::TestCa;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A TLS server with a fresh CA and a leaf named `cn`; the CA and the
/// cert/key paths live in the server's data directory's parent.
struct Tls {
    ca: TestCa,
    dir: tempfile::TempDir,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

impl Tls {
    fn new(cn: &str) -> Tls {
        let ca = TestCa::new("sealtrail test CA");
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = ca.leaf(cn, &[]).write(dir.path(), "server");
        Tls { ca, dir, cert, key }
    }

    fn options(&self) -> TlsOptions {
        TlsOptions::new(&self.cert, &self.key)
    }

    /// Replaces the served files with a new leaf named `cn`; its fingerprint.
    fn swap(&self, cn: &str) -> String {
        let leaf = self.ca.leaf(cn, &[]);
        // Written beside and renamed, as a deploy tool would.
        let (c, k) = leaf.write(self.dir.path(), "next");
        std::fs::rename(k, &self.key).unwrap();
        std::fs::rename(c, &self.cert).unwrap();
        sha256(&leaf.der)
    }

    fn reqwest(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca.pem.as_bytes()).unwrap())
            .build()
            .unwrap()
    }

    #[allow(deprecated)] // ring: see sealtrail_server::tls
    fn client_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from_pem_slice(self.ca.pem.as_bytes()).unwrap())
            .unwrap();
        let mut c = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(c)
    }

    /// A TLS connection to `addr` as `localhost`.
    async fn connect(&self, addr: std::net::SocketAddr, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
        let tcp = TcpStream::connect(addr).await.unwrap();
        tokio_rustls::TlsConnector::from(self.client_config(alpn))
            .connect("localhost".try_into().unwrap(), tcp)
            .await
            .unwrap()
    }
}

async fn tls_server(
    t: &Tls,
    tweak: impl FnOnce(&mut sealtrail_server::ServeOptions),
) -> TestServer {
    let mut srv = TestServer::start_with(|o| {
        o.tls = Some(t.options());
        tweak(o);
    })
    .await;
    srv.url = srv.url.replace("http://", "https://");
    srv.http = t.reqwest();
    srv
}

/// SHA-256 (hex) of the certificate the server presented on `s`.
fn peer_sha256(s: &TlsStream<TcpStream>) -> String {
    use sha2::Digest;
    let certs = s.get_ref().1.peer_certificates().unwrap();
    hex::encode(sha2::Sha256::digest(certs[0].as_ref()))
}

/// One HTTP/1.1 keep-alive request on an open connection; (status, body).
async fn http1_get(s: &mut TlsStream<TcpStream>, path: &str) -> (u16, String) {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed mid-answer: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end];
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let status = head[9..12].parse().unwrap();
                return (status, text[end + 4..end + 4 + len].to_string());
            }
        }
    }
}

#[tokio::test]
async fn https_ingest_and_query_over_http1_and_h2() {
    let t = Tls::new("sealtrail-a");
    let mut srv = tls_server(&t, |_| {}).await;
    assert_eq!(srv.running.as_ref().unwrap().scheme(), "https");

    let (status, body) = srv.ingest(json!([event("tls-agent", 1)])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["status"], "sealed");
    let page = srv.get_json("/v1/events?agent=tls-agent").await;
    assert_eq!(page["events"].as_array().unwrap().len(), 1, "{page}");

    // Plain HTTP on the TLS port gets no answer.
    let plain = reqwest::Client::new()
        .get(format!(
            "http://{}/healthz",
            srv.running.as_ref().unwrap().addr
        ))
        .timeout(Duration::from_secs(15))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");

    // h2 by ALPN: the same API, over HTTP/2.
    let addr = srv.running.as_ref().unwrap().addr;
    let s = t.connect(addr, &[b"h2"]).await;
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(s),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get(format!(
        "https://localhost:{}/v1/events?agent=tls-agent",
        addr.port()
    ))
    .header("authorization", format!("Bearer {}", srv.key))
    .body(http_body_util::Empty::<hyper::body::Bytes>::new())
    .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.version(), hyper::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    use http_body_util::BodyExt;
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let page: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 1, "{page}");

    // Without ALPN (or with http/1.1): HTTP/1.1.
    let mut s = t.connect(addr, &[]).await;
    assert_eq!(http1_get(&mut s, "/healthz").await, (200, "ok\n".into()));
    srv.stop().await;
}

fn start_error(opts: TlsOptions) -> String {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut o = sealtrail_testkit::options(&data);
    o.tls = Some(opts);
    let err = match rt.block_on(sealtrail_server::start(o)) {
        Ok(_) => panic!("started with an unusable certificate"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        !data.exists(),
        "the data directory was made before the TLS check"
    );
    err
}

#[test]
fn unusable_pem_files_refuse_the_start_and_name_the_file() {
    let t = Tls::new("sealtrail-a");
    let d = t.dir.path();
    let missing = d.join("missing.crt");
    let e = start_error(TlsOptions::new(&missing, &t.key));
    assert!(
        e.contains("cannot read the TLS certificate file") && e.contains("missing.crt"),
        "{e}"
    );

    let e = start_error(TlsOptions::new(&t.cert, d.join("missing.key")));
    assert!(
        e.contains("cannot read the TLS private key file") && e.contains("missing.key"),
        "{e}"
    );

    // Swapped: the key where the certificate belongs.
    let e = start_error(TlsOptions::new(&t.key, &t.cert));
    assert!(
        e.contains("holds no PEM CERTIFICATE block") && e.contains("server.key"),
        "{e}"
    );
    assert!(e.contains("swapped"), "{e}");

    let junk = d.join("junk.pem");
    std::fs::write(&junk, "hello\n").unwrap();
    let e = start_error(TlsOptions::new(&t.cert, &junk));
    assert!(
        e.contains("holds no PEM private key") && e.contains("junk.pem"),
        "{e}"
    );

    let other = t.ca.leaf("other", &[]).write(d, "other");
    let e = start_error(TlsOptions::new(&t.cert, &other.1));
    assert!(
        e.contains("does not belong to the certificate")
            && e.contains("other.key")
            && e.contains("server.crt"),
        "{e}"
    );

    // Cert and key in one file is fine.
    let both = d.join("both.pem");
    std::fs::write(
        &both,
        std::fs::read_to_string(&t.cert).unwrap() + &std::fs::read_to_string(&t.key).unwrap(),
    )
    .unwrap();
    sealtrail_server::tls::load(&both, &both).unwrap();
}

#[tokio::test]
async fn stalled_and_failed_handshakes_do_not_hold_up_other_clients() {
    let t = Tls::new("sealtrail-a");
    let mut srv = tls_server(&t, |_| {}).await;
    let addr = srv.running.as_ref().unwrap().addr;
    // Clients that connect and never say anything, one that sends garbage,
    // and one that speaks plain HTTP.
    let mut stalled = Vec::new();
    for _ in 0..5 {
        stalled.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut garbage = TcpStream::connect(addr).await.unwrap();
    garbage
        .write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3])
        .await
        .unwrap();
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Were the handshakes done in the accept loop, this client would wait
    // behind the first stalled one for the whole handshake time limit.
    let started = Instant::now();
    let r = srv
        .http
        .get(format!("{}/healthz", srv.url))
        .timeout(sealtrail_server::tls::HANDSHAKE_TIMEOUT / 2)
        .send()
        .await
        .expect("a good client is answered while others stall");
    assert_eq!(r.status(), 200);
    eprintln!("answered after {:?}", started.elapsed());
    // The garbage and plain-HTTP clients were dropped, not answered.
    let mut b = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), plain.read(&mut b)).await;
    if let Ok(Ok(n)) = n {
        assert!(
            !String::from_utf8_lossy(&b[..n]).contains("ok"),
            "plain HTTP answered"
        );
    }
    drop((stalled, garbage));
    srv.stop().await;
}

fn grpc_request(conversation: &str) -> ExportTraceServiceRequest {
    let attr = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Any::StringValue(v.into())),
        }),
        ..Default::default()
    };
    let span = Span {
        trace_id: vec![7; 16],
        span_id: vec![1; 8],
        name: "chat".into(),
        kind: 1,
        start_time_unix_nano: 1_795_000_000_000_000_000,
        end_time_unix_nano: 1_795_000_000_250_000_000,
        attributes: vec![
            attr("gen_ai.operation.name", "chat"),
            attr("gen_ai.request.model", "gpt-4o"),
            attr("gen_ai.conversation.id", conversation),
        ],
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[tokio::test]
async fn otlp_grpc_over_tls() {
    let t = Tls::new("sealtrail-a");
    let mut srv = tls_server(&t, |o| {
        o.otlp_grpc_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let addr = srv.running.as_ref().unwrap().otlp_grpc_addr.unwrap();
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(&t.ca.pem))
        .domain_name("localhost");
    let channel =
        tonic::transport::Channel::from_shared(format!("https://localhost:{}", addr.port()))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .unwrap();
    let mut client = TraceServiceClient::new(channel);
    let mut req = tonic::Request::new(grpc_request("conv-grpc-tls"));
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", srv.key).parse().unwrap(),
    );
    let resp = client.export(req).await.unwrap().into_inner();
    assert_eq!(resp.partial_success, None);
    let page = srv.get_json("/v1/events?session=conv-grpc-tls").await;
    assert_eq!(page["events"].as_array().unwrap().len(), 1, "{page}");

    // A plaintext gRPC client gets nowhere.
    let plain = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect()
        .await;
    if let Ok(ch) = plain {
        let mut c = TraceServiceClient::new(ch);
        assert!(c.export(grpc_request("conv-plain")).await.is_err());
    }
    srv.stop().await;
}

/// Opens a new connection until it presents `want` (or gives up after 20 s).
async fn wait_for_cert(t: &Tls, addr: std::net::SocketAddr, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = t.connect(addr, &[]).await;
        if peer_sha256(&s) == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server never presented the new certificate"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn reload_serves_new_connections_the_new_cert_and_keeps_open_ones() {
    let t = Tls::new("cert-a");
    let a = sha256_of(&t.cert);
    let mut srv = tls_server(&t, |o| {
        if let Some(tls) = &mut o.tls {
            tls.poll_interval = Duration::from_millis(100);
        }
    })
    .await;
    let addr = srv.running.as_ref().unwrap().addr;
    let certs = srv.running.as_ref().unwrap().tls.clone().unwrap();

    let mut before = t.connect(addr, &[]).await;
    assert_eq!(peer_sha256(&before), a);
    assert_eq!(http1_get(&mut before, "/healthz").await.0, 200);

    // Reload on request (SIGHUP in `sealtrail serve`).
    let b = t.swap("cert-b");
    assert_eq!(certs.reload().unwrap(), b);
    let after = t.connect(addr, &[]).await;
    assert_eq!(peer_sha256(&after), b);
    // The connection opened before keeps its session and keeps working.
    assert_eq!(
        http1_get(&mut before, "/healthz").await,
        (200, "ok\n".into())
    );
    assert_eq!(peer_sha256(&before), a);

    // A bad new file is refused and the current certificate kept.
    std::fs::write(
        &t.cert,
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let e = certs.reload().unwrap_err().to_string();
    assert!(e.contains("server.crt"), "{e}");
    assert_eq!(peer_sha256(&t.connect(addr, &[]).await), b);
    // …also when it is noticed by the file watcher: the cert and a key
    // that does not match it.
    let c = t.ca.leaf("cert-c", &[]);
    std::fs::write(&t.cert, &c.cert_pem).unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(peer_sha256(&t.connect(addr, &[]).await), b);

    // A good pair written in place is picked up by the watcher.
    std::fs::write(&t.key, &c.key_pem).unwrap();
    wait_for_cert(&t, addr, &sha256(&c.der)).await;
    assert_eq!(http1_get(&mut before, "/healthz").await.0, 200);
    srv.stop().await;
}

fn sha256_of(cert_pem: &Path) -> String {
    use rustls::pki_types::pem::PemObject;
    use sha2::Digest;
    let der = rustls::pki_types::CertificateDer::from_pem_file(cert_pem).unwrap();
    hex::encode(sha2::Sha256::digest(der.as_ref()))
}

fn sha256(der: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(der))
}
