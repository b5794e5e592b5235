//! OCSF export: one sealed entry as an OCSF **API Activity** event (class_uid
//! 6003, category_uid 6 "Application Activity") with the `ai_operation` profile
//! and an `attestation`, so a SIEM can take sealtrail's log. The mapping table,
//! and what is not mapped and why, is in docs/ocsf.md.
//!
//! [`to_ocsf`] is pure: header, body and log context in, JSON out. It never
//! fails: a missing body (erased or withheld) maps from the header alone, and
//! anything that cannot be mapped lands under `unmapped.sealtrail`.
//!
//! Schema sources (the OCSF schema repository, `ocsf/ocsf-schema`):
//! - Released in OCSF **1.8.0** and used as such: the API Activity class, the
//!   base event, `metadata` (incl. `original_event_uid`, `sequence`,
//!   `data_classifications`), `actor`, `api`, `network_endpoint`, `user`, the
//!   `ai_operation` profile with `ai_model {name, ai_provider, version}` and
//!   `message_context {uid, ai_role_id, application, service, prompt_tokens,
//!   completion_tokens, total_tokens}`, and `security_control.action_id`.
//! - Merged on the schema's `main` branch after 1.8.0, release not confirmed:
//!   the `record_integrity` profile (`attestation_list`), the `attestation`
//!   object (`uid`, `chain_uid`, `fingerprint`, `prev_event`; schema PR #1661),
//!   `fingerprint.encoding_id` (PR #1684) and the `ai_agent` object in the
//!   `ai_operation` profile. `metadata.version` stays "1.8.0"; a validator
//!   pinned to 1.8.0 will report these few attributes as unknown.
//!
//! The OCSF attestation's `fingerprint` is defined over the OCSF event's own
//! canonical serialization, so it is computed here (SHA-256 of the RFC 8785 form
//! of the event without the fingerprint); it is *not* the log's leaf hash. The
//! log's evidence (leaf hash, index, checkpoint, C2SP tlog-proof) has no OCSF
//! attribute and goes under `unmapped.sealtrail.inclusion`.

use serde_json::{json, Map, Value};

use crate::hash::{sha256, Hash};
use crate::header::EntryHeader;
use crate::jcs;

/// The OCSF schema version written in `metadata.version`.
pub const OCSF_VERSION: &str = "1.8.0";
/// API Activity.
pub const CLASS_UID: u64 = 6003;
/// Application Activity.
pub const CATEGORY_UID: u64 = 6;

/// The checkpoint an entry is proven in: its tree size and root hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvenIn {
    pub size: u64,
    pub root: Hash,
}

/// Everything [`to_ocsf`] needs to map one sealed entry.
#[derive(Debug, Clone, Copy)]
pub struct OcsfInput<'a> {
    /// The sealed header (the log entry).
    pub header: &'a EntryHeader,
    /// The event body as JSON; `None` when erased or withheld.
    pub body: Option<&'a Value>,
    /// The entry's RFC 6962 leaf hash.
    pub leaf_hash: Hash,
    /// The log's origin (checkpoint origin line, equal to the log key name).
    pub origin: &'a str,
    /// The checkpoint the entry is proven in, if one covers it.
    pub checkpoint: Option<ProvenIn>,
    /// A C2SP `tlog-proof@v1` for the entry, as text.
    pub tlog_proof: Option<&'a str>,
}

/// Maps one sealed entry to an OCSF API Activity event.
pub fn to_ocsf(entry: &OcsfInput<'_>) -> Value {
    let h = entry.header;
    let body = entry.body.filter(|b| b.is_object());
    let get = |path: &[&str]| body.and_then(|b| str_at(b, path));

    let (activity_id, activity_name) = activity(h);
    let (status_id, status) = status(h.outcome.as_deref());
    let operation = h
        .action
        .as_deref()
        .or(h.tool.as_deref())
        .unwrap_or(&h.kind)
        .to_string();
    let time_ms = h.time / 1000;

    let mut ev = Map::new();
    ev.insert("class_uid".into(), json!(CLASS_UID));
    ev.insert("class_name".into(), json!("API Activity"));
    ev.insert("category_uid".into(), json!(CATEGORY_UID));
    ev.insert("category_name".into(), json!("Application Activity"));
    ev.insert("activity_id".into(), json!(activity_id));
    ev.insert("activity_name".into(), json!(activity_name));
    ev.insert("type_uid".into(), json!(CLASS_UID * 100 + activity_id));
    ev.insert(
        "type_name".into(),
        json!(format!("API Activity: {}", activity_caption(activity_id))),
    );
    // Audit records, not detections: severity is left to the SIEM's rules.
    ev.insert("severity_id".into(), json!(1));
    ev.insert("severity".into(), json!("Informational"));
    ev.insert("time".into(), json!(time_ms));
    // The server clock is UTC.
    ev.insert("timezone_offset".into(), json!(0));
    ev.insert("status_id".into(), json!(status_id));
    ev.insert("status".into(), json!(status));
    if let Some(outcome) = &h.outcome {
        ev.insert("status_code".into(), json!(outcome));
    }
    let mut profiles = vec!["ai_operation"];
    if h.outcome.as_deref() == Some("denied") {
        let reason = get(&["review", "reason"]).unwrap_or("denied by a policy or a reviewer");
        ev.insert("status_detail".into(), json!(reason));
        ev.insert("action_id".into(), json!(2));
        ev.insert("action".into(), json!("Denied"));
        profiles.push("security_control");
    }
    ev.insert("message".into(), json!(message(h, &operation)));

    let mut metadata = metadata(entry, time_ms, get(&["occurred_at"]));
    if let Some(classes) = data_classifications(&h.data_classes) {
        metadata.insert("data_classifications".into(), classes);
        profiles.push("data_classification");
    }

    ev.insert("actor".into(), actor(h, body));
    ev.insert("src_endpoint".into(), src_endpoint(h));
    ev.insert("api".into(), api(h, body, operation));
    if let Some(resource) = get(&["resource"]) {
        ev.insert("resources".into(), json!([{ "name": resource }]));
    }

    // ai_operation profile.
    let model = body.and_then(ai_model);
    if let Some(m) = &model {
        ev.insert("ai_model".into(), m.clone());
    }
    ev.insert("message_context".into(), message_context(entry, body));
    ev.insert("ai_agent".into(), ai_agent(h, body, model));

    ev.insert("unmapped".into(), unmapped(entry, body));

    profiles.push("record_integrity");
    metadata.insert("profiles".into(), json!(profiles));
    ev.insert("metadata".into(), Value::Object(metadata));

    attest(&mut ev, entry);
    Value::Object(ev)
}

/// `metadata.uid` of the entry at `index`: stable across exports, so the next
/// entry's `attestation.prev_event.uid` can name it.
pub fn event_uid(origin: &str, index: u64) -> String {
    format!("{origin}/{index}")
}

fn metadata(entry: &OcsfInput<'_>, time_ms: u64, occurred_at: Option<&str>) -> Map<String, Value> {
    let h = entry.header;
    let mut m = Map::new();
    m.insert("version".into(), json!(OCSF_VERSION));
    m.insert(
        "product".into(),
        json!({
            "name": "sealtrail",
            "vendor_name": "sealtrail",
            "version": env!("CARGO_PKG_VERSION"),
        }),
    );
    m.insert("uid".into(), json!(event_uid(entry.origin, h.index)));
    if let Some(id) = &h.event_id {
        m.insert("original_event_uid".into(), json!(id));
    }
    if let Some(session) = &h.session {
        m.insert("correlation_uid".into(), json!(session));
    }
    // The log index orders entries exactly, whatever the clock resolution.
    m.insert("sequence".into(), json!(h.index));
    m.insert("logged_time".into(), json!(time_ms));
    if let Some(t) = occurred_at {
        m.insert("original_time".into(), json!(t));
    }
    m.insert("event_code".into(), json!(h.kind));
    m.insert("log_name".into(), json!(entry.origin));
    m.insert("log_provider".into(), json!("sealtrail"));
    m
}

/// `activity_id` and `activity_name`. A verb in the action or tool name
/// decides CRUD (`crm.get_customer` is Read), as CloudTrail-to-OCSF mappers
/// do; otherwise the kind does: config and access changes are Update, data
/// access of unknown direction is Unknown, everything else (model and tool
/// calls included) is Other, named by its kind.
fn activity(h: &EntryHeader) -> (u64, String) {
    let verb = [h.action.as_deref(), h.tool.as_deref()]
        .into_iter()
        .flatten()
        .find_map(crud_verb);
    let id = match (verb, h.kind.as_str()) {
        (Some(id), _) => id,
        (None, "config_change" | "access_change") => 3,
        (None, "data_access") => 0,
        (None, _) => 99,
    };
    let name = if id == 99 {
        h.kind.clone()
    } else {
        activity_caption(id).to_string()
    };
    (id, name)
}

fn activity_caption(id: u64) -> &'static str {
    match id {
        1 => "Create",
        2 => "Read",
        3 => "Update",
        4 => "Delete",
        99 => "Other",
        _ => "Unknown",
    }
}

/// The CRUD activity named by the first verb-like word of `name`.
fn crud_verb(name: &str) -> Option<u64> {
    const CREATE: &[&str] = &[
        "create", "add", "insert", "new", "post", "put", "write", "upload", "append", "register",
    ];
    const READ: &[&str] = &[
        "read", "get", "list", "fetch", "search", "query", "find", "lookup", "describe", "view",
        "show", "select", "download", "retrieve",
    ];
    const UPDATE: &[&str] = &[
        "update", "modify", "patch", "edit", "set", "change", "rename", "replace",
    ];
    const DELETE: &[&str] = &["delete", "remove", "erase", "drop", "purge", "destroy"];
    words(name).into_iter().find_map(|w| {
        let w = w.as_str();
        if CREATE.contains(&w) {
            Some(1)
        } else if READ.contains(&w) {
            Some(2)
        } else if UPDATE.contains(&w) {
            Some(3)
        } else if DELETE.contains(&w) {
            Some(4)
        } else {
            None
        }
    })
}

/// Lower-case words of an identifier: split at non-alphanumerics and at
/// camelCase humps (`crm.get_customer`, `GetCustomer` → get, customer).
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            prev_lower = false;
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        cur.push(c.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `status_id` and `status`: denied is a Failure (with `status_detail` and
/// `action_id` Denied set by the caller); pending has no result yet.
fn status(outcome: Option<&str>) -> (u64, &'static str) {
    match outcome {
        Some("success") => (1, "Success"),
        Some("failure" | "denied") => (2, "Failure"),
        _ => (0, "Unknown"),
    }
}

fn message(h: &EntryHeader, operation: &str) -> String {
    let mut m = format!("{} {}", h.agent, h.kind);
    if operation != h.kind {
        m.push(' ');
        m.push_str(operation);
    }
    if let Some(outcome) = &h.outcome {
        m.push_str(": ");
        m.push_str(outcome);
    }
    m
}

/// The agent as the acting application; the principal as the user on whose
/// behalf it acts.
fn actor(h: &EntryHeader, body: Option<&Value>) -> Value {
    let mut a = Map::new();
    a.insert("app_uid".into(), json!(h.agent));
    if let Some(name) = body.and_then(|b| str_at(b, &["agent", "name"])) {
        a.insert("app_name".into(), json!(name));
    }
    if let Some(principal) = body.and_then(|b| str_at(b, &["principal"])) {
        a.insert("user".into(), json!({ "uid": principal }));
    }
    Value::Object(a)
}

/// Where the call came from: the agent (and its instance). sealtrail does not
/// record network addresses.
fn src_endpoint(h: &EntryHeader) -> Value {
    let mut e = Map::new();
    e.insert("name".into(), json!(h.agent));
    if let Some(instance) = &h.instance {
        e.insert("instance_uid".into(), json!(instance));
    }
    Value::Object(e)
}

fn api(h: &EntryHeader, body: Option<&Value>, operation: String) -> Value {
    let mut a = Map::new();
    a.insert("operation".into(), json!(operation));
    let service = match h.kind.as_str() {
        "tool_call" => h.tool.clone(),
        "model_call" => body
            .and_then(|b| str_at(b, &["model", "provider"]))
            .map(str::to_string),
        _ => None,
    };
    if let Some(name) = service {
        a.insert("service".into(), json!({ "name": name }));
    }
    if let Some(call_id) = body.and_then(|b| str_at(b, &["tool", "call_id"])) {
        a.insert("request".into(), json!({ "uid": call_id }));
    }
    Value::Object(a)
}

/// `ai_model` needs both `name` and `ai_provider`; a missing one is written as
/// "Unknown" (the OCSF caption for an unknown value) rather than dropping the other.
fn ai_model(body: &Value) -> Option<Value> {
    let name = str_at(body, &["model", "name"]);
    let provider = str_at(body, &["model", "provider"]);
    if name.is_none() && provider.is_none() {
        return None;
    }
    let mut m = Map::new();
    m.insert("name".into(), json!(name.unwrap_or("Unknown")));
    m.insert("ai_provider".into(), json!(provider.unwrap_or("Unknown")));
    if let Some(version) = str_at(body, &["model", "version"]) {
        m.insert("version".into(), json!(version));
    }
    Some(Value::Object(m))
}

/// The conversation (session) the step belongs to, the agent as the client
/// application, the model provider as the service, and the token counts.
fn message_context(entry: &OcsfInput<'_>, body: Option<&Value>) -> Value {
    let h = entry.header;
    let mut c = Map::new();
    let uid = h
        .session
        .clone()
        .unwrap_or_else(|| event_uid(entry.origin, h.index));
    c.insert("uid".into(), json!(uid));
    let (role_id, role) = match h.kind.as_str() {
        "model_call" => (2, "Assistant"),
        "tool_call" => (3, "Tool"),
        "human_review" => (1, "User"),
        _ => (4, "Agent"),
    };
    c.insert("ai_role_id".into(), json!(role_id));
    c.insert("ai_role".into(), json!(role));
    let mut app = Map::new();
    app.insert("uid".into(), json!(h.agent));
    if let Some(b) = body {
        if let Some(name) = str_at(b, &["agent", "name"]) {
            app.insert("name".into(), json!(name));
        }
        if let Some(version) = str_at(b, &["agent", "version"]) {
            app.insert("version".into(), json!(version));
        }
    }
    c.insert("application".into(), Value::Object(app));
    if let Some(b) = body {
        if let Some(provider) = str_at(b, &["model", "provider"]) {
            c.insert("service".into(), json!({ "name": provider }));
        }
        let input = u64_at(b, &["model", "input_tokens"]);
        let output = u64_at(b, &["model", "output_tokens"]);
        if let Some(n) = input {
            c.insert("prompt_tokens".into(), json!(n));
        }
        if let Some(n) = output {
            c.insert("completion_tokens".into(), json!(n));
        }
        if let Some(n) = input.zip(output).and_then(|(i, o)| i.checked_add(o)) {
            c.insert("total_tokens".into(), json!(n));
        }
    }
    Value::Object(c)
}

/// The agent itself (`ai_agent`, schema main after 1.8.0).
fn ai_agent(h: &EntryHeader, body: Option<&Value>, model: Option<Value>) -> Value {
    let mut a = Map::new();
    a.insert("uid".into(), json!(h.agent));
    if let Some(instance) = &h.instance {
        a.insert("instance_uid".into(), json!(instance));
    }
    if let Some(b) = body {
        if let Some(name) = str_at(b, &["agent", "name"]) {
            a.insert("name".into(), json!(name));
        }
        if let Some(version) = str_at(b, &["agent", "version"]) {
            a.insert("version".into(), json!(version));
        }
    }
    if let Some(m) = model {
        a.insert("ai_model".into(), m);
    }
    Value::Object(a)
}

/// Data-class tags as OCSF data classification categories (one per category);
/// tags OCSF has no category for are "Other" and keep their name.
fn data_classifications(tags: &[String]) -> Option<Value> {
    let mut out: Vec<Value> = Vec::new();
    for tag in tags {
        let (id, caption) = match tag.to_ascii_lowercase().as_str() {
            "pii" | "phi" | "personal" => (1, "Personal"),
            "pci" | "financial" => (3, "Financial"),
            "credential" | "secret" => (6, "Security"),
            _ => (99, tag.as_str()),
        };
        let item = json!({ "category_id": id, "category": caption });
        if !out.contains(&item) {
            out.push(item);
        }
    }
    (!out.is_empty()).then_some(Value::Array(out))
}

/// What OCSF has no place for: the header's log fields, the log's inclusion
/// evidence, and the body members not mapped above.
fn unmapped(entry: &OcsfInput<'_>, body: Option<&Value>) -> Value {
    let h = entry.header;
    let mut s = Map::new();
    s.insert("header_version".into(), json!(h.v));
    s.insert("index".into(), json!(h.index));
    s.insert("time_us".into(), json!(h.time));
    s.insert("kind".into(), json!(h.kind));
    if let Some(prev) = &h.prev {
        s.insert("prev".into(), json!(prev.to_hex()));
    }
    if let Some(parent) = &h.parent {
        s.insert("parent".into(), json!(parent));
    }
    if let Some(seq) = h.seq {
        s.insert("seq".into(), json!(seq));
    }
    if let Some(gap) = &h.seq_gap {
        s.insert(
            "seq_gap".into(),
            json!({ "expected": gap.expected, "got": gap.got }),
        );
    }
    if let Some(scope) = &h.scope {
        s.insert("scope".into(), json!(scope));
    }
    if !h.data_classes.is_empty() {
        s.insert("data_classes".into(), json!(h.data_classes));
    }
    if !h.subjects.is_empty() {
        let macs: Vec<String> = h.subjects.iter().map(Hash::to_hex).collect();
        s.insert("subject_macs".into(), json!(macs));
    }
    let mut streams = Map::new();
    streams.insert(
        "agent".into(),
        link(h.streams.agent.n, h.streams.agent.prev),
    );
    if let Some(l) = &h.streams.session {
        streams.insert("session".into(), link(l.n, l.prev));
    }
    s.insert("streams".into(), Value::Object(streams));
    s.insert("body_commitment".into(), json!(h.body.to_hex()));
    s.insert(
        "body".into(),
        json!(if body.is_some() { "present" } else { "absent" }),
    );
    if let Some(b) = body {
        if let Some(cost) = b.pointer("/model/cost").filter(|v| v.is_number()) {
            s.insert("model_cost".into(), cost.clone());
        }
        if let Some(rest) = leftover(b) {
            s.insert("event".into(), rest);
        }
    }

    let mut inc = Map::new();
    inc.insert("origin".into(), json!(entry.origin));
    inc.insert("index".into(), json!(h.index));
    inc.insert("leaf_hash".into(), json!(entry.leaf_hash.to_hex()));
    if let Some(cp) = entry.checkpoint {
        // Base64, as in the checkpoint's own root line.
        inc.insert(
            "checkpoint".into(),
            json!({ "size": cp.size, "root": cp.root.to_base64() }),
        );
    }
    if let Some(proof) = entry.tlog_proof {
        inc.insert("tlog_proof".into(), json!(proof));
    }
    s.insert("inclusion".into(), Value::Object(inc));
    json!({ "sealtrail": s })
}

fn link(n: u64, prev: Option<u64>) -> Value {
    match prev {
        Some(p) => json!({ "n": n, "prev": p }),
        None => json!({ "n": n }),
    }
}

/// Body members with no OCSF attribute above (tool arguments and results,
/// input, output, reasoning, review, change, subjects, attributes, …).
fn leftover(body: &Value) -> Option<Value> {
    const MAPPED: &[&str] = &[
        "id",
        "agent",
        "session",
        "parent",
        "seq",
        "kind",
        "action",
        "resource",
        "outcome",
        "principal",
        "data_classes",
        "model",
        "occurred_at",
    ];
    let obj = body.as_object()?;
    let rest: Map<String, Value> = obj
        .iter()
        .filter(|(k, v)| !v.is_null() && !MAPPED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!rest.is_empty()).then_some(Value::Object(rest))
}

/// Adds `attestation_list` (record_integrity profile): the chain is the log
/// (`chain_uid` = origin), the attestation is the entry (`uid` = leaf hash),
/// `prev_event` names the previous entry's `metadata.uid`, and the fingerprint
/// is SHA-256 over RFC 8785 of this event without the fingerprint, as the OCSF
/// attestation object defines it. There are no `signatures`: the log signs
/// checkpoints, not OCSF events (see `unmapped.sealtrail.inclusion`).
fn attest(ev: &mut Map<String, Value>, entry: &OcsfInput<'_>) {
    let h = entry.header;
    let mut a = Map::new();
    a.insert("uid".into(), json!(entry.leaf_hash.to_hex()));
    a.insert("chain_uid".into(), json!(entry.origin));
    if let Some(prev_index) = h.index.checked_sub(1) {
        a.insert(
            "prev_event".into(),
            json!({ "uid": event_uid(entry.origin, prev_index) }),
        );
    }
    ev.insert("attestation_list".into(), json!([a]));
    let fingerprint = match jcs::to_canonical_vec(&Value::Object(ev.clone())) {
        Ok(bytes) => sha256(&bytes),
        Err(_) => {
            // Not canonicalizable (cannot happen for validated bodies): without a
            // fingerprint the attestation would break its own constraint.
            ev.remove("attestation_list");
            return;
        }
    };
    a.insert(
        "fingerprint".into(),
        json!({
            "algorithm_id": 3,
            "algorithm": "SHA-256",
            "value": fingerprint.to_hex(),
            "encoding_id": 1,
            "encoding": "Hex",
        }),
    );
    ev.insert("attestation_list".into(), json!([a]));
}

/// A non-empty string at `path` (JSON `null` counts as absent).
fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn u64_at(v: &Value, path: &[&str]) -> Option<u64> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::hash::leaf_hash;
    use crate::header::{commit_body, Seal, StreamLink, Streams, SALT_LEN};

    const ORIGIN: &str = "audit.example.com/log";

    fn sealed(json: &str, index: u64) -> (EntryHeader, Value) {
        let (event, body) = Event::parse_with_body(json.as_bytes()).expect("valid event");
        let seal = Seal {
            index,
            time: 1_795_000_000_123_456,
            prev: index.checked_sub(1).map(|_| leaf_hash(b"previous")),
            streams: Streams {
                agent: StreamLink {
                    n: 3,
                    prev: Some(5),
                },
                session: event
                    .session
                    .as_ref()
                    .map(|_| StreamLink { n: 1, prev: None }),
            },
            seq_gap: None,
            scope: Some("in_scope".into()),
            subjects: vec![],
            data_classes: event.data_classes.clone(),
            body: commit_body(&[7; SALT_LEN], &body),
        };
        let header = EntryHeader::new(&event, seal);
        let value: Value = serde_json::from_slice(&body).expect("body is JSON");
        (header, value)
    }

    fn input<'a>(h: &'a EntryHeader, body: Option<&'a Value>) -> OcsfInput<'a> {
        OcsfInput {
            header: h,
            body,
            leaf_hash: h.leaf_hash().expect("header encodes"),
            origin: ORIGIN,
            checkpoint: Some(ProvenIn {
                size: 100,
                root: sha256(b"root"),
            }),
            tlog_proof: Some("c2sp.org/tlog-proof@v1\nindex 8\n"),
        }
    }

    const MODEL_CALL: &str = r#"{"id":"ev-1","agent":{"id":"support-bot","name":"Support Bot",
        "version":"2.1.0","instance":"pod-7"},"session":"conv-42","seq":9,"kind":"model_call",
        "action":"chat","outcome":"success","principal":"alice@example.com",
        "data_classes":["pii","pci","phi"],
        "model":{"provider":"anthropic","name":"claude-sonnet-4","version":"2025-05-14",
        "input_tokens":1200,"output_tokens":300,"cost":0.0123},
        "input":{"prompt":"hi"},"output":{"text":"hello"},"occurred_at":"2026-11-19T10:00:00Z",
        "attributes":{"team":"cx"}}"#;

    const TOOL_CALL: &str = r#"{"id":"ev-2","agent":{"id":"billing-agent"},"session":"s-1",
        "kind":"tool_call","action":"refund.issue","outcome":"denied","resource":"order/991",
        "tool":{"name":"stripe.refund","call_id":"call-5","arguments":{"amount":12.5}},
        "review":{"reviewer":"bob","decision":"reject","reason":"over the refund limit"}}"#;

    /// Required attributes of API Activity (class 6003) in OCSF 1.8.0, from the
    /// schema's base_event.json, api_activity.json, metadata.json and api.json
    /// (each marked "requirement": "required" there).
    const REQUIRED: &[&str] = &[
        "activity_id",
        "category_uid",
        "class_uid",
        "type_uid",
        "time",
        "severity_id",
        "metadata",
        "actor",
        "api",
        "src_endpoint",
    ];
    const REQUIRED_METADATA: &[&str] = &["version", "product"];
    const REQUIRED_API: &[&str] = &["operation"];

    fn assert_required(ev: &Value) {
        for k in REQUIRED {
            assert!(ev.get(k).is_some(), "missing required {k}: {ev:#}");
        }
        for k in REQUIRED_METADATA {
            assert!(ev["metadata"].get(k).is_some(), "missing metadata.{k}");
        }
        for k in REQUIRED_API {
            assert!(ev["api"].get(k).is_some(), "missing api.{k}");
        }
        // actor: at_least_one of process, user, session, app_name, app_uid.
        assert!(ev["actor"]["app_uid"].is_string());
        // network_endpoint: at_least_one of ip, uid, name, hostname, instance_uid, …
        assert!(ev["src_endpoint"]["name"].is_string());
        let text = serde_json::to_string(ev).expect("serializes");
        let back: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(&back, ev);
        assert_eq!(
            ev["type_uid"].as_u64(),
            Some(6003 * 100 + ev["activity_id"].as_u64().unwrap_or(u64::MAX))
        );
    }

    /// Recomputes the attestation fingerprint the way a verifier would.
    fn fingerprint_checks(ev: &Value) {
        let mut copy = ev.clone();
        let att = copy["attestation_list"][0]
            .as_object_mut()
            .expect("attestation");
        let fp = att.remove("fingerprint").expect("fingerprint");
        let bytes = jcs::to_canonical_vec(&copy).expect("canonical");
        assert_eq!(fp["value"], json!(sha256(&bytes).to_hex()));
        assert_eq!(fp["algorithm_id"], json!(3));
    }

    #[test]
    fn ocsf_model_call_maps_class_model_tokens_and_attestation() {
        let (h, body) = sealed(MODEL_CALL, 8);
        let ev = to_ocsf(&input(&h, Some(&body)));
        assert_required(&ev);
        assert_eq!(ev["class_uid"], json!(6003));
        assert_eq!(ev["category_uid"], json!(6));
        assert_eq!(ev["activity_id"], json!(99));
        assert_eq!(ev["activity_name"], json!("model_call"));
        assert_eq!(ev["type_uid"], json!(600399));
        assert_eq!(ev["time"], json!(1_795_000_000_123u64));
        assert_eq!(ev["metadata"]["logged_time"], json!(1_795_000_000_123u64));
        assert_eq!(
            ev["metadata"]["original_time"],
            json!("2026-11-19T10:00:00Z")
        );
        assert_eq!(ev["metadata"]["version"], json!("1.8.0"));
        assert_eq!(ev["metadata"]["uid"], json!("audit.example.com/log/8"));
        assert_eq!(ev["metadata"]["original_event_uid"], json!("ev-1"));
        assert_eq!(ev["metadata"]["correlation_uid"], json!("conv-42"));
        assert_eq!(ev["metadata"]["sequence"], json!(8));
        assert_eq!(
            ev["metadata"]["profiles"],
            json!(["ai_operation", "data_classification", "record_integrity"])
        );
        assert_eq!(
            ev["metadata"]["data_classifications"],
            json!([{"category_id": 1, "category": "Personal"},
                   {"category_id": 3, "category": "Financial"}])
        );
        assert_eq!(ev["status_id"], json!(1));
        assert_eq!(ev["status"], json!("Success"));
        assert_eq!(ev["actor"]["app_uid"], json!("support-bot"));
        assert_eq!(ev["actor"]["app_name"], json!("Support Bot"));
        assert_eq!(ev["actor"]["user"]["uid"], json!("alice@example.com"));
        assert_eq!(ev["src_endpoint"]["instance_uid"], json!("pod-7"));
        assert_eq!(ev["api"]["operation"], json!("chat"));
        assert_eq!(ev["api"]["service"]["name"], json!("anthropic"));
        let model = json!({"name": "claude-sonnet-4", "ai_provider": "anthropic",
                           "version": "2025-05-14"});
        assert_eq!(ev["ai_model"], model);
        assert_eq!(ev["ai_agent"]["ai_model"], model);
        assert_eq!(ev["ai_agent"]["uid"], json!("support-bot"));
        assert_eq!(ev["ai_agent"]["version"], json!("2.1.0"));
        let ctx = &ev["message_context"];
        assert_eq!(ctx["uid"], json!("conv-42"));
        assert_eq!(ctx["ai_role_id"], json!(2));
        assert_eq!(ctx["prompt_tokens"], json!(1200));
        assert_eq!(ctx["completion_tokens"], json!(300));
        assert_eq!(ctx["total_tokens"], json!(1500));
        assert_eq!(ctx["application"]["version"], json!("2.1.0"));

        let att = &ev["attestation_list"][0];
        assert_eq!(att["uid"], json!(h.leaf_hash().expect("leaf").to_hex()));
        assert_eq!(att["chain_uid"], json!(ORIGIN));
        assert_eq!(att["prev_event"]["uid"], json!("audit.example.com/log/7"));
        fingerprint_checks(&ev);

        let s = &ev["unmapped"]["sealtrail"];
        assert_eq!(s["inclusion"]["leaf_hash"], att["uid"]);
        assert_eq!(s["inclusion"]["index"], json!(8));
        assert_eq!(s["inclusion"]["origin"], json!(ORIGIN));
        assert_eq!(s["inclusion"]["checkpoint"]["size"], json!(100));
        assert_eq!(
            s["inclusion"]["checkpoint"]["root"],
            json!(sha256(b"root").to_base64())
        );
        assert!(s["inclusion"]["tlog_proof"]
            .as_str()
            .is_some_and(|p| p.starts_with("c2sp.org/tlog-proof@v1\n")));
        assert_eq!(s["model_cost"], json!(0.0123));
        assert_eq!(s["scope"], json!("in_scope"));
        assert_eq!(s["seq"], json!(9));
        assert_eq!(s["data_classes"], json!(["pii", "pci", "phi"]));
        assert_eq!(s["event"]["input"], json!({"prompt": "hi"}));
        assert_eq!(s["event"]["attributes"], json!({"team": "cx"}));
        assert!(s["event"].get("model").is_none(), "mapped members stay out");
    }

    #[test]
    fn ocsf_tool_call_denied_maps_status_detail_and_tool() {
        let (h, body) = sealed(TOOL_CALL, 0);
        let ev = to_ocsf(&input(&h, Some(&body)));
        assert_required(&ev);
        assert_eq!(ev["status_id"], json!(2));
        assert_eq!(ev["status"], json!("Failure"));
        assert_eq!(ev["status_code"], json!("denied"));
        assert_eq!(ev["status_detail"], json!("over the refund limit"));
        assert_eq!(ev["action_id"], json!(2));
        assert!(ev["metadata"]["profiles"]
            .as_array()
            .is_some_and(|p| p.contains(&json!("security_control"))));
        assert_eq!(ev["api"]["operation"], json!("refund.issue"));
        assert_eq!(ev["api"]["service"]["name"], json!("stripe.refund"));
        assert_eq!(ev["api"]["request"]["uid"], json!("call-5"));
        assert_eq!(ev["activity_id"], json!(99));
        assert_eq!(ev["activity_name"], json!("tool_call"));
        assert_eq!(ev["resources"], json!([{"name": "order/991"}]));
        assert_eq!(ev["message_context"]["ai_role_id"], json!(3));
        assert!(ev.get("ai_model").is_none());
        assert!(ev["actor"].get("user").is_none());
        // Index 0 has no previous entry.
        assert!(ev["attestation_list"][0].get("prev_event").is_none());
        assert_eq!(
            ev["unmapped"]["sealtrail"]["event"]["tool"]["arguments"],
            json!({"amount": 12.5})
        );
        fingerprint_checks(&ev);
    }

    #[test]
    fn ocsf_erased_body_maps_from_the_header_alone() {
        let (h, _body) = sealed(MODEL_CALL, 8);
        let mut inp = input(&h, None);
        inp.checkpoint = None;
        inp.tlog_proof = None;
        let ev = to_ocsf(&inp);
        assert_required(&ev);
        assert_eq!(ev["actor"], json!({"app_uid": "support-bot"}));
        assert_eq!(ev["status_id"], json!(1));
        assert_eq!(ev["metadata"]["original_event_uid"], json!("ev-1"));
        assert!(ev.get("ai_model").is_none());
        assert!(ev["metadata"].get("original_time").is_none());
        let text = serde_json::to_string(&ev).expect("serializes");
        for personal in ["alice", "hello", "claude"] {
            assert!(!text.contains(personal), "{personal} leaked: {text}");
        }
        let s = &ev["unmapped"]["sealtrail"];
        assert_eq!(s["body"], json!("absent"));
        assert!(s.get("event").is_none());
        assert!(s["inclusion"].get("checkpoint").is_none());
        fingerprint_checks(&ev);
    }

    #[test]
    fn ocsf_activity_follows_verbs_then_kind() {
        let cases = [
            (
                r#"{"agent":{"id":"a"},"kind":"tool_call","tool":{"name":"crm.get_customer"}}"#,
                2,
            ),
            (
                r#"{"agent":{"id":"a"},"kind":"data_access","action":"files.delete"}"#,
                4,
            ),
            (
                r#"{"agent":{"id":"a"},"kind":"data_access","action":"rows.insert"}"#,
                1,
            ),
            (r#"{"agent":{"id":"a"},"kind":"data_access"}"#, 0),
            (r#"{"agent":{"id":"a"},"kind":"config_change"}"#, 3),
            (
                r#"{"agent":{"id":"a"},"kind":"tool_call","tool":{"name":"s3.DeleteBucket"}}"#,
                4,
            ),
            (
                r#"{"agent":{"id":"a"},"kind":"tool_call","action":"ListUsers"}"#,
                2,
            ),
            (
                r#"{"agent":{"id":"a"},"kind":"tool_call","action":"settle","tool":{"name":"x"}}"#,
                99,
            ),
            (
                r#"{"agent":{"id":"a"},"kind":"decision","outcome":"pending"}"#,
                99,
            ),
        ];
        for (json, want) in cases {
            let (h, body) = sealed(json, 3);
            let ev = to_ocsf(&input(&h, Some(&body)));
            assert_required(&ev);
            assert_eq!(ev["activity_id"], json!(want), "{json}");
            assert_eq!(ev["type_uid"], json!(600300 + want), "{json}");
        }
        let (h, body) = sealed(
            r#"{"agent":{"id":"a"},"kind":"decision","outcome":"pending"}"#,
            3,
        );
        let ev = to_ocsf(&input(&h, Some(&body)));
        assert_eq!(ev["status_id"], json!(0));
        assert_eq!(ev["status"], json!("Unknown"));
        // No session: the message context is the entry itself.
        assert_eq!(
            ev["message_context"]["uid"],
            json!("audit.example.com/log/3")
        );
        assert_eq!(ev["message_context"]["ai_role_id"], json!(4));
    }

    #[test]
    fn ocsf_output_is_deterministic() {
        let (h, body) = sealed(MODEL_CALL, 8);
        let a = jcs::to_canonical_vec(&to_ocsf(&input(&h, Some(&body)))).expect("canonical");
        let b = jcs::to_canonical_vec(&to_ocsf(&input(&h, Some(&body)))).expect("canonical");
        assert_eq!(a, b);
    }
}
