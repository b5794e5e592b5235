//! The exported functions as plain Rust: each case of honest and tampered
//! evidence gives exactly its failing checks, named, with a detail that
//! says what was altered; bundles get the verdict `sealtrail verify` gives.

use std::collections::BTreeMap;

use sealtrail_core::bundle::zip::{verify_zip, ZipLimits, ZipMembers};
use sealtrail_core::bundle::{verify_members, Report};
use sealtrail_core::note::{Ed25519Verifier, NoteVerifier};
use sealtrail_wasm::entry::{BODY, CONSISTENCY, INCLUSION, LEAF, SIGNATURE};
use sealtrail_wasm::fixtures::{bundle_cases, entry_cases, TestLog};
use sealtrail_wasm::{verify_bundle, verify_bundle_json, verify_entry, verify_entry_json, Verdict};

fn failing(v: &Verdict) -> Vec<&'static str> {
    v.checks.iter().filter(|c| !c.ok).map(|c| c.name).collect()
}

/// The first failing check's detail, or the warnings when all pass.
fn said(v: &Verdict) -> String {
    match v.checks.iter().find(|c| !c.ok) {
        Some(c) => c.detail.clone(),
        None => v.warnings.join("\n"),
    }
}

#[test]
fn every_entry_case_fails_exactly_the_checks_it_should() {
    let cases = entry_cases().unwrap();
    assert!(cases.len() >= 14);
    for c in cases {
        let v = verify_entry(&c.evidence);
        let names: Vec<&str> = v.checks.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [BODY, LEAF, SIGNATURE, INCLUSION, CONSISTENCY],
            "{}: every check is reported, in order",
            c.name
        );
        assert_eq!(failing(&v), c.failing, "{}: {v:#?}", c.name);
        assert_eq!(v.ok, c.failing.is_empty(), "{}", c.name);
        assert!(
            said(&v).contains(c.says),
            "{}: {:?} does not say {:?}",
            c.name,
            said(&v),
            c.says
        );
    }
}

#[test]
fn the_json_surface_gives_the_same_verdict() {
    for c in entry_cases().unwrap() {
        let input = serde_json::to_vec(&c.evidence).unwrap();
        let out: serde_json::Value =
            serde_json::from_slice(&verify_entry_json(&input).unwrap()).unwrap();
        let native = serde_json::to_value(verify_entry(&c.evidence)).unwrap();
        assert_eq!(out, native, "{}", c.name);
        assert_eq!(out["ok"], c.failing.is_empty(), "{}", c.name);
    }
    let refusal = verify_entry_json(br#"{"entry": {}, "proof": {}}"#).unwrap_err();
    assert!(
        refusal.0.contains("missing field `checkpoint`"),
        "{refusal:?}"
    );
    let refusal = verify_bundle_json(b"", b"{}").unwrap_err();
    assert!(refusal.0.contains("JSON array of strings"), "{refusal:?}");
}

#[test]
fn fork_and_rollback_are_warned_about_loudly() {
    for c in entry_cases().unwrap() {
        let v = verify_entry(&c.evidence);
        for word in ["FORK", "ROLLBACK"] {
            if c.says == word {
                assert!(
                    v.warnings.iter().any(|w| w.starts_with(word)),
                    "{}: {:?}",
                    c.name,
                    v.warnings
                );
            }
        }
    }
}

#[test]
fn a_response_that_is_not_json_fails_its_checks_without_refusing() {
    let mut t = TestLog::new(4).unwrap();
    let mut e = t.evidence(2).unwrap();
    let text = e.entry.to_string();
    e.entry = serde_json::Value::String(text[..text.len() - 3].to_string());
    let v = verify_entry(&e);
    assert!(!v.ok);
    assert_eq!(failing(&v), [BODY, LEAF, INCLUSION]);
    assert!(said(&v).contains("the entry (GET /v1/entries/{index}) response cannot be read"));
    // The signature and the checkpoint are still checked on their own.
    assert!(v.check(SIGNATURE).unwrap().ok);
}

#[test]
fn a_proof_against_another_tree_size_names_the_size_to_ask_for() {
    let mut t = TestLog::new(9).unwrap();
    let mut e = t.evidence(3).unwrap();
    e.proof = t.proof(3, 7).unwrap();
    let v = verify_entry(&e);
    assert_eq!(failing(&v), [INCLUSION]);
    assert!(
        said(&v).contains("ask for the proof with ?size=9"),
        "{}",
        said(&v)
    );
}

/// `sealtrail verify`'s report on the same members, read without the ZIP.
fn cli_report(members: &mut BTreeMap<String, Vec<u8>>, vkey: &str) -> Report {
    let key = Ed25519Verifier::from_vkey(vkey).unwrap();
    verify_members(members, &[&key as &dyn NoteVerifier])
}

#[test]
fn every_bundle_case_fails_exactly_the_checks_it_should() {
    let cases = bundle_cases().unwrap();
    assert!(cases.len() >= 12);
    for c in cases {
        let b = verify_bundle(&c.zip, &c.vkeys);
        assert_eq!(
            failing(&b.verdict),
            c.failing,
            "{}: {:#?}",
            c.name,
            b.verdict
        );
        assert_eq!(b.verdict.ok, c.failing.is_empty(), "{}", c.name);
        assert_eq!(
            b.report["ok"], b.verdict.ok,
            "{}: the report agrees",
            c.name
        );
        assert!(
            said(&b.verdict).contains(c.says),
            "{}: {:?} does not say {:?}",
            c.name,
            said(&b.verdict),
            c.says
        );
        // The report is `sealtrail verify --json`'s, failures and all.
        let (mut m, _) = ZipMembers::open(&c.zip, ZipLimits::default());
        let keys: Vec<Ed25519Verifier> = c
            .vkeys
            .iter()
            .map(|k| Ed25519Verifier::from_vkey(k).unwrap())
            .collect();
        let trusted: Vec<&dyn NoteVerifier> = keys.iter().map(|k| k as &dyn NoteVerifier).collect();
        if !trusted.is_empty() {
            let report = verify_zip(&mut m, &trusted);
            let reasons = |r: &serde_json::Value| r["failures"].as_array().unwrap().len();
            let damage = usize::from(c.name.contains("cut short"));
            assert_eq!(
                reasons(&b.report),
                report.failures.len() + damage,
                "{}",
                c.name
            );
        }
    }
}

#[test]
fn bundle_verdicts_match_the_verifier_sealtrail_verify_runs() {
    // Verdict by verdict and failure by failure against core's verifier
    // over the members in memory (what `sealtrail verify` runs on a damaged
    // file, and, through the file, on a whole one).
    let mut t = TestLog::new(30).unwrap();
    let vkey = t.vkey();
    for version in [1, 2] {
        let mut members = t.bundle_members(version).unwrap();
        let zip = sealtrail_wasm::fixtures::write_zip(&members).unwrap();
        let ours = verify_bundle(&zip, std::slice::from_ref(&vkey));
        let cli = cli_report(&mut members, &vkey);
        assert!(cli.ok() && ours.verdict.ok, "v{version}");
        assert_eq!(ours.report["counts"]["entries"], cli.counts.entries);
        assert_eq!(ours.report["completeness"]["proven"], cli.complete);
        assert_eq!(ours.report["trusted_keys"][0], vkey.as_str());

        sealtrail_wasm::fixtures::tamper_member(
            &mut members,
            "manifest.json",
            "\"matches\":",
            "\"matches\":1",
        )
        .unwrap();
        let zip = sealtrail_wasm::fixtures::write_zip(&members).unwrap();
        let ours = verify_bundle(&zip, std::slice::from_ref(&vkey));
        let cli = cli_report(&mut members, &vkey);
        assert!(!cli.ok() && !ours.verdict.ok, "v{version}");
        let theirs: Vec<String> = cli.failures.iter().map(|f| f.problem.to_string()).collect();
        let mine: Vec<String> = ours.report["failures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["reason"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(mine, theirs, "v{version}");
    }
}

#[test]
fn a_pinned_key_that_is_no_key_is_refused_by_name() {
    let mut t = TestLog::new(5).unwrap();
    let zip = t.bundle(2).unwrap();
    let b = verify_bundle(&zip, &["not a key".into()]);
    assert!(!b.verdict.ok);
    assert!(b.report.is_null());
    assert_eq!(failing(&b.verdict), ["checkpoint signature"]);
    assert!(said(&b.verdict).contains("\"not a key\" is not a valid verifier key"));
    let b = verify_bundle(&zip, &["# only a comment".into()]);
    assert!(said(&b.verdict).contains("no verifier key found"));
    // Not a ZIP at all: the file check fails, and the rest say so too.
    let b = verify_bundle(b"PK\x03\x04 not really", &[t.vkey()]);
    assert!(!b.verdict.ok);
    assert!(!b.verdict.check("bundle file").unwrap().ok);
}

#[test]
fn an_altered_leaf_hash_field_is_told_apart_from_an_altered_header() {
    let mut t = TestLog::new(6).unwrap();
    let mut e = t.evidence(4).unwrap();
    let served = e.entry["leaf_hash"].as_str().unwrap().to_string();
    let flipped = format!(
        "{}{}",
        if served.starts_with('0') { "1" } else { "0" },
        &served[1..]
    );
    e.entry["leaf_hash"] = flipped.into();
    let v = verify_entry(&e);
    assert_eq!(failing(&v), [LEAF]);
    assert!(
        said(&v).contains("the response's leaf_hash was altered"),
        "{}",
        said(&v)
    );
}
