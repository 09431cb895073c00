//! A pacer across a restart keeps its learned curve, today's traffic and its throttles, and
//! old shards' pacers merged for fewer or more new shards share the traffic out.

use super::super::{DailySpend, PacingConfig, PacingRng, CURVE_SHARE_MIN, SECONDS_PER_HOUR};
use super::*;

/// An arbitrary UTC midnight.
const DAY0: i64 = 20_001 * SECONDS_PER_DAY;

/// Drives `pacer` a minute at a time from `from_s` for `minutes`: traffic heavier in the
/// evening, campaign `i` spends `(i + 1) x 1000` micros per allowed request against a daily
/// budget of 2 000 000; `spent` carries the spend between calls.
fn drive(pacer: &mut Pacer, from_s: i64, minutes: i64, spent: &mut Vec<i64>, rng: &mut PacingRng) {
    spent.resize(pacer.n_campaigns(), 0);
    for minute in 0..minutes {
        let now = from_s + minute * 60;
        if now.rem_euclid(SECONDS_PER_DAY) == 0 {
            spent.iter_mut().for_each(|s| *s = 0);
        }
        let spend = spent.clone();
        pacer.update(now, |idx| DailySpend {
            spent_micros: spend[idx as usize],
            budget_micros: 2_000_000,
        });
        let hour = now.rem_euclid(SECONDS_PER_DAY) / SECONDS_PER_HOUR;
        for _ in 0..(2 + hour / 4) {
            pacer.observe_request(now);
            for (idx, spent) in spent.iter_mut().enumerate() {
                if pacer.allows(idx as u32, rng) {
                    *spent += (idx as i64 + 1) * 1_000;
                }
            }
        }
    }
}

fn modes() -> Vec<PacingMode> {
    vec![PacingMode::Even, PacingMode::Unpaced, PacingMode::Even]
}

fn learnt_pacer() -> Pacer {
    let mut pacer = Pacer::new(PacingConfig::default(), modes());
    let (mut spent, mut rng) = (Vec::new(), PacingRng::new(7));
    // A whole day learnt, then most of the next.
    drive(&mut pacer, DAY0, 24 * 60 + 17 * 60, &mut spent, &mut rng);
    pacer
}

#[test]
fn an_imported_pacer_keeps_its_curve_traffic_and_throttles() {
    let original = learnt_pacer();
    assert_eq!(
        original.export().days_learned,
        1,
        "a test of a learnt curve"
    );
    let export = original.export();
    let mut restored = Pacer::new(PacingConfig::default(), modes());
    restored.import(&export, Some);
    assert_eq!(restored.export(), export);
    assert_eq!(restored.curve(), original.curve(), "the curve, exactly");
    assert_ne!(restored.curve(), &TrafficCurve::prior());
    assert_eq!(restored.requests_today(), original.requests_today());
    assert_eq!(restored.day(), original.day());
    for idx in 0..3 {
        assert_eq!(
            restored.throttle(idx),
            original.throttle(idx),
            "campaign {idx}"
        );
    }
    assert!(original.throttle(0) < 1.0, "a test of a paced throttle");
    // The restored pacer resumes: its first update only takes baselines, later ones plan
    // from the learnt traffic as the original does.
    let mut original = original;
    let (mut spent_a, mut spent_b) = (vec![1_500_000; 3], vec![1_500_000; 3]);
    let from = DAY0 + SECONDS_PER_DAY + 17 * SECONDS_PER_HOUR;
    drive(
        &mut original,
        from,
        30,
        &mut spent_a,
        &mut PacingRng::new(9),
    );
    drive(
        &mut restored,
        from,
        30,
        &mut spent_b,
        &mut PacingRng::new(9),
    );
    for idx in [0, 2] {
        let (a, b) = (original.throttle(idx), restored.throttle(idx));
        assert!(b > a / 2.0 && b < a * 2.0, "campaign {idx}: {a} then {b}");
    }
}

#[test]
fn gone_unpaced_and_insane_campaign_states_are_not_taken() {
    let mut export = learnt_pacer().export();
    // Campaign 0 is now 1 (unpaced here), campaign 2 is gone: nothing changes.
    let mut pacer = Pacer::new(PacingConfig::default(), modes());
    pacer.import(&export, |idx| (idx == 0).then_some(1));
    assert_eq!(pacer.throttle(1), 1.0);
    assert_eq!(pacer.throttle(2), PacingConfig::default().throttle_start);
    // Values no pacer holds, as a corrupt checkpoint could carry: made sane.
    export.curve_shares = [f64::NAN; HOURS_PER_DAY];
    export.recent_requests_ewma = -5.0;
    export.recent_share_ewma = f64::INFINITY;
    export.observed_from_s = -1;
    export.interval_s = Some(i64::MAX);
    export.campaigns[0].throttle = f64::NAN;
    export.campaigns[1].throttle = 7.0;
    export.campaigns[1].exposure_ewma = f64::NEG_INFINITY;
    let mut pacer = Pacer::new(PacingConfig::default(), modes());
    pacer.import(&export, Some);
    assert!(pacer
        .curve()
        .shares()
        .iter()
        .all(|share| share.is_finite() && *share >= CURVE_SHARE_MIN * 0.5));
    assert_eq!(pacer.throttle(0), PacingConfig::default().throttle_start);
    assert_eq!(pacer.throttle(2), 1.0);
    let sane = pacer.export();
    assert_eq!(sane.recent_requests_ewma, 0.0);
    assert_eq!(sane.recent_share_ewma, 0.0);
    assert_eq!(sane.interval_s, Some(SECONDS_PER_DAY));
    assert_eq!(sane.campaigns[1].exposure_ewma, 0.0);
    let (mut spent, mut rng) = (Vec::new(), PacingRng::new(1));
    drive(
        &mut pacer,
        DAY0 + SECONDS_PER_DAY + 17 * 3600,
        10,
        &mut spent,
        &mut rng,
    );
    assert!((0..3).all(|idx| pacer.throttle(idx).is_finite()));
}

fn part(day: Option<i64>, days_learned: u32, peak_hour: usize, per_hour: u64) -> PacerExport {
    let mut weights = [1.0; HOURS_PER_DAY];
    weights[peak_hour] = 5.0;
    PacerExport {
        curve_shares: *TrafficCurve::from_weights(&weights).shares(),
        days_learned,
        day,
        day_complete: true,
        observed_from_s: 0,
        hour_counts: [per_hour; HOURS_PER_DAY],
        requests_today: per_hour * HOURS_PER_DAY as u64,
        recent_requests_ewma: per_hour as f64 / 60.0,
        recent_share_ewma: 1.0 / 1_440.0,
        interval_s: Some(1),
        campaigns_day: day,
        campaigns: vec![CampaignPacingExport {
            campaign_idx: 4,
            throttle: 0.2 * per_hour as f64 / 300.0,
            spend_ewma_micros: 1_000.0,
            exposure_ewma: 0.2 * per_hour as f64 / 60.0,
        }],
    }
}

/// Three old shards of one traffic, each seeing a third of it, taken over by two: each new
/// shard sees half of it, so it starts from half of the day's requests so far, the throttles
/// and shapes stay, and the exposure (a volume) is halved.
#[test]
fn three_shards_merged_into_two_share_the_traffic_and_average_the_shapes() {
    let today = Some(20_500);
    let parts = [
        part(today, 1, 20, 300),
        part(today, 3, 20, 300),
        part(today, 0, 3, 300),
    ];
    let merged = PacerExport::merge(&parts, 2).expect("parts");
    assert_eq!(merged.requests_today, 3 * 300 * 24 / 2);
    assert_eq!(merged.hour_counts[5], 450);
    assert!((merged.recent_requests_ewma - 3.0 * 5.0 / 2.0).abs() < 1e-9);
    assert_eq!(merged.recent_share_ewma, 1.0 / 1_440.0);
    // The prior-only shard does not dilute the learnt shape.
    assert_eq!(merged.days_learned, 3);
    let expected = TrafficCurve::from_weights(&parts[0].curve_shares);
    for hour in 0..HOURS_PER_DAY {
        assert!((merged.curve_shares[hour] - expected.shares()[hour]).abs() < 1e-12);
    }
    assert_eq!(merged.campaigns.len(), 1);
    let campaign = merged.campaigns[0];
    assert_eq!(campaign.campaign_idx, 4);
    assert!((campaign.throttle - 0.2).abs() < 1e-12);
    assert_eq!(campaign.spend_ewma_micros, 1_000.0);
    assert!((campaign.exposure_ewma - 3.0 * 1.0 / 2.0).abs() < 1e-9);
    // Two new shards together see what the three old ones saw.
    assert_eq!(
        2 * merged.requests_today,
        parts.iter().map(|p| p.requests_today).sum::<u64>()
    );
    // A shard still on yesterday contributes its shape, not its requests.
    let stale = [part(today, 1, 20, 300), part(Some(20_499), 1, 3, 900)];
    let merged = PacerExport::merge(&stale, 1).expect("parts");
    assert_eq!(merged.day, today);
    assert_eq!(merged.requests_today, 300 * 24);
    assert!(merged.curve_shares[3] > parts[0].curve_shares[3]);
    assert_eq!(PacerExport::merge(&[], 2), None);
}
