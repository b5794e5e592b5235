//! A flood of unauthenticated 16 MiB requests costs a real `sealtrail
//! serve` process almost no memory: every one is answered 401 /
//! UNAUTHENTICATED from its headers, before its body is read or decoded.
//! Measured as the growth of the server's peak resident set (`VmHWM` in
//! /proc/<pid>/status) over a flood of OTLP/gRPC, `POST /v1/events` and
//! `POST /v1/traces` requests, 20 connections at a time.
//!
//! A watchdog kills the server if its resident set grows past
//! `KILL_ABOVE_MIB` (a server that decodes before it authenticates grows
//! by gigabytes per request), so the test fails instead of exhausting the
//! machine.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes};
use hyper::http::uri::PathAndQuery;
use sealtrail_testkit::cli::init;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

/// Connections flooding at once, and requests each sends in turn.
const CONCURRENCY: usize = 20;
const ROUNDS: usize = 3;
/// The server's default `--max-body-bytes`.
const BODY_LIMIT: usize = 16 << 20;
/// Allowed growth of the server's peak RSS over the whole flood (see
/// docs/decisions.md for how it was chosen).
const BOUND_MIB: u64 = 48;
/// The watchdog's line: far above the bound, far below trouble.
const KILL_ABOVE_MIB: u64 = 1024;

/// `sealtrail serve` with an OTLP/gRPC listener; killed when dropped.
struct Serve {
    child: Child,
    http: String,
    grpc: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data: &std::path::Path) -> Serve {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--otlp-grpc-listen",
            "127.0.0.1:0",
        ])
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut http, mut grpc) = (None, None);
    while http.is_none() || grpc.is_none() {
        let line = lines
            .next()
            .expect("sealtrail serve exited before listening")
            .unwrap();
        if let Some(u) = line.strip_prefix("sealtrail listening on ") {
            http = Some(u.trim().to_string());
        }
        if let Some(u) = line.strip_prefix("OTLP/gRPC listening on ") {
            grpc = Some(u.trim().to_string());
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Serve {
        child,
        http: http.unwrap(),
        grpc: grpc.unwrap(),
    }
}

/// A `VmXXX:  N kB` line of /proc/<pid>/status, in KiB.
fn vm_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Kills `pid` if its resident set passes `limit_kib`; remembers the most
/// it saw.
struct Watchdog {
    stop: Arc<AtomicBool>,
    killed: Arc<AtomicBool>,
    most: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(pid: u32, limit_kib: u64) -> Watchdog {
        let (stop, killed, most) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let (s, k, m) = (stop.clone(), killed.clone(), most.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
                    return;
                };
                let rss = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                    .unwrap_or(0);
                m.fetch_max(rss, Ordering::Relaxed);
                if rss > limit_kib {
                    // SAFETY: kill(2) on the test's own child process.
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                    k.store(true, Ordering::Relaxed);
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Watchdog {
            stop,
            killed,
            most,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sends pre-encoded bytes as the Export message; the answer's message (if
/// any) is ignored.
#[derive(Clone, Copy)]
struct Raw;

impl tonic::codec::Codec for Raw {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl tonic::codec::Encoder for Raw {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for Raw {
    type Item = ();
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<()>, tonic::Status> {
        use bytes::Buf;
        let n = src.remaining();
        src.advance(n);
        Ok(Some(()))
    }
}

/// An ExportTraceServiceRequest of nothing but empty spans, just under
/// `size` bytes: the cheapest bytes to send, the dearest to decode.
fn empty_spans(size: usize) -> Vec<u8> {
    fn ld(number: u8, inner: &[u8]) -> Vec<u8> {
        let mut out = vec![number << 3 | 2];
        let mut len = inner.len();
        while len >= 0x80 {
            out.push((len as u8) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(inner);
        out
    }
    ld(1, &ld(2, &[0x12u8, 0x00].repeat((size - 16) / 2)))
}

/// Who the flood claims to be: nobody, or a key that does not exist.
fn key_of(n: usize) -> Option<&'static str> {
    (n % 2 == 1).then_some("stk_0123456789abcdef_not-a-real-key")
}

async fn grpc_flood(url: &str, body: Bytes) -> Vec<String> {
    let path =
        PathAndQuery::from_static("/opentelemetry.proto.collector.trace.v1.TraceService/Export");
    let mut tasks = Vec::new();
    for c in 0..CONCURRENCY {
        let (url, body, path) = (url.to_string(), body.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            let mut codes = Vec::new();
            let channel = tonic::transport::Endpoint::from_shared(url)
                .unwrap()
                .connect()
                .await
                .unwrap();
            let mut grpc = tonic::client::Grpc::new(channel).max_encoding_message_size(usize::MAX);
            for round in 0..ROUNDS {
                let mut req = tonic::Request::new(body.clone());
                if let Some(k) = key_of(c + round) {
                    req.metadata_mut()
                        .insert("authorization", format!("Bearer {k}").parse().unwrap());
                }
                grpc.ready().await.unwrap();
                let code = match grpc.unary(req, path.clone(), Raw).await {
                    Ok(_) => "OK".to_string(),
                    Err(s) => format!("{:?}", s.code()),
                };
                codes.push(code);
            }
            codes
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.extend(t.await.unwrap());
    }
    codes
}

/// One HTTP/1.1 POST on its own connection, the way a flooding client
/// sends it: head and 16 MiB body pushed without waiting, the answer read
/// meanwhile. (reqwest gives up with a broken pipe when the server answers
/// and closes before taking the body, and never shows the answer.) The
/// status code, or what went wrong.
fn http_raw(base: &str, path: &str, content_type: &str, body: Bytes, key: Option<&str>) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\n{auth}\r\n",
        body.len()
    );
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        // Stops at the first error: the server closed without reading.
        let _ = writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(&body));
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    let status = loop {
        match stream.read(&mut buf) {
            Ok(0) => break format!("closed after {} bytes of answer", answer.len()),
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if let Some(line) = answer
                    .split(|b| *b == b'\n')
                    .next()
                    .filter(|_| answer.contains(&b'\n'))
                {
                    let line = String::from_utf8_lossy(line);
                    break line.split(' ').nth(1).unwrap_or("no status").to_string();
                }
            }
            Err(e) => break format!("error: {e}"),
        }
    };
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = sender.join();
    status
}

async fn http_flood(
    base: &str,
    path: &'static str,
    content_type: &'static str,
    body: Bytes,
) -> Vec<String> {
    let mut tasks = Vec::new();
    for c in 0..CONCURRENCY {
        let (base, body) = (base.to_string(), body.clone());
        tasks.push(tokio::task::spawn_blocking(move || {
            (0..ROUNDS)
                .map(|round| http_raw(&base, path, content_type, body.clone(), key_of(c + round)))
                .collect::<Vec<_>>()
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.extend(t.await.unwrap());
    }
    codes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_16_mib_floods_cost_the_server_almost_no_memory() {
    let dir = tempfile::tempdir().unwrap();
    init(BIN, dir.path(), &[]);
    let srv = serve(dir.path());
    let pid = srv.child.id();

    let proto = Bytes::from(empty_spans(BODY_LIMIT));
    assert!(proto.len() <= BODY_LIMIT);
    let json = {
        let mut b = Vec::with_capacity(BODY_LIMIT);
        b.push(b'[');
        while b.len() + 4 < BODY_LIMIT {
            b.extend_from_slice(b"{},");
        }
        b.extend_from_slice(b"{}]");
        Bytes::from(b)
    };

    // One small unauthenticated call of each kind first, so whatever the
    // server allocates once (connection pools, codecs) is in the baseline.
    let warm = Bytes::from_static(b"[]");
    assert_eq!(
        http_raw(&srv.http, "/v1/events", "application/json", warm, None),
        "401"
    );
    assert_eq!(
        http_raw(
            &srv.http,
            "/v1/traces",
            "application/x-protobuf",
            Bytes::new(),
            None
        ),
        "401"
    );
    assert_eq!(
        grpc_one(&srv.grpc, Bytes::new()).await,
        tonic::Code::Unauthenticated
    );
    tokio::time::sleep(Duration::from_millis(200)).await;

    let (hwm_before, rss_before) = (vm_kib(pid, "VmHWM"), vm_kib(pid, "VmRSS"));
    let mut dog = Watchdog::start(pid, rss_before + KILL_ABOVE_MIB * 1024);
    let started = Instant::now();
    let mut phases = Vec::new();
    for (name, want) in [
        ("OTLP/gRPC", "Unauthenticated"),
        ("POST /v1/events", "401"),
        ("POST /v1/traces", "401"),
    ] {
        let codes = match name {
            "OTLP/gRPC" => grpc_flood(&srv.grpc, proto.clone()).await,
            "POST /v1/events" => {
                http_flood(&srv.http, "/v1/events", "application/json", json.clone()).await
            }
            _ => {
                http_flood(
                    &srv.http,
                    "/v1/traces",
                    "application/x-protobuf",
                    proto.clone(),
                )
                .await
            }
        };
        let killed = dog.killed.load(Ordering::Relaxed);
        assert!(
            !killed,
            "{name}: the server's RSS grew past {KILL_ABOVE_MIB} MiB over its baseline of {} MiB \
             (most seen {} MiB) and it was killed",
            rss_before / 1024,
            dog.most.load(Ordering::Relaxed) / 1024
        );
        let hwm = vm_kib(pid, "VmHWM");
        phases.push(format!(
            "{name}: {} requests of {} MiB, peak RSS now +{} MiB",
            codes.len(),
            BODY_LIMIT >> 20,
            hwm.saturating_sub(hwm_before) / 1024
        ));
        let wrong: Vec<&String> = codes.iter().filter(|c| c.as_str() != want).collect();
        assert!(
            wrong.is_empty(),
            "{name}: every answer must be {want}; got {} others, e.g. {:?}",
            wrong.len(),
            wrong.first()
        );
    }
    dog.stop();
    let (hwm_after, rss_after) = (vm_kib(pid, "VmHWM"), vm_kib(pid, "VmRSS"));
    let grew = hwm_after.saturating_sub(hwm_before);
    eprintln!(
        "unauthenticated flood ({CONCURRENCY} connections x {ROUNDS} rounds x 3 kinds of {} MiB, {:.1} s): \
         VmHWM {} -> {} KiB (+{} KiB), VmRSS {} -> {} KiB\n  {}",
        BODY_LIMIT >> 20,
        started.elapsed().as_secs_f64(),
        hwm_before,
        hwm_after,
        grew,
        rss_before,
        rss_after,
        phases.join("\n  ")
    );
    assert!(
        grew < BOUND_MIB * 1024,
        "the server's peak RSS grew by {} MiB under an unauthenticated flood (bound {BOUND_MIB} MiB)",
        grew / 1024
    );
}

async fn grpc_one(url: &str, body: Bytes) -> tonic::Code {
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path =
        PathAndQuery::from_static("/opentelemetry.proto.collector.trace.v1.TraceService/Export");
    match grpc.unary(tonic::Request::new(body), path, Raw).await {
        Ok(_) => tonic::Code::Ok,
        Err(s) => s.code(),
    }
}
