//! The clearing price an exchange reports, and whether we believe it.
//!
//! An exchange tells us what a won impression cost through the `${AUCTION_PRICE}` macro: we
//! write it into the query of the URLs only the exchange calls, the win notice (`nurl`,
//! `/win?t=...&p=${AUCTION_PRICE}`) and the billing notice (`burl`, `/imp?t=...&p=...`), and
//! the exchange substitutes the price it cleared at (a decimal CPM in the bid's currency)
//! before calling. `p` is not under the token's signature (the exchange writes it after we
//! signed), so it is believed only within what we signed: a price is accepted when it is a
//! plain decimal in `(0, signed price]`. Anything else is refused with a
//! [`PriceRefusal`]: the caller charges the signed price instead (the most the bid can cost,
//! which the budget reserved; charging less on a word we cannot check would let anyone who
//! sees the URL lower our spend) and counts the refusal. The pixel and the click never carry a
//! price: their URLs are in the browser's hands, so `p` is not even read there (see
//! [`super::EventKind::carries_price`]).

use super::token::query_param;

/// The raw value of the `p` parameter: the clearing price the exchange substituted for
/// `${AUCTION_PRICE}`, in the exchange's format (often a decimal CPM, sometimes encrypted).
/// `None` when missing or repeated, as for [`super::token_from_query`].
pub fn price_from_query(query: &str) -> Option<&str> {
    query_param(query, "p")
}

/// Longest clearing price text [`price_micros_from_decimal`] reads; a CPM needs a dozen.
pub const PRICE_CHARS_MAX: usize = 32;
/// Decimal places of a micro-unit.
const MICROS_DIGITS: usize = 6;

/// Parses a cleartext decimal CPM such as `1.25` into micro-units. Digits past the sixth
/// decimal are dropped (a micro is below any currency's smallest unit). `None` for anything
/// else: a sign, an exponent, an unsubstituted `${AUCTION_PRICE}`, an encrypted price, a value
/// over `i64` micros, or text over [`PRICE_CHARS_MAX`]. `p` is not covered by the signature:
/// [`clearing_price_micros`] decides whether to believe the result.
pub fn price_micros_from_decimal(raw: &str) -> Option<i64> {
    if raw.len() > PRICE_CHARS_MAX {
        return None;
    }
    let (units, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    if units.is_empty() || (raw.contains('.') && fraction.is_empty()) {
        return None;
    }
    let all_digits = |text: &str| text.bytes().all(|byte| byte.is_ascii_digit());
    if !all_digits(units) || !all_digits(fraction) {
        return None;
    }
    let mut micros: i64 = 0;
    for byte in units.bytes() {
        micros = micros
            .checked_mul(10)?
            .checked_add(i64::from(byte - b'0'))?;
    }
    let mut fraction_digits = fraction.bytes().chain(std::iter::repeat(b'0'));
    for _ in 0..MICROS_DIGITS {
        let byte = fraction_digits.next().unwrap_or(b'0');
        micros = micros
            .checked_mul(10)?
            .checked_add(i64::from(byte - b'0'))?;
    }
    Some(micros)
}

/// Why a reported clearing price was not believed. The event still counts; it is charged at
/// the signed price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceRefusal {
    /// No `p` in the query.
    Absent,
    /// Zero (or under one micro): an exchange does not give impressions away; a `p=0` is
    /// someone lowering our spend.
    Zero,
    /// Above the price we signed: never a charge beyond what the bid offered.
    AboveSigned,
    /// Not a plain decimal: a sign, an exponent, an unsubstituted macro, an encrypted price.
    Unparseable,
}

impl PriceRefusal {
    pub const ALL: [PriceRefusal; 4] = [
        PriceRefusal::Absent,
        PriceRefusal::Zero,
        PriceRefusal::AboveSigned,
        PriceRefusal::Unparseable,
    ];

    /// The position in [`PriceRefusal::ALL`].
    pub fn idx(self) -> usize {
        match self {
            PriceRefusal::Absent => 0,
            PriceRefusal::Zero => 1,
            PriceRefusal::AboveSigned => 2,
            PriceRefusal::Unparseable => 3,
        }
    }

    /// A stable name for metrics labels.
    pub fn label(self) -> &'static str {
        match self {
            PriceRefusal::Absent => "absent",
            PriceRefusal::Zero => "zero",
            PriceRefusal::AboveSigned => "above_signed",
            PriceRefusal::Unparseable => "unparseable",
        }
    }
}

/// The clearing price (CPM, micro-units) to charge for an event whose query carried `raw` as
/// `p`, for a bid signed at `signed_cpm_micros`: the reported price when it lies in
/// `(0, signed]`, else why not.
pub fn clearing_price_micros(
    raw: Option<&str>,
    signed_cpm_micros: i64,
) -> Result<i64, PriceRefusal> {
    let raw = raw.ok_or(PriceRefusal::Absent)?;
    let micros = price_micros_from_decimal(raw).ok_or(PriceRefusal::Unparseable)?;
    if micros <= 0 {
        return Err(PriceRefusal::Zero);
    }
    if micros > signed_cpm_micros {
        return Err(PriceRefusal::AboveSigned);
    }
    Ok(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clearing_price_is_believed_only_within_the_signed_price() {
        let signed = 2_000_000;
        for (raw, expected) in [
            (Some("1.5"), Ok(1_500_000)),
            (Some("2"), Ok(2_000_000)),
            (Some("0.000001"), Ok(1)),
            (None, Err(PriceRefusal::Absent)),
            (Some("0"), Err(PriceRefusal::Zero)),
            (Some("0.0000001"), Err(PriceRefusal::Zero)),
            (Some("-1"), Err(PriceRefusal::Unparseable)),
            (Some("-0.5"), Err(PriceRefusal::Unparseable)),
            (Some("2.000001"), Err(PriceRefusal::AboveSigned)),
            (Some("9223372036854.775807"), Err(PriceRefusal::AboveSigned)),
            (Some("garbage"), Err(PriceRefusal::Unparseable)),
            (Some("${AUCTION_PRICE}"), Err(PriceRefusal::Unparseable)),
            (Some("WEp8wQAEWXsAAAAAAAA"), Err(PriceRefusal::Unparseable)),
            (Some(""), Err(PriceRefusal::Unparseable)),
        ] {
            assert_eq!(clearing_price_micros(raw, signed), expected, "{raw:?}");
        }
        // A bid signed at zero (nothing to charge) believes no price at all.
        assert_eq!(
            clearing_price_micros(Some("0.5"), 0),
            Err(PriceRefusal::AboveSigned)
        );
    }
}
