//! `sealtrail verify --data DIR` on a real store: clean after ingest, and
//! after one flipped byte in a stored header, body or salt it fails and
//! names the entry.

use std::process::Command;

use sealtrail_server::datadir::Backend;
use sealtrail_server::sequencer::SequencerConfig;
use sealtrail_server::state::Limits;
use sealtrail_server::ServeOptions;
use sealtrail_store::Store;

const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

fn verify(dir: &std::path::Path) -> (i32, serde_json::Value) {
    let out = Command::new(BIN)
        .args(["verify", "--json", "--data"])
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

/// A log of 40 events with a checkpoint, in `dir`.
fn build_log(dir: &std::path::Path) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let opts = ServeOptions {
            data: dir.to_path_buf(),
            listen: "127.0.0.1:0".parse().unwrap(),
            checkpoint_interval: std::time::Duration::from_millis(50),
            sequencer: SequencerConfig::default(),
            limits: Limits::default(),
            public_tiles: false,
            backend: Backend::Embedded,
        };
        let (running, key) = sealtrail_server::start(opts).await.unwrap();
        let events: Vec<serde_json::Value> = (0..40)
            .map(|i| serde_json::json!({"id": format!("e{i}"), "agent": {"id": format!("a{}", i % 3)}, "kind": "tool_call", "output": format!("result {i}")}))
            .collect();
        let r = reqwest::Client::new()
            .post(format!("http://{}/v1/events?wait=checkpoint", running.addr))
            .bearer_auth(key.unwrap())
            .json(&events)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        running.stop().await.unwrap();
    });
}

/// Flips one byte of entry `index`'s record in the segment file: `what`
/// selects the header, the salt or the body.
fn flip(dir: &std::path::Path, index: u64, what: &str) {
    let store = sealtrail_store::sqlite::SqliteStore::open(dir).unwrap();
    let e = store.entry(index).unwrap().unwrap();
    drop(store);
    let seg = dir.join("segments").join("00000000.seg");
    let mut bytes = std::fs::read(&seg).unwrap();
    // Records are header ‖ salt ‖ body, in index order: find this one.
    let mut record = e.header.clone();
    record.extend_from_slice(&e.salt.unwrap());
    record.extend_from_slice(e.body.as_ref().unwrap());
    let at = bytes
        .windows(record.len())
        .position(|w| w == record.as_slice())
        .unwrap();
    let offset = match what {
        "header" => e.header.len() / 2,
        "salt" => e.header.len() + 5,
        _ => e.header.len() + 32 + e.body.as_ref().unwrap().len() / 2,
    };
    bytes[at + offset] ^= 0x01;
    std::fs::write(&seg, bytes).unwrap();
}

#[test]
fn verify_passes_on_a_clean_store_and_names_the_tampered_entry() {
    for what in ["header", "salt", "body"] {
        let dir = tempfile::tempdir().unwrap();
        build_log(dir.path());
        let (code, report) = verify(dir.path());
        assert_eq!(code, 0, "{report}");
        assert_eq!(report["ok"], true);
        assert_eq!(report["entries"], 40);
        assert!(report["checkpoints"].as_u64().unwrap() >= 1);

        flip(dir.path(), 17, what);
        let (code, report) = verify(dir.path());
        assert_eq!(code, 1, "{what}: {report}");
        let problems = report["problems"].as_array().unwrap();
        assert!(
            problems.iter().any(|p| p["location"] == "entry 17"),
            "{what}: {report}"
        );
        // Only entry 17 (and, for a header, what chains from it) is blamed.
        assert!(
            problems.iter().all(|p| p["location"] == "entry 17"
                || p["location"] == "entry 18"
                || what == "header"),
            "{what}: {report}"
        );
    }
}
