//! The Python SDK (`sdk/python`) against this build's `sealtrail serve`: its
//! unittest suite runs an OpenAI Agents SDK agent and a LangChain agent with
//! scripted models, the function adapter, an outage (server stopped and
//! restarted while agents work: every event exactly once, in per-agent
//! order), a client restart (spool replay), rejections and Retry-After.
//!
//! Needs the project venv (`scripts/setup.sh` makes `.venv` with the SDK and
//! the agent frameworks). Without it the test is skipped, except in CI
//! (`CI=true`) where a missing venv fails it. `SEALTRAIL_TEST_PYTHON` picks
//! another interpreter.

use std::path::{Path, PathBuf};
use std::process::Command;

fn python() -> Option<PathBuf> {
    sealtrail_testkit::python::venv_python(
        "python_sdk",
        "sealtrail, agents, langchain, cryptography",
        "the sealtrail SDK, openai-agents, langchain and cryptography",
    )
}

#[test]
fn python_sdk_suite_against_a_real_server() {
    let Some(py) = python() else { return };
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/python/tests");
    let out = Command::new(py)
        .args(["-m", "unittest", "discover", "-v", "-s"])
        .arg(&tests)
        .arg("-t")
        .arg(&tests)
        .env("SEALTRAIL_BIN", env!("CARGO_BIN_EXE_sealtrail"))
        .output()
        .expect("run the Python SDK tests");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "Python SDK tests failed:\n{}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        !stderr.contains("skipped '"),
        "a Python SDK test was skipped:\n{stderr}"
    );
    eprintln!("{stderr}");
}
