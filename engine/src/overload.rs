//! The escape valve (design.md §7): when a shard falls behind, it answers sooner and cheaper
//! instead of letting every request queue into its deadline.
//!
//! Two signals, both per shard and both cheap:
//! - queueing delay: how late a probe task in the request queue runs after its timer fires
//!   (it waits behind every request task that is ready), smoothed over a few probes;
//! - in flight: auctions accepted and not yet answered (those waiting for bidders included).
//!
//! Each signal maps to a level through three thresholds, and the shard runs at the higher of
//! the two. The levels degrade in steps, cheapest cut first:
//! 1. [`Level::NoFanout`]: external bidders are not asked (the slowest and most expensive part
//!    of an auction); campaigns still bid.
//! 2. [`Level::LocalOnly`]: also no hand-over to the user's owner shard (no cross-shard hop and
//!    no wait in the owner's queue); campaigns with frequency caps do not bid, since only the
//!    owner knows the user's counts (a missed delivery rather than one over the cap).
//! 3. [`Level::Shed`]: the request is answered 204 at once, before its body is parsed.
//!
//! Recovery needs nothing: the level is recomputed from the signals for every request, and the
//! signals fall as soon as the backlog drains. The smoothing of the delay (an exponential
//! average over [`DELAY_SMOOTHING_PROBES`] probes) is the only hysteresis, so a single slow
//! probe does not flip the level and a real backlog is seen within a few milliseconds.

use std::cell::Cell;

use serde::Deserialize;

/// How many probes the queueing-delay average spans (weight of a new probe: 1/this).
pub const DELAY_SMOOTHING_PROBES: u64 = 4;

/// How degraded a shard's answers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Level {
    #[default]
    Normal = 0,
    NoFanout = 1,
    LocalOnly = 2,
    Shed = 3,
}

impl Level {
    pub const ALL: [Level; 4] = [
        Level::Normal,
        Level::NoFanout,
        Level::LocalOnly,
        Level::Shed,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Level::Normal => "normal",
            Level::NoFanout => "no_fanout",
            Level::LocalOnly => "local_only",
            Level::Shed => "shed",
        }
    }

    fn from_thresholds<T: PartialOrd>(value: T, thresholds: [T; 3]) -> Level {
        let [no_fanout, local_only, shed] = thresholds;
        if value >= shed {
            Level::Shed
        } else if value >= local_only {
            Level::LocalOnly
        } else if value >= no_fanout {
            Level::NoFanout
        } else {
            Level::Normal
        }
    }
}

/// The escape valve's thresholds (`[overload]`). Each list is the start of `no_fanout`,
/// `local_only` and `shed`, ascending.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OverloadConfig {
    /// Off: the shard never degrades (for benchmarks that want to see the raw queue).
    pub enabled: bool,
    /// How often the probe measures the queueing delay.
    pub probe_interval_us: u64,
    /// Smoothed queueing delay at which each level starts, in microseconds.
    pub delay_us: [u64; 3],
    /// Auctions in flight on the shard at which each level starts.
    pub in_flight: [usize; 3],
}

impl Default for OverloadConfig {
    fn default() -> Self {
        OverloadConfig {
            enabled: true,
            probe_interval_us: 1000,
            // A request queued 2 ms has lost a fiftieth of a 100 ms tmax to waiting alone;
            // at 20 ms answers would start to miss deadlines of short-tmax exchanges.
            delay_us: [2_000, 5_000, 20_000],
            // Auctions waiting for bidders are in flight for up to tmax; at 10k requests/s per
            // shard and 100 ms that is 1000, so the first step comes well above normal load.
            in_flight: [2_048, 3_072, 4_096],
        }
    }
}

impl OverloadConfig {
    /// Problems as (field, reason), for `Config::validate`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if !(100..=100_000).contains(&self.probe_interval_us) {
            problems.push((
                "overload.probe_interval_us",
                "must be between 100 and 100000".to_string(),
            ));
        }
        if !self.delay_us.windows(2).all(|pair| pair[0] <= pair[1]) || self.delay_us[0] == 0 {
            problems.push((
                "overload.delay_us",
                "must be three ascending positive thresholds".to_string(),
            ));
        }
        if !self.in_flight.windows(2).all(|pair| pair[0] <= pair[1]) || self.in_flight[0] == 0 {
            problems.push((
                "overload.in_flight",
                "must be three ascending positive thresholds".to_string(),
            ));
        }
        problems
    }
}

/// One shard's valve: its signals, and what each level has cost.
#[derive(Debug)]
pub struct Overload {
    config: OverloadConfig,
    delay_us: Cell<u64>,
    in_flight: Cell<usize>,
    /// Requests answered at each level, in [`Level::ALL`] order.
    answered: [Cell<u64>; 4],
}

impl Overload {
    pub fn new(config: &OverloadConfig) -> Overload {
        Overload {
            config: config.clone(),
            delay_us: Cell::new(0),
            in_flight: Cell::new(0),
            answered: Default::default(),
        }
    }

    pub fn probe_interval(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.config.probe_interval_us)
    }

    /// Records how late the probe ran (`lag_us` past its timer).
    pub fn observe_delay(&self, lag_us: u64) {
        let previous = self.delay_us.get();
        let smoothed =
            previous - previous / DELAY_SMOOTHING_PROBES + lag_us / DELAY_SMOOTHING_PROBES;
        self.delay_us.set(smoothed);
    }

    /// The level a request arriving now is answered at; counts it.
    pub fn admit(&self) -> Level {
        let level = if self.config.enabled {
            Level::from_thresholds(self.delay_us.get(), self.config.delay_us).max(
                Level::from_thresholds(self.in_flight.get(), self.config.in_flight),
            )
        } else {
            Level::Normal
        };
        let counter = &self.answered[level as usize];
        counter.set(counter.get() + 1);
        level
    }

    /// Marks an auction in flight until the returned guard drops.
    pub fn enter(&self) -> InFlight<'_> {
        self.in_flight.set(self.in_flight.get() + 1);
        InFlight { overload: self }
    }

    pub fn snapshot(&self) -> OverloadSnapshot {
        OverloadSnapshot {
            delay_us: self.delay_us.get(),
            in_flight: self.in_flight.get() as u64,
            level: self.current() as u8,
            answered: std::array::from_fn(|idx| self.answered[idx].get()),
        }
    }

    /// The level now, without counting a request.
    pub fn current(&self) -> Level {
        if !self.config.enabled {
            return Level::Normal;
        }
        Level::from_thresholds(self.delay_us.get(), self.config.delay_us).max(
            Level::from_thresholds(self.in_flight.get(), self.config.in_flight),
        )
    }
}

/// An auction in flight; dropping it (answered, or its connection gone) ends it.
#[derive(Debug)]
pub struct InFlight<'a> {
    overload: &'a Overload,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let count = self.overload.in_flight.get();
        debug_assert!(count > 0);
        self.overload.in_flight.set(count.saturating_sub(1));
    }
}

/// What `/metrics` shows of one shard's valve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverloadSnapshot {
    pub delay_us: u64,
    pub in_flight: u64,
    pub level: u8,
    /// Auctions answered at each level, in [`Level::ALL`] order.
    pub answered: [u64; 4],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_higher_signal_and_recover() {
        let overload = Overload::new(&OverloadConfig::default());
        assert_eq!(overload.admit(), Level::Normal);
        for _ in 0..32 {
            overload.observe_delay(30_000);
        }
        assert_eq!(overload.admit(), Level::Shed);
        for _ in 0..64 {
            overload.observe_delay(0);
        }
        assert_eq!(overload.admit(), Level::Normal);
        let guards: Vec<_> = (0..2_048).map(|_| overload.enter()).collect();
        assert_eq!(overload.admit(), Level::NoFanout);
        drop(guards);
        assert_eq!(overload.admit(), Level::Normal);
        assert_eq!(overload.snapshot().answered, [3, 1, 0, 1]);
    }

    #[test]
    fn one_slow_probe_does_not_shed() {
        let overload = Overload::new(&OverloadConfig::default());
        overload.observe_delay(40_000);
        assert!(overload.admit() < Level::Shed);
    }

    #[test]
    fn disabled_never_degrades() {
        let overload = Overload::new(&OverloadConfig {
            enabled: false,
            ..OverloadConfig::default()
        });
        for _ in 0..32 {
            overload.observe_delay(1_000_000);
        }
        assert_eq!(overload.admit(), Level::Normal);
    }
}
