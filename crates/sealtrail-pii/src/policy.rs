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
        let mut summary = RedactionSummary {
            policy_version: self.policy.version.clone(),
            records: Vec::new(),
            unscanned: Vec::new(),
            data_classes: Vec::new(),
        };
        let mut classes = std::collections::BTreeSet::new();
        let mut path = String::from("$");
        let event = self
            .value(event, None, &mut path, 0, &mut summary, &mut classes)
            .unwrap_or(Value::Null);
        summary.data_classes = classes
            .into_iter()
            .map(|c: DataClass| c.as_str().to_string())
            .collect();
        Redacted { event, summary }
    }

    /// The redacted form of `v`, or `None` when it is dropped.
    fn value(
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
                        self.value(item, key, path, depth + 1, summary, classes)
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
                    if let Some(nv) = self.value(item, Some(k), path, depth + 1, summary, classes) {
                        out.insert(new_key, nv);
                    }
                    path.truncate(len);
                }
                Some(Value::Object(out))
            }
            Value::Null | Value::Bool(_) => Some(v.clone()),
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
