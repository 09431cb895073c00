//! Whether a bidder is asked at all: health throttling and traffic shaping (design.md §6).
//!
//! Asking a bidder costs both sides: a body written, a pooled connection held until the answer
//! or the deadline, a parse, and the bidder's own capacity (which DSPs meter and cap). Two
//! kinds of request are not worth that cost, and each has its own structure here, one per
//! bidder on each shard:
//!
//! - [`BidderHealth`]: a bidder that errors or times out is usually overloaded or down. Full
//!   traffic keeps it down and ties up our connections until each deadline, for answers that
//!   arrive too late anyway, so it gets a share of the requests that falls as its failure rate
//!   rises. The share never falls below an exploration share, and the failure rate is measured
//!   on the requests actually sent, so the bidder's recovery is seen and its share climbs back
//!   to 1 within a bounded time ([`HealthSettings::recovery_ms_bound`]).
//! - [`BidRateModel`]: a bidder that (almost) never bids on a context (publisher or app, country,
//!   media format) is not asked about that context. The bid rate is learned per context from
//!   the answers, in a bounded table; an exploration share of the skipped requests is still
//!   sent, so a context the bidder starts buying is learned again.
//!
//! Both are pure and synchronous, like `pacing`: time is the caller's monotonic `now_ms`
//! (milliseconds since any fixed origin, such as the shard's start) and randomness a
//! [`PacingRng`] the caller owns, so a test simulates minutes of traffic in milliseconds and the
//! same seed gives the same decisions. Nothing allocates after `new` and nothing is shared
//! between shards: each shard learns from its own traffic, which is a fair sample of the whole.

use crate::pacing::PacingRng;

/// Failure (error or timeout) rate up to which a bidder gets all its requests: real bidders
/// time out on a few percent of requests in normal operation (GC pauses, slow paths), and
/// throttling them for that would only cost bids.
pub const HEALTH_ERROR_RATE_THRESHOLD: f64 = 0.10;

/// The smallest share of requests a failing bidder still gets: enough samples to see it recover
/// within seconds at any traffic worth throttling, little enough to unload it by 90%.
pub const HEALTH_EXPLORATION_SHARE: f64 = 0.10;

/// Half-life of the decayed outcome counts. Short enough that a dead bidder is throttled within
/// a few seconds and a recovered one is back within [`HealthSettings::recovery_ms_bound`]
/// (about 6.6 s with the defaults); long enough that at 100 requests per second the estimate
/// rests on about 290 exchanges (29 at the exploration share), and that a half-second blip of
/// timeouts lowers the share by about a tenth only.
pub const HEALTH_HALF_LIFE_MS: u64 = 2_000;

/// Decayed exchanges below which the failure rate is shrunk towards zero (failures are divided
/// by this instead of by the exchanges): two failures among the first three requests of a shard
/// are no evidence of anything. At low traffic a failing bidder is therefore only partly
/// throttled, which is fine: below about 10 requests per second neither its load nor our
/// connections are worth protecting.
pub const HEALTH_MIN_SAMPLES: u32 = 20;

/// Slope of the share above the threshold: share = 1 - slope x (rate - threshold). With 2, a
/// bidder failing 30% of the time gets 60% of its requests, and one failing 55% or more gets the
/// exploration share only.
pub const HEALTH_SHARE_DROP_PER_ERROR_RATE: f64 = 2.0;

const _: () = assert!(HEALTH_ERROR_RATE_THRESHOLD > 0.0 && HEALTH_ERROR_RATE_THRESHOLD < 1.0);
const _: () = assert!(HEALTH_EXPLORATION_SHARE > 0.0 && HEALTH_EXPLORATION_SHARE <= 1.0);
const _: () = assert!(HEALTH_HALF_LIFE_MS > 0 && HEALTH_MIN_SAMPLES > 0);

/// Bid rate below which a context is not sent to a bidder: at 2%, 98 requests of 100 are wasted,
/// while the bid that the two would bring rarely wins against bidders that do buy the context.
pub const SHAPING_BID_RATE_THRESHOLD: f64 = 0.02;

/// Share of the skipped requests still sent, so that the bid rate of a skipped context keeps
/// being measured: a context the bidder starts buying is sent again within about 1200
/// requests (see [`SHAPING_HALF_LIFE_REQUESTS`]) at a cost of 5% of the saving.
pub const SHAPING_EXPLORATION_SHARE: f64 = 0.05;

/// Observations (decayed) of a context before its bid rate is trusted: at 200 requests, a
/// context the bidder buys 5% of the time shows fewer than 4 bids (a rate under the threshold)
/// with a probability of about 1%.
pub const SHAPING_MIN_REQUESTS: u32 = 200;

/// Half-life of a context's (bids, requests) counts, in observations of that context, not in
/// time: traffic per context differs by orders of magnitude, and a time constant fit for a hot
/// context would forget a cold one before it is learned. With 1000, the estimate rests on about
/// 1440 observations, so a context bought 3% of the time reads under 2% about once in a
/// thousand, and a context whose rate rises from 0 to 50% crosses the threshold after about 60
/// explored observations (1200 requests at the exploration share).
pub const SHAPING_HALF_LIFE_REQUESTS: u32 = 1_000;

/// Contexts learned per bidder per shard. A shard sees a long tail of publishers; the few
/// thousand most recent carry nearly all the traffic, and the rest are treated as unknown (sent).
/// 4096 entries of 24 bytes are 96 KiB per bidder, 1.5 MiB per shard at `BIDDERS_MAX` (16).
pub const SHAPING_CONTEXTS_MAX: usize = 4_096;

/// Upper bound of a configured `contexts_max`, so a typo cannot reserve gigabytes per bidder.
pub const SHAPING_CONTEXTS_CEILING: usize = 1 << 20;

/// Entries per set of the table: a key may sit in any of the 4 entries of its set, so two hot
/// contexts that hash to the same set do not evict each other (as they would in a direct-mapped
/// table), while a lookup still reads one cache line and a half at most.
pub const SHAPING_CONTEXT_WAYS: usize = 4;

const _: () = assert!(SHAPING_CONTEXTS_MAX % SHAPING_CONTEXT_WAYS == 0);
const _: () = assert!(SHAPING_CONTEXTS_MAX <= SHAPING_CONTEXTS_CEILING);
// The decayed request weight tends to half-life / ln 2 (> half-life): the minimum must be below
// it or no context is ever trusted.
const _: () = assert!(SHAPING_MIN_REQUESTS < SHAPING_HALF_LIFE_REQUESTS);
const _: () = assert!(SHAPING_EXPLORATION_SHARE > 0.0 && SHAPING_EXPLORATION_SHARE <= 1.0);

/// A finite `value` clamped to `low..=high`, or `fallback`: settings are clamped to sane values,
/// never trusted to avoid a division by zero or a NaN share.
fn finite_in(value: f64, low: f64, high: f64, fallback: f64) -> f64 {
    if value.is_finite() {
        value.clamp(low, high)
    } else {
        fallback
    }
}

/// How one exchange with a bidder ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered with at least one bid.
    Ok,
    /// Answered without a bid (204, or an empty seatbid).
    NoBid,
    /// No complete answer by the deadline.
    Timeout,
    /// Anything else that failed: connection, status, unusable body.
    Error,
}

impl Outcome {
    /// Whether the exchange counts against the bidder's health. A no-bid is a healthy answer.
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Timeout | Outcome::Error)
    }
}

/// Tunables of [`BidderHealth`]; `Default` gives the `HEALTH_*` constants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthSettings {
    /// Failure rate up to which the share is 1, in [0.001, 0.999].
    pub error_rate_threshold: f64,
    /// The lowest share, in [0.001, 1].
    pub exploration_share: f64,
    /// Half-life of the decayed outcome counts, in [1 ms, 1 h].
    pub half_life_ms: u64,
    /// Decayed exchanges below which the failure rate is shrunk towards zero, at least 1.
    pub min_samples: u32,
    /// Share lost per unit of failure rate above the threshold, in [0.01, 1000].
    pub share_drop_per_error_rate: f64,
}

impl Default for HealthSettings {
    fn default() -> HealthSettings {
        HealthSettings {
            error_rate_threshold: HEALTH_ERROR_RATE_THRESHOLD,
            exploration_share: HEALTH_EXPLORATION_SHARE,
            half_life_ms: HEALTH_HALF_LIFE_MS,
            min_samples: HEALTH_MIN_SAMPLES,
            share_drop_per_error_rate: HEALTH_SHARE_DROP_PER_ERROR_RATE,
        }
    }
}

impl HealthSettings {
    /// These settings with every value clamped into its documented range.
    pub fn sanitized(self) -> HealthSettings {
        HealthSettings {
            error_rate_threshold: finite_in(
                self.error_rate_threshold,
                0.001,
                0.999,
                HEALTH_ERROR_RATE_THRESHOLD,
            ),
            exploration_share: finite_in(
                self.exploration_share,
                0.001,
                1.0,
                HEALTH_EXPLORATION_SHARE,
            ),
            half_life_ms: self.half_life_ms.clamp(1, 3_600_000),
            min_samples: self.min_samples.max(1),
            share_drop_per_error_rate: finite_in(
                self.share_drop_per_error_rate,
                0.01,
                1_000.0,
                HEALTH_SHARE_DROP_PER_ERROR_RATE,
            ),
        }
    }

    /// How long after a bidder stops failing its share is back to 1 at the latest, provided the
    /// exchanges sent keep the decayed exchange count at least where it was (steady traffic at
    /// or above `min_samples` per half-life): the failures then decay by half per half-life
    /// while the exchanges do not fall, so the rate is below `2^(-t / half-life)`, which
    /// reaches the threshold after `half-life x log2(1 / threshold)` (6.6 s by default).
    pub fn recovery_ms_bound(&self) -> u64 {
        let settings = self.sanitized();
        let half_lives = (1.0 / settings.error_rate_threshold).log2();
        (settings.half_life_ms as f64 * half_lives).ceil() as u64
    }
}

/// The health of one bidder as one shard sees it: a decayed failure rate of the exchanges sent,
/// and from it the share of requests the bidder is sent.
///
/// The share is a function of the current rate only (no controller state), so it cannot wind
/// up or oscillate on its own: it follows the rate, which follows the bidder.
#[derive(Debug, Clone)]
pub struct BidderHealth {
    settings: HealthSettings,
    /// Exchanges sent, exponentially decayed, as of `updated_ms`.
    exchanges: f64,
    /// Of those, the ones that timed out or failed; never more than `exchanges`.
    failures: f64,
    updated_ms: u64,
    throttled: u64,
}

impl BidderHealth {
    pub fn new(settings: HealthSettings) -> BidderHealth {
        BidderHealth {
            settings: settings.sanitized(),
            exchanges: 0.0,
            failures: 0.0,
            updated_ms: 0,
            throttled: 0,
        }
    }

    /// The settings in use (sanitized).
    pub fn settings(&self) -> &HealthSettings {
        &self.settings
    }

    /// Counts the outcome of an exchange that ended at `now_ms`. A `now_ms` earlier than the
    /// latest one (outcomes of concurrent exchanges recorded out of order) counts as the latest.
    pub fn record(&mut self, now_ms: u64, outcome: Outcome) {
        let decay = self.decay(now_ms);
        self.exchanges = self.exchanges * decay + 1.0;
        self.failures *= decay;
        if outcome.is_failure() {
            self.failures += 1.0;
        }
        self.updated_ms = self.updated_ms.max(now_ms);
        debug_assert!(self.failures <= self.exchanges);
    }

    /// The failure (timeout or error) rate of recent exchanges, in [0, 1], shrunk towards zero
    /// while there are fewer than `min_samples` of them.
    pub fn failure_rate(&self, now_ms: u64) -> f64 {
        if self.failures == 0.0 {
            return 0.0;
        }
        // Both counts decay by the same factor, so it only matters against `min_samples`.
        let decay = self.decay(now_ms);
        let exchanges = (self.exchanges * decay).max(f64::from(self.settings.min_samples));
        (self.failures * decay / exchanges).clamp(0.0, 1.0)
    }

    /// The share of requests to send, in [`exploration_share`, 1]: 1 up to the threshold, then
    /// falling linearly with the failure rate down to the exploration share.
    ///
    /// [`exploration_share`]: HealthSettings::exploration_share
    pub fn send_share(&self, now_ms: u64) -> f64 {
        let rate = self.failure_rate(now_ms);
        let settings = &self.settings;
        if rate <= settings.error_rate_threshold {
            return 1.0;
        }
        let share =
            1.0 - settings.share_drop_per_error_rate * (rate - settings.error_rate_threshold);
        share.clamp(settings.exploration_share, 1.0)
    }

    /// Whether to send this request: a draw against [`BidderHealth::send_share`]; a request not
    /// sent is counted as throttled. A healthy bidder costs no draw.
    pub fn should_send(&mut self, now_ms: u64, rng: &mut PacingRng) -> bool {
        let share = self.send_share(now_ms);
        if share >= 1.0 || rng.next_f64() < share {
            return true;
        }
        self.throttled += 1;
        false
    }

    /// Requests not sent because of the bidder's health.
    pub fn throttled(&self) -> u64 {
        self.throttled
    }

    /// The factor by which counts decay from `updated_ms` to `now_ms`.
    fn decay(&self, now_ms: u64) -> f64 {
        let elapsed_ms = now_ms.saturating_sub(self.updated_ms);
        if elapsed_ms == 0 {
            return 1.0;
        }
        (-(elapsed_ms as f64) / self.settings.half_life_ms as f64).exp2()
    }
}

/// FNV-1a 64-bit offset basis and prime (Fowler, Noll, Vo; the published parameters).
const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Separates the fields of a context key. 0xFF never occurs in UTF-8, so ("ab", "c") and
/// ("a", "bc") hash different byte strings.
const CONTEXT_FIELD_SEPARATOR: u8 = 0xFF;

#[inline]
fn fnv1a_step(hash: u64, byte: u8) -> u64 {
    (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
}

/// The key of a traffic context: FNV-1a 64 of the bytes
/// `lowercase(domain_or_bundle) 0xFF lowercase(country) 0xFF format`, ASCII letters lowercased
/// so that "Example.com" and "example.com" are one context. `format` is any byte the caller
/// derives consistently from the request's primary media format (for example the bit of its
/// first imp's media kind).
///
/// Fixed and the same on every shard and platform, cheap (one multiply per byte) and without
/// allocation. FNV-1a mixes its high bits poorly, so the table remixes the key before using it;
/// it is not collision-resistant, and two colliding contexts only share a bid rate.
pub fn context_key(domain_or_bundle: &str, country: &str, format: u8) -> u64 {
    let mut hash = FNV_OFFSET_BASIS;
    for &byte in domain_or_bundle.as_bytes() {
        hash = fnv1a_step(hash, byte.to_ascii_lowercase());
    }
    hash = fnv1a_step(hash, CONTEXT_FIELD_SEPARATOR);
    for &byte in country.as_bytes() {
        hash = fnv1a_step(hash, byte.to_ascii_lowercase());
    }
    hash = fnv1a_step(hash, CONTEXT_FIELD_SEPARATOR);
    fnv1a_step(hash, format)
}

/// The splitmix64 finalizer: every key bit flips every output bit with probability about one
/// half, so the set index (taken from the high bits) is uniform whatever hash made the key.
#[inline]
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// What to do with a request for a context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send: the context is unknown, still being learned, or bought often enough.
    Send,
    /// Send although the context is rarely bought: an exploration draw, to keep measuring it.
    Explore,
    /// Do not send.
    Skip,
}

impl Decision {
    /// Whether the request is sent.
    pub fn sends(self) -> bool {
        !matches!(self, Decision::Skip)
    }
}

/// Tunables of [`BidRateModel`]; `Default` gives the `SHAPING_*` constants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShapingSettings {
    /// Bid rate below which a context is skipped, in [0, 1] (0 never skips).
    pub bid_rate_threshold: f64,
    /// Share of would-be skips sent anyway, in [0.001, 1].
    pub exploration_share: f64,
    /// Decayed observations before a context's rate is trusted, in [1, `half_life_requests`].
    pub min_requests: u32,
    /// Half-life of a context's counts in observations of it, in [1, 1 000 000].
    pub half_life_requests: u32,
    /// Table entries, rounded up to a multiple of [`SHAPING_CONTEXT_WAYS`], at most
    /// [`SHAPING_CONTEXTS_CEILING`].
    pub contexts_max: usize,
}

impl Default for ShapingSettings {
    fn default() -> ShapingSettings {
        ShapingSettings {
            bid_rate_threshold: SHAPING_BID_RATE_THRESHOLD,
            exploration_share: SHAPING_EXPLORATION_SHARE,
            min_requests: SHAPING_MIN_REQUESTS,
            half_life_requests: SHAPING_HALF_LIFE_REQUESTS,
            contexts_max: SHAPING_CONTEXTS_MAX,
        }
    }
}

impl ShapingSettings {
    /// These settings with every value clamped into its documented range.
    pub fn sanitized(self) -> ShapingSettings {
        let half_life_requests = self.half_life_requests.clamp(1, 1_000_000);
        let contexts_max = self
            .contexts_max
            .clamp(SHAPING_CONTEXT_WAYS, SHAPING_CONTEXTS_CEILING)
            .next_multiple_of(SHAPING_CONTEXT_WAYS);
        ShapingSettings {
            bid_rate_threshold: finite_in(
                self.bid_rate_threshold,
                0.0,
                1.0,
                SHAPING_BID_RATE_THRESHOLD,
            ),
            exploration_share: finite_in(
                self.exploration_share,
                0.001,
                1.0,
                SHAPING_EXPLORATION_SHARE,
            ),
            min_requests: self.min_requests.clamp(1, half_life_requests),
            half_life_requests,
            contexts_max,
        }
    }
}

/// One learned context. 24 bytes; `last_used == 0` marks an empty entry.
#[derive(Debug, Clone, Copy, Default)]
struct Context {
    key: u64,
    /// The table's tick at the latest lookup or record of this context, for eviction.
    last_used: u64,
    /// Decayed bids and observations; `bids <= requests`. f32 keeps the entry small, and
    /// weights stay below 1.5 million, where f32 still resolves the decay step.
    bids: f32,
    requests: f32,
}

/// The learned bid rates of one bidder on one shard, per context key.
///
/// A set-associative table allocated once: a key maps to one set of [`SHAPING_CONTEXT_WAYS`]
/// entries and, when it is not there, takes the empty or least recently used entry of that set.
/// An evicted context is simply unknown again, and an unknown context is always sent, so
/// eviction can cost a re-learning but never a lost bid.
#[derive(Debug, Clone)]
pub struct BidRateModel {
    settings: ShapingSettings,
    contexts: Box<[Context]>,
    n_sets: usize,
    /// Per-observation decay factor, `2^(-1 / half_life_requests)`.
    decay: f32,
    /// Advances at every lookup and record; starts at 1 so 0 can mark empty entries. A u64 does
    /// not wrap in any process lifetime.
    tick: u64,
    skipped: u64,
    explored: u64,
}

impl BidRateModel {
    pub fn new(settings: ShapingSettings) -> BidRateModel {
        let settings = settings.sanitized();
        let contexts = vec![Context::default(); settings.contexts_max].into_boxed_slice();
        let n_sets = settings.contexts_max / SHAPING_CONTEXT_WAYS;
        assert!(n_sets > 0 && n_sets * SHAPING_CONTEXT_WAYS == contexts.len());
        BidRateModel {
            settings,
            contexts,
            n_sets,
            decay: (-1.0 / f64::from(settings.half_life_requests)).exp2() as f32,
            tick: 0,
            skipped: 0,
            explored: 0,
        }
    }

    /// The settings in use (sanitized).
    pub fn settings(&self) -> &ShapingSettings {
        &self.settings
    }

    /// The learned bid rate of `key`, in [0, 1]; `None` until it has `min_requests` (decayed)
    /// observations, or after it was evicted.
    pub fn predicted_rate(&self, key: u64) -> Option<f64> {
        self.rate_at(self.find(key)?)
    }

    /// Whether to send a request of context `key`: [`Decision::Skip`] when its learned rate is
    /// below the threshold, unless an exploration draw says [`Decision::Explore`]; otherwise
    /// (unknown, still learning, or bought often enough) [`Decision::Send`].
    pub fn should_send(&mut self, key: u64, rng: &mut PacingRng) -> Decision {
        let Some(idx) = self.find(key) else {
            return Decision::Send;
        };
        // A lookup keeps a context fresh too: a skipped context is recorded at the exploration
        // share only, and must not be evicted before the hot contexts it is as busy as.
        self.contexts[idx].last_used = self.next_tick();
        let rate = match self.rate_at(idx) {
            Some(rate) if rate < self.settings.bid_rate_threshold => rate,
            _ => return Decision::Send,
        };
        debug_assert!((0.0..1.0).contains(&rate));
        if rng.next_f64() < self.settings.exploration_share {
            self.explored += 1;
            Decision::Explore
        } else {
            self.skipped += 1;
            Decision::Skip
        }
    }

    /// Learns from an answered exchange of context `key`: whether it brought a bid. Timeouts
    /// and errors say nothing about what the bidder buys and are not recorded here.
    pub fn record(&mut self, key: u64, got_bid: bool) {
        let tick = self.next_tick();
        let idx = match self.find(key) {
            Some(idx) => idx,
            None => {
                let idx = self.victim(key);
                self.contexts[idx] = Context {
                    key,
                    last_used: 0,
                    bids: 0.0,
                    requests: 0.0,
                };
                idx
            }
        };
        let decay = self.decay;
        let context = &mut self.contexts[idx];
        context.last_used = tick;
        context.requests = context.requests * decay + 1.0;
        context.bids = context.bids * decay + if got_bid { 1.0 } else { 0.0 };
        debug_assert!(context.bids <= context.requests);
    }

    /// Requests skipped (not sent) because their context is rarely bought.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Requests sent by an exploration draw although their context is rarely bought.
    pub fn explored(&self) -> u64 {
        self.explored
    }

    /// Contexts learned. Scans the table: for stats and tests, not for the request path.
    pub fn len(&self) -> usize {
        self.contexts.iter().filter(|c| c.last_used != 0).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most contexts the table holds.
    pub fn capacity(&self) -> usize {
        self.contexts.len()
    }

    /// The learned rate of the context in entry `idx`, once it has `min_requests` observations.
    fn rate_at(&self, idx: usize) -> Option<f64> {
        let context = &self.contexts[idx];
        if context.requests < self.settings.min_requests as f32 {
            return None;
        }
        Some((f64::from(context.bids) / f64::from(context.requests)).clamp(0.0, 1.0))
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// The first entry of `key`'s set. Lemire's multiply-high reduction of the remixed key: no
    /// division, and any number of sets.
    fn set_start(&self, key: u64) -> usize {
        let set = ((u128::from(mix(key)) * self.n_sets as u128) >> 64) as usize;
        set * SHAPING_CONTEXT_WAYS
    }

    fn find(&self, key: u64) -> Option<usize> {
        let start = self.set_start(key);
        (start..start + SHAPING_CONTEXT_WAYS).find(|&idx| {
            let context = &self.contexts[idx];
            context.last_used != 0 && context.key == key
        })
    }

    /// The entry a new `key` takes: an empty one of its set, else the least recently used.
    fn victim(&self, key: u64) -> usize {
        let start = self.set_start(key);
        (start..start + SHAPING_CONTEXT_WAYS)
            .min_by_key(|&idx| self.contexts[idx].last_used)
            .unwrap_or(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fnv1a(bytes: &[u8]) -> u64 {
        bytes
            .iter()
            .fold(FNV_OFFSET_BASIS, |hash, &b| fnv1a_step(hash, b))
    }

    #[test]
    fn fnv1a_matches_published_vectors() {
        // From the FNV reference test suite (64-bit FNV-1a).
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn context_key_is_fnv1a_of_the_documented_bytes() {
        let key = context_key("Example.COM", "Usa", 2);
        assert_eq!(key, fnv1a(b"example.com\xffusa\xff\x02"));
        assert_eq!(key, context_key("example.com", "USA", 2));
        assert_ne!(context_key("ab", "c", 1), context_key("a", "bc", 1));
        assert_ne!(context_key("a", "USA", 1), context_key("a", "USA", 2));
    }

    #[test]
    fn context_key_is_stable() {
        // Pinned, so that a change of the hash is a visible decision.
        assert_eq!(context_key("", "", 0), fnv1a(b"\xff\xff\x00"));
        assert_eq!(
            context_key("com.example.app", "DEU", 1),
            0xcd21_d7f3_424c_964e
        );
    }
}
