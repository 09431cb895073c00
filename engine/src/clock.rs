//! The one place the engine reads a clock.
//!
//! Decision code (delivery, budgets, pacing, caps, the auction, tracking's verification) takes
//! the time as an argument, so that a test can run a simulated day against it and a request is
//! decided against one reading. The orchestrating and transport layers that own deadlines and
//! latency (`http`, `shard`, `server`, `bidders`' pool and fan-out) read it here.
//! `engine/clippy.toml` disallows `Instant::now`, `Instant::elapsed` and `SystemTime::now`
//! everywhere else, and `tests/module_layers.rs` keeps decision modules from importing this one.

#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The monotonic clock, for deadlines and latencies.
#[inline]
pub fn now() -> Instant {
    Instant::now()
}

/// Time since `start` on the monotonic clock (zero if `start` is in the future).
#[inline]
pub fn elapsed_since(start: Instant) -> Duration {
    Instant::now().saturating_duration_since(start)
}

/// Wall-clock Unix seconds: tokens, flights, budgets and caps are in Unix time. A clock before
/// 1970 reads as 0.
#[inline]
pub fn unix_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_are_after_2020_and_elapsed_is_monotonic() {
        assert!(unix_s() > 1_577_836_800);
        let start = now();
        assert!(elapsed_since(start) < Duration::from_secs(60));
        assert_eq!(
            elapsed_since(now() + Duration::from_secs(5)),
            Duration::ZERO
        );
    }
}
