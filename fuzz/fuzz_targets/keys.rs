//! Signed-note key strings: any vkey or private key the parsers accept must
//! print back to an equivalent key (same name, id and key material).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealtrail_core::cosignature::CosignatureVerifier;
use sealtrail_core::note::{Ed25519Signer, Ed25519Verifier, NoteSigner, NoteVerifier};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = Ed25519Verifier::from_vkey(text) {
        let again = Ed25519Verifier::from_vkey(&v.to_vkey()).expect("own vkey parses");
        assert_eq!(again.to_vkey(), v.to_vkey());
        assert_eq!((again.name(), again.key_id()), (v.name(), v.key_id()));
    }
    if let Ok(s) = Ed25519Signer::from_skey(text) {
        let again = Ed25519Signer::from_skey(&s.to_skey()).expect("own skey parses");
        assert_eq!(again.vkey(), s.vkey());
        assert_eq!((again.name(), again.key_id()), (s.name(), s.key_id()));
    }
    if let Ok(v) = CosignatureVerifier::from_vkey(text) {
        let again = CosignatureVerifier::from_vkey(&v.to_vkey()).expect("own vkey parses");
        assert_eq!(again.to_vkey(), v.to_vkey());
    }
});
