//! tlog-tiles paths and entry bundles: every accepted path is the canonical
//! name of its tile, and every decodable bundle re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealtrail_core::tile::{decode_entry_bundle, encode_entry_bundle, parse_tile_path, TilePath};

fuzz_target!(|data: &[u8]| {
    if let Ok(path) = std::str::from_utf8(data) {
        if let Ok(parsed) = parse_tile_path(path) {
            let name = match parsed {
                TilePath::Hashes(t) => t.path(),
                TilePath::Entries(t) => t.entries_path(),
            };
            assert_eq!(name, path, "accepted a non-canonical tile path");
        }
    }
    if let Ok(entries) = decode_entry_bundle(data) {
        let again = encode_entry_bundle(&entries).expect("decoded entries fit a bundle");
        assert_eq!(again, data, "entry bundle changed across a round trip");
    }
});
