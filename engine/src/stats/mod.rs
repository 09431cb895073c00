//! Per-shard counters and latency histograms; their Prometheus rendering is `prometheus`.
//!
//! Each shard owns one `ShardStats` and bumps plain `Cell`s on the request path: no atomics,
//! no locks, nothing shared. The admin listener asks every shard for a `StatsSnapshot` over a
//! channel when it is scraped and renders them side by side with a `shard` label.

use std::cell::Cell;
use std::time::Duration;

use crate::http::{ConnectionStats, Endpoint, Recorder};

mod books;
mod prometheus;
use crate::tracking::{EventKind, LossReason, PriceRefusal};
pub use books::render_stats_json;
pub use prometheus::render_prometheus;

/// Status codes the server can answer; a code not listed is counted as `STATUS_OTHER_IDX`.
pub const STATUSES: [u16; 14] = [
    200, 204, 302, 400, 403, 404, 405, 408, 411, 413, 417, 431, 500, 503,
];
const STATUS_OTHER_IDX: usize = STATUSES.len();
const STATUS_SLOTS: usize = STATUSES.len() + 1;

fn status_idx(status: u16) -> usize {
    STATUSES
        .iter()
        .position(|s| *s == status)
        .unwrap_or(STATUS_OTHER_IDX)
}

/// Upper bounds of the latency histogram buckets, in microseconds. The decision budget is
/// well under a millisecond, so resolution is finest there; the top buckets catch stalls.
pub const LATENCY_BUCKETS_US: [u64; 16] = [
    25, 50, 100, 200, 300, 500, 750, 1_000, 2_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
    1_000_000,
];
const LATENCY_SLOTS: usize = LATENCY_BUCKETS_US.len() + 1;

/// Delivery counters of one campaign on one shard. Bids are counted where the auction ran;
/// wins, impressions, billing notices, clicks, losses and spend on the shard that owns the
/// event's token, which counts each event once. An impression reported by both the pixel and the
/// billing notice is one impression; `billings` counts the notices, which charge campaigns
/// spending on impressions, so impressions without billing show as the difference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CampaignCounters {
    pub bids: u64,
    pub wins: u64,
    pub impressions: u64,
    pub billings: u64,
    pub clicks: u64,
    /// Loss notices that resolved their bid (released its commitment): a loss after the spend
    /// event is a repeat, not counted here.
    pub losses: u64,
    /// In micro-units of the campaign's currency.
    pub spend_micros: i64,
    /// Spend on UTC day `spend_day` (by the time each spend event was counted).
    pub spend_today_micros: i64,
    pub spend_day: i64,
}

impl CampaignCounters {
    /// Adds `other` (another shard's, or a checkpoint's: saturating, as counters read from a
    /// file may be anything). Today's spend adds up within one day; a later day replaces it.
    pub fn add(&mut self, other: &CampaignCounters) {
        self.bids = self.bids.saturating_add(other.bids);
        self.wins = self.wins.saturating_add(other.wins);
        self.impressions = self.impressions.saturating_add(other.impressions);
        self.billings = self.billings.saturating_add(other.billings);
        self.clicks = self.clicks.saturating_add(other.clicks);
        self.losses = self.losses.saturating_add(other.losses);
        self.spend_micros = self.spend_micros.saturating_add(other.spend_micros);
        if other.spend_day > self.spend_day {
            self.spend_day = other.spend_day;
            self.spend_today_micros = other.spend_today_micros;
        } else if other.spend_day == self.spend_day {
            self.spend_today_micros = self
                .spend_today_micros
                .saturating_add(other.spend_today_micros);
        }
    }

    /// Adds a spend counted at `at_unix_s` to the total and to its day's.
    pub fn add_spend(&mut self, spend_micros: i64, at_unix_s: i64) {
        self.spend_micros = self.spend_micros.saturating_add(spend_micros);
        let day = at_unix_s.div_euclid(86_400);
        if day > self.spend_day {
            self.spend_day = day;
            self.spend_today_micros = 0;
        }
        if day == self.spend_day {
            self.spend_today_micros = self.spend_today_micros.saturating_add(spend_micros);
        }
    }

    /// Spend on UTC day `day`.
    pub fn spend_on(&self, day: i64) -> i64 {
        if self.spend_day == day {
            self.spend_today_micros
        } else {
            0
        }
    }

    pub fn is_zero(&self) -> bool {
        *self == CampaignCounters::default()
    }
}

/// What became of a tracking request: counted, a repeat of an event already counted, refused
/// (403), or a late click (redirected, not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackingOutcome {
    Counted,
    Duplicate,
    Malformed,
    Forged,
    Expired,
    /// Valid signature, but the campaign is no longer in the catalog.
    UnknownCampaign,
    /// A validly signed click past its token's lifetime: redirected, neither counted nor
    /// billed.
    Late,
    /// A valid token of another event kind than the URL's path reports (the pixel's token on
    /// `/win`, say): someone is trying the browser's tokens on the exchange's notices.
    WrongKind,
    /// A valid token whose bid the owner shard's event window cannot vouch for (signed by an
    /// earlier run or another server): answered, never counted as an event.
    OutOfReach,
    /// The event could not be made durable (the event log cannot write, or the owner shard
    /// did not answer in time): 503, nothing acknowledged.
    Unavailable,
}

impl TrackingOutcome {
    pub const ALL: [TrackingOutcome; 10] = [
        TrackingOutcome::Counted,
        TrackingOutcome::Duplicate,
        TrackingOutcome::Malformed,
        TrackingOutcome::Forged,
        TrackingOutcome::Expired,
        TrackingOutcome::UnknownCampaign,
        TrackingOutcome::Late,
        TrackingOutcome::WrongKind,
        TrackingOutcome::OutOfReach,
        TrackingOutcome::Unavailable,
    ];

    pub fn label(self) -> &'static str {
        match self {
            TrackingOutcome::Counted => "counted",
            TrackingOutcome::Duplicate => "duplicate",
            TrackingOutcome::Malformed => "malformed",
            TrackingOutcome::Forged => "forged",
            TrackingOutcome::Expired => "expired",
            TrackingOutcome::UnknownCampaign => "unknown_campaign",
            TrackingOutcome::Late => "late",
            TrackingOutcome::WrongKind => "wrong_kind",
            TrackingOutcome::OutOfReach => "out_of_reach",
            TrackingOutcome::Unavailable => "unavailable",
        }
    }
}

/// One shard's statistics. Lives in the shard; never crosses a thread.
#[derive(Debug)]
pub struct ShardStats {
    shard_idx: usize,
    requests: [[Cell<u64>; STATUS_SLOTS]; Endpoint::COUNT],
    latency_buckets: [[Cell<u64>; LATENCY_SLOTS]; Endpoint::COUNT],
    latency_sum_us: [Cell<u64>; Endpoint::COUNT],
    pub connections: ConnectionStats,
    /// Indexed by the shard catalog's campaign index; resized when a catalog is installed.
    pub campaigns: std::cell::RefCell<Vec<CampaignCounters>>,
    /// `[event kind][outcome]`, event kinds in `EventKind::ALL` order.
    pub tracking: [[Cell<u64>; TrackingOutcome::ALL.len()]; EventKind::COUNT],
    /// `[event kind][refusal]`: clearing prices not believed (the event was charged at the
    /// signed price).
    pub prices_refused: [[Cell<u64>; PriceRefusal::ALL.len()]; EventKind::COUNT],
    /// Counted loss notices by reason, in `LossReason::ALL` order.
    pub loss_reasons: [Cell<u64>; LossReason::COUNT],
}

impl ShardStats {
    pub fn new(shard_idx: usize) -> ShardStats {
        ShardStats {
            shard_idx,
            requests: Default::default(),
            latency_buckets: Default::default(),
            latency_sum_us: Default::default(),
            connections: ConnectionStats::default(),
            campaigns: Default::default(),
            tracking: Default::default(),
            prices_refused: Default::default(),
            loss_reasons: Default::default(),
        }
    }

    /// Counts a tracking request's outcome, in the row of the event `kind` it reported.
    pub fn record_tracking(&self, kind: EventKind, outcome: TrackingOutcome) {
        if let Some(row) = self.tracking.get(kind.idx()) {
            let outcome_idx = TrackingOutcome::ALL
                .iter()
                .position(|o| *o == outcome)
                .unwrap_or(0);
            bump(&row[outcome_idx]);
        }
    }

    /// Counts a loss notice that resolved its bid, by the reason the exchange gave.
    pub fn record_loss_reason(&self, reason: LossReason) {
        bump(&self.loss_reasons[reason.idx()]);
    }

    /// Counts a clearing price not believed on an event of `kind`.
    pub fn record_price_refused(&self, kind: EventKind, refusal: PriceRefusal) {
        bump(&self.prices_refused[kind.idx()][refusal.idx()]);
    }

    /// Counts one answered request and its service time (request fully read to response
    /// queued). Called once per response; a handful of `Cell` bumps.
    pub fn record(&self, endpoint: Endpoint, status: u16, elapsed: Duration) {
        let endpoint_idx = endpoint.idx();
        bump(&self.requests[endpoint_idx][status_idx(status)]);
        let elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket_idx = LATENCY_BUCKETS_US.partition_point(|upper| *upper < elapsed_us);
        bump(&self.latency_buckets[endpoint_idx][bucket_idx]);
        let sum = &self.latency_sum_us[endpoint_idx];
        sum.set(sum.get().saturating_add(elapsed_us));
    }

    /// A plain-data copy that can be sent to the admin thread; `campaign_ids` names the
    /// catalog's campaigns by index (only campaigns with non-zero counters are copied).
    pub fn snapshot_with(&self, campaign_ids: &dyn Fn(usize) -> Option<String>) -> StatsSnapshot {
        let mut snapshot = self.snapshot();
        snapshot.campaigns = self
            .campaigns
            .borrow()
            .iter()
            .enumerate()
            .filter(|(_, counters)| !counters.is_zero())
            .filter_map(|(idx, counters)| Some((campaign_ids(idx)?, *counters)))
            .collect();
        snapshot
    }

    /// A plain-data copy that can be sent to the admin thread.
    pub fn snapshot(&self) -> StatsSnapshot {
        let copy = |cells: &[Cell<u64>]| cells.iter().map(Cell::get).collect::<Vec<_>>();
        StatsSnapshot {
            shard_idx: self.shard_idx,
            requests: self.requests.iter().map(|row| copy(row)).collect(),
            latency_buckets: self.latency_buckets.iter().map(|row| copy(row)).collect(),
            latency_sum_us: copy(&self.latency_sum_us),
            connections_accepted: self.connections.accepted.get(),
            connections_rejected_at_limit: self.connections.rejected_at_limit.get(),
            connections_open: self.connections.open.get(),
            connection_read_timeouts: self.connections.read_timeouts.get(),
            connection_io_errors: self.connections.io_errors.get(),
            connections_busy: self.connections.busy.get(),
            connections_evicted: self.connections.evicted.get(),
            connection_first_byte_timeouts: self.connections.first_byte_timeouts.get(),
            campaigns: Vec::new(),
            tracking: self.tracking.iter().map(|row| copy(row)).collect(),
            prices_refused: self.prices_refused.iter().map(|row| copy(row)).collect(),
            loss_reasons: copy(&self.loss_reasons),
            tracking_bids_refused: 0,
            tracking_window_bytes: 0,
            delivery: DeliverySnapshot::default(),
            decide: DecideSnapshot::default(),
            bidders: Vec::new(),
            overload: Default::default(),
            books: Vec::new(),
            log: Default::default(),
        }
    }
}

/// The connection loop's reports land in the shard's counters.
impl Recorder for ShardStats {
    #[inline]
    fn connections(&self) -> &ConnectionStats {
        &self.connections
    }

    #[inline]
    fn record(&self, endpoint: Endpoint, status: u16, elapsed: Duration) {
        ShardStats::record(self, endpoint, status, elapsed);
    }
}

pub(crate) fn bump(cell: &Cell<u64>) {
    cell.set(cell.get().wrapping_add(1));
}

/// A shard's statistics at one instant, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub shard_idx: usize,
    /// `[endpoint][status slot]`, slots in `STATUSES` order then "other".
    pub requests: Vec<Vec<u64>>,
    /// `[endpoint][bucket]`, buckets in `LATENCY_BUCKETS_US` order then +Inf (not cumulative).
    pub latency_buckets: Vec<Vec<u64>>,
    pub latency_sum_us: Vec<u64>,
    pub connections_accepted: u64,
    pub connections_rejected_at_limit: u64,
    pub connections_open: u64,
    pub connection_read_timeouts: u64,
    pub connection_io_errors: u64,
    pub connections_busy: u64,
    pub connections_evicted: u64,
    pub connection_first_byte_timeouts: u64,
    /// Campaign id and counters, for campaigns with any activity on this shard.
    pub campaigns: Vec<(String, CampaignCounters)>,
    /// `[event kind][outcome]`, event kinds in `EventKind::ALL` order.
    pub tracking: Vec<Vec<u64>>,
    /// `[event kind][price refusal]`.
    pub prices_refused: Vec<Vec<u64>>,
    /// Counted loss notices, `[loss reason]`.
    pub loss_reasons: Vec<u64>,
    /// The shard's event window: winning bids dropped for lack of room, and its memory.
    pub tracking_bids_refused: u64,
    pub tracking_window_bytes: u64,
    pub delivery: DeliverySnapshot,
    pub decide: DecideSnapshot,
    /// Per external bidder, in configuration order: name, counters, connections open.
    pub bidders: Vec<BidderSnapshot>,
    pub overload: crate::overload::OverloadSnapshot,
    /// Every campaign of the shard's catalog with its budgets, for `/stats` (empty unless
    /// asked for).
    pub books: Vec<CampaignBook>,
    /// The shard's event log (zeros without one).
    pub log: crate::eventlog::LogSnapshot,
}

/// One campaign's id, counters and budgets, as a shard reports them to `/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignBook {
    pub id: String,
    pub counters: CampaignCounters,
    pub daily_budget_micros: Option<i64>,
    pub total_budget_micros: Option<i64>,
}

/// One bidder's activity on one shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BidderSnapshot {
    pub name: String,
    pub counters: crate::bidders::fanout::BidderCounters,
    pub connections_open: u64,
}

/// Microsecond buckets of [`DecideHistogram`]: 1 µs wide up to 2 ms (the hop the routing
/// target is about is tens of µs, far finer than the request histogram's buckets), then one
/// overflow bucket.
pub const DECIDE_BUCKETS_US: usize = 2048;

/// How long an auction took from its body read to its response ready, at 1 µs resolution:
/// decided on this shard (`local`), or handed to the owner shard and answered back
/// (`routed`: the same work plus two hops and the owner's queue). The difference of their
/// percentiles is the cost of routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecideHistogram {
    pub counts: Vec<u64>,
}

impl Default for DecideHistogram {
    fn default() -> Self {
        DecideHistogram {
            counts: vec![0; DECIDE_BUCKETS_US + 1],
        }
    }
}

impl DecideHistogram {
    pub fn record(&mut self, elapsed: Duration) {
        let us = usize::try_from(elapsed.as_micros()).unwrap_or(usize::MAX);
        let slot = us.min(DECIDE_BUCKETS_US);
        if let Some(count) = self.counts.get_mut(slot) {
            *count += 1;
        }
    }

    pub fn add(&mut self, other: &DecideHistogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The smallest bucket (µs) at or below which `quantile` of the samples fall;
    /// `DECIDE_BUCKETS_US` means "beyond the histogram". `None` when empty.
    pub fn quantile_us(&self, quantile: f64) -> Option<u64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = ((quantile.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (us, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(us as u64);
            }
        }
        Some(DECIDE_BUCKETS_US as u64)
    }
}

/// Budget, pacing, frequency-cap and routing counters of one shard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliverySnapshot {
    pub budget_refused_total: u64,
    pub budget_refused_daily: u64,
    pub budget_refused_allowance: u64,
    pub budget_rounds_sent: u64,
    pub budget_rounds_applied: u64,
    pub budget_unreserved_spend: u64,
    pub pacing_throttled: u64,
    pub freqcap_users: u64,
    pub freqcap_evicted: u64,
    pub routed_out: u64,
    pub routed_in: u64,
    pub route_slots_exhausted: u64,
}

/// Decision-time histograms of one shard, by route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecideSnapshot {
    pub local: DecideHistogram,
    pub routed: DecideHistogram,
}

impl StatsSnapshot {
    /// Requests answered on `endpoint` with `status` on this shard.
    pub fn requests_with(&self, endpoint: Endpoint, status: u16) -> u64 {
        self.requests
            .get(endpoint.idx())
            .and_then(|row| row.get(status_idx(status)))
            .copied()
            .unwrap_or(0)
    }

    pub fn requests_total(&self) -> u64 {
        self.requests.iter().flatten().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_and_render() {
        let stats = ShardStats::new(3);
        stats.record(Endpoint::Auction, 204, Duration::from_micros(80));
        stats.record(Endpoint::Auction, 400, Duration::from_micros(2_500));
        stats.record(Endpoint::Other, 404, Duration::from_secs(5));
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.requests_with(Endpoint::Auction, 204), 1);
        assert_eq!(snapshot.requests_total(), 3);
        let mut text = String::new();
        render_prometheus(&[snapshot], &mut text);
        assert!(text.contains("adshard_http_requests_total{shard=\"3\",endpoint=\"/openrtb2/auction\",status=\"204\"} 1"));
        assert!(text.contains(
            "adshard_http_request_duration_seconds_bucket{shard=\"3\",endpoint=\"/openrtb2/auction\",le=\"0.0001\"} 1"
        ));
        assert!(text.contains(
            "adshard_http_request_duration_seconds_bucket{shard=\"3\",endpoint=\"/openrtb2/auction\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains(
            "adshard_http_request_duration_seconds_count{shard=\"3\",endpoint=\"other\"} 1"
        ));
    }
}
