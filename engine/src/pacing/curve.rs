//! The traffic curve: what share of a day's requests each UTC hour brings. Even pacing spends
//! a budget in proportion to traffic, so it needs to know how much of the day is still ahead;
//! this module answers that question from a curve learned from the requests a shard sees.
//!
//! The curve starts from a built-in diurnal prior (low at night, peak in the evening) and
//! every complete day observed is blended in with an exponentially weighted moving average,
//! so a change of audience shows within a few days and one odd day does not dominate.

/// Hours in a UTC day: the curve's resolution. Finer buckets would learn slower and the
/// controller already follows minute-scale changes through the observed request rate.
pub const HOURS_PER_DAY: usize = 24;
pub const SECONDS_PER_HOUR: i64 = 3_600;
pub const SECONDS_PER_DAY: i64 = 86_400;
const _: () = assert!(HOURS_PER_DAY as i64 * SECONDS_PER_HOUR == SECONDS_PER_DAY);

/// Relative traffic per UTC hour before anything is learned: a typical web and in-app day,
/// quiet from 2 to 5, rising through the morning, peaking around 20. Only the shape matters
/// (it is normalized); the controller corrects deviations within the day.
pub const DIURNAL_PRIOR: [f64; HOURS_PER_DAY] = [
    0.55, 0.40, 0.30, 0.25, 0.25, 0.30, 0.45, 0.70, 0.95, 1.10, 1.15, 1.20, //
    1.25, 1.20, 1.15, 1.15, 1.20, 1.30, 1.45, 1.60, 1.70, 1.60, 1.30, 0.85,
];

/// The smallest share an hour keeps, a twentieth of a flat hour's 1/24: an hour with no
/// traffic on the learned days must not get a zero share, or the controller would divide by
/// a zero expectation and starve an hour whose traffic wakes up.
pub const CURVE_SHARE_MIN: f64 = 1.0 / (20.0 * HOURS_PER_DAY as f64);

/// Shares of the day's traffic per hour: finite, each at least about `CURVE_SHARE_MIN`, summing
/// to 1, with prefix sums kept so that "share of the day before second s" is one lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficCurve {
    shares: [f64; HOURS_PER_DAY],
    /// `prefix[h]` is the share of hours `0..h`; `prefix[24]` is 1.
    prefix: [f64; HOURS_PER_DAY + 1],
}

impl TrafficCurve {
    pub fn prior() -> TrafficCurve {
        TrafficCurve::from_weights(&DIURNAL_PRIOR)
    }

    /// A curve from relative hourly weights of any scale. Negative or non-finite weights count
    /// as zero; all-zero weights give a flat curve, since "no traffic at all" has no shape.
    pub fn from_weights(weights: &[f64; HOURS_PER_DAY]) -> TrafficCurve {
        let clean = weights.map(|w| if w.is_finite() && w > 0.0 { w } else { 0.0 });
        let total: f64 = clean.iter().sum();
        let mut shares = if total > 0.0 && total.is_finite() {
            clean.map(|w| w / total)
        } else {
            [1.0 / HOURS_PER_DAY as f64; HOURS_PER_DAY]
        };
        for share in &mut shares {
            *share = share.max(CURVE_SHARE_MIN);
        }
        let floored_total: f64 = shares.iter().sum();
        for share in &mut shares {
            *share /= floored_total;
        }
        let mut prefix = [0.0; HOURS_PER_DAY + 1];
        for hour in 0..HOURS_PER_DAY {
            prefix[hour + 1] = prefix[hour] + shares[hour];
        }
        // Rounding must not leave the end of the day at 0.9999999: the controller treats the
        // remaining share at midnight as exactly zero.
        prefix[HOURS_PER_DAY] = 1.0;
        debug_assert!(shares.iter().all(|s| s.is_finite() && *s > 0.0));
        TrafficCurve { shares, prefix }
    }

    /// The curve whose [`TrafficCurve::shares`] are `shares`, exactly, when they are what a
    /// curve holds (finite, each at least about [`CURVE_SHARE_MIN`], summing to 1); otherwise
    /// the curve of `shares` as weights. For a curve read back from a checkpoint.
    pub fn from_shares(shares: &[f64; HOURS_PER_DAY]) -> TrafficCurve {
        let total: f64 = shares.iter().sum();
        let valid = shares
            .iter()
            .all(|share| share.is_finite() && *share >= CURVE_SHARE_MIN * 0.5)
            && (total - 1.0).abs() < 1e-9;
        if !valid {
            return TrafficCurve::from_weights(shares);
        }
        let mut prefix = [0.0; HOURS_PER_DAY + 1];
        for hour in 0..HOURS_PER_DAY {
            prefix[hour + 1] = prefix[hour] + shares[hour];
        }
        prefix[HOURS_PER_DAY] = 1.0;
        TrafficCurve {
            shares: *shares,
            prefix,
        }
    }

    pub fn shares(&self) -> &[f64; HOURS_PER_DAY] {
        &self.shares
    }

    /// Share of the day's traffic in `[0, second_of_day)`, linear within an hour; seconds
    /// outside the day are clamped to it.
    pub fn cumulative(&self, second_of_day: i64) -> f64 {
        let second = second_of_day.clamp(0, SECONDS_PER_DAY);
        let hour = (second / SECONDS_PER_HOUR) as usize;
        if hour >= HOURS_PER_DAY {
            return 1.0;
        }
        let within = (second % SECONDS_PER_HOUR) as f64 / SECONDS_PER_HOUR as f64;
        self.prefix[hour] + self.shares[hour] * within
    }

    /// Share of the day's traffic in `[from_s, to_s)` (zero when the span is empty).
    pub fn between(&self, from_s: i64, to_s: i64) -> f64 {
        (self.cumulative(to_s) - self.cumulative(from_s)).max(0.0)
    }

    /// Blends one complete day of hourly request counts into the curve with weight `weight`
    /// (0 keeps the curve, 1 replaces it).
    pub fn blend_day(&mut self, counts: &[u64; HOURS_PER_DAY], weight: f64) {
        let total: u64 = counts.iter().fold(0u64, |sum, &c| sum.saturating_add(c));
        if total == 0 || weight.is_nan() || weight <= 0.0 {
            return;
        }
        let weight = weight.min(1.0);
        let mut blended = [0.0; HOURS_PER_DAY];
        for hour in 0..HOURS_PER_DAY {
            let observed = counts[hour] as f64 / total as f64;
            blended[hour] = (1.0 - weight) * self.shares[hour] + weight * observed;
        }
        *self = TrafficCurve::from_weights(&blended);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(actual: f64, expected: f64, what: &str) {
        assert!(
            (actual - expected).abs() < 1e-9,
            "{what}: {actual} != {expected}"
        );
    }

    #[test]
    fn cumulative_share_at_points_of_a_flat_day() {
        let flat = TrafficCurve::from_weights(&[1.0; HOURS_PER_DAY]);
        let cases: &[(i64, f64)] = &[
            (-5, 0.0),
            (0, 0.0),
            (1_800, 0.5 / 24.0),
            (3_600, 1.0 / 24.0),
            (43_200, 0.5),
            (86_399, 86_399.0 / 86_400.0),
            (86_400, 1.0),
            (1_000_000, 1.0),
            (i64::MAX, 1.0),
            (i64::MIN, 0.0),
        ];
        for &(second, expected) in cases {
            assert_close(
                flat.cumulative(second),
                expected,
                &format!("second {second}"),
            );
        }
    }

    #[test]
    fn degenerate_weights_give_a_sane_curve() {
        let cases: &[(&str, [f64; HOURS_PER_DAY])] = &[
            ("all zero", [0.0; HOURS_PER_DAY]),
            ("negative", [-1.0; HOURS_PER_DAY]),
            ("nan", [f64::NAN; HOURS_PER_DAY]),
            ("infinite", [f64::INFINITY; HOURS_PER_DAY]),
            ("huge", [f64::MAX; HOURS_PER_DAY]),
            ("one hour only", {
                let mut w = [0.0; HOURS_PER_DAY];
                w[20] = 5.0;
                w
            }),
        ];
        for (name, weights) in cases {
            let curve = TrafficCurve::from_weights(weights);
            let total: f64 = curve.shares().iter().sum();
            assert_close(total, 1.0, name);
            assert!(
                curve.shares().iter().all(|s| *s >= CURVE_SHARE_MIN * 0.5),
                "{name}: an hour below the floor"
            );
            assert_close(curve.cumulative(SECONDS_PER_DAY), 1.0, name);
        }
    }

    #[test]
    fn blending_a_day_moves_the_curve_towards_it() {
        let mut curve = TrafficCurve::from_weights(&[1.0; HOURS_PER_DAY]);
        let mut counts = [100u64; HOURS_PER_DAY];
        counts[20] = 2_400;
        curve.blend_day(&counts, 0.5);
        let flat = 1.0 / 24.0;
        assert!(curve.shares()[20] > flat * 2.0, "{}", curve.shares()[20]);
        assert!(curve.shares()[3] < flat);
        // An empty day and a zero weight change nothing.
        let before = curve.clone();
        curve.blend_day(&[0; HOURS_PER_DAY], 0.5);
        curve.blend_day(&counts, 0.0);
        curve.blend_day(&counts, f64::NAN);
        assert_eq!(curve, before);
    }
}
