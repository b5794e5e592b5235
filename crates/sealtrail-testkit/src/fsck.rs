//! fsck of a store, asserting it is clean.

/// fsck of a store: asserts it is clean and returns the report.
pub fn fsck_ok(
    store: &dyn sealtrail_store::Store,
    verifier: &sealtrail_core::note::Ed25519Verifier,
) -> sealtrail_store::fsck::Report {
    let report = sealtrail_store::fsck::check(store, &[verifier]).unwrap();
    assert!(
        report.ok(),
        "fsck: {:?}",
        &report.problems[..report.problems.len().min(10)]
    );
    report
}
