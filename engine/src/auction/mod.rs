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

pub mod response;

use std::ops::ControlFlow;

use crate::campaign::{Campaign, Creative};
use crate::config::PricingRule;
use crate::currency::CurrencyTable;
use crate::openrtb::{AdRequest, Currency, Imp};

/// The minimum increment of second price: 0.01 of the bid currency.
pub const SECOND_PRICE_INCREMENT_MICROS: i64 = 10_000;
/// Winners per request: one per impression at most, and requests carry at most
/// `openrtb::IMPS_MAX` impressions.
pub const WINNERS_MAX: usize = crate::openrtb::IMPS_MAX;

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
