//! The one error shape: `{"error": {"code", "message", "field"?}}` for a
//! failed request, and `results[i].error` for one rejected event.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The error object. The server's codes are constants (hence `Cow`: no
/// allocation to refuse); a client reads whatever code a server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable (`invalid_event`, `unauthorized`, …).
    #[schema(value_type = String)]
    pub code: Cow<'static, str>,
    /// For people.
    #[serde(default)]
    pub message: String,
    /// The field at fault, when there is one (`agent.id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<String>,
}

impl ErrorBody {
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        ErrorBody {
            code: code.into(),
            message: message.into(),
            field: None,
        }
    }

    /// The same error, naming the field at fault.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for ErrorBody {
    /// `agent.id: required field is missing [invalid_event]`; the field is
    /// prefixed only when the message does not already start with it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) if !self.message.starts_with(field.as_str()) => {
                write!(f, "{field}: {} [{}]", self.message, self.code)
            }
            _ => write!(f, "{} [{}]", self.message, self.code),
        }
    }
}

impl std::error::Error for ErrorBody {}

/// The code of a refused query parameter or filter value.
pub const INVALID_PARAMETER: &str = "invalid_parameter";
/// The code of a refused request body.
pub const INVALID_REQUEST: &str = "invalid_request";

/// The `{"error": …}` envelope of a failed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}
