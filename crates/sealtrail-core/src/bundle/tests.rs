//! Bundles from the synthetic log: honest ones verify, and each kind of
//! tampering is reported against the right entry.

use std::collections::BTreeMap;

use super::synthetic::SyntheticLog;
use super::*;
use crate::filter::EventFilter;
use crate::note::NoteVerifier;

/// Three agents over two sessions, times 1000, 1010, 1020, …
fn log() -> SyntheticLog {
    let mut log = SyntheticLog::new("example.com/log").unwrap();
    for i in 0..60u64 {
        let agent = ["bot", "other", "third"][(i % 3) as usize];
        let session = if i % 2 == 0 { "s1" } else { "s2" };
        let kind = if i % 5 == 0 { "decision" } else { "tool_call" };
        log.append(agent, Some(session), kind, 1000 + 10 * i)
            .unwrap();
    }
    log
}

fn verify(log: &SyntheticLog, members: &mut BTreeMap<String, Vec<u8>>) -> Report {
    let v = log.verifier();
    verify_members(members, &[&v as &dyn NoteVerifier])
}

fn q(agent: Option<&str>, from: Option<u64>, to: Option<u64>) -> EventFilter {
    EventFilter {
        agent: agent.map(str::to_owned),
        from,
        to,
        ..EventFilter::default()
    }
}

/// Both formats: every test runs on each.
const VERSIONS: [u64; 2] = [1, 2];

fn bundle(
    log: &mut SyntheticLog,
    query: &EventFilter,
    bodies: bool,
    v: u64,
) -> BTreeMap<String, Vec<u8>> {
    if v == 1 {
        log.bundle_v1(query, bodies).unwrap()
    } else {
        log.bundle(query, bodies).unwrap()
    }
}

/// The entries members' names, in order.
fn entries_members(m: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    super::entries_members(m.keys())
}

fn lines(m: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    entries_members(m)
        .iter()
        .flat_map(|k| {
            String::from_utf8(m[k].clone())
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Puts `lines` back: into `entries.jsonl` (version 1) or one entries
/// member (version 2, with the manifest's count of members fixed).
fn set_lines(m: &mut BTreeMap<String, Vec<u8>>, lines: &[String]) {
    let mut s = lines.join("\n");
    s.push('\n');
    let names = entries_members(m);
    for k in &names {
        m.remove(k);
    }
    if names.iter().any(|k| k == ENTRIES) {
        m.insert(ENTRIES.into(), s.into_bytes());
    } else {
        m.insert(chunk_member(0), s.into_bytes());
        let mut manifest = Manifest::parse(&m[MANIFEST]).unwrap();
        manifest.chunks = Some(1);
        m.insert(MANIFEST.into(), manifest.to_bytes());
    }
}

fn assert_names(report: &Report, entry: u64, what: &str) {
    assert!(
        report
            .failures_for(entry)
            .any(|f| f.to_string().contains(what)),
        "expected a failure for entry {entry} containing {what:?}, got: {:#?}",
        report.failures
    );
}

#[test]
fn honest_bundles_verify() {
    let mut log = log();
    let queries = [
        q(Some("bot"), Some(1100), Some(1400)),
        q(Some("bot"), None, None),
        q(Some("bot"), Some(1100), None),
        q(Some("nobody"), Some(1100), Some(1400)),
        q(Some("bot"), Some(5000), Some(6000)),
        q(None, Some(1100), Some(1400)),
        q(None, None, None),
        q(None, Some(5000), None),
        q(None, Some(0), Some(10)),
        q(None, Some(1101), Some(1102)),
        EventFilter {
            session: Some("s1".into()),
            kind: Some("decision".into()),
            from: Some(1050),
            to: Some(1300),
            ..EventFilter::default()
        },
        EventFilter {
            kind: Some("decision".into()),
            ..EventFilter::default()
        },
    ];
    for (query, v) in queries.iter().flat_map(|q| VERSIONS.map(|v| (q, v))) {
        for with_bodies in [true, false] {
            let mut m = bundle(&mut log, query, with_bodies, v);
            let r = verify(&log, &mut m);
            assert!(r.ok(), "v{v} {query:?}: {:#?}", r.failures);
            let claimed = query.completeness_stream().is_some() || query.is_time_only();
            assert_eq!(r.complete, claimed, "{query:?}");
            assert_eq!(r.proven, r.counts.entries);
        }
    }
}

#[test]
fn tampered_bodies_headers_salts_and_proofs_name_their_entry() {
    for v in VERSIONS {
        tampered_bodies_headers_salts_and_proofs(v);
    }
}

fn tampered_bodies_headers_salts_and_proofs(v: u64) {
    let mut log = log();
    let query = q(Some("bot"), Some(1100), Some(1400));
    let honest = bundle(&mut log, &query, true, v);
    let ls = lines(&honest);
    // Line 1 is entry 12 (the first match; line 0 is the "before" entry 9).
    assert!(ls[1].starts_with("{\"index\":12,\"role\":\"match\""));

    // A body byte.
    let mut m = honest.clone();
    let mut l = ls.clone();
    l[1] = l[1].replacen("lookup", "lookuq", 2);
    set_lines(&mut m, &l);
    let r = verify(&log, &mut m);
    assert_names(&r, 12, "body does not match the header's commitment");

    // A salt byte.
    let mut m = honest.clone();
    let mut l = ls.clone();
    let at = l[1].find("\"salt\":\"").unwrap() + 8;
    let flipped = if &l[1][at..at + 1] == "0" { "1" } else { "0" };
    l[1].replace_range(at..at + 1, flipped);
    set_lines(&mut m, &l);
    assert_names(&verify(&log, &mut m), 12, "body does not match");

    // A header byte (the kind): the leaf changes, the proof fails.
    let mut m = honest.clone();
    let mut l = ls.clone();
    l[1] = l[1].replacen("tool_call", "tool_cbll", 1);
    set_lines(&mut m, &l);
    let r = verify(&log, &mut m);
    if v == 1 {
        assert_names(&r, 12, "do not lead to the checkpoint's root");
    } else {
        // One shared proof: it cannot say which leaf changed, and proves none.
        assert_eq!(r.proven, 0);
        assert!(
            r.failures.iter().any(|f| f
                .problem
                .to_string()
                .contains("no entry of the bundle is proven")),
            "{:#?}",
            r.failures
        );
    }

    // A proof byte: a hash of entry 15's proof file (version 1), a gap hash
    // of entry 15's line (version 2).
    let mut m = honest.clone();
    if v == 1 {
        let p = m.get_mut(&proof_member(15)).unwrap();
        let at = p.iter().position(|&b| b == b'\n').unwrap() + 12;
        let at = at + p[at..].iter().position(|&b| b == b'\n').unwrap() + 3;
        p[at] = if p[at] == b'A' { b'B' } else { b'A' };
        let r = verify(&log, &mut m);
        assert_names(&r, 15, "proof");
        assert_eq!(r.failures.len(), 1, "{:#?}", r.failures);
    } else {
        let mut l = ls.clone();
        let at = l[2].find("\"gaps\":[\"").unwrap() + 10;
        let flipped = if &l[2][at..at + 1] == "A" { "B" } else { "A" };
        l[2].replace_range(at..at + 1, flipped);
        set_lines(&mut m, &l);
        let r = verify(&log, &mut m);
        assert_eq!(r.proven, 0);
        assert_eq!(r.failures.len(), 1, "{:#?}", r.failures);
        assert!(r.failures[0]
            .to_string()
            .contains("not the checkpoint's root"));
        assert!(!r.complete);

        // A gap hash moved to the next entry's line: the proof does not fit.
        let mut m = honest.clone();
        let mut l = ls.clone();
        let start = l[2].find(",\"gaps\":[").unwrap();
        let end = l[2].find("],\"header\"").unwrap() + 1;
        let gaps = l[2][start..end].to_owned();
        l[2].replace_range(start..end, "");
        let at = l[3].find(",\"gaps\":[").unwrap() + 9;
        l[3].insert_str(at, &format!("{},", &gaps[9..gaps.len() - 1]));
        set_lines(&mut m, &l);
        let r = verify(&log, &mut m);
        assert_names(&r, 15, "gap hashes where the entries around them need");
        assert_eq!(r.proven, 0);

        // The manifest's gaps after the last entry.
        let mut m = honest.clone();
        let mut manifest = Manifest::parse(&m[MANIFEST]).unwrap();
        manifest.gaps_after.as_mut().unwrap().pop();
        m.insert(MANIFEST.into(), manifest.to_bytes());
        let r = verify(&log, &mut m);
        assert!(
            r.failures
                .iter()
                .any(|f| f.to_string().contains("gaps_after")),
            "{:#?}",
            r.failures
        );
    }

    // The checkpoint's signature.
    let mut m = honest.clone();
    let cp = m.get_mut(CHECKPOINT).unwrap();
    let n = cp.len();
    cp[n - 5] = if cp[n - 5] == b'A' { b'B' } else { b'A' };
    let r = verify(&log, &mut m);
    assert!(r
        .failures
        .iter()
        .any(|f| f.member == CHECKPOINT && f.entry.is_none()));
    assert!(!r.complete);
}

/// Version 2's members: a missing, an extra and a reordered entries member.
#[test]
fn entries_members_missing_extra_or_reordered_fail() {
    let mut log = log();
    let query = q(None, None, None);
    let honest = log.bundle(&query, false).unwrap();
    let ls = lines(&honest);
    // Split the 60 lines into three members, as a writer with small
    // members would.
    let mut m = honest.clone();
    for k in entries_members(&m) {
        m.remove(&k);
    }
    for (k, part) in ls.chunks(20).enumerate() {
        m.insert(
            chunk_member(k as u64),
            format!("{}\n", part.join("\n")).into_bytes(),
        );
    }
    let mut manifest = Manifest::parse(&m[MANIFEST]).unwrap();
    manifest.chunks = Some(3);
    m.insert(MANIFEST.into(), manifest.to_bytes());
    let r = verify(&log, &mut m);
    assert!(r.ok(), "{:#?}", r.failures);
    assert_eq!(r.proven, 60);

    let mut missing = m.clone();
    missing.remove(&chunk_member(1));
    let r = verify(&log, &mut missing);
    assert!(r
        .failures
        .iter()
        .any(|f| f.member == "entries/1.jsonl" && f.problem == Problem::MemberMissing));
    assert_eq!(r.proven, 0);

    let mut extra = m.clone();
    extra.insert(chunk_member(3), m[&chunk_member(2)].clone());
    let r = verify(&log, &mut extra);
    assert!(
        r.failures.iter().any(|f| f.member == "entries/3.jsonl"
            && f.to_string().contains("beyond the manifest's count")),
        "{:#?}",
        r.failures
    );

    let mut swapped = m.clone();
    let (a, b) = (m[&chunk_member(0)].clone(), m[&chunk_member(1)].clone());
    swapped.insert(chunk_member(0), b);
    swapped.insert(chunk_member(1), a);
    let r = verify(&log, &mut swapped);
    assert_names(&r, 0, "comes after entry 39");
}

#[test]
fn deleted_swapped_forged_and_omitted_entries_are_named() {
    for v in VERSIONS {
        deleted_swapped_forged_and_omitted(v);
    }
}

fn deleted_swapped_forged_and_omitted(v: u64) {
    let mut log = log();
    let query = q(Some("bot"), Some(1100), Some(1400));
    let honest = bundle(&mut log, &query, true, v);
    let ls = lines(&honest);

    // Delete entry 18 (line and proof), fixing the manifest counts: the
    // omission test.
    let mut m = honest.clone();
    let l: Vec<String> = ls
        .iter()
        .filter(|l| !l.starts_with("{\"index\":18,"))
        .cloned()
        .collect();
    set_lines(&mut m, &l);
    m.remove(&proof_member(18));
    let mut manifest = Manifest::parse(&m[MANIFEST]).unwrap();
    manifest.counts.entries -= 1;
    manifest.counts.matches -= 1;
    manifest.counts.bodies -= 1;
    m.insert(MANIFEST.into(), manifest.to_bytes());
    let r = verify(&log, &mut m);
    assert_names(
        &r,
        18,
        "links to previous entry 18, which is not in the bundle",
    );
    assert!(!r.complete);

    // Swap two lines.
    let mut m = honest.clone();
    let mut l = ls.clone();
    l.swap(2, 3);
    set_lines(&mut m, &l);
    let r = verify(&log, &mut m);
    assert_names(&r, 15, "comes after entry 18");

    // Append a forged entry with a made-up proof.
    let mut m = honest.clone();
    let mut l = ls.clone();
    let forged = log.entries[57].header.clone();
    let mut forged = forged;
    forged.index = 60;
    forged.agent = "bot".into();
    let bytes = forged.to_entry_bytes().unwrap();
    let mut line = Vec::new();
    write_entry_line(&mut line, 60, Role::Match, &[], &bytes, None).unwrap();
    l.push(String::from_utf8(line).unwrap().trim_end().to_owned());
    set_lines(&mut m, &l);
    // The made-up proof: entry 42's path under index 60.
    if v == 1 {
        let text = String::from_utf8(m[&proof_member(42)].clone()).unwrap();
        let fake = text.replacen("index 42", "index 60", 1).into_bytes();
        m.insert(proof_member(60), fake);
    }
    let r = verify(&log, &mut m);
    assert_names(&r, 60, "not in the checkpoint's tree");

    // Drop the last match and the "after" entry: the heads proof shows
    // the stream went on.
    let mut m = honest.clone();
    let l: Vec<String> = ls[..ls.len() - 2].to_vec();
    set_lines(&mut m, &l);
    let r = verify(&log, &mut m);
    assert!(!r.complete);
    assert!(
        r.failures.iter().any(|f| f
            .problem
            .to_string()
            .contains("entries after it were left out")),
        "{:#?}",
        r.failures
    );
}

/// The omission test with every proof rebuilt: a forger who holds the whole
/// log drops one match and writes a bundle that is honest in every other
/// respect (counts, proofs or gap hashes, completeness file). Only the
/// completeness checks can tell, and they name the dropped entry.
#[test]
fn an_omission_with_every_proof_rebuilt_is_named() {
    for v in VERSIONS {
        let mut log = log();
        let query = q(Some("bot"), Some(1100), Some(1400));
        let selection: Vec<(u64, Role)> = log
            .select(&query)
            .into_iter()
            .filter(|&(i, _)| i != 18)
            .collect();
        let mut m = log.bundle_of(&query, true, v, &selection).unwrap();
        let r = verify(&log, &mut m);
        assert_names(
            &r,
            18,
            "links to previous entry 18, which is not in the bundle",
        );
        assert!(!r.complete);
        assert_eq!(r.proven, r.counts.entries, "every entry shown is proven");
        assert!(
            r.failures.iter().all(|f| f.entry == Some(18)),
            "v{v}: {:#?}",
            r.failures
        );

        // A time-range bundle without entry 20: the range's gap is named.
        let range = q(None, Some(1100), Some(1400));
        let selection: Vec<(u64, Role)> = log
            .select(&range)
            .into_iter()
            .filter(|&(i, _)| i != 20)
            .collect();
        let mut m = log.bundle_of(&range, false, v, &selection).unwrap();
        let r = verify(&log, &mut m);
        assert_names(&r, 20, "entry 20 is missing");
        assert!(
            r.failures.iter().all(|f| f.entry == Some(20)),
            "v{v}: {:#?}",
            r.failures
        );
    }
}

#[test]
fn a_hidden_match_and_a_range_gap_are_caught() {
    for v in VERSIONS {
        a_hidden_match_and_a_range_gap(v);
    }
}

fn a_hidden_match_and_a_range_gap(v: u64) {
    let mut log = log();
    let query = EventFilter {
        agent: Some("bot".into()),
        kind: Some("decision".into()),
        ..EventFilter::default()
    };
    let honest = bundle(&mut log, &query, true, v);
    let mut m = honest.clone();
    let l: Vec<String> = lines(&m)
        .into_iter()
        .map(|l| {
            if l.starts_with("{\"index\":15,") {
                let cut = l.find(",\"salt\"").unwrap();
                format!("{},\"salt\":null,\"body\":null}}", &l[..cut]).replacen(
                    "\"match\"",
                    "\"stream\"",
                    1,
                )
            } else {
                l
            }
        })
        .collect();
    set_lines(&mut m, &l);
    assert_names(&verify(&log, &mut m), 15, "should be a match");

    let range = q(None, Some(1100), Some(1400));
    let mut m = bundle(&mut log, &range, false, v);
    let l: Vec<String> = lines(&m)
        .into_iter()
        .filter(|l| !l.starts_with("{\"index\":20,"))
        .collect();
    set_lines(&mut m, &l);
    assert_names(&verify(&log, &mut m), 20, "entry 20 is missing");
}

#[test]
fn proof_member_names_round_trip() {
    assert_eq!(proof_member(0), "proofs/0.tlog-proof");
    assert_eq!(proof_member_index("proofs/1234.tlog-proof"), Some(1234));
    assert_eq!(proof_member_index("proofs/01.tlog-proof"), None);
    assert_eq!(proof_member_index("proofs/.tlog-proof"), None);
    assert_eq!(chunk_member(0), "entries/0.jsonl");
    assert_eq!(chunk_member_index("entries/17.jsonl"), Some(17));
    assert_eq!(chunk_member_index("entries/017.jsonl"), None);
    assert_eq!(chunk_member_index("entries.jsonl"), None);
}

mod mutations {
    use super::*;
    use crate::note::Ed25519Verifier;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    /// One honest agent bundle and its key, built once.
    /// A bundle's vkey and members.
    type Honest = (String, BTreeMap<String, Vec<u8>>);

    fn honest(v: u64) -> &'static Honest {
        static B: OnceLock<[Honest; 2]> = OnceLock::new();
        &B.get_or_init(|| {
            VERSIONS.map(|v| {
                let mut log = log();
                let m = bundle(&mut log, &q(Some("bot"), Some(1100), Some(1400)), true, v);
                (log.vkey(), m)
            })
        })[(v - 1) as usize]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any changed byte of any member: the verifier never panics, and a
        /// change to the entries, a proof or the checkpoint never verifies.
        #[test]
        fn any_changed_byte_is_caught_without_panic(
            member in 0usize..64,
            at in any::<prop::sample::Index>(),
            xor in 1u8..=255,
            v in 1u64..=2,
        ) {
            let (vkey, honest) = honest(v);
            let mut m = honest.clone();
            let names: Vec<String> = m.keys().cloned().collect();
            let name = names[member % names.len()].clone();
            let bytes = m.get_mut(&name).unwrap();
            let i = at.index(bytes.len());
            bytes[i] ^= xor;
            let v = Ed25519Verifier::from_vkey(vkey).unwrap();
            let r = verify_members(&mut m, &[&v as &dyn NoteVerifier]);
            let must_fail = name == ENTRIES
                || name == CHECKPOINT
                || name.starts_with("proofs/")
                || chunk_member_index(&name).is_some();
            if must_fail {
                prop_assert!(!r.ok(), "changing byte {i} of {name} went unnoticed");
            }
        }
    }
}
