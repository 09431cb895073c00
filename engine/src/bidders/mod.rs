//! External bidders (DSPs): what the server asks them over OpenRTB and what it accepts back.
//!
//! A shard fans a bid request out to the configured bidders over its own keep-alive connection
//! pools, waits until the request's deadline at most, and lets the valid bids compete with its
//! own campaigns in one auction (design.md §6).
//!
//! - [`outbound`]: the bid request each bidder gets, written from the incoming body (imps it
//!   takes, `ext` pruned, `tmax` set to its share of the deadline, 2.6 down-converted to 2.5).
//! - [`client`]: per shard and bidder, a bounded pool of keep-alive HTTP/1.1 connections.
//! - [`fanout`]: the deadline arithmetic, asking the bidders concurrently, counting per bidder.
//! - [`response`]: a bidder's bid response parsed, each bid validated against the request and
//!   converted into the auction's [`ExternalBid`](crate::auction::ExternalBid).

pub mod client;
mod config;
pub mod fanout;
pub mod outbound;
pub mod response;
pub mod shaping;

use serde::Deserialize;

use crate::adrequest::MediaKinds;
pub use config::{
    BidderConfig, FanoutConfig, BIDDERS_MAX, BIDDER_CONNECTIONS_CEILING, PRICE_CPM_CEILING,
    PRICE_CPM_MAX_DEFAULT,
};

/// The media kind a bidder's configuration names ("banner", "video", "audio", "native").
pub fn media_kind(name: &str) -> Option<MediaKinds> {
    match name {
        "banner" => Some(MediaKinds::BANNER),
        "video" => Some(MediaKinds::VIDEO),
        "audio" => Some(MediaKinds::AUDIO),
        "native" => Some(MediaKinds::NATIVE),
        _ => None,
    }
}

/// The union of the media kinds `names` name; unknown names are left out (`check-config`
/// reports them).
pub fn media_kinds(names: &[String]) -> MediaKinds {
    let mut kinds = MediaKinds::default();
    for kind in names.iter().filter_map(|name| media_kind(name)) {
        kinds.insert(kind);
    }
    kinds
}

/// The OpenRTB version a bidder speaks; the server reads both and writes either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum OpenRtbVersion {
    #[serde(rename = "2.5")]
    V2_5,
    #[default]
    #[serde(rename = "2.6")]
    V2_6,
}
