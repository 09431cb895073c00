//! The pacing simulator behind `adshard-pacing-sim`: a time-compressed UTC day of diurnal
//! traffic, run through the engine's real `adshard::pacing::Pacer` with a simulated clock,
//! so that the delivery curve of even and asap pacing can be seen and tested in a fraction of
//! a second instead of measured over a day of production traffic.
//!
//! The model, kept simple on purpose so that what the output shows is the pacer:
//! - 1440 simulated minutes; minute m of hour h brings Poisson(total x share(h) / 60)
//!   requests, all stamped with the minute's start.
//! - Every request is an opportunity for every campaign (no targeting: a subset would only
//!   scale each campaign's traffic down, which the budget sizing already covers).
//! - A campaign bids when its remaining daily budget covers one impression and the pacer
//!   allows it; a bid wins with `WIN_RATE` and is charged its bid (CPM / 1000) at once. Budget
//!   enforcement is the simulator's own (it stands in for the engine's budget ledger): a
//!   campaign never bids beyond its budget, so the simulated overspend is 0 by construction
//!   and the printed figure checks that.
//! - `Pacer::update` runs at the start of every simulated minute, over the minute before.
//! - Shards (`SimOptions::shard_weights`): each shard has its own `Pacer`, and each request
//!   goes to one shard, drawn with the shard's weight (an uneven split is the weights
//!   differing). Every shard's pacer sees the campaign's whole spend and whole budget, as the
//!   engine's shards do through the shared budget ledger; the simulated ledger has no delay
//!   (the engine's spend deltas between shards arrive within milliseconds).
//! - Budgets are sized so that at full throttle each campaign could spend its daily budget
//!   `HEADROOM_MIN`..`HEADROOM_MAX` times over.
//! - The day's actual traffic shape (`SimOptions::curve`) is the simulator's, not the pacer's:
//!   the pacer starts from its own prior and learns only from the requests it observes. Each
//!   hour's share is its weight over the sum of weights, taken as is (an hour of weight 0
//!   brings no request at all).
//!
//! The traffic shapes, named families among them, are `curves`'.

use std::io::{self, Write};

use adshard::campaign::Pacing;
use adshard::pacing::{
    DailySpend, Pacer, PacingConfig, PacingMode, PacingRng, HOURS_PER_DAY, SECONDS_PER_DAY,
};
use anyhow::{ensure, Context};

use crate::rng::Rng;

mod curves;

pub use curves::{
    parse_curve, traffic_shares, CurveFamily, BUILTIN_CURVE, OUTAGE_HOURS, RANDOM_WEIGHT_MAX,
    RANDOM_WEIGHT_MIN, SPIKE_FACTOR, SPIKE_HOUR,
};

pub const MINUTES_PER_DAY: usize = 1_440;
const MINUTES_PER_HOUR: usize = 60;
const _: () = assert!(MINUTES_PER_DAY == HOURS_PER_DAY * MINUTES_PER_HOUR);

/// The first simulated day starts at 2024-10-05T00:00:00Z; any UTC midnight would do, a
/// realistic one keeps the pacer's arithmetic on realistic numbers.
pub const SIM_DAY_START_UNIX_S: i64 = 20_001 * SECONDS_PER_DAY;

pub const CAMPAIGNS_DEFAULT: usize = 10;
/// Enough campaigns for any delivery picture; more only slows the simulated day (every
/// request is an opportunity for every campaign).
pub const CAMPAIGNS_MAX: usize = 1_000;

/// Requests in the simulated day: about 70 a minute at night and 130 at the peak, enough for
/// each campaign to win a few thousand impressions a day, so that hourly spend is not
/// dominated by the lumpiness of single impressions, and quick in a debug build.
pub const REQUESTS_PER_DAY_DEFAULT: u64 = 100_000;
/// A bound on the day's traffic, so that a typo cannot make the simulator run for hours.
pub const REQUESTS_PER_DAY_MAX: u64 = 100_000_000;

/// Days simulated before the reported one, at most: a pacer learns a new traffic shape in
/// one complete day and is fully on it within a week.
pub const WARMUP_DAYS_MAX: u32 = 30;

/// Simulated shards, at most: more than a large host's cores.
pub const SHARDS_MAX: usize = 64;

/// The chance that a bid wins; a typical share for a bidder in open auctions.
pub const WIN_RATE: f64 = 0.3;

/// Each campaign's full-throttle spend over its daily budget, drawn in this range: the
/// situation pacing exists for (budget well below what the traffic could buy), and wide
/// enough that the campaigns do not all need the same throttle.
pub const HEADROOM_MIN: f64 = 3.5;
pub const HEADROOM_MAX: f64 = 5.0;

/// Bids between 0.5 and 5 currency units CPM, in micros: the usual range of display bids.
pub const BID_CPM_MICROS_MIN: u64 = 500_000;
pub const BID_CPM_MICROS_MAX: u64 = 5_000_000;

/// Hours with a smaller share of the day's traffic are left out of the "max hour" ratio:
/// a few impressions more or less in a nearly empty hour would dominate the ratio without
/// meaning anything for delivery (every hour of the built-in curve is above it).
pub const HOUR_SHARE_FOR_RATIO_MIN: f64 = 0.01;

/// Below this mean, per-minute Poisson counts are drawn exactly (Knuth); above, the normal
/// approximation is within a percent and does not loop once per request.
const POISSON_EXACT_MEAN_MAX: f64 = 30.0;

#[derive(Debug, Clone)]
pub struct SimOptions {
    pub seed: u64,
    pub campaigns: usize,
    /// Relative traffic weights per UTC hour.
    pub curve: [f64; HOURS_PER_DAY],
    pub pacing: Pacing,
    pub requests_per_day: u64,
    /// Days simulated (same traffic shape, fresh budgets each day) before the reported one.
    pub warmup_days: u32,
    /// One relative traffic weight per shard (1..=`SHARDS_MAX` of them); `[1.0]` is one shard.
    pub shard_weights: Vec<f64>,
}

impl SimOptions {
    pub fn new(seed: u64, pacing: Pacing) -> SimOptions {
        SimOptions {
            seed,
            campaigns: CAMPAIGNS_DEFAULT,
            curve: BUILTIN_CURVE,
            pacing,
            requests_per_day: REQUESTS_PER_DAY_DEFAULT,
            warmup_days: 0,
            shard_weights: vec![1.0],
        }
    }
}

/// One hour of the reported day.
#[derive(Debug, Clone, PartialEq)]
pub struct HourRow {
    pub hour: usize,
    pub requests: u64,
    /// Share of the day's requests in this hour.
    pub traffic_share: f64,
    /// The day's total budget times the hour's traffic share: what even pacing aims at.
    pub target_spend_micros: i64,
    pub actual_spend_micros: i64,
    /// Share of the day's spend (all campaigns) in this hour.
    pub spend_share: f64,
}

impl HourRow {
    /// Spend share over traffic share, the figure behind the "max hour" ratio; `None` for an
    /// hour under `HOUR_SHARE_FOR_RATIO_MIN` of the day's traffic (not rated).
    pub fn share_ratio(&self) -> Option<f64> {
        (self.traffic_share >= HOUR_SHARE_FOR_RATIO_MIN)
            .then(|| self.spend_share / self.traffic_share)
    }

    /// Actual over target spend; `None` for an hour without target.
    pub fn ratio(&self) -> Option<f64> {
        (self.target_spend_micros > 0)
            .then(|| self.actual_spend_micros as f64 / self.target_spend_micros as f64)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CampaignRow {
    pub bid_cpm_micros: i64,
    pub budget_micros: i64,
    pub spent_micros: i64,
    /// First minute at whose end the remaining budget no longer covered one impression.
    pub exhausted_minute: Option<usize>,
    pub hour_spend_micros: [i64; HOURS_PER_DAY],
    /// The pacer's throttle at the end of the day (1.0 for asap).
    pub throttle_at_end: f64,
}

/// The reported (last simulated) day.
#[derive(Debug, Clone, PartialEq)]
pub struct SimReport {
    pub seed: u64,
    pub pacing: Pacing,
    pub hours: Vec<HourRow>,
    pub campaigns: Vec<CampaignRow>,
    /// Per minute: requests, and spend of all campaigns.
    pub minute_requests: Vec<u64>,
    pub minute_spend_micros: Vec<i64>,
    pub budget_micros: i64,
    pub spent_micros: i64,
    /// Total spend above the campaigns' budgets (0 unless the simulator is broken).
    pub overspend_micros: i64,
    /// One row per shard.
    pub shards: Vec<ShardRow>,
}

/// One shard of the reported day.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardRow {
    /// Share of the day's requests the shard saw.
    pub traffic_share: f64,
    /// Share of the day's spend the shard made.
    pub spend_share: f64,
}

impl SimReport {
    /// Share of the total budget spent.
    pub fn spent_share(&self) -> f64 {
        if self.budget_micros > 0 {
            self.spent_micros as f64 / self.budget_micros as f64
        } else {
            0.0
        }
    }

    /// Max over hours (traffic share >= `HOUR_SHARE_FOR_RATIO_MIN`) of the hour's share of
    /// the day's spend over its share of the day's traffic, for all campaigns together.
    pub fn max_hour_ratio(&self) -> f64 {
        let hour_spend: Vec<i64> = self.hours.iter().map(|h| h.actual_spend_micros).collect();
        self.hour_ratio_max_of(&hour_spend)
    }

    /// The same ratio for each campaign alone (its hours' shares of its own spend).
    pub fn campaign_max_hour_ratios(&self) -> Vec<f64> {
        self.campaigns
            .iter()
            .map(|c| self.hour_ratio_max_of(&c.hour_spend_micros))
            .collect()
    }

    fn hour_ratio_max_of(&self, hour_spend_micros: &[i64]) -> f64 {
        let total: i64 = hour_spend_micros.iter().sum();
        if total <= 0 {
            return 0.0;
        }
        self.hours
            .iter()
            .zip(hour_spend_micros)
            .filter(|(hour, _)| hour.traffic_share >= HOUR_SHARE_FOR_RATIO_MIN)
            .map(|(hour, spend)| (*spend as f64 / total as f64) / hour.traffic_share)
            .fold(0.0, f64::max)
    }

    /// The last line of the simulator's output.
    pub fn summary_line(&self) -> String {
        format!(
            "spent {:.1}% of budget, max hour {:.2} x target, overspend {} micros",
            self.spent_share() * 100.0,
            self.max_hour_ratio(),
            self.overspend_micros
        )
    }

    /// The per-hour table and a line per campaign, for people.
    pub fn write_table(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            "seed {}, pacing {:?}, {} campaigns, {} requests, budget {} micros",
            self.seed,
            self.pacing,
            self.campaigns.len(),
            self.minute_requests.iter().sum::<u64>(),
            self.budget_micros
        )?;
        if self.shards.len() > 1 {
            for (idx, shard) in self.shards.iter().enumerate() {
                writeln!(
                    out,
                    "shard {idx:>2}: traffic {:>6.2}%, spend {:>6.2}%",
                    shard.traffic_share * 100.0,
                    shard.spend_share * 100.0
                )?;
            }
        }
        // `spend/traffic` is the hour's share of the day's spend over its share of the day's
        // traffic (the summary's "max hour" is its maximum); `actual/target` compares spend
        // with the budget times the traffic share, so it also shows an unspent budget.
        writeln!(
            out,
            "{:>4} {:>8} {:>8} {:>14} {:>14} {:>14} {:>14}",
            "hour", "traffic", "spend", "spend/traffic", "target", "actual", "actual/target"
        )?;
        for hour in &self.hours {
            let ratio = hour.ratio().map_or("-".to_string(), |r| format!("{r:.2}"));
            let share_ratio = hour
                .share_ratio()
                .map_or("-".to_string(), |r| format!("{r:.2}"));
            writeln!(
                out,
                "{:>4} {:>7.2}% {:>7.2}% {:>14} {:>14} {:>14} {:>14}",
                hour.hour,
                hour.traffic_share * 100.0,
                hour.spend_share * 100.0,
                share_ratio,
                hour.target_spend_micros,
                hour.actual_spend_micros,
                ratio
            )?;
        }
        for (idx, campaign) in self.campaigns.iter().enumerate() {
            let exhausted = campaign
                .exhausted_minute
                .map_or("not exhausted".to_string(), |m| {
                    format!("exhausted {:02}:{:02}", m / 60, m % 60)
                });
            writeln!(
                out,
                "campaign {idx:>3}: bid {:>9} cpm, budget {:>11}, spent {:>11} ({:.1}%), {exhausted}, throttle {:.4}",
                campaign.bid_cpm_micros,
                campaign.budget_micros,
                campaign.spent_micros,
                share_percent(campaign.spent_micros, campaign.budget_micros),
                campaign.throttle_at_end
            )?;
        }
        Ok(())
    }

    pub fn write_csv(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            "hour,requests,traffic_share,target_spend_micros,actual_spend_micros,ratio,spend_share,share_ratio"
        )?;
        for hour in &self.hours {
            let ratio = hour.ratio().map_or(String::new(), |r| format!("{r:.4}"));
            let share_ratio = hour
                .share_ratio()
                .map_or(String::new(), |r| format!("{r:.4}"));
            writeln!(
                out,
                "{},{},{:.6},{},{},{},{:.6},{}",
                hour.hour,
                hour.requests,
                hour.traffic_share,
                hour.target_spend_micros,
                hour.actual_spend_micros,
                ratio,
                hour.spend_share,
                share_ratio
            )?;
        }
        Ok(())
    }

    /// Cumulative target (the traffic curve times the budget) and actual spend over the day,
    /// as shares of the total budget: two lines that lie on each other when pacing is even.
    pub fn write_svg(&self, out: &mut impl Write) -> io::Result<()> {
        const WIDTH: f64 = 800.0;
        const HEIGHT: f64 = 400.0;
        const MARGIN: f64 = 40.0;
        let plot_w = WIDTH - 2.0 * MARGIN;
        let plot_h = HEIGHT - 2.0 * MARGIN;
        let total_requests = self.minute_requests.iter().sum::<u64>().max(1) as f64;
        let budget = self.budget_micros.max(1) as f64;
        let point = |minute: usize, share: f64| {
            let x = MARGIN + plot_w * minute as f64 / MINUTES_PER_DAY as f64;
            let y = MARGIN + plot_h * (1.0 - share.clamp(0.0, 1.05) / 1.05);
            format!("{x:.1},{y:.1}")
        };
        let mut target = vec![point(0, 0.0)];
        let mut actual = vec![point(0, 0.0)];
        let (mut requests, mut spent) = (0u64, 0i64);
        for minute in 0..self.minute_requests.len() {
            requests += self.minute_requests[minute];
            spent += self.minute_spend_micros[minute];
            let traffic_share = requests as f64 / total_requests;
            target.push(point(
                minute + 1,
                traffic_share * self.spent_share().max(1.0),
            ));
            actual.push(point(minute + 1, spent as f64 / budget));
        }
        writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"#
        )?;
        writeln!(
            out,
            r##"<rect x="{MARGIN}" y="{MARGIN}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>"##
        )?;
        for hour in (0..=HOURS_PER_DAY).step_by(3) {
            let x = MARGIN + plot_w * hour as f64 / HOURS_PER_DAY as f64;
            let y = HEIGHT - MARGIN + 15.0;
            writeln!(
                out,
                r#"<text x="{x:.1}" y="{y:.1}" text-anchor="middle">{hour:02}h</text>"#
            )?;
        }
        let top = MARGIN + plot_h * (1.0 - 1.0 / 1.05);
        writeln!(
            out,
            r##"<line x1="{MARGIN}" y1="{top:.1}" x2="{:.1}" y2="{top:.1}" stroke="#ccc"/><text x="{:.1}" y="{:.1}" text-anchor="end">100%</text>"##,
            WIDTH - MARGIN,
            MARGIN - 4.0,
            top + 4.0
        )?;
        writeln!(
            out,
            r##"<polyline fill="none" stroke="#888" stroke-dasharray="6 4" stroke-width="2" points="{}"/>"##,
            target.join(" ")
        )?;
        writeln!(
            out,
            r##"<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{}"/>"##,
            actual.join(" ")
        )?;
        writeln!(
            out,
            r##"<text x="{MARGIN}" y="20">cumulative spend / budget: target (dashed) vs actual, pacing {:?}, seed {}</text>"##,
            self.pacing, self.seed
        )?;
        writeln!(out, "</svg>")
    }
}

fn share_percent(part: i64, whole: i64) -> f64 {
    if whole > 0 {
        part as f64 / whole as f64 * 100.0
    } else {
        0.0
    }
}

/// Reads `--shard-split`: one non-negative weight per shard, comma separated, not all zero,
/// 1..=`SHARDS_MAX` of them.
pub fn parse_shard_weights(text: &str) -> anyhow::Result<Vec<f64>> {
    let mut weights = Vec::new();
    for token in text.split(',').map(str::trim) {
        let weight: f64 = token
            .parse()
            .with_context(|| format!("shard weight {token:?} is not a number"))?;
        ensure!(
            weight.is_finite() && weight >= 0.0,
            "shard weight {token} must be a finite number >= 0"
        );
        ensure!(weights.len() < SHARDS_MAX, "more than {SHARDS_MAX} shards");
        weights.push(weight);
    }
    ensure!(
        weights.iter().sum::<f64>() > 0.0,
        "all shard weights are zero"
    );
    Ok(weights)
}

/// The simulated shards: a pacer each, and the draw of the shard a request goes to.
struct Shards {
    pacers: Vec<Pacer>,
    /// Cumulative traffic shares; the last is 1.
    cumulative: Vec<f64>,
    /// Its own stream, so that the traffic and the wins are the same for any shard count.
    rng: Rng,
}

impl Shards {
    fn new(weights: &[f64], seed: u64, make_pacer: impl Fn() -> Pacer) -> Shards {
        let clean: Vec<f64> = weights
            .iter()
            .take(SHARDS_MAX)
            .map(|w| if w.is_finite() && *w > 0.0 { *w } else { 0.0 })
            .collect();
        let total: f64 = clean.iter().sum();
        let mut cumulative: Vec<f64> = if total > 0.0 && total.is_finite() {
            clean
                .iter()
                .scan(0.0, |sum, w| {
                    *sum += w / total;
                    Some(*sum)
                })
                .collect()
        } else {
            vec![1.0]
        };
        if let Some(last) = cumulative.last_mut() {
            *last = 1.0;
        }
        Shards {
            pacers: cumulative.iter().map(|_| make_pacer()).collect(),
            cumulative,
            rng: Rng::new(seed ^ 0x5ead_5a1d_0000_0001),
        }
    }

    /// The shard the next request goes to (no draw for a single shard).
    fn pick(&mut self) -> usize {
        if self.pacers.len() == 1 {
            return 0;
        }
        let draw = self.rng.unit();
        self.cumulative
            .iter()
            .position(|c| draw < *c)
            .unwrap_or(self.pacers.len() - 1)
    }
}

#[derive(Debug, Clone)]
struct SimCampaign {
    bid_cpm_micros: i64,
    price_micros: i64,
    budget_micros: i64,
}

/// Runs `warmup_days` days and then the reported day. Options out of range are clamped
/// (campaigns to 1..=`CAMPAIGNS_MAX`, requests to `REQUESTS_PER_DAY_MAX`, warm-up days to
/// `WARMUP_DAYS_MAX`).
pub fn simulate(options: &SimOptions) -> SimReport {
    let n_campaigns = options.campaigns.clamp(1, CAMPAIGNS_MAX);
    let requests_per_day = options.requests_per_day.min(REQUESTS_PER_DAY_MAX);
    let warmup_days = options.warmup_days.min(WARMUP_DAYS_MAX);
    let traffic = traffic_shares(&options.curve);
    let mut rng = Rng::new(options.seed);
    // The pacer's draws come from their own stream, so that changing the pacer's decisions
    // does not change the traffic the next run sees.
    let mut pacing_rng = PacingRng::new(options.seed ^ 0x5eed_0f9a_c14e_0000);

    let campaigns: Vec<SimCampaign> = (0..n_campaigns)
        .map(|_| {
            let bid_cpm_micros = rng.between(BID_CPM_MICROS_MIN, BID_CPM_MICROS_MAX) as i64;
            let headroom = HEADROOM_MIN + (HEADROOM_MAX - HEADROOM_MIN) * rng.unit();
            let price_micros = bid_cpm_micros / 1_000;
            let full_throttle_micros = requests_per_day as f64 * WIN_RATE * price_micros as f64;
            SimCampaign {
                bid_cpm_micros,
                price_micros,
                budget_micros: (full_throttle_micros / headroom) as i64,
            }
        })
        .collect();
    let modes: Vec<PacingMode> = campaigns
        .iter()
        .map(|c| PacingMode::of(options.pacing, Some(c.budget_micros)))
        .collect();
    let mut shards = Shards::new(&options.shard_weights, options.seed, || {
        Pacer::new(PacingConfig::default(), modes.iter().copied())
    });

    let mut report = None;
    for day in 0..=i64::from(warmup_days) {
        let day_start_unix_s = SIM_DAY_START_UNIX_S + day * SECONDS_PER_DAY;
        report = Some(simulate_day(
            options,
            &traffic,
            requests_per_day,
            &campaigns,
            &mut shards,
            &mut rng,
            &mut pacing_rng,
            day_start_unix_s,
        ));
    }
    report.expect("the loop runs the reported day")
}

#[allow(clippy::too_many_arguments)]
fn simulate_day(
    options: &SimOptions,
    traffic: &[f64; HOURS_PER_DAY],
    requests_per_day: u64,
    campaigns: &[SimCampaign],
    shards: &mut Shards,
    rng: &mut Rng,
    pacing_rng: &mut PacingRng,
    day_start_unix_s: i64,
) -> SimReport {
    let mut tally = DayTally::new(campaigns.len(), shards.pacers.len());
    let DayTally {
        spent_micros,
        exhausted_minute,
        hour_spend,
        minute_requests,
        minute_spend_micros,
        shard_requests,
        shard_spend_micros,
    } = &mut tally;

    for minute in 0..MINUTES_PER_DAY {
        let now_unix_s = day_start_unix_s + minute as i64 * 60;
        let hour = minute / MINUTES_PER_HOUR;
        for pacer in &mut shards.pacers {
            pacer.update(now_unix_s, |idx| {
                let idx = idx as usize;
                DailySpend {
                    spent_micros: spent_micros.get(idx).copied().unwrap_or(0),
                    budget_micros: campaigns.get(idx).map_or(0, |c| c.budget_micros),
                }
            });
        }
        let mean = requests_per_day as f64 * traffic[hour] / MINUTES_PER_HOUR as f64;
        let n_requests = poisson(rng, mean);
        minute_requests[minute] = n_requests;
        for _ in 0..n_requests {
            let shard = shards.pick();
            shard_requests[shard] += 1;
            let pacer = &mut shards.pacers[shard];
            pacer.observe_request(now_unix_s);
            for (idx, campaign) in campaigns.iter().enumerate() {
                if spent_micros[idx] + campaign.price_micros > campaign.budget_micros {
                    continue;
                }
                if !pacer.allows(idx as u32, pacing_rng) || !rng.chance(WIN_RATE) {
                    continue;
                }
                spent_micros[idx] += campaign.price_micros;
                hour_spend[idx][hour] += campaign.price_micros;
                minute_spend_micros[minute] += campaign.price_micros;
                shard_spend_micros[shard] += campaign.price_micros;
            }
        }
        for (idx, campaign) in campaigns.iter().enumerate() {
            if exhausted_minute[idx].is_none()
                && spent_micros[idx] + campaign.price_micros > campaign.budget_micros
            {
                exhausted_minute[idx] = Some(minute);
            }
        }
    }

    tally.into_report(options, campaigns, shards)
}

/// What one simulated day counted, per campaign, minute and shard.
struct DayTally {
    spent_micros: Vec<i64>,
    exhausted_minute: Vec<Option<usize>>,
    hour_spend: Vec<[i64; HOURS_PER_DAY]>,
    minute_requests: Vec<u64>,
    minute_spend_micros: Vec<i64>,
    shard_requests: Vec<u64>,
    shard_spend_micros: Vec<i64>,
}

impl DayTally {
    fn new(n_campaigns: usize, n_shards: usize) -> DayTally {
        DayTally {
            spent_micros: vec![0; n_campaigns],
            exhausted_minute: vec![None; n_campaigns],
            hour_spend: vec![[0; HOURS_PER_DAY]; n_campaigns],
            minute_requests: vec![0; MINUTES_PER_DAY],
            minute_spend_micros: vec![0; MINUTES_PER_DAY],
            shard_requests: vec![0; n_shards],
            shard_spend_micros: vec![0; n_shards],
        }
    }

    fn into_report(
        self,
        options: &SimOptions,
        campaigns: &[SimCampaign],
        shards: &Shards,
    ) -> SimReport {
        let DayTally {
            spent_micros,
            exhausted_minute,
            hour_spend,
            minute_requests,
            minute_spend_micros,
            shard_requests,
            shard_spend_micros,
        } = self;
        let total_requests: u64 = minute_requests.iter().sum();
        let total_spend_micros: i64 = minute_spend_micros.iter().sum();
        let budget_micros: i64 = campaigns.iter().map(|c| c.budget_micros).sum();
        let hours = (0..HOURS_PER_DAY)
            .map(|hour| {
                let minutes = hour * MINUTES_PER_HOUR..(hour + 1) * MINUTES_PER_HOUR;
                let requests: u64 = minute_requests[minutes.clone()].iter().sum();
                let traffic_share = if total_requests > 0 {
                    requests as f64 / total_requests as f64
                } else {
                    0.0
                };
                let actual_spend_micros: i64 = minute_spend_micros[minutes].iter().sum();
                HourRow {
                    hour,
                    requests,
                    traffic_share,
                    target_spend_micros: (budget_micros as f64 * traffic_share).round() as i64,
                    actual_spend_micros,
                    spend_share: share_percent(actual_spend_micros, total_spend_micros) / 100.0,
                }
            })
            .collect();
        let campaign_rows = campaigns
            .iter()
            .enumerate()
            .map(|(idx, campaign)| CampaignRow {
                bid_cpm_micros: campaign.bid_cpm_micros,
                budget_micros: campaign.budget_micros,
                spent_micros: spent_micros[idx],
                exhausted_minute: exhausted_minute[idx],
                hour_spend_micros: hour_spend[idx],
                throttle_at_end: shards
                    .pacers
                    .iter()
                    .map(|p| p.throttle(idx as u32))
                    .sum::<f64>()
                    / shards.pacers.len() as f64,
            })
            .collect();
        SimReport {
            seed: options.seed,
            pacing: options.pacing,
            hours,
            campaigns: campaign_rows,
            minute_requests,
            minute_spend_micros,
            budget_micros,
            spent_micros: spent_micros.iter().sum(),
            overspend_micros: campaigns
                .iter()
                .zip(&spent_micros)
                .map(|(c, spent)| (spent - c.budget_micros).max(0))
                .sum(),
            shards: shard_requests
                .iter()
                .zip(&shard_spend_micros)
                .map(|(requests, spend)| ShardRow {
                    traffic_share: share_percent(*requests as i64, total_requests as i64) / 100.0,
                    spend_share: share_percent(*spend, total_spend_micros) / 100.0,
                })
                .collect(),
        }
    }
}

/// A Poisson-distributed count with mean `mean` (0 for a mean that is not positive).
fn poisson(rng: &mut Rng, mean: f64) -> u64 {
    if mean.is_nan() || mean <= 0.0 {
        return 0;
    }
    if mean > POISSON_EXACT_MEAN_MAX {
        let draw = mean + mean.sqrt() * rng.normal();
        return draw.round().max(0.0) as u64;
    }
    // Knuth: multiply uniforms until the product falls below e^-mean.
    let limit = (-mean).exp();
    let mut count = 0;
    let mut product = rng.unit();
    while product > limit {
        count += 1;
        product *= rng.unit();
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_splits_parse_and_draw_in_proportion() {
        assert_eq!(parse_shard_weights("1, 3").expect("valid"), vec![1.0, 3.0]);
        for (text, expected) in [
            ("", "not a number"),
            ("1,x", "not a number"),
            ("1,-1", ">= 0"),
            ("0,0", "all shard weights are zero"),
            (&*vec!["1"; SHARDS_MAX + 1].join(","), "more than"),
        ] {
            let error = parse_shard_weights(text).expect_err(text).to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
        let config = PacingConfig::default;
        let mut shards = Shards::new(&[1.0, 3.0, 0.0], 9, || Pacer::new(config(), []));
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            counts[shards.pick()] += 1;
        }
        assert_eq!(counts[2], 0);
        let share = f64::from(counts[1]) / 40_000.0;
        assert!((share - 0.75).abs() < 0.01, "{counts:?}");
    }

    #[test]
    fn poisson_draws_have_the_right_mean() {
        let mut rng = Rng::new(4);
        for mean in [0.0, 0.5, 5.0, 29.0, 31.0, 200.0] {
            let n = 20_000;
            let total: u64 = (0..n).map(|_| poisson(&mut rng, mean)).sum();
            let observed = total as f64 / n as f64;
            // Five standard errors of the mean.
            let tolerance = 5.0 * (mean / n as f64).sqrt() + 1e-9;
            assert!((observed - mean).abs() <= tolerance, "{mean}: {observed}");
        }
        assert_eq!(poisson(&mut rng, -1.0), 0);
        assert_eq!(poisson(&mut rng, f64::NAN), 0);
    }
}
