//! The event model (DESIGN §2): what a client sends, validated field by field.
//!
//! Every error names the JSON path of the offending field (`agent.id`, `subjects[3]`,
//! `$` for the document) so that an agent developer can fix the emitter without
//! guessing. Unknown fields are rejected everywhere except in the free-form slots
//! (`input`, `output`, `reasoning`, `tool.arguments`, `tool.result`, `change.before`,
//! `change.after`, `attributes`): a misspelt field silently dropped from a signed audit
//! record is worse than a rejected request.
//!
//! The stored body is [`Event::canonical_bytes`], the JCS form of the event as
//! serialized here. Absent options and empty lists are omitted, and a JSON `null` in an
//! optional field is the same as leaving it out.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::jcs::{self, JcsError, ParseLimits};

/// Largest `seq` and token count accepted: 2^53 − 1, the I-JSON safe integer bound.
pub const MAX_SAFE_COUNTER: u64 = (1 << 53) - 1;
/// Byte limit for identifiers and short labels.
pub const MAX_LABEL_BYTES: usize = 256;
/// Character limit for the client event `id`.
pub const MAX_EVENT_ID_CHARS: usize = 128;
/// Maximum number of `subjects`.
pub const MAX_SUBJECTS: usize = 64;
/// Maximum number of `data_classes`.
pub const MAX_DATA_CLASSES: usize = 32;
/// Maximum length of one data class tag.
pub const MAX_DATA_CLASS_CHARS: usize = 64;

/// One agent action, as sent by a client. Only `agent.id` and `kind` are required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Client-generated unique id (UUIDv7/ULID); the idempotency key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Who acted.
    pub agent: AgentRef,
    /// The task / conversation / run this step belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Id of the parent event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The agent instance's own monotonically increasing counter, for gap detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// What sort of action this is.
    pub kind: EventKind,
    /// Free-text verb, e.g. `refund.issue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// What was acted upon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// How it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// The human or service on whose behalf the agent acts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Data subjects concerned (for access and erasure requests).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    /// Data classification tags (`pii`, `pci`, `phi`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_classes: Vec<String>,
    /// The model involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelInfo>,
    /// The tool involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<ToolCall>,
    /// Input to the step (free-form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// Output of the step (free-form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The agent's stated reasoning (free-form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Value>,
    /// A human review of the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
    /// A configuration or access change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    /// The client's clock, RFC 3339; kept, never trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<String>,
    /// Anything else (free-form object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Map<String, Value>>,
}

/// A stable, non-shared agent identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentRef {
    /// Stable identity (never a container name).
    pub id: String,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Agent software version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The running instance (process, replica).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// What sort of action an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A model invocation.
    ModelCall,
    /// A tool invocation.
    ToolCall,
    /// A decision taken by the agent.
    Decision,
    /// Reading or writing data.
    DataAccess,
    /// Start, stop, spawn, crash.
    AgentLifecycle,
    /// A human approved, rejected or overrode something.
    HumanReview,
    /// A guardrail fired.
    Guardrail,
    /// Configuration changed.
    ConfigChange,
    /// Permissions changed.
    AccessChange,
    /// Spend or quota.
    Budget,
    /// Something needs attention.
    Alert,
    /// Anything else.
    Custom,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 12] = [
        EventKind::ModelCall,
        EventKind::ToolCall,
        EventKind::Decision,
        EventKind::DataAccess,
        EventKind::AgentLifecycle,
        EventKind::HumanReview,
        EventKind::Guardrail,
        EventKind::ConfigChange,
        EventKind::AccessChange,
        EventKind::Budget,
        EventKind::Alert,
        EventKind::Custom,
    ];

    /// The wire name (`tool_call`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::ModelCall => "model_call",
            EventKind::ToolCall => "tool_call",
            EventKind::Decision => "decision",
            EventKind::DataAccess => "data_access",
            EventKind::AgentLifecycle => "agent_lifecycle",
            EventKind::HumanReview => "human_review",
            EventKind::Guardrail => "guardrail",
            EventKind::ConfigChange => "config_change",
            EventKind::AccessChange => "access_change",
            EventKind::Budget => "budget",
            EventKind::Alert => "alert",
            EventKind::Custom => "custom",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It worked.
    Success,
    /// It failed.
    Failure,
    /// A policy or human refused it.
    Denied,
    /// Not finished yet.
    Pending,
}

impl Outcome {
    /// The wire name (`success`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
            Outcome::Pending => "pending",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The model behind a `model_call`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInfo {
    /// Vendor, e.g. `anthropic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Model version / snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Completion tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Cost in the deployment's currency; finite and non-negative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
}

/// The tool behind a `tool_call`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    /// Tool name (required, non-empty).
    pub name: String,
    /// The caller's id for this invocation (e.g. MCP/JSON-RPC id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// Arguments as sent (free-form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    /// Result as returned (free-form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

/// A human's review of an agent step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// Who reviewed (required, non-empty).
    pub reviewer: String,
    /// What they decided.
    pub decision: ReviewDecision,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A reviewer's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    /// Let it proceed.
    Approve,
    /// Refuse it.
    Reject,
    /// Replace the agent's choice with the reviewer's.
    Override,
    /// Hand it up.
    Escalate,
    /// Halt the agent.
    Stop,
}

impl ReviewDecision {
    /// The wire name (`approve`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            ReviewDecision::Approve => "approve",
            ReviewDecision::Reject => "reject",
            ReviewDecision::Override => "override",
            ReviewDecision::Escalate => "escalate",
            ReviewDecision::Stop => "stop",
        }
    }
}

/// A configuration or access change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// What changed (required, non-empty).
    pub target: String,
    /// State before (free-form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// State after (free-form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// Who approved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
}

/// Why an event was refused: the JSON path of the problem and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    /// `agent.id`, `tool.name`, `subjects[3]`, or `$` for the whole document.
    pub path: String,
    /// What is wrong, phrased so the sender can fix it.
    pub message: String,
}

impl EventError {
    /// Builds an error for `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        EventError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for EventError {}

impl From<JcsError> for EventError {
    fn from(e: JcsError) -> Self {
        match e {
            JcsError::UnsafeInteger { path, value } => EventError::new(
                field_path(&path),
                format!("number {value} is outside the I-JSON safe integer range (±2^53); send it as a string"),
            ),
            JcsError::DuplicateKey { path, key } => EventError::new(
                field_path(&path),
                format!("duplicate member name {key:?}; each name may appear once per object"),
            ),
            JcsError::TooDeep { max, path } => EventError::new(
                field_path(&path),
                format!("nested deeper than {max} levels; flatten the document"),
            ),
            other => EventError::new("$", other.to_string()),
        }
    }
}

/// Turns a JCS path (`$.agent.id`, `$["a b"]`) into an event path (`agent.id`, `["a b"]`).
fn field_path(jcs_path: &str) -> String {
    let rest = jcs_path.strip_prefix('$').unwrap_or(jcs_path);
    let rest = rest.strip_prefix('.').unwrap_or(rest);
    if rest.is_empty() {
        "$".to_owned()
    } else {
        rest.to_owned()
    }
}

impl Event {
    /// Parses and validates an event from JSON text: strict I-JSON (see
    /// [`jcs::parse_strict`]), then typed deserialization, then [`Event::validate`].
    pub fn from_json_slice(bytes: &[u8]) -> Result<Event, EventError> {
        let value = jcs::parse_strict(bytes, &ParseLimits::DEFAULT)?;
        Self::from_value(value)
    }

    /// Deserializes and validates an event from an already-parsed value.
    pub fn from_value(value: Value) -> Result<Event, EventError> {
        Self::from_value_ref(&value)
    }

    /// Deserializes and validates an event from a parsed value it borrows
    /// (ingest keeps the value to scan and redact it).
    pub fn from_value_ref(value: &Value) -> Result<Event, EventError> {
        require_objects(value)?;
        // Path tracking triples the cost of deserializing, so it only runs again to
        // explain a failure (same input, same deserializer, so the same error).
        let event = match Event::deserialize(value) {
            Ok(event) => event,
            Err(plain) => return Err(explain(value, &plain)),
        };
        event.validate()?;
        Ok(event)
    }

    /// Parses and validates an event and returns it with its stored body:
    /// the RFC 8785 form of the JSON as submitted. Canonicalising the parsed
    /// tree directly avoids re-serialising the typed event (measured ~30% of
    /// the ingest decode cost); members the client sent as `null` or `[]`
    /// stay in the body as sent.
    pub fn parse_with_body(bytes: &[u8]) -> Result<(Event, Vec<u8>), EventError> {
        let value = jcs::parse_strict(bytes, &ParseLimits::DEFAULT)?;
        let event = Self::from_value_ref(&value)?;
        let body = jcs::to_canonical_vec(&value)?;
        Ok((event, body))
    }

    /// The stored body: the JCS form of this event, which the sealed header commits to.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, JcsError> {
        jcs::to_canonical(self)
    }

    /// Checks the semantic rules that the types alone cannot express.
    pub fn validate(&self) -> Result<(), EventError> {
        let agent = &self.agent;
        label("agent.id", &agent.id)?;
        if agent.id.starts_with(char::is_whitespace) || agent.id.ends_with(char::is_whitespace) {
            return Err(EventError::new(
                "agent.id",
                "must not start or end with whitespace",
            ));
        }
        opt_label("agent.name", &agent.name)?;
        opt_label("agent.version", &agent.version)?;
        opt_label("agent.instance", &agent.instance)?;

        if let Some(id) = &self.id {
            event_id("id", id)?;
        }
        opt_label("session", &self.session)?;
        opt_label("parent", &self.parent)?;
        if let Some(seq) = self.seq {
            counter("seq", seq)?;
        }
        opt_label("action", &self.action)?;
        opt_label("resource", &self.resource)?;
        opt_label("principal", &self.principal)?;
        self.validate_subjects()?;
        self.validate_data_classes()?;

        if let Some(m) = &self.model {
            opt_label("model.provider", &m.provider)?;
            opt_label("model.name", &m.name)?;
            opt_label("model.version", &m.version)?;
            if let Some(t) = m.input_tokens {
                counter("model.input_tokens", t)?;
            }
            if let Some(t) = m.output_tokens {
                counter("model.output_tokens", t)?;
            }
            if let Some(c) = m.cost {
                if !c.is_finite() || c < 0.0 {
                    return Err(EventError::new(
                        "model.cost",
                        format!("must be a finite number ≥ 0, got {c}"),
                    ));
                }
            }
        }
        if let Some(t) = &self.tool {
            label("tool.name", &t.name)?;
            opt_label("tool.call_id", &t.call_id)?;
            free_form("tool.arguments", t.arguments.as_ref())?;
            free_form("tool.result", t.result.as_ref())?;
        }
        if let Some(r) = &self.review {
            label("review.reviewer", &r.reviewer)?;
        }
        if let Some(c) = &self.change {
            label("change.target", &c.target)?;
            opt_label("change.approved_by", &c.approved_by)?;
            free_form("change.before", c.before.as_ref())?;
            free_form("change.after", c.after.as_ref())?;
        }
        free_form("input", self.input.as_ref())?;
        free_form("output", self.output.as_ref())?;
        free_form("reasoning", self.reasoning.as_ref())?;
        if let Some(ts) = &self.occurred_at {
            if let Err(why) = check_rfc3339(ts) {
                return Err(EventError::new(
                    "occurred_at",
                    format!("{ts:?} is not an RFC 3339 timestamp ({why}); use e.g. 2026-11-22T13:21:31.123Z"),
                ));
            }
        }
        if let Some(attrs) = &self.attributes {
            for (k, v) in attrs {
                let mut path = String::from("attributes");
                jcs::push_key_segment(&mut path, k);
                if k.is_empty() {
                    return Err(EventError::new(path, "attribute names must not be empty"));
                }
                free_form(&path, Some(v))?;
            }
        }
        Ok(())
    }

    fn validate_subjects(&self) -> Result<(), EventError> {
        if self.subjects.len() > MAX_SUBJECTS {
            return Err(EventError::new(
                "subjects",
                format!(
                    "at most {MAX_SUBJECTS} subjects per event, got {}",
                    self.subjects.len()
                ),
            ));
        }
        for (i, s) in self.subjects.iter().enumerate() {
            label(&format!("subjects[{i}]"), s)?;
        }
        Ok(())
    }

    fn validate_data_classes(&self) -> Result<(), EventError> {
        let classes = &self.data_classes;
        if classes.len() > MAX_DATA_CLASSES {
            return Err(EventError::new(
                "data_classes",
                format!(
                    "at most {MAX_DATA_CLASSES} data classes per event, got {}",
                    classes.len()
                ),
            ));
        }
        for (i, c) in classes.iter().enumerate() {
            let ok = (1..=MAX_DATA_CLASS_CHARS).contains(&c.len())
                && c.bytes()
                    .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'));
            if !ok {
                return Err(EventError::new(
                    format!("data_classes[{i}]"),
                    format!("{c:?} is not a data class tag: use 1 to {MAX_DATA_CLASS_CHARS} of a-z, 0-9, _ and - (e.g. pii, pci, phi)"),
                ));
            }
            // Lists are small (≤ 32), so a quadratic scan beats building a set.
            if classes.iter().take(i).any(|p| p == c) {
                return Err(EventError::new(
                    format!("data_classes[{i}]"),
                    format!("{c:?} is listed twice"),
                ));
            }
        }
        Ok(())
    }
}

/// Identifiers and short labels: 1..=256 bytes, no control characters.
fn label(path: &str, s: &str) -> Result<(), EventError> {
    if s.is_empty() {
        return Err(EventError::new(path, "must not be empty"));
    }
    if s.len() > MAX_LABEL_BYTES {
        return Err(EventError::new(
            path,
            format!("is {} bytes long; the limit is {MAX_LABEL_BYTES}", s.len()),
        ));
    }
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(EventError::new(
            path,
            format!(
                "must not contain control characters (found U+{:04X})",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

/// Optional labels: when present, the same rules (an empty string is refused; omit the
/// field instead, so that "absent" has one spelling in the signed record).
fn opt_label(path: &str, s: &Option<String>) -> Result<(), EventError> {
    match s {
        Some(s) => label(path, s),
        None => Ok(()),
    }
}

/// The client event id: 1..=128 of `[A-Za-z0-9._:-]` (fits UUIDs, ULIDs, URNs).
fn event_id(path: &str, id: &str) -> Result<(), EventError> {
    let ok = (1..=MAX_EVENT_ID_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(EventError::new(
            path,
            format!("{id:?} is not a valid event id: use 1 to {MAX_EVENT_ID_CHARS} of A-Z, a-z, 0-9, '.', '_', ':' and '-' (e.g. a UUIDv7 or ULID)"),
        ))
    }
}

fn counter(path: &str, n: u64) -> Result<(), EventError> {
    if n > MAX_SAFE_COUNTER {
        Err(EventError::new(
            path,
            format!("{n} is above the I-JSON safe integer limit 2^53-1 ({MAX_SAFE_COUNTER})"),
        ))
    } else {
        Ok(())
    }
}

/// Free-form values must still be canonicalizable (safe integers, bounded depth), so
/// that [`Event::canonical_bytes`] cannot fail on a validated event built in code.
fn free_form(path: &str, v: Option<&Value>) -> Result<(), EventError> {
    let Some(v) = v else { return Ok(()) };
    jcs::check_value(v).map_err(|e| {
        let mut err = EventError::from(e);
        err.path = if err.path == "$" {
            path.to_owned()
        } else if err.path.starts_with('[') {
            format!("{path}{}", err.path)
        } else {
            format!("{path}.{}", err.path)
        };
        err
    })
}

/// The path-named form of a deserialization error.
fn explain(value: &Value, plain: &serde_json::Error) -> EventError {
    match serde_path_to_error::deserialize::<_, Event>(value) {
        Ok(_) => serde_error("$".to_owned(), &plain.to_string()),
        Err(e) => {
            let msg = e.inner().to_string();
            // An unknown field is a fault of the object that holds it, so report the
            // object's path (serde_path_to_error would end it with the unknown name).
            let drop_last = msg.starts_with("unknown field `");
            serde_error(render_path(e.path(), drop_last), &msg)
        }
    }
}

/// serde's derived structs also accept positional arrays (`["agent-1"]` for `agent`);
/// the wire format is objects only, so refuse arrays where a struct is expected.
fn require_objects(value: &Value) -> Result<(), EventError> {
    let Value::Object(root) = value else {
        return Err(EventError::new(
            "$",
            format!(
                "invalid type: {}, expected an event object",
                json_type(value)
            ),
        ));
    };
    for field in ["agent", "model", "tool", "review", "change"] {
        if let Some(v @ Value::Array(_)) = root.get(field) {
            return Err(EventError::new(
                field,
                format!("invalid type: {}, expected an object", json_type(v)),
            ));
        }
    }
    Ok(())
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Renders a serde_path_to_error path in the same style as JCS paths, minus the `$.`.
fn render_path(path: &serde_path_to_error::Path, drop_last: bool) -> String {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let keep = if drop_last {
        segments.len().saturating_sub(1)
    } else {
        segments.len()
    };
    let mut s = String::new();
    for seg in segments.into_iter().take(keep) {
        match seg {
            Segment::Seq { index } => {
                s.push('[');
                s.push_str(&index.to_string());
                s.push(']');
            }
            Segment::Map { key } => jcs::push_key_segment(&mut s, key),
            Segment::Enum { variant } => jcs::push_key_segment(&mut s, variant),
            Segment::Unknown => s.push_str(".?"),
        }
    }
    field_path(&format!("${s}"))
}

/// Rephrases serde's messages: a missing field is reported at the field's own path,
/// and serde's backtick quoting becomes JSON-style double quotes.
fn serde_error(path: String, msg: &str) -> EventError {
    if let Some(field) = msg
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        let mut p = if path == "$" { String::new() } else { path };
        jcs::push_key_segment(&mut p, field);
        return EventError::new(field_path(&format!("${p}")), "required field is missing");
    }
    EventError::new(path, msg.replace('`', "\""))
}

/// Strict RFC 3339 `date-time`: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
/// `t`/`z` may be lower case (RFC 3339 §5.6 note); the fraction is 1 to 9 digits;
/// second 60 is accepted as RFC 3339 allows leap seconds.
pub fn check_rfc3339(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0u32, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    let at = |i: usize, want: &[u8]| b.get(i).is_some_and(|c| want.contains(c));

    let year = num(0, 4).ok_or("expected a 4-digit year")?;
    if !at(4, b"-") {
        return Err("expected '-' after the year");
    }
    let month = num(5, 2).ok_or("expected a 2-digit month")?;
    if !at(7, b"-") {
        return Err("expected '-' after the month");
    }
    let day = num(8, 2).ok_or("expected a 2-digit day")?;
    if !at(10, b"Tt") {
        return Err("expected 'T' between date and time");
    }
    let hour = num(11, 2).ok_or("expected a 2-digit hour")?;
    if !at(13, b":") {
        return Err("expected ':' after the hour");
    }
    let minute = num(14, 2).ok_or("expected 2-digit minutes")?;
    if !at(16, b":") {
        return Err("expected ':' after the minutes");
    }
    let second = num(17, 2).ok_or("expected 2-digit seconds")?;

    if !(1..=12).contains(&month) {
        return Err("month must be 01-12");
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day < 1 || day > days_in_month {
        return Err("day is out of range for the month");
    }
    if hour > 23 {
        return Err("hour must be 00-23");
    }
    if minute > 59 {
        return Err("minutes must be 00-59");
    }
    if second > 60 {
        return Err("seconds must be 00-60");
    }

    let mut i = 19;
    if at(i, b".") {
        let digits = b
            .get(i + 1..)
            .map_or(0, |r| r.iter().take_while(|c| c.is_ascii_digit()).count());
        if !(1..=9).contains(&digits) {
            return Err("fraction of a second must have 1 to 9 digits");
        }
        i += 1 + digits;
    }
    match b.get(i) {
        Some(b'Z' | b'z') if b.len() == i + 1 => Ok(()),
        Some(b'+' | b'-') => {
            let oh = num(i + 1, 2).ok_or("expected a 2-digit offset hour")?;
            if !at(i + 3, b":") {
                return Err("expected ':' in the UTC offset");
            }
            let om = num(i + 4, 2).ok_or("expected 2-digit offset minutes")?;
            if oh > 23 || om > 59 {
                return Err("UTC offset is out of range");
            }
            if b.len() != i + 6 {
                return Err("unexpected characters after the UTC offset");
            }
            Ok(())
        }
        Some(b'Z' | b'z') => Err("unexpected characters after 'Z'"),
        _ => Err("expected 'Z' or a ±hh:mm UTC offset"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_accepts_and_rejects() {
        for ok in [
            "2026-11-22T13:21:31Z",
            "2026-11-22T13:21:31.123Z",
            "2024-02-29t00:00:00.123456789+05:30",
            "2016-12-31T23:59:60-00:00",
        ] {
            assert_eq!(check_rfc3339(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "2026-11-22",
            "2026-11-22 13:21:31Z",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T13:60:00Z",
            "2026-11-22T13:21:61Z",
            "2026-11-22T13:21:31.Z",
            "2026-11-22T13:21:31.1234567890Z",
            "2026-11-22T13:21:31",
            "2026-11-22T13:21:31Zx",
            "2026-11-22T13:21:31+0530",
            "2026-11-22T13:21:31+24:00",
            "2026-11-22T13:21:31+05:30:00",
            "２026-11-22T13:21:31Z",
        ] {
            assert!(check_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kinds_round_trip_their_wire_names() {
        for k in EventKind::ALL {
            let v = serde_json::to_value(k).expect("serialize");
            assert_eq!(v, Value::String(k.as_str().to_owned()));
        }
    }
}
