//! Tests that cannot run here: skipped with a word locally, failed in CI.

/// Whether this is a CI run (`CI=true`), where every test must run.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A test that cannot run here. In CI (`CI=true`), where every test must
/// run, this fails the test; elsewhere it prints `SKIPPED: <test>: <why>`
/// and the caller returns at once, asserting nothing.
pub fn skip_or_fail(test: &str, why: &str) {
    if in_ci() {
        panic!("{test} cannot run here, and CI=true requires every test to run: {why}");
    }
    eprintln!("SKIPPED: {test}: {why}");
}
