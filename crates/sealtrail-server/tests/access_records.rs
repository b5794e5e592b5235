//! Access records as stored. On two real nodes sharing one PostgreSQL
//! schema, no write of one node may undo an authority change (a
//! revocation) made on the other, whether it is a last-used time or an
//! administrative change made from a copy of the record that predates the
//! revocation. And last-used times kept inside key records by older
//! versions are still read.
//!
//! The two-node cases need PostgreSQL (`SEALTRAIL_TEST_DATABASE_URL`, else
//! the local socket).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sealtrail_server::access::UpkeepTimes;
use sealtrail_server::app::Running;
use serde_json::{json, Value};

struct Nodes {
    a: Running,
    b: Running,
    ua: String,
    ub: String,
    owner: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// Two nodes on one schema, with `times` for their access upkeep.
async fn two_nodes(url: &str, schema: &str, times: UpkeepTimes) -> Nodes {
    let dir = tempfile::tempdir().unwrap();
    let opts = || {
        let mut o = sealtrail_testkit::postgres_options(dir.path(), url, schema);
        o.access_upkeep = times;
        o
    };
    let (a, owner) = sealtrail_server::start(opts()).await.unwrap();
    let (b, _) = sealtrail_server::start(opts()).await.unwrap();
    Nodes {
        ua: format!("http://{}", a.addr),
        ub: format!("http://{}", b.addr),
        a,
        b,
        owner: owner.expect("the first start prints the owner key"),
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Nodes {
    async fn status(&self, url: &str, key: &str) -> u16 {
        self.http
            .get(format!("{url}/v1/whoami"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Waits up to 5 s until `key` gets `want` on `url`.
    async fn until(&self, url: &str, key: &str, want: u16) {
        let t = Instant::now();
        while self.status(url, key).await != want {
            assert!(t.elapsed() < Duration::from_secs(5), "{url}: never {want}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A member key made on node A and usable on node B: (secret, id).
    async fn member_key(&self) -> (String, String) {
        let made: Value = self
            .http
            .post(format!("{}/v1/keys", self.ua))
            .bearer_auth(&self.owner)
            .json(&json!({"name": "m", "role": "member"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let secret = made["key"].as_str().unwrap().to_string();
        let id = made["info"]["id"].as_str().unwrap().to_string();
        self.until(&self.ub, &secret, 200).await;
        (secret, id)
    }

    async fn send(&self, r: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = r.bearer_auth(&self.owner).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// The key as the owner sees it on `url`.
    async fn info(&self, url: &str, id: &str) -> Value {
        self.send(self.http.get(format!("{url}/v1/keys/{id}")))
            .await
            .1
    }

    /// The key stays refused on both nodes, and listed as revoked, for
    /// `how_long` (many flush and reload cycles).
    async fn stays_revoked(&self, secret: &str, id: &str, how_long: Duration) {
        let t = Instant::now();
        while t.elapsed() < how_long {
            for url in [&self.ua, &self.ub] {
                assert_eq!(
                    self.status(url, secret).await,
                    401,
                    "{url} accepts the revoked key again after {:?}",
                    t.elapsed()
                );
                let info = self.info(url, id).await;
                assert!(
                    info["revoked"].as_u64().is_some(),
                    "{url} lists the key as not revoked: {info}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(self) {
        self.a.stop().await.unwrap();
        self.b.stop().await.unwrap();
    }
}

/// Node A uses a key in a tight loop and writes its last-used times every
/// 20 ms while node B revokes the key: after B's revocation and one reload
/// interval the key is refused on both nodes, and stays refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_used_writes_never_undo_a_revocation_made_on_another_node() {
    let Some((url, schema)) = sealtrail_testkit::postgres_schema("last_used_vs_revoke", "acr")
    else {
        return;
    };
    let times = UpkeepTimes {
        flush_last_used: Duration::from_millis(20),
        ..UpkeepTimes::default()
    };
    let n = Arc::new(two_nodes(&url, &schema.name, times).await);
    let (secret, id) = n.member_key().await;

    let stop = Arc::new(AtomicBool::new(false));
    let used = Arc::new(AtomicU64::new(0));
    let user = {
        let (n, secret, stop, used) = (n.clone(), secret.clone(), stop.clone(), used.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if n.status(&n.ua, &secret).await == 200 {
                    used.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    // Node A's last-used writes are under way before the revocation.
    while used.load(Ordering::Relaxed) < 50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, v) = n
        .send(n.http.delete(format!("{}/v1/keys/{id}", n.ub)))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(n.status(&n.ub, &secret).await, 401, "at once on node B");
    let reload = UpkeepTimes::default().reload;
    tokio::time::sleep(reload * 2 + Duration::from_millis(500)).await;
    n.stays_revoked(&secret, &id, reload * 3).await;
    stop.store(true, Ordering::Relaxed);
    user.await.unwrap();
    // Last-used times were kept all along, apart from the key record.
    let info = n.info(&n.ub, &id).await;
    assert!(info["last_used"].as_u64().is_some(), "{info}");
    Arc::into_inner(n).unwrap().stop().await;
}

/// Node B revokes a key; node A, whose copy still predates the revocation,
/// changes the key's name at once. The revocation must survive: the change
/// is made on the stored record (or refused with 409), never on the copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_another_node_never_undoes_a_revocation() {
    let Some((url, schema)) = sealtrail_testkit::postgres_schema("change_vs_revoke", "acc") else {
        return;
    };
    let n = two_nodes(&url, &schema.name, UpkeepTimes::default()).await;
    for round in 0..3 {
        let (secret, id) = n.member_key().await;
        let (status, v) = n
            .send(n.http.delete(format!("{}/v1/keys/{id}", n.ub)))
            .await;
        assert_eq!(status, 200, "{v}");
        let (status, v) = n
            .send(
                n.http
                    .patch(format!("{}/v1/keys/{id}", n.ua))
                    .json(&json!({"name": format!("renamed-{round}")})),
            )
            .await;
        assert!(
            status == 200 || status == 409,
            "round {round}: {status} {v}"
        );
        if status == 200 {
            assert!(
                v["revoked"].as_u64().is_some(),
                "round {round}: the change answered a key that is not revoked: {v}"
            );
        }
        n.stays_revoked(&secret, &id, UpkeepTimes::default().reload * 2)
            .await;
    }
    n.stop().await;
}

/// Data directories from before `key_used` records kept a key's last-used
/// time inside its record: it is still shown, newer uses win, and what a
/// node saw is kept across a restart.
#[tokio::test]
async fn last_used_times_inside_old_key_records_are_still_read() {
    let mut s = sealtrail_testkit::TestServer::start().await;
    let made: Value = s
        .post("/v1/keys")
        .json(&json!({"name": "old", "role": "viewer"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (secret, id) = (
        made["key"].as_str().unwrap().to_string(),
        made["info"]["id"].as_str().unwrap().to_string(),
    );
    s.stop().await;
    {
        use sealtrail_store::prelude::*;
        let store = sealtrail_store::sqlite::SqliteStore::open(s.dir.path()).unwrap();
        let mut rec: Value =
            serde_json::from_slice(&store.access("key", &id).unwrap().unwrap()).unwrap();
        rec["last_used"] = json!(1_234_u64);
        store
            .put_access("key", &id, &serde_json::to_vec(&rec).unwrap())
            .unwrap();
    }
    let restart = || async {
        let (running, _) = sealtrail_server::start(sealtrail_testkit::options(s.dir.path()))
            .await
            .unwrap();
        let url = format!("http://{}", running.addr);
        (running, url)
    };
    let info = |url: String| {
        let (http, owner, id) = (s.http.clone(), s.key.clone(), id.clone());
        async move { sealtrail_testkit::get_json(&http, &format!("{url}/v1/keys/{id}"), &owner).await }
    };
    let (running, url) = restart().await;
    assert_eq!(info(url.clone()).await["last_used"], 1_234, "the old time");
    let r = s
        .http
        .get(format!("{url}/v1/whoami"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let used = info(url.clone()).await["last_used"].as_u64().unwrap();
    assert!(used > 1_234, "a newer use wins: {used}");
    running.stop().await.unwrap();
    let (running, url) = restart().await;
    assert_eq!(
        info(url).await["last_used"].as_u64(),
        Some(used),
        "kept across a restart"
    );
    running.stop().await.unwrap();
}
