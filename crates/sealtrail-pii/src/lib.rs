//! sealtrail's sensitive-data engine.
//!
//! Scans strings and whole JSON events for personal, payment, financial,
//! health and credential data; derives data classes; and redacts events by a
//! versioned policy. See `docs/pii.md` for every entity and how it is
//! validated.
//!
//! # Scanning
//!
//! ```
//! let findings = sealtrail_pii::scan_text("card 4111 1111 1111 1111, mail bob@example.org").unwrap();
//! assert_eq!(findings[0].entity, sealtrail_pii::Entity::CreditCard);
//! assert_eq!(findings[0].why, "Luhn valid, Visa range, near 'card'");
//!
//! let event = serde_json::json!({"tool": {"arguments": {"card": "4111111111111111"}}});
//! let scan = sealtrail_pii::scan_json(&event);
//! assert_eq!(scan.findings[0].path, "$.tool.arguments.card");
//! ```
//!
//! A [`Finding`] never holds the value: `path` and `span` (byte offsets
//! into the string at `path`) locate it. `score` is in 0..=1: checksums and
//! context words (matched as whole words, also in the JSON member name) raise
//! it; findings under [`ScanConfig::min_score`] are dropped. Overlapping
//! detections keep the best one.
//!
//! # Data classes
//!
//! [`data_classes`] merges the classes of findings (`pii`, `pci`, `phi`,
//! `financial`, `credential`; see [`Entity::data_class`]) with those the
//! client declared.
//!
//! # Redaction
//!
//! ```
//! use sealtrail_pii::{RedactionPolicy, Redactor, Scanner};
//! let policy = RedactionPolicy::from_json(
//!     r#"{"version": "acme/3", "default": "mask", "entities": {"email": "hash"}}"#,
//! ).unwrap();
//! let redactor = Redactor::new(policy, b"project-key-0123456789", Scanner::default()).unwrap();
//! let out = redactor.redact(&serde_json::json!({"input": "write to bob@example.org"}));
//! assert!(out.event["input"].as_str().unwrap().starts_with("write to [hash:"));
//! assert_eq!(out.summary.data_classes, ["pii"]);
//! ```
//!
//! Fail closed: a string over [`ScanConfig::max_text_bytes`], or a subtree
//! nested deeper than [`ScanConfig::max_depth`], is replaced by
//! [`UNSCANNED`] and listed in [`RedactionSummary::unscanned`].
//!
//! # Limits
//!
//! No named-entity recognition: person names, organisations and places are
//! not detected. Passport numbers and some national ids have no check digit
//! and are reported only next to a context word.

mod checksum;
mod classes;
mod context;
mod detect;
mod error;
mod finding;
#[cfg(feature = "id-corpus")]
pub mod id_corpus;
mod json;
mod policy;
mod scanner;

pub use classes::DataClass;
pub use error::{PolicyError, ScanError};
pub use finding::{data_classes, Entity, Finding, Span};
pub use json::{FieldError, JsonScan};
pub use policy::{
    Action, Redacted, RedactionPolicy, RedactionRecord, RedactionSummary, Redactor, Unscanned,
    ID_TOKEN_PREFIX, UNSCANNED,
};

/// The members of a sealtrail event that identify things rather than say
/// something (DESIGN §2): the idempotency key, stream and parent links, the
/// agent's identity. Their values are identifiers by definition, so a bare
/// number in them is not read as a card or a national id, and one that
/// does hold personal data is replaced whole by [`Redactor::id_token`]
/// (`h:<32 hex>`), never masked, dropped or refused.
pub const IDENTIFIER_FIELDS: [&str; 6] = [
    "$.id",
    "$.parent",
    "$.session",
    "$.agent.id",
    "$.agent.instance",
    "$.tool.call_id",
];

/// Whether a JSON path (as in [`Finding::path`]) is one of
/// [`IDENTIFIER_FIELDS`].
pub fn is_identifier_field(path: &str) -> bool {
    IDENTIFIER_FIELDS.contains(&path)
}
pub use scanner::{ScanConfig, Scanner};

use std::sync::OnceLock;

/// The scanner with default settings, built on first use.
pub fn default_scanner() -> &'static Scanner {
    static SCANNER: OnceLock<Scanner> = OnceLock::new();
    SCANNER.get_or_init(Scanner::default)
}

/// Scans a string with the default settings (what `sealtrail scan FILE`
/// calls for a text file).
pub fn scan_text(text: &str) -> Result<Vec<Finding>, ScanError> {
    default_scanner().scan_text(text)
}

/// Scans a JSON value with the default settings (what `sealtrail scan FILE`
/// calls for a JSON or JSONL file, once per event).
pub fn scan_json(value: &serde_json::Value) -> JsonScan {
    default_scanner().scan_json(value)
}
