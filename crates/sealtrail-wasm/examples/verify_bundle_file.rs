//! Runs the console's bundle verification natively on a file, for the
//! benchmark beside the WebAssembly module (docs/benchmarks.md, "Issue 17:
//! the in-browser verifier"): the same function the module exports.
//!
//! Usage: cargo run --release -p sealtrail-wasm --example verify_bundle_file -- BUNDLE VKEY

use anyhow::{anyhow, Context, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, vkey] = args.as_slice() else {
        return Err(anyhow!("usage: verify_bundle_file BUNDLE VKEY"));
    };
    let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    let b = sealtrail_wasm::verify_bundle(&bytes, std::slice::from_ref(vkey));
    println!(
        "ok {} entries {}",
        b.verdict.ok, b.report["counts"]["entries"]
    );
    Ok(())
}
