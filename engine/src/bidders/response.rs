//! An external bidder's answer: its OpenRTB bid response parsed, every bid checked against the
//! request it answers, and the valid ones converted into [`ExternalBid`]s (the auction's type)
//! that compete with our own campaigns.
//!
//! A bidder is a partner, not a trusted component: whatever it sends, the server must neither
//! panic nor deliver an ad the request blocks (design.md §5-6). So a response is judged at two
//! levels:
//! - the response as a whole ([`BidResponseError`]): too large, not a JSON bid response, or an
//!   answer to another request (`id`). Nothing of it is used.
//! - each bid ([`BidRejectReason`]): an invalid bid is dropped and counted, and the rest of the
//!   response is still used. Each dropped bid counts once, under the first rule it breaks, in
//!   the order of the list below.
//!
//! The rules, in the order they are checked:
//! 1. At most [`BIDS_PER_RESPONSE_MAX`] bids per response are looked at; the rest are
//!    `too_many_bids`.
//! 2. `id` is present (`missing_id`); `id`, `impid`, `crid`, `adid`, `dealid`, the seat and
//!    the response's `bidid` fit [`ID_BYTES_MAX`], the longest id a tracking token carries
//!    (`id_too_long`).
//! 3. `impid` names an impression of the request (`unknown_imp`).
//! 4. `id` is not used by an earlier bid of the same response (`duplicate_bid`): the win
//!    notice and the tracking token tell bids apart by it.
//! 5. `adomain`, `cat` and `attr` are bounded (`list_too_long`), so that checking them against
//!    block lists of thousands of entries stays cheap. Rejected, never truncated: a dropped
//!    entry could be the blocked one.
//! 6. The currency, the response's `cur` (USD when absent), is one the request allows (its
//!    `cur`; USD alone when empty: `currency_not_allowed`) and one the [`CurrencyTable`] has a
//!    rate for (`currency_unknown`).
//! 7. `price` is positive (`price_not_positive`, also when it rounds to 0 micro-units, either
//!    as sent or converted) and at most [`PRICE_MICROS_MAX`] (`price_too_high`).
//! 8. The price is at most the bidder's cap (`price_above_max`): its `price_cpm_max`, else
//!    `fanout.price_cpm_max`, set in the base currency and converted, like the floor, into the
//!    currency prices are compared in. A typo of 999999 must not win an auction.
//! 9. The price, converted into the response currency, is at least the impression's floor
//!    converted into the same currency (`below_floor`); a floor in a currency without a rate
//!    cannot be compared (`floor_currency_unknown`). A deal bid is held to the impression's
//!    floor too, as [`AdRequest`] does not keep the floors of deals.
//! 10. `nurl`, `burl` and `lurl`, when present, are absolute `http`/`https` URLs
//!     ([`is_absolute_http_url`]; `url_not_http`): the exchange fetches them and markup may
//!     hand them to a browser, so a `javascript:`, `data:`, relative or empty one is not
//!     relayed.
//! 11. The bid has markup (`adm`) or a win notice (`nurl`) to fetch it from (`missing_markup`).
//! 12. `mtype`, when sent, is a media kind the impression offers (`media_mismatch`).
//! 13. A banner's `w`x`h`, when both are sent, is one of the impression's sizes or fits one of
//!     its flexible sizes (`size_mismatch`). A bid without `mtype` on an impression that also
//!     offers video, audio or native may be one of those, so its size is not held to the
//!     banner's.
//! 14. `dealid`, when sent, is a deal of the impression, and a private auction takes deal
//!     bids only (`deal_not_offered`).
//! 15. `adomain`: when the request has a `badv`, the bid must declare its advertiser
//!     (`missing_adomain`: a block list that cannot be checked is treated as matched, as
//!     design.md §5 prefers a missed delivery to an ad off the mark), and none of its
//!     domains may be a blocked domain or a subdomain of one (`blocked_adomain`).
//! 16. `bundle`, the advertised app, is not in `bapp` (`blocked_app`).
//! 17. No category in `cat` is in `bcat` or a subcategory of a `bcat` entry
//!     (`blocked_category`).
//! 18. No attribute in `attr` is in the impression's `battr` (`blocked_attribute`).
//!
//! Rules 15, 17 and 18 are the auction's own rules for internal creatives
//! ([`domain_within`], [`category_within`], `battr` membership), so an external bid is never
//! held to a looser standard than a campaign. Not checked: `cattax` (categories are taken to be
//! IAB 1.0, the request's default), `secure` markup, and the Native or VAST markup itself.
//!
//! Storage: the bids land in an [`ExternalBids`], which keeps its slots (and their strings)
//! across [`ExternalBids::clear`], so converting bids allocates nothing once a shard has seen
//! its largest response. Parsing borrows from the body like the request parser (it declares
//! its wire types with the same `wire_object!`); what serde_json allocates is described in
//! [`crate::openrtb`].

use std::fmt;

use crate::adrequest::{AdRequest, Imp, MediaKinds, BIDFLOOR_MAX, IMPS_MAX};
use crate::auction::{category_within, domain_within, ExternalBid, ExternalBids};
use crate::currency::{Currency, CurrencyTable};
use crate::openrtb::micros_from_f64;
use crate::openrtb::wire::{fill_from_slice, text};
use crate::tracking::token::ID_BYTES_MAX;

/// Bids of one response that are looked at; the rest are counted as
/// [`BidRejectReason::TooManyBids`]. A bidder bids once or a few times per impression, and a
/// request has at most [`IMPS_MAX`] impressions; the limit bounds the per-response work and the
/// quadratic duplicate-id check.
pub const BIDS_PER_RESPONSE_MAX: usize = 64;

/// Largest body [`parse_bid_response`] reads. The caller's configured limit should be far
/// lower; this is the backstop, sized for [`BIDS_PER_RESPONSE_MAX`] bids of 64 KiB of VAST
/// each.
pub const BODY_BYTES_MAX: usize = 4 * 1024 * 1024;

/// `adomain` entries per bid. The spec allows several for rotating creatives; real bids carry
/// one. Each is checked against every `badv` entry (up to
/// [`crate::adrequest::BLOCK_LIST_ENTRIES_MAX`]).
pub const ADOMAINS_PER_BID_MAX: usize = 16;

/// `cat` entries per bid: a creative has a few categories.
pub const CATEGORIES_PER_BID_MAX: usize = 64;

/// `attr` entries per bid: AdCOM defines fewer than twenty creative attributes.
pub const ATTRIBUTES_PER_BID_MAX: usize = 64;

/// Highest price accepted, in micro-units: the highest floor a request may carry
/// ([`BIDFLOOR_MAX`] per thousand), so any accepted price fits an `i64` with room for
/// conversion and auction arithmetic.
pub const PRICE_MICROS_MAX: i64 = BIDFLOOR_MAX as i64 * 1_000_000;

// A bidder may bid on every impression of the largest request.
const _: () = assert!(BIDS_PER_RESPONSE_MAX >= IMPS_MAX);
// The highest price converted at the highest rate a config could plausibly hold (1e6 units
// per base unit) still fits an i64.
const _: () = assert!(PRICE_MICROS_MAX.checked_mul(1_000_000).is_some());

/// Why a bid was dropped. See the module doc for each rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BidRejectReason {
    TooManyBids,
    MissingId,
    IdTooLong,
    UnknownImp,
    DuplicateBid,
    ListTooLong,
    CurrencyNotAllowed,
    CurrencyUnknown,
    PriceNotPositive,
    PriceTooHigh,
    PriceAboveMax,
    FloorCurrencyUnknown,
    BelowFloor,
    UrlNotHttp,
    MissingMarkup,
    MediaMismatch,
    SizeMismatch,
    DealNotOffered,
    MissingAdomain,
    BlockedAdomain,
    BlockedApp,
    BlockedCategory,
    BlockedAttribute,
}

impl BidRejectReason {
    /// Every reason, in the order the rules are checked; `as_index` indexes it.
    pub const ALL: [BidRejectReason; 23] = [
        BidRejectReason::TooManyBids,
        BidRejectReason::MissingId,
        BidRejectReason::IdTooLong,
        BidRejectReason::UnknownImp,
        BidRejectReason::DuplicateBid,
        BidRejectReason::ListTooLong,
        BidRejectReason::CurrencyNotAllowed,
        BidRejectReason::CurrencyUnknown,
        BidRejectReason::PriceNotPositive,
        BidRejectReason::PriceTooHigh,
        BidRejectReason::PriceAboveMax,
        BidRejectReason::FloorCurrencyUnknown,
        BidRejectReason::BelowFloor,
        BidRejectReason::UrlNotHttp,
        BidRejectReason::MissingMarkup,
        BidRejectReason::MediaMismatch,
        BidRejectReason::SizeMismatch,
        BidRejectReason::DealNotOffered,
        BidRejectReason::MissingAdomain,
        BidRejectReason::BlockedAdomain,
        BidRejectReason::BlockedApp,
        BidRejectReason::BlockedCategory,
        BidRejectReason::BlockedAttribute,
    ];

    /// The metric label, snake_case.
    pub fn as_str(self) -> &'static str {
        match self {
            BidRejectReason::TooManyBids => "too_many_bids",
            BidRejectReason::MissingId => "missing_id",
            BidRejectReason::IdTooLong => "id_too_long",
            BidRejectReason::UnknownImp => "unknown_imp",
            BidRejectReason::DuplicateBid => "duplicate_bid",
            BidRejectReason::ListTooLong => "list_too_long",
            BidRejectReason::CurrencyNotAllowed => "currency_not_allowed",
            BidRejectReason::CurrencyUnknown => "currency_unknown",
            BidRejectReason::PriceNotPositive => "price_not_positive",
            BidRejectReason::PriceTooHigh => "price_too_high",
            BidRejectReason::PriceAboveMax => "price_above_max",
            BidRejectReason::FloorCurrencyUnknown => "floor_currency_unknown",
            BidRejectReason::BelowFloor => "below_floor",
            BidRejectReason::UrlNotHttp => "url_not_http",
            BidRejectReason::MissingMarkup => "missing_markup",
            BidRejectReason::MediaMismatch => "media_mismatch",
            BidRejectReason::SizeMismatch => "size_mismatch",
            BidRejectReason::DealNotOffered => "deal_not_offered",
            BidRejectReason::MissingAdomain => "missing_adomain",
            BidRejectReason::BlockedAdomain => "blocked_adomain",
            BidRejectReason::BlockedApp => "blocked_app",
            BidRejectReason::BlockedCategory => "blocked_category",
            BidRejectReason::BlockedAttribute => "blocked_attribute",
        }
    }

    /// The position of `self` in [`BidRejectReason::ALL`].
    pub fn as_index(self) -> usize {
        // Declaration order is the order of ALL (checked by a test).
        self as usize
    }
}

impl fmt::Display for BidRejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Dropped bids per reason; a plain array, so counting never allocates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RejectCounts([u64; BidRejectReason::ALL.len()]);

impl RejectCounts {
    pub fn add(&mut self, reason: BidRejectReason) {
        if let Some(count) = self.0.get_mut(reason.as_index()) {
            *count = count.saturating_add(1);
        }
    }

    pub fn get(&self, reason: BidRejectReason) -> u64 {
        self.0.get(reason.as_index()).copied().unwrap_or(0)
    }

    /// Every reason with its count, zeros included, in [`BidRejectReason::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (BidRejectReason, u64)> + '_ {
        BidRejectReason::ALL
            .iter()
            .map(|&reason| (reason, self.get(reason)))
    }

    pub fn total(&self) -> u64 {
        self.0
            .iter()
            .fold(0, |sum, count| sum.saturating_add(*count))
    }

    /// Adds every count of `other` (a shard folding one request's counts into its totals).
    pub fn merge(&mut self, other: &RejectCounts) {
        for (count, more) in self.0.iter_mut().zip(other.0.iter()) {
            *count = count.saturating_add(*more);
        }
    }
}

/// Why a whole bid response was unusable. A bidder error (the bidder is at fault), never a
/// panic; built on the error path only, so it may allocate.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum BidResponseError {
    #[error("bidder {bidder_idx}: response of {len_bytes} bytes is over the {max_bytes} read")]
    TooLarge {
        bidder_idx: u16,
        len_bytes: usize,
        max_bytes: usize,
    },
    /// Not JSON, or not shaped like a bid response (a field the engine reads has the wrong
    /// type, such as a string `price`). `path` names the field, empty for the document root.
    #[error("bidder {bidder_idx}: response is not a JSON bid response at `{path}`: {message}")]
    NotJson {
        bidder_idx: u16,
        path: String,
        message: String,
    },
    /// The response's `id` is not the request's: it answers another request (or none).
    #[error("bidder {bidder_idx}: response id does not match the request id")]
    IdMismatch { bidder_idx: u16 },
}

/// What a bidder's bids are checked against.
#[derive(Debug, Clone, Copy)]
pub struct ResponseRules<'a> {
    pub request: &'a AdRequest,
    pub currencies: &'a CurrencyTable,
    /// The currency our answer uses ([`crate::auction::response_currency`]); prices and
    /// floors are compared in it.
    pub response_currency: Currency,
    pub bidder_idx: u16,
    /// The highest price accepted from this bidder, in micro-units of the base currency
    /// (its `price_cpm_max`, else `fanout.price_cpm_max`; [`PRICE_MICROS_MAX`] for none).
    pub price_micros_max: i64,
}

/// The names `wire_object!` expands to (`super::wire::Object` and friends), so that the bid
/// response is declared with the request's wire machinery.
mod wire {
    pub(crate) use crate::openrtb::wire::{key_text, Fill, Object, Place};
}

/// The parts of an OpenRTB 2.5/2.6 bid response that the engine reads, borrowed from the body.
/// As for the request (see `openrtb::wire`): unknown fields and `ext` are skipped unread, a
/// field the engine reads with the wrong JSON type fails the whole response, integers are
/// `i64` so that odd values reach the checks.
// `wire_object!` declares `pub` structs because the request's wire types are the engine's
// public API; the response's stay inside `bidders`.
#[allow(unreachable_pub)]
mod wire_types {
    use crate::openrtb::wire::{wire_object, List, Str};

    wire_object! {
        /// The top-level bid response (§4.2.1).
        pub struct BidResponse<'a> {
            pub id: Option<Str<'a>> = b"id",
            pub seatbid: List<SeatBid<'a>, 1> = b"seatbid",
            pub bidid: Option<Str<'a>> = b"bidid",
            pub cur: Option<Str<'a>> = b"cur",
        }
    }

    wire_object! {
        /// The bids of one buyer seat (§4.2.2).
        pub struct SeatBid<'a> {
            pub bid: List<Bid<'a>, 2> = b"bid",
            pub seat: Option<Str<'a>> = b"seat",
        }
    }

    wire_object! {
        /// One bid (§4.2.3).
        pub struct Bid<'a> {
            pub id: Option<Str<'a>> = b"id",
            pub impid: Option<Str<'a>> = b"impid",
            pub price: Option<f64> = b"price",
            pub nurl: Option<Str<'a>> = b"nurl",
            pub burl: Option<Str<'a>> = b"burl",
            pub lurl: Option<Str<'a>> = b"lurl",
            pub adm: Option<Str<'a>> = b"adm",
            pub adid: Option<Str<'a>> = b"adid",
            pub adomain: List<Str<'a>, 1> = b"adomain",
            pub bundle: Option<Str<'a>> = b"bundle",
            pub crid: Option<Str<'a>> = b"crid",
            pub cat: List<Str<'a>, 2> = b"cat",
            pub attr: List<i64, 4> = b"attr",
            pub dealid: Option<Str<'a>> = b"dealid",
            pub w: Option<i64> = b"w",
            pub h: Option<i64> = b"h",
            pub mtype: Option<i64> = b"mtype",
        }
    }
}

/// What the checks of one bid found, for the conversion.
struct Checked {
    imp_idx: usize,
    price_micros: i64,
    bid_price_micros: i64,
    mtype: u8,
    w: u32,
    h: u32,
}

/// Parses `body`, a bidder's bid response; appends every valid bid to `bids` (not cleared:
/// the bids of several bidders accumulate) and counts every invalid one in `rejects`. Returns
/// the number of bids appended.
///
/// A 204 or an empty body is a no-bid the caller handles; a response with no `seatbid` (or
/// only empty ones) is `Ok(0)`. Never panics, whatever the body.
pub fn parse_bid_response(
    body: &[u8],
    rules: &ResponseRules<'_>,
    bids: &mut ExternalBids,
    rejects: &mut RejectCounts,
) -> Result<usize, BidResponseError> {
    let bidder_idx = rules.bidder_idx;
    if body.len() > BODY_BYTES_MAX {
        return Err(BidResponseError::TooLarge {
            bidder_idx,
            len_bytes: body.len(),
            max_bytes: BODY_BYTES_MAX,
        });
    }
    let mut response = wire_types::BidResponse::default();
    fill_from_slice(body, &mut response).map_err(|error| BidResponseError::NotJson {
        bidder_idx,
        path: error.path,
        message: error.message,
    })?;
    if text(&response.id) != rules.request.id {
        return Err(BidResponseError::IdMismatch { bidder_idx });
    }

    let currency = bid_currency(text(&response.cur), rules);
    let bidid = text(&response.bidid);
    let first_new = bids.len();
    let mut n_bids_seen: usize = 0;
    for seat_bid in response.seatbid.iter() {
        let seat = text(&seat_bid.seat);
        for bid in seat_bid.bid.iter() {
            n_bids_seen += 1;
            if n_bids_seen > BIDS_PER_RESPONSE_MAX {
                rejects.add(BidRejectReason::TooManyBids);
                continue;
            }
            let earlier = bids.as_slice().get(first_new..).unwrap_or(&[]);
            match check_bid(bid, seat, bidid, currency, rules, earlier) {
                Ok(checked) => {
                    let currency = currency.unwrap_or_default();
                    fill_bid(
                        bids.next_slot(),
                        bid,
                        seat,
                        bidid,
                        currency,
                        rules,
                        &checked,
                    );
                    bids.commit();
                }
                Err(reason) => rejects.add(reason),
            }
        }
    }
    let n_accepted = bids.len() - first_new;
    debug_assert!(n_accepted <= BIDS_PER_RESPONSE_MAX);
    Ok(n_accepted)
}

/// The currency of every bid of the response (`cur`, USD when absent), or why none can be
/// used.
fn bid_currency(cur: &str, rules: &ResponseRules<'_>) -> Result<Currency, BidRejectReason> {
    let cur = cur.trim();
    let currency = if cur.is_empty() {
        Currency::USD
    } else {
        Currency::parse(cur).ok_or(BidRejectReason::CurrencyUnknown)?
    };
    let allowed = rules.request.currencies();
    let is_allowed = if allowed.is_empty() {
        currency == Currency::USD
    } else {
        allowed.contains(&currency)
    };
    if !is_allowed {
        return Err(BidRejectReason::CurrencyNotAllowed);
    }
    if !rules.currencies.knows(currency) {
        return Err(BidRejectReason::CurrencyUnknown);
    }
    Ok(currency)
}

/// Applies the rules of the module doc to one bid, in order.
fn check_bid(
    bid: &wire_types::Bid<'_>,
    seat: &str,
    bidid: &str,
    currency: Result<Currency, BidRejectReason>,
    rules: &ResponseRules<'_>,
    earlier: &[ExternalBid],
) -> Result<Checked, BidRejectReason> {
    use BidRejectReason as Reason;
    let request = rules.request;

    let bid_id = text(&bid.id);
    if bid_id.is_empty() {
        return Err(Reason::MissingId);
    }
    let ids = [
        bid_id,
        text(&bid.impid),
        text(&bid.crid),
        text(&bid.adid),
        text(&bid.dealid),
        seat,
        bidid,
    ];
    if ids.iter().any(|id| id.len() > ID_BYTES_MAX) {
        return Err(Reason::IdTooLong);
    }

    let imp_id = text(&bid.impid);
    let (imp_idx, imp) = request
        .imps()
        .iter()
        .enumerate()
        .find(|(_, imp)| !imp_id.is_empty() && request.text(imp.id) == imp_id)
        .ok_or(Reason::UnknownImp)?;

    if earlier.iter().any(|other| other.bid_id == bid_id) {
        return Err(Reason::DuplicateBid);
    }

    if bid.adomain.len() > ADOMAINS_PER_BID_MAX
        || bid.cat.len() > CATEGORIES_PER_BID_MAX
        || bid.attr.len() > ATTRIBUTES_PER_BID_MAX
    {
        return Err(Reason::ListTooLong);
    }

    let currency = currency?;
    let bid_price_micros = bid_price_micros(bid.price)?;
    let price_micros = rules
        .currencies
        .convert(bid_price_micros, currency, rules.response_currency)
        .ok_or(Reason::CurrencyUnknown)?;
    if price_micros <= 0 {
        return Err(Reason::PriceNotPositive);
    }
    // The cap is in the base currency; converted like the floor into the currency prices are
    // compared in. Overflow means a cap beyond any price in that currency.
    let price_micros_max = rules
        .currencies
        .convert(
            rules.price_micros_max,
            rules.currencies.base(),
            rules.response_currency,
        )
        .unwrap_or(i64::MAX);
    if price_micros > price_micros_max {
        return Err(Reason::PriceAboveMax);
    }
    let floor_micros = if imp.bidfloor_micros <= 0 {
        // No floor: its currency does not matter, even without a rate.
        0
    } else {
        rules
            .currencies
            .convert(
                imp.bidfloor_micros,
                imp.bidfloor_currency,
                rules.response_currency,
            )
            .ok_or(Reason::FloorCurrencyUnknown)?
    };
    if price_micros < floor_micros {
        return Err(Reason::BelowFloor);
    }

    let notice_urls = [&bid.nurl, &bid.burl, &bid.lurl];
    if notice_urls.iter().any(|url| {
        url.as_ref()
            .is_some_and(|url| !is_absolute_http_url(url.as_str()))
    }) {
        return Err(Reason::UrlNotHttp);
    }

    if text(&bid.adm).is_empty() && text(&bid.nurl).is_empty() {
        return Err(Reason::MissingMarkup);
    }

    let mtype = media_type(bid.mtype, imp)?;
    let w = bid.w.map_or(0, saturating_u32);
    let h = bid.h.map_or(0, saturating_u32);
    if !size_fits(w, h, mtype, imp, request) {
        return Err(Reason::SizeMismatch);
    }

    let deal_id = text(&bid.dealid);
    let deal_offered = if deal_id.is_empty() {
        !imp.private_auction
    } else {
        request
            .texts(imp.deal_ids)
            .any(|offered| offered == deal_id)
    };
    if !deal_offered {
        return Err(Reason::DealNotOffered);
    }

    if !request.badv.is_empty() && bid.adomain.iter().all(|domain| domain.trim().is_empty()) {
        return Err(Reason::MissingAdomain);
    }
    let blocked_adomain = bid.adomain.iter().any(|adomain| {
        let domain = domain_of(adomain);
        request
            .texts(request.badv)
            .any(|blocked| domain_within(domain, domain_of(blocked)))
    });
    if blocked_adomain {
        return Err(Reason::BlockedAdomain);
    }

    let bundle = text(&bid.bundle).trim();
    if !bundle.is_empty()
        && request
            .texts(request.bapp)
            .any(|blocked| blocked.trim().eq_ignore_ascii_case(bundle))
    {
        return Err(Reason::BlockedApp);
    }

    let blocked_category = bid.cat.iter().any(|category| {
        request
            .texts(request.bcat)
            .any(|blocked| category_within(category.trim(), blocked.trim()))
    });
    if blocked_category {
        return Err(Reason::BlockedCategory);
    }

    let battr = request.codes(imp.battr);
    let blocked_attribute = bid
        .attr
        .iter()
        .any(|&attr| u16::try_from(attr).is_ok_and(|attr| battr.binary_search(&attr).is_ok()));
    if blocked_attribute {
        return Err(Reason::BlockedAttribute);
    }

    Ok(Checked {
        imp_idx,
        price_micros,
        bid_price_micros,
        mtype,
        w,
        h,
    })
}

/// The bid's price in micro-units of its own currency.
fn bid_price_micros(price: Option<f64>) -> Result<i64, BidRejectReason> {
    let price = price.unwrap_or(0.0);
    // NaN is not greater than 0 either: serde_json never produces it, but another parser
    // filling the wire types might.
    if price.is_nan() || price <= 0.0 {
        return Err(BidRejectReason::PriceNotPositive);
    }
    match micros_from_f64(price) {
        None => Err(BidRejectReason::PriceTooHigh),
        Some(micros) if micros <= 0 => Err(BidRejectReason::PriceNotPositive),
        Some(micros) if micros > PRICE_MICROS_MAX => Err(BidRejectReason::PriceTooHigh),
        Some(micros) => Ok(micros),
    }
}

/// Whether `url` is an absolute `http` or `https` URL (scheme in any case) with a host, and
/// nothing in it that could end a header line or an attribute (whitespace, control bytes).
/// The exchange fetches `nurl`/`burl`/`lurl`, and markup may carry them to a browser, so a
/// `javascript:`, `data:` or relative one is refused rather than relayed. Only the shape is
/// checked: the host is not resolved, the path and query are the bidder's.
pub fn is_absolute_http_url(url: &str) -> bool {
    if url
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return false;
    }
    let Some((scheme, rest)) = url.split_once(':') else {
        return false;
    };
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return false;
    }
    let Some(after_slashes) = rest.strip_prefix("//") else {
        return false;
    };
    let authority = after_slashes
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host_and_port = authority.rsplit('@').next().unwrap_or_default();
    !(host_and_port.is_empty() || host_and_port.starts_with(':'))
}

/// AdCOM media types (`mtype`).
const MTYPE_BANNER: u8 = 1;
const MTYPE_VIDEO: u8 = 2;
const MTYPE_AUDIO: u8 = 3;
const MTYPE_NATIVE: u8 = 4;

/// The bid's media type: as sent, if the impression offers it; else the impression's only
/// media kind; else 0 (unknown).
fn media_type(mtype: Option<i64>, imp: &Imp) -> Result<u8, BidRejectReason> {
    let kinds = [
        (MTYPE_BANNER, MediaKinds::BANNER),
        (MTYPE_VIDEO, MediaKinds::VIDEO),
        (MTYPE_AUDIO, MediaKinds::AUDIO),
        (MTYPE_NATIVE, MediaKinds::NATIVE),
    ];
    match mtype {
        None | Some(0) => {
            let mut offered = kinds.iter().filter(|(_, kind)| imp.media.contains(*kind));
            match (offered.next(), offered.next()) {
                (Some((code, _)), None) => Ok(*code),
                _ => Ok(0),
            }
        }
        Some(code) => kinds
            .iter()
            .find(|(known, kind)| i64::from(*known) == code && imp.media.contains(*kind))
            .map(|(known, _)| *known)
            .ok_or(BidRejectReason::MediaMismatch),
    }
}

/// Rule 13 of the module doc.
fn size_fits(w: u32, h: u32, mtype: u8, imp: &Imp, request: &AdRequest) -> bool {
    let sizes = request.sizes(imp.sizes);
    let flex_sizes = request.flex_sizes(imp.flex_sizes);
    let banner_with_sizes =
        imp.media.contains(MediaKinds::BANNER) && !(sizes.is_empty() && flex_sizes.is_empty());
    let other_media = imp.media.contains(MediaKinds::VIDEO)
        || imp.media.contains(MediaKinds::AUDIO)
        || imp.media.contains(MediaKinds::NATIVE);
    let held_to_banner = match mtype {
        MTYPE_BANNER => true,
        0 => !other_media,
        _ => false,
    };
    if w == 0 || h == 0 || !banner_with_sizes || !held_to_banner {
        return true;
    }
    crate::targeting::banner_fits(w, h, sizes, flex_sizes)
}

/// The host of an `adomain` or `badv` entry: bidders are asked for a bare domain but some send
/// a URL (`https://brand.com/`), which would otherwise escape a `badv` of `brand.com`. A
/// trailing dot (the DNS root) is dropped too.
fn domain_of(entry: &str) -> &str {
    let entry = entry.trim();
    let after_scheme = entry.split_once("://").map_or(entry, |(_, rest)| rest);
    let host = after_scheme
        .split(['/', '?', '#', ':'])
        .next()
        .unwrap_or("");
    host.strip_suffix('.').unwrap_or(host)
}

fn saturating_u32(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

/// Copies a checked bid into a reused slot.
fn fill_bid(
    slot: &mut ExternalBid,
    bid: &wire_types::Bid<'_>,
    seat: &str,
    bidid: &str,
    currency: Currency,
    rules: &ResponseRules<'_>,
    checked: &Checked,
) {
    fn set(target: &mut String, value: &str) {
        target.clear();
        target.push_str(value);
    }
    slot.bidder_idx = rules.bidder_idx;
    slot.imp_idx = checked.imp_idx;
    slot.price_micros = checked.price_micros;
    slot.bid_price_micros = checked.bid_price_micros;
    slot.bid_currency = currency;
    set(&mut slot.bid_id, text(&bid.id));
    set(
        &mut slot.response_bid_id,
        if bidid.is_empty() {
            text(&bid.id)
        } else {
            bidid
        },
    );
    set(&mut slot.imp_id, text(&bid.impid));
    set(&mut slot.seat, seat);
    set(&mut slot.adm, text(&bid.adm));
    set(&mut slot.nurl, text(&bid.nurl));
    set(&mut slot.burl, text(&bid.burl));
    set(
        &mut slot.adomain,
        bid.adomain.first().map_or("", |domain| domain.trim()),
    );
    set(&mut slot.crid, text(&bid.crid));
    set(&mut slot.adid, text(&bid.adid));
    set(&mut slot.deal_id, text(&bid.dealid));
    slot.cat.clear();
    for category in bid.cat.iter().map(|category| category.trim()) {
        if category.is_empty() || category.contains(',') {
            continue;
        }
        if !slot.cat.is_empty() {
            slot.cat.push(',');
        }
        slot.cat.push_str(category);
    }
    slot.w = checked.w;
    slot.h = checked.h;
    slot.mtype = checked.mtype;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_listed_in_index_order_with_distinct_labels() {
        for (index, reason) in BidRejectReason::ALL.iter().enumerate() {
            assert_eq!(reason.as_index(), index, "{reason:?}");
            let label = reason.as_str();
            assert!(
                label
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte == b'_'),
                "{label}"
            );
            let same = BidRejectReason::ALL
                .iter()
                .filter(|other| other.as_str() == label)
                .count();
            assert_eq!(same, 1, "{label}");
        }
    }

    #[test]
    fn bidder_javascript_nurl_rejected() {
        for (url, is_http) in [
            ("javascript:alert(1)", false),
            ("JAVASCRIPT:alert(1)", false),
            ("javascript://bidder.example/%0Aalert(1)", false),
            ("data:text/html,<script>alert(1)</script>", false),
            ("vbscript:msgbox(1)", false),
            ("file:///etc/passwd", false),
            ("ftp://bidder.example/win", false),
            ("", false),
            ("/win?p=1", false),
            ("win", false),
            ("//bidder.example/win", false),
            ("http:", false),
            ("http://", false),
            ("http:///win", false),
            ("http://user@/win", false),
            ("http://:8080/win", false),
            ("https:bidder.example", false),
            ("https:/bidder.example", false),
            (" https://bidder.example/", false),
            ("https://bidder.example/\t", false),
            ("https://bidder.example/a\r\nSet-Cookie: x", false),
            ("https://bidder.example/a b", false),
            ("https://bidder.example/\u{7f}", false),
            ("http://bidder.example", true),
            ("https://bidder.example/win?p=${AUCTION_PRICE}", true),
            ("HTTP://BIDDER.EXAMPLE/", true),
            ("hTtPs://bidder.example:8443/b#frag", true),
            ("http://user:pw@bidder.example/w", true),
            ("http://127.0.0.1:7001/w", true),
            ("http://[::1]:7001/w", true),
            ("https://bidder.example?x=1", true),
            ("https://bidder.example/caf\u{e9}", true),
        ] {
            assert_eq!(is_absolute_http_url(url), is_http, "{url:?}");
        }
    }

    #[test]
    fn adomain_entries_compare_by_host() {
        assert_eq!(
            domain_of(" https://Shop.Brand.com:443/x?y "),
            "Shop.Brand.com"
        );
        assert_eq!(domain_of("brand.com."), "brand.com");
        assert_eq!(domain_of("brand.com"), "brand.com");
        assert_eq!(domain_of(""), "");
    }
}
