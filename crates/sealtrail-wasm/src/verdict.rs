//! What the console shows: named checks, each passed or failed with a
//! sentence saying what was found, and warnings that do not fail anything.

use serde::Serialize;

/// One named check (`"body commitment"`, `"inclusion proof"`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    /// What held, or what failed and what it means.
    pub detail: String,
}

/// Every check's outcome; `ok` only when every check passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Verdict {
    pub ok: bool,
    pub checks: Vec<Check>,
    pub warnings: Vec<String>,
}

impl Verdict {
    pub fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, true, detail);
    }

    pub fn fail(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, false, detail);
    }

    pub fn push(&mut self, name: &'static str, ok: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            name,
            ok,
            detail: detail.into(),
        });
    }

    /// `ok` from the checks: call once they are all in.
    pub fn settle(mut self) -> Self {
        self.ok = !self.checks.is_empty() && self.checks.iter().all(|c| c.ok);
        self
    }

    /// The check named `name`, if it was made.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }
}
