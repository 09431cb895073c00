//! The percentile distribution in HdrHistogram's classic `.hgrm` text format, as wrk2 and
//! HdrHistogram's own tools print it (values in milliseconds), so runs can be plotted with
//! the usual tools (HdrHistogram's plotFiles.html) next to wrk2 results. The parser reads the
//! table back; the tests use it to check the file says what the report says.

use std::io::Write;

use anyhow::{bail, Context};
use hdrhistogram::Histogram;

use crate::loadgen::report::REPORT_QUANTILES;

/// Percentile steps per halving of the distance to 100%, as wrk2 prints (HdrHistogram's
/// `outputPercentileDistribution` default).
pub const TICKS_PER_HALF_DISTANCE: u32 = 5;
/// Microseconds per unit of the printed values (milliseconds).
pub const VALUE_SCALE: f64 = 1000.0;

/// Writes `latency_us` (microseconds) as a classic `.hgrm` table in milliseconds.
///
/// The rows are HdrHistogram's percentile ticks plus the report's own percentiles (99%,
/// 99.9%, 99.99% are not ticks), each computed in closed form and read with
/// `value_at_quantile`, so the file and the report agree exactly. (HdrHistogram's iterator
/// accumulates its ticks, so its "0.900000" row can be the 451st of 500 values where
/// `value_at_quantile(0.9)` is the 450th.)
pub fn write_hgrm(latency_us: &Histogram<u64>, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>12} {:>12} {:>12} {:>12}",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    writeln!(out)?;
    if !latency_us.is_empty() {
        let max_us = latency_us.highest_equivalent(latency_us.max());
        for quantile in row_quantiles() {
            let value_us = latency_us.value_at_quantile(quantile);
            if value_us >= max_us {
                break;
            }
            let value_ms = value_us as f64 / VALUE_SCALE;
            let total_count = latency_us.count_between(0, value_us);
            writeln!(
                out,
                "{value_ms:>12.3} {quantile:>12.6} {total_count:>12} {:>12.2}",
                1.0 / (1.0 - quantile)
            )?;
        }
        let max_ms = max_us as f64 / VALUE_SCALE;
        writeln!(
            out,
            "{max_ms:>12.3} {:>12.6} {:>12} {:>12}",
            1.0,
            latency_us.len(),
            "inf"
        )?;
    }
    let sigfig = usize::from(latency_us.sigfig());
    let (mean_ms, stdev_ms, max_ms) = if latency_us.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            latency_us.mean() / VALUE_SCALE,
            latency_us.stdev() / VALUE_SCALE,
            latency_us.highest_equivalent(latency_us.max()) as f64 / VALUE_SCALE,
        )
    };
    writeln!(
        out,
        "#[Mean    = {mean_ms:>12.sigfig$}, StdDeviation   = {stdev_ms:>12.sigfig$}]"
    )?;
    writeln!(
        out,
        "#[Max     = {max_ms:>12.sigfig$}, Total count    = {:>12}]",
        latency_us.len()
    )?;
    writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        latency_us.buckets(),
        sub_bucket_count(latency_us.sigfig())
    )?;
    Ok(())
}

/// The quantiles of the table's rows below 100%, ascending: `TICKS_PER_HALF_DISTANCE` ticks
/// in each halving of the distance to 100% (0, 0.1, ... 0.5, 0.55, ... 0.75, 0.775, ...), and
/// the report's percentiles.
fn row_quantiles() -> Vec<f64> {
    let ticks = f64::from(TICKS_PER_HALF_DISTANCE);
    // Past 52 halvings 1 - 2^-h rounds to 1.0 in an f64.
    let mut quantiles: Vec<f64> = (0..52)
        .flat_map(|halvings: i32| {
            let base = 1.0 - 0.5f64.powi(halvings);
            let step = 0.5f64.powi(halvings + 1) / ticks;
            (0..TICKS_PER_HALF_DISTANCE).map(move |tick| base + f64::from(tick) * step)
        })
        // A tick that is a report quantile up to rounding becomes exactly that quantile.
        .map(|tick| {
            REPORT_QUANTILES
                .into_iter()
                .find(|quantile| (quantile - tick).abs() < 1e-12)
                .unwrap_or(tick)
        })
        .chain(REPORT_QUANTILES)
        .filter(|&quantile| quantile < 1.0)
        .collect();
    quantiles.sort_by(f64::total_cmp);
    quantiles.dedup();
    quantiles
}

/// HdrHistogram's sub-bucket count for `sigfig` digits (2048 for 3), which the crate does not
/// expose but the footer reports.
fn sub_bucket_count(sigfig: u8) -> u64 {
    (2 * 10u64.pow(u32::from(sigfig))).next_power_of_two()
}

/// One line of the table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HgrmRow {
    pub value_ms: f64,
    pub quantile: f64,
    pub total_count: u64,
}

/// A parsed `.hgrm` file.
#[derive(Clone, Debug, PartialEq)]
pub struct Hgrm {
    pub rows: Vec<HgrmRow>,
    pub mean_ms: f64,
    pub stdev_ms: f64,
    pub max_ms: f64,
    pub total_count: u64,
}

impl Hgrm {
    /// The latency at `quantile` as the table gives it: the value of the first row at or past
    /// it (how HdrHistogram's plotting tools read the file).
    pub fn value_at_quantile(&self, quantile: f64) -> Option<f64> {
        self.rows
            .iter()
            .find(|row| row.quantile >= quantile)
            .map(|row| row.value_ms)
    }
}

pub fn parse_hgrm(text: &str) -> anyhow::Result<Hgrm> {
    let mut rows = Vec::new();
    let mut footer = [None::<f64>; 4];
    for (line_idx, line) in text.lines().enumerate() {
        let line = line.trim();
        let context = || format!("line {}: {line:?}", line_idx + 1);
        if line.is_empty() || line.starts_with("Value") {
            continue;
        }
        if let Some(body) = line
            .strip_prefix("#[")
            .and_then(|rest| rest.strip_suffix(']'))
        {
            for field in body.split(',') {
                let (name, value) = field.split_once('=').with_context(context)?;
                let value: f64 = value.trim().parse().with_context(context)?;
                let slot = match name.trim() {
                    "Mean" => 0,
                    "StdDeviation" => 1,
                    "Max" => 2,
                    "Total count" => 3,
                    _ => continue,
                };
                footer[slot] = Some(value);
            }
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != 4 {
            bail!("{}: expected 4 columns", context());
        }
        rows.push(HgrmRow {
            value_ms: fields[0].parse().with_context(context)?,
            quantile: fields[1].parse().with_context(context)?,
            total_count: fields[2].parse().with_context(context)?,
        });
    }
    let [Some(mean_ms), Some(stdev_ms), Some(max_ms), Some(total_count)] = footer else {
        bail!("the #[Mean ...] / #[Max ...] footer is missing");
    };
    Ok(Hgrm {
        rows,
        mean_ms,
        stdev_ms,
        max_ms,
        total_count: total_count as u64,
    })
}
