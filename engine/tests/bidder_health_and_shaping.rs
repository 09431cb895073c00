//! Health throttling and traffic shaping of bidders (`bidders::shaping`), driven by simulated
//! traffic: a simulated clock in milliseconds and seeded random sources, no real time and no
//! sleeps, so minutes of traffic run in milliseconds and every run with a seed is the same.
//!
//! In every simulation only the requests the structure lets through report an outcome, as in
//! the server: a throttled or skipped request teaches nothing.
//!
//! The seed is printed; rerun a failure with `ADSHARD_SEED=<seed>`.

use adshard::bidders::shaping::{
    context_key, BidRateModel, BidderHealth, Decision, HealthSettings, Outcome, ShapingSettings,
    HEALTH_EXPLORATION_SHARE, HEALTH_HALF_LIFE_MS, SHAPING_CONTEXTS_MAX, SHAPING_CONTEXT_WAYS,
    SHAPING_EXPLORATION_SHARE,
};
use adshard::pacing::PacingRng;
use proptest::prelude::*;

/// Requests per second a simulated bidder gets on one shard.
const REQUESTS_PER_S: u64 = 1_000;
const MS_PER_REQUEST: u64 = 1_000 / REQUESTS_PER_S;

fn seed() -> u64 {
    let seed = std::env::var("ADSHARD_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(0x5eed_0005);
    println!("seed {seed} (rerun with ADSHARD_SEED={seed})");
    seed
}

/// The decision stream (what the shard owns) and the world's stream (what the bidder does) are
/// separate, so that changing one decision does not change every later bidder outcome.
fn rngs(seed: u64) -> (PacingRng, PacingRng) {
    (
        PacingRng::new(seed),
        PacingRng::new(seed ^ 0xa5a5_a5a5_a5a5_a5a5),
    )
}

/// What a simulated bidder does with a request it gets: fails with `failure_rate` (half
/// timeouts, half errors), else bids one time in four.
fn outcome(world: &mut PacingRng, failure_rate: f64) -> Outcome {
    let draw = world.next_f64();
    if draw < failure_rate / 2.0 {
        Outcome::Timeout
    } else if draw < failure_rate {
        Outcome::Error
    } else if world.next_f64() < 0.25 {
        Outcome::Ok
    } else {
        Outcome::NoBid
    }
}

/// A bidder's health under simulated traffic, one request per `MS_PER_REQUEST`.
struct HealthSim {
    health: BidderHealth,
    rng: PacingRng,
    world: PacingRng,
    now_ms: u64,
    requests: u64,
    sent: u64,
}

impl HealthSim {
    fn new(seed: u64) -> HealthSim {
        let (rng, world) = rngs(seed);
        HealthSim {
            health: BidderHealth::new(HealthSettings::default()),
            rng,
            world,
            now_ms: 0,
            requests: 0,
            sent: 0,
        }
    }

    /// One request: asked if health allows, and then its outcome recorded.
    fn step(&mut self, failure_rate: f64) {
        self.now_ms += MS_PER_REQUEST;
        self.requests += 1;
        if self.health.should_send(self.now_ms, &mut self.rng) {
            self.sent += 1;
            let outcome = outcome(&mut self.world, failure_rate);
            self.health.record(self.now_ms, outcome);
        }
    }

    /// Runs `duration_ms` of traffic, checking the share's range after every request; returns
    /// the elapsed time at which `until` first held, if it did.
    fn run(
        &mut self,
        duration_ms: u64,
        failure_rate: f64,
        until: impl Fn(f64) -> bool,
    ) -> Option<u64> {
        let start_ms = self.now_ms;
        let mut reached_ms = None;
        while self.now_ms < start_ms + duration_ms {
            self.step(failure_rate);
            let share = self.share();
            assert!(
                (HEALTH_EXPLORATION_SHARE..=1.0).contains(&share),
                "share {share} at {} ms",
                self.now_ms
            );
            if reached_ms.is_none() && until(share) {
                reached_ms = Some(self.now_ms - start_ms);
            }
        }
        reached_ms
    }

    fn share(&self) -> f64 {
        self.health.send_share(self.now_ms)
    }
}

#[test]
fn health_healthy_bidder_keeps_full_share() {
    let mut sim = HealthSim::new(seed());
    let throttled_at = sim.run(120_000, 0.0, |share| share < 1.0);
    assert_eq!(throttled_at, None);
    assert_eq!(sim.health.throttled(), 0);
    assert_eq!(sim.sent, sim.requests);
}

#[test]
fn health_error_rate_below_threshold_does_not_throttle() {
    let seed = seed();
    let mut sim = HealthSim::new(seed);
    // The first second is left out of the strict check: among the first few dozen exchanges,
    // 3 failures in 20 (15%) happen by chance at a 5% rate. A short partial throttle then is
    // the price of reacting to a bidder that is down from the start.
    sim.run(1_000, 0.05, |_| false);
    let throttled_during_warm_up = sim.health.throttled();
    let throttled_at = sim.run(120_000, 0.05, |share| share < 1.0);
    assert_eq!(throttled_at, None, "seed {seed}");
    assert_eq!(sim.health.throttled(), throttled_during_warm_up);
    assert!(
        throttled_during_warm_up * 1_000 < sim.requests,
        "seed {seed}: {throttled_during_warm_up} of {} throttled",
        sim.requests
    );
    let rate = sim.health.failure_rate(sim.now_ms);
    assert!((0.04..0.06).contains(&rate), "seed {seed}: rate {rate}");
}

/// Time from a healthy bidder failing every request to the exploration share. The share
/// bottoms out at a failure rate R = 0.1 + 0.9 / 2 = 55%. The exchanges of the healthy past
/// decay as x = 2^(-t / half-life) while failures come in at the exploration share s = 0.1 of
/// the old traffic at least, so the rate is at least s(1 - x) / (x + s(1 - x)), which reaches R
/// at x = s(1 - R) / (R + s(1 - R)) = 0.076, after 3.72 half-lives (7.4 s). Sending more than
/// s while the share falls only gets there sooner.
const HEALTH_DOWN_MS_BOUND: u64 = 372 * HEALTH_HALF_LIFE_MS / 100;

#[test]
fn health_failing_bidder_drops_to_exploration_share_and_recovers() {
    let seed = seed();
    let mut sim = HealthSim::new(seed);
    let exploration = sim.health.settings().exploration_share;
    assert_eq!(exploration, HEALTH_EXPLORATION_SHARE);

    // Healthy long enough for the decayed counts to be in their steady state.
    sim.run(30_000, 0.0, |_| false);
    assert_eq!(sim.share(), 1.0);

    // Down: every exchange fails.
    let down_ms = sim.run(30_000, 1.0, |share| share == exploration);
    println!("share at exploration {down_ms:?} ms after the bidder went down");
    let down_ms = down_ms.expect("never throttled to the exploration share");
    assert!(down_ms <= HEALTH_DOWN_MS_BOUND, "seed {seed}: {down_ms} ms");
    assert_eq!(sim.share(), exploration, "seed {seed}: not at the floor");

    // The draws follow the share: 10 000 draws at one instant, nothing recorded in between.
    let throttled_before = sim.health.throttled();
    let n_draws: u64 = 10_000;
    let sent = (0..n_draws)
        .filter(|_| sim.health.should_send(sim.now_ms, &mut sim.rng))
        .count() as u64;
    let fraction = sent as f64 / n_draws as f64;
    println!("sent {sent} of {n_draws} draws at share {exploration}");
    assert!(
        (fraction - exploration).abs() <= 0.02,
        "seed {seed}: fraction {fraction} vs share {exploration}"
    );
    assert_eq!(sim.health.throttled() - throttled_before, n_draws - sent);

    // Up again. Only the exploration share of requests is sent at first, and only those report
    // outcomes, yet the share is back to 1 within the documented bound.
    let bound_ms = sim.health.settings().recovery_ms_bound();
    let up_ms = sim.run(2 * bound_ms, 0.0, |share| share == 1.0);
    println!("share back to 1 {up_ms:?} ms after the bidder recovered (bound {bound_ms} ms)");
    let up_ms = up_ms.expect("never recovered");
    assert!(up_ms <= bound_ms, "seed {seed}: {up_ms} ms > {bound_ms} ms");
    // And it stays there.
    assert_eq!(sim.run(30_000, 0.0, |share| share < 1.0), None);
}

#[test]
fn health_recovery_bound_with_defaults() {
    // half-life x log2(1 / threshold) = 2000 ms x log2(10).
    assert_eq!(HealthSettings::default().recovery_ms_bound(), 6_644);
}

#[test]
fn health_partial_failures_get_a_proportional_share() {
    let seed = seed();
    let mut sim = HealthSim::new(seed);
    sim.run(60_000, 0.30, |_| false);
    // 30% failures: share = 1 - 2 x (0.30 - 0.10) = 0.6.
    let share = sim.share();
    assert!((0.55..0.65).contains(&share), "seed {seed}: share {share}");
    let sent_fraction = sim.sent as f64 / sim.requests as f64;
    assert!(
        (0.55..0.65).contains(&sent_fraction),
        "seed {seed}: sent {sent_fraction}"
    );
}

#[test]
fn health_idle_bidder_gets_a_fresh_chance() {
    let mut sim = HealthSim::new(seed());
    sim.run(30_000, 1.0, |_| false);
    assert_eq!(sim.share(), HEALTH_EXPLORATION_SHARE);
    // No traffic: the decayed failures fall below `min_samples` x threshold. At the floor they
    // are about 0.1 x 1000/s x 2 s / ln 2 = 290, which takes log2(290 / 2) = 7.2 half-lives.
    sim.now_ms += 8 * HEALTH_HALF_LIFE_MS;
    assert_eq!(sim.share(), 1.0);
}

#[test]
fn health_clock_going_back_is_harmless() {
    let mut health = BidderHealth::new(HealthSettings::default());
    for _ in 0..100 {
        health.record(10_000, Outcome::Timeout);
    }
    health.record(5_000, Outcome::Ok);
    let share = health.send_share(0);
    assert_eq!(share, HEALTH_EXPLORATION_SHARE);
    assert_eq!(health.send_share(10_000), share);
}

/// Sends `n_requests` of context `key` through `model`; the bidder bids with `bid_rate` on the
/// ones sent. Returns how many got each decision: (send, explore, skip).
fn drive(
    model: &mut BidRateModel,
    rng: &mut PacingRng,
    world: &mut PacingRng,
    key: u64,
    n_requests: u64,
    bid_rate: f64,
) -> (u64, u64, u64) {
    let mut counts = (0, 0, 0);
    for _ in 0..n_requests {
        let decision = model.should_send(key, rng);
        match decision {
            Decision::Send => counts.0 += 1,
            Decision::Explore => counts.1 += 1,
            Decision::Skip => counts.2 += 1,
        }
        if decision.sends() {
            model.record(key, world.next_f64() < bid_rate);
        }
    }
    counts
}

#[test]
fn shaping_never_bought_context_is_skipped_but_explored() {
    let seed = seed();
    let (mut rng, mut world) = rngs(seed);
    let mut model = BidRateModel::new(ShapingSettings::default());
    let key = context_key("never-bought.example", "USA", 1);
    assert_eq!(model.predicted_rate(key), None);

    // Warm-up: every request is sent until `min_requests` (decayed) observations are in.
    let min_requests = u64::from(model.settings().min_requests);
    let mut warm_up = 0;
    while model.predicted_rate(key).is_none() {
        assert_eq!(model.should_send(key, &mut rng), Decision::Send);
        model.record(key, false);
        warm_up += 1;
        assert!(warm_up <= 2 * min_requests, "warm-up never ends");
    }
    println!("learned after {warm_up} requests");
    assert_eq!(model.predicted_rate(key), Some(0.0));

    let n_requests = 200_000;
    let (send, explore, skip) = drive(&mut model, &mut rng, &mut world, key, n_requests, 0.0);
    assert_eq!(send, 0);
    let fraction = explore as f64 / n_requests as f64;
    println!("explored {explore}, skipped {skip} of {n_requests}");
    assert!(
        (fraction - SHAPING_EXPLORATION_SHARE).abs() <= 0.01,
        "seed {seed}: explored fraction {fraction}"
    );
    assert_eq!(model.explored(), explore);
    assert_eq!(model.skipped(), skip);
}

#[test]
fn shaping_often_bought_contexts_are_always_sent() {
    let seed = seed();
    let (mut rng, mut world) = rngs(seed);
    let mut model = BidRateModel::new(ShapingSettings::default());
    // 50% as asked; 10% is 5 times the threshold and must not be skipped by noise either.
    for (name, bid_rate) in [("half.example", 0.5), ("tenth.example", 0.1)] {
        let key = context_key(name, "FRA", 2);
        let (send, explore, skip) = drive(&mut model, &mut rng, &mut world, key, 100_000, bid_rate);
        assert_eq!(
            (send, explore, skip),
            (100_000, 0, 0),
            "seed {seed}: {name}"
        );
        let rate = model.predicted_rate(key).expect("learned");
        assert!((rate - bid_rate).abs() < 0.03, "seed {seed}: {name} {rate}");
    }
    assert_eq!((model.skipped(), model.explored()), (0, 0));
}

/// Requests of a skipped context, after its bid rate rises from 0 to 50%, before it is sent
/// again. The decayed requests stay at their steady weight W, and the bids must reach
/// threshold x W: 0.5 x (1 - d^n) >= 0.02 needs n = 1000 x log2(1 / 0.96) = 59 explored
/// observations, about 1180 requests at a 5% exploration share. 3000 leaves room for the
/// randomness of the explore draws and of the bids.
const SHAPING_RELEARN_REQUESTS_BOUND: u64 = 3_000;

#[test]
fn shaping_context_that_starts_being_bought_is_sent_again() {
    let seed = seed();
    let (mut rng, mut world) = rngs(seed);
    let mut model = BidRateModel::new(ShapingSettings::default());
    let key = context_key("com.example.game", "DEU", 1);

    // Long enough at 0% for the counts to be in their steady state.
    drive(&mut model, &mut rng, &mut world, key, 100_000, 0.0);
    assert_eq!(model.predicted_rate(key), Some(0.0));

    let mut requests = 0;
    loop {
        let (send, _, _) = drive(&mut model, &mut rng, &mut world, key, 1, 0.5);
        requests += 1;
        if send == 1 {
            break;
        }
        assert!(
            requests < SHAPING_RELEARN_REQUESTS_BOUND,
            "seed {seed}: still skipped after {requests} requests"
        );
    }
    println!("sent again after {requests} requests (bound {SHAPING_RELEARN_REQUESTS_BOUND})");
    // Once sent again, it is learned at full rate and stays sent.
    let skipped_before = model.skipped();
    drive(&mut model, &mut rng, &mut world, key, 20_000, 0.5);
    let rate = model.predicted_rate(key).expect("learned");
    assert!(rate > 0.3, "seed {seed}: rate {rate}");
    let (send, explore, skip) = drive(&mut model, &mut rng, &mut world, key, 10_000, 0.5);
    assert_eq!((send, explore, skip), (10_000, 0, 0), "seed {seed}");
    assert!(model.skipped() - skipped_before < 200, "seed {seed}");
}

#[test]
fn shaping_table_stays_bounded_and_keeps_hot_contexts() {
    let seed = seed();
    let (mut rng, mut world) = rngs(seed);
    let mut model = BidRateModel::new(ShapingSettings::default());
    assert_eq!(model.capacity(), SHAPING_CONTEXTS_MAX);
    let hot = context_key("hot.example", "USA", 1);
    drive(&mut model, &mut rng, &mut world, hot, 1_000, 0.0);
    assert!(model.predicted_rate(hot).is_some());

    let mut domain = String::new();
    for idx in 0..100_000u64 {
        domain.clear();
        domain.push_str("site-");
        domain.push_str(&(idx ^ seed).to_string());
        domain.push_str(".example");
        let key = context_key(&domain, "GBR", 1);
        model.record(key, world.next_f64() < 0.1);
        // The hot context is looked up all along (skipped mostly), and must not be evicted by
        // the long tail of contexts seen once.
        if idx % 16 == 0 {
            model.should_send(hot, &mut rng);
        }
        if idx % 10_000 == 0 {
            assert!(model.len() <= model.capacity());
        }
    }
    println!("{} contexts held of {}", model.len(), model.capacity());
    assert!(model.len() <= model.capacity());
    // 100 000 keys over 1024 sets fill every set.
    assert_eq!(model.len(), model.capacity());
    assert!(
        model.predicted_rate(hot).is_some(),
        "seed {seed}: hot evicted"
    );
}

#[test]
fn shaping_settings_are_sanitized() {
    let model = BidRateModel::new(ShapingSettings {
        bid_rate_threshold: f64::NAN,
        exploration_share: -1.0,
        min_requests: 0,
        half_life_requests: 0,
        contexts_max: 5,
    });
    let settings = model.settings();
    assert_eq!(model.capacity(), 2 * SHAPING_CONTEXT_WAYS);
    assert!(settings.bid_rate_threshold.is_finite());
    assert!(settings.exploration_share > 0.0);
    assert!(settings.min_requests >= 1 && settings.half_life_requests >= 1);
}

/// A health operation in the property tests: a time and what happens at it.
#[derive(Debug, Clone)]
enum HealthOp {
    Record(u64, u8),
    Draw(u64),
}

fn health_op() -> impl Strategy<Value = HealthOp> {
    // Times mostly near each other (so counts accumulate), sometimes anywhere in u64 (so the
    // clock jumps far and goes back).
    let time = prop_oneof![4 => 0..120_000u64, 1 => any::<u64>()];
    prop_oneof![
        3 => (time.clone(), 0..4u8).prop_map(|(t, o)| HealthOp::Record(t, o)),
        1 => time.prop_map(HealthOp::Draw),
    ]
}

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => 0.0..1.0f64,
        1 => prop::num::f64::ANY,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn health_share_always_in_range(
        seed in any::<u64>(),
        threshold in any_f64(),
        exploration in any_f64(),
        half_life_ms in prop_oneof![1..10_000u64, any::<u64>()],
        min_samples in any::<u32>(),
        drop in any_f64(),
        ops in prop::collection::vec(health_op(), 0..300),
    ) {
        let mut health = BidderHealth::new(HealthSettings {
            error_rate_threshold: threshold,
            exploration_share: exploration,
            half_life_ms,
            min_samples,
            share_drop_per_error_rate: drop,
        });
        let floor = health.settings().exploration_share;
        prop_assert!(floor > 0.0 && floor <= 1.0);
        let mut rng = PacingRng::new(seed);
        for op in ops {
            let now_ms = match op {
                HealthOp::Record(now_ms, outcome) => {
                    let outcome = [Outcome::Ok, Outcome::NoBid, Outcome::Timeout, Outcome::Error]
                        [usize::from(outcome)];
                    health.record(now_ms, outcome);
                    now_ms
                }
                HealthOp::Draw(now_ms) => {
                    health.should_send(now_ms, &mut rng);
                    now_ms
                }
            };
            let share = health.send_share(now_ms);
            prop_assert!((floor..=1.0).contains(&share), "share {}", share);
            let rate = health.failure_rate(now_ms);
            prop_assert!((0.0..=1.0).contains(&rate), "rate {}", rate);
        }
    }

    #[test]
    fn shaping_never_panics_and_stays_consistent(
        seed in any::<u64>(),
        threshold in any_f64(),
        exploration in any_f64(),
        min_requests in prop_oneof![0..50u32, any::<u32>()],
        half_life_requests in prop_oneof![0..100u32, any::<u32>()],
        // Small tables so that sets fill and evict; the upper clamp is checked once below.
        contexts_max in prop_oneof![0..64usize, 0..10_000usize],
        ops in prop::collection::vec((prop_oneof![0..40u64, any::<u64>()], any::<bool>(), any::<bool>()), 0..600),
    ) {
        let mut model = BidRateModel::new(ShapingSettings {
            bid_rate_threshold: threshold,
            exploration_share: exploration,
            min_requests,
            half_life_requests,
            contexts_max,
        });
        let mut rng = PacingRng::new(seed);
        for (key, is_record, got_bid) in ops {
            if is_record {
                model.record(key, got_bid);
            } else {
                let predicted = model.predicted_rate(key);
                let decision = model.should_send(key, &mut rng);
                if predicted.is_none() {
                    prop_assert_eq!(decision, Decision::Send);
                }
            }
            if let Some(rate) = model.predicted_rate(key) {
                prop_assert!((0.0..=1.0).contains(&rate), "rate {}", rate);
            }
        }
        prop_assert!(model.len() <= model.capacity());
    }
}
