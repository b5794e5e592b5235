//! The agent registry (DESIGN §2): who an agent is, who answers for it, and what it is
//! allowed to touch — plus the scope verdict that the server seals into each header.
//!
//! The verdict is computed at write time from the registry record as it stood then, so
//! an auditor can later see that an agent acted outside its declared scope even if the
//! record has since changed. Because the verdict lands in a *public* header, it never
//! quotes the resource (which may hold personal data), and the tool names, actions and
//! data classes it does quote are bounded, escaped and kept on one line.
//!
//! Scope patterns are globs over the whole string: `*` matches any run of characters
//! (including `/` and none at all), `?` exactly one character; everything else is
//! literal and case-sensitive. There is no escape for a literal `*` or `?`.

use serde::{Deserialize, Deserializer, Serialize};

use crate::event::{Event, MAX_DATA_CLASS_CHARS};

/// Byte limit for [`AgentRecord::id`]; the same bound events put on `agent.id`.
pub const MAX_ID_BYTES: usize = 256;
/// Byte limit for the free-text fields (`name`, `owner`, `purpose`, `model`).
pub const MAX_TEXT_BYTES: usize = 4096;
/// Maximum entries in one scope list.
pub const MAX_PATTERNS: usize = 256;
/// Byte limit for one scope pattern.
pub const MAX_PATTERN_BYTES: usize = 512;
/// Byte limit for a name quoted in a verdict reason (after escaping, marker included).
pub const MAX_QUOTED_BYTES: usize = 128;

/// Verdict for an event whose agent is registered and acted within scope.
pub const IN_SCOPE: &str = "in_scope";
/// Verdict for an event whose agent has no registry record.
pub const UNREGISTERED: &str = "unregistered_agent";
/// Prefix of every out-of-scope verdict; the reason follows it.
pub const OUT_OF_SCOPE_PREFIX: &str = "out_of_scope: ";

/// EU AI Act risk tier the operator assigns to the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskTier {
    /// No specific obligations.
    #[default]
    Minimal,
    /// Transparency obligations (Art. 50).
    Limited,
    /// High-risk system (Art. 6, Annex III): logging and oversight duties apply.
    High,
    /// Prohibited practice (Art. 5); recorded so that any activity stands out.
    Prohibited,
}

impl RiskTier {
    /// The serde name, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskTier::Minimal => "minimal",
            RiskTier::Limited => "limited",
            RiskTier::High => "high",
            RiskTier::Prohibited => "prohibited",
        }
    }
}

/// EU AI Act Annex III high-risk area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnexIII {
    /// Point 1: biometrics.
    Biometrics,
    /// Point 2: critical infrastructure.
    CriticalInfrastructure,
    /// Point 3: education and vocational training.
    Education,
    /// Point 4: employment and workers management.
    Employment,
    /// Point 5: access to essential private and public services.
    EssentialServices,
    /// Point 6: law enforcement.
    LawEnforcement,
    /// Point 7: migration, asylum and border control.
    Migration,
    /// Point 8: administration of justice and democratic processes.
    JusticeDemocracy,
}

/// Lifecycle state; anything but `active` puts every event out of scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// Allowed to act within its scope.
    #[default]
    Active,
    /// Temporarily stopped (e.g. pending review).
    Suspended,
    /// Decommissioned for good.
    Retired,
}

/// What an agent may touch. `None` leaves a dimension unconstrained; `Some(vec![])`
/// allows nothing in it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentScope {
    /// Glob patterns over `tool.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// Glob patterns over `action`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<String>>,
    /// Glob patterns over `resource`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
    /// Exact data-class names allowed (`pii`, `pci`, `phi`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_classes: Option<Vec<String>>,
}

/// One registered agent. `created`, `updated` and `version` belong to the server, which
/// sets them; they default to 0 so a create request can omit them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentRecord {
    /// Agent id as events carry it (`agent.id`).
    pub id: String,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Team or person accountable for the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// What the agent is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// Model it runs on, e.g. `openai/gpt-4.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// EU AI Act risk tier.
    #[serde(default)]
    pub risk_tier: RiskTier,
    /// Annex III area; only meaningful (and only accepted) for `risk_tier: high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annex_iii: Option<AnnexIII>,
    /// Lifecycle state.
    #[serde(default)]
    pub status: AgentStatus,
    /// What the agent may touch.
    #[serde(default)]
    pub scope: AgentScope,
    /// Creation time, microseconds since the epoch (server clock).
    #[serde(default)]
    pub created: u64,
    /// Last change, microseconds since the epoch (server clock).
    #[serde(default)]
    pub updated: u64,
    /// 1 on creation, +1 per change.
    #[serde(default)]
    pub version: u64,
}

/// Why a registry record was refused, and which field (`scope.tools[2]`, `annex_iii`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct RegistryError {
    /// Path of the offending field.
    pub field: String,
    /// What is wrong with it.
    pub problem: RegistryProblem,
}

/// The kinds of [`RegistryError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryProblem {
    /// An empty string where a value is required (`what`: "pattern", "value", …).
    #[error("{what} is empty")]
    Empty {
        /// What kind of value it is.
        what: &'static str,
    },
    /// A string over its byte limit.
    #[error("{what} is {len} bytes long; the limit is {max}")]
    TooLong {
        /// What kind of value it is.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A control character where none is allowed.
    #[error("{what} contains a control character (U+{code:04X})")]
    ControlChar {
        /// What kind of value it is.
        what: &'static str,
        /// The offending code point.
        code: u32,
    },
    /// A list with too many entries.
    #[error("{len} entries; the limit is {max}")]
    TooMany {
        /// How many entries there are.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A data-class entry events could never carry, so it could never match.
    #[error("{0:?} is not a data class tag: use 1 to {MAX_DATA_CLASS_CHARS} of a-z, 0-9, _ and - (e.g. pii, pci, phi)")]
    NotADataClass(String),
    /// `annex_iii` set on an agent that is not high-risk.
    #[error("annex_iii is only allowed with risk_tier \"high\" (risk_tier is {:?}); Annex III areas are high-risk by definition", .0.as_str())]
    AnnexIIIRequiresHigh(RiskTier),
}

fn err(field: impl Into<String>, problem: RegistryProblem) -> RegistryError {
    RegistryError {
        field: field.into(),
        problem,
    }
}

impl AgentRecord {
    /// Checks the operator-supplied fields; the server-set ones (`created`, `updated`,
    /// `version`) are not checked, so a create request validates before they are set.
    pub fn validate(&self) -> Result<(), RegistryError> {
        check_str("id", "id", &self.id, MAX_ID_BYTES, false)?;
        for (field, value, multiline) in [
            ("name", &self.name, false),
            ("owner", &self.owner, false),
            ("purpose", &self.purpose, true),
            ("model", &self.model, false),
        ] {
            if let Some(v) = value {
                check_str(field, "value", v, MAX_TEXT_BYTES, multiline)?;
            }
        }
        if self.annex_iii.is_some() && self.risk_tier != RiskTier::High {
            return Err(err(
                "annex_iii",
                RegistryProblem::AnnexIIIRequiresHigh(self.risk_tier),
            ));
        }
        self.scope.validate()
    }
}

impl AgentScope {
    /// Checks list sizes, patterns and data-class names; paths are `scope.<list>[i]`.
    pub fn validate(&self) -> Result<(), RegistryError> {
        for (name, list) in [
            ("tools", &self.tools),
            ("actions", &self.actions),
            ("resources", &self.resources),
        ] {
            let Some(list) = list else { continue };
            check_len(name, list)?;
            for (i, p) in list.iter().enumerate() {
                check_str(
                    format!("scope.{name}[{i}]"),
                    "pattern",
                    p,
                    MAX_PATTERN_BYTES,
                    false,
                )?;
            }
        }
        if let Some(list) = &self.data_classes {
            check_len("data_classes", list)?;
            for (i, c) in list.iter().enumerate() {
                let ok = (1..=MAX_DATA_CLASS_CHARS).contains(&c.len())
                    && c.bytes()
                        .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'));
                if !ok {
                    return Err(err(
                        format!("scope.data_classes[{i}]"),
                        RegistryProblem::NotADataClass(c.clone()),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn check_len(name: &str, list: &[String]) -> Result<(), RegistryError> {
    if list.len() > MAX_PATTERNS {
        return Err(err(
            format!("scope.{name}"),
            RegistryProblem::TooMany {
                len: list.len(),
                max: MAX_PATTERNS,
            },
        ));
    }
    Ok(())
}

/// Non-empty, at most `max` bytes, no control characters (tab and line breaks allowed
/// when `multiline`, for free text such as `purpose`).
fn check_str(
    field: impl Into<String>,
    what: &'static str,
    s: &str,
    max: usize,
    multiline: bool,
) -> Result<(), RegistryError> {
    if s.is_empty() {
        return Err(err(field, RegistryProblem::Empty { what }));
    }
    if s.len() > max {
        return Err(err(
            field,
            RegistryProblem::TooLong {
                what,
                len: s.len(),
                max,
            },
        ));
    }
    let allowed = |c: char| multiline && matches!(c, '\t' | '\n' | '\r');
    if let Some(c) = s.chars().find(|&c| c.is_control() && !allowed(c)) {
        return Err(err(
            field,
            RegistryProblem::ControlChar {
                what,
                code: u32::from(c),
            },
        ));
    }
    Ok(())
}

/// A PATCH body. Absent fields are left alone; for the optional text fields and
/// `annex_iii`, an explicit `null` clears the value (JSON Merge Patch, RFC 7396).
/// `scope`, when present, replaces the whole scope: merging lists would make it too easy
/// to widen a scope by accident. `id` and the server-set fields cannot be patched.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentPatch {
    /// New name; `Some(None)` clears it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub name: Option<Option<String>>,
    /// New owner; `Some(None)` clears it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub owner: Option<Option<String>>,
    /// New purpose; `Some(None)` clears it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub purpose: Option<Option<String>>,
    /// New model; `Some(None)` clears it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub model: Option<Option<String>>,
    /// New risk tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_tier: Option<RiskTier>,
    /// New Annex III area; `Some(None)` clears it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub annex_iii: Option<Option<AnnexIII>>,
    /// New status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AgentStatus>,
    /// Replacement scope (whole, not merged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<AgentScope>,
}

/// Present-but-null becomes `Some(None)`; absent stays `None` through `default`.
fn nullable<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl AgentPatch {
    /// True when the patch changes nothing, so the server can skip a version bump.
    pub fn is_empty(&self) -> bool {
        *self == AgentPatch::default()
    }

    /// The record with this patch applied. `version` and `updated` are left as they
    /// were (the server bumps them), and the result is not validated: call
    /// [`AgentRecord::validate`] on it, since a patch can break a cross-field rule
    /// (e.g. lowering `risk_tier` while `annex_iii` is set).
    pub fn apply(&self, rec: &AgentRecord) -> AgentRecord {
        let mut out = rec.clone();
        let set = |slot: &mut Option<String>, v: &Option<Option<String>>| {
            if let Some(v) = v {
                slot.clone_from(v);
            }
        };
        set(&mut out.name, &self.name);
        set(&mut out.owner, &self.owner);
        set(&mut out.purpose, &self.purpose);
        set(&mut out.model, &self.model);
        if let Some(t) = self.risk_tier {
            out.risk_tier = t;
        }
        if let Some(a) = self.annex_iii {
            out.annex_iii = a;
        }
        if let Some(s) = self.status {
            out.status = s;
        }
        if let Some(s) = &self.scope {
            out.scope = s.clone();
        }
        out
    }
}

/// Whether `pattern` matches the whole of `text`: `*` is any run of characters, `?` one
/// character, the rest literal.
///
/// The classic two-pointer matcher: on a mismatch it retries only from the most recent
/// `*`, so the cost is O(|pattern| · |text|) at worst — never the exponential blowup of
/// a backtracking regex. It works on bytes for speed; since both strings are UTF-8 and
/// `*`/`?` are ASCII, literal runs only ever match whole characters, and `?` and the
/// star's retry step advance by a whole character, so positions stay on boundaries.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // Position after the last `*` seen, and the text position it is currently covering up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                pi += 1;
                star = Some((pi, ti));
                continue;
            }
            Some(b'?') => {
                pi += 1;
                ti += utf8_len(t[ti]);
                continue;
            }
            Some(&b) if b == t[ti] => {
                pi += 1;
                ti += 1;
                continue;
            }
            _ => {}
        }
        // Mismatch: let the last star swallow one more character and retry after it.
        match star {
            Some((sp, st)) => {
                let st = st + utf8_len(t[st]);
                star = Some((sp, st));
                pi = sp;
                ti = st;
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// Length of the UTF-8 sequence that starts with `lead`.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

/// The fields of an event that scope is checked against.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScopeInput<'a> {
    /// `tool.name`.
    pub tool: Option<&'a str>,
    /// `action`.
    pub action: Option<&'a str>,
    /// `resource` (checked, never quoted).
    pub resource: Option<&'a str>,
    /// `data_classes`.
    pub data_classes: &'a [String],
}

impl<'a> From<&'a Event> for ScopeInput<'a> {
    fn from(ev: &'a Event) -> Self {
        ScopeInput {
            tool: ev.tool.as_ref().map(|t| t.name.as_str()),
            action: ev.action.as_deref(),
            resource: ev.resource.as_deref(),
            data_classes: &ev.data_classes,
        }
    }
}

/// The scope verdict sealed into an event's header: [`IN_SCOPE`], [`UNREGISTERED`] when
/// there is no record, or `out_of_scope: <reason>` for the first failing check in the
/// order status, tool, action, resource, data classes. A dimension is checked only when
/// the event carries it and the scope constrains it.
pub fn scope_verdict(agent: Option<&AgentRecord>, ev: &ScopeInput<'_>) -> String {
    let Some(agent) = agent else {
        return UNREGISTERED.to_owned();
    };
    match reason(agent, ev) {
        None => IN_SCOPE.to_owned(),
        Some(r) => format!("{OUT_OF_SCOPE_PREFIX}{r}"),
    }
}

fn reason(agent: &AgentRecord, ev: &ScopeInput<'_>) -> Option<String> {
    match agent.status {
        AgentStatus::Active => {}
        AgentStatus::Suspended => return Some("agent is suspended".into()),
        AgentStatus::Retired => return Some("agent is retired".into()),
    }
    let scope = &agent.scope;
    let denied = |value: Option<&str>, patterns: &Option<Vec<String>>| match (value, patterns) {
        (Some(v), Some(ps)) => !ps.iter().any(|p| glob_match(p, v)),
        _ => false,
    };
    if denied(ev.tool, &scope.tools) {
        return Some(format!("tool {} not allowed", quote(ev.tool?)));
    }
    if denied(ev.action, &scope.actions) {
        return Some(format!("action {} not allowed", quote(ev.action?)));
    }
    if denied(ev.resource, &scope.resources) {
        // Never quote the resource: headers are public and resources can name people.
        return Some("resource not allowed".into());
    }
    if let Some(allowed) = &scope.data_classes {
        if let Some(c) = ev.data_classes.iter().find(|c| !allowed.contains(c)) {
            return Some(format!("data class {} not allowed", quote(c)));
        }
    }
    None
}

/// `s` in double quotes, one line, at most [`MAX_QUOTED_BYTES`] between the quotes:
/// `"` and `\` are backslash-escaped, control and line/paragraph separator characters
/// become U+FFFD, and a cut (always between whole escapes) is marked with `…`.
fn quote(s: &str) -> String {
    const MARK: char = '…';
    let mut out = String::with_capacity(s.len().min(MAX_QUOTED_BYTES) + 2);
    out.push('"');
    let limit = MAX_QUOTED_BYTES + 1; // the opening quote
                                      // Longest prefix that still leaves room for the mark, should we need to cut.
    let mut cut = out.len();
    let mut buf = [0u8; 4];
    for c in s.chars() {
        let piece: &str = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => "\u{FFFD}",
            c => c.encode_utf8(&mut buf),
        };
        if out.len() + piece.len() > limit {
            out.truncate(cut);
            out.push(MARK);
            break;
        }
        out.push_str(piece);
        if out.len() + MARK.len_utf8() <= limit {
            cut = out.len();
        }
    }
    out.push('"');
    out
}

/// Whether a verdict says the event was out of scope.
pub fn is_out_of_scope(verdict: &str) -> bool {
    verdict.starts_with(OUT_OF_SCOPE_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec(scope: AgentScope) -> AgentRecord {
        AgentRecord {
            id: "agent-1".into(),
            name: None,
            owner: None,
            purpose: None,
            model: None,
            risk_tier: RiskTier::Minimal,
            annex_iii: None,
            status: AgentStatus::Active,
            scope,
            created: 1,
            updated: 1,
            version: 1,
        }
    }

    fn list(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| s.to_string()).collect())
    }

    fn full_scope() -> AgentScope {
        AgentScope {
            tools: list(&["crm.*", "search"]),
            actions: list(&["read", "refund.?"]),
            resources: list(&["crm:customer/*"]),
            data_classes: list(&["pii"]),
        }
    }

    fn input<'a>(
        tool: Option<&'a str>,
        action: Option<&'a str>,
        resource: Option<&'a str>,
        classes: &'a [String],
    ) -> ScopeInput<'a> {
        ScopeInput {
            tool,
            action,
            resource,
            data_classes: classes,
        }
    }

    #[test]
    fn unregistered_and_in_scope() {
        let ev = input(Some("search"), None, None, &[]);
        assert_eq!(scope_verdict(None, &ev), UNREGISTERED);
        assert_eq!(scope_verdict(Some(&rec(full_scope())), &ev), IN_SCOPE);
        let pii = vec!["pii".to_string()];
        let ev = input(
            Some("crm.lookup"),
            Some("read"),
            Some("crm:customer/42"),
            &pii,
        );
        assert_eq!(scope_verdict(Some(&rec(full_scope())), &ev), IN_SCOPE);
        assert!(!is_out_of_scope(IN_SCOPE) && !is_out_of_scope(UNREGISTERED));
    }

    #[test]
    fn status_wins_over_everything() {
        let mut r = rec(AgentScope {
            tools: Some(vec![]),
            ..Default::default()
        });
        let ev = input(Some("anything"), None, None, &[]);
        r.status = AgentStatus::Suspended;
        assert_eq!(
            scope_verdict(Some(&r), &ev),
            "out_of_scope: agent is suspended"
        );
        r.status = AgentStatus::Retired;
        assert_eq!(
            scope_verdict(Some(&r), &ev),
            "out_of_scope: agent is retired"
        );
        // Even an empty event is out of scope for an inactive agent.
        assert!(is_out_of_scope(&scope_verdict(
            Some(&r),
            &input(None, None, None, &[])
        )));
    }

    #[test]
    fn each_dimension_and_check_order() {
        let r = rec(full_scope());
        let phi = vec!["pii".to_string(), "phi".to_string()];
        // Everything wrong: the tool is reported.
        let ev = input(Some("shell"), Some("delete"), Some("fs:/etc"), &phi);
        assert_eq!(
            scope_verdict(Some(&r), &ev),
            r#"out_of_scope: tool "shell" not allowed"#
        );
        let ev = input(Some("search"), Some("delete"), Some("fs:/etc"), &phi);
        assert_eq!(
            scope_verdict(Some(&r), &ev),
            r#"out_of_scope: action "delete" not allowed"#
        );
        let ev = input(Some("search"), Some("refund.x"), Some("fs:/etc"), &phi);
        assert_eq!(
            scope_verdict(Some(&r), &ev),
            "out_of_scope: resource not allowed"
        );
        let ev = input(Some("search"), Some("read"), Some("crm:customer/7"), &phi);
        assert_eq!(
            scope_verdict(Some(&r), &ev),
            r#"out_of_scope: data class "phi" not allowed"#
        );
    }

    #[test]
    fn missing_values_and_unconstrained_lists_pass() {
        let r = rec(full_scope());
        assert_eq!(
            scope_verdict(Some(&r), &input(None, None, None, &[])),
            IN_SCOPE
        );
        let open = rec(AgentScope::default());
        let pci = vec!["pci".to_string()];
        let ev = input(Some("x"), Some("y"), Some("z"), &pci);
        assert_eq!(scope_verdict(Some(&open), &ev), IN_SCOPE);
        // Some(empty) allows nothing.
        let closed = rec(AgentScope {
            data_classes: Some(vec![]),
            ..Default::default()
        });
        assert_eq!(
            scope_verdict(Some(&closed), &ev),
            r#"out_of_scope: data class "pci" not allowed"#
        );
        assert_eq!(
            scope_verdict(Some(&closed), &input(Some("x"), None, None, &[])),
            IN_SCOPE
        );
    }

    #[test]
    fn resource_is_never_quoted() {
        let r = rec(full_scope());
        let ev = input(None, None, Some("patient/jane-doe"), &[]);
        let v = scope_verdict(Some(&r), &ev);
        assert_eq!(v, "out_of_scope: resource not allowed");
        assert!(!v.contains("jane"));
    }

    #[test]
    fn quoted_names_are_clean_and_bounded() {
        let r = rec(AgentScope {
            tools: Some(vec![]),
            ..Default::default()
        });
        let v = scope_verdict(
            Some(&r),
            &input(Some("a\"b\\c\nd\u{2028}e"), None, None, &[]),
        );
        assert_eq!(
            v,
            "out_of_scope: tool \"a\\\"b\\\\c\u{FFFD}d\u{FFFD}e\" not allowed"
        );

        let long = "é".repeat(200);
        let q = quote(&long);
        let inner = &q[1..q.len() - 1];
        assert!(inner.len() <= MAX_QUOTED_BYTES, "{}", inner.len());
        assert!(inner.ends_with('…'));
        assert!(inner.trim_end_matches('…').chars().all(|c| c == 'é'));

        // A cut never splits an escape.
        let quotes = "\"".repeat(100);
        let q = quote(&quotes);
        let inner = &q[1..q.len() - 1];
        assert!(inner.len() <= MAX_QUOTED_BYTES);
        assert!(inner.trim_end_matches('…').len() % 2 == 0);

        // Exactly at the limit: no cut, no mark.
        let exact = "x".repeat(MAX_QUOTED_BYTES);
        assert_eq!(quote(&exact), format!("\"{exact}\""));
        let over = "x".repeat(MAX_QUOTED_BYTES + 1);
        assert!(quote(&over).ends_with("…\""));
    }

    #[test]
    fn patterns() {
        assert!(glob_match("*", ""));
        assert!(glob_match("*", "a/b/c"));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "a"));
        assert!(glob_match("crm:customer/*", "crm:customer/42"));
        assert!(glob_match("crm:customer/*", "crm:customer/"));
        assert!(glob_match("crm:customer/*", "crm:customer/42/orders"));
        assert!(!glob_match("crm:customer/*", "crm:customers/42"));
        assert!(!glob_match("crm:customer/*", "xcrm:customer/42"));
        // Anchored at both ends.
        assert!(!glob_match("read", "read.all"));
        assert!(!glob_match("read", "unread"));
        assert!(glob_match("*read", "unread"));
        // `?` is exactly one character.
        assert!(glob_match("refund.?", "refund.x"));
        assert!(!glob_match("refund.?", "refund."));
        assert!(!glob_match("refund.?", "refund.xy"));
        // Case-sensitive.
        assert!(!glob_match("Search", "search"));
        // Unicode: `?` takes a whole character, literals compare exactly.
        assert!(glob_match("caf?", "café"));
        assert!(glob_match("*é", "café"));
        assert!(glob_match("?🦀?", "a🦀b"));
        assert!(!glob_match("caf??", "café"));
        assert!(!glob_match("cafe", "café"));
        // Star retries.
        assert!(glob_match("a*b*c", "aXbYbZc"));
        assert!(!glob_match("a*b*c", "aXbYbZ"));
        assert!(glob_match("**a**", "a"));
    }

    #[test]
    fn matcher_is_not_exponential() {
        let text = "a".repeat(4000);
        let pattern = format!("{}b", "*a".repeat(200));
        assert!(!glob_match(&pattern, &text));
    }

    #[test]
    fn validate_accepts_a_good_record() {
        let mut r = rec(full_scope());
        r.name = Some("Refund bot".into());
        r.purpose = Some("Issues refunds.\nUp to 100 EUR.".into());
        r.risk_tier = RiskTier::High;
        r.annex_iii = Some(AnnexIII::EssentialServices);
        r.validate().unwrap();
    }

    #[test]
    fn validate_errors_name_the_field() {
        fn check(f: impl Fn(&mut AgentRecord), want: &str) {
            let mut r = rec(full_scope());
            f(&mut r);
            assert_eq!(r.validate().unwrap_err().to_string(), want);
        }
        check(|r| r.id.clear(), "id: id is empty");
        check(
            |r| r.id = "x".repeat(257),
            "id: id is 257 bytes long; the limit is 256",
        );
        check(
            |r| r.id = "a\u{7}".into(),
            "id: id contains a control character (U+0007)",
        );
        check(
            |r| r.name = Some("two\nlines".into()),
            "name: value contains a control character (U+000A)",
        );
        check(|r| r.owner = Some(String::new()), "owner: value is empty");
        check(
            |r| r.model = Some("m".repeat(4097)),
            "model: value is 4097 bytes long; the limit is 4096",
        );
        check(
            |r| r.scope.tools = list(&["a", "b", ""]),
            "scope.tools[2]: pattern is empty",
        );
        check(
            |r| r.scope.resources = Some(vec!["r".repeat(513)]),
            "scope.resources[0]: pattern is 513 bytes long; the limit is 512",
        );
        check(
            |r| r.scope.actions = list(&["x\ty"]),
            "scope.actions[0]: pattern contains a control character (U+0009)",
        );
        check(
            |r| r.scope.tools = Some(vec!["t".into(); 257]),
            "scope.tools: 257 entries; the limit is 256",
        );
        check(
            |r| r.scope.data_classes = list(&["pii", "PII"]),
            "scope.data_classes[1]: \"PII\" is not a data class tag: use 1 to 64 of a-z, 0-9, _ and - (e.g. pii, pci, phi)",
        );
        check(
            |r| r.annex_iii = Some(AnnexIII::Biometrics),
            "annex_iii: annex_iii is only allowed with risk_tier \"high\" (risk_tier is \"minimal\"); Annex III areas are high-risk by definition",
        );
        let mut r = rec(full_scope());
        r.purpose = Some("line\r\n\tindented".into());
        r.validate().unwrap();
        r.scope.tools = Some(vec!["t".into(); 256]);
        r.validate().unwrap();
    }

    #[test]
    fn patch_apply() {
        let mut r = rec(full_scope());
        r.name = Some("old".into());
        r.owner = Some("team-a".into());
        r.version = 3;
        r.updated = 99;
        let p: AgentPatch = serde_json::from_str(
            r#"{"name":null,"owner":"team-b","status":"suspended","scope":{"tools":["x"]}}"#,
        )
        .unwrap();
        let out = p.apply(&r);
        assert_eq!(out.name, None);
        assert_eq!(out.owner.as_deref(), Some("team-b"));
        assert_eq!(out.status, AgentStatus::Suspended);
        // Scope replaced whole: the other lists are gone.
        assert_eq!(
            out.scope,
            AgentScope {
                tools: list(&["x"]),
                ..Default::default()
            }
        );
        assert_eq!(
            (out.version, out.updated, out.id.as_str()),
            (3, 99, "agent-1")
        );
        assert_eq!(out.risk_tier, r.risk_tier);

        assert!(AgentPatch::default().is_empty());
        assert_eq!(AgentPatch::default().apply(&r), r);

        // A patch can break a cross-field rule; validate catches it.
        let mut high = rec(AgentScope::default());
        high.risk_tier = RiskTier::High;
        high.annex_iii = Some(AnnexIII::Education);
        let p: AgentPatch = serde_json::from_str(r#"{"risk_tier":"limited"}"#).unwrap();
        assert!(p.apply(&high).validate().is_err());
        let p: AgentPatch =
            serde_json::from_str(r#"{"risk_tier":"limited","annex_iii":null}"#).unwrap();
        p.apply(&high).validate().unwrap();
    }

    #[test]
    fn patch_serde() {
        let p = AgentPatch {
            name: Some(None),
            model: Some(Some("openai/gpt-4.1".into())),
            ..Default::default()
        };
        let s = serde_json::to_string(&p).unwrap();
        assert_eq!(s, r#"{"name":null,"model":"openai/gpt-4.1"}"#);
        assert_eq!(serde_json::from_str::<AgentPatch>(&s).unwrap(), p);
        for bad in [
            r#"{"id":"other"}"#,
            r#"{"version":2}"#,
            r#"{"created":1}"#,
            r#"{"updated":1}"#,
            r#"{"scope":{"tool":["x"]}}"#,
        ] {
            assert!(serde_json::from_str::<AgentPatch>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn record_serde_round_trip() {
        let mut r = rec(full_scope());
        r.model = Some("openai/gpt-4.1".into());
        r.risk_tier = RiskTier::High;
        r.annex_iii = Some(AnnexIII::CriticalInfrastructure);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["risk_tier"], "high");
        assert_eq!(v["annex_iii"], "critical_infrastructure");
        assert_eq!(v["status"], "active");
        assert!(v.get("name").is_none());
        assert_eq!(serde_json::from_value::<AgentRecord>(v).unwrap(), r);

        // Minimal create request: defaults fill the rest.
        let m: AgentRecord = serde_json::from_str(r#"{"id":"a"}"#).unwrap();
        assert_eq!(m.risk_tier, RiskTier::Minimal);
        assert_eq!(m.status, AgentStatus::Active);
        assert_eq!(m.scope, AgentScope::default());
        assert_eq!(m.version, 0);
        let s = serde_json::to_string(&m.scope).unwrap();
        assert_eq!(s, "{}");

        for bad in [
            r#"{"id":"a","nmae":"x"}"#,
            r#"{"id":"a","scope":{"tools":[],"extra":1}}"#,
            r#"{"id":"a","risk_tier":"unacceptable"}"#,
            r#"{"id":"a","annex_iii":"healthcare"}"#,
            r#"{"id":"a","status":"paused"}"#,
            r#"{"name":"no id"}"#,
        ] {
            assert!(serde_json::from_str::<AgentRecord>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scope_input_from_event() {
        let ev: Event = serde_json::from_str(
            r#"{"agent":{"id":"a"},"kind":"tool_call","tool":{"name":"crm.lookup"},"action":"read","resource":"crm:customer/1","data_classes":["pii"]}"#,
        )
        .unwrap();
        let si = ScopeInput::from(&ev);
        assert_eq!(si.tool, Some("crm.lookup"));
        assert_eq!(scope_verdict(Some(&rec(full_scope())), &si), IN_SCOPE);
    }

    /// Naive reference: exponential in the worst case, fine for short strings.
    fn reference(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| reference(rest, &t[i..])),
            Some(('?', rest)) => !t.is_empty() && reference(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && reference(rest, &t[1..]),
        }
    }

    fn opt_list() -> impl Strategy<Value = Option<Vec<String>>> {
        proptest::option::of(proptest::collection::vec("[a-c*?/é\"\n]{0,6}", 0..4))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn matcher_agrees_with_reference(p in "[ab*?é🦀/]{0,8}", t in "[abé🦀/]{0,10}") {
            let pc: Vec<char> = p.chars().collect();
            let tc: Vec<char> = t.chars().collect();
            prop_assert_eq!(glob_match(&p, &t), reference(&pc, &tc));
        }

        #[test]
        fn verdict_never_panics_and_stays_clean(
            registered in any::<bool>(),
            status in 0u8..3,
            tools in opt_list(), actions in opt_list(), resources in opt_list(),
            classes in proptest::option::of(proptest::collection::vec("[a-c]{0,2}", 0..3)),
            tool in proptest::option::of(any::<String>()),
            action in proptest::option::of(any::<String>()),
            resource in proptest::option::of("SECRET[a-c/é]{0,5}"),
            ev_classes in proptest::collection::vec(any::<String>(), 0..3),
        ) {
            let mut r = rec(AgentScope { tools, actions, resources, data_classes: classes });
            r.status = [AgentStatus::Active, AgentStatus::Suspended, AgentStatus::Retired][status as usize];
            let ev = ScopeInput {
                tool: tool.as_deref(),
                action: action.as_deref(),
                resource: resource.as_deref(),
                data_classes: &ev_classes,
            };
            let v = scope_verdict(registered.then_some(&r), &ev);
            prop_assert!(v == IN_SCOPE || v == UNREGISTERED || is_out_of_scope(&v));
            prop_assert!(!v.contains("SECRET"));
            let line_break = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
            prop_assert!(!v.chars().any(line_break), "not one line: {:?}", v);
            prop_assert!(v.len() <= OUT_OF_SCOPE_PREFIX.len() + MAX_QUOTED_BYTES + 40);
        }
    }
}
