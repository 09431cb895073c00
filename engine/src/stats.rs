//! Per-shard counters and latency histograms, and their Prometheus rendering.
//!
//! Each shard owns one `ShardStats` and bumps plain `Cell`s on the request path: no atomics,
//! no locks, nothing shared. The admin listener asks every shard for a `StatsSnapshot` over a
//! channel when it is scraped and renders them side by side with a `shard` label.

use std::cell::Cell;
use std::fmt::Write as _;
use std::time::Duration;

use crate::http::{ConnectionStats, Endpoint, Recorder};
use crate::tracking::{EventKind, PriceRefusal};

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
/// wins, impressions, billing notices, clicks and spend on the shard that owns the event's
/// token, which counts each event once. An impression reported by both the pixel and the
/// billing notice is one impression; `billings` counts the notices, which charge campaigns
/// spending on impressions, so impressions without billing show as the difference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CampaignCounters {
    pub bids: u64,
    pub wins: u64,
    pub impressions: u64,
    pub billings: u64,
    pub clicks: u64,
    /// In micro-units of the campaign's currency.
    pub spend_micros: i64,
}

impl CampaignCounters {
    pub fn add(&mut self, other: &CampaignCounters) {
        self.bids += other.bids;
        self.wins += other.wins;
        self.impressions += other.impressions;
        self.billings += other.billings;
        self.clicks += other.clicks;
        self.spend_micros = self.spend_micros.saturating_add(other.spend_micros);
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
}

impl TrackingOutcome {
    pub const ALL: [TrackingOutcome; 9] = [
        TrackingOutcome::Counted,
        TrackingOutcome::Duplicate,
        TrackingOutcome::Malformed,
        TrackingOutcome::Forged,
        TrackingOutcome::Expired,
        TrackingOutcome::UnknownCampaign,
        TrackingOutcome::Late,
        TrackingOutcome::WrongKind,
        TrackingOutcome::OutOfReach,
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
            tracking_bids_refused: 0,
            tracking_window_bytes: 0,
            delivery: DeliverySnapshot::default(),
            decide: DecideSnapshot::default(),
            bidders: Vec::new(),
            overload: Default::default(),
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
    /// The shard's event window: winning bids dropped for lack of room, and its memory.
    pub tracking_bids_refused: u64,
    pub tracking_window_bytes: u64,
    pub delivery: DeliverySnapshot,
    pub decide: DecideSnapshot,
    /// Per external bidder, in configuration order: name, counters, connections open.
    pub bidders: Vec<BidderSnapshot>,
    pub overload: crate::overload::OverloadSnapshot,
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

/// Renders snapshots of every shard in the Prometheus text exposition format (version 0.0.4).
pub fn render_prometheus(snapshots: &[StatsSnapshot], out: &mut String) {
    out.push_str(
        "# HELP adshard_http_requests_total HTTP requests answered, by endpoint and status.\n",
    );
    out.push_str("# TYPE adshard_http_requests_total counter\n");
    for snapshot in snapshots {
        for endpoint in Endpoint::ALL {
            for (slot_idx, count) in snapshot.requests[endpoint.idx()].iter().enumerate() {
                if *count == 0 {
                    continue;
                }
                let status = STATUSES
                    .get(slot_idx)
                    .map_or_else(|| "other".to_string(), u16::to_string);
                let _ = writeln!(
                    out,
                    "adshard_http_requests_total{{shard=\"{}\",endpoint=\"{}\",status=\"{}\"}} {}",
                    snapshot.shard_idx,
                    endpoint.label(),
                    status,
                    count
                );
            }
        }
    }
    out.push_str(
        "# HELP adshard_http_request_duration_seconds Time from a request fully read to its response queued.\n",
    );
    out.push_str("# TYPE adshard_http_request_duration_seconds histogram\n");
    for snapshot in snapshots {
        for endpoint in Endpoint::ALL {
            let buckets = &snapshot.latency_buckets[endpoint.idx()];
            let total: u64 = buckets.iter().sum();
            if total == 0 {
                continue;
            }
            let labels = format!(
                "shard=\"{}\",endpoint=\"{}\"",
                snapshot.shard_idx,
                endpoint.label()
            );
            let mut cumulative = 0;
            for (bucket_idx, count) in buckets.iter().enumerate() {
                cumulative += count;
                let le = LATENCY_BUCKETS_US
                    .get(bucket_idx)
                    .map_or_else(|| "+Inf".to_string(), |us| format!("{}", *us as f64 / 1e6));
                let _ = writeln!(
                    out,
                    "adshard_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "adshard_http_request_duration_seconds_sum{{{labels}}} {}",
                snapshot.latency_sum_us[endpoint.idx()] as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "adshard_http_request_duration_seconds_count{{{labels}}} {total}"
            );
        }
    }
    type Sample = fn(&StatsSnapshot) -> u64;
    let gauges: [(&str, &str, &str, Sample); 23] = [
        (
            "adshard_connections_accepted_total",
            "counter",
            "Connections accepted.",
            |s| s.connections_accepted,
        ),
        (
            "adshard_connections_rejected_total",
            "counter",
            "Connections refused (503, close) at the connection limit, none idle to make way.",
            |s| s.connections_rejected_at_limit,
        ),
        (
            "adshard_connections_open",
            "gauge",
            "Connections open now.",
            |s| s.connections_open,
        ),
        (
            "adshard_connection_read_timeouts_total",
            "counter",
            "Connections closed because the client was too slow sending a request.",
            |s| s.connection_read_timeouts,
        ),
        (
            "adshard_connection_io_errors_total",
            "counter",
            "Connections that failed mid-request (reset, broken pipe).",
            |s| s.connection_io_errors,
        ),
        (
            "adshard_connections_busy",
            "gauge",
            "Connections with a request in progress now (the rest of the open ones are idle).",
            |s| s.connections_busy,
        ),
        (
            "adshard_connections_evicted_total",
            "counter",
            "Idle connections closed at the connection limit to admit a new one.",
            |s| s.connections_evicted,
        ),
        (
            "adshard_connection_first_byte_timeouts_total",
            "counter",
            "New connections closed for sending nothing within first_byte_timeout_ms.",
            |s| s.connection_first_byte_timeouts,
        ),
        (
            "adshard_budget_refused_total_budget_total",
            "counter",
            "Candidate bids refused because the campaign's total budget had no room.",
            |s| s.delivery.budget_refused_total,
        ),
        (
            "adshard_budget_refused_daily_budget_total",
            "counter",
            "Candidate bids refused because today's budget had no room.",
            |s| s.delivery.budget_refused_daily,
        ),
        (
            "adshard_budget_refused_allowance_total",
            "counter",
            "Candidate bids refused until the other shards acknowledge this shard's spend.",
            |s| s.delivery.budget_refused_allowance,
        ),
        (
            "adshard_budget_rounds_sent_total",
            "counter",
            "Budget delta rounds sent to the other shards.",
            |s| s.delivery.budget_rounds_sent,
        ),
        (
            "adshard_budget_rounds_applied_total",
            "counter",
            "Budget delta rounds received from other shards and applied.",
            |s| s.delivery.budget_rounds_applied,
        ),
        (
            "adshard_budget_unreserved_spend_total",
            "counter",
            "Spend events whose budget commitment had already been released (outside the bound).",
            |s| s.delivery.budget_unreserved_spend,
        ),
        (
            "adshard_pacing_throttled_total",
            "counter",
            "Candidate bids skipped by even pacing.",
            |s| s.delivery.pacing_throttled,
        ),
        (
            "adshard_freqcap_users",
            "gauge",
            "Users with frequency-cap counts on this shard.",
            |s| s.delivery.freqcap_users,
        ),
        (
            "adshard_freqcap_evicted_total",
            "counter",
            "Users evicted from the frequency-cap store (least recently seen first).",
            |s| s.delivery.freqcap_evicted,
        ),
        (
            "adshard_routed_out_total",
            "counter",
            "Auctions handed to the shard owning their user.",
            |s| s.delivery.routed_out,
        ),
        (
            "adshard_routed_in_total",
            "counter",
            "Auctions decided here for the shard that accepted them.",
            |s| s.delivery.routed_in,
        ),
        (
            "adshard_overload_queue_delay_us",
            "gauge",
            "Smoothed queueing delay of the shard's request queue, in microseconds.",
            |s| s.overload.delay_us,
        ),
        (
            "adshard_overload_in_flight",
            "gauge",
            "Auctions accepted and not yet answered.",
            |s| s.overload.in_flight,
        ),
        (
            "adshard_overload_level",
            "gauge",
            "0 normal, 1 no external fan-out, 2 local campaigns only, 3 shedding.",
            |s| u64::from(s.overload.level),
        ),
        (
            "adshard_route_slots_exhausted_total",
            "counter",
            "Auctions served where they landed because every routing slot was taken.",
            |s| s.delivery.route_slots_exhausted,
        ),
    ];
    for (name, kind, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for snapshot in snapshots {
            let _ = writeln!(
                out,
                "{name}{{shard=\"{}\"}} {}",
                snapshot.shard_idx,
                value(snapshot)
            );
        }
    }
    let mut local = DecideHistogram::default();
    let mut routed = DecideHistogram::default();
    for snapshot in snapshots {
        local.add(&snapshot.decide.local);
        routed.add(&snapshot.decide.routed);
    }
    out.push_str("# HELP adshard_auction_decide_seconds Time from an auction's body read to its response ready: decided on the shard that accepted it (local), or handed to the user's owner shard and back (routed). All shards, 1 us resolution.\n");
    out.push_str("# TYPE adshard_auction_decide_seconds summary\n");
    for (route, histogram) in [("local", &local), ("routed", &routed)] {
        for quantile in [0.5, 0.9, 0.99, 0.999] {
            if let Some(us) = histogram.quantile_us(quantile) {
                let _ = writeln!(
                    out,
                    "adshard_auction_decide_seconds{{route=\"{route}\",quantile=\"{quantile}\"}} {}",
                    us as f64 / 1e6
                );
            }
        }
        let _ = writeln!(
            out,
            "adshard_auction_decide_seconds_count{{route=\"{route}\"}} {}",
            histogram.total()
        );
    }
    render_bidders(snapshots, out);
    render_overload(snapshots, out);
    render_tracking(snapshots, out);
    // Campaign counters are summed over shards: which shard counted an event is an accident of
    // routing, and one series per campaign keeps the cardinality at the campaign count.
    let mut campaigns: std::collections::BTreeMap<&str, CampaignCounters> = Default::default();
    for snapshot in snapshots {
        for (id, counters) in &snapshot.campaigns {
            campaigns.entry(id.as_str()).or_default().add(counters);
        }
    }
    out.push_str(
        "# HELP adshard_campaign_events_total Bids, wins, impressions, billing notices and clicks per campaign.\n",
    );
    out.push_str("# TYPE adshard_campaign_events_total counter\n");
    for (id, counters) in &campaigns {
        for (event, count) in [
            ("bid", counters.bids),
            ("win", counters.wins),
            ("impression", counters.impressions),
            ("billing", counters.billings),
            ("click", counters.clicks),
        ] {
            let _ = writeln!(
                out,
                "adshard_campaign_events_total{{campaign=\"{}\",event=\"{event}\"}} {count}",
                LabelValue(id)
            );
        }
    }
    out.push_str(
        "# HELP adshard_campaign_spend_micros_total Spend per campaign, in micro-units of its currency.\n",
    );
    out.push_str("# TYPE adshard_campaign_spend_micros_total counter\n");
    for (id, counters) in &campaigns {
        let _ = writeln!(
            out,
            "adshard_campaign_spend_micros_total{{campaign=\"{}\"}} {}",
            LabelValue(id),
            counters.spend_micros
        );
    }
}

/// The tracking calls per event and outcome, and the clearing prices not believed.
fn render_tracking(snapshots: &[StatsSnapshot], out: &mut String) {
    let event_label =
        |event_idx: usize| EventKind::ALL.get(event_idx).map_or("other", |k| k.label());
    out.push_str(
        "# HELP adshard_tracking_requests_total Tracking requests by event and outcome.\n",
    );
    out.push_str("# TYPE adshard_tracking_requests_total counter\n");
    for snapshot in snapshots {
        for (event_idx, row) in snapshot.tracking.iter().enumerate() {
            for (outcome_idx, count) in row.iter().enumerate() {
                if *count == 0 {
                    continue;
                }
                let _ = writeln!(
                    out,
                    "adshard_tracking_requests_total{{shard=\"{}\",event=\"{}\",outcome=\"{}\"}} {}",
                    snapshot.shard_idx,
                    event_label(event_idx),
                    TrackingOutcome::ALL.get(outcome_idx).map_or("other", |o| o.label()),
                    count
                );
            }
        }
    }
    out.push_str("# HELP adshard_tracking_prices_refused_total Clearing prices (p) on win and billing notices not believed, by reason (per request: a first such notice is charged at the signed price).\n");
    out.push_str("# TYPE adshard_tracking_prices_refused_total counter\n");
    for snapshot in snapshots {
        for (event_idx, row) in snapshot.prices_refused.iter().enumerate() {
            for (refusal_idx, count) in row.iter().enumerate() {
                if *count == 0 {
                    continue;
                }
                let _ = writeln!(
                    out,
                    "adshard_tracking_prices_refused_total{{shard=\"{}\",event=\"{}\",reason=\"{}\"}} {}",
                    snapshot.shard_idx,
                    event_label(event_idx),
                    PriceRefusal::ALL.get(refusal_idx).map_or("other", |r| r.label()),
                    count
                );
            }
        }
    }
    out.push_str("# HELP adshard_tracking_bids_refused_total Winning bids not made because the shard's dedupe window was full: it could not judge more live tokens' events exactly (tracking.bids_per_shard_per_s_max).\n");
    out.push_str("# TYPE adshard_tracking_bids_refused_total counter\n");
    for snapshot in snapshots {
        let _ = writeln!(
            out,
            "adshard_tracking_bids_refused_total{{shard=\"{}\"}} {}",
            snapshot.shard_idx, snapshot.tracking_bids_refused
        );
    }
    out.push_str("# HELP adshard_tracking_dedupe_bytes Memory of the shard's dedupe window (4 bits per bid over the token TTL).\n");
    out.push_str("# TYPE adshard_tracking_dedupe_bytes gauge\n");
    for snapshot in snapshots {
        let _ = writeln!(
            out,
            "adshard_tracking_dedupe_bytes{{shard=\"{}\"}} {}",
            snapshot.shard_idx, snapshot.tracking_window_bytes
        );
    }
}

/// A Prometheus label value, escaped as the text format requires (backslash, quote, newline).
struct LabelValue<'a>(&'a str);

impl std::fmt::Display for LabelValue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c => std::fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

/// Auctions answered per escape-valve level, per shard (its signals are among the shard gauges).
fn render_overload(snapshots: &[StatsSnapshot], out: &mut String) {
    use crate::overload::Level;
    let name = "adshard_overload_auctions_total";
    let _ = writeln!(
        out,
        "# HELP {name} Auctions by the level they were answered at (shed: 204 before parsing).\n# TYPE {name} counter"
    );
    for snapshot in snapshots {
        for (level, count) in Level::ALL.iter().zip(snapshot.overload.answered) {
            let _ = writeln!(
                out,
                "{name}{{shard=\"{}\",level=\"{}\"}} {count}",
                snapshot.shard_idx,
                level.label()
            );
        }
    }
}

/// Per-bidder series, summed over shards (one series per bidder and label keeps the
/// cardinality at the bidder count), except the connection gauge, which is per shard.
fn render_bidders(snapshots: &[StatsSnapshot], out: &mut String) {
    use crate::bidders::fanout::{BidderCounters, ERROR_LABELS};
    let mut totals: Vec<(&str, BidderCounters)> = Vec::new();
    for snapshot in snapshots {
        for bidder in &snapshot.bidders {
            match totals.iter_mut().find(|(name, _)| *name == bidder.name) {
                Some((_, total)) => total.add(&bidder.counters),
                None => totals.push((&bidder.name, bidder.counters.clone())),
            }
        }
    }
    if totals.is_empty() {
        return;
    }
    type Counter = (&'static str, &'static str, fn(&BidderCounters) -> u64);
    let counters: [Counter; 12] = [
        (
            "adshard_bidder_requests_total",
            "Bid requests sent to the bidder.",
            |c| c.requests,
        ),
        (
            "adshard_bidder_skipped_health_total",
            "Requests not sent: health throttling after errors and timeouts.",
            |c| c.skipped_health,
        ),
        (
            "adshard_bidder_skipped_shaping_total",
            "Requests not sent: traffic shaping (low learned bid rate in the context).",
            |c| c.skipped_shaping,
        ),
        (
            "adshard_bidder_explored_total",
            "Requests sent although shaping predicted no bid (exploration).",
            |c| c.explored,
        ),
        (
            "adshard_bidder_skipped_no_imps_total",
            "Requests not sent: no imp of a media kind the bidder buys.",
            |c| c.skipped_no_imps,
        ),
        (
            "adshard_bidder_skipped_no_time_total",
            "Requests not sent: too little time left before the deadline.",
            |c| c.skipped_no_time,
        ),
        (
            "adshard_bidder_no_bids_total",
            "Answers without a bid (204 or an empty seatbid).",
            |c| c.no_bids,
        ),
        (
            "adshard_bidder_bids_total",
            "Valid bids received before the deadline.",
            |c| c.bids,
        ),
        (
            "adshard_bidder_wins_total",
            "Bids that won their impression.",
            |c| c.wins,
        ),
        (
            "adshard_bidder_invalid_responses_total",
            "Answers that were not a usable bid response.",
            |c| c.invalid_responses,
        ),
        (
            "adshard_bidder_timeouts_total",
            "Exchanges with no full answer by the deadline (late bids dropped).",
            |c| c.timeouts(),
        ),
        (
            "adshard_bidder_chunked_responses_total",
            "Answers framed with Transfer-Encoding: chunked and decoded whole.",
            |c| c.chunked_responses,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (bidder, total) in &totals {
            let _ = writeln!(out, "{name}{{bidder=\"{bidder}\"}} {}", value(total));
        }
    }
    let name = "adshard_bidder_errors_total";
    let _ = writeln!(
        out,
        "# HELP {name} Failed exchanges with the bidder, by kind.\n# TYPE {name} counter"
    );
    for (bidder, total) in &totals {
        for (label, count) in ERROR_LABELS.iter().zip(total.errors) {
            let _ = writeln!(
                out,
                "{name}{{bidder=\"{bidder}\",error=\"{label}\"}} {count}"
            );
        }
    }
    let name = "adshard_bidder_bids_rejected_total";
    let _ = writeln!(
        out,
        "# HELP {name} Bids dropped by validation, by reason.\n# TYPE {name} counter"
    );
    for (bidder, total) in &totals {
        for (reason, count) in total.rejected.iter() {
            if count > 0 {
                let _ = writeln!(
                    out,
                    "{name}{{bidder=\"{bidder}\",reason=\"{}\"}} {count}",
                    reason.as_str()
                );
            }
        }
    }
    let name = "adshard_bidder_latency_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time from sending a bid request to its full answer.\n# TYPE {name} summary"
    );
    for (bidder, total) in &totals {
        let _ = writeln!(
            out,
            "{name}_sum{{bidder=\"{bidder}\"}} {}",
            total.latency_us_sum as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "{name}_count{{bidder=\"{bidder}\"}} {}",
            total.latency_count
        );
    }
    let name = "adshard_bidder_connections_open";
    let _ = writeln!(
        out,
        "# HELP {name} Connections open to the bidder (idle and in use).\n# TYPE {name} gauge"
    );
    for snapshot in snapshots {
        for bidder in &snapshot.bidders {
            let _ = writeln!(
                out,
                "{name}{{shard=\"{}\",bidder=\"{}\"}} {}",
                snapshot.shard_idx, bidder.name, bidder.connections_open
            );
        }
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
