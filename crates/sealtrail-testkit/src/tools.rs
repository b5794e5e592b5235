//! Outside programs a test drives (curl, util-linux `script`, …).

use std::process::{Command, Stdio};

use crate::skip::skip_or_fail;

/// Whether `tool --version` runs; when it does not, [`skip_or_fail`] (the
/// test is skipped here and fails in CI) and `false`.
pub fn need_tool(test: &str, tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        skip_or_fail(test, &format!("{tool} is not installed"));
    }
    found
}
