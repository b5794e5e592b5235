//! C2SP signed-note parser: `Note::parse` must never panic, and whatever it
//! accepts must survive a serialize/parse round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealtrail_core::note::Note;

fuzz_target!(|data: &[u8]| {
    let Ok(note) = Note::parse(data) else {
        return;
    };
    let bytes = note.to_bytes();
    let again = match Note::parse(&bytes) {
        Ok(again) => again,
        Err(err) => panic!("re-parse of to_bytes() failed: {err:?}\nbytes: {bytes:?}"),
    };
    assert_eq!(
        note, again,
        "note changed across a to_bytes()/parse round trip"
    );
    assert_eq!(bytes, again.to_bytes(), "to_bytes() is not a fixpoint");
});
