//! The auction's configuration (`[auction]` in the config file): the pricing rule and the
//! per-request win cap. Owned by the auction so that it needs nothing from `config`, which only
//! gathers this section with the others.

use serde::Deserialize;

/// How the auction prices the winner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PricingRule {
    /// The winner pays its bid.
    FirstPrice,
    /// The winner pays the second-highest eligible bid (or the floor) plus 0.01 in the bid
    /// currency, never more than its own bid.
    SecondPrice,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuctionConfig {
    pub pricing: PricingRule,
    /// Impressions one campaign may win in one request. 1 keeps one advertiser from taking
    /// every slot of a page.
    pub campaign_wins_per_request_max: u32,
}

impl Default for AuctionConfig {
    fn default() -> Self {
        AuctionConfig {
            pricing: PricingRule::SecondPrice,
            campaign_wins_per_request_max: 1,
        }
    }
}
