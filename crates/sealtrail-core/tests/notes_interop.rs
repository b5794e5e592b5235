//! Interop of our signed notes, keys and checkpoints with the C2SP spec vectors,
//! the Go sumdb documentation keys, and Cloudflare's `signed_note` / `tlog_tiles`.

use proptest::prelude::*;
use rand_core06::{OsRng, RngCore};
use sealtrail_core::checkpoint::{Checkpoint, SignedCheckpoint};
use sealtrail_core::hash::sha256;
use sealtrail_core::note::{
    key_id, Ed25519Signer, Ed25519Verifier, Note, NoteError, NoteSignature, NoteSigner,
    NoteVerifier,
};
use signed_note::{
    Note as CfNote, Signer as _, StandardSigner, StandardVerifier, Verifier as _, VerifierList,
};

const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const SPEC_NOTE: &str = "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

const GO_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
/// The signed note from the Go `golang.org/x/mod/sumdb/note` documentation.
const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

fn seed() -> [u8; 32] {
    let mut s = [0u8; 32];
    OsRng.fill_bytes(&mut s);
    s
}

fn cf_verifiers(vkeys: &[String]) -> VerifierList {
    VerifierList::new(
        vkeys
            .iter()
            .map(|v| Box::new(StandardVerifier::new(v).unwrap()) as Box<dyn signed_note::Verifier>)
            .collect(),
    )
}

fn checkpoint(origin: &str, size: u64, ext: &[&str]) -> Checkpoint {
    Checkpoint {
        origin: origin.into(),
        size,
        root: sha256(&size.to_be_bytes()),
        extensions: ext.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn c2sp_spec_vector() {
    let v = Ed25519Verifier::from_vkey(SPEC_VKEY).unwrap();
    assert_eq!(v.name(), "example.com/foo");
    assert_eq!(v.key_id(), 0x530d903a);
    assert_eq!(v.to_vkey(), SPEC_VKEY);
    let note = Note::parse(SPEC_NOTE.as_bytes()).unwrap();
    assert_eq!(note.text(), "This is an example message.\n");
    let got = note.verify(&[&v]).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].key_id, 0x530d903a);
    assert_eq!(note.to_bytes(), SPEC_NOTE.as_bytes());
}

#[test]
fn go_sumdb_doc_keys_round_trip() {
    let s = Ed25519Signer::from_skey(GO_SKEY).unwrap();
    assert_eq!(s.vkey(), GO_VKEY);
    assert_eq!(s.to_skey(), GO_SKEY);
    assert_eq!(s.key_id(), 0xc74f20a3);
    let v = Ed25519Verifier::from_vkey(GO_VKEY).unwrap();
    assert_eq!(v, s.verifier());
    assert_eq!(v.to_vkey(), GO_VKEY);
    // Ed25519 is deterministic: signing the doc's text reproduces the doc's note.
    let text = GO_NOTE.split_once("\n\n").unwrap().0.to_owned() + "\n";
    let ours = Note::sign(&text, &[&s]).unwrap();
    assert_eq!(ours.to_bytes(), GO_NOTE.as_bytes());
    Note::parse(GO_NOTE.as_bytes())
        .unwrap()
        .verify(&[&v])
        .unwrap();
    // Debug never shows the seed.
    assert!(!format!("{s:?}").contains("AYEKFALV"));
}

#[test]
fn key_strings_interop_both_ways() {
    for _ in 0..20 {
        // Ours -> theirs.
        let ours = Ed25519Signer::from_seed("example.com/ours", seed()).unwrap();
        let cf_v = StandardVerifier::new(&ours.vkey()).unwrap();
        let cf_s = StandardSigner::new(&ours.to_skey()).unwrap();
        assert_eq!(cf_v.key_id(), ours.key_id());
        assert_eq!(cf_s.key_id(), ours.key_id());
        assert_eq!(cf_s.name(), "example.com/ours");
        // Theirs -> ours.
        let (skey, vkey) = signed_note::generate_key(&mut OsRng, "example.com/theirs");
        let s = Ed25519Signer::from_skey(&skey).unwrap();
        assert_eq!(s.vkey(), vkey);
        assert_eq!(s.to_skey(), skey);
        let v = Ed25519Verifier::from_vkey(&vkey).unwrap();
        assert_eq!(v.to_vkey(), vkey);
        assert_eq!(
            signed_note::new_ed25519_verifier_key(
                "example.com/theirs",
                &ed25519_dalek::VerifyingKey::from_bytes(&v.public_key()).unwrap()
            ),
            vkey
        );
    }
}

#[test]
fn our_notes_and_checkpoints_verify_with_cloudflare() {
    let log = Ed25519Signer::from_seed("example.com/log", seed()).unwrap();
    for (size, ext) in [
        (0u64, vec![]),
        (1, vec![]),
        (123_456_789, vec!["ext one", "ext two"]),
    ] {
        let sc =
            SignedCheckpoint::sign(checkpoint("example.com/log", size, &ext), &[&log]).unwrap();
        let bytes = sc.to_bytes();
        let cf = CfNote::from_bytes(&bytes).unwrap();
        let (verified, unverified) = cf.verify(&cf_verifiers(&[log.vkey()])).unwrap();
        assert_eq!(verified.len(), 1);
        assert!(unverified.is_empty());
        let cp = tlog_tiles::Checkpoint::from_bytes(cf.text()).unwrap();
        assert_eq!(cp.origin(), "example.com/log");
        assert_eq!(cp.size(), size);
        assert_eq!(cp.hash().0, sc.checkpoint.root.0);
        let want_ext: String = ext.iter().map(|e| format!("{e}\n")).collect();
        assert_eq!(cp.extension(), want_ext);
        assert_eq!(cp.to_bytes(), sc.checkpoint.to_text().as_bytes());
        assert_eq!(cf.to_bytes(), bytes);
    }
}

#[test]
fn cloudflare_notes_and_checkpoints_verify_with_ours() {
    let (skey, vkey) = signed_note::generate_key(&mut OsRng, "example.com/cf-log");
    let cf_signer = StandardSigner::new(&skey).unwrap();
    let v = Ed25519Verifier::from_vkey(&vkey).unwrap();
    for (size, ext) in [(0u64, ""), (7, ""), (u64::MAX, "a\nb c\n")] {
        let cp = tlog_tiles::Checkpoint::new(
            "example.com/cf-log",
            size,
            tlog_tiles::Hash(sha256(&size.to_le_bytes()).0),
            ext,
        )
        .unwrap();
        let mut note = CfNote::new(&cp.to_bytes(), &[]).unwrap();
        note.add_sigs(&[&cf_signer]).unwrap();
        let bytes = note.to_bytes();
        let opened = SignedCheckpoint::open(&bytes, &[&v]).unwrap();
        assert_eq!(opened.checkpoint.origin, "example.com/cf-log");
        assert_eq!(opened.checkpoint.size, size);
        assert_eq!(opened.checkpoint.root.0, cp.hash().0);
        assert_eq!(opened.checkpoint.to_text().as_bytes(), cp.to_bytes());
        assert_eq!(opened.to_bytes(), bytes);
    }
    // A plain (non-checkpoint) note too.
    let mut note = CfNote::new(b"hello\n\nworld\n", &[]).unwrap();
    note.add_sigs(&[&cf_signer]).unwrap();
    let ours = Note::parse(&note.to_bytes()).unwrap();
    assert_eq!(ours.text(), "hello\n\nworld\n");
    ours.verify(&[&v]).unwrap();
}

/// A note whose first `n - 1` signatures are by random unknown keys and whose
/// last is by `known`.
fn crowded_note(n: usize, known: &Ed25519Signer) -> (Note, Vec<Ed25519Signer>) {
    let others: Vec<Ed25519Signer> = (0..n - 1)
        .map(|i| Ed25519Signer::from_seed(&format!("witness{i}.example"), seed()).unwrap())
        .collect();
    let mut signers: Vec<&dyn NoteSigner> = others.iter().map(|s| s as &dyn NoteSigner).collect();
    signers.push(known);
    (Note::sign("crowded\n", &signers).unwrap(), others)
}

#[test]
fn sixteen_and_a_hundred_signatures_one_known() {
    let known = Ed25519Signer::from_seed("example.com/log", seed()).unwrap();
    let v = known.verifier();
    for n in [16, 100] {
        let (note, _) = crowded_note(n, &known);
        let bytes = note.to_bytes();
        let parsed = Note::parse(&bytes).unwrap();
        assert_eq!(parsed.signatures().len(), n);
        let got = parsed.verify(&[&v]).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, "example.com/log");
        // Cloudflare agrees.
        let (ok, unknown) = CfNote::from_bytes(&bytes)
            .unwrap()
            .verify(&cf_verifiers(&[known.vkey()]))
            .unwrap();
        assert_eq!((ok.len(), unknown.len()), (1, n - 1));
    }
    // 101 is over our cap (and Cloudflare's).
    let mut bytes = crowded_note(100, &known).0.to_bytes();
    bytes.extend_from_slice("— extra.example AAAAAAA=\n".as_bytes());
    assert_eq!(
        Note::parse(&bytes).unwrap_err(),
        NoteError::TooManySignatures { max: 100 }
    );
    assert!(CfNote::from_bytes(&bytes).is_err());
}

#[test]
fn unknown_keys_sharing_name_or_id_are_ignored() {
    let known = Ed25519Signer::from_seed("example.com/log", seed()).unwrap();
    let same_name = Ed25519Signer::from_seed("example.com/log", seed()).unwrap();
    assert_ne!(same_name.key_id(), known.key_id());
    let good = Note::sign("text\n", &[&same_name, &known]).unwrap();
    let mut sigs = good.signatures().to_vec();
    // Same key id, other name, garbage signature.
    sigs.insert(
        0,
        NoteSignature {
            name: "example.com/other".into(),
            key_id: known.key_id(),
            sig: vec![0xAA; 64],
        },
    );
    let note = Note::new(good.text().to_owned(), sigs).unwrap();
    let v = known.verifier();
    let got = note.verify(&[&v]).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].key_id, known.key_id());
    let (ok, _) = CfNote::from_bytes(&note.to_bytes())
        .unwrap()
        .verify(&cf_verifiers(&[known.vkey()]))
        .unwrap();
    assert_eq!(ok.len(), 1);
}

#[test]
fn bad_signature_from_known_key_rejects_the_note() {
    let known = Ed25519Signer::from_seed("example.com/log", seed()).unwrap();
    let other = Ed25519Signer::from_seed("witness.example", seed()).unwrap();
    let good = Note::sign("text\n", &[&other, &known]).unwrap();
    let mut sigs = good.signatures().to_vec();
    sigs[1].sig[10] ^= 0x01;
    let note = Note::new(good.text().to_owned(), sigs).unwrap();
    let (v, w) = (known.verifier(), other.verifier());
    let err = note.verify(&[&w, &v]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "signature by example.com/log (key id {:08x}) does not verify",
            known.key_id()
        )
    );
    assert!(CfNote::from_bytes(&note.to_bytes())
        .unwrap()
        .verify(&cf_verifiers(&[known.vkey(), other.vkey()]))
        .is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn key_ids_agree_with_cloudflare(name in "[^\\s+]{1,40}", pk in any::<[u8; 32]>()) {
        let mut encoded = vec![0x01];
        encoded.extend_from_slice(&pk);
        prop_assert_eq!(key_id(&name, 0x01, &pk), signed_note::key_id(&name, &encoded));
        // Same rule, except that we also refuse ASCII control characters, which
        // can never appear in a valid note anyway.
        let has_control = name.chars().any(|c| c < ' ');
        prop_assert_eq!(
            sealtrail_core::note::is_valid_key_name(&name),
            signed_note::is_key_name_valid(&name) && !has_control
        );
    }

    #[test]
    fn vkeys_agree_with_cloudflare_for_random_names(name in "[a-z0-9./_-]{1,30}", s in any::<[u8; 32]>()) {
        let ours = Ed25519Signer::from_seed(&name, s).unwrap();
        let theirs = StandardVerifier::new(&ours.vkey()).unwrap();
        prop_assert_eq!(theirs.key_id(), ours.key_id());
        prop_assert_eq!(theirs.name(), name.as_str());
        let cf_signer = StandardSigner::new(&ours.to_skey()).unwrap();
        let sig = cf_signer.sign(b"m\n").unwrap();
        prop_assert!(ours.verifier().verify(b"m\n", &sig));
    }
}
