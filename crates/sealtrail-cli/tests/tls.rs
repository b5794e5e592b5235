//! `sealtrail serve --tls-cert --tls-key` as a process, with a throwaway CA
//! made here: curl with and without the CA, the CLI with `--ca-cert` and
//! `SEALTRAIL_CA_CERT`, the Rust client, `monitor`, `mcp-proxy`, the
//! settings file and `config show`, and certificate reload on SIGHUP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sealtrail_testkit::cli::{init, Server};
use sealtrail_testkit::tls::TestCa;
use sealtrail_testkit::tools::need_tool;
use serde_json::Value;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

/// A data directory, a CA and a served certificate, in one temporary directory.
struct Setup {
    dir: tempfile::TempDir,
    data: PathBuf,
    ca: TestCa,
    ca_file: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    api_key: String,
    vkey: String,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (api_key, vkey) = init(BIN, &data, &[]);
        let ca = TestCa::new("sealtrail test CA");
        let ca_file = ca.write(dir.path(), "ca.pem");
        let (cert, key) = ca.leaf("cert-a", &[]).write(dir.path(), "server");
        Setup {
            dir,
            data,
            ca,
            ca_file,
            cert,
            key,
            api_key,
            vkey,
        }
    }

    fn serve(&self, extra: &[&str]) -> Server {
        let mut args = vec![
            "--tls-cert",
            self.cert.to_str().unwrap(),
            "--tls-key",
            self.key.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        Server::start(
            BIN,
            &self.data,
            "0.2",
            &args,
            Some(self.dir.path().join("serve.log")),
        )
    }

    /// `sealtrail ARGS --server URL --api-key KEY` with `envs`.
    fn cli(&self, url: &str, args: &[&str], envs: &[(&str, &Path)]) -> Output {
        let mut c = Command::new(BIN);
        c.args(args)
            .args(["--server", url, "--api-key", &self.api_key])
            .env_remove("SEALTRAIL_CA_CERT");
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().unwrap()
    }
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn https_with_curl_the_cli_the_rust_client_and_monitor() {
    if !need_tool("tls", "curl") {
        return;
    }
    let s = Setup::new();
    let server = s.serve(&[]);
    let url = server.url.clone();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let ca = s.ca_file.to_str().unwrap();

    // curl: with the test CA it is answered; without it, verification fails.
    let out = curl(&["--cacert", ca, &format!("{url}/healthz")]);
    assert_eq!(ok(&out, "curl --cacert"), "ok\n");
    let host_url = url.replace("127.0.0.1", "localhost");
    let out = curl(&[
        "--cacert",
        ca,
        "--http2",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version}",
        &format!("{host_url}/healthz"),
    ]);
    let version = ok(&out, "curl --http2");
    assert!(version == "2" || version == "1.1", "{version}");
    let out = curl(&[&format!("{url}/healthz")]);
    assert!(
        !out.status.success(),
        "curl trusted the test CA without --cacert"
    );
    assert_eq!(
        out.status.code(),
        Some(60),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The CLI, with --ca-cert and with SEALTRAIL_CA_CERT (waiting for a
    // checkpoint, which `monitor` below needs).
    let events = s.dir.path().join("events.jsonl");
    std::fs::write(
        &events,
        (1..=3)
            .map(|i| {
                format!(r#"{{"agent":{{"id":"tls-cli"}},"kind":"tool_call","action":"a{i}"}}"#)
            })
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    let ev = events.to_str().unwrap();
    ok(
        &s.cli(
            &url,
            &["ingest", ev, "--ca-cert", ca, "--wait-checkpoint"],
            &[],
        ),
        "ingest --ca-cert",
    );
    let out = s.cli(
        &url,
        &["query", "--agent", "tls-cli", "--format", "jsonl"],
        &[("SEALTRAIL_CA_CERT", &s.ca_file)],
    );
    assert_eq!(ok(&out, "query with SEALTRAIL_CA_CERT").lines().count(), 3);

    // Without the CA, or with another CA, the server is not trusted.
    let out = s.cli(&url, &["query", "--agent", "tls-cli"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("certificate"),
        "{err}"
    );
    let other = TestCa::new("another CA").write(s.dir.path(), "other-ca.pem");
    let out = s.cli(
        &url,
        &["query", "--agent", "tls-cli"],
        &[("SEALTRAIL_CA_CERT", &other)],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("certificate"),
        "{err}"
    );
    // An unusable CA file is named.
    let junk = s.dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let out = s.cli(&url, &["query", "--ca-cert", junk.to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("junk.pem") && err.contains("no PEM CERTIFICATE"),
        "{err}"
    );

    // The Rust client.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = sealtrail_client::Client::builder(&url, &s.api_key)
            .ca_cert(sealtrail_client::CaCert::from_pem(s.ca.pem.as_bytes()).unwrap())
            .build()
            .unwrap();
        let answer = client
            .ingest(&[serde_json::json!({"agent": {"id": "tls-rust"}, "kind": "decision"})])
            .await
            .unwrap();
        assert_eq!(answer.accepted, 1, "{answer:?}");
        let page = client
            .events(&sealtrail_client::EventsQuery {
                filter: sealtrail_client::EventFilter {
                    agent: Some("tls-rust".into()),
                    ..Default::default()
                },
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.events.len(), 1);
        // The system trust store does not hold the test CA.
        let untrusting = sealtrail_client::Client::new(&url, &s.api_key).unwrap();
        let e = untrusting.checkpoint().await.unwrap_err();
        assert!(
            e.is_transport() && e.to_string().contains("certificate"),
            "{e}"
        );
    });

    // monitor, over https with the CA.
    let state = s.dir.path().join("monitor.json");
    let out = Command::new(BIN)
        .args([
            "monitor",
            &url,
            "--once",
            "--vkey",
            &s.vkey,
            "--api-key",
            &s.api_key,
            "--ca-cert",
            ca,
        ])
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    ok(&out, "monitor --once --ca-cert");
}

#[test]
fn settings_file_config_show_and_a_refused_start() {
    let s = Setup::new();
    std::fs::write(
        s.data.join("sealtrail.toml"),
        format!(
            "tls_cert = {:?}\ntls_key = {:?}\n",
            s.cert.display().to_string(),
            s.key.display().to_string()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["config", "show", "--data"])
        .arg(&s.data)
        .env_remove("SEALTRAIL_TLS_CERT")
        .env_remove("SEALTRAIL_TLS_KEY")
        .output()
        .unwrap();
    let shown = ok(&out, "config show");
    assert!(
        shown.contains(&format!("tls_cert = {:?}", s.cert.display().to_string()))
            && shown.contains(&format!("tls_key = {:?}", s.key.display().to_string())),
        "{shown}"
    );
    let server = Server::start(BIN, &s.data, "1", &[], None);
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let out = curl(&[
        "--cacert",
        s.ca_file.to_str().unwrap(),
        &format!("{}/healthz", server.url),
    ]);
    if out.status.code() != Some(127) {
        assert_eq!(ok(&out, "curl"), "ok\n");
    }
    drop(server);

    // A key that is not the certificate's: serve refuses, naming both files.
    let (_, other_key) = s.ca.leaf("other", &[]).write(s.dir.path(), "other");
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&s.data)
        .arg("--tls-key")
        .arg(&other_key)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("other.key") && err.contains("server.crt") && err.contains("does not belong"),
        "{err}"
    );
    // A certificate without its key is a usage error.
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(s.dir.path().join("elsewhere"))
        .arg("--tls-cert")
        .arg(&s.cert)
        .env_remove("SEALTRAIL_TLS_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}

#[allow(deprecated)] // ring: see sealtrail_server::tls
fn client_config(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

type Conn = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn connect(url: &str, ca_pem: &str) -> Conn {
    let addr = url.trim_start_matches("https://");
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let conn =
        rustls::ClientConnection::new(client_config(ca_pem), "localhost".try_into().unwrap())
            .unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).unwrap();
    }
    s
}

fn common_name(s: &Conn) -> String {
    let der = s.conn.peer_certificates().unwrap()[0].to_vec();
    // The CN is the only place our leaves put these names.
    ["cert-a", "cert-b"]
        .iter()
        .find(|cn| der.windows(cn.len()).any(|w| w == cn.as_bytes()))
        .map(|cn| cn.to_string())
        .unwrap_or_else(|| "?".into())
}

/// GET /healthz on an open keep-alive connection.
fn healthz(s: &mut Conn) -> String {
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.ends_with(b"ok\n") {
        let n = s.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "connection closed: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn sighup(server: &Server) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGHUP) };
}

#[test]
fn sighup_reloads_the_certificate_and_open_connections_carry_on() {
    let s = Setup::new();
    let mut server = s.serve(&[]);
    let mut before = connect(&server.url, &s.ca.pem);
    assert_eq!(common_name(&before), "cert-a");
    assert_eq!(healthz(&mut before), "HTTP/1.1 200 OK");

    let (c, k) = s.ca.leaf("cert-b", &[]).write(s.dir.path(), "next");
    std::fs::rename(&k, &s.key).unwrap();
    std::fs::rename(&c, &s.cert).unwrap();
    sighup(&server);
    let deadline = Instant::now() + Duration::from_secs(20);
    while common_name(&connect(&server.url, &s.ca.pem)) != "cert-b" {
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not load cert-b\n{}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "SIGHUP stopped the server"
    );
    assert_eq!(
        healthz(&mut before),
        "HTTP/1.1 200 OK",
        "the open connection broke"
    );
    assert_eq!(common_name(&before), "cert-a");

    // A bad certificate on SIGHUP: logged, cert-b kept, still serving.
    std::fs::write(&s.cert, "garbage\n").unwrap();
    sighup(&server);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !server.stderr().contains("TLS reload (SIGHUP) failed") {
        assert!(
            Instant::now() < deadline,
            "no error logged\n{}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        server.stderr().contains("server.crt"),
        "{}",
        server.stderr()
    );
    assert_eq!(common_name(&connect(&server.url, &s.ca.pem)), "cert-b");
    assert_eq!(healthz(&mut before), "HTTP/1.1 200 OK");
    server.terminate_cleanly();
}

#[test]
fn mcp_proxy_records_to_an_https_server() {
    let s = Setup::new();
    let server = s.serve(&[]);
    // A stand-in MCP server: answers every line with a tool result for id 2.
    let fake = r#"while IFS= read -r l; do echo '{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"4"}]}}'; done"#;
    let mut proxy = Command::new(BIN)
        .args([
            "mcp-proxy",
            "--agent",
            "mcp-tls",
            "--server",
            &server.url,
            "--api-key",
            &s.api_key,
        ])
        .arg("--ca-cert")
        .arg(&s.ca_file)
        .arg("--spool")
        .arg(s.dir.path().join("spool"))
        .args(["--flush-timeout", "10", "--", "sh", "-c", fake])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let call = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":2}}}"#;
    let mut stdin = proxy.stdin.take().unwrap();
    writeln!(stdin, "{call}").unwrap();
    let mut stdout = proxy.stdout.take().unwrap();
    let mut answer = Vec::new();
    let mut b = [0u8; 256];
    while !answer.ends_with(b"\n") {
        let n = stdout.read(&mut b).unwrap();
        assert!(n > 0);
        answer.extend_from_slice(&b[..n]);
    }
    assert!(String::from_utf8_lossy(&answer).contains(r#""text":"4""#));
    drop(stdin);
    let out = proxy.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = s.cli(
        &server.url,
        &[
            "query",
            "--agent",
            "mcp-tls",
            "--kind",
            "tool_call",
            "--format",
            "jsonl",
            "--include-bodies",
        ],
        &[("SEALTRAIL_CA_CERT", &s.ca_file)],
    );
    let events: Vec<Value> = ok(&out, "query")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"]["tool"]["name"], "add");
}

#[test]
fn mcp_proxy_relays_to_an_https_upstream() {
    if !need_tool("tls", "curl") {
        return;
    }
    let s = Setup::new();
    // The https sealtrail server stands in for an MCP server behind TLS: the
    // relay forwards any path, so its /healthz shows the upstream was reached.
    let server = s.serve(&[]);
    let upstream = format!("{}/mcp", server.url.replace("127.0.0.1", "localhost"));
    let mut proxy = Command::new(BIN)
        .args([
            "mcp-proxy",
            "--agent",
            "mcp-up",
            "--server",
            &server.url,
            "--api-key",
            &s.api_key,
        ])
        .arg("--ca-cert")
        .arg(&s.ca_file)
        .arg("--spool")
        .arg(s.dir.path().join("spool"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &upstream,
            "--upstream-ca-cert",
        ])
        .arg(&s.ca_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(proxy.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let listen = line
        .trim()
        .strip_prefix("sealtrail mcp-proxy listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .trim_end_matches("/mcp")
        .to_string();
    let got = curl(&[&format!("{listen}/healthz")]);
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(proxy.id() as i32, libc::SIGTERM) };
    let _ = proxy.wait();
    assert_eq!(ok(&got, "curl through the proxy"), "ok\n");

    // Without the upstream's CA the relay cannot verify it: 502.
    let mut proxy = Command::new(BIN)
        .args([
            "mcp-proxy",
            "--agent",
            "mcp-up",
            "--server",
            &server.url,
            "--api-key",
            &s.api_key,
        ])
        .arg("--spool")
        .arg(s.dir.path().join("spool2"))
        .args(["--listen", "127.0.0.1:0", "--upstream", &upstream])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(proxy.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let listen = line
        .trim()
        .trim_start_matches("sealtrail mcp-proxy listening on ")
        .trim_end_matches("/mcp")
        .to_string();
    let got = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{listen}/healthz"),
    ]);
    unsafe { libc::kill(proxy.id() as i32, libc::SIGTERM) };
    let _ = proxy.wait();
    assert_eq!(String::from_utf8_lossy(&got.stdout), "502");
}

#[test]
fn sighup_at_once_after_the_banner_does_not_stop_the_server() {
    let s = Setup::new();
    for _ in 0..3 {
        let mut server = s.serve(&[]);
        // Whoever waits for the banner may signal at once.
        sighup(&server);
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            server.child.try_wait().unwrap().is_none(),
            "SIGHUP right after the banner stopped the server"
        );
        let mut c = connect(&server.url, &s.ca.pem);
        assert_eq!(healthz(&mut c), "HTTP/1.1 200 OK");
        server.terminate_cleanly();
    }
}
