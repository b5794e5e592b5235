//! Identifiers and timestamps for recorded events.

use std::time::{SystemTime, UNIX_EPOCH};

/// A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits. Ids sort
/// by creation time, and an event keeps its id through spooling and retries,
/// which is what makes a resend idempotent on the server.
pub fn uuid_v7(now: SystemTime) -> String {
    let ms = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut b = [0u8; 16];
    // A failed getrandom is practically impossible; a zeroed tail would
    // still be unique enough with the per-instance seq beside it, so the
    // relay must not fail for it.
    let _ = getrandom::fill(&mut b[6..]);
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6] = 0x70 | (b[6] & 0x0f);
    b[8] = 0x80 | (b[8] & 0x3f);
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// UTC RFC 3339 with microseconds, as `occurred_at` expects.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    sealtrail_core::time::format_time(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn uuid_v7_layout() {
        let t = UNIX_EPOCH + Duration::from_millis(0x0123_4567_89ab);
        let id = uuid_v7(t);
        assert_eq!(id.len(), 36);
        assert!(id.starts_with("01234567-89ab-7"), "{id}");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(uuid_v7(t), uuid_v7(t));
    }

    #[test]
    fn rfc3339_known_instant() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_000_000_123_456);
        let s = rfc3339(t);
        assert_eq!(s, "2026-11-18T11:06:40.123456Z");
        assert!(sealtrail_core::event::check_rfc3339(&s).is_ok());
    }
}
