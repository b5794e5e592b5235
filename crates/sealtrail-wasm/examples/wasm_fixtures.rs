//! Writes the evidence of `sealtrail_wasm::fixtures` to a directory, for
//! the Node test of the built module (tests/node/verify.test.mjs):
//! `entries.json` (the cases, each with the checks that must fail),
//! `bundles.json` with a `bundle-<k>.zip` per case, and `vkey.json` (the
//! log's key and its key id).
//!
//! Usage: cargo run -p sealtrail-wasm --example wasm_fixtures -- DIR

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use serde_json::json;

use sealtrail_core::note::{Ed25519Verifier, NoteVerifier};
use sealtrail_wasm::fixtures::{bundle_cases, entry_cases, TestLog};

fn main() -> Result<()> {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or_else(|| anyhow!("usage: wasm_fixtures DIR"))?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let entries: Vec<_> = entry_cases()
        .map_err(|e| anyhow!("{}", e.0))?
        .into_iter()
        .map(|c| json!({"name": c.name, "evidence": c.evidence, "failing": c.failing, "says": c.says}))
        .collect();
    let mut bundles = Vec::new();
    for (k, c) in bundle_cases()
        .map_err(|e| anyhow!("{}", e.0))?
        .into_iter()
        .enumerate()
    {
        let file = format!("bundle-{k}.zip");
        std::fs::write(dir.join(&file), &c.zip)
            .with_context(|| format!("writing {}", dir.join(&file).display()))?;
        bundles.push(json!({"name": c.name, "file": file, "vkeys": c.vkeys, "failing": c.failing, "says": c.says}));
    }
    let vkey = TestLog::new(1).map_err(|e| anyhow!("{}", e.0))?.vkey();
    let key_id = format!("{:08x}", Ed25519Verifier::from_vkey(&vkey)?.key_id());
    let key = json!({"vkey": vkey, "keyId": key_id});
    for (name, v) in [
        ("entries.json", json!(entries)),
        ("bundles.json", json!(bundles)),
        ("vkey.json", key),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(&v)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{}", dir.display());
    Ok(())
}
