//! The log's signing keys against a real server: a key rotated offline while
//! it serves co-signs checkpoints with the new key during the overlap (each
//! key alone verifies them, and the evidence bundles made from them), then
//! only the new key signs; a restart and fsck accept checkpoints of both
//! eras; and a key kept outside the data directory leaves no private key
//! in it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use sealtrail_core::bundle::verify_members;
use sealtrail_core::checkpoint::SignedCheckpoint;
use sealtrail_core::note::{Ed25519Verifier, Note, NoteVerifier};
use sealtrail_keys::{self as signing, KeyRole, SigningOptions};
use sealtrail_server::clock::now_micros;
use sealtrail_testkit::{event, options, TestServer};
use serde_json::json;

/// Ingests `n` events and waits until a checkpoint covers them; the
/// checkpoint note then served at /tlog/checkpoint.
async fn ingest_and_checkpoint(s: &TestServer, round: u64, n: u64) -> Vec<u8> {
    let batch: Vec<_> = (0..n).map(|i| event("agent-k", round * 1000 + i)).collect();
    let r = s
        .post("/v1/events?wait=checkpoint")
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    s.get("/tlog/checkpoint")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

fn opens_with(note: &[u8], vkey: &str) -> bool {
    let v = Ed25519Verifier::from_vkey(vkey).unwrap();
    SignedCheckpoint::open(note, &[&v]).is_ok()
}

fn signature_count(note: &[u8]) -> usize {
    Note::parse(note).unwrap().signatures().len()
}

async fn bundle(s: &TestServer) -> BTreeMap<String, Vec<u8>> {
    let r = s.post("/v1/exports").json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap();
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut b = Vec::new();
        f.read_to_end(&mut b).unwrap();
        out.insert(f.name().to_string(), b);
    }
    out
}

fn bundle_verifies_with(m: &BTreeMap<String, Vec<u8>>, vkey: &str) -> bool {
    let v = Ed25519Verifier::from_vkey(vkey).unwrap();
    let mut m = m.clone();
    let r = verify_members(&mut m, &[&v as &dyn NoteVerifier]);
    r.ok()
}

#[tokio::test]
async fn an_offline_rotation_overlaps_then_hands_over() {
    let mut s = TestServer::start().await;
    let old = s.vkey.clone();
    let first = ingest_and_checkpoint(&s, 0, 5).await;
    assert_eq!(signature_count(&first), 1);
    assert!(opens_with(&first, &old));

    // Rotated offline (what `sealtrail signing-key rotate` does) while serving.
    let overlap = Duration::from_secs(6);
    let rotated_at = Instant::now();
    let r = signing::rotate_offline(s.dir.path(), overlap, now_micros()).unwrap();
    assert_eq!(r.old_vkey, old);
    let new = r.new_vkey.clone();

    let during = ingest_and_checkpoint(&s, 1, 5).await;
    let export = bundle(&s).await;
    assert!(
        rotated_at.elapsed() < overlap,
        "the machine is too slow for this overlap"
    );
    assert_eq!(
        signature_count(&during),
        2,
        "{}",
        String::from_utf8_lossy(&during)
    );
    assert!(
        opens_with(&during, &old),
        "verifiers that know only the old key"
    );
    assert!(
        opens_with(&during, &new),
        "verifiers that know only the new key"
    );
    assert!(bundle_verifies_with(&export, &old));
    assert!(bundle_verifies_with(&export, &new));
    let ring = s.running.as_ref().unwrap().signing_keys.clone();
    assert_eq!(ring.primary_vkey(), new);
    assert_eq!(ring.vkeys(now_micros()), vec![new.clone(), old.clone()]);

    // After the overlap only the new key signs, and the old key's file goes.
    tokio::time::sleep(overlap.saturating_sub(rotated_at.elapsed()) + Duration::from_millis(100))
        .await;
    let after = ingest_and_checkpoint(&s, 2, 5).await;
    assert_eq!(signature_count(&after), 1);
    assert!(opens_with(&after, &new));
    assert!(!opens_with(&after, &old));
    let export = bundle(&s).await;
    assert!(bundle_verifies_with(&export, &new));
    assert!(!bundle_verifies_with(&export, &old));
    let old_file = s.dir.path().join(format!("log.key.{}", r.old_key_id));
    assert!(!old_file.exists());
    let roles: Vec<KeyRole> = ring.history(now_micros()).iter().map(|k| k.role).collect();
    assert_eq!(roles, vec![KeyRole::Retired, KeyRole::Primary]);

    // The rotation made offline is itself in the log, once.
    let mut logged = Vec::new();
    for _ in 0..100 {
        let page = s
            .get_json("/v1/events?kind=config_change&action=signing_key.rotate")
            .await;
        logged = page["events"].as_array().cloned().unwrap_or_default();
        if !logged.is_empty() && ring.pending_rotations().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(ring.pending_rotations().is_empty());

    // A restart opens the last checkpoint; fsck with the history's keys
    // accepts every checkpoint, old-key-only ones included.
    s.stop().await;
    let (running, owner) = sealtrail_server::start(options(s.dir.path()))
        .await
        .unwrap();
    assert!(owner.is_none());
    assert_eq!(running.vkey, new);
    running.stop().await.unwrap();
    let verifiers = signing::history_verifiers(s.dir.path()).unwrap();
    let trusted: Vec<&dyn NoteVerifier> =
        verifiers.iter().map(|v| v as &dyn NoteVerifier).collect();
    let report = sealtrail_store::fsck::check_embedded(s.dir.path(), &trusted).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert!(report.checkpoints >= 3);
}

/// Every file under `dir`, recursively.
fn all_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn a_key_outside_the_data_directory() {
    let keys = tempfile::tempdir().unwrap();
    let key_path = keys.path().join("log.key");
    let mut s = TestServer::start_with(|o| {
        o.signing = SigningOptions {
            key_path: Some(key_path.clone()),
            signer_command: None,
        };
    })
    .await;
    // The first start created the key where it was told, mode 0600.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let skey = std::fs::read_to_string(&key_path).unwrap();
    // PRIVATE+KEY+<name>+<id>+<base64 key>: the base64 is the secret.
    let secret = skey.trim().splitn(5, '+').nth(4).unwrap().to_string();
    let note = ingest_and_checkpoint(&s, 0, 3).await;
    assert!(opens_with(&note, &s.vkey));
    s.stop().await;
    for f in all_files(s.dir.path()) {
        let bytes = std::fs::read(&f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&secret) && !text.contains("PRIVATE+KEY"),
            "{} holds the private key",
            f.display()
        );
    }
    assert!(!s.dir.path().join("log.key").exists());
    let h = signing::read_history(s.dir.path()).unwrap().unwrap();
    assert_eq!(h.keys[0].source, signing::KeySource::Path);

    // Without the option the server does not start, and says why.
    let e = sealtrail_server::start(options(s.dir.path()))
        .await
        .err()
        .unwrap();
    assert!(format!("{e:#}").contains("--signing-key"), "{e:#}");
}
