//! A token bucket per bearer token: `per_second` requests on average, up to
//! `burst` at once. A caller over its limit is told how many whole seconds
//! to wait (`Retry-After`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Requests allowed per token.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Requests allowed in one burst.
    pub burst: u32,
}

impl Default for RateLimit {
    /// 20 requests per second, bursts of 100: a dashboard loading a map
    /// and its panels stays well inside it.
    fn default() -> Self {
        RateLimit {
            per_second: 20.0,
            burst: 100,
        }
    }
}

impl RateLimit {
    /// Parses `N/s` or `N/s,burst=B` (e.g. `20/s,burst=100`).
    pub fn parse(text: &str) -> Result<RateLimit, String> {
        let bad = || format!("rate limit `{text}`: expected N/s or N/s,burst=B");
        let (rate, burst) = match text.split_once(',') {
            Some((r, b)) => (r, Some(b)),
            None => (text, None),
        };
        let per_second: f64 = rate
            .trim()
            .strip_suffix("/s")
            .ok_or_else(bad)?
            .trim()
            .parse()
            .map_err(|_| bad())?;
        if !(per_second.is_finite() && per_second > 0.0) {
            return Err(bad());
        }
        let burst = match burst {
            Some(b) => b
                .trim()
                .strip_prefix("burst=")
                .ok_or_else(bad)?
                .parse()
                .map_err(|_| bad())?,
            None => per_second.ceil().max(1.0) as u32,
        };
        if burst == 0 {
            return Err(bad());
        }
        Ok(RateLimit { per_second, burst })
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The buckets of all tokens seen.
#[derive(Debug)]
pub(crate) struct Limiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Most buckets kept; full buckets are dropped first when there are more.
const MAX_BUCKETS: usize = 100_000;

impl Limiter {
    pub(crate) fn new(limit: RateLimit) -> Limiter {
        Limiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `key`'s bucket at `now`; `Err(seconds)` to
    /// wait when it is empty.
    pub(crate) fn check(&self, key: &str, now: Instant) -> Result<(), u64> {
        let burst = f64::from(self.limit.burst);
        let rate = self.limit.per_second;
        let Ok(mut buckets) = self.buckets.lock() else {
            return Err(1);
        };
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < burst
            });
        }
        if !buckets.contains_key(key) {
            buckets.insert(
                key.to_string(),
                Bucket {
                    tokens: burst,
                    last: now,
                },
            );
        }
        let Some(bucket) = buckets.get_mut(key) else {
            return Err(1);
        };
        let elapsed = now.saturating_duration_since(bucket.last);
        bucket.tokens = (bucket.tokens + elapsed.as_secs_f64() * rate).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = Duration::from_secs_f64((1.0 - bucket.tokens) / rate);
            Err(wait
                .as_secs()
                .saturating_add(u64::from(wait.subsec_nanos() > 0))
                .max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let limiter = Limiter::new(RateLimit {
            per_second: 2.0,
            burst: 3,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check("a", t0), Ok(()));
        }
        assert_eq!(limiter.check("a", t0), Err(1));
        // Another token has its own bucket.
        assert_eq!(limiter.check("b", t0), Ok(()));
        // Half a second later one request is available again.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(limiter.check("a", t1), Ok(()));
        assert_eq!(limiter.check("a", t1), Err(1));
    }

    #[test]
    fn slow_rates_ask_for_longer_waits() {
        let limiter = Limiter::new(RateLimit {
            per_second: 0.1,
            burst: 1,
        });
        let t0 = Instant::now();
        assert_eq!(limiter.check("a", t0), Ok(()));
        assert_eq!(limiter.check("a", t0), Err(10));
    }

    #[test]
    fn parses_rates() {
        assert_eq!(
            RateLimit::parse("20/s,burst=100"),
            Ok(RateLimit {
                per_second: 20.0,
                burst: 100
            })
        );
        assert_eq!(RateLimit::parse("5/s").map(|r| r.burst), Ok(5));
        for bad in ["", "20", "0/s", "-1/s", "x/s", "5/s,burst=0", "5/s,b=3"] {
            assert!(RateLimit::parse(bad).is_err(), "{bad}");
        }
    }
}
