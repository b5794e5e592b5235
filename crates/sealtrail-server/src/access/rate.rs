//! Per-key token buckets: a key may spend `burst` requests at once and
//! earns `per_second` back; past that it gets 429 with Retry-After.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use super::keys::RateLimit;

struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Takes one token for `key`; `Err(seconds)` says when to retry.
    pub fn take(&self, key: &str, limit: RateLimit, now: Instant) -> Result<(), u64> {
        if limit.per_second <= 0.0 {
            return Ok(());
        }
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let b = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: limit.burst.max(1.0),
            at: now,
        });
        let earned = now.saturating_duration_since(b.at).as_secs_f64() * limit.per_second;
        b.tokens = (b.tokens + earned).min(limit.burst.max(1.0));
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - b.tokens) / limit.per_second;
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let r = RateLimiter::default();
        let lim = RateLimit {
            per_second: 2.0,
            burst: 3.0,
        };
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(r.take("k", lim, t0), Ok(()));
        }
        assert_eq!(r.take("k", lim, t0), Err(1));
        // Another key has its own bucket.
        assert_eq!(r.take("j", lim, t0), Ok(()));
        assert_eq!(r.take("k", lim, t0 + Duration::from_millis(500)), Ok(()));
        assert!(r.take("k", lim, t0 + Duration::from_millis(500)).is_err());
        let slow = RateLimit {
            per_second: 0.1,
            burst: 1.0,
        };
        assert_eq!(r.take("s", slow, t0), Ok(()));
        assert_eq!(r.take("s", slow, t0), Err(10));
        let off = RateLimit {
            per_second: 0.0,
            burst: 0.0,
        };
        for _ in 0..100 {
            assert_eq!(r.take("o", off, t0), Ok(()));
        }
    }
}
