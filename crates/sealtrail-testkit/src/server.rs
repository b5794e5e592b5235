//! A real server, in the test's own process, on a loopback port over a
//! temporary data directory (the `server` feature).

use std::time::Duration;

use sealtrail_server::config::Limits;
use sealtrail_server::sequencer::SequencerConfig;
use sealtrail_server::{app::Running, ServeOptions};

use crate::http::get_json;

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
        console: Default::default(),
    }
}

/// [`options`] for one node of a PostgreSQL deployment: nodes started with
/// the same `url` and `schema` share one log (and its keys and sessions).
pub fn postgres_options(dir: &std::path::Path, url: &str, schema: &str) -> ServeOptions {
    let mut o = options(dir);
    o.backend = sealtrail_keys::Backend::Postgres {
        url: url.to_string(),
        schema: schema.to_string(),
    };
    o
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
