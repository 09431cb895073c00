//! Pacing: decides, per request and campaign, whether an even-paced campaign takes part, so
//! that its daily budget is spread over the day in proportion to the traffic instead of being
//! spent by the morning peak. The budget ledger (`budget`) is what stops a campaign at its
//! budget; pacing only smooths delivery, so no error here can cause overspend.
//!
//! Each shard owns one `Pacer` for all campaigns of its catalog: nothing here is shared
//! between cores, and both the clock and the random source are injected, so a whole day can
//! be simulated in a fraction of a second (see `adshard-pacing-sim`).
//!
//! - On the request path: `observe_request` (counts traffic per hour) and `allows` (one
//!   Bernoulli draw against the campaign's throttle). Neither allocates.
//! - On a timer: `update` re-plans every campaign from its remaining budget, the expected
//!   remaining traffic of the day and the spend observed over the last interval.
//! - Across a restart: `export` and `import` carry the learned curve, today's traffic and the
//!   even campaigns' controllers; `PacerExport::merge` shares them out when the shard count
//!   changes (`recovery`).

mod curve;
mod recovery;
mod rng;

pub use curve::{
    TrafficCurve, CURVE_SHARE_MIN, DIURNAL_PRIOR, HOURS_PER_DAY, SECONDS_PER_DAY, SECONDS_PER_HOUR,
};
pub use recovery::{CampaignPacingExport, PacerExport};
pub use rng::PacingRng;

use crate::campaign::{Campaign, Pacing};

/// The lowest throttle of a paced campaign with budget left: it keeps a trickle of bids (a
/// probe) so that the controller still measures what a bid yields, instead of flying blind
/// when traffic or win rates change. 0.1% of requests is below anything a budget notices.
pub const THROTTLE_MIN: f64 = 0.001;

/// The throttle of an even campaign at start and at each new day, before any spend is
/// measured: our campaigns are typically sized to a fraction of the traffic they could buy,
/// and the controller corrects a wrong guess by a factor of two per update either way.
pub const THROTTLE_START: f64 = 0.25;

/// Bounds of one update's multiplicative step: a single noisy interval (a burst of wins, a
/// late spend delta from another shard) can at most halve or double the throttle, so the
/// controller cannot oscillate wildly, yet goes from THROTTLE_MIN to 1 in ten updates.
pub const STEP_DOWN_MIN: f64 = 0.5;
pub const STEP_UP_MAX: f64 = 2.0;
const _: () = assert!(STEP_DOWN_MIN > 0.0 && STEP_DOWN_MIN < 1.0 && STEP_UP_MAX > 1.0);
const _: () = assert!(THROTTLE_MIN > 0.0 && THROTTLE_MIN < THROTTLE_START && THROTTLE_START <= 1.0);

/// Weight of each complete observed day in the learned traffic curve, once a few days are
/// learned: a new audience shape is mostly learned within a week (1 - 0.7^5 = 83%), and one
/// holiday moves it by under a third.
pub const CURVE_DAY_WEIGHT: f64 = 0.3;

/// Time constant of the smoothed request rate that predicts the next interval's traffic:
/// long enough to average out per-second noise at low traffic, short enough (15 minutes) to
/// follow an hour that runs above or below the curve.
pub const VOLUME_TIME_CONSTANT_S: f64 = 900.0;

/// Time constant of the smoothed spend per request at full throttle (the campaign's yield):
/// impressions arrive in discrete lumps, so one interval is too noisy; five minutes still
/// follows a change of win rate within the hour.
pub const YIELD_TIME_CONSTANT_S: f64 = 300.0;

/// A day with fewer requests than this is not blended into the curve: with an average of
/// 100 requests per hour the hourly shares are noise at the 10% level already.
pub const LEARN_DAY_REQUESTS_MIN: u64 = 2_400;

/// Today's share of the curve that must have been observed before today's volume is
/// extrapolated from it (2% is about half an hour at night): earlier, the smoothed recent
/// rate stands in, since a few minutes of requests extrapolated to a day are noise.
pub const DAY_SHARE_FOR_VOLUME_MIN: f64 = 0.02;

/// An update more than this after the previous one (process stopped, executor starved)
/// measured no single throttle, so the controller only takes new baselines.
pub const UPDATE_GAP_MAX_S: i64 = 3_600;

/// The controller's tunables; `Default` gives the named constants above. Values out of range
/// are clamped to sane ones by `Pacer::new`, never trusted to avoid a panic or a NaN.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacingConfig {
    pub throttle_min: f64,
    pub throttle_start: f64,
    pub step_down_min: f64,
    pub step_up_max: f64,
    pub curve_day_weight: f64,
    pub volume_time_constant_s: f64,
    pub yield_time_constant_s: f64,
    pub learn_day_requests_min: u64,
    pub day_share_for_volume_min: f64,
    pub update_gap_max_s: i64,
    /// The curve before anything is learned (relative hourly weights).
    pub prior: [f64; HOURS_PER_DAY],
}

impl Default for PacingConfig {
    fn default() -> PacingConfig {
        PacingConfig {
            throttle_min: THROTTLE_MIN,
            throttle_start: THROTTLE_START,
            step_down_min: STEP_DOWN_MIN,
            step_up_max: STEP_UP_MAX,
            curve_day_weight: CURVE_DAY_WEIGHT,
            volume_time_constant_s: VOLUME_TIME_CONSTANT_S,
            yield_time_constant_s: YIELD_TIME_CONSTANT_S,
            learn_day_requests_min: LEARN_DAY_REQUESTS_MIN,
            day_share_for_volume_min: DAY_SHARE_FOR_VOLUME_MIN,
            update_gap_max_s: UPDATE_GAP_MAX_S,
            prior: DIURNAL_PRIOR,
        }
    }
}

impl PacingConfig {
    fn sanitized(self) -> PacingConfig {
        fn finite_in(value: f64, low: f64, high: f64, fallback: f64) -> f64 {
            if value.is_finite() {
                value.clamp(low, high)
            } else {
                fallback
            }
        }
        let throttle_min = finite_in(self.throttle_min, 1e-6, 1.0, THROTTLE_MIN);
        PacingConfig {
            throttle_min,
            throttle_start: finite_in(self.throttle_start, throttle_min, 1.0, THROTTLE_START),
            step_down_min: finite_in(self.step_down_min, 0.01, 1.0, STEP_DOWN_MIN),
            step_up_max: finite_in(self.step_up_max, 1.0, 100.0, STEP_UP_MAX),
            curve_day_weight: finite_in(self.curve_day_weight, 0.0, 1.0, CURVE_DAY_WEIGHT),
            volume_time_constant_s: finite_in(
                self.volume_time_constant_s,
                1.0,
                SECONDS_PER_DAY as f64,
                VOLUME_TIME_CONSTANT_S,
            ),
            yield_time_constant_s: finite_in(
                self.yield_time_constant_s,
                1.0,
                SECONDS_PER_DAY as f64,
                YIELD_TIME_CONSTANT_S,
            ),
            learn_day_requests_min: self.learn_day_requests_min.max(1),
            day_share_for_volume_min: finite_in(
                self.day_share_for_volume_min,
                1e-6,
                1.0,
                DAY_SHARE_FOR_VOLUME_MIN,
            ),
            update_gap_max_s: self.update_gap_max_s.clamp(1, SECONDS_PER_DAY),
            prior: self.prior,
        }
    }
}

/// A campaign's spend today, as the shard's budget ledger sees it (all shards' deltas
/// received so far), and its daily budget, both in micro-units of its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailySpend {
    pub spent_micros: i64,
    pub budget_micros: i64,
}

/// Whether the pacer throttles a campaign at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacingMode {
    /// Even pacing of a daily budget.
    Even,
    /// Asap, or no daily budget to spread: every request is allowed, the ledger alone stops.
    Unpaced,
}

impl PacingMode {
    pub fn of(pacing: Pacing, daily_budget_micros: Option<i64>) -> PacingMode {
        match (pacing, daily_budget_micros) {
            (Pacing::Even, Some(_)) => PacingMode::Even,
            (Pacing::Even, None) | (Pacing::Asap, _) => PacingMode::Unpaced,
        }
    }

    pub fn of_campaign(campaign: &Campaign) -> PacingMode {
        PacingMode::of(campaign.pacing, campaign.budget.daily_micros)
    }
}

#[derive(Debug, Clone)]
struct CampaignState {
    mode: PacingMode,
    throttle: f64,
    /// Spend at the previous update of this day; `None` right after a reset, so that the
    /// first interval of a day is not measured against yesterday's total.
    spent_baseline_micros: Option<i64>,
    /// Smoothed spend per interval and smoothed `throttle x requests` per interval: their
    /// ratio is the spend per request at full throttle. A ratio of smoothed sums, not a
    /// smoothed ratio, so that intervals without requests or wins do not divide by zero.
    spend_ewma_micros: f64,
    exposure_ewma: f64,
}

impl CampaignState {
    fn new(mode: PacingMode, config: &PacingConfig) -> CampaignState {
        CampaignState {
            mode,
            throttle: start_throttle(mode, config),
            spent_baseline_micros: None,
            spend_ewma_micros: 0.0,
            exposure_ewma: 0.0,
        }
    }
}

impl CampaignState {
    /// Spend per request at full throttle, 0 while unknown.
    fn yield_micros_per_request(&self) -> f64 {
        if self.exposure_ewma > 0.0 && self.spend_ewma_micros > 0.0 {
            self.spend_ewma_micros / self.exposure_ewma
        } else {
            0.0
        }
    }
}

fn start_throttle(mode: PacingMode, config: &PacingConfig) -> f64 {
    match mode {
        PacingMode::Even => config.throttle_start,
        PacingMode::Unpaced => 1.0,
    }
}

/// What the shard has seen of today's traffic, and the curve learned from earlier days.
#[derive(Debug, Clone)]
struct Traffic {
    curve: TrafficCurve,
    /// The UTC day (`unix_s.div_euclid(86_400)`) being counted; `None` before the first call.
    day: Option<i64>,
    /// Whether the whole of `day` is being observed (it began while the pacer was running):
    /// only such days are blended into the curve.
    day_complete: bool,
    /// Second of the day from which requests were counted (0 for a complete day).
    observed_from_s: i64,
    hour_counts: [u64; HOURS_PER_DAY],
    requests_today: u64,
    /// Complete days blended into the curve so far.
    days_learned: u32,
    /// Smoothed requests per interval and curve share per interval: their ratio is the
    /// recent traffic in requests per unit of day share (a day volume at the recent rate).
    recent_requests_ewma: f64,
    recent_share_ewma: f64,
}

impl Traffic {
    fn roll_to(&mut self, now_unix_s: i64, config: &PacingConfig) {
        let day = now_unix_s.div_euclid(SECONDS_PER_DAY);
        match self.day {
            None => {
                self.day = Some(day);
                self.observed_from_s = now_unix_s.rem_euclid(SECONDS_PER_DAY);
                // Only a pacer started at midnight sharp (a simulator) sees its first day whole.
                self.day_complete = self.observed_from_s == 0;
            }
            // A clock stepping back into an earlier day does not undo a day: its requests
            // are counted in the current one.
            Some(current) if day <= current => {}
            Some(current) => {
                let next_day = day == current.saturating_add(1);
                if self.day_complete
                    && next_day
                    && self.requests_today >= config.learn_day_requests_min
                {
                    // A running mean over the first days, then the EWMA: the prior is a
                    // guess, so the first observed day replaces it, and no later day weighs
                    // less than `curve_day_weight`.
                    self.days_learned = self.days_learned.saturating_add(1);
                    let weight = (1.0 / f64::from(self.days_learned)).max(config.curve_day_weight);
                    let last_hour_before = self.curve.shares()[HOURS_PER_DAY - 1];
                    self.curve.blend_day(&self.hour_counts, weight);
                    // The smoothed recent share was measured against the old curve; over a
                    // 15-minute time constant it is nearly all the day's last hour, so scaling
                    // it by that hour's change keeps the recent rate right across midnight.
                    let last_hour_after = self.curve.shares()[HOURS_PER_DAY - 1];
                    self.recent_share_ewma *= last_hour_after / last_hour_before;
                }
                self.day = Some(day);
                // After a gap of whole days we cannot tell whether the process was running,
                // so the new day counts only from now.
                self.day_complete = next_day;
                self.observed_from_s = if next_day {
                    0
                } else {
                    now_unix_s.rem_euclid(SECONDS_PER_DAY)
                };
                self.hour_counts = [0; HOURS_PER_DAY];
                self.requests_today = 0;
            }
        }
    }
}

/// The last update's clock and request count, the baseline of the next interval.
#[derive(Debug, Clone, Copy)]
struct UpdateMark {
    now_unix_s: i64,
    requests_today: u64,
}

/// One shard's pacing state for every campaign of its catalog (dense `campaign_idx`).
#[derive(Debug, Clone)]
pub struct Pacer {
    config: PacingConfig,
    traffic: Traffic,
    campaigns: Vec<CampaignState>,
    /// The day the campaign states belong to; a new day resets them.
    campaigns_day: Option<i64>,
    last_update: Option<UpdateMark>,
    /// Length of the last measured interval: the expected length of the next one.
    interval_s: Option<i64>,
    requests_throttled: u64,
}

impl Pacer {
    /// A pacer for campaigns `0..modes.len()` in catalog order.
    pub fn new(config: PacingConfig, modes: impl IntoIterator<Item = PacingMode>) -> Pacer {
        let config = config.sanitized();
        let campaigns = modes
            .into_iter()
            .map(|mode| CampaignState::new(mode, &config))
            .collect();
        Pacer {
            traffic: Traffic {
                curve: TrafficCurve::from_weights(&config.prior),
                day: None,
                day_complete: false,
                observed_from_s: 0,
                hour_counts: [0; HOURS_PER_DAY],
                requests_today: 0,
                days_learned: 0,
                recent_requests_ewma: 0.0,
                recent_share_ewma: 0.0,
            },
            config,
            campaigns,
            campaigns_day: None,
            last_update: None,
            interval_s: None,
            requests_throttled: 0,
        }
    }

    /// A pacer for a catalog's campaigns, indexed as in the slice.
    pub fn for_campaigns(config: PacingConfig, campaigns: &[Campaign]) -> Pacer {
        Pacer::new(config, campaigns.iter().map(PacingMode::of_campaign))
    }

    /// A new catalog (reload): campaign states start afresh (indices change meaning), the
    /// learned traffic curve and today's counts are kept, since they describe the traffic.
    pub fn replace_campaigns(&mut self, modes: impl IntoIterator<Item = PacingMode>) {
        let config = self.config;
        self.campaigns = modes
            .into_iter()
            .map(|mode| CampaignState::new(mode, &config))
            .collect();
        self.campaigns_day = None;
        self.last_update = None;
    }

    /// Whether campaign `campaign_idx` may bid on this request. An index outside the
    /// catalog is allowed: pacing is smoothing, the budget ledger is the limit.
    pub fn allows(&mut self, campaign_idx: u32, rng: &mut PacingRng) -> bool {
        let Some(campaign) = self.campaigns.get(campaign_idx as usize) else {
            return true;
        };
        if campaign.throttle >= 1.0 {
            return true;
        }
        let allowed = rng.next_f64() < campaign.throttle;
        if !allowed {
            self.requests_throttled = self.requests_throttled.saturating_add(1);
        }
        allowed
    }

    /// Counts one auction request at `now_unix_s` into today's traffic.
    pub fn observe_request(&mut self, now_unix_s: i64) {
        self.observe_requests(1, now_unix_s);
    }

    /// Counts `n` auction requests at `now_unix_s` into today's traffic (one, live; a traffic
    /// record's worth, in a replay of the event log).
    #[inline]
    pub fn observe_requests(&mut self, n: u64, now_unix_s: i64) {
        self.traffic.roll_to(now_unix_s, &self.config);
        let hour = (now_unix_s.rem_euclid(SECONDS_PER_DAY) / SECONDS_PER_HOUR) as usize;
        debug_assert!(hour < HOURS_PER_DAY);
        if let Some(count) = self.traffic.hour_counts.get_mut(hour) {
            *count = count.saturating_add(n);
        }
        self.traffic.requests_today = self.traffic.requests_today.saturating_add(n);
    }

    /// Re-plans every even campaign. Call it on a timer (every second in the server, every
    /// simulated minute in the simulator); `spend(campaign_idx)` reads the budget ledger.
    pub fn update(&mut self, now_unix_s: i64, spend: impl Fn(u32) -> DailySpend) {
        self.traffic.roll_to(now_unix_s, &self.config);
        let day = self
            .traffic
            .day
            .unwrap_or(now_unix_s.div_euclid(SECONDS_PER_DAY));
        let day_start_s = day.saturating_mul(SECONDS_PER_DAY);
        let second = now_unix_s
            .saturating_sub(day_start_s)
            .clamp(0, SECONDS_PER_DAY - 1);
        let requests_today = self.traffic.requests_today;
        let mark = UpdateMark {
            now_unix_s,
            requests_today,
        };
        if self.campaigns_day != Some(day) {
            self.start_day(day, mark, second, &spend);
            return;
        }
        let Some(last) = self.last_update else {
            self.take_baselines(mark, &spend);
            return;
        };
        let elapsed_s = now_unix_s.saturating_sub(last.now_unix_s);
        if elapsed_s <= 0 {
            // No time passed, or the clock stepped back: nothing was measured.
            return;
        }
        if elapsed_s > self.config.update_gap_max_s {
            self.take_baselines(mark, &spend);
            return;
        }
        self.last_update = Some(mark);
        self.interval_s = Some(elapsed_s);
        let requests_last = requests_today.saturating_sub(last.requests_today) as f64;
        self.observe_interval(second, elapsed_s, requests_last);
        let plan = self.plan_traffic(second, elapsed_s);

        let config = self.config;
        let yield_weight = ewma_weight(elapsed_s, config.yield_time_constant_s);
        for (idx, campaign) in self.campaigns.iter_mut().enumerate() {
            if campaign.mode == PacingMode::Unpaced {
                campaign.throttle = 1.0;
                continue;
            }
            let DailySpend {
                spent_micros,
                budget_micros,
            } = spend(idx as u32);
            let baseline = campaign.spent_baseline_micros.replace(spent_micros);
            let remaining_micros = budget_micros.saturating_sub(spent_micros);
            if remaining_micros <= 0 {
                // The ledger stops the bids; the minimum keeps the state sane if the budget is
                // raised later today, and the interval's spend was cut by the budget, so it
                // says nothing about the yield.
                campaign.throttle = config.throttle_min;
                continue;
            }
            if let Some(baseline) = baseline {
                // A ledger correction can lower the spend: that is no negative spend.
                let spent_last = spent_micros.saturating_sub(baseline).max(0) as f64;
                let exposure_last = campaign.throttle * requests_last;
                campaign.spend_ewma_micros +=
                    yield_weight * (spent_last - campaign.spend_ewma_micros);
                campaign.exposure_ewma += yield_weight * (exposure_last - campaign.exposure_ewma);
            }
            let Some(plan) = plan else { continue };
            let desired_micros = remaining_micros as f64 * plan.next_fraction;
            let yield_micros_per_request = campaign.yield_micros_per_request();
            let wanted = if yield_micros_per_request > 0.0 && plan.next_requests > 0.0 {
                desired_micros / (yield_micros_per_request * plan.next_requests)
            } else {
                // No spend seen at the current throttle: probe upwards.
                f64::INFINITY
            };
            let low = campaign.throttle * config.step_down_min;
            let high = campaign.throttle * config.step_up_max;
            let stepped = if wanted.is_nan() {
                campaign.throttle
            } else {
                wanted.clamp(low, high)
            };
            campaign.throttle = stepped.clamp(config.throttle_min, 1.0);
            debug_assert!(campaign.throttle.is_finite());
        }
    }

    /// The throttle of a campaign (share of requests it may bid on), for metrics; 1.0 for
    /// unpaced campaigns and indices outside the catalog.
    pub fn throttle(&self, campaign_idx: u32) -> f64 {
        self.campaigns
            .get(campaign_idx as usize)
            .map_or(1.0, |campaign| campaign.throttle)
    }

    /// The learned traffic curve.
    pub fn curve(&self) -> &TrafficCurve {
        &self.traffic.curve
    }

    /// Requests observed in the current UTC day.
    pub fn requests_today(&self) -> u64 {
        self.traffic.requests_today
    }

    /// The UTC day being paced (`unix_s.div_euclid(86_400)`), once the clock has been seen.
    pub fn day(&self) -> Option<i64> {
        self.traffic.day
    }

    /// Bids refused by a throttle since the pacer was built, for metrics.
    pub fn requests_throttled(&self) -> u64 {
        self.requests_throttled
    }

    pub fn n_campaigns(&self) -> usize {
        self.campaigns.len()
    }

    /// Resets the per-day state of every campaign and takes the new day's baselines. A
    /// campaign whose yield is known from earlier days starts at the throttle the plan asks
    /// for, without the step bound, since yesterday's throttle (often the minimum of an
    /// exhausted budget) says nothing about today; the others start at `throttle_start`.
    fn start_day(
        &mut self,
        day: i64,
        mark: UpdateMark,
        second: i64,
        spend: &impl Fn(u32) -> DailySpend,
    ) {
        let config = self.config;
        self.campaigns_day = Some(day);
        self.take_baselines(mark, spend);
        let plan = self
            .interval_s
            .and_then(|interval_s| self.plan_traffic(second, interval_s));
        for (idx, campaign) in self.campaigns.iter_mut().enumerate() {
            campaign.throttle = start_throttle(campaign.mode, &config);
            let (Some(plan), PacingMode::Even) = (plan, campaign.mode) else {
                continue;
            };
            let yield_micros_per_request = campaign.yield_micros_per_request();
            if yield_micros_per_request <= 0.0 {
                continue;
            }
            let DailySpend {
                spent_micros,
                budget_micros,
            } = spend(idx as u32);
            let remaining_micros = budget_micros.saturating_sub(spent_micros).max(0);
            let wanted = remaining_micros as f64 * plan.next_fraction
                / (yield_micros_per_request * plan.next_requests);
            if wanted.is_finite() {
                campaign.throttle = wanted.clamp(config.throttle_min, 1.0);
            }
        }
    }

    fn take_baselines(&mut self, mark: UpdateMark, spend: &impl Fn(u32) -> DailySpend) {
        self.last_update = Some(mark);
        for (idx, campaign) in self.campaigns.iter_mut().enumerate() {
            campaign.spent_baseline_micros = match campaign.mode {
                PacingMode::Even => Some(spend(idx as u32).spent_micros),
                PacingMode::Unpaced => None,
            };
        }
    }

    /// Feeds the last interval's requests into the smoothed recent traffic rate.
    fn observe_interval(&mut self, second: i64, elapsed_s: i64, requests_last: f64) {
        let traffic = &mut self.traffic;
        let share_last = traffic.curve.between(second - elapsed_s, second);
        let weight = ewma_weight(elapsed_s, self.config.volume_time_constant_s);
        traffic.recent_requests_ewma += weight * (requests_last - traffic.recent_requests_ewma);
        traffic.recent_share_ewma += weight * (share_last - traffic.recent_share_ewma);
    }

    /// The expected traffic of the next interval (as long as the last one, cut at midnight)
    /// and its fraction of the traffic left in the day; `None` when nothing is known yet.
    fn plan_traffic(&self, second: i64, interval_s: i64) -> Option<TrafficPlan> {
        let traffic = &self.traffic;
        let curve = &traffic.curve;
        if traffic.recent_share_ewma <= 0.0 {
            return None;
        }
        // Requests per unit of day share at the recent rate: predicts the next interval, so an
        // hour running above its curve share gets more of the budget while it lasts.
        let recent_volume = traffic.recent_requests_ewma / traffic.recent_share_ewma;
        // Requests per unit of day share over today so far: rescales the rest of the day by
        // how today compares with the curve.
        let observed_share = curve.cumulative(second) - curve.cumulative(traffic.observed_from_s);
        let day_volume = if observed_share >= self.config.day_share_for_volume_min {
            traffic.requests_today as f64 / observed_share
        } else {
            recent_volume
        };
        let interval_s = interval_s.min(SECONDS_PER_DAY - second).max(1);
        let next_requests = recent_volume * curve.between(second, second + interval_s);
        let rest_requests = day_volume * (1.0 - curve.cumulative(second + interval_s));
        let expected = next_requests + rest_requests;
        if !(expected.is_finite() && next_requests > 0.0) {
            return None;
        }
        Some(TrafficPlan {
            next_requests,
            next_fraction: (next_requests / expected).clamp(0.0, 1.0),
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct TrafficPlan {
    /// Requests this shard expects in the next interval.
    next_requests: f64,
    /// Their share of the requests expected in the rest of the day: the share of the
    /// remaining budget to spend in the next interval.
    next_fraction: f64,
}

/// Weight of a new sample in an exponentially weighted average with time constant `tau_s`,
/// for a sample covering `elapsed_s`: independent of how often the timer fires.
fn ewma_weight(elapsed_s: i64, tau_s: f64) -> f64 {
    let weight = 1.0 - (-(elapsed_s as f64) / tau_s).exp();
    if weight.is_finite() {
        weight.clamp(0.0, 1.0)
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests;
