//! One shard's fan-out to its external bidders: who is asked, with how much time, and what
//! comes back in time.
//!
//! Deadline arithmetic (design.md §6, [`FanoutConfig`]): the request's deadline is its arrival
//! plus `min(tmax, tmax_max_ms)` minus `response_reserve_ms`. A bidder is waited for until the
//! deadline or its own `timeout_ms`, whichever comes first, and is told that time minus
//! `network_buffer_ms` as its `tmax`; it is not asked when that is below `bidder_time_min_ms`.
//! Every wait is bounded by [`BidderPool::post`]'s deadline, so the fan-out ends by the request's
//! deadline whatever the bidders do: an answer that has not fully arrived by then is dropped
//! and counted as a timeout, and its connection closed; one read only at or after the deadline
//! (the shard ran late) is dropped and counted the same way, its connection kept.
//!
//! The bidders are asked concurrently from the request's own task: one future per bidder in a
//! fixed array polled together, so asking costs no task spawn and no allocation per request;
//! request and response bodies come from a per-shard free list of buffers. Answers are parsed
//! after the wait, in configuration order, so the order of bids (and of ties) does not depend
//! on which bidder was faster.

use std::cell::RefCell;
use std::future::Future as _;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use super::client::{BidderEndpoint, BidderError, BidderPool, PoolSettings};
use super::outbound::{write_bid_request, OutboundOptions};
use super::response::{parse_bid_response, RejectCounts, ResponseRules, PRICE_MICROS_MAX};
use super::shaping::{
    context_key, BidRateModel, BidderHealth, Decision, HealthSettings, Outcome, ShapingSettings,
};
use super::{media_kinds, BidderConfig, FanoutConfig, OpenRtbVersion, BIDDERS_MAX};
use crate::adrequest::{AdRequest, CountryCode, MediaKinds};
use crate::auction::ExternalBids;
use crate::clock;
use crate::currency::CurrencyTable;
use crate::openrtb::micros_from_f64;
use crate::pacing::PacingRng;

/// Buffers kept on the free list: two per bidder asked (request and answer) for each request in
/// flight; beyond this, buffers are dropped after use rather than kept.
const BUFFERS_KEPT_MAX: usize = 2 * BIDDERS_MAX * 64;

/// Error labels counted per bidder, as [`BidderError::label`] names them.
pub const ERROR_LABELS: [&str; 8] = [
    "timeout",
    "pool_exhausted",
    "connect",
    "io",
    "status",
    "bad_response",
    "too_large",
    "closed",
];

/// What one bidder did, counted on one shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BidderCounters {
    /// Bid requests sent.
    pub requests: u64,
    /// Not asked: none of the request's imps offers a media kind it buys.
    pub skipped_no_imps: u64,
    /// Not asked: less than `bidder_time_min_ms` remained.
    pub skipped_no_time: u64,
    /// Not asked: health throttling (its recent errors and timeouts lowered its share).
    pub skipped_health: u64,
    /// Not asked: traffic shaping (it seldom bids in this context).
    pub skipped_shaping: u64,
    /// Asked although shaping predicted no bid: the exploration share that keeps learning.
    pub explored: u64,
    /// Answered 204 (or 200 with no bid).
    pub no_bids: u64,
    /// Valid bids received in time.
    pub bids: u64,
    /// Bids that won an impression.
    pub wins: u64,
    /// Answers that were not a usable bid response (garbage, wrong id), counted once each.
    pub invalid_responses: u64,
    /// Failed exchanges by [`ERROR_LABELS`]; a timeout is an answer that arrived late or never.
    pub errors: [u64; ERROR_LABELS.len()],
    /// Dropped bids by reason.
    pub rejected: RejectCounts,
    /// Answers framed with `Transfer-Encoding: chunked` and decoded whole (from the pool).
    pub chunked_responses: u64,
    /// Sum and count of the time from send to answer of exchanges that got one, in microseconds.
    pub latency_us_sum: u64,
    pub latency_count: u64,
}

impl BidderCounters {
    pub fn add(&mut self, other: &BidderCounters) {
        self.requests += other.requests;
        self.skipped_no_imps += other.skipped_no_imps;
        self.skipped_no_time += other.skipped_no_time;
        self.skipped_health += other.skipped_health;
        self.skipped_shaping += other.skipped_shaping;
        self.explored += other.explored;
        self.no_bids += other.no_bids;
        self.bids += other.bids;
        self.wins += other.wins;
        self.invalid_responses += other.invalid_responses;
        for (mine, theirs) in self.errors.iter_mut().zip(other.errors) {
            *mine += theirs;
        }
        self.rejected.merge(&other.rejected);
        self.chunked_responses += other.chunked_responses;
        self.latency_us_sum += other.latency_us_sum;
        self.latency_count += other.latency_count;
    }

    pub fn timeouts(&self) -> u64 {
        self.errors[0]
    }
}

/// One configured bidder on one shard.
struct Bidder {
    name: String,
    pool: BidderPool,
    version: OpenRtbVersion,
    media: MediaKinds,
    timeout: Duration,
    /// Highest price accepted, micro-units of the base currency (see `ResponseRules`).
    price_micros_max: i64,
    counters: RefCell<BidderCounters>,
    health: RefCell<BidderHealth>,
    shaping: RefCell<BidRateModel>,
}

/// The fan-out of one shard: its bidders, their pools and counters.
pub struct Fanout {
    bidders: Vec<Bidder>,
    settings: FanoutConfig,
    buffers: RefCell<Vec<Vec<u8>>>,
    /// Draws of health throttling and shaping's exploration.
    rng: RefCell<PacingRng>,
    /// Origin of the health model's millisecond clock.
    epoch: Instant,
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout")
            .field("bidders", &self.bidders.len())
            .finish()
    }
}

/// The outcome of asking one bidder, kept until every bidder is done.
struct Answer {
    status: Result<u16, BidderError>,
    body: Vec<u8>,
    latency: Duration,
}

impl Fanout {
    /// The enabled bidders of `configs` (validated by `Config::validate`; an endpoint that does
    /// not parse is left out, and `check-config` reports it).
    /// `seed` seeds the draws of health throttling and shaping (one per shard).
    pub fn new(configs: &[BidderConfig], settings: &FanoutConfig, seed: u64) -> Fanout {
        let bidders = configs
            .iter()
            .filter(|config| config.enabled)
            .take(BIDDERS_MAX)
            .filter_map(|config| {
                let endpoint = BidderEndpoint::parse(&config.endpoint).ok()?;
                Some(Bidder {
                    name: config.name.clone(),
                    pool: BidderPool::new(
                        endpoint,
                        PoolSettings {
                            connections_max: config.connections_per_shard_max,
                            connections_warm: config.connections_warm,
                            response_bytes_max: settings.response_bytes_max,
                            connect_timeout: Duration::from_millis(config.timeout_ms),
                        },
                    ),
                    version: config.openrtb_version,
                    media: media_kinds(&config.media),
                    timeout: Duration::from_millis(config.timeout_ms),
                    // Validated to (0, PRICE_CPM_CEILING], which converts exactly.
                    price_micros_max: micros_from_f64(config.price_cpm_max(settings))
                        .unwrap_or(PRICE_MICROS_MAX)
                        .clamp(1, PRICE_MICROS_MAX),
                    counters: RefCell::new(BidderCounters::default()),
                    health: RefCell::new(BidderHealth::new(HealthSettings::default())),
                    shaping: RefCell::new(BidRateModel::new(ShapingSettings::default())),
                })
            })
            .collect();
        Fanout {
            bidders,
            settings: settings.clone(),
            buffers: RefCell::new(Vec::new()),
            rng: RefCell::new(PacingRng::new(seed)),
            epoch: clock::now(),
        }
    }

    /// Whether any bidder is configured: without one, the auction path never awaits.
    pub fn is_active(&self) -> bool {
        !self.bidders.is_empty()
    }

    /// Opens each pool's warm connections; called once when the shard starts.
    pub async fn warm(&self) {
        for bidder in &self.bidders {
            bidder.pool.warm().await;
        }
    }

    /// The bidders' names and counters, in configuration order.
    pub fn counters(&self) -> Vec<(String, BidderCounters)> {
        self.bidders
            .iter()
            .map(|bidder| {
                let mut counters = bidder.counters.borrow().clone();
                counters.chunked_responses = bidder.pool.counters().chunked_responses;
                (bidder.name.clone(), counters)
            })
            .collect()
    }

    /// Connections open to each bidder (idle and in use), in configuration order.
    pub fn connections_open(&self) -> Vec<usize> {
        self.bidders
            .iter()
            .map(|bidder| bidder.pool.open())
            .collect()
    }

    /// Counts a win of bidder `bidder_idx`.
    pub fn count_win(&self, bidder_idx: u16) {
        if let Some(bidder) = self.bidders.get(usize::from(bidder_idx)) {
            bidder.counters.borrow_mut().wins += 1;
        }
    }

    /// The request's deadline: `arrival` plus its `tmax` (capped), minus the response reserve.
    pub fn deadline(&self, request: &AdRequest, arrival: Instant) -> Instant {
        let tmax_ms = request
            .tmax_ms
            .map_or(self.settings.tmax_max_ms, u64::from)
            .min(self.settings.tmax_max_ms);
        arrival + Duration::from_millis(tmax_ms.saturating_sub(self.settings.response_reserve_ms))
    }

    /// Asks every bidder that takes one of `request`'s imps (parsed from `body`) and has time
    /// left before `deadline`, and appends their valid bids to `bids`. Returns by the deadline.
    pub async fn ask_all(
        &self,
        body: &[u8],
        request: &AdRequest,
        deadline: Instant,
        currencies: &CurrencyTable,
        bids: &mut ExternalBids,
    ) {
        let Some(response_currency) = crate::auction::response_currency(request, currencies) else {
            return;
        };
        let started = clock::now();
        let now_ms = started.saturating_duration_since(self.epoch).as_millis() as u64;
        let context = request_context_key(request);
        let asks: [Option<_>; BIDDERS_MAX] = std::array::from_fn(|bidder_idx| {
            let bidder = self.bidders.get(bidder_idx)?;
            if !self.wanted(bidder, context, now_ms) {
                return None;
            }
            self.prepare(bidder, body, started, deadline)
                .map(|(out, wait_until)| self.ask(bidder, out, wait_until))
        });
        let mut asks = pin!(asks);
        let mut answers: [Option<Answer>; BIDDERS_MAX] = std::array::from_fn(|_| None);
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (bidder_idx, answer) in answers.iter_mut().enumerate() {
                // SAFETY: the array is pinned and its elements are never moved: a finished
                // future is dropped in place by `set(None)`, which pinning allows.
                let mut slot = unsafe { asks.as_mut().map_unchecked_mut(|a| &mut a[bidder_idx]) };
                let Some(future) = slot.as_mut().as_pin_mut() else {
                    continue;
                };
                match future.poll(cx) {
                    Poll::Ready(done) => {
                        *answer = Some(done);
                        slot.set(None);
                    }
                    Poll::Pending => pending = true,
                }
            }
            if pending {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;

        for (bidder_idx, answer) in answers.iter_mut().enumerate() {
            let (Some(answer), Some(bidder)) = (answer.take(), self.bidders.get(bidder_idx)) else {
                continue;
            };
            let mut counters = bidder.counters.borrow_mut();
            let outcome = match answer.status {
                Ok(status) => {
                    counters.latency_us_sum += answer.latency.as_micros() as u64;
                    counters.latency_count += 1;
                    if status == 204 || answer.body.is_empty() {
                        counters.no_bids += 1;
                        Outcome::NoBid
                    } else {
                        let rules = ResponseRules {
                            request,
                            currencies,
                            response_currency,
                            bidder_idx: bidder_idx as u16,
                            price_micros_max: bidder.price_micros_max,
                        };
                        let counters = &mut *counters;
                        match parse_bid_response(&answer.body, &rules, bids, &mut counters.rejected)
                        {
                            Ok(0) => {
                                counters.no_bids += 1;
                                Outcome::NoBid
                            }
                            Ok(n_bids) => {
                                counters.bids += n_bids as u64;
                                Outcome::Ok
                            }
                            Err(_) => {
                                counters.invalid_responses += 1;
                                Outcome::Error
                            }
                        }
                    }
                }
                Err(error) => {
                    let label = error.label();
                    if let Some(idx) = ERROR_LABELS.iter().position(|l| *l == label) {
                        counters.errors[idx] += 1;
                    }
                    match error {
                        BidderError::Timeout { .. } => Outcome::Timeout,
                        _ => Outcome::Error,
                    }
                }
            };
            drop(counters);
            bidder.health.borrow_mut().record(now_ms, outcome);
            // Shaping learns what a bidder buys from its answers only: a timeout or an error
            // says nothing about that.
            if matches!(outcome, Outcome::Ok | Outcome::NoBid) {
                bidder
                    .shaping
                    .borrow_mut()
                    .record(context, outcome == Outcome::Ok);
            }
            self.give_back(answer.body);
        }
    }

    /// Health throttling, then traffic shaping: whether `bidder` is asked about a request in
    /// `context` at `now_ms`; counts why not.
    fn wanted(&self, bidder: &Bidder, context: u64, now_ms: u64) -> bool {
        let mut rng = self.rng.borrow_mut();
        if self.settings.health_throttling
            && !bidder.health.borrow_mut().should_send(now_ms, &mut rng)
        {
            bidder.counters.borrow_mut().skipped_health += 1;
            return false;
        }
        if !self.settings.traffic_shaping {
            return true;
        }
        match bidder.shaping.borrow_mut().should_send(context, &mut rng) {
            Decision::Send => true,
            Decision::Explore => {
                bidder.counters.borrow_mut().explored += 1;
                true
            }
            Decision::Skip => {
                bidder.counters.borrow_mut().skipped_shaping += 1;
                false
            }
        }
    }

    /// Writes the bid request for `bidder` and decides how long to wait for it, or counts why
    /// it is not asked.
    fn prepare(
        &self,
        bidder: &Bidder,
        body: &[u8],
        now: Instant,
        deadline: Instant,
    ) -> Option<(Vec<u8>, Instant)> {
        let wait_until = deadline.min(now + bidder.timeout);
        let time = wait_until.saturating_duration_since(now);
        let tmax = time.saturating_sub(Duration::from_millis(self.settings.network_buffer_ms));
        if tmax < Duration::from_millis(self.settings.bidder_time_min_ms) {
            bidder.counters.borrow_mut().skipped_no_time += 1;
            return None;
        }
        let mut out = self.take_buffer();
        let options = OutboundOptions {
            version: bidder.version,
            tmax_ms: u32::try_from(tmax.as_millis()).unwrap_or(u32::MAX),
            media: bidder.media,
        };
        match write_bid_request(body, &options, &mut out) {
            Ok(n_imps) if n_imps > 0 => Some((out, wait_until)),
            _ => {
                bidder.counters.borrow_mut().skipped_no_imps += 1;
                self.give_back(out);
                None
            }
        }
    }

    async fn ask(&self, bidder: &Bidder, out: Vec<u8>, wait_until: Instant) -> Answer {
        bidder.counters.borrow_mut().requests += 1;
        let mut body = self.take_buffer();
        let sent = clock::now();
        let version = match bidder.version {
            OpenRtbVersion::V2_5 => "2.5",
            OpenRtbVersion::V2_6 => "2.6",
        };
        let status = bidder.pool.post(&out, version, wait_until, &mut body).await;
        self.give_back(out);
        Answer {
            status,
            body,
            latency: clock::elapsed_since(sent),
        }
    }

    fn take_buffer(&self) -> Vec<u8> {
        let mut buffer = self.buffers.borrow_mut().pop().unwrap_or_default();
        buffer.clear();
        buffer
    }

    fn give_back(&self, buffer: Vec<u8>) {
        let mut buffers = self.buffers.borrow_mut();
        if buffers.len() < BUFFERS_KEPT_MAX {
            buffers.push(buffer);
        }
    }
}

/// The shaping context of a request: its publisher (app bundle, else site domain), country and
/// the media kind of its first impression.
fn request_context_key(request: &AdRequest) -> u64 {
    let bundle = request.text(request.context.bundle);
    let publisher = if bundle.is_empty() {
        request.text(request.context.domain)
    } else {
        bundle
    };
    let country = request
        .device
        .country
        .as_ref()
        .map_or("", CountryCode::as_str);
    let format = request.imps().first().map_or(0, |imp| {
        [
            (MediaKinds::BANNER, 1),
            (MediaKinds::VIDEO, 2),
            (MediaKinds::AUDIO, 3),
            (MediaKinds::NATIVE, 4),
        ]
        .into_iter()
        .find(|(kind, _)| imp.media.contains(*kind))
        .map_or(0, |(_, code)| code)
    });
    context_key(publisher, country, format)
}

// Bidder indices are u16 in bids and tokens.
const _: () = assert!(BIDDERS_MAX <= u16::MAX as usize);
