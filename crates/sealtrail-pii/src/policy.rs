//! Redaction policies and the redactor that applies them to JSON events.
//!
//! Fail closed: a field that cannot be scanned (over the size limit, nested
//! too deep) is replaced by `[redacted:unscanned]` whatever the policy says.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Sha256;
use std::collections::BTreeMap;

use crate::json::{push_index, push_key, MIN_NUMBER_DIGITS};
use crate::{DataClass, Entity, Finding, PolicyError, Scanner};

/// What to do with one kind of finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Leave the value; the finding is still reported in the summary.
    Keep,
    /// Replace the value with `[redacted:<entity>]`.
    Mask,
    /// Replace the value with `[hash:<16 hex>]`: the first 8 bytes of
    /// HMAC-SHA-256 under the project key, so equal values stay joinable
    /// inside one project and cannot be guessed outside it.
    Hash,
    /// Remove the whole field (object member; array items become `null`).
    Drop,
    /// Replace the whole string with an identifier token, `h:<32 hex>`
    /// ([`Redactor::id_token`]): the same value always gives the same
    /// token, so ids stay joinable and still pass as ids. The redactor
    /// applies it to an event's identifier fields
    /// ([`crate::IDENTIFIER_FIELDS`]) in place of any action but `keep`.
    Pseudonymize,
}

/// A versioned redaction policy.
///
/// ```json
/// {"version": "acme-2026-11", "default": "mask",
///  "entities": {"email": "hash", "ip_address": "keep", "private_key": "drop"},
///  "min_score": 0.5}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionPolicy {
    /// Recorded in every summary, so a redacted event says which rules made it.
    pub version: String,
    /// Action for entities not listed in `entities`.
    #[serde(default = "default_action")]
    pub default: Action,
    /// Per-entity actions.
    #[serde(default)]
    pub entities: BTreeMap<Entity, Action>,
    /// Findings below this score are left alone.
    #[serde(default = "default_min_score")]
    pub min_score: f64,
}

fn default_action() -> Action {
    Action::Mask
}

fn default_min_score() -> f64 {
    0.5
}

impl RedactionPolicy {
    /// The built-in policy `sealtrail-standard/1`: credentials and card
    /// numbers masked, private keys dropped, everything else hashed.
    pub fn standard() -> Self {
        let mut entities = BTreeMap::new();
        for e in [
            Entity::ApiKey,
            Entity::Jwt,
            Entity::Secret,
            Entity::CreditCard,
        ] {
            entities.insert(e, Action::Mask);
        }
        entities.insert(Entity::PrivateKey, Action::Drop);
        RedactionPolicy {
            version: "sealtrail-standard/1".to_string(),
            default: Action::Hash,
            entities,
            min_score: default_min_score(),
        }
    }

    /// Parses and checks a policy document.
    pub fn from_json(s: &str) -> Result<Self, PolicyError> {
        let p: RedactionPolicy = serde_json::from_str(s)?;
        p.validate()?;
        Ok(p)
    }

    /// Checks the version and score bounds.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.version.trim().is_empty() {
            return Err(PolicyError::MissingVersion);
        }
        if !(0.0..=1.0).contains(&self.min_score) {
            return Err(PolicyError::BadMinScore(self.min_score));
        }
        Ok(())
    }

    /// The action for an entity.
    pub fn action(&self, entity: Entity) -> Action {
        self.entities.get(&entity).copied().unwrap_or(self.default)
    }
}

/// One redaction done (or a finding kept), by location; never the value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RedactionRecord {
    pub entity: Entity,
    /// Path in the *redacted* event (member names already redacted).
    pub path: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub in_key: bool,
    pub action: Action,
    pub score: f64,
}

/// A field replaced because it could not be scanned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unscanned {
    pub path: String,
    pub reason: String,
}

/// What the redactor did to an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RedactionSummary {
    pub policy_version: String,
    pub records: Vec<RedactionRecord>,
    pub unscanned: Vec<Unscanned>,
    /// Classes of everything found (kept or not), sorted: what to put in the
    /// entry header's `data_classes` together with the declared ones.
    pub data_classes: Vec<String>,
}

/// A redacted event and its summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Redacted {
    pub event: Value,
    pub summary: RedactionSummary,
}

/// The marker a field that could not be scanned is replaced with.
pub const UNSCANNED: &str = "[redacted:unscanned]";

/// Applies a policy to JSON events.
#[derive(Clone)]
pub struct Redactor {
    policy: RedactionPolicy,
    /// HMAC state keyed once; cloned per value.
    mac: Hmac<Sha256>,
    scanner: Scanner,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Redactor")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Prefix of the tokens that replace identifiers holding personal data.
pub const ID_TOKEN_PREFIX: &str = "h:";

/// Bytes of HMAC-SHA-256 kept in an identifier token (32 hex digits): wide
/// enough that two different ids in one project never share a token
/// (collisions become likely only around 2^64 distinct ids), short enough
/// to read.
const ID_TOKEN_BYTES: usize = 16;

/// Domain separation: identifier tokens never equal a `[hash:…]` of the
/// same value (those MAC an entity name first; no entity is called this).
const ID_TOKEN_DOMAIN: &[u8] = b"identifier\0";

/// What becomes of one scalar.
enum Outcome {
    Same,
    Replace(String),
    Drop,
}

impl Redactor {
    /// A redactor with `policy` and the project's hash key (16 bytes or
    /// more; keep it with the project's other secrets).
    pub fn new(
        policy: RedactionPolicy,
        hash_key: &[u8],
        scanner: Scanner,
    ) -> Result<Self, PolicyError> {
        policy.validate()?;
        if hash_key.len() < 16 {
            return Err(PolicyError::ShortKey(hash_key.len()));
        }
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(hash_key)
            .map_err(|_| PolicyError::ShortKey(hash_key.len()))?;
        Ok(Redactor {
            policy,
            mac,
            scanner,
        })
    }

    /// The policy in force.
    pub fn policy(&self) -> &RedactionPolicy {
        &self.policy
    }

    /// `[hash:<16 hex>]` of a value found as `entity`. Values are normalised
    /// first (separators dropped for numbers, e-mail lower-cased) so that
    /// "4111 1111 1111 1111" and "4111111111111111" hash alike.
    pub fn hash_token(&self, entity: Entity, value: &str) -> String {
        let norm = normalize(entity, value);
        let mut mac = self.mac.clone();
        mac.update(entity.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(norm.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("[hash:{}]", hex::encode(&tag[..8]))
    }

    /// The token that replaces a whole identifier: `h:` and the first 16
    /// bytes of HMAC-SHA-256 under the project key over the value exactly
    /// as written, in lower-case hex. It depends on the value alone (not on
    /// the field or on what was found in it), so an event's `id` and a
    /// child's `parent`, or two events of one `session`, still match.
    pub fn id_token(&self, value: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(ID_TOKEN_DOMAIN);
        mac.update(value.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("{ID_TOKEN_PREFIX}{}", hex::encode(&tag[..ID_TOKEN_BYTES]))
    }

    /// Redacts an event. Never fails: what cannot be scanned is replaced.
    pub fn redact(&self, event: &Value) -> Redacted {
        self.redact_owned(event.clone())
    }

    /// [`Redactor::redact`] of an event the caller gives up: redacted in
    /// place, so only what the policy changes is rewritten (ingest scans
    /// every event, and rebuilding each one cost more than scanning it).
    pub fn redact_owned(&self, mut event: Value) -> Redacted {
        let mut summary = RedactionSummary {
            policy_version: self.policy.version.clone(),
            records: Vec::new(),
            unscanned: Vec::new(),
            data_classes: Vec::new(),
        };
        let mut classes = std::collections::BTreeSet::new();
        let mut path = String::from("$");
        if !self.value(&mut event, None, &mut path, 0, &mut summary, &mut classes) {
            event = Value::Null;
        }
        summary.data_classes = classes
            .into_iter()
            .map(|c: DataClass| c.as_str().to_string())
            .collect();
        Redacted { event, summary }
    }

    /// Redacts `v` in place; false when the policy drops it (the caller
    /// removes a member, or puts `null` in an array).
    fn value(
        &self,
        v: &mut Value,
        key: Option<&str>,
        path: &mut String,
        depth: usize,
        summary: &mut RedactionSummary,
        classes: &mut std::collections::BTreeSet<DataClass>,
    ) -> bool {
        let max_depth = self.scanner.config().max_depth;
        match v {
            Value::String(s) if crate::is_identifier_field(path) => {
                if let Outcome::Replace(r) = self.identifier(s, key, path, summary, classes) {
                    *s = r;
                }
                true
            }
            Value::String(s) => match self.scalar(s, key, path, false, summary, classes) {
                Outcome::Same => true,
                Outcome::Replace(r) => {
                    *s = r;
                    true
                }
                Outcome::Drop => false,
            },
            Value::Number(n) => {
                let s = n.to_string();
                if s.len() < MIN_NUMBER_DIGITS {
                    return true;
                }
                match self.scalar(&s, key, path, false, summary, classes) {
                    Outcome::Same => true,
                    Outcome::Replace(r) => {
                        *v = Value::String(r);
                        true
                    }
                    Outcome::Drop => false,
                }
            }
            Value::Array(items) => {
                if depth >= max_depth {
                    *v = self.unscanned(path, "nesting over the scan limit", summary);
                    return true;
                }
                for (i, item) in items.iter_mut().enumerate() {
                    let len = path.len();
                    push_index(path, i);
                    // Items of a list inherit the list's member name.
                    if !self.value(item, key, path, depth + 1, summary, classes) {
                        *item = Value::Null;
                    }
                    path.truncate(len);
                }
                true
            }
            Value::Object(map) => {
                if depth >= max_depth {
                    *v = self.unscanned(path, "nesting over the scan limit", summary);
                    return true;
                }
                self.object(map, path, depth, summary, classes);
                true
            }
            Value::Null | Value::Bool(_) => true,
        }
    }

    /// Redacts an object's members (names first, then values) in place.
    /// The map is rebuilt only when a name changes or a member goes; then
    /// every member gets its final name, which is made unique against the
    /// members before it (two names redacted alike, "[redacted:email]",
    /// must not overwrite each other: the second becomes "…#2").
    fn object(
        &self,
        map: &mut Map<String, Value>,
        path: &mut String,
        depth: usize,
        summary: &mut RedactionSummary,
        classes: &mut std::collections::BTreeSet<DataClass>,
    ) {
        // Final names of the members so far (`None`: removed); made on the
        // first change, from the names before it, which were all kept.
        let mut finals: Option<Vec<Option<String>>> = None;
        let mut names: Vec<&String> = Vec::with_capacity(map.len());
        fn start<'f>(
            finals: &'f mut Option<Vec<Option<String>>>,
            names: &[&String],
        ) -> &'f mut Vec<Option<String>> {
            finals.get_or_insert_with(|| names.iter().map(|n| Some((*n).clone())).collect())
        }
        for (k, item) in map.iter_mut() {
            let len = path.len();
            // The member name is scanned first; the path we record uses
            // the redacted name so the summary never leaks it.
            let mut key_records = Vec::new();
            let renamed =
                match self.scalar_into(k, None, path, true, &mut key_records, summary, classes) {
                    Outcome::Same => None,
                    Outcome::Replace(r) => Some(r),
                    Outcome::Drop => {
                        for mut r in key_records {
                            push_key(path, "[dropped]");
                            r.path = path.clone();
                            path.truncate(len);
                            summary.records.push(r);
                        }
                        start(&mut finals, &names).push(None);
                        names.push(k);
                        continue;
                    }
                };
            if renamed.is_some() {
                start(&mut finals, &names);
            }
            let name = match &finals {
                None => {
                    push_key(path, k);
                    None
                }
                Some(taken) => {
                    let base = renamed.unwrap_or_else(|| k.clone());
                    let mut unique = base.clone();
                    let mut n = 2;
                    while taken.iter().flatten().any(|t| *t == unique) {
                        unique = format!("{base}#{n}");
                        n += 1;
                    }
                    push_key(path, &unique);
                    Some(unique)
                }
            };
            for mut r in key_records {
                r.path = path.clone();
                summary.records.push(r);
            }
            let kept = self.value(item, Some(k), path, depth + 1, summary, classes);
            if !kept {
                start(&mut finals, &names);
            }
            if let Some(f) = &mut finals {
                f.push(kept.then(|| name.unwrap_or_else(|| k.clone())));
            }
            names.push(k);
            path.truncate(len);
        }
        if let Some(finals) = finals {
            let members = std::mem::take(map);
            for ((_, v), name) in members.into_iter().zip(finals) {
                if let Some(name) = name {
                    map.insert(name, v);
                }
            }
        }
    }

    fn unscanned(&self, path: &str, reason: &str, summary: &mut RedactionSummary) -> Value {
        summary.unscanned.push(Unscanned {
            path: path.to_string(),
            reason: reason.to_string(),
        });
        Value::String(UNSCANNED.to_string())
    }

    /// An event identifier field (`id`, `session`, `agent.id`, …; see
    /// [`crate::IDENTIFIER_FIELDS`]). Masking, hashing a span or dropping
    /// it would leave an id that is no id, and refusing the event would
    /// lose it: so whatever the policy says (bar `keep`), a finding replaces
    /// the whole value with its [`Redactor::id_token`], which is the same
    /// for the same value and is a valid id for every one of these fields.
    fn identifier(
        &self,
        s: &str,
        key: Option<&str>,
        path: &str,
        summary: &mut RedactionSummary,
        classes: &mut std::collections::BTreeSet<DataClass>,
    ) -> Outcome {
        let findings = match self.scanner.scan_field(s, key, path, false) {
            Ok(f) => f,
            Err(e) => {
                // Fail closed, and still a valid id.
                summary.unscanned.push(Unscanned {
                    path: path.to_string(),
                    reason: e.to_string(),
                });
                return Outcome::Replace(self.id_token(s));
            }
        };
        let mut replace = false;
        for f in findings.iter().filter(|f| f.score >= self.policy.min_score) {
            classes.insert(f.entity.data_class());
            let action = match self.policy.action(f.entity) {
                Action::Keep => Action::Keep,
                _ => Action::Pseudonymize,
            };
            replace |= action == Action::Pseudonymize;
            summary.records.push(RedactionRecord {
                entity: f.entity,
                path: path.to_string(),
                in_key: false,
                action,
                score: f.score,
            });
        }
        if replace {
            Outcome::Replace(self.id_token(s))
        } else {
            Outcome::Same
        }
    }

    fn scalar(
        &self,
        s: &str,
        key: Option<&str>,
        path: &str,
        in_key: bool,
        summary: &mut RedactionSummary,
        classes: &mut std::collections::BTreeSet<DataClass>,
    ) -> Outcome {
        let mut records = Vec::new();
        let out = self.scalar_into(s, key, path, in_key, &mut records, summary, classes);
        summary.records.extend(records);
        out
    }

    /// Scans and rewrites one string; records go to `records` (their paths
    /// are fixed up by the caller for member names).
    #[allow(clippy::too_many_arguments)]
    fn scalar_into(
        &self,
        s: &str,
        key: Option<&str>,
        path: &str,
        in_key: bool,
        records: &mut Vec<RedactionRecord>,
        summary: &mut RedactionSummary,
        classes: &mut std::collections::BTreeSet<DataClass>,
    ) -> Outcome {
        let findings = match self.scanner.scan_field(s, key, path, in_key) {
            Ok(f) => f,
            Err(e) => {
                // Fail closed: an unscanned value is never passed through.
                summary.unscanned.push(Unscanned {
                    path: path.to_string(),
                    reason: e.to_string(),
                });
                return Outcome::Replace(UNSCANNED.to_string());
            }
        };
        let findings: Vec<Finding> = findings
            .into_iter()
            .filter(|f| f.score >= self.policy.min_score)
            .collect();
        if findings.is_empty() {
            return Outcome::Same;
        }
        let mut drop = false;
        let mut pseudonymize = false;
        let mut out = String::with_capacity(s.len());
        let mut last = 0;
        let mut changed = false;
        for f in &findings {
            classes.insert(f.entity.data_class());
            let action = self.policy.action(f.entity);
            records.push(RedactionRecord {
                entity: f.entity,
                path: path.to_string(),
                in_key,
                action,
                score: f.score,
            });
            let (a, b) = (f.span.start, f.span.end);
            let (Some(before), Some(value)) = (s.get(last..a), s.get(a..b)) else {
                // Spans always fall on char boundaries; if one ever did
                // not, fail closed rather than risk passing it through.
                return Outcome::Replace(UNSCANNED.to_string());
            };
            out.push_str(before);
            match action {
                Action::Keep => out.push_str(value),
                Action::Mask => {
                    out.push_str("[redacted:");
                    out.push_str(f.entity.as_str());
                    out.push(']');
                    changed = true;
                }
                Action::Hash => {
                    out.push_str(&self.hash_token(f.entity, value));
                    changed = true;
                }
                Action::Drop => drop = true,
                Action::Pseudonymize => pseudonymize = true,
            }
            last = b;
        }
        if drop {
            return Outcome::Drop;
        }
        if pseudonymize {
            return Outcome::Replace(self.id_token(s));
        }
        if !changed {
            return Outcome::Same;
        }
        out.push_str(s.get(last..).unwrap_or(""));
        Outcome::Replace(out)
    }
}

/// The form a value is hashed in.
fn normalize(entity: Entity, value: &str) -> String {
    match entity {
        Entity::CreditCard
        | Entity::Iban
        | Entity::UsSsn
        | Entity::Imei
        | Entity::Phone
        | Entity::NationalId
        | Entity::UkNino
        | Entity::NhsNumber
        | Entity::Passport => value
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '+')
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        Entity::Email | Entity::MacAddress | Entity::IpAddress => value.to_ascii_lowercase(),
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod reference {
    //! The rebuilding redactor of before issue 16, the oracle the in-place
    //! one is checked against on random events.
    use super::*;
    use proptest::prelude::*;

    /// Strings and member names that steer into every outcome: kept,
    /// masked, hashed, pseudonymized identifiers, dropped (private keys),
    /// names redacted alike (two e-mail names become one name + `#2`).
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z_]{1,8}",
            Just("id".to_string()),
            Just("session".to_string()),
            Just("agent".to_string()),
            Just("[hash:00]".to_string()),
            Just("jane@example.org".to_string()),
            Just("bob@example.com".to_string()),
            Just("card 4111 1111 1111 1111".to_string()),
            Just("card 5500 0000 0000 0004".to_string()),
            Just("[redacted:credit_card]".to_string()),
            Just("card [redacted:credit_card]#2".to_string()),
            Just("call +44 20 7946 0958".to_string()),
            Just("sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH".to_string()),
            Just("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----".to_string()),
            Just("10.1.2.3".to_string()),
        ]
    }

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            text().prop_map(Value::String),
            any::<i32>().prop_map(|n| Value::from(i64::from(n) * 1_000_003)),
            Just(Value::Null),
            Just(Value::Bool(true)),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map(text(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn redactor(shallow: bool) -> Redactor {
        let config = crate::ScanConfig {
            max_depth: if shallow {
                2
            } else {
                crate::ScanConfig::default().max_depth
            },
            ..crate::ScanConfig::default()
        };
        Redactor::new(
            RedactionPolicy::standard(),
            b"0123456789abcdef",
            Scanner::new(config),
        )
        .expect("redactor")
    }

    #[test]
    fn names_redacted_alike_and_dropped_members_match_the_reference() {
        let v = serde_json::json!({
            "card 4111 1111 1111 1111": 1,
            "card 5500 0000 0000 0004": {"k": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"},
            "card [redacted:credit_card]": 3,
            "card [redacted:credit_card]#2": [4, "jane@example.org"],
            "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----": 5,
            "session": "jane@example.org",
        });
        let r = redactor(false);
        let out = r.redact(&v);
        assert_eq!(out, r.reference_redact(&v));
        let names: Vec<&String> = out.event.as_object().expect("object").keys().collect();
        assert!(names.iter().any(|n| n.ends_with("#3")), "{names:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn in_place_redaction_equals_the_rebuilding_one(v in json(), shallow in any::<bool>()) {
            let r = redactor(shallow);
            prop_assert_eq!(r.redact(&v), r.reference_redact(&v));
        }
    }

    impl Redactor {
        /// The redactor as it was before it worked in place (issue 16): it
        /// rebuilt every event. Kept as the oracle the in-place one must equal.
        pub(super) fn reference_redact(&self, event: &Value) -> Redacted {
            let mut summary = RedactionSummary {
                policy_version: self.policy.version.clone(),
                records: Vec::new(),
                unscanned: Vec::new(),
                data_classes: Vec::new(),
            };
            let mut classes = std::collections::BTreeSet::new();
            let mut path = String::from("$");
            let event = self
                .reference_value(event, None, &mut path, 0, &mut summary, &mut classes)
                .unwrap_or(Value::Null);
            summary.data_classes = classes
                .into_iter()
                .map(|c: DataClass| c.as_str().to_string())
                .collect();
            Redacted { event, summary }
        }

        /// The redacted form of `v`, or `None` when it is dropped.
        fn reference_value(
            &self,
            v: &Value,
            key: Option<&str>,
            path: &mut String,
            depth: usize,
            summary: &mut RedactionSummary,
            classes: &mut std::collections::BTreeSet<DataClass>,
        ) -> Option<Value> {
            let max_depth = self.scanner.config().max_depth;
            match v {
                Value::String(s) if crate::is_identifier_field(path) => {
                    match self.identifier(s, key, path, summary, classes) {
                        Outcome::Replace(r) => Some(Value::String(r)),
                        Outcome::Same | Outcome::Drop => Some(v.clone()),
                    }
                }
                Value::String(s) => match self.scalar(s, key, path, false, summary, classes) {
                    Outcome::Same => Some(v.clone()),
                    Outcome::Replace(r) => Some(Value::String(r)),
                    Outcome::Drop => None,
                },
                Value::Number(n) => {
                    let s = n.to_string();
                    if s.len() < MIN_NUMBER_DIGITS {
                        return Some(v.clone());
                    }
                    match self.scalar(&s, key, path, false, summary, classes) {
                        Outcome::Same => Some(v.clone()),
                        Outcome::Replace(r) => Some(Value::String(r)),
                        Outcome::Drop => None,
                    }
                }
                Value::Array(items) => {
                    if depth >= max_depth {
                        return Some(self.unscanned(path, "nesting over the scan limit", summary));
                    }
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        let len = path.len();
                        push_index(path, i);
                        out.push(
                            self.reference_value(item, key, path, depth + 1, summary, classes)
                                .unwrap_or(Value::Null),
                        );
                        path.truncate(len);
                    }
                    Some(Value::Array(out))
                }
                Value::Object(map) => {
                    if depth >= max_depth {
                        return Some(self.unscanned(path, "nesting over the scan limit", summary));
                    }
                    let mut out = Map::with_capacity(map.len());
                    for (k, item) in map {
                        let len = path.len();
                        // The member name is scanned first; the path we record
                        // uses the redacted name so the summary never leaks it.
                        let mut key_records = Vec::new();
                        let new_key = match self.scalar_into(
                            k,
                            None,
                            path,
                            true,
                            &mut key_records,
                            summary,
                            classes,
                        ) {
                            Outcome::Same => k.clone(),
                            Outcome::Replace(r) => r,
                            Outcome::Drop => {
                                for mut r in key_records {
                                    push_key(path, "[dropped]");
                                    r.path = path.clone();
                                    path.truncate(len);
                                    summary.records.push(r);
                                }
                                continue;
                            }
                        };
                        // Two names redacted alike ("[redacted:email]") must not
                        // overwrite each other.
                        let mut unique = new_key.clone();
                        let mut n = 2;
                        while out.contains_key(&unique) {
                            unique = format!("{new_key}#{n}");
                            n += 1;
                        }
                        let new_key = unique;
                        push_key(path, &new_key);
                        for mut r in key_records {
                            r.path = path.clone();
                            summary.records.push(r);
                        }
                        if let Some(nv) =
                            self.reference_value(item, Some(k), path, depth + 1, summary, classes)
                        {
                            out.insert(new_key, nv);
                        }
                        path.truncate(len);
                    }
                    Some(Value::Object(out))
                }
                Value::Null | Value::Bool(_) => Some(v.clone()),
            }
        }
    }
}
