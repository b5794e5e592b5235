//! C2SP tlog-proof@v1 parser: `TlogProof::parse` must never panic, and whatever
//! it accepts must survive a serialize/parse round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealtrail_core::tlog_proof::TlogProof;

fuzz_target!(|data: &[u8]| {
    let Ok(proof) = TlogProof::parse(data) else {
        return;
    };
    let bytes = proof.to_bytes();
    let again = match TlogProof::parse(&bytes) {
        Ok(again) => again,
        Err(err) => panic!("re-parse of to_bytes() failed: {err:?}\nbytes: {bytes:?}"),
    };
    assert_eq!(
        proof, again,
        "proof changed across a to_bytes()/parse round trip"
    );
    assert_eq!(bytes, again.to_bytes(), "to_bytes() is not a fixpoint");
});
