//! The checkpoints and tiles we serve, read and checked with Cloudflare's
//! client-side code (`tlog_tiles`, `signed_note`), as any C2SP tlog client would.

use std::collections::HashMap;

use sealtrail_core::tile::{changed_tiles, TileId};
use sealtrail_testkit::{event, TestServer};

struct Fetched(HashMap<(u8, u64, u32), Vec<u8>>);

impl tlog_tiles::TileReader for Fetched {
    fn height(&self) -> u8 {
        8
    }
    fn read_tiles(&self, tiles: &[tlog_tiles::Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        tiles
            .iter()
            .map(|t| {
                self.0
                    .get(&(t.level(), t.level_index(), t.width()))
                    .cloned()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
    fn save_tiles(&self, _: &[tlog_tiles::Tile], _: &[Vec<u8>]) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_checkpoint_and_tiles_verify_with_tlog_tiles() {
    let mut s = TestServer::start_with(|o| o.public_tiles = true).await;
    // 700 entries: two full level-0 tiles, a partial one, a level-1 partial.
    for chunk in 0..7u64 {
        let batch: Vec<_> = (0..100)
            .map(|i| event(&format!("agent-{}", i % 7), chunk * 100 + i))
            .collect();
        let (status, _) = s.ingest(serde_json::Value::Array(batch)).await;
        assert_eq!(status, 200);
    }
    let r = s
        .post("/v1/events?wait=checkpoint")
        .json(&serde_json::json!([event("last", 1)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let size = 701u64;

    // No API key needed with --public-tiles.
    let get = |path: String| s.http.get(format!("{}/tlog/{path}", s.url)).send();
    let cp_resp = get("checkpoint".into()).await.unwrap();
    assert_eq!(cp_resp.headers()["cache-control"], "no-cache, max-age=0");
    assert_eq!(
        cp_resp.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    let cp_bytes = cp_resp.bytes().await.unwrap();

    // Their note verifier accepts our signature with our vkey.
    let verifier = signed_note::StandardVerifier::new(&s.vkey).unwrap();
    let note = signed_note::Note::from_bytes(&cp_bytes).unwrap();
    let list = signed_note::VerifierList::new(vec![Box::new(verifier)]);
    let (verified, _) = note.verify(&list).unwrap();
    assert_eq!(verified.len(), 1);
    let cp = tlog_tiles::Checkpoint::from_bytes(note.text()).unwrap();
    assert_eq!(cp.size(), size);

    let mut fetched = HashMap::new();
    for t in changed_tiles(0, size) {
        let resp = get(t.path()).await.unwrap();
        assert_eq!(resp.status(), 200, "{}", t.path());
        assert_eq!(
            resp.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        fetched.insert(
            (t.level, t.index, u32::from(t.width)),
            resp.bytes().await.unwrap().to_vec(),
        );
    }
    let fetched = Fetched(fetched);
    // Their authenticated tile reader recomputes and checks the root.
    let reader = tlog_tiles::TileHashReader::new(size, *cp.hash(), &fetched);
    assert_eq!(tlog_tiles::tree_hash(size, &reader).unwrap(), *cp.hash());

    // Every entry in the entry bundles hashes to its leaf, and proves.
    let mut index = 0u64;
    for t in changed_tiles(0, size).into_iter().filter(|t| t.level == 0) {
        let bundle = get(t.entries_path()).await.unwrap().bytes().await.unwrap();
        let entries = sealtrail_core::tile::decode_entry_bundle(&bundle).unwrap();
        assert_eq!(entries.len(), usize::from(t.width));
        for e in entries {
            let leaf = tlog_tiles::record_hash(e);
            let proof = tlog_tiles::prove_record(size, index, &reader).unwrap();
            tlog_tiles::check_record(&proof, size, *cp.hash(), index, leaf).unwrap();
            index += 1;
        }
    }
    assert_eq!(index, size);

    // A tile beyond the tree is not served; a full tile is not served early.
    let missing = get(TileId {
        level: 0,
        index: 2,
        width: 255,
    }
    .path())
    .await
    .unwrap();
    assert_eq!(missing.status(), 404);
    let early = get(TileId::full(0, 2).path()).await.unwrap();
    assert_eq!(early.status(), 404);
    s.stop().await;
}
