//! Verification in bounded memory: `sealtrail verify` of a large bundle
//! (format version 2) keeps its peak memory flat as the bundle grows. The
//! scaled-down form of the 10-million-entry benchmark (docs/benchmarks.md):
//! the peak resident set of the child process, as the kernel reports it to
//! this harness (`wait4`), for bundles of 20,000 and 200,000 entries with
//! bodies.

use std::io::BufWriter;
use std::path::Path;
use std::process::{Command, Stdio};

use sealtrail_core::bundle::synthetic::write_range_bundle;

const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

/// Writes a bundle of `n` entries; its vkey.
fn bundle(path: &Path, n: u64) -> String {
    let file = BufWriter::new(std::fs::File::create(path).unwrap());
    let (vkey, _) = write_range_bundle(n, true, zip::ZipWriter::new(file)).unwrap();
    vkey
}

/// Runs `sealtrail verify` on `path`: whether it passed, and the child's
/// peak resident set in KiB. The child is reaped by `wait4` itself (which
/// returns its resource usage), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn verify_peak_kib(path: &Path, vkey: &str) -> (bool, i64) {
    let child = Command::new(BIN)
        .arg("verify")
        .arg(path)
        .args(["--vkey", vkey, "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data the kernel fills in; pid is our child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(got, pid, "wait4: {}", std::io::Error::last_os_error());
    let passed = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (passed, usage.ru_maxrss)
}

#[test]
fn peak_memory_does_not_grow_with_the_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.zip");
    let large = dir.path().join("large.zip");
    let vkey = bundle(&small, 20_000);
    assert_eq!(bundle(&large, 200_000), vkey);
    let (ok_small, peak_small) = verify_peak_kib(&small, &vkey);
    let (ok_large, peak_large) = verify_peak_kib(&large, &vkey);
    assert!(ok_small && ok_large, "both bundles verify");
    let entries_mib = std::fs::metadata(&large).unwrap().len() >> 20;
    eprintln!(
        "peak resident set: {peak_small} KiB for 20,000 entries, {peak_large} KiB for 200,000 ({entries_mib} MiB file)"
    );
    assert!(
        peak_large < 256 << 10,
        "{peak_large} KiB: the 256 MiB target"
    );
    // Ten times the entries: the peak stays within the size of a few
    // entries members (8 MiB each), not ten times the first.
    assert!(
        peak_large < peak_small + (32 << 10),
        "{peak_small} KiB for 20,000 entries, {peak_large} KiB for 200,000"
    );
}
