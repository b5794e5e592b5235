//! Enrich: what the caller may write, event by event (an agent key only for
//! its agent, a session token only for its session, nobody as
//! `sealtrail`), and the scope verdict of each event against its agent's
//! registry record, sealed into its header.

use std::sync::atomic::Ordering::Relaxed;

use sealtrail_core::registry::{is_out_of_scope, scope_verdict, ScopeInput, UNREGISTERED};

use super::decode::Slot;
use crate::access::{Caller, SELF_AGENT};
use crate::error::ErrorBody;
use crate::log::AppState;
use crate::sequencer::PreparedEvent;

/// Error codes that mean "not yours to write" (403 when nothing else was).
pub const ATTRIBUTION_CODES: [&str; 3] = ["agent_mismatch", "session_mismatch", "reserved_agent"];

fn refuse(code: &'static str, message: String, field: &str) -> ErrorBody {
    ErrorBody {
        code: code.into(),
        message,
        field: Some(field.to_string()),
    }
}

/// Checks one event and seals its scope verdict into it.
pub fn check(log: &AppState, caller: &Caller, p: &mut PreparedEvent) -> Result<(), ErrorBody> {
    if p.agent == SELF_AGENT {
        return Err(refuse(
            "reserved_agent",
            "the agent id `sealtrail` is reserved for the server's own events".into(),
            "agent.id",
        ));
    }
    if let Some(bound) = caller.key.agent.as_deref() {
        if p.agent != bound {
            return Err(refuse(
                "agent_mismatch",
                format!(
                    "API key {} writes for agent {bound:?} only; this event is for agent {:?}",
                    caller.key.id, p.agent
                ),
                "agent.id",
            ));
        }
    }
    if let Some(t) = &caller.token {
        if p.session.as_deref() != Some(t.s.as_str()) {
            return Err(refuse(
                "session_mismatch",
                format!(
                    "this session token writes for session {:?} only; set \"session\": {:?}",
                    t.s, t.s
                ),
                "session",
            ));
        }
    }
    let input = ScopeInput {
        tool: p.tool.as_deref(),
        action: p.action.as_deref(),
        resource: p.resource.as_deref(),
        data_classes: &p.data_classes,
    };
    let verdict = log
        .access
        .with_agent(&log.project, &p.agent, |rec| scope_verdict(rec, &input));
    let counters = &log.access.counters;
    if is_out_of_scope(&verdict) {
        counters.out_of_scope.fetch_add(1, Relaxed);
    } else if verdict == UNREGISTERED {
        counters.unregistered.fetch_add(1, Relaxed);
    }
    p.scope = Some(verdict);
    Ok(())
}

/// [`check`] over a request's slots.
pub fn events(log: &AppState, caller: &Caller, slots: Vec<Slot>) -> Vec<Slot> {
    slots
        .into_iter()
        .map(|slot| {
            let mut p = slot?;
            check(log, caller, &mut p).inspect_err(|_| {
                log.access
                    .counters
                    .attribution_refused
                    .fetch_add(1, Relaxed);
            })?;
            Ok(p)
        })
        .collect()
}
