//! The answer of `POST /v1/events`: one result per event, in order.

use sealtrail_core::hash::Hash;
use serde::{Deserialize, Serialize};

use crate::error::ErrorBody;

/// What the log gave back for one sealed event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Receipt {
    /// Position in the log.
    pub index: u64,
    /// `SHA-256(0x00 ‖ JCS(header))`, in hex.
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub leaf_hash: Hash,
    /// Server time, microseconds since the Unix epoch.
    pub time: u64,
    /// A `c2sp.org/tlog-proof@v1` text, present with `?wait=checkpoint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub proof: Option<String>,
}

/// The answer for one event of an ingest request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "EventResultWire")]
pub enum EventResult {
    /// Logged now.
    Sealed(Receipt),
    /// Its `id` was sealed before; this is the original receipt, nothing new was logged.
    Duplicate(Receipt),
    /// Refused; the other events of the request are unaffected.
    Rejected(ErrorBody),
}

impl EventResult {
    /// The receipt of a sealed or duplicate event.
    pub fn receipt(&self) -> Option<&Receipt> {
        match self {
            EventResult::Sealed(r) | EventResult::Duplicate(r) => Some(r),
            EventResult::Rejected(_) => None,
        }
    }

    /// The wire name of the status: `sealed`, `duplicate` or `rejected`.
    pub fn status(&self) -> &'static str {
        match self {
            EventResult::Sealed(_) => "sealed",
            EventResult::Duplicate(_) => "duplicate",
            EventResult::Rejected(_) => "rejected",
        }
    }
}

/// `{"status": "rejected", "error": {…}}` carries its error one level down, so
/// the public enum goes through these internally tagged twins (one borrowing,
/// so a server's answer is written without copying its receipts).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
#[schema(as = EventResult)]
enum EventResultWire {
    Sealed(Receipt),
    Duplicate(Receipt),
    Rejected { error: ErrorBody },
}

#[derive(Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum EventResultRef<'a> {
    Sealed(&'a Receipt),
    Duplicate(&'a Receipt),
    Rejected { error: &'a ErrorBody },
}

impl Serialize for EventResult {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            EventResult::Sealed(r) => EventResultRef::Sealed(r),
            EventResult::Duplicate(r) => EventResultRef::Duplicate(r),
            EventResult::Rejected(error) => EventResultRef::Rejected { error },
        }
        .serialize(s)
    }
}

/// The schema is the wire twin's: the public enum's variants carry what the
/// twin's do, with the tag written by `Serialize` above.
impl utoipa::PartialSchema for EventResult {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <EventResultWire as utoipa::PartialSchema>::schema()
    }
}

impl utoipa::ToSchema for EventResult {
    fn name() -> std::borrow::Cow<'static, str> {
        <EventResultWire as utoipa::ToSchema>::name()
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <EventResultWire as utoipa::ToSchema>::schemas(schemas)
    }
}

impl From<EventResultWire> for EventResult {
    fn from(w: EventResultWire) -> Self {
        match w {
            EventResultWire::Sealed(r) => EventResult::Sealed(r),
            EventResultWire::Duplicate(r) => EventResult::Duplicate(r),
            EventResultWire::Rejected { error } => EventResult::Rejected(error),
        }
    }
}

/// The answer to `POST /v1/events`: `results[i]` answers event `i`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IngestResponse {
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub results: Vec<EventResult>,
}
