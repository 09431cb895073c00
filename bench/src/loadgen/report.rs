//! The figures of a run, in the forms people and scripts read: a text block, a one-line
//! summary (the last line of stdout), a JSON document, and the comparison of two targets.
//! Every failure mode is a number here: errors by kind, timeouts, non-2xx/3xx statuses and
//! requests not sent on time, so a run that looks fast because it dropped work cannot pass
//! unnoticed.

use std::collections::BTreeMap;
use std::io::Write;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::loadgen::run::TargetResult;
use crate::loadgen::stats::{ErrorCounts, TargetStats};

/// The quantiles every report gives (besides max and mean); the `.hgrm` table has a row at
/// each so the two agree exactly.
pub const REPORT_QUANTILES: [f64; 5] = [0.5, 0.9, 0.99, 0.999, 0.9999];

/// Latency percentiles in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub p99_99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    /// The percentiles of a histogram of microseconds; all zero when it is empty.
    pub fn new(histogram_us: &Histogram<u64>) -> Percentiles {
        if histogram_us.is_empty() {
            return Percentiles {
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                p99_9: 0.0,
                p99_99: 0.0,
                max: 0.0,
                mean: 0.0,
            };
        }
        let ms = |us: u64| us as f64 / 1000.0;
        let at = |quantile: f64| ms(histogram_us.value_at_quantile(quantile));
        Percentiles {
            p50: at(REPORT_QUANTILES[0]),
            p90: at(REPORT_QUANTILES[1]),
            p99: at(REPORT_QUANTILES[2]),
            p99_9: at(REPORT_QUANTILES[3]),
            p99_99: at(REPORT_QUANTILES[4]),
            max: ms(histogram_us.highest_equivalent(histogram_us.max())),
            mean: histogram_us.mean() / 1000.0,
        }
    }
}

/// What a run measured for one target.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub url: String,
    pub target_rate_per_s: f64,
    /// The target's active time (its share of the run with `--compare`).
    pub duration_s: f64,
    /// Requests the schedule called for.
    pub scheduled: u64,
    pub sent: u64,
    /// Sent requests per second of active time.
    pub sent_rate_per_s: f64,
    pub responses: u64,
    /// Responses per second, over the active time plus the time the last responses took to
    /// arrive after it ended.
    pub achieved_rate_per_s: f64,
    /// How long after the end of the schedule the last response arrived.
    pub drain_ms: f64,
    pub latency_ms: Percentiles,
    /// From the actual send instead of the intended time (what closed-loop tools report).
    pub service_ms: Percentiles,
    pub status_counts: BTreeMap<String, u64>,
    /// Responses whose status is neither 2xx nor 3xx.
    pub non_success: u64,
    pub errors: ErrorCounts,
    pub not_sent_on_time: u64,
    #[serde(skip)]
    pub stats: TargetStats,
}

impl Report {
    pub fn new(result: &TargetResult) -> Report {
        let stats = &result.stats;
        let active_s = result.schedule.active_ns() as f64 / 1e9;
        let end_ns = result.schedule.wall_end_ns();
        let drain_ns = stats.last_response_offset_ns.saturating_sub(end_ns);
        let mut status_counts = BTreeMap::new();
        for (code, &count) in stats.status_counts.iter().enumerate() {
            if count > 0 {
                let name = if code == 0 {
                    "other".to_string()
                } else {
                    code.to_string()
                };
                status_counts.insert(name, count);
            }
        }
        Report {
            url: result.target.url.clone(),
            target_rate_per_s: result.schedule.rate_per_s(),
            duration_s: active_s,
            scheduled: result.schedule.n_requests(),
            sent: stats.sent,
            sent_rate_per_s: stats.sent as f64 / active_s,
            responses: stats.responses,
            achieved_rate_per_s: stats.responses as f64 / (active_s + drain_ns as f64 / 1e9),
            drain_ms: drain_ns as f64 / 1e6,
            latency_ms: Percentiles::new(&stats.latency_us),
            service_ms: Percentiles::new(&stats.service_us),
            status_counts,
            non_success: stats.non_success(),
            errors: stats.errors,
            not_sent_on_time: stats.not_sent_on_time,
            stats: stats.clone(),
        }
    }

    /// Errors of every kind (timeouts included).
    pub fn errors_total(&self) -> u64 {
        self.errors.total()
    }

    /// Anything that went wrong: errors, non-2xx/3xx responses, requests not sent on time.
    pub fn failures(&self) -> u64 {
        self.errors_total() + self.non_success + self.not_sent_on_time
    }

    /// `rate R req/s, p50 X ms, p99 Y ms, p99.9 Z ms, max M ms, errors E, non-2xx/3xx N,
    /// not sent on time S`.
    pub fn summary_line(&self) -> String {
        format!(
            "rate {:.1} req/s, p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms, errors {}, non-2xx/3xx {}, not sent on time {}",
            self.achieved_rate_per_s,
            self.latency_ms.p50,
            self.latency_ms.p99,
            self.latency_ms.p99_9,
            self.latency_ms.max,
            self.errors_total(),
            self.non_success,
            self.not_sent_on_time
        )
    }

    pub fn write_text(&self, out: &mut impl Write) -> std::io::Result<()> {
        let latency = &self.latency_ms;
        writeln!(out, "target {}", self.url)?;
        writeln!(
            out,
            "  schedule   {:.1} req/s for {:.2} s: {} requests, {} sent ({:.1} req/s), {} not sent on time",
            self.target_rate_per_s, self.duration_s, self.scheduled, self.sent, self.sent_rate_per_s, self.not_sent_on_time
        )?;
        writeln!(
            out,
            "  responses  {} ({:.1} req/s, last one {:.1} ms after the schedule ended)",
            self.responses, self.achieved_rate_per_s, self.drain_ms
        )?;
        writeln!(
            out,
            "  latency ms p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  p99.99 {:.3}  max {:.3}  mean {:.3}",
            latency.p50, latency.p90, latency.p99, latency.p99_9, latency.p99_99, latency.max, latency.mean
        )?;
        let service = &self.service_ms;
        writeln!(
            out,
            "  service ms p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  (from the actual send, as closed-loop tools measure)",
            service.p50, service.p90, service.p99, service.p99_9, service.max
        )?;
        let statuses: Vec<String> = self
            .status_counts
            .iter()
            .map(|(code, count)| format!("{code}: {count}"))
            .collect();
        writeln!(
            out,
            "  statuses   {} (non-2xx/3xx {})",
            statuses.join(", "),
            self.non_success
        )?;
        writeln!(
            out,
            "  errors     connect {}, io/reset {}, parse {}, timeout {}",
            self.errors.connect, self.errors.io, self.errors.parse, self.errors.timeout
        )?;
        Ok(())
    }
}

/// Which target of a comparison did better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Faster {
    A,
    B,
    Tie,
}

/// B/A ratios of two targets measured in the same run.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub a: Report,
    pub b: Report,
    pub rate_ratio: f64,
    pub p50_ratio: f64,
    pub p99_ratio: f64,
    pub p99_9_ratio: f64,
    pub faster: Faster,
}

/// Medians closer than this (relative) are a tie on p50, and p99 decides.
const P50_TIE_RELATIVE: f64 = 0.02;

impl Comparison {
    /// A target with failures loses to one without; otherwise the lower p50 wins, and p99
    /// breaks a near tie.
    pub fn new(a: Report, b: Report) -> Comparison {
        let ratio = |b: f64, a: f64| if a > 0.0 { b / a } else { f64::NAN };
        let faster = match (a.failures() > 0, b.failures() > 0) {
            (false, true) => Faster::A,
            (true, false) => Faster::B,
            _ => {
                let (a50, b50) = (a.latency_ms.p50, b.latency_ms.p50);
                if (a50 - b50).abs() > P50_TIE_RELATIVE * a50.max(b50) {
                    if a50 < b50 {
                        Faster::A
                    } else {
                        Faster::B
                    }
                } else if a.latency_ms.p99 < b.latency_ms.p99 {
                    Faster::A
                } else if b.latency_ms.p99 < a.latency_ms.p99 {
                    Faster::B
                } else {
                    Faster::Tie
                }
            }
        };
        Comparison {
            rate_ratio: ratio(b.achieved_rate_per_s, a.achieved_rate_per_s),
            p50_ratio: ratio(b.latency_ms.p50, a.latency_ms.p50),
            p99_ratio: ratio(b.latency_ms.p99, a.latency_ms.p99),
            p99_9_ratio: ratio(b.latency_ms.p99_9, a.latency_ms.p99_9),
            faster,
            a,
            b,
        }
    }

    /// `compare B/A: rate 1.00, p50 2.31, p99 1.80, p99.9 1.20; faster A (URL)`.
    pub fn summary_line(&self) -> String {
        let faster = match self.faster {
            Faster::A => format!("A ({})", self.a.url),
            Faster::B => format!("B ({})", self.b.url),
            Faster::Tie => "tie".to_string(),
        };
        format!(
            "compare B/A: rate {:.3}, p50 {:.3}, p99 {:.3}, p99.9 {:.3}; faster {faster}",
            self.rate_ratio, self.p50_ratio, self.p99_ratio, self.p99_9_ratio
        )
    }
}

/// One step of a `--sweep`.
#[derive(Clone, Debug, Serialize)]
pub struct SweepStep {
    pub rate_per_s: f64,
    pub sustainable: bool,
    pub report: Report,
}

/// The steps of a `--sweep` and the highest rate that held.
#[derive(Clone, Debug, Serialize)]
pub struct Sweep {
    pub p99_max_ms: f64,
    pub steps: Vec<SweepStep>,
    /// Index into `steps` of the highest sustainable rate, if any step held.
    pub best_step_idx: Option<usize>,
}

impl Sweep {
    pub fn best(&self) -> Option<&SweepStep> {
        self.best_step_idx.map(|idx| &self.steps[idx])
    }
}
