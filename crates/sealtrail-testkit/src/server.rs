//! A real server on a loopback port over a temporary data directory.

#![allow(dead_code)]

use std::io::Read;
use std::time::Duration;

use sealtrail_server::sequencer::SequencerConfig;
use sealtrail_server::state::Limits;
use sealtrail_server::{app::Running, ServeOptions};

pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub running: Option<Running>,
    pub url: String,
    pub key: String,
    pub vkey: String,
    pub http: reqwest::Client,
}

pub fn options(dir: &std::path::Path) -> ServeOptions {
    ServeOptions {
        data: dir.to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        checkpoint_interval: Duration::from_millis(200),
        sequencer: SequencerConfig::default(),
        limits: Limits::default(),
        public_tiles: false,
        backend: sealtrail_keys::Backend::Embedded,
        otlp_grpc_listen: None,
        pii: Default::default(),
        signing: Default::default(),
        rate_limit: sealtrail_server::access::keys::RateLimit {
            per_second: 0.0,
            burst: 1.0,
        },
        access_upkeep: Default::default(),
        // Off here so that tests counting entries see only their own;
        // tests/access.rs turns it on.
        audit_reads: false,
        tls: None,
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut ServeOptions)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = options(dir.path());
        tweak(&mut opts);
        let (running, key) = sealtrail_server::start(opts).await.unwrap();
        TestServer {
            url: format!("http://{}", running.addr),
            vkey: running.vkey.clone(),
            running: Some(running),
            dir,
            key: key.expect("a new data directory prints the owner key"),
            http: reqwest::Client::new(),
        }
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.key)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.key)
    }

    /// GET `path` with the owner key; the JSON answer.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        get_json(&self.http, &format!("{}{path}", self.url), &self.key).await
    }

    pub async fn ingest(&self, body: serde_json::Value) -> (u16, serde_json::Value) {
        let r = self.post("/v1/events").json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.unwrap();
        }
    }
}

pub fn event(agent: &str, n: u64) -> serde_json::Value {
    serde_json::json!({
        "id": format!("{agent}-{n}"),
        "agent": {"id": agent, "instance": "i-1"},
        "session": format!("{agent}-session"),
        "seq": n,
        "kind": "tool_call",
        "action": "lookup",
        "outcome": "success",
        "tool": {"name": "crm.lookup", "arguments": {"customer": n}},
    })
}

/// GET `url` with the bearer key; the JSON answer.
pub async fn get_json(http: &reqwest::Client, url: &str, key: &str) -> serde_json::Value {
    json_of(http.get(url).bearer_auth(key)).await
}

/// POST `body` as JSON to `url` with the bearer key; the JSON answer.
pub async fn post_json(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    body: &serde_json::Value,
) -> serde_json::Value {
    json_of(http.post(url).bearer_auth(key).json(body)).await
}

async fn json_of(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// fsck of a store: asserts it is clean and returns the report.
pub fn fsck_ok(
    store: &dyn sealtrail_store::Store,
    verifier: &sealtrail_core::note::Ed25519Verifier,
) -> sealtrail_store::fsck::Report {
    let report = sealtrail_store::fsck::check(store, &[verifier]).unwrap();
    assert!(
        report.ok(),
        "fsck: {:?}",
        &report.problems[..report.problems.len().min(10)]
    );
    report
}

/// For a test that needs PostgreSQL: `None` when skipped, else the database
/// URL (checked to be reachable) and a fresh schema named `{prefix}_…`.
pub fn postgres_schema(test: &str, prefix: &str) -> Option<(String, SchemaGuard)> {
    if skip_postgres(test) {
        return None;
    }
    let url = pg_url();
    require_postgres(&url);
    let schema = SchemaGuard::new(&url, prefix);
    Some((url, schema))
}

/// The test database: `SEALTRAIL_TEST_DATABASE_URL`, else the local socket.
pub fn pg_url() -> String {
    std::env::var("SEALTRAIL_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "host=/var/run/postgresql user=postgres dbname=test".into())
}

/// A test that cannot run here. In CI (`CI=true`), where every test must
/// run, this fails the test; elsewhere it prints `SKIPPED: <test>: <why>`
/// and the caller returns at once, asserting nothing.
pub fn skip_or_fail(test: &str, why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} cannot run here, and CI=true requires every test to run: {why}");
    }
    eprintln!("SKIPPED: {test}: {why}");
}

/// True (after [`skip_or_fail`]) when `SEALTRAIL_SKIP_POSTGRES=1`. An
/// unreachable server is no reason to skip: it fails the test.
pub fn skip_postgres(test: &str) -> bool {
    let skip = std::env::var("SEALTRAIL_SKIP_POSTGRES").is_ok_and(|v| v == "1");
    if skip {
        skip_or_fail(test, "SEALTRAIL_SKIP_POSTGRES=1");
    }
    skip
}

/// Runs `f` on a thread of its own: the sync PostgreSQL client must not run
/// on a thread that drives an async runtime.
pub fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f)
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Fails the test with advice when PostgreSQL cannot be reached.
pub fn require_postgres(url: &str) {
    let url = url.to_string();
    off_runtime(move || {
        if let Err(e) = postgres::Client::connect(&url, postgres::NoTls) {
            let cause = std::error::Error::source(&e)
                .map(|c| c.to_string())
                .unwrap_or_default();
            panic!(
                "PostgreSQL is unreachable at {url:?}: {e}: {cause}\n\
                 Start it (scripts/setup.sh), point SEALTRAIL_TEST_DATABASE_URL at a server, \
                 or set SEALTRAIL_SKIP_POSTGRES=1 to skip the PostgreSQL tests."
            );
        }
    });
}

/// `n` random bytes, hex-encoded.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("/dev/urandom");
    hex::encode(b)
}

/// A PostgreSQL store on `schema` with a pool of `pool_size` connections.
pub fn pg_store(url: &str, schema: &str, pool_size: usize) -> sealtrail_store::postgres::PgStore {
    sealtrail_store::postgres::PgStore::connect(
        url,
        sealtrail_store::postgres::PgOptions {
            schema: schema.to_string(),
            pool_size,
            ..Default::default()
        },
    )
    .unwrap()
}

/// A fresh schema, dropped with everything in it when the test ends.
pub struct SchemaGuard {
    pub url: String,
    pub name: String,
}

impl SchemaGuard {
    pub fn new(url: &str, prefix: &str) -> SchemaGuard {
        SchemaGuard {
            url: url.to_string(),
            name: format!("{prefix}_{}", random_hex(6)),
        }
    }
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls)?;
            c.batch_execute(&format!(
                "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS \"{name}\" CASCADE"
            ))
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop schema {}: {dropped:?}", self.name);
        }
    }
}

/// The members of a zip (an evidence bundle), by name.
pub fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = std::collections::BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut b = Vec::new();
        f.read_to_end(&mut b).unwrap();
        out.insert(f.name().to_string(), b);
    }
    out
}
