//! A simulated day through the engine's real pacer: even pacing spends (nearly) the whole
//! daily budget in step with the traffic, asap spends it in the morning and then stops, and
//! a new UTC day starts the controller afresh. Several seeds, each printed, so that a failure
//! can be replayed with `adshard-pacing-sim --seed N` and the bounds are not tuned to one day.

use adshard::campaign::Pacing;
use adshard::pacing::{
    DailySpend, Pacer, PacingConfig, PacingMode, HOURS_PER_DAY, SECONDS_PER_DAY, THROTTLE_MIN,
    THROTTLE_START,
};
use adshard_tools::pacing_sim::{
    parse_curve, simulate, SimOptions, SimReport, SIM_DAY_START_UNIX_S,
};

const SEEDS: [u64; 5] = [1, 2, 3, 4, 5];

/// Most a campaign may leave unspent at midnight under even pacing.
const EVEN_SPENT_SHARE_MIN: f64 = 0.97;

/// Most an hour's share of the day's spend may exceed its share of the day's traffic
/// (hours under 1% of the traffic are not rated, see `HOUR_SHARE_FOR_RATIO_MIN`). Measured
/// on the first day, when the pacer only knows its prior: 1.15 to 1.17 for all campaigns
/// together, 1.18 to 1.21 for the worst single campaign.
const HOUR_RATIO_MAX: f64 = 1.5;

fn run(seed: u64, pacing: Pacing, warmup_days: u32) -> SimReport {
    let mut options = SimOptions::new(seed, pacing);
    options.warmup_days = warmup_days;
    let report = simulate(&options);
    let campaign_ratio_max = report
        .campaign_max_hour_ratios()
        .into_iter()
        .fold(0.0, f64::max);
    println!(
        "seed {seed}, {pacing:?}, warm-up days {warmup_days}: {} (one campaign: {campaign_ratio_max:.2})",
        report.summary_line()
    );
    report
}

fn assert_even_delivery(report: &SimReport, what: &str) {
    assert_eq!(report.overspend_micros, 0, "{what}");
    for (idx, campaign) in report.campaigns.iter().enumerate() {
        let share = campaign.spent_micros as f64 / campaign.budget_micros as f64;
        assert!(
            (EVEN_SPENT_SHARE_MIN..=1.0).contains(&share),
            "{what}, campaign {idx}: spent {share:.4} of its budget"
        );
    }
    let ratio = report.max_hour_ratio();
    assert!(ratio <= HOUR_RATIO_MAX, "{what}: max hour ratio {ratio:.2}");
    for (idx, ratio) in report.campaign_max_hour_ratios().iter().enumerate() {
        assert!(
            *ratio <= HOUR_RATIO_MAX,
            "{what}, campaign {idx}: max hour ratio {ratio:.2}"
        );
    }
}

#[test]
fn even_spends_the_budget_in_step_with_traffic() {
    for seed in SEEDS {
        let report = run(seed, Pacing::Even, 0);
        assert_even_delivery(&report, &format!("seed {seed}"));
        // Not front-loaded: by noon no campaign is far ahead of the traffic.
        let traffic_by_noon: f64 = report.hours[..12].iter().map(|h| h.traffic_share).sum();
        for (idx, campaign) in report.campaigns.iter().enumerate() {
            let by_noon: i64 = campaign.hour_spend_micros[..12].iter().sum();
            let share = by_noon as f64 / campaign.budget_micros as f64;
            assert!(
                share <= traffic_by_noon * 1.2,
                "seed {seed}, campaign {idx}: {share:.3} of budget by noon, traffic {traffic_by_noon:.3}"
            );
        }
    }
}

#[test]
fn asap_exhausts_in_the_morning_then_stops() {
    for seed in SEEDS {
        let report = run(seed, Pacing::Asap, 0);
        assert_eq!(report.overspend_micros, 0, "seed {seed}");
        for (idx, campaign) in report.campaigns.iter().enumerate() {
            let minute = campaign
                .exhausted_minute
                .unwrap_or_else(|| panic!("seed {seed}, campaign {idx} never exhausted"));
            let hour = minute / 60;
            assert!(
                hour < 12,
                "seed {seed}, campaign {idx}: exhausted at {hour}h"
            );
            assert!(
                campaign.hour_spend_micros[hour + 1..]
                    .iter()
                    .all(|s| *s == 0),
                "seed {seed}, campaign {idx}: spend after exhaustion at {hour}h"
            );
            assert!(campaign.spent_micros <= campaign.budget_micros);
        }
    }
}

/// The reported day follows a warm-up day: the controller starts it fresh (yesterday's
/// exhausted budgets leave no minimum throttle behind), and with the traffic shape learned
/// from the warm-up day it tracks the traffic more closely than on the first day (max hour
/// ratio measured at 1.15 to 1.17 on the first day, 1.03 to 1.08 on the second). A shape
/// far from the prior (most traffic from 6 to 12) is learned in one day too (measured 1.05).
#[test]
fn a_new_day_starts_fresh_and_uses_the_learned_curve() {
    for seed in SEEDS {
        let second_day = run(seed, Pacing::Even, 1);
        assert_even_delivery(&second_day, &format!("seed {seed}, second day"));
        let ratio = second_day.max_hour_ratio();
        assert!(
            ratio <= 1.10,
            "seed {seed}: max hour ratio {ratio:.2} with a learned curve"
        );
    }
    let mut options = SimOptions::new(1, Pacing::Even);
    options.curve = parse_curve(
        "0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 2.6, 2.7, 2.8, 2.9, 3.0, 3.1
         0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3",
    )
    .expect("a valid curve");
    options.warmup_days = 1;
    let report = simulate(&options);
    println!("morning peak, second day: {}", report.summary_line());
    assert_even_delivery(&report, "morning peak, second day");
    assert!(report.max_hour_ratio() <= 1.10, "{}", report.summary_line());
}

/// The same boundary with the injected clock and the pacer alone: at 23:59 an exhausted
/// campaign sits at the minimum throttle; the first update after midnight starts it again.
#[test]
fn the_day_boundary_resets_the_controller() {
    let mut pacer = Pacer::new(PacingConfig::default(), [PacingMode::Even]);
    let budget_micros = 1_000_000;
    let last_minute = SIM_DAY_START_UNIX_S + SECONDS_PER_DAY - 60;
    for now in [last_minute - 60, last_minute] {
        pacer.observe_request(now);
        pacer.update(now, |_| DailySpend {
            spent_micros: budget_micros,
            budget_micros,
        });
    }
    assert_eq!(pacer.throttle(0), THROTTLE_MIN);
    assert_eq!(pacer.requests_today(), 2);

    let midnight = SIM_DAY_START_UNIX_S + SECONDS_PER_DAY;
    pacer.update(midnight, |_| DailySpend {
        spent_micros: 0,
        budget_micros,
    });
    assert_eq!(pacer.throttle(0), THROTTLE_START);
    assert_eq!(pacer.requests_today(), 0);
    assert_eq!(pacer.day(), Some(midnight / SECONDS_PER_DAY));
    // A clock stepping back over midnight neither undoes the new day nor panics.
    pacer.observe_request(last_minute);
    pacer.update(last_minute, |_| DailySpend {
        spent_micros: budget_micros,
        budget_micros,
    });
    assert_eq!(pacer.day(), Some(midnight / SECONDS_PER_DAY));
    assert_eq!(pacer.throttle(0), THROTTLE_START);
}

#[test]
fn the_same_seed_gives_the_same_day() {
    let a = simulate(&SimOptions::new(7, Pacing::Even));
    let b = simulate(&SimOptions::new(7, Pacing::Even));
    let c = simulate(&SimOptions::new(8, Pacing::Even));
    assert_eq!(a, b);
    assert_ne!(a.minute_requests, c.minute_requests);
    assert_eq!(a.hours.len(), HOURS_PER_DAY);
}
