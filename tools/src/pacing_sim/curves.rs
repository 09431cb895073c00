//! The day's actual traffic shapes the simulator draws requests from (never shown to the
//! pacer, which learns only from the requests it sees).
//!
//! Curve families (`CurveFamily`), the shapes a day's traffic takes in practice, each a
//! fixed set of 24 hourly weights (UTC), so that a result can be replayed by name:
//! - `diurnal`: `BUILTIN_CURVE`, quiet night, busy afternoon, evening peak at 20h (default).
//! - `flat`: every hour the same weight.
//! - `morning-peak`: a low base (0.3) and one broad peak centred on 09:30 (height 3,
//!   Gaussian with a 2 h spread).
//! - `double-peak`: a low base (0.3), a morning peak on 08:30 and an evening peak on 20:30
//!   (height 2.5 each, 1.5 h spread).
//! - `late-peak`: a low base (0.3) and one sharp evening peak on 21:30 (height 4, 1 h spread).
//! - `outage`: the diurnal curve with no traffic at all from 14:00 to 16:00.
//! - `spike`: the diurnal curve with the 15h hour at 5 times its weight.
//! - `random`: seeded (`--curve-seed`) smooth random: 24 weights uniform in 0.2..2.0, then
//!   smoothed twice around the clock with the (1, 2, 1) / 4 kernel, so that neighbouring
//!   hours differ as real traffic does rather than as white noise.

use adshard::pacing::HOURS_PER_DAY;
use anyhow::{bail, ensure, Context};

use crate::rng::Rng;

/// The simulated traffic's built-in shape (relative weights per UTC hour): quiet at night,
/// a rise through the morning, a lunchtime plateau and an evening peak at 20. Deliberately
/// not the pacer's own prior (flatter, a busier night), so the simulation shows the pacer
/// following traffic it did not expect exactly.
pub const BUILTIN_CURVE: [f64; HOURS_PER_DAY] = [
    0.90, 0.60, 0.45, 0.35, 0.35, 0.45, 0.70, 1.00, 1.20, 1.30, 1.35, 1.40, //
    1.50, 1.45, 1.40, 1.40, 1.45, 1.55, 1.70, 1.85, 1.95, 1.90, 1.60, 1.25,
];

/// A named traffic shape for the simulated day; see the module doc for each definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurveFamily {
    Diurnal,
    Flat,
    MorningPeak,
    DoublePeak,
    LatePeak,
    Outage,
    Spike,
    Random,
}

impl CurveFamily {
    /// Every family, in the order the documentation lists them.
    pub const ALL: [CurveFamily; 8] = [
        CurveFamily::Diurnal,
        CurveFamily::Flat,
        CurveFamily::MorningPeak,
        CurveFamily::DoublePeak,
        CurveFamily::LatePeak,
        CurveFamily::Outage,
        CurveFamily::Spike,
        CurveFamily::Random,
    ];

    /// The family's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            CurveFamily::Diurnal => "diurnal",
            CurveFamily::Flat => "flat",
            CurveFamily::MorningPeak => "morning-peak",
            CurveFamily::DoublePeak => "double-peak",
            CurveFamily::LatePeak => "late-peak",
            CurveFamily::Outage => "outage",
            CurveFamily::Spike => "spike",
            CurveFamily::Random => "random",
        }
    }

    /// The family's 24 hourly weights; `curve_seed` matters only for `Random`.
    pub fn weights(self, curve_seed: u64) -> [f64; HOURS_PER_DAY] {
        const BASE: f64 = 0.3;
        match self {
            CurveFamily::Diurnal => BUILTIN_CURVE,
            CurveFamily::Flat => [1.0; HOURS_PER_DAY],
            CurveFamily::MorningPeak => peaks(BASE, &[(9.5, 3.0, 2.0)]),
            CurveFamily::DoublePeak => peaks(BASE, &[(8.5, 2.5, 1.5), (20.5, 2.5, 1.5)]),
            CurveFamily::LatePeak => peaks(BASE, &[(21.5, 4.0, 1.0)]),
            CurveFamily::Outage => {
                let mut weights = BUILTIN_CURVE;
                weights[OUTAGE_HOURS].fill(0.0);
                weights
            }
            CurveFamily::Spike => {
                let mut weights = BUILTIN_CURVE;
                weights[SPIKE_HOUR] *= SPIKE_FACTOR;
                weights
            }
            CurveFamily::Random => random_curve(curve_seed),
        }
    }
}

/// The hours without traffic in the `outage` family: 14:00 to 16:00.
pub const OUTAGE_HOURS: std::ops::Range<usize> = 14..16;
/// The hour of the `spike` family, and its weight's multiple.
pub const SPIKE_HOUR: usize = 15;
pub const SPIKE_FACTOR: f64 = 5.0;
/// The range of the `random` family's raw hourly weights, before smoothing.
pub const RANDOM_WEIGHT_MIN: f64 = 0.2;
pub const RANDOM_WEIGHT_MAX: f64 = 2.0;

/// `base` plus Gaussian bumps `(centre hour, height, spread in hours)`, evaluated at each
/// hour's middle, with distances taken around the clock (23:30 is an hour from 00:30).
fn peaks(base: f64, bumps: &[(f64, f64, f64)]) -> [f64; HOURS_PER_DAY] {
    let day = HOURS_PER_DAY as f64;
    std::array::from_fn(|hour| {
        let middle = hour as f64 + 0.5;
        base + bumps
            .iter()
            .map(|&(centre, height, spread)| {
                let raw = (middle - centre).abs();
                let distance = raw.min(day - raw);
                height * (-0.5 * (distance / spread).powi(2)).exp()
            })
            .sum::<f64>()
    })
}

/// The `random` family: uniform weights smoothed twice with (1, 2, 1) / 4 around the clock.
fn random_curve(curve_seed: u64) -> [f64; HOURS_PER_DAY] {
    let mut rng = Rng::new(curve_seed);
    let mut weights: [f64; HOURS_PER_DAY] = std::array::from_fn(|_| {
        RANDOM_WEIGHT_MIN + (RANDOM_WEIGHT_MAX - RANDOM_WEIGHT_MIN) * rng.unit()
    });
    for _ in 0..2 {
        let before = weights;
        for (hour, weight) in weights.iter_mut().enumerate() {
            let previous = before[(hour + HOURS_PER_DAY - 1) % HOURS_PER_DAY];
            let next = before[(hour + 1) % HOURS_PER_DAY];
            *weight = (previous + 2.0 * before[hour] + next) / 4.0;
        }
    }
    weights
}

/// Each hour's share of the day's traffic: its weight over the sum, as is (no floor, unlike
/// the pacer's own curves); an even day for weights that are all zero or not finite.
pub fn traffic_shares(weights: &[f64; HOURS_PER_DAY]) -> [f64; HOURS_PER_DAY] {
    let clean = weights.map(|w| if w.is_finite() && w > 0.0 { w } else { 0.0 });
    let total: f64 = clean.iter().sum();
    if total > 0.0 && total.is_finite() {
        clean.map(|w| w / total)
    } else {
        [1.0 / HOURS_PER_DAY as f64; HOURS_PER_DAY]
    }
}

/// Reads 24 hourly weights: numbers separated by commas, spaces or newlines; `#` starts a
/// comment. Weights are relative (any scale), non-negative, and not all zero.
pub fn parse_curve(text: &str) -> anyhow::Result<[f64; HOURS_PER_DAY]> {
    let mut weights = Vec::with_capacity(HOURS_PER_DAY);
    for (line_idx, line) in text.lines().enumerate() {
        let content = line.split('#').next().unwrap_or("");
        for token in content
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
        {
            let weight: f64 = token
                .parse()
                .with_context(|| format!("line {}: {token:?} is not a number", line_idx + 1))?;
            ensure!(
                weight.is_finite() && weight >= 0.0,
                "line {}: weight {token} must be a finite number >= 0",
                line_idx + 1
            );
            if weights.len() == HOURS_PER_DAY {
                bail!("more than {HOURS_PER_DAY} hourly weights");
            }
            weights.push(weight);
        }
    }
    let Ok(weights) = <[f64; HOURS_PER_DAY]>::try_from(weights.as_slice()) else {
        bail!("{} hourly weights, expected {HOURS_PER_DAY}", weights.len());
    };
    ensure!(
        weights.iter().sum::<f64>() > 0.0,
        "all hourly weights are zero"
    );
    Ok(weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_files_parse_or_say_why_not() {
        let ok_cases = [
            (
                (1..=24)
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
                1.0,
            ),
            (vec!["2"; 24].join(","), 2.0),
            (
                format!("# hourly weights\n{}\n", vec!["0.5, "; 24].concat()),
                0.5,
            ),
        ];
        for (text, first) in ok_cases {
            let weights = parse_curve(&text).expect("valid curve");
            assert_eq!(weights[0], first, "{text}");
        }
        let bad_cases = [
            ("", "0 hourly weights"),
            ("1,2,3", "3 hourly weights"),
            (&*vec!["1"; 25].join(","), "more than 24"),
            (&*vec!["0"; 24].join(","), "all hourly weights are zero"),
            ("x", "not a number"),
            (&*format!("-1{}", ",1".repeat(23)), ">= 0"),
            (&*format!("NaN{}", ",1".repeat(23)), ">= 0"),
        ];
        for (text, expected) in bad_cases {
            let error = parse_curve(text).expect_err(text).to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn curve_families_have_their_documented_shapes() {
        let peak_hour = |weights: &[f64; HOURS_PER_DAY]| {
            (0..HOURS_PER_DAY)
                .max_by(|a, b| weights[*a].total_cmp(&weights[*b]))
                .expect("24 hours")
        };
        for family in CurveFamily::ALL {
            let weights = family.weights(3);
            assert!(
                weights.iter().all(|w| w.is_finite() && *w >= 0.0),
                "{}",
                family.name()
            );
            assert!(weights.iter().sum::<f64>() > 0.0, "{}", family.name());
        }
        assert!(CurveFamily::Flat.weights(0).iter().all(|w| *w == 1.0));
        assert_eq!(peak_hour(&CurveFamily::MorningPeak.weights(0)), 9);
        assert_eq!(peak_hour(&CurveFamily::LatePeak.weights(0)), 21);
        let double = CurveFamily::DoublePeak.weights(0);
        assert!(double[8] > 2.0 * double[14] && double[20] > 2.0 * double[14]);
        assert!((double[8] - double[20]).abs() < 1e-12);
        let outage = traffic_shares(&CurveFamily::Outage.weights(0));
        assert_eq!(&outage[OUTAGE_HOURS], &[0.0, 0.0]);
        let spike = CurveFamily::Spike.weights(0);
        assert_eq!(spike[SPIKE_HOUR], BUILTIN_CURVE[SPIKE_HOUR] * SPIKE_FACTOR);
        assert_eq!(peak_hour(&spike), SPIKE_HOUR);
        // Random: reproducible per seed, different across seeds, within the raw range, and
        // smooth (neighbouring hours closer than independent draws would be).
        let random = CurveFamily::Random.weights(5);
        assert_eq!(random, CurveFamily::Random.weights(5));
        assert_ne!(random, CurveFamily::Random.weights(6));
        assert!(random
            .iter()
            .all(|w| (RANDOM_WEIGHT_MIN..=RANDOM_WEIGHT_MAX).contains(w)));
        let step_max = (0..HOURS_PER_DAY)
            .map(|h| (random[h] - random[(h + 1) % HOURS_PER_DAY]).abs())
            .fold(0.0, f64::max);
        assert!(
            step_max < (RANDOM_WEIGHT_MAX - RANDOM_WEIGHT_MIN) / 2.0,
            "{step_max}"
        );
    }

    #[test]
    fn traffic_shares_keep_zero_hours_at_zero() {
        let mut weights = [1.0; HOURS_PER_DAY];
        weights[0] = 0.0;
        weights[1] = f64::NAN;
        let shares = traffic_shares(&weights);
        assert_eq!((shares[0], shares[1]), (0.0, 0.0));
        assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let even = traffic_shares(&[0.0; HOURS_PER_DAY]);
        assert!(even.iter().all(|s| *s == 1.0 / HOURS_PER_DAY as f64));
    }
}
