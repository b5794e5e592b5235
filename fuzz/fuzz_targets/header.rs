//! Sealed entry headers: `EntryHeader::parse` accepts only canonical (RFC
//! 8785) bytes, so anything it accepts must serialize back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealtrail_core::header::EntryHeader;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = EntryHeader::parse(data) else {
        return;
    };
    let out = header
        .to_entry_bytes()
        .expect("an accepted header must serialize");
    assert_eq!(out, data, "accepted a non-canonical header");
});
