//! The project's Python (the venv that scripts/setup.sh makes) for tests
//! that drive a Python SDK or tool against this build.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::skip::skip_or_fail;

/// The Python the tests use: `SEALTRAIL_TEST_PYTHON`, else the
/// repository's `.venv/bin/python`.
pub fn venv_python_path() -> PathBuf {
    std::env::var_os("SEALTRAIL_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"))
}

/// That Python when it can `import {imports}` (a comma-separated module
/// list), else `None` after [`skip_or_fail`] saying which of `what` is
/// missing: the test is skipped here and fails in CI.
pub fn venv_python(test: &str, imports: &str, what: &str) -> Option<PathBuf> {
    let py = venv_python_path();
    let ok = Command::new(&py)
        .args(["-c", &format!("import {imports}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(py);
    }
    skip_or_fail(
        test,
        &format!(
            "no Python with {what} at {} (run scripts/setup.sh, or set SEALTRAIL_TEST_PYTHON)",
            py.display()
        ),
    );
    None
}
