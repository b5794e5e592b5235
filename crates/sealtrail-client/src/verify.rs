//! Offline verification of what a server hands out: an entry's header against
//! a `tlog-proof` signed by the log's key, and a body against the header's
//! commitment. Nothing here trusts the server: the leaf hash is recomputed
//! from the header, the checkpoint signature is checked with a key the caller
//! supplies.

use sealtrail_core::hash::Hash;
use sealtrail_core::header::{EntryHeader, HeaderError};
use sealtrail_core::jcs::{self, JcsError};
use sealtrail_core::note::{Ed25519Verifier, KeyError};
use sealtrail_core::tlog_proof::{TlogProof, TlogProofError};
use serde_json::Value;

/// What a successful [`verify_entry_proof`] established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The entry's index (header and proof agree on it).
    pub index: u64,
    /// The leaf hash recomputed from the header.
    pub leaf_hash: Hash,
    /// The checkpoint's origin (the log's name; its key signed it).
    pub origin: String,
    /// Size of the tree the entry is proven in.
    pub size: u64,
    /// Root of that tree.
    pub root: Hash,
}

/// Why verification failed; the message says exactly what did not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("header cannot be put in canonical form: {0}")]
    HeaderCanonical(JcsError),
    #[error("header is not a valid sealed header: {0}")]
    Header(HeaderError),
    #[error("verifier key: {0}")]
    Vkey(KeyError),
    #[error("tlog-proof cannot be read: {0}")]
    ProofFormat(TlogProofError),
    #[error("the proof is for entry {proof} but the header is entry {header}")]
    IndexMismatch { header: u64, proof: u64 },
    #[error("the proof does not verify: {0}")]
    Proof(TlogProofError),
    #[error("body cannot be put in canonical form: {0}")]
    BodyCanonical(JcsError),
    #[error("salt is not hex")]
    SaltHex,
    #[error("{0}")]
    Body(HeaderError),
}

/// Canonicalizes `header_json` (RFC 8785) and reads it as a sealed header,
/// refusing unknown fields and newer versions.
pub fn parse_header(header_json: &Value) -> Result<EntryHeader, VerifyError> {
    let bytes = jcs::to_canonical_vec(header_json).map_err(VerifyError::HeaderCanonical)?;
    EntryHeader::parse(&bytes).map_err(VerifyError::Header)
}

/// Checks that the entry whose sealed header is `header_json` is included in
/// a checkpoint signed by `vkey`, using the `c2sp.org/tlog-proof@v1` text
/// `tlog_proof_text`: the leaf hash is recomputed from the header, the proof's
/// index must be the header's, the checkpoint's signature must verify with
/// `vkey` and its origin must be that key's name.
pub fn verify_entry_proof(
    header_json: &Value,
    tlog_proof_text: &str,
    vkey: &str,
) -> Result<VerifiedProof, VerifyError> {
    let header = parse_header(header_json)?;
    let leaf_hash = header.leaf_hash().map_err(VerifyError::HeaderCanonical)?;
    let verifier = Ed25519Verifier::from_vkey(vkey.trim()).map_err(VerifyError::Vkey)?;
    let proof = TlogProof::parse(tlog_proof_text.as_bytes()).map_err(VerifyError::ProofFormat)?;
    if proof.index != header.index {
        return Err(VerifyError::IndexMismatch {
            header: header.index,
            proof: proof.index,
        });
    }
    let checkpoint = proof
        .verify(&leaf_hash, &[&verifier])
        .map_err(VerifyError::Proof)?;
    Ok(VerifiedProof {
        index: header.index,
        leaf_hash,
        origin: checkpoint.origin,
        size: checkpoint.size,
        root: checkpoint.root,
    })
}

/// Checks that `body` (the event) with `salt_hex` is what the header committed
/// to: `SHA-256(salt ‖ JCS(body))` equals the header's `body` hash.
pub fn verify_entry_body(
    header_json: &Value,
    body: &Value,
    salt_hex: &str,
) -> Result<(), VerifyError> {
    let header = parse_header(header_json)?;
    let salt = hex::decode(salt_hex.trim()).map_err(|_| VerifyError::SaltHex)?;
    let canonical = jcs::to_canonical_vec(body).map_err(VerifyError::BodyCanonical)?;
    header
        .verify_body(&salt, &canonical)
        .map_err(VerifyError::Body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealtrail_core::checkpoint::{Checkpoint, SignedCheckpoint};
    use sealtrail_core::event::Event;
    use sealtrail_core::header::{commit_body, Seal, StreamLink, Streams};
    use sealtrail_core::note::Ed25519Signer;
    use sealtrail_core::proof::{prove_inclusion, MemoryTree};

    const ORIGIN: &str = "example.com/log";

    struct Log {
        signer: Ed25519Signer,
        headers: Vec<EntryHeader>,
        bodies: Vec<(Value, [u8; 32])>,
        tree: MemoryTree,
    }

    /// A log of `n` entries sealed the way the server seals them.
    fn log(n: u64) -> Log {
        let signer = Ed25519Signer::from_seed(ORIGIN, [7; 32]).unwrap();
        let mut tree = MemoryTree::new();
        let mut headers = Vec::new();
        let mut bodies = Vec::new();
        let mut prev = None;
        for i in 0..n {
            let body = serde_json::json!({
                "id": format!("evt-{i}"),
                "agent": {"id": format!("agent-{}", i % 3)},
                "kind": "tool_call",
                "tool": {"name": "search", "arguments": {"q": "refund policy"}},
                "output": "ok",
            });
            let event = Event::from_value(body.clone()).unwrap();
            let salt = [i as u8; 32];
            let seal = Seal {
                index: i,
                time: 1_795_000_000_000_000 + i,
                prev,
                streams: Streams {
                    agent: StreamLink {
                        n: i / 3 + 1,
                        prev: i.checked_sub(3),
                    },
                    session: None,
                },
                seq_gap: None,
                scope: None,
                subjects: vec![],
                data_classes: vec![],
                body: commit_body(&salt, &event.canonical_bytes().unwrap()),
            };
            let header = EntryHeader::new(&event, seal);
            let leaf = header.leaf_hash().unwrap();
            tree.push(leaf);
            prev = Some(leaf);
            headers.push(header);
            bodies.push((body, salt));
        }
        Log {
            signer,
            headers,
            bodies,
            tree,
        }
    }

    impl Log {
        fn header_json(&self, i: usize) -> Value {
            serde_json::to_value(&self.headers[i]).unwrap()
        }

        fn proof(&self, index: u64) -> String {
            let size = self.tree.size();
            let cp = Checkpoint {
                origin: ORIGIN.into(),
                size,
                root: self.tree.root(),
                extensions: vec![],
            };
            let sc = SignedCheckpoint::sign(cp, &[&self.signer]).unwrap();
            let proof = TlogProof {
                extra: None,
                index,
                path: prove_inclusion(&self.tree, index, size).unwrap(),
                checkpoint: sc.to_bytes(),
            };
            String::from_utf8(proof.to_bytes()).unwrap()
        }

        fn vkey(&self) -> String {
            self.signer.vkey()
        }
    }

    #[test]
    fn verifies_every_entry() {
        let log = log(13);
        for i in 0..13 {
            let v =
                verify_entry_proof(&log.header_json(i), &log.proof(i as u64), &log.vkey()).unwrap();
            assert_eq!(v.index, i as u64);
            assert_eq!(v.size, 13);
            assert_eq!(v.root, log.tree.root());
            assert_eq!(v.origin, ORIGIN);
            assert_eq!(v.leaf_hash, log.headers[i].leaf_hash().unwrap());
        }
    }

    #[test]
    fn header_key_order_does_not_matter() {
        // The server's JSON need not be canonical; JCS puts it in order.
        let log = log(4);
        let text = serde_json::to_string(&log.headers[2]).unwrap();
        let mut map: Vec<(String, Value)> =
            serde_json::from_str::<serde_json::Map<String, Value>>(&text)
                .unwrap()
                .into_iter()
                .collect();
        map.reverse();
        let shuffled: Value = Value::Object(map.into_iter().collect());
        verify_entry_proof(&shuffled, &log.proof(2), &log.vkey()).unwrap();
        // Trailing whitespace around the vkey (copied from a file) is tolerated.
        verify_entry_proof(&shuffled, &log.proof(2), &format!("{}\n", log.vkey())).unwrap();
    }

    #[test]
    fn one_changed_header_byte_fails() {
        let log = log(7);
        let bytes = log.headers[5].to_entry_bytes().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        let tampered = text.replacen("\"agent\":\"agent-2\"", "\"agent\":\"agent-1\"", 1);
        assert_ne!(tampered, text);
        let differing = tampered
            .bytes()
            .zip(text.bytes())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(differing, 1);
        let tampered: Value = serde_json::from_str(&tampered).unwrap();
        let err = verify_entry_proof(&tampered, &log.proof(5), &log.vkey()).unwrap_err();
        assert!(
            matches!(err, VerifyError::Proof(TlogProofError::Inclusion(_))),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("the proof does not verify: inclusion proof:"),
            "{err}"
        );
    }

    #[test]
    fn wrong_key_fails() {
        let log = log(5);
        let other = Ed25519Signer::from_seed(ORIGIN, [8; 32]).unwrap();
        let err =
            verify_entry_proof(&log.header_json(1), &log.proof(1), &other.vkey()).unwrap_err();
        assert!(matches!(err, VerifyError::Proof(_)), "{err:?}");
        // Right key material, other log name: the origin is not vouched for.
        let renamed = Ed25519Signer::from_seed("other.example/log", [7; 32]).unwrap();
        let err =
            verify_entry_proof(&log.header_json(1), &log.proof(1), &renamed.vkey()).unwrap_err();
        assert!(matches!(err, VerifyError::Proof(_)), "{err:?}");
        let err = verify_entry_proof(&log.header_json(1), &log.proof(1), "not-a-vkey").unwrap_err();
        assert!(matches!(err, VerifyError::Vkey(_)), "{err:?}");
    }

    #[test]
    fn index_mismatch_fails() {
        let log = log(6);
        let err = verify_entry_proof(&log.header_json(3), &log.proof(4), &log.vkey()).unwrap_err();
        assert_eq!(
            err,
            VerifyError::IndexMismatch {
                header: 3,
                proof: 4
            }
        );
        assert_eq!(
            err.to_string(),
            "the proof is for entry 4 but the header is entry 3"
        );
        // Same index claimed, but the header is another entry's.
        let mut h = log.header_json(4);
        h["index"] = 3.into();
        let err = verify_entry_proof(&h, &log.proof(3), &log.vkey()).unwrap_err();
        assert!(matches!(err, VerifyError::Proof(_)), "{err:?}");
    }

    #[test]
    fn bad_headers_and_proofs_are_refused() {
        let log = log(3);
        let mut h = log.header_json(1);
        h["v"] = 2.into();
        let err = verify_entry_proof(&h, &log.proof(1), &log.vkey()).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::Header(HeaderError::UnsupportedVersion { found: 2 })
            ),
            "{err:?}"
        );
        let mut h = log.header_json(1);
        h["extra_field"] = "x".into();
        assert!(matches!(
            verify_entry_proof(&h, &log.proof(1), &log.vkey()),
            Err(VerifyError::Header(HeaderError::Json(_)))
        ));
        assert!(matches!(
            verify_entry_proof(&serde_json::json!([1, 2]), &log.proof(1), &log.vkey()),
            Err(VerifyError::Header(_))
        ));
        let err =
            verify_entry_proof(&log.header_json(1), "not a proof\n", &log.vkey()).unwrap_err();
        assert!(matches!(err, VerifyError::ProofFormat(_)), "{err:?}");
        // A proof cut short loses its checkpoint.
        let p = log.proof(1);
        let cut = &p[..p.find("\n\n").unwrap() + 1];
        assert!(matches!(
            verify_entry_proof(&log.header_json(1), cut, &log.vkey()),
            Err(VerifyError::ProofFormat(_))
        ));
    }

    #[test]
    fn body_commitment() {
        let log = log(3);
        let (body, salt) = &log.bodies[2];
        let h = log.header_json(2);
        verify_entry_body(&h, body, &hex::encode(salt)).unwrap();
        let mut changed = body.clone();
        changed["output"] = "not ok".into();
        let err = verify_entry_body(&h, &changed, &hex::encode(salt)).unwrap_err();
        assert!(matches!(
            err,
            VerifyError::Body(HeaderError::BodyMismatch { .. })
        ));
        assert!(err.to_string().starts_with("body does not match"), "{err}");
        assert_eq!(
            verify_entry_body(&h, body, "zz").unwrap_err(),
            VerifyError::SaltHex
        );
        assert!(matches!(
            verify_entry_body(&h, body, "00ff"),
            Err(VerifyError::Body(HeaderError::SaltLength(2)))
        ));
        // Another entry's salt does not open this commitment.
        assert!(verify_entry_body(&h, body, &hex::encode(log.bodies[1].1)).is_err());
    }
}
