//! The `sealtrail` binary as a test runs it: `init`, and a `serve` process
//! read for its URL and stopped by signal.
//!
//! Each function takes the binary's path: only an integration test of the
//! CLI package knows it, as `env!("CARGO_BIN_EXE_sealtrail")`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use serde_json::Value;

/// `sealtrail init --json --data DATA EXTRA…`, as it ran.
pub fn init_output(bin: &str, data: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(bin)
        .args(["init", "--json", "--data"])
        .arg(data)
        .args(extra)
        .output()
        .unwrap()
}

/// `sealtrail init --json`, which must succeed; its JSON answer.
pub fn init_json(bin: &str, data: &Path, extra: &[&str]) -> Value {
    let out = init_output(bin, data, extra);
    assert!(
        out.status.success(),
        "sealtrail init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `sealtrail init --json`: (owner API key, vkey).
pub fn init(bin: &str, data: &Path, extra: &[&str]) -> (String, String) {
    let v = init_json(bin, data, extra);
    (
        v["owner_api_key"].as_str().unwrap().to_string(),
        v["vkey"].as_str().unwrap().to_string(),
    )
}

/// A `sealtrail serve` process, SIGKILLed if the test ends without stopping it.
pub struct Server {
    pub child: Child,
    pub url: String,
    /// Where its stderr goes; discarded when `None`.
    pub log: Option<PathBuf>,
}

impl Server {
    /// `bin serve` on a loopback port with the given checkpoint
    /// interval, over `data`, with `extra` arguments; its URL is read from
    /// its stdout.
    pub fn start(
        bin: &str,
        data: &Path,
        interval: &str,
        extra: &[&str],
        log: Option<PathBuf>,
    ) -> Server {
        let stderr = match &log {
            Some(log) => Stdio::from(std::fs::File::create(log).unwrap()),
            None => Stdio::null(),
        };
        let mut child = Command::new(bin)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--checkpoint-interval",
                interval,
            ])
            .arg("--data")
            .arg(data)
            // Tests count entries; reads by the owner key would add
            // data_access events (tests/access_cli.rs and the server's
            // tests/access.rs cover those).
            .arg("--no-audit-reads")
            // Load tests send far more than one key's default budget.
            .args(["--rate-limit", "0"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.wait();
                panic!(
                    "sealtrail serve exited before listening:\n{}",
                    log.as_ref()
                        .and_then(|l| std::fs::read_to_string(l).ok())
                        .unwrap_or_default()
                );
            };
            if let Some(u) = line.strip_prefix("sealtrail listening on ") {
                break u.trim().to_string();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, url, log }
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.log
            .as_ref()
            .and_then(|l| std::fs::read_to_string(l).ok())
            .unwrap_or_default()
    }

    /// SIGKILL, and wait for it.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().unwrap()
    }

    /// SIGTERM; asserts a clean exit.
    pub fn terminate_cleanly(&mut self) {
        let status = self.terminate();
        assert!(
            status.success(),
            "SIGTERM should stop the server cleanly: {status:?}\n{}",
            self.stderr()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
