//! Verifying an evidence bundle dropped on the page: the ZIP is read in
//! memory with sealtrail-core's reader and checked by core's verifier, the
//! code `sealtrail verify BUNDLE` runs, against the pinned keys (or, with
//! none, the bundle's own key and the same warning). The report is the one
//! `sealtrail verify --json` prints; the named checks group its failures
//! for the console, and pass exactly when it has none.

use serde::Serialize;
use serde_json::Value;

use sealtrail_core::bundle::keys::{own_keys_text, parse_vkeys, OWN_KEY_WARNING};
use sealtrail_core::bundle::zip::{verify_zip, ZipLimits, ZipMembers};
use sealtrail_core::bundle::{Failure, Problem, Report, CHECKPOINT, COMPLETENESS, MANIFEST};
use sealtrail_core::note::NoteVerifier;

use crate::verdict::Verdict;

/// The check names, in the order they are reported.
pub const FILE: &str = "bundle file";
pub const SIGNATURE: &str = "checkpoint signature";
pub const ENTRIES: &str = "entries";
pub const INCLUSION: &str = "inclusion proofs";
pub const MANIFEST_CHECK: &str = "manifest and completeness";

/// What a failure to read the ZIP itself is reported against (the CLI
/// names the file's path; a browser has only the bytes).
pub const BUNDLE_FILE: &str = "the bundle file";

/// The verdict and `sealtrail verify --json`'s report (with `warnings` and
/// `trusted_keys`); `report` is null when no check could run (a pinned key
/// that is no key).
#[derive(Debug, Clone, Serialize)]
pub struct BundleVerdict {
    #[serde(flatten)]
    pub verdict: Verdict,
    pub report: Value,
}

/// The most a version 1 `entries.jsonl` may decompress to here. The whole
/// member is held in the page's memory (a 32-bit address space, beside the
/// bundle itself), where the CLI reads it line by line; a larger one is
/// reported unreadable, and `sealtrail verify` checks it.
const BROWSER_ENTRIES_MAX: u64 = 1 << 30;

/// Verifies the bundle in `zip` against `vkeys` (each a key or lines of
/// keys; none: the bundle's own key, with a warning).
pub fn verify_bundle(zip: &[u8], vkeys: &[String]) -> BundleVerdict {
    let limits = ZipLimits {
        entries: BROWSER_ENTRIES_MAX,
        ..ZipLimits::default()
    };
    let (mut members, damage) = ZipMembers::open(zip, limits);
    let mut warnings = Vec::new();
    let given = vkeys.iter().any(|k| !k.trim().is_empty());
    let text = if given {
        vkeys.join("\n")
    } else {
        warnings.push(format!("no key is pinned for this log: {OWN_KEY_WARNING}"));
        own_keys_text(&mut members)
    };
    let keys = match parse_vkeys(&text) {
        Ok(k) if k.is_empty() && given => {
            return refused(warnings, "no verifier key found in the pinned keys".into())
        }
        Ok(k) => k,
        Err(e) => return refused(warnings, format!("the pinned key {e}")),
    };
    let trusted: Vec<&dyn NoteVerifier> = keys.iter().map(|k| k as &dyn NoteVerifier).collect();
    let mut report = verify_zip(&mut members, &trusted);
    if let Some(why) = damage {
        report.failures.insert(
            0,
            Failure {
                entry: None,
                member: BUNDLE_FILE.into(),
                problem: Problem::MemberUnreadable(why),
            },
        );
    }
    let mut json = report.to_json();
    json["warnings"] = serde_json::json!(warnings);
    json["trusted_keys"] = serde_json::json!(keys.iter().map(|k| k.to_vkey()).collect::<Vec<_>>());
    let ids: Vec<String> = keys
        .iter()
        .map(|k| format!("{}+{:08x}", k.name(), k.key_id()))
        .collect();
    let mut verdict = checks(&report, &ids.join(", "));
    verdict.warnings = warnings;
    BundleVerdict {
        verdict: verdict.settle(),
        report: json,
    }
}

/// A verdict without a report: the keys could not be read.
fn refused(warnings: Vec<String>, why: String) -> BundleVerdict {
    let mut verdict = Verdict {
        warnings,
        ..Verdict::default()
    };
    verdict.fail(
        SIGNATURE,
        format!("not checked: {why}; pin the log's verifier key (the Log page shows it)"),
    );
    BundleVerdict {
        verdict: verdict.settle(),
        report: Value::Null,
    }
}

/// At most this many failures are spelled out in a check's detail (the
/// report holds them all).
const SHOWN: usize = 3;

fn describe(failures: &[&Failure]) -> String {
    let mut s = failures
        .iter()
        .take(SHOWN)
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join("; ");
    if failures.len() > SHOWN {
        s.push_str(&format!(" (and {} more)", failures.len() - SHOWN));
    }
    s
}

/// The report's failures as named checks: every failure lands in exactly
/// one check, so the checks all pass exactly when the report is ok.
fn checks(report: &Report, keys: &str) -> Verdict {
    let mut file = Vec::new();
    let mut signature = Vec::new();
    let mut manifest = Vec::new();
    let mut entries = Vec::new();
    for f in &report.failures {
        match f.member.as_str() {
            BUNDLE_FILE => file.push(f),
            CHECKPOINT => signature.push(f),
            MANIFEST | COMPLETENESS => manifest.push(f),
            _ => entries.push(f),
        }
    }
    let mut v = Verdict::default();
    if file.is_empty() {
        v.pass(FILE, "a complete ZIP file");
    } else {
        v.fail(FILE, describe(&file));
    }
    match &report.checkpoint {
        Some(cp) if signature.is_empty() && report.checkpoint_signed => v.pass(
            SIGNATURE,
            format!(
                "{} signed by a trusted key ({keys}): tree size {}, root {}",
                cp.origin,
                cp.size,
                cp.root.to_base64()
            ),
        ),
        _ if signature.is_empty() => {
            v.fail(SIGNATURE, "the checkpoint's signature was not verified")
        }
        _ => v.fail(SIGNATURE, describe(&signature)),
    }
    let c = report.counts;
    if entries.is_empty() {
        v.pass(
            ENTRIES,
            format!(
                "{} entries ({} matches, {} with bodies, {} erased): headers, bodies against their commitments, order and times hold",
                c.entries, c.matches, c.bodies, c.erased
            ),
        );
    } else {
        v.fail(ENTRIES, describe(&entries));
    }
    let size = report.checkpoint.as_ref().map_or(0, |cp| cp.size);
    v.push(
        INCLUSION,
        report.proven == c.entries,
        format!(
            "{} of {} entries proven in the checkpoint of size {size}",
            report.proven, c.entries
        ),
    );
    let statement = report
        .manifest
        .as_ref()
        .map(|m| m.completeness.statement.clone())
        .unwrap_or_default();
    if !manifest.is_empty() {
        v.fail(MANIFEST_CHECK, describe(&manifest));
    } else {
        match (&report.claim, report.complete) {
            (Some(claim), true) => v.pass(
                MANIFEST_CHECK,
                format!("completeness PROVEN ({claim}). {statement}"),
            ),
            (Some(claim), false) => v.fail(
                MANIFEST_CHECK,
                format!("completeness claimed for {claim} but NOT PROVEN (see the other checks)"),
            ),
            (None, _) => v.pass(
                MANIFEST_CHECK,
                format!("completeness not claimed. {statement}"),
            ),
        }
    }
    v
}
