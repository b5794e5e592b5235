//! The clock, in the unit every sealtrail timestamp uses. Here, the lowest
//! crate with effects that reads it, so that the key history, the server
//! and the CLI share one definition.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
