//! The database going away under a running `sealtrail serve`: on a private
//! PostgreSQL cluster (so no other test is disturbed) the server ingests
//! continuously while PostgreSQL is stopped for ~3 s and started again.
//! While it is down, ingest must answer 503 with `Retry-After` and never 200;
//! once it is back, ingest must succeed again without restarting sealtrail;
//! every acknowledged event must then be in the store, sealed once, and
//! fsck must be clean.
//!
//! Needs root (initdb runs as the `postgres` user) and the PostgreSQL 15
//! binaries (`SEALTRAIL_PG_BIN`, else /usr/lib/postgresql/15/bin); prints
//! SKIPPED otherwise, or when `SEALTRAIL_SKIP_POSTGRES=1` (and fails in CI,
//! where it must run).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sealtrail_testkit::cli::{init, Server};
use sealtrail_testkit::{fsck_ok, off_runtime, pg_store, skip_or_fail, skip_postgres};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

const TEST: &str = "ingest_answers_503_while_the_database_is_down_and_recovers_by_itself";
use sealtrail_core::note::Ed25519Verifier;
use sealtrail_store::prelude::*;
use serde_json::{json, Value};

/// A PostgreSQL cluster of this test's own, on a unix socket in its
/// directory; stopped and removed when dropped.
struct PrivatePg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl PrivatePg {
    /// `None` (after [`skip_or_fail`]) when a cluster cannot be made here.
    fn create() -> Option<PrivatePg> {
        let bin = PathBuf::from(
            std::env::var("SEALTRAIL_PG_BIN")
                .unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into()),
        );
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            skip_or_fail(
                TEST,
                "initdb must run as the postgres user, which needs root",
            );
            return None;
        }
        if !bin.join("initdb").exists() || !Path::new("/usr/sbin/runuser").exists() {
            skip_or_fail(TEST, &format!("no {}/initdb or no runuser", bin.display()));
            return None;
        }
        // Under /tmp: the postgres user must reach it, and the socket path
        // must stay short.
        let dir = tempfile::Builder::new()
            .prefix("sealtrail-pg-")
            .tempdir_in("/tmp")
            .unwrap();
        let chown = Command::new("chown")
            .arg("postgres:")
            .arg(dir.path())
            .status()
            .unwrap();
        if !chown.success() {
            skip_or_fail(TEST, "cannot chown the cluster directory to postgres");
            return None;
        }
        // Any free number: the socket lives in the private directory.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = PrivatePg { dir, bin, port };
        let out = pg
            .as_postgres("initdb")
            .arg("-D")
            .arg(pg.data())
            .args(["-A", "trust", "-U", "postgres", "--no-sync"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        pg.start();
        Some(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn as_postgres(&self, tool: &str) -> Command {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(self.bin.join(tool));
        c
    }

    fn url(&self) -> String {
        format!(
            "host={} port={} user=postgres dbname=postgres",
            self.dir.path().display(),
            self.port
        )
    }

    fn pg_ctl(&self, args: &[&str]) -> std::process::Output {
        self.as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("pg.log"))
            .args(args)
            .output()
            .unwrap()
    }

    fn start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=''",
            self.port,
            self.dir.path().display()
        );
        let out = self.pg_ctl(&["-o", &opts, "-w", "start"]);
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.path().join("pg.log")).unwrap_or_default()
        );
    }

    fn stop(&self) {
        let out = self.pg_ctl(&["-m", "fast", "-w", "stop"]);
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        // Stopped or not, nothing may outlive the test.
        let _ = self.pg_ctl(&["-m", "immediate", "-w", "stop"]);
    }
}

/// Where the database is, as the clients see it.
const UP: u8 = 0;
const DOWN: u8 = 1;
const STARTING: u8 = 2;
const BACK: u8 = 3;

#[derive(Default)]
struct Seen {
    /// Event id -> (index, leaf hash).
    acked: HashMap<String, (u64, String)>,
    /// Acknowledged requests, by the phase they were sent and answered in.
    ok: HashMap<(u8, u8), usize>,
    /// 503s: (code, message, Retry-After).
    unavailable: Vec<(String, String, Option<String>)>,
    /// Anything else that was not a 200.
    unexpected: Vec<String>,
}

/// Sends batches of 20 new events; a refused batch is retried as is (event
/// ids make that idempotent) until it is acknowledged.
async fn hammer(
    url: String,
    key: String,
    worker: usize,
    seen: Arc<Mutex<Seen>>,
    phase: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
) {
    let http = reqwest::Client::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let ids: Vec<String> = (0..20).map(|i| format!("w{worker}-{n}-{i}")).collect();
        let batch: Vec<Value> = ids
            .iter()
            .map(|id| {
                json!({
                    "id": id,
                    "agent": {"id": format!("agent-{worker}")},
                    "session": format!("s-{worker}"),
                    "kind": "tool_call",
                    "tool": {"name": "db.query", "arguments": {"n": n}},
                })
            })
            .collect();
        loop {
            let sent_in = phase.load(Ordering::SeqCst);
            let resp = http
                .post(format!("{url}/v1/events"))
                .bearer_auth(&key)
                .json(&batch)
                .timeout(Duration::from_secs(20))
                .send()
                .await;
            let answered_in = phase.load(Ordering::SeqCst);
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    seen.lock()
                        .unwrap()
                        .unexpected
                        .push(format!("request failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            let acknowledged = {
                let mut s = seen.lock().unwrap();
                match status {
                    200 => {
                        for (id, r) in ids.iter().zip(body["results"].as_array().unwrap()) {
                            let st = r["status"].as_str().unwrap();
                            assert!(st == "sealed" || st == "duplicate", "{id}: {r}");
                            s.acked.insert(
                                id.clone(),
                                (
                                    r["index"].as_u64().unwrap(),
                                    r["leaf_hash"].as_str().unwrap().to_string(),
                                ),
                            );
                        }
                        *s.ok.entry((sent_in, answered_in)).or_default() += 1;
                        true
                    }
                    503 => {
                        s.unavailable.push((
                            body["error"]["code"].as_str().unwrap_or("").to_string(),
                            body["error"]["message"].as_str().unwrap_or("").to_string(),
                            retry_after,
                        ));
                        false
                    }
                    other => {
                        s.unexpected.push(format!(
                            "status {other} (phase {sent_in}->{answered_in}): {body}"
                        ));
                        false
                    }
                }
            };
            if acknowledged {
                break;
            }
            if stop.load(Ordering::Relaxed) {
                return; // never acknowledged; not counted
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        n += 1;
    }
}

async fn readyz(http: &reqwest::Client, url: &str) -> u16 {
    http.get(format!("{url}/readyz"))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_answers_503_while_the_database_is_down_and_recovers_by_itself() {
    if skip_postgres(TEST) {
        return;
    }
    let started = Instant::now();
    let Some(pg) = off_runtime(PrivatePg::create) else {
        return;
    };
    let db = pg.url();
    eprintln!("private PostgreSQL up at {db} in {:?}", started.elapsed());

    let data = tempfile::tempdir().unwrap();
    let pg_args = ["--database", db.as_str(), "--pg-schema", "sealtrail"];
    let (key, vkey) = init(BIN, data.path(), &pg_args);
    let mut server = Server::start(
        BIN,
        data.path(),
        "0.2",
        &pg_args,
        Some(data.path().join("serve.log")),
    );
    let http = reqwest::Client::new();

    let seen: Arc<Mutex<Seen>> = Arc::default();
    let phase = Arc::new(AtomicU8::new(UP));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|w| {
            tokio::spawn(hammer(
                server.url.clone(),
                key.clone(),
                w,
                seen.clone(),
                phase.clone(),
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let before = seen.lock().unwrap().acked.len();
    assert!(before > 0, "nothing acknowledged before the outage");

    // PostgreSQL goes away for ~3 s.
    let pg = Arc::new(pg);
    let p = pg.clone();
    tokio::task::spawn_blocking(move || p.stop()).await.unwrap();
    phase.store(DOWN, Ordering::SeqCst);
    let down_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ready_down = readyz(&http, &server.url).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    phase.store(STARTING, Ordering::SeqCst);
    let p = pg.clone();
    tokio::task::spawn_blocking(move || p.start())
        .await
        .unwrap();
    phase.store(BACK, Ordering::SeqCst);
    eprintln!(
        "PostgreSQL down for {:?}; {before} events acknowledged before",
        down_at.elapsed()
    );

    // Ingest recovers without restarting sealtrail.
    let back_at = Instant::now();
    loop {
        let ok_back = seen
            .lock()
            .unwrap()
            .ok
            .get(&(BACK, BACK))
            .copied()
            .unwrap_or(0);
        if ok_back >= 10 {
            break;
        }
        assert!(
            back_at.elapsed() < Duration::from_secs(20),
            "ingest did not recover within 20 s of PostgreSQL's restart ({ok_back} requests acknowledged):\n{}",
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recovered_in = back_at.elapsed();
    assert_eq!(
        readyz(&http, &server.url).await,
        200,
        "/readyz after the restart"
    );
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("worker");
    }
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "sealtrail exited during the outage:\n{}",
        server.stderr()
    );

    let s = std::mem::take(&mut *seen.lock().unwrap());
    eprintln!(
        "recovered {recovered_in:?} after the restart; acknowledged requests by (sent, answered) phase: {:?}; {} answers 503",
        s.ok,
        s.unavailable.len()
    );
    assert!(
        s.unexpected.is_empty(),
        "answers other than 200 or 503: {:?}\n{}",
        &s.unexpected[..s.unexpected.len().min(5)],
        server.stderr()
    );
    assert_eq!(
        s.ok.get(&(DOWN, DOWN)),
        None,
        "requests sent and answered while PostgreSQL was down were acknowledged"
    );
    assert!(
        !s.unavailable.is_empty(),
        "no 503 while PostgreSQL was down"
    );
    for (code, message, retry_after) in &s.unavailable {
        assert!(
            code == "storage_unavailable" || code == "unavailable",
            "503 with code {code:?}: {message}"
        );
        let secs: u32 = retry_after
            .as_deref()
            .unwrap_or_else(|| panic!("503 without Retry-After: {code} {message}"))
            .parse()
            .expect("Retry-After in seconds");
        assert!(secs >= 1);
    }
    assert!(
        s.unavailable
            .iter()
            .any(|(c, m, _)| c == "storage_unavailable" && m.contains("unavailable")),
        "no storage_unavailable 503: {:?}",
        &s.unavailable[..s.unavailable.len().min(3)]
    );
    assert_eq!(ready_down, 503, "/readyz while PostgreSQL was down");
    eprintln!("a 503 while down: {:?}", s.unavailable[0]);

    let status = server.terminate();
    assert!(status.success(), "SIGTERM: {status:?}\n{}", server.stderr());

    let acked = s.acked;
    let report = off_runtime(move || {
        let store = pg_store(&db, "sealtrail", 2);
        let head = store.head().unwrap();
        let entries = store.entries(0, head.size).unwrap();
        assert_eq!(entries.len() as u64, head.size);
        let mut ids: HashMap<String, u64> = HashMap::new();
        for (k, e) in entries.iter().enumerate() {
            assert_eq!(e.index, k as u64, "entries are not dense");
            let body: Value = serde_json::from_slice(e.body.as_ref().unwrap()).unwrap();
            let id = body["id"].as_str().unwrap().to_string();
            if let Some(first) = ids.insert(id.clone(), e.index) {
                panic!("event {id} is sealed twice: at {first} and {}", e.index);
            }
        }
        for (id, (index, leaf)) in &acked {
            assert_eq!(ids.get(id), Some(index), "acknowledged event {id}");
            assert_eq!(&entries[*index as usize].leaf_hash.to_hex(), leaf, "{id}");
        }
        let verifier = Ed25519Verifier::from_vkey(&vkey).unwrap();
        let report = fsck_ok(&store, &verifier);
        assert!(report.checkpoints > 0);
        (report, acked.len())
    });
    eprintln!(
        "{} events acknowledged, {} entries and {} checkpoints verified; test took {:?}",
        report.1,
        report.0.entries,
        report.0.checkpoints,
        started.elapsed()
    );
    drop(server);
    off_runtime(move || drop(pg));
}
