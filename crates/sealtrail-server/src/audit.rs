//! Self-audit: sealtrail's own administration and human reads become events
//! in the project's log, sealed through the pipeline (the admin lane of the
//! same sequencer as every other event) before the request is answered. They are written as agent
//! `sealtrail` in the session `key:<id>` of the acting key, so one
//! stream-complete export holds every administrative action, and another
//! everything one key did.

use serde_json::{json, Map, Value};

use crate::access::{Caller, SELF_AGENT};
use crate::error::ApiError;
use crate::log::AppState;
use crate::pipeline::decode::{prepare, salts, PrepareWith};
use crate::pipeline::seal_in;
use crate::sequencer::Lane;

pub const ACCESS_CHANGE: &str = "access_change";
pub const CONFIG_CHANGE: &str = "config_change";
pub const DATA_ACCESS: &str = "data_access";

/// One self-audit event.
#[derive(Clone)]
pub struct Audit {
    pub kind: &'static str,
    pub action: &'static str,
    /// What was acted on, e.g. `key:<id>`, `agent:<id>`.
    pub target: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// Anything else worth keeping (a query's filters, counts).
    pub attributes: Map<String, Value>,
    /// `success`, or `failure` for a change that was audited but then
    /// could not be stored.
    pub outcome: &'static str,
}

impl Audit {
    pub fn new(kind: &'static str, action: &'static str) -> Self {
        Audit {
            kind,
            action,
            target: None,
            before: None,
            after: None,
            attributes: Map::new(),
            outcome: "success",
        }
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn change(mut self, before: Option<Value>, after: Option<Value>) -> Self {
        self.before = before;
        self.after = after;
        self
    }

    pub fn attr(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.attributes.insert(key.to_string(), value.into());
        self
    }
}

/// A UUIDv7 (RFC 9562): 48 bits of milliseconds, then randomness.
pub fn uuid_v7(now_micros: u64) -> Result<String, ApiError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b[6..])
        .map_err(|e| ApiError::internal(format!("no randomness for an event id: {e}")))?;
    let ms = now_micros / 1000;
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6] = (b[6] & 0x0f) | 0x70;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

/// The event's JSON.
pub fn event_json(caller: &Caller, project: &str, a: &Audit, now: u64) -> Result<Value, ApiError> {
    let mut attributes = a.attributes.clone();
    attributes.insert("project".into(), Value::String(project.to_string()));
    let mut ev = json!({
        "id": uuid_v7(now)?,
        "agent": {"id": SELF_AGENT, "name": "sealtrail server"},
        "session": format!("key:{}", caller.key.id),
        "kind": a.kind,
        "action": a.action,
        "outcome": a.outcome,
        "principal": caller.label(),
        "attributes": attributes,
    });
    if let Some(t) = &a.target {
        ev["resource"] = Value::String(t.clone());
        if a.before.is_some() || a.after.is_some() {
            let mut change = json!({"target": t});
            if let Some(b) = &a.before {
                change["before"] = b.clone();
            }
            if let Some(af) = &a.after {
                change["after"] = af.clone();
            }
            ev["change"] = change;
        }
    }
    Ok(ev)
}

/// Seals the event in `log`; an error means it was not recorded, and the
/// caller must not go on with what it audits.
pub async fn record(log: &AppState, caller: &Caller, a: Audit) -> Result<u64, ApiError> {
    let now = crate::clock::now_micros();
    let ev = event_json(caller, &log.project, &a, now)?;
    let bytes = serde_json::to_vec(&ev).map_err(|e| ApiError::internal(e.to_string()))?;
    let [salt] = salts(1)?[..] else {
        return Err(ApiError::internal("expected one body salt"));
    };
    let prepared = prepare(
        &bytes,
        PrepareWith {
            max_event_bytes: usize::MAX,
            sensitive: None,
        },
        salt,
    )
    .map_err(|e| ApiError::internal(format!("self-audit event is invalid: {}", e.message)))?;
    // The admin lane: a flood of client events must not refuse (or
    // starve) the record of a revocation, suspension or rotation.
    let outcomes = seal_in(log, Lane::Admin, vec![prepared])
        .await
        .map_err(|e| {
            tracing::error!("cannot record a self-audit event: {}", e.body.message);
            ApiError::new(
                e.status,
                "audit_unavailable",
                format!(
                    "the audit event for this {} could not be written, so it was not done: {}",
                    a.action, e.body.message
                ),
            )
            .retry_after(e.retry_after.unwrap_or(1))
        })?;
    Ok(outcomes.first().map(|o| o.receipt().index).unwrap_or(0))
}

/// Seals `a`, then makes the change (`apply`). The event comes first, so
/// no change is ever made unaudited; if the change then fails, a `failure`
/// event for the same action follows, so the log never claims a change
/// that was not made.
pub async fn audited(
    log: &AppState,
    caller: &Caller,
    a: Audit,
    apply: impl std::future::Future<Output = Result<(), ApiError>>,
) -> Result<(), ApiError> {
    let mut failed = a.clone();
    record(log, caller, a).await?;
    if let Err(e) = apply.await {
        failed.outcome = "failure";
        failed = failed.attr("error", e.body.message.clone());
        if let Err(again) = record(log, caller, failed).await {
            tracing::error!(
                "a change was audited but not made, and the failure could not be logged: {}",
                again.body.message
            );
        }
        return Err(e);
    }
    Ok(())
}

/// Records a read of the log (query, stats, export, entry) by anyone but an
/// agent; must succeed before the data is handed out.
pub async fn read_access(
    log: &AppState,
    caller: &Caller,
    action: &'static str,
    params: Map<String, Value>,
) -> Result<(), ApiError> {
    if !log.audit_reads || !caller.role().reads_are_audited() {
        return Ok(());
    }
    let mut a = Audit::new(DATA_ACCESS, action);
    a.attributes = params;
    record(log, caller, a).await.map(|_| ())
}

/// A request's query parameters as an object (repeated names keep the last).
pub fn params_object(pairs: &[(String, String)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v7_has_version_variant_and_time() {
        let u = uuid_v7(1_795_000_000_123_456).unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "7");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        let ms = u64::from_str_radix(&u.replace('-', "")[..12], 16).unwrap();
        assert_eq!(ms, 1_795_000_000_123);
    }
}
