//! The auction: per impression, the highest eligible campaign bid above the floor wins, priced
//! by first or second price.
//!
//! Candidates arrive from the targeting index in catalog order, which is bid order (highest
//! normalised bid first, ties broken by campaign id), so the auction stops as soon as it has
//! the winner and the runner-up, or as soon as bids fall under the floor. Everything the
//! index does not decide is checked here, per candidate: flight dates, the per-request win
//! cap, the request's block lists (`badv` on the campaign's adomain, `bcat` and `battr` on the
//! creative), secure, and the choice of a creative that fits the impression.
//!
//! `bapp` blocks advertised apps by bundle; internal campaigns advertise no app bundle, so it
//! cannot match them (it applies to external bids, which declare one).
//!
//! External bidders' bids join afterwards ([`merge_external_bids`]): `bidders::response` has
//! already held each one to the same floors and block lists, so the merge only ranks and
//! prices. [`ExternalBid`] is the auction's own type (module `external`), and the macros of a
//! winning one are substituted here (`macros`) when the response is written, so the auction
//! needs nothing from `bidders`.

mod config;
mod external;
mod macros;
pub mod response;

use std::ops::ControlFlow;

use crate::adrequest::{AdRequest, Imp};
use crate::campaign::{Campaign, Creative};
use crate::currency::{Currency, CurrencyTable};
pub use config::{AuctionConfig, PricingRule};
pub use external::{ExternalBid, ExternalBids};
pub use macros::{push_decimal_micros, substitute_macros, MacroValues};

/// The minimum increment of second price: 0.01 of the bid currency.
pub const SECOND_PRICE_INCREMENT_MICROS: i64 = 10_000;
/// Winners per request: one per impression at most, and requests carry at most
/// `adrequest::IMPS_MAX` impressions.
pub const WINNERS_MAX: usize = crate::adrequest::IMPS_MAX;

/// A campaign as the auction sees it: the model plus what the catalog precomputed.
pub trait CampaignSource {
    fn campaign(&self, campaign_idx: u32) -> &Campaign;
    /// Calls `visit` with each campaign whose targeting matches `imp`, in catalog (bid) order,
    /// until `visit` breaks.
    fn for_each_candidate(
        &self,
        request: &AdRequest,
        imp: &Imp,
        now_unix_s: i64,
        visit: &mut dyn FnMut(u32) -> ControlFlow<()>,
    );
    /// Whether `creative` can serve `imp` (format, size, mimes, duration).
    fn creative_fits(&self, creative: &Creative, request: &AdRequest, imp: &Imp) -> bool;
    /// The creative's pre-escaped markup, when the source keeps one (the catalog does); the
    /// response builds it per request otherwise.
    fn markup_template(
        &self,
        _campaign_idx: u32,
        _creative_idx: usize,
    ) -> Option<&response::MarkupTemplate> {
        None
    }
}

#[derive(Debug, Clone, Copy)]
pub struct AuctionSettings {
    pub pricing: PricingRule,
    pub campaign_wins_per_request_max: u32,
}

/// One impression won.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Winner {
    pub imp_idx: usize,
    pub campaign_idx: u32,
    pub creative_idx: usize,
    /// What the campaign bid, in the response currency.
    pub bid_micros: i64,
    /// What it pays under the pricing rule, in the response currency; never above the bid.
    pub price_micros: i64,
    /// The higher of the runner-up's bid and the floor, in the response currency: what a second
    /// price is built from, kept so that external bids can join the auction afterwards.
    pub runner_up_micros: i64,
    /// `Some(k)`: the impression went to the external bid `k` of the request (see
    /// [`merge_external_bids`]), and `campaign_idx` and `creative_idx` mean nothing.
    pub external_idx: Option<u32>,
}

impl Winner {
    pub fn is_external(&self) -> bool {
        self.external_idx.is_some()
    }
}

/// The outcome of one request's auctions, reused across requests.
#[derive(Debug, Default)]
pub struct AuctionScratch {
    pub winners: Vec<Winner>,
    /// The currency of every price in `winners`.
    pub currency: Currency,
    wins_per_campaign: Vec<(u32, u32)>,
}

/// An eligible bid found during one impression's sweep.
#[derive(Debug, Clone, Copy)]
struct Eligible {
    campaign_idx: u32,
    creative_idx: usize,
    bid_micros: i64,
}

/// The currency bids are made in: the base currency when the request allows it (no `cur`, or
/// `cur` lists it), else the first allowed currency we have a rate for.
pub fn response_currency(request: &AdRequest, currencies: &CurrencyTable) -> Option<Currency> {
    let allowed = request.currencies();
    if allowed.is_empty() || allowed.contains(&currencies.base()) {
        return Some(currencies.base());
    }
    allowed.iter().copied().find(|c| currencies.knows(*c))
}

/// Runs one auction per impression; winners land in `scratch.winners`, in impression order.
pub fn run_auction(
    source: &dyn CampaignSource,
    request: &AdRequest,
    currencies: &CurrencyTable,
    settings: AuctionSettings,
    now_unix_s: i64,
    scratch: &mut AuctionScratch,
) {
    run_auction_gated(
        source,
        request,
        currencies,
        settings,
        now_unix_s,
        scratch,
        &mut |_, _| true,
    );
}

/// [`run_auction`] with a delivery gate: `gate(campaign_idx, campaign)` is asked about every
/// candidate that passes the auction's own checks and above the floor, in bid order, and a
/// `false` skips it (the shard's budget, pacing and frequency caps). It is asked only about
/// candidates that could still win, so pacing draws and budget checks are not spent on
/// campaigns below the winner.
pub fn run_auction_gated(
    source: &dyn CampaignSource,
    request: &AdRequest,
    currencies: &CurrencyTable,
    settings: AuctionSettings,
    now_unix_s: i64,
    scratch: &mut AuctionScratch,
    gate: &mut dyn FnMut(u32, &Campaign) -> bool,
) {
    scratch.winners.clear();
    scratch.wins_per_campaign.clear();
    let Some(currency) = response_currency(request, currencies) else {
        return;
    };
    scratch.currency = currency;
    for (imp_idx, imp) in request.imps().iter().enumerate() {
        // A floor in a currency without a rate: no bid, rather than a guess.
        let Some(floor_micros) =
            currencies.convert(imp.bidfloor_micros, imp.bidfloor_currency, currency)
        else {
            continue;
        };
        let mut top: [Option<Eligible>; 2] = [None, None];
        let wins_per_campaign = &scratch.wins_per_campaign;
        let mut visit = |campaign_idx: u32| -> ControlFlow<()> {
            let campaign = source.campaign(campaign_idx);
            let Some(bid_micros) =
                currencies.convert(campaign.bid_cpm_micros, campaign.currency, currency)
            else {
                return ControlFlow::Continue(());
            };
            if bid_micros < floor_micros {
                // Catalog order is bid order in the base currency, and conversion preserves
                // order up to rounding of a micro-unit: nothing later can clear the floor.
                return ControlFlow::Break(());
            }
            if !eligible(
                campaign,
                campaign_idx,
                request,
                now_unix_s,
                wins_per_campaign,
                settings,
            ) {
                return ControlFlow::Continue(());
            }
            let Some(creative_idx) = choose_creative(source, campaign, request, imp) else {
                return ControlFlow::Continue(());
            };
            if !gate(campaign_idx, campaign) {
                return ControlFlow::Continue(());
            }
            let found = Eligible {
                campaign_idx,
                creative_idx,
                bid_micros,
            };
            match top {
                [None, _] => top[0] = Some(found),
                [Some(_), None] => top[1] = Some(found),
                [Some(_), Some(_)] => unreachable_but_harmless(),
            }
            // First price needs only the winner; second price also the runner-up.
            let needed = if settings.pricing == PricingRule::FirstPrice {
                1
            } else {
                2
            };
            if top.iter().filter(|t| t.is_some()).count() >= needed {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        source.for_each_candidate(request, imp, now_unix_s, &mut visit);
        let [Some(first), runner_up] = top else {
            continue;
        };
        let price_micros = match settings.pricing {
            PricingRule::FirstPrice => first.bid_micros,
            PricingRule::SecondPrice => {
                let second = runner_up.map_or(floor_micros, |r| r.bid_micros.max(floor_micros));
                second
                    .saturating_add(SECOND_PRICE_INCREMENT_MICROS)
                    .min(first.bid_micros)
            }
        };
        debug_assert!(
            price_micros <= first.bid_micros && price_micros >= floor_micros.min(first.bid_micros)
        );
        if scratch.winners.len() >= WINNERS_MAX {
            break;
        }
        scratch.winners.push(Winner {
            imp_idx,
            campaign_idx: first.campaign_idx,
            creative_idx: first.creative_idx,
            bid_micros: first.bid_micros,
            price_micros,
            runner_up_micros: runner_up.map_or(floor_micros, |r| r.bid_micros.max(floor_micros)),
            external_idx: None,
        });
        match scratch
            .wins_per_campaign
            .iter_mut()
            .find(|(c, _)| *c == first.campaign_idx)
        {
            Some((_, wins)) => *wins += 1,
            None => scratch.wins_per_campaign.push((first.campaign_idx, 1)),
        }
    }
}

/// Lets the valid bids of external bidders compete with the campaigns' winners, impression by
/// impression, under the same pricing rule: the highest bid wins, a campaign on a tie (it is
/// ours, and its delivery is already gated), and the earlier bid among external ties (bidders
/// in configuration order). Under second price the winner pays the next-highest bid of either
/// kind, or the floor, plus the increment, never more than its bid. `external` holds bids in
/// the currency of `scratch.currency`, each already checked against its impression (floor,
/// blocks, size) by `bidders::response`.
pub fn merge_external_bids(
    scratch: &mut AuctionScratch,
    request: &AdRequest,
    currencies: &CurrencyTable,
    external: &[ExternalBid],
    settings: AuctionSettings,
) {
    if external.is_empty() {
        return;
    }
    let currency = scratch.currency;
    for (imp_idx, imp) in request.imps().iter().enumerate() {
        let mut best: [Option<(usize, i64)>; 2] = [None, None];
        for (bid_idx, bid) in external.iter().enumerate() {
            if bid.imp_idx != imp_idx {
                continue;
            }
            match best {
                [Some((_, top)), _] if bid.price_micros <= top => {
                    if best[1].map_or(true, |(_, second)| bid.price_micros > second) {
                        best[1] = Some((bid_idx, bid.price_micros));
                    }
                }
                _ => {
                    best[1] = best[0];
                    best[0] = Some((bid_idx, bid.price_micros));
                }
            }
        }
        let Some((top_idx, top_micros)) = best[0] else {
            continue;
        };
        let floor_micros = currencies
            .convert(imp.bidfloor_micros, imp.bidfloor_currency, currency)
            .unwrap_or(0);
        let second_external = best[1].map_or(floor_micros, |(_, price)| price.max(floor_micros));
        let internal = scratch
            .winners
            .iter()
            .position(|winner| winner.imp_idx == imp_idx);
        match internal {
            Some(position) => {
                let winner = &mut scratch.winners[position];
                if winner.bid_micros >= top_micros {
                    // The campaign keeps the impression; the best external bid may raise what
                    // it pays.
                    winner.runner_up_micros = winner.runner_up_micros.max(top_micros);
                    winner.price_micros =
                        clearing_price(settings, winner.bid_micros, winner.runner_up_micros);
                } else {
                    let runner_up = winner.bid_micros.max(second_external);
                    *winner = external_winner(imp_idx, top_idx, top_micros, runner_up, settings);
                }
            }
            None => {
                if scratch.winners.len() >= WINNERS_MAX {
                    break;
                }
                let winner =
                    external_winner(imp_idx, top_idx, top_micros, second_external, settings);
                let at = scratch.winners.partition_point(|w| w.imp_idx < imp_idx);
                scratch.winners.insert(at, winner);
            }
        }
    }
}

fn external_winner(
    imp_idx: usize,
    bid_idx: usize,
    bid_micros: i64,
    runner_up_micros: i64,
    settings: AuctionSettings,
) -> Winner {
    Winner {
        imp_idx,
        campaign_idx: u32::MAX,
        creative_idx: usize::MAX,
        bid_micros,
        price_micros: clearing_price(settings, bid_micros, runner_up_micros),
        runner_up_micros,
        external_idx: u32::try_from(bid_idx).ok(),
    }
}

/// What the winner of a bid of `bid_micros` pays when the next bid (or the floor) is
/// `runner_up_micros`.
fn clearing_price(settings: AuctionSettings, bid_micros: i64, runner_up_micros: i64) -> i64 {
    match settings.pricing {
        PricingRule::FirstPrice => bid_micros,
        PricingRule::SecondPrice => runner_up_micros
            .saturating_add(SECOND_PRICE_INCREMENT_MICROS)
            .min(bid_micros),
    }
}

/// The sweep stops at two; a third visit would be a bug in the visitor, not in the data.
fn unreachable_but_harmless() {
    debug_assert!(false, "visited a candidate after the auction had both bids");
}

fn eligible(
    campaign: &Campaign,
    campaign_idx: u32,
    request: &AdRequest,
    now_unix_s: i64,
    wins_per_campaign: &[(u32, u32)],
    settings: AuctionSettings,
) -> bool {
    if campaign
        .start_unix_s
        .is_some_and(|start| now_unix_s < start)
        || campaign.end_unix_s.is_some_and(|end| now_unix_s >= end)
    {
        return false;
    }
    let wins = wins_per_campaign
        .iter()
        .find(|(c, _)| *c == campaign_idx)
        .map_or(0, |(_, w)| *w);
    if wins >= settings.campaign_wins_per_request_max {
        return false;
    }
    !request
        .texts(request.badv)
        .any(|blocked| domain_within(&campaign.adomain, blocked))
}

/// The first creative of the campaign that fits the impression and that the request does not
/// block.
fn choose_creative(
    source: &dyn CampaignSource,
    campaign: &Campaign,
    request: &AdRequest,
    imp: &Imp,
) -> Option<usize> {
    let battr = request.codes(imp.battr);
    campaign.creatives.iter().position(|creative| {
        (!imp.secure || creative.secure)
            && !creative.attributes.iter().any(|a| battr.contains(a))
            && !creative.categories.iter().any(|category| {
                request
                    .texts(request.bcat)
                    .any(|blocked| category_within(category, blocked))
            })
            && source.creative_fits(creative, request, imp)
    })
}

/// `domain` is `blocked` or a subdomain of it, ignoring case (`badv: ["brand.com"]` blocks
/// `shop.brand.com`).
pub fn domain_within(domain: &str, blocked: &str) -> bool {
    let (domain, blocked) = (domain.as_bytes(), blocked.as_bytes());
    if blocked.is_empty() || domain.len() < blocked.len() {
        return false;
    }
    let split = domain.len() - blocked.len();
    domain[split..].eq_ignore_ascii_case(blocked) && (split == 0 || domain[split - 1] == b'.')
}

/// `category` is `blocked` or one of its subcategories (`bcat: ["IAB25"]` blocks `IAB25-3`).
pub fn category_within(category: &str, blocked: &str) -> bool {
    let (category, blocked) = (category.as_bytes(), blocked.as_bytes());
    if blocked.is_empty() || category.len() < blocked.len() {
        return false;
    }
    category[..blocked.len()].eq_ignore_ascii_case(blocked)
        && (category.len() == blocked.len() || category[blocked.len()] == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_and_categories_block_their_children() {
        assert!(domain_within("brand.com", "brand.com"));
        assert!(domain_within("shop.Brand.com", "brand.com"));
        assert!(!domain_within("otherbrand.com", "brand.com"));
        assert!(!domain_within("brand.com", ""));
        assert!(category_within("IAB25-3", "IAB25"));
        assert!(category_within("iab25", "IAB25"));
        assert!(!category_within("IAB2", "IAB25"));
        assert!(!category_within("IAB25", "IAB25-3"));
    }
}
