//! `adshard-pacing-sim`: simulates a time-compressed day of diurnal traffic through the
//! engine's pacer and prints the delivery curve against the target, so that a change to
//! pacing can be judged in a second. The work is in `adshard_tools::pacing_sim`; this file is
//! the command line.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use adshard::campaign::Pacing;
use adshard_tools::pacing_sim::{
    parse_curve, parse_shard_weights, simulate, CurveFamily, SimOptions, CAMPAIGNS_DEFAULT,
    CAMPAIGNS_MAX, REQUESTS_PER_DAY_DEFAULT, REQUESTS_PER_DAY_MAX, SHARDS_MAX, WARMUP_DAYS_MAX,
};
use anyhow::{ensure, Context};
use clap::{Parser, ValueEnum};

/// Simulates one UTC day of diurnal traffic through adshard's pacer; the last line reads
/// `spent P% of budget, max hour R x target, overspend O micros`.
#[derive(Parser)]
#[command(name = "adshard-pacing-sim", version, about)]
struct Cli {
    /// Seed of the simulation: the same seed prints the same day.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of campaigns, each with a daily budget it could spend 3.5 to 5 times over.
    #[arg(long, default_value_t = CAMPAIGNS_DEFAULT)]
    campaigns: usize,
    /// 24 relative hourly traffic weights (UTC), one per line or comma separated: the day's
    /// actual traffic shape (the pacer does not see it, only the requests).
    #[arg(long, conflicts_with = "curve")]
    traffic_curve: Option<PathBuf>,
    /// The day's actual traffic shape by family (defined in `adshard_tools::pacing_sim`):
    /// diurnal (built in), flat, morning-peak, double-peak, late-peak, outage (no traffic
    /// 14:00-16:00), spike (5x at 15h), random (seeded by --curve-seed).
    #[arg(long, value_enum, default_value_t = Curve::Diurnal)]
    curve: Curve,
    /// Seed of the `random` curve family.
    #[arg(long, default_value_t = 1)]
    curve_seed: u64,
    #[arg(long, value_enum, default_value_t = Mode::Even)]
    pacing: Mode,
    /// Requests in the simulated day.
    #[arg(long, default_value_t = REQUESTS_PER_DAY_DEFAULT)]
    requests: u64,
    /// Days simulated before the reported one, so that the pacer learns the traffic shape
    /// (0: the reported day is day one, the pacer knows only its prior).
    #[arg(long, visible_alias = "days", default_value_t = 0)]
    warmup_days: u32,
    /// Shards, each with its own pacer over its part of the traffic (all see the whole spend).
    #[arg(long, default_value_t = 1)]
    shards: usize,
    /// The shards' relative traffic weights, comma separated, one per shard (e.g. `1,3` for an
    /// uneven split of 2 shards); an even split when absent.
    #[arg(long)]
    shard_split: Option<String>,
    /// Writes the per-hour table as CSV.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Writes an SVG of cumulative target and actual spend.
    #[arg(long)]
    svg: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Curve {
    Diurnal,
    Flat,
    MorningPeak,
    DoublePeak,
    LatePeak,
    Outage,
    Spike,
    Random,
}

impl Curve {
    fn family(self) -> CurveFamily {
        match self {
            Curve::Diurnal => CurveFamily::Diurnal,
            Curve::Flat => CurveFamily::Flat,
            Curve::MorningPeak => CurveFamily::MorningPeak,
            Curve::DoublePeak => CurveFamily::DoublePeak,
            Curve::LatePeak => CurveFamily::LatePeak,
            Curve::Outage => CurveFamily::Outage,
            Curve::Spike => CurveFamily::Spike,
            Curve::Random => CurveFamily::Random,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Even,
    Asap,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    ensure!(
        (1..=CAMPAIGNS_MAX).contains(&cli.campaigns),
        "--campaigns must be in 1..={CAMPAIGNS_MAX}"
    );
    ensure!(
        (1..=REQUESTS_PER_DAY_MAX).contains(&cli.requests),
        "--requests must be in 1..={REQUESTS_PER_DAY_MAX}"
    );
    ensure!(
        cli.warmup_days <= WARMUP_DAYS_MAX,
        "--warmup-days must be at most {WARMUP_DAYS_MAX}"
    );
    ensure!(
        (1..=SHARDS_MAX).contains(&cli.shards),
        "--shards must be in 1..={SHARDS_MAX}"
    );
    let shard_weights = match &cli.shard_split {
        Some(text) => {
            let weights = parse_shard_weights(text).context("in --shard-split")?;
            ensure!(
                weights.len() == cli.shards,
                "--shard-split has {} weights for {} shards",
                weights.len(),
                cli.shards
            );
            weights
        }
        None => vec![1.0; cli.shards],
    };
    let pacing = match cli.pacing {
        Mode::Even => Pacing::Even,
        Mode::Asap => Pacing::Asap,
    };
    let mut options = SimOptions::new(cli.seed, pacing);
    options.campaigns = cli.campaigns;
    options.requests_per_day = cli.requests;
    options.warmup_days = cli.warmup_days;
    options.shard_weights = shard_weights;
    options.curve = cli.curve.family().weights(cli.curve_seed);
    if let Some(path) = &cli.traffic_curve {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        options.curve = parse_curve(&text).with_context(|| format!("in {}", path.display()))?;
    }

    let report = simulate(&options);
    if let Some(path) = &cli.csv {
        write_file(path, |out| report.write_csv(out))?;
    }
    if let Some(path) = &cli.svg {
        write_file(path, |out| report.write_svg(out))?;
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    report.write_table(&mut out)?;
    writeln!(out, "{}", report.summary_line())?;
    Ok(())
}

fn write_file(
    path: &PathBuf,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::new(file);
    write(&mut out).with_context(|| format!("writing {}", path.display()))?;
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
