//! Tamper evidence and robustness of signed notes, checkpoints and tlog-proofs:
//! - flipping any single bit of a signed checkpoint or a tlog-proof makes it fail
//!   (parse error or verification error), never verify;
//! - parse(to_bytes(x)) == x;
//! - arbitrary bytes never make a parser panic.

use proptest::prelude::*;
use sealtrail_core::checkpoint::{Checkpoint, OriginCheck, SignedCheckpoint};
use sealtrail_core::cosignature::{CosignatureSigner, CosignatureVerifier};
use sealtrail_core::hash::{leaf_hash, Hash};
use sealtrail_core::note::{Ed25519Signer, Ed25519Verifier, Note, NoteSignature, NoteVerifier};
use sealtrail_core::proof::{prove_inclusion, MemoryTree};
use sealtrail_core::tlog_proof::TlogProof;

const LOG: &str = "example.com/log";

fn log_key() -> Ed25519Signer {
    Ed25519Signer::from_seed(LOG, [7; 32]).unwrap()
}

fn witness_key() -> CosignatureSigner {
    CosignatureSigner::from_seed("witness.example/w1", [9; 32]).unwrap()
}

fn flip(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[bit / 8] ^= 1 << (bit % 8);
    out
}

/// Checkpoint strategy: origin, size, root and up to two extension lines.
fn checkpoints() -> impl Strategy<Value = Checkpoint> {
    (
        "[a-z0-9.]{1,12}(/[a-z0-9]{1,8})?",
        any::<u64>(),
        any::<[u8; 32]>(),
        proptest::collection::vec("[^\\x00-\\x1f]{1,30}", 0..3),
    )
        .prop_map(|(origin, size, root, extensions)| Checkpoint {
            origin,
            size,
            root: Hash(root),
            extensions,
        })
}

/// A log key named after the checkpoint's origin.
fn signed(cp: Checkpoint) -> (Ed25519Signer, SignedCheckpoint) {
    let key = Ed25519Signer::from_seed(&cp.origin, [3; 32]).unwrap();
    let sc = SignedCheckpoint::sign(cp, &[&key]).unwrap();
    (key, sc)
}

/// A tree of `n` leaves, a signed checkpoint over it and a proof for `index`.
fn proof_fixture(n: u64, index: u64, extra: Option<Vec<u8>>) -> (Hash, TlogProof) {
    let mut tree = MemoryTree::new();
    for i in 0..n {
        tree.push(leaf_hash(&i.to_le_bytes()));
    }
    let cp = Checkpoint {
        origin: LOG.into(),
        size: n,
        root: tree.root(),
        extensions: vec![],
    };
    let sc = SignedCheckpoint::sign(cp, &[&log_key()]).unwrap();
    let proof = TlogProof {
        extra,
        index,
        path: prove_inclusion(&tree, index, n).unwrap(),
        checkpoint: sc.to_bytes(),
    };
    (leaf_hash(&index.to_le_bytes()), proof)
}

fn proof_accepts(bytes: &[u8], leaf: &Hash, v: &dyn NoteVerifier) -> Option<TlogProof> {
    let p = TlogProof::parse(bytes).ok()?;
    p.verify(leaf, &[v]).ok().map(|_| p)
}

#[test]
fn every_bit_flip_of_a_signed_checkpoint_is_rejected() {
    let cp = Checkpoint {
        origin: LOG.into(),
        size: 1_234_567,
        root: leaf_hash(b"root"),
        extensions: vec!["ext line".into()],
    };
    let key = log_key();
    let bytes = SignedCheckpoint::sign(cp, &[&key]).unwrap().to_bytes();
    let v = key.verifier();
    assert!(SignedCheckpoint::open(&bytes, &[&v]).is_ok());
    for bit in 0..bytes.len() * 8 {
        let t = flip(&bytes, bit);
        assert!(
            SignedCheckpoint::open(&t, &[&v]).is_err(),
            "bit {bit} flip accepted"
        );
    }
}

#[test]
fn cosigned_checkpoint_bit_flips_can_only_drop_signatures() {
    // With several trusted signers, a flip in one signature's name or key id makes
    // it an unknown key's signature, which the spec says to ignore. So the honest
    // property is: never accepted with a tampered signature or text, and never
    // more signatures than the original.
    let key = log_key();
    let w = witness_key();
    let cp = Checkpoint {
        origin: LOG.into(),
        size: 99,
        root: leaf_hash(b"r"),
        extensions: vec![],
    };
    let mut sc = SignedCheckpoint::sign(cp, &[&key]).unwrap();
    sc.add_signatures(&[&w.at(1_700_000_000).unwrap()]).unwrap();
    let bytes = sc.to_bytes();
    let (lv, wv) = (key.verifier(), w.verifier());
    let list: [&dyn NoteVerifier; 2] = [&lv, &wv];
    let (_, all) = SignedCheckpoint::open_with(&bytes, &list, OriginCheck::MatchKeyName).unwrap();
    assert_eq!(all.len(), 2);
    let mut dropped = 0;
    for bit in 0..bytes.len() * 8 {
        let t = flip(&bytes, bit);
        if let Ok((got, sigs)) = SignedCheckpoint::open_with(&t, &list, OriginCheck::MatchKeyName) {
            assert_eq!(got.checkpoint, sc.checkpoint, "bit {bit}");
            assert!(sigs.len() < all.len(), "bit {bit} flip accepted in full");
            assert!(sigs.iter().all(|s| all.contains(s)), "bit {bit}");
            dropped += 1;
        }
    }
    // Only flips inside the witness line's name/key id can do that.
    assert!(dropped > 0);
}

#[test]
fn every_bit_flip_of_a_tlog_proof_is_rejected() {
    let (leaf, proof) = proof_fixture(21, 13, None);
    let bytes = proof.to_bytes();
    let key = log_key();
    let v = key.verifier();
    assert!(proof_accepts(&bytes, &leaf, &v).is_some());
    for bit in 0..bytes.len() * 8 {
        assert!(
            proof_accepts(&flip(&bytes, bit), &leaf, &v).is_none(),
            "bit {bit} flip accepted"
        );
    }
}

#[test]
fn tlog_proof_extra_is_unauthenticated_but_nothing_else_is() {
    // The spec says `extra` is not authenticated: a flip there may still verify,
    // but then it must show up as different extra data, never as anything else.
    let (leaf, proof) = proof_fixture(5, 4, Some(b"context".to_vec()));
    let bytes = proof.to_bytes();
    let v = log_key().verifier();
    for bit in 0..bytes.len() * 8 {
        if let Some(p) = proof_accepts(&flip(&bytes, bit), &leaf, &v) {
            assert_ne!(p.extra, proof.extra, "bit {bit}");
            assert_eq!(
                (p.index, &p.path, &p.checkpoint),
                (proof.index, &proof.path, &proof.checkpoint)
            );
        }
    }
}

fn notes() -> impl Strategy<Value = Note> {
    (
        "([^\\x00-\\x09\\x0b-\\x1f]{0,40}\n){1,6}",
        proptest::collection::vec(
            (
                "[^\\s+\\x00-\\x1f]{1,20}",
                any::<u32>(),
                proptest::collection::vec(any::<u8>(), 1..80),
            ),
            1..20,
        ),
    )
        .prop_map(|(text, sigs)| {
            let sigs = sigs
                .into_iter()
                .map(|(name, key_id, sig)| NoteSignature { name, key_id, sig })
                .collect();
            Note::new(text, sigs).unwrap()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_bit_flip_of_random_signed_checkpoint_is_rejected(
        cp in checkpoints(),
        bit in any::<prop::sample::Index>(),
    ) {
        let (key, sc) = signed(cp);
        let bytes = sc.to_bytes();
        let v = key.verifier();
        prop_assert!(SignedCheckpoint::open(&bytes, &[&v]).is_ok());
        let bit = bit.index(bytes.len() * 8);
        prop_assert!(SignedCheckpoint::open(&flip(&bytes, bit), &[&v]).is_err());
    }

    #[test]
    fn random_bit_flip_of_random_tlog_proof_is_rejected(
        (n, index) in (1u64..200).prop_flat_map(|n| (Just(n), 0..n)),
        bit in any::<prop::sample::Index>(),
    ) {
        let (leaf, proof) = proof_fixture(n, index, None);
        let bytes = proof.to_bytes();
        let v = log_key().verifier();
        prop_assert!(proof_accepts(&bytes, &leaf, &v).is_some());
        let bit = bit.index(bytes.len() * 8);
        prop_assert!(proof_accepts(&flip(&bytes, bit), &leaf, &v).is_none());
    }

    #[test]
    fn note_round_trips(note in notes()) {
        prop_assert_eq!(Note::parse(&note.to_bytes()).unwrap(), note);
    }

    #[test]
    fn checkpoint_round_trips(cp in checkpoints()) {
        prop_assert_eq!(Checkpoint::parse(&cp.to_text()).unwrap(), cp.clone());
        let (key, sc) = signed(cp);
        let v = key.verifier();
        prop_assert_eq!(SignedCheckpoint::open(&sc.to_bytes(), &[&v]).unwrap(), sc);
    }

    #[test]
    fn tlog_proof_round_trips(
        extra in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        index in any::<u64>(),
        path in proptest::collection::vec(any::<[u8; 32]>(), 0..=64),
        note in notes(),
        cp in checkpoints(),
    ) {
        // Any well-formed checkpoint note: signatures are checked by verify, not parse.
        let sigs = note.signatures().to_vec();
        let checkpoint = Note::new(cp.to_text(), sigs).unwrap().to_bytes();
        let p = TlogProof { extra, index, path: path.into_iter().map(Hash).collect(), checkpoint };
        prop_assert_eq!(TlogProof::parse(&p.to_bytes()).unwrap(), p);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Note::parse(&bytes);
        let _ = TlogProof::parse(&bytes);
        let s = String::from_utf8_lossy(&bytes);
        let _ = Checkpoint::parse(&s);
        let _ = Ed25519Verifier::from_vkey(&s);
        let _ = Ed25519Signer::from_skey(&s);
        let _ = CosignatureVerifier::from_vkey(&s);
        let _ = CosignatureSigner::from_skey(&s);
        let v = log_key().verifier();
        let _ = SignedCheckpoint::open(&bytes, &[&v]);
    }

    #[test]
    fn parsers_never_panic_on_mangled_valid_input(
        (n, index) in (1u64..40).prop_flat_map(|n| (Just(n), 0..n)),
        cut in any::<prop::sample::Index>(),
        junk in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        // Valid prefix + junk reaches the deeper parsing paths.
        let (leaf, proof) = proof_fixture(n, index, Some(vec![1, 2, 3]));
        let mut bytes = proof.to_bytes();
        bytes.truncate(cut.index(bytes.len() + 1));
        bytes.extend_from_slice(&junk);
        let v = log_key().verifier();
        if let Ok(p) = TlogProof::parse(&bytes) {
            let _ = p.verify(&leaf, &[&v]);
        }
        let _ = Note::parse(&proof.checkpoint[..cut.index(proof.checkpoint.len() + 1)]);
        let _ = Checkpoint::parse(&String::from_utf8_lossy(&bytes));
    }
}
