//! The OpenRTB macros (`${AUCTION_PRICE}` and its kin) in a winning external bid's `nurl`, `burl`
//! and markup, substituted when the auction writes its response.
//!
//! Only the auction fills them, with the clearing price it decided, so they live here; the
//! values come from [`ExternalBid::macro_values`](super::ExternalBid::macro_values).

use std::fmt::Write as _;

use crate::currency::Currency;

/// Longest macro name looked for after `${`, so that an unclosed `${` costs a bounded scan.
const MACRO_NAME_BYTES_MAX: usize = 32;

/// The values substituted for the OpenRTB macros of one winning bid.
#[derive(Debug, Clone, Copy)]
pub struct MacroValues<'a> {
    /// `${AUCTION_ID}`: the bid request's id.
    pub auction_id: &'a str,
    /// `${AUCTION_BID_ID}`: the response's `bidid` (see [`ExternalBid::response_bid_id`]).
    pub bid_id: &'a str,
    /// `${AUCTION_IMP_ID}`.
    pub imp_id: &'a str,
    /// `${AUCTION_SEAT_ID}`.
    pub seat_id: &'a str,
    /// `${AUCTION_AD_ID}`: the bid's `adid`.
    pub ad_id: &'a str,
    /// `${AUCTION_PRICE}`: the clearing price, in micro-units of `currency`, which should be
    /// the bidder's own ([`ExternalBid::bid_currency`]).
    pub price_micros: i64,
    /// `${AUCTION_CURRENCY}`.
    pub currency: Currency,
}

/// The macros [`substitute_macros`] knows.
#[derive(Clone, Copy)]
enum Macro {
    Price,
    AuctionId,
    BidId,
    ImpId,
    SeatId,
    AdId,
    Currency,
}

impl Macro {
    fn from_name(name: &str) -> Option<Macro> {
        Some(match name {
            "AUCTION_PRICE" => Macro::Price,
            "AUCTION_ID" => Macro::AuctionId,
            "AUCTION_BID_ID" => Macro::BidId,
            "AUCTION_IMP_ID" => Macro::ImpId,
            "AUCTION_SEAT_ID" => Macro::SeatId,
            "AUCTION_AD_ID" => Macro::AdId,
            "AUCTION_CURRENCY" => Macro::Currency,
            _ => return None,
        })
    }
}

/// The two spellings of a macro: `${NAME}`, and `%24%7BNAME%7D`, the same URL-encoded, which
/// is what a macro looks like once a bidder has put its URL into another URL's query (a
/// redirect or a click-tracker chain). Hex digits match in either case.
const SPELLINGS: [(&str, &str); 2] = [("${", "}"), ("%24%7B", "%7D")];

/// Appends `template` to `out` with the OpenRTB 2.x macros substituted: `${AUCTION_PRICE}`
/// (a decimal amount such as `1.5`, `0.01` or `1234.567891`: no exponent, no trailing zeros),
/// `${AUCTION_ID}`, `${AUCTION_BID_ID}`, `${AUCTION_IMP_ID}`, `${AUCTION_SEAT_ID}`,
/// `${AUCTION_AD_ID}` and `${AUCTION_CURRENCY}`, each also in its URL-encoded spelling
/// `%24%7BAUCTION_PRICE%7D`.
///
/// Values are inserted verbatim in both spellings, as the spec describes and as exchanges do:
/// the price and currency need no escaping, and the ids are the exchange's and the bidder's
/// own. Macro names are case-sensitive, as in the spec. Any other `${...}` (`${AUCTION_LOSS}`,
/// `${AUCTION_MBR}`, a bidder's own) is left as it is. Never allocates beyond growing `out`.
pub fn substitute_macros(template: &str, values: &MacroValues<'_>, out: &mut String) {
    out.reserve(template.len());
    let mut rest = template;
    while let Some(start) = rest.find(['$', '%']) {
        let (before, candidate) = rest.split_at(start);
        out.push_str(before);
        match macro_at(candidate) {
            Some((found, len)) => {
                push_macro_value(found, values, out);
                rest = candidate.get(len..).unwrap_or("");
            }
            None => {
                // Not a macro: keep the '$' or '%' (one byte) and look further on.
                out.push_str(candidate.get(..1).unwrap_or(""));
                rest = candidate.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
}

/// The known macro `text` starts with, and its length in bytes.
fn macro_at(text: &str) -> Option<(Macro, usize)> {
    SPELLINGS.iter().find_map(|(open, close)| {
        let opened = text
            .get(..open.len())
            .filter(|head| head.eq_ignore_ascii_case(open))?;
        let after_open = text.get(opened.len()..)?;
        // Macro names are ASCII capitals and underscores, so the scan stops at the first byte
        // that cannot belong to one: a bounded, linear scan.
        let name_len = after_open
            .bytes()
            .take(MACRO_NAME_BYTES_MAX + 1)
            .take_while(|byte| byte.is_ascii_uppercase() || *byte == b'_')
            .count();
        let name = after_open.get(..name_len)?;
        let after_name = after_open.get(name_len..)?;
        after_name
            .get(..close.len())
            .filter(|tail| tail.eq_ignore_ascii_case(close))?;
        let found = Macro::from_name(name)?;
        Some((found, open.len() + name_len + close.len()))
    })
}

fn push_macro_value(found: Macro, values: &MacroValues<'_>, out: &mut String) {
    match found {
        Macro::Price => push_decimal_micros(out, values.price_micros),
        Macro::AuctionId => out.push_str(values.auction_id),
        Macro::BidId => out.push_str(values.bid_id),
        Macro::ImpId => out.push_str(values.imp_id),
        Macro::SeatId => out.push_str(values.seat_id),
        Macro::AdId => out.push_str(values.ad_id),
        Macro::Currency => out.push_str(values.currency.as_str()),
    }
}

/// Appends `micros` as a decimal amount: `1.5`, `0.01`, `2`, `1234.567891`. Integer
/// arithmetic only, so no float rounding and never an exponent.
pub fn push_decimal_micros(out: &mut String, micros: i64) {
    let magnitude = micros.unsigned_abs();
    let (units, fraction) = (magnitude / 1_000_000, magnitude % 1_000_000);
    if micros < 0 {
        out.push('-');
    }
    // Writing to a String cannot fail.
    let _ = write!(out, "{units}");
    if fraction != 0 {
        let mut digits = fraction;
        let mut n_digits = 6;
        while digits % 10 == 0 {
            digits /= 10;
            n_digits -= 1;
        }
        let _ = write!(out, ".{digits:0n_digits$}");
    }
}
