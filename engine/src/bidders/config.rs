//! The bidders' configuration (`[[bidders]]` and `[fanout]` in the config file) and its limits.
//!
//! Defined here, next to the pools and the fan-out they size, so that `bidders` needs nothing
//! from `config`; `config` gathers these sections and checks them with the rest of the file.

use serde::Deserialize;

use super::OpenRtbVersion;

/// Most bidders in one configuration: each request may fan out to every one, and a shard keeps
/// a pool per bidder; the per-request state (futures, buffers) is sized by this at compile time.
pub const BIDDERS_MAX: usize = 16;

/// Connections one shard may keep to one bidder: beyond a few hundred, a bidder is better
/// served by fewer, busier connections, and each costs a file descriptor and buffers.
pub const BIDDER_CONNECTIONS_CEILING: usize = 1024;

/// Highest `price_cpm_max` a configuration may set (global or per bidder): the highest floor a
/// request may carry. Above it the cap would never bind, since
/// [`PRICE_MICROS_MAX`](super::response::PRICE_MICROS_MAX) already refuses such prices.
pub const PRICE_CPM_CEILING: f64 = crate::adrequest::BIDFLOOR_MAX;

/// Default `fanout.price_cpm_max`: 1000 (USD with the default base currency) per thousand
/// impressions, a dollar an impression. The dearest real inventory (premium video, private
/// deals) clears at tens to a few hundred per thousand, so this stops a bidder's typo (a
/// price in cents or micro-units, 999999) from winning without ever refusing a real bid.
pub const PRICE_CPM_MAX_DEFAULT: f64 = 1000.0;

const _: () = assert!(PRICE_CPM_MAX_DEFAULT > 0.0 && PRICE_CPM_MAX_DEFAULT <= PRICE_CPM_CEILING);

/// One external bidder (DSP) asked over OpenRTB.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BidderConfig {
    /// Unique; names the bidder in metrics, logs and tracking tokens.
    pub name: String,
    /// `http://IP:PORT/path` (or `localhost`): resolved once at start, never per request.
    pub endpoint: String,
    /// "2.5" or "2.6": a 2.5 bidder gets the request down-converted.
    pub openrtb_version: OpenRtbVersion,
    /// The most time this bidder is given, however much the request's deadline leaves.
    pub timeout_ms: u64,
    /// Connections one shard may hold open to this bidder; a request that finds all in use
    /// does not ask this bidder.
    pub connections_per_shard_max: usize,
    /// Connections each shard opens at start, so the first requests pay no handshake.
    pub connections_warm: usize,
    /// Media the bidder buys ("banner", "video", "audio", "native"); it gets only the imps
    /// offering one of them.
    pub media: Vec<String>,
    /// Off: configured but never asked.
    pub enabled: bool,
    /// Highest price accepted from this bidder, per thousand impressions in the base currency
    /// (`currency.base`); a bid above it is dropped and counted (`price_above_max`). Absent:
    /// `fanout.price_cpm_max`.
    pub price_cpm_max: Option<f64>,
}

impl Default for BidderConfig {
    fn default() -> Self {
        BidderConfig {
            name: String::new(),
            endpoint: String::new(),
            openrtb_version: OpenRtbVersion::V2_6,
            timeout_ms: 100,
            connections_per_shard_max: 64,
            connections_warm: 4,
            media: vec![
                "banner".into(),
                "video".into(),
                "audio".into(),
                "native".into(),
            ],
            enabled: true,
            price_cpm_max: None,
        }
    }
}

/// How the time of a request is shared out (design.md §6): the deadline is the arrival plus
/// `min(tmax, tmax_max_ms)` minus `response_reserve_ms`; each bidder gets what remains minus
/// `network_buffer_ms` (at most its own `timeout_ms`), and is skipped when that is below
/// `bidder_time_min_ms`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FanoutConfig {
    /// Cap on the request's `tmax`, and the budget of a request without one.
    pub tmax_max_ms: u64,
    /// Kept back from the deadline for the auction and writing the response.
    pub response_reserve_ms: u64,
    /// Subtracted from what remains when telling a bidder its `tmax`: the time its answer
    /// spends on the network and in our parser.
    pub network_buffer_ms: u64,
    /// A bidder given less than this is not asked: it could not answer in time.
    pub bidder_time_min_ms: u64,
    /// Largest bid response read from a bidder; a longer one is dropped and counted. For a
    /// chunked answer, the decoded body (its encoded bytes are bounded by
    /// `http::chunked::encoded_bytes_max` of this).
    pub response_bytes_max: usize,
    /// Send fewer requests to a bidder whose recent exchanges failed or timed out (never fewer
    /// than an exploration share; see `bidders::shaping`).
    pub health_throttling: bool,
    /// Skip a bidder in contexts where it has learned to seldom bid (with an exploration
    /// share).
    pub traffic_shaping: bool,
    /// Highest price accepted from a bidder that sets no `price_cpm_max` of its own, per
    /// thousand impressions in the base currency (`currency.base`).
    pub price_cpm_max: f64,
}

impl Default for FanoutConfig {
    fn default() -> Self {
        FanoutConfig {
            tmax_max_ms: 100,
            response_reserve_ms: 2,
            network_buffer_ms: 5,
            bidder_time_min_ms: 5,
            response_bytes_max: 256 * 1024,
            health_throttling: true,
            traffic_shaping: true,
            price_cpm_max: PRICE_CPM_MAX_DEFAULT,
        }
    }
}

impl BidderConfig {
    /// This bidder's price cap in CPM of the base currency: its own, else the fan-out's.
    pub fn price_cpm_max(&self, fanout: &FanoutConfig) -> f64 {
        self.price_cpm_max.unwrap_or(fanout.price_cpm_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bidder_without_a_cap_takes_the_fanout_one() {
        let fanout = FanoutConfig {
            price_cpm_max: 300.0,
            ..FanoutConfig::default()
        };
        let own = BidderConfig {
            price_cpm_max: Some(5.0),
            ..BidderConfig::default()
        };
        assert_eq!(BidderConfig::default().price_cpm_max(&fanout), 300.0);
        assert_eq!(own.price_cpm_max(&fanout), 5.0);
        assert_eq!(FanoutConfig::default().price_cpm_max, PRICE_CPM_MAX_DEFAULT);
    }
}
