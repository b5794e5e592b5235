//! `sealtrail proof INDEX`: fetch an entry's `c2sp.org/tlog-proof@v1` and
//! optionally verify it offline against the log's verifier key.
//!
//! Verification trusts nothing the server says except the bytes it can check:
//! the leaf hash is recomputed from the header, the checkpoint signature is
//! checked with `--vkey`, and the body (unless erased) is checked against the
//! header's salted commitment.

use std::path::PathBuf;
use std::process::ExitCode;

use sealtrail_client::{
    verify_entry_body, verify_entry_proof, Client, EntryResponse, ProofResponse, VerifiedProof,
};
use sealtrail_core::note::Ed25519Verifier;
use serde_json::{json, Value};

use crate::error::OfflineError;
use crate::vkeys::key_arg_text;

/// Which proof to fetch, whether to verify it, and how to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofOptions {
    /// Index of the entry.
    pub index: u64,
    /// Prove inclusion in the tree of this size (a signed checkpoint's size;
    /// default: the latest checkpoint).
    pub size: Option<u64>,
    /// Write the .tlog-proof text to this file instead of printing it.
    pub output: Option<PathBuf>,
    /// Print one JSON object (entry, proof, verdict).
    pub json: bool,
}

/// What the body check found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BodyCheck {
    Matches,
    Erased,
}

impl BodyCheck {
    fn as_str(&self) -> &'static str {
        match self {
            BodyCheck::Matches => "matches its commitment",
            BodyCheck::Erased => "erased (the commitment remains in the header)",
        }
    }
}

/// The vkey itself, or the contents of the file it names.
fn load_vkey(arg: &str) -> Result<String, OfflineError> {
    key_arg_text(arg).map(|text| text.trim().to_string())
}

/// Every check of `--verify`, in order; the first failure is the reason.
fn check(
    entry: &EntryResponse,
    proof: &ProofResponse,
    tlog_proof: &str,
    vkey: &str,
) -> Result<(VerifiedProof, BodyCheck), String> {
    let v = verify_entry_proof(&entry.header, tlog_proof, vkey).map_err(|e| e.to_string())?;
    // The server's own claims must agree with what was just proven.
    if entry.leaf_hash != v.leaf_hash {
        return Err(format!(
            "the server says entry {} has leaf hash {}, but its header hashes to {}",
            entry.index, entry.leaf_hash, v.leaf_hash
        ));
    }
    if entry.index != v.index {
        return Err(format!(
            "asked for entry {}, the server sent the header of entry {}",
            entry.index, v.index
        ));
    }
    if proof.size != v.size || proof.root != v.root {
        return Err(format!(
            "the server's proof answer (size {}, root {}) differs from its signed checkpoint (size {}, root {})",
            proof.size,
            proof.root.to_base64(),
            v.size,
            v.root.to_base64()
        ));
    }
    let body = match (&entry.body, &entry.salt) {
        (Some(body), Some(salt)) => {
            verify_entry_body(&entry.header, body, salt).map_err(|e| e.to_string())?;
            BodyCheck::Matches
        }
        (None, None) => BodyCheck::Erased,
        _ => {
            return Err("the server sent a body without its salt, or a salt without a body".into())
        }
    };
    Ok((v, body))
}

/// The trusted key for `--verify`, checked before anything is fetched: a
/// malformed or missing key is a usage error (exit 2), not a failed
/// verification. `None` without `verify`.
pub fn trusted_vkey(vkey: Option<&str>, verify: bool) -> Result<Option<String>, OfflineError> {
    let given = vkey.filter(|v| !v.trim().is_empty());
    Ok(match (given, verify) {
        (Some(v), true) => {
            let vkey = load_vkey(v)?;
            Ed25519Verifier::from_vkey(&vkey).map_err(|cause| OfflineError::ProofVkey {
                vkey: vkey.clone(),
                cause,
            })?;
            Some(vkey)
        }
        (None, true) => return Err(OfflineError::VerifyNeedsVkey),
        _ => None,
    })
}

/// `sealtrail proof INDEX`: fetches the entry and its proof, writes or
/// prints the proof, and with `vkey` (from [`trusted_vkey`]) prints the
/// verdict; exit status 1 when the proof does not verify.
pub fn run(
    client: &Client,
    args: &ProofOptions,
    vkey: Option<String>,
) -> Result<ExitCode, OfflineError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|cause| OfflineError::Runtime { cause })?;
    let (entry, proof) = rt.block_on(async {
        tokio::try_join!(
            client.entry(args.index),
            client.inclusion_proof(args.index, args.size)
        )
    })?;
    let Some(tlog_proof) = proof.tlog_proof.clone() else {
        return Err(OfflineError::NoCheckpoint {
            size: proof.size,
            index: args.index,
            size_given: args.size.is_some(),
        });
    };
    if let Some(path) = &args.output {
        std::fs::write(path, &tlog_proof).map_err(|cause| OfflineError::Write {
            path: path.clone(),
            cause,
        })?;
    }

    let verdict = vkey.map(|vkey| check(&entry, &proof, &tlog_proof, &vkey));

    if args.json {
        let mut out = json!({
            "index": entry.index,
            "size": proof.size,
            "leaf_hash": entry.leaf_hash,
            "root": proof.root.to_base64(),
            "header": entry.header,
            "tlog_proof": tlog_proof,
        });
        if let Some(p) = &args.output {
            out["output"] = p.display().to_string().into();
        }
        match &verdict {
            None => {}
            Some(Ok((v, body))) => {
                out["verified"] = true.into();
                out["origin"] = v.origin.clone().into();
                out["body"] = Value::from(match body {
                    BodyCheck::Matches => "matches",
                    BodyCheck::Erased => "erased",
                });
            }
            Some(Err(reason)) => {
                out["verified"] = false.into();
                out["error"] = reason.clone().into();
            }
        }
        println!("{out}");
    } else {
        match &verdict {
            None if args.output.is_none() => print!("{tlog_proof}"),
            None => {}
            Some(Ok((v, body))) => {
                println!(
                    "entry {} is included in checkpoint {} at size {} (root {}): OK",
                    v.index,
                    v.origin,
                    v.size,
                    v.root.to_base64()
                );
                println!("body: {}", body.as_str());
            }
            Some(Err(reason)) => {
                eprintln!("entry {}: verification FAILED: {reason}", args.index);
            }
        }
        if let Some(p) = &args.output {
            eprintln!(
                "wrote the proof of entry {} (tree size {}) to {}",
                args.index,
                proof.size,
                p.display()
            );
        }
    }
    Ok(match verdict {
        Some(Err(_)) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealtrail_client::Hash;
    use sealtrail_core::checkpoint::{Checkpoint, SignedCheckpoint};
    use sealtrail_core::event::Event;
    use sealtrail_core::header::{commit_body, EntryHeader, Seal, StreamLink, Streams};
    use sealtrail_core::note::Ed25519Signer;
    use sealtrail_core::proof::{prove_inclusion, MemoryTree};
    use sealtrail_core::tlog_proof::TlogProof;

    /// A two-entry log and the server's answers for entry 1.
    fn fixture() -> (EntryResponse, ProofResponse, String, String) {
        let signer = Ed25519Signer::from_seed("example.com/log", [3; 32]).unwrap();
        let mut tree = MemoryTree::new();
        let mut last: Option<EntryResponse> = None;
        for i in 0..2u64 {
            let body = json!({"agent": {"id": "a"}, "kind": "decision", "output": format!("n{i}")});
            let event = Event::from_value(body.clone()).unwrap();
            let salt = [i as u8 + 1; 32];
            let header = EntryHeader::new(
                &event,
                Seal {
                    index: i,
                    time: 10 + i,
                    prev: last.as_ref().map(|e| e.leaf_hash),
                    streams: Streams {
                        agent: StreamLink {
                            n: i + 1,
                            prev: i.checked_sub(1),
                        },
                        session: None,
                    },
                    seq_gap: None,
                    scope: None,
                    subjects: vec![],
                    data_classes: vec![],
                    body: commit_body(&salt, &event.canonical_bytes().unwrap()),
                },
            );
            let leaf = header.leaf_hash().unwrap();
            tree.push(leaf);
            last = Some(EntryResponse {
                index: i,
                leaf_hash: leaf,
                header: serde_json::to_value(&header).unwrap(),
                body: Some(body),
                salt: Some(hex_encode(&salt)),
            });
        }
        let entry = last.unwrap();
        let sc = SignedCheckpoint::sign(
            Checkpoint {
                origin: "example.com/log".into(),
                size: 2,
                root: tree.root(),
                extensions: vec![],
            },
            &[&signer],
        )
        .unwrap();
        let path = prove_inclusion(&tree, 1, 2).unwrap();
        let text = String::from_utf8(
            TlogProof {
                extra: None,
                index: 1,
                path: path.clone(),
                checkpoint: sc.to_bytes(),
            }
            .to_bytes(),
        )
        .unwrap();
        let proof = ProofResponse {
            index: 1,
            size: 2,
            leaf_hash: entry.leaf_hash,
            root: tree.root(),
            path,
            tlog_proof: Some(text.clone()),
        };
        (entry, proof, text, signer.vkey())
    }

    fn hex_encode(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn verdicts() {
        let (entry, proof, text, vkey) = fixture();
        let (v, body) = check(&entry, &proof, &text, &vkey).unwrap();
        assert_eq!((v.index, v.size, body), (1, 2, BodyCheck::Matches));

        let mut erased = entry.clone();
        erased.body = None;
        erased.salt = None;
        assert_eq!(
            check(&erased, &proof, &text, &vkey).unwrap().1,
            BodyCheck::Erased
        );

        let mut half = entry.clone();
        half.salt = None;
        assert!(check(&half, &proof, &text, &vkey).is_err());

        let mut altered = entry.clone();
        altered.body.as_mut().unwrap()["output"] = "changed".into();
        let e = check(&altered, &proof, &text, &vkey).unwrap_err();
        assert!(e.starts_with("body does not match"), "{e}");

        let mut lying = entry.clone();
        lying.leaf_hash = Hash([0; 32]);
        let e = check(&lying, &proof, &text, &vkey).unwrap_err();
        assert!(e.contains("hashes to"), "{e}");

        let mut other_size = proof.clone();
        other_size.size = 3;
        assert!(check(&entry, &other_size, &text, &vkey)
            .unwrap_err()
            .contains("differs from its signed checkpoint"));

        let other = Ed25519Signer::from_seed("example.com/log", [4; 32]).unwrap();
        let e = check(&entry, &proof, &text, &other.vkey()).unwrap_err();
        assert!(e.starts_with("the proof does not verify"), "{e}");
    }

    #[test]
    fn vkey_from_file_or_inline() {
        let (_, _, _, vkey) = fixture();
        assert_eq!(load_vkey(&format!(" {vkey}\n")).unwrap(), vkey);
        let dir = std::env::temp_dir().join(format!("sealtrail-vkey-{}", std::process::id()));
        std::fs::write(&dir, format!("{vkey}\n")).unwrap();
        assert_eq!(load_vkey(dir.to_str().unwrap()).unwrap(), vkey);
        std::fs::remove_file(&dir).unwrap();
        // Not a file and not a vkey: passed on, and refused by the verifier.
        assert_eq!(load_vkey("nope").unwrap(), "nope");
    }
}
