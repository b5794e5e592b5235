//! Event decoder + RFC 8785 (JCS) canonicalization: any event that
//! `Event::from_json_slice` accepts must canonicalize, the canonical bytes
//! must decode again, and canonicalizing the re-decoded event must give the
//! same bytes (the JCS form is a fixpoint, which is what hashing relies on).
//!
//! Strict `event == again` is deliberately not asserted: JCS rewrites numbers
//! to their ECMAScript shortest form, so a free-form JSON value such as
//! `"attributes": {"x": 1.0}` legitimately comes back as the integer `1`
//! (`serde_json::Value` distinguishes the two), and `-0.0` comes back as `0`.
//! What must never change is the canonical byte string, i.e. the hash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealtrail_core::event::Event;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = Event::from_json_slice(data) else {
        return;
    };
    let canonical = match event.canonical_bytes() {
        Ok(bytes) => bytes,
        Err(err) => panic!("canonical_bytes() failed on an accepted event: {err:?}"),
    };
    let again = match Event::from_json_slice(&canonical) {
        Ok(again) => again,
        Err(err) => panic!(
            "canonical form does not decode: {err:?}\ncanonical: {}",
            String::from_utf8_lossy(&canonical)
        ),
    };
    let canonical_again = match again.canonical_bytes() {
        Ok(bytes) => bytes,
        Err(err) => panic!("canonical_bytes() failed on the re-decoded event: {err:?}"),
    };
    assert!(
        std::str::from_utf8(&canonical).is_ok(),
        "canonical bytes are not UTF-8"
    );
    assert_eq!(
        String::from_utf8_lossy(&canonical),
        String::from_utf8_lossy(&canonical_again),
        "JCS output is not a fixpoint"
    );
});
