//! sealtrail-wasm: the web console's verifier. sealtrail-core compiled to
//! WebAssembly checks, in the browser, an entry the server hands out
//! ([`entry`]) and an evidence bundle dropped on the page ([`bundle`]),
//! with the same code the CLI runs.
//!
//! The surface is a small C ABI ([`abi`]) rather than wasm-bindgen
//! (docs/decisions.md, "Issue 17: the in-browser verifier"): JavaScript
//! copies bytes into memory it allocated here, calls a function, and reads
//! back one JSON document. The functions behind it are plain Rust
//! ([`verify_entry_json`], [`verify_bundle_json`]), tested natively.

pub mod abi;
pub mod bundle;
pub mod entry;
#[doc(hidden)]
pub mod fixtures;
pub mod verdict;

pub use bundle::{verify_bundle, BundleVerdict};
pub use entry::{verify_entry, EntryEvidence, LastSeen};
pub use verdict::{Check, Verdict};

/// The version of the calling convention in [`abi`]; the JavaScript side
/// refuses a module of another version (a stale build).
pub const ABI_VERSION: u32 = 1;

/// Why a call was refused before anything was checked: the caller broke
/// the calling convention (the console's code, not the evidence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl Refusal {
    /// `{"error": "..."}`: what the JavaScript side throws.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::json!({ "error": self.0 })
            .to_string()
            .into_bytes()
    }
}

/// [`verify_entry`] on the JSON of an `EntryEvidence`
/// (`{"entry", "proof", "checkpoint", "vkey", "lastSeen"?}`); the verdict
/// as JSON.
pub fn verify_entry_json(input: &[u8]) -> Result<Vec<u8>, Refusal> {
    let evidence: EntryEvidence = serde_json::from_slice(input).map_err(|e| {
        Refusal(format!(
            "verifyEntry's argument is not {{entry, proof, checkpoint, vkey, lastSeen?}}: {e}"
        ))
    })?;
    to_json(&verify_entry(&evidence))
}

/// [`verify_bundle`] on a bundle's ZIP bytes and a JSON array of pinned
/// keys; the verdict and report as JSON.
pub fn verify_bundle_json(zip: &[u8], vkeys_json: &[u8]) -> Result<Vec<u8>, Refusal> {
    let vkeys: Vec<String> = serde_json::from_slice(vkeys_json).map_err(|e| {
        Refusal(format!(
            "verifyBundle's keys are not a JSON array of strings: {e}"
        ))
    })?;
    to_json(&verify_bundle(zip, &vkeys))
}

fn to_json(v: &impl serde::Serialize) -> Result<Vec<u8>, Refusal> {
    serde_json::to_vec(v).map_err(|e| Refusal(format!("the verdict cannot be written: {e}")))
}
