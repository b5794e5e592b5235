//! Sensitive data at ingest: every event is scanned for PII and secrets
//! (`sealtrail-pii`) on the request threads, before it reaches the
//! sequencer. Detected data classes are merged with the declared ones into
//! the sealed header, and the project's redaction policy rewrites the body
//! before it is committed: a redacted value never reaches the store. The
//! header's `redacted` member names the policy version that changed it.
//!
//! Fail closed: a field the scanner cannot scan (too large, too deep) is
//! replaced by a marker, never passed through.

use std::path::Path;

use anyhow::{Context, Result};
use sealtrail_core::event::Event;
use sealtrail_core::jcs;
use sealtrail_pii::{RedactionPolicy, Redactor, ScanConfig, Scanner};
use serde_json::Value;

/// File in the data directory holding the project's hashing key.
pub const KEY_FILE: &str = "pii.key";

pub use crate::config::PiiOptions;

/// The scanner and redactor of one log.
pub struct Sensitive {
    redactor: Redactor,
}

/// An event after scanning and redaction.
#[derive(Debug)]
pub struct Scanned {
    pub event: Event,
    /// `JCS(event)` as it will be stored (redacted).
    pub body: Vec<u8>,
    /// Declared and detected classes, sorted, without duplicates.
    pub data_classes: Vec<String>,
    /// The policy version, when anything was redacted.
    pub redacted: Option<String>,
}

impl Sensitive {
    /// Loads the policy and the data directory's hashing key (made on
    /// first use, mode 0600).
    pub fn load(data: &Path, opts: &PiiOptions) -> Result<Option<Sensitive>> {
        if opts.disabled {
            return Ok(None);
        }
        let policy = match &opts.policy {
            None => RedactionPolicy::standard(),
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read the redaction policy {}", path.display())
                })?;
                RedactionPolicy::from_json(&text).with_context(|| {
                    format!("{} is not a valid redaction policy", path.display())
                })?
            }
        };
        let key = load_or_create_key(&data.join(KEY_FILE))?;
        Ok(Some(Self::with(policy, &key, ScanConfig::default())?))
    }

    /// A processor with an explicit policy, key and scanner configuration.
    pub fn with(policy: RedactionPolicy, key: &[u8], config: ScanConfig) -> Result<Sensitive> {
        let redactor = Redactor::new(policy, key, Scanner::new(config))
            .context("the redaction policy or key is not usable")?;
        Ok(Sensitive { redactor })
    }

    /// The policy version in force.
    pub fn policy_version(&self) -> &str {
        &self.redactor.policy().version
    }

    /// Scans `value` (already validated as `event`), redacts it, and
    /// returns what to seal.
    ///
    /// Identifier fields (`id`, `parent`, `session`, `agent.id`,
    /// `agent.instance`, `tool.call_id`) that hold personal data or a
    /// secret come back as `h:` tokens, which are valid ids, so they never
    /// make an event unstorable. What still can: a policy action that
    /// leaves another constrained field invalid (`drop` on `tool.name`,
    /// `review.reviewer` or `change.target`, or on an item of `subjects`; a
    /// masked `data_classes` tag or `occurred_at`; a finding in a numeric
    /// field such as `seq`). Such an event is refused with the reason:
    /// storing the value instead is not an option.
    /// The value is redacted in place (it is the request's own parse).
    pub fn apply(&self, value: Value, event: Event) -> Result<Scanned, String> {
        let redacted = self.redactor.redact_owned(value);
        let summary = &redacted.summary;
        let changed = !summary.records.is_empty() || !summary.unscanned.is_empty();
        let (event, body) = if changed {
            let event = Event::from_value_ref(&redacted.event).map_err(|e| {
                // Paths and entity names only: never the value.
                let touched: Vec<String> = summary
                    .records
                    .iter()
                    .filter(|r| r.action != sealtrail_pii::Action::Keep)
                    .map(|r| format!("{} ({}: {:?})", r.path, r.entity, r.action))
                    .chain(
                        summary
                            .unscanned
                            .iter()
                            .map(|u| format!("{} (unscanned)", u.path)),
                    )
                    .collect();
                format!(
                    "the event holds sensitive data in a field that cannot be redacted: \
                     policy {} changed {} and left the event invalid ({e}); remove the \
                     data from that field or use a policy that hashes it",
                    summary.policy_version,
                    touched.join(", ")
                )
            })?;
            let body = jcs::to_canonical_vec(&redacted.event)
                .map_err(|e| format!("redacted event cannot be canonicalised: {e}"))?;
            (event, body)
        } else {
            // Nothing changed: the value is the event as submitted.
            let body = jcs::to_canonical_vec(&redacted.event)
                .map_err(|e| format!("event cannot be canonicalised: {e}"))?;
            (event, body)
        };
        let mut data_classes = event.data_classes.clone();
        data_classes.extend(summary.data_classes.iter().cloned());
        data_classes.sort();
        data_classes.dedup();
        Ok(Scanned {
            event,
            body,
            data_classes,
            redacted: changed.then(|| summary.policy_version.clone()),
        })
    }
}

/// Reads the 32-byte key, or makes one (0600) if the file does not exist.
fn load_or_create_key(path: &Path) -> Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(key) if key.len() >= 16 => Ok(key),
        Ok(key) => anyhow::bail!(
            "{} holds {} bytes; a hashing key needs at least 16",
            path.display(),
            key.len()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = vec![0u8; 32];
            getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            write_private(path, &key)?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Creates a file only its owner can read (keys), failing if it exists.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sensitive(config: ScanConfig) -> Sensitive {
        Sensitive::with(RedactionPolicy::standard(), &[7u8; 32], config).expect("policy")
    }

    fn run(s: &Sensitive, json: &str) -> Result<Scanned, String> {
        let value: Value = serde_json::from_str(json).expect("json");
        let event = Event::from_value_ref(&value).expect("valid");
        s.apply(value, event)
    }

    #[test]
    fn secrets_are_redacted_and_classes_merged() {
        let s = sensitive(ScanConfig::default());
        let out = run(
            &s,
            r#"{"agent":{"id":"bot"},"kind":"tool_call","data_classes":["custom"],
                "tool":{"name":"pay","arguments":{"card":"4111 1111 1111 1111",
                "note":"key sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH"}}}"#,
        )
        .expect("scanned");
        let body = String::from_utf8(out.body).expect("utf8");
        assert!(!body.contains("4111 1111 1111 1111"), "{body}");
        assert!(!body.contains("sk-ant-api03-abcdefghij"), "{body}");
        assert_eq!(out.redacted.as_deref(), Some(s.policy_version()));
        assert!(
            out.data_classes.contains(&"pci".to_string()),
            "{:?}",
            out.data_classes
        );
        assert!(out.data_classes.contains(&"custom".to_string()));
    }

    #[test]
    fn identifier_tokens_are_valid_in_every_identifier_field() {
        // Before, `[hash:…]` in `id` made the event invalid and it was
        // refused; now every identifier field holds an `h:` token, which
        // the validator accepts, and equal values share one token.
        let s = sensitive(ScanConfig::default());
        let out = run(
            &s,
            r#"{"id":"030-1234-5678","parent":"jane@example.org","session":"030-1234-5678",
                "agent":{"id":"jane@example.org","instance":"+44 20 7946 0958"},"kind":"tool_call",
                "tool":{"name":"crm","call_id":"jane@example.org"}}"#,
        )
        .expect("accepted");
        let e = &out.event;
        let token = |v: Option<&str>| {
            v.and_then(|v| v.strip_prefix("h:"))
                .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        };
        for v in [
            e.id.as_deref(),
            e.parent.as_deref(),
            e.session.as_deref(),
            Some(e.agent.id.as_str()),
            e.agent.instance.as_deref(),
            e.tool.as_ref().and_then(|t| t.call_id.as_deref()),
        ] {
            assert!(token(v), "{v:?}");
        }
        assert_eq!(e.id, e.session);
        assert_eq!(e.parent.as_deref(), Some(e.agent.id.as_str()));
        assert_ne!(e.id, e.parent);
        assert_eq!(out.redacted.as_deref(), Some(s.policy_version()));
    }

    #[test]
    fn clean_events_are_unchanged_and_unmarked() {
        let s = sensitive(ScanConfig::default());
        let json = r#"{"agent":{"id":"bot"},"kind":"decision","action":"approve"}"#;
        let out = run(&s, json).expect("scanned");
        let value: Value = serde_json::from_str(json).expect("json");
        assert_eq!(out.body, jcs::to_canonical_vec(&value).expect("jcs"));
        assert_eq!(out.redacted, None);
        assert!(out.data_classes.is_empty());
    }

    #[test]
    fn a_field_too_large_to_scan_is_redacted_not_passed_through() {
        let s = sensitive(ScanConfig {
            max_text_bytes: 64,
            ..ScanConfig::default()
        });
        let long = "x".repeat(200);
        let out = run(
            &s,
            &format!(r#"{{"agent":{{"id":"bot"}},"kind":"custom","input":"{long}"}}"#),
        )
        .expect("scanned");
        let body = String::from_utf8(out.body).expect("utf8");
        assert!(!body.contains(&long));
        assert!(body.contains(sealtrail_pii::UNSCANNED), "{body}");
        assert!(out.redacted.is_some());
    }
}
