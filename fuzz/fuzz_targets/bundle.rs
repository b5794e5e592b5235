//! Evidence bundles from arbitrary bytes: the ZIP reader `sealtrail verify`
//! uses (with tight size caps, so memory stays bounded whatever the input
//! claims) and the verifier never panic; a manifest or completeness file
//! that parses serializes back to the same value; an entry line that
//! parses is answered.
//!
//! Input: the first byte picks the layer.
//! - `0`: the rest is a ZIP file.
//! - `1`: the rest is the members themselves, `name \0 bytes` separated by
//!   the two bytes `FF FE` (no ZIP checksums in the way, so mutations reach
//!   the manifest, line and proof parsers).
//!
//! Seeds: `cargo run -p sealtrail-core --features zip --example bundle_seeds`
//! (scripts/fuzz.sh), bundles of a synthetic log signed by the key below.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sealtrail_core::bundle::synthetic::SyntheticLog;
use sealtrail_core::bundle::zip::{verify_zip, ZipLimits, ZipMembers};
use sealtrail_core::bundle::{
    verify_members, CompletenessFile, EntryLine, Manifest, Member, Members, COMPLETENESS, ENTRIES,
    KEYS, MANIFEST,
};
use sealtrail_core::note::{Ed25519Verifier, NoteVerifier};

/// The origin of the seed bundles (bundle_seeds.rs uses the same).
const ORIGIN: &str = "example.com/fuzz";

/// Caps far below the defaults: an input is at most 64 KiB, and a member
/// inflating past this is reported, not read.
const LIMITS: ZipLimits = ZipLimits {
    entries: 1 << 20,
    member: 256 << 10,
};

fn trusted() -> &'static Ed25519Verifier {
    static KEY: OnceLock<Ed25519Verifier> = OnceLock::new();
    KEY.get_or_init(|| {
        SyntheticLog::new(ORIGIN)
            .expect("the synthetic log of the seeds")
            .verifier()
    })
}

/// The keys a bundle carries (what `sealtrail verify` without `--vkey` uses).
fn own_keys(members: &mut dyn Members) -> Vec<Ed25519Verifier> {
    match members.get(KEYS) {
        Member::Present(b) => String::from_utf8_lossy(b)
            .lines()
            .filter_map(|l| Ed25519Verifier::from_vkey(l.trim()).ok())
            .take(4)
            .collect(),
        _ => Vec::new(),
    }
}

fn parsers(members: &BTreeMap<String, Vec<u8>>) {
    if let Some(Ok(m)) = members.get(MANIFEST).map(|b| Manifest::parse(b)) {
        assert_eq!(
            Manifest::parse(&m.to_bytes()).ok(),
            Some(m.clone()),
            "manifest round trip"
        );
        let _ = m.query.describe();
    }
    if let Some(Ok(c)) = members
        .get(COMPLETENESS)
        .map(|b| CompletenessFile::parse(b))
    {
        assert_eq!(
            CompletenessFile::parse(&c.to_bytes()).ok(),
            Some(c.clone()),
            "completeness round trip"
        );
    }
    if let Some(entries) = members.get(ENTRIES) {
        for line in entries.split(|&b| b == b'\n').take(64) {
            let _ = EntryLine::parse(line);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = trusted();
    match mode {
        0 => {
            let (mut members, _) = ZipMembers::open(rest, LIMITS);
            let own = own_keys(&mut members);
            let _ = verify_zip(&mut members, &[key as &dyn NoteVerifier]);
            if !own.is_empty() {
                let (mut members, _) = ZipMembers::open(rest, LIMITS);
                let keys: Vec<&dyn NoteVerifier> =
                    own.iter().map(|k| k as &dyn NoteVerifier).collect();
                let report = verify_zip(&mut members, &keys);
                let _ = report.to_json();
            }
        }
        1 => {
            let mut members = BTreeMap::new();
            let mut rest = rest;
            while !rest.is_empty() {
                let end = rest
                    .windows(2)
                    .position(|w| w == [0xFF, 0xFE])
                    .unwrap_or(rest.len());
                let part = &rest[..end];
                rest = rest.get(end + 2..).unwrap_or(&[]);
                let (name, bytes) = match part.iter().position(|&b| b == 0) {
                    Some(i) => (&part[..i], &part[i + 1..]),
                    None => (part, &[][..]),
                };
                members.insert(String::from_utf8_lossy(name).into_owned(), bytes.to_vec());
            }
            parsers(&members);
            let report = verify_members(&mut members, &[key as &dyn NoteVerifier]);
            let _ = report.to_json();
        }
        _ => {}
    }
});
