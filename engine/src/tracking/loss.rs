//! Why an exchange says we lost: the OpenRTB loss reason of a loss notice, folded into a small
//! fixed set of classes for a metric.
//!
//! Our bids carry `lurl`, `/loss?t=lTOKEN&reason=${AUCTION_LOSS}`; an exchange that knows a bid
//! lost replaces the macro with a code from OpenRTB 2.6's loss reason table (list 5.25) and calls
//! it. The reason is not under the token's signature (the exchange writes it after we sign) and
//! changes nothing but a counter: what a loss notice does to money (release the bid's
//! commitment) does not depend on it. So it is read leniently and bounded: any code maps to one
//! of the [`LossReason`] classes, and a missing, repeated, unreplaced (`${AUCTION_LOSS}`) or
//! garbled value is [`LossReason::Unknown`], never an error: an exchange's loss notice is
//! answered the same whatever its reason says.

use super::token::query_param;

/// Longest reason text read as a code: the table's codes have at most three digits and
/// exchange-specific ones (500 and up) rarely more; anything longer is not a code we can use.
pub const REASON_CHARS_MAX: usize = 9;

/// The class of a loss reason code, the label of `adshard_tracking_loss_reasons_total`. Few
/// and fixed, so the metric's cardinality does not depend on what exchanges send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LossReason {
    /// 102 "Lost to Higher Bid", 103 "Lost to a Bid for a PMP Deal": priced out.
    Outbid,
    /// 100 "Bid was Below Auction Floor", 101 "Bid was Below Deal Floor".
    BelowFloor,
    /// 200 to 213, "Creative Filtered" for one reason or another (approval, size, format,
    /// exclusions): the exchange would not show our creative.
    CreativeFiltered,
    /// 3 to 10: the exchange found our bid response invalid (bad deal or auction id, advertiser
    /// domain, missing markup, creative id, price or approval data). Should stay at zero.
    InvalidBid,
    /// Any other code: 0 "Bid Won" (a contradiction in a loss notice), 1 "Internal Error", 2
    /// "Impression Opportunity Expired", 104 "Buyer Seat Blocked", 500 and up (exchange
    /// specific), and codes the table does not define.
    Other,
    /// No code: the parameter is missing or repeated, the macro was left unreplaced, or the
    /// value is not a plain decimal integer.
    Unknown,
}

impl LossReason {
    /// Every class, in the order of [`LossReason::idx`].
    pub const ALL: [LossReason; 6] = [
        LossReason::Outbid,
        LossReason::BelowFloor,
        LossReason::CreativeFiltered,
        LossReason::InvalidBid,
        LossReason::Other,
        LossReason::Unknown,
    ];
    pub const COUNT: usize = LossReason::ALL.len();

    /// The position in [`LossReason::ALL`]: a slot of per-reason counters.
    pub const fn idx(self) -> usize {
        match self {
            LossReason::Outbid => 0,
            LossReason::BelowFloor => 1,
            LossReason::CreativeFiltered => 2,
            LossReason::InvalidBid => 3,
            LossReason::Other => 4,
            LossReason::Unknown => 5,
        }
    }

    /// The class of OpenRTB 2.6 loss reason `code`.
    pub const fn from_code(code: u32) -> LossReason {
        match code {
            102 | 103 => LossReason::Outbid,
            100 | 101 => LossReason::BelowFloor,
            200..=213 => LossReason::CreativeFiltered,
            3..=10 => LossReason::InvalidBid,
            _ => LossReason::Other,
        }
    }

    /// The class of the `reason` parameter's raw value (as found in the query, not
    /// percent-decoded: a code is plain digits). `None` (absent or repeated) is `Unknown`.
    pub fn from_raw(raw: Option<&str>) -> LossReason {
        let Some(raw) = raw else {
            return LossReason::Unknown;
        };
        if raw.is_empty()
            || raw.len() > REASON_CHARS_MAX
            || !raw.bytes().all(|byte| byte.is_ascii_digit())
        {
            return LossReason::Unknown;
        }
        // At most nine digits: fits a u32 whatever they are.
        raw.parse::<u32>()
            .map_or(LossReason::Unknown, LossReason::from_code)
    }

    /// A stable name for metrics labels.
    pub const fn label(self) -> &'static str {
        match self {
            LossReason::Outbid => "outbid",
            LossReason::BelowFloor => "below_floor",
            LossReason::CreativeFiltered => "creative_filtered",
            LossReason::InvalidBid => "invalid_bid",
            LossReason::Other => "other",
            LossReason::Unknown => "unknown",
        }
    }
}

/// The loss reason class a loss notice's query (the part after `?`) reports in `reason`.
pub fn loss_reason_from_query(query: &str) -> LossReason {
    LossReason::from_raw(query_param(query, "reason"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_listed_in_index_order() {
        for (idx, reason) in LossReason::ALL.into_iter().enumerate() {
            assert_eq!(reason.idx(), idx, "{reason:?}");
        }
    }

    #[test]
    fn query_to_reason() {
        let check = |query: &str, want: LossReason| {
            assert_eq!(loss_reason_from_query(query), want, "{query:?}");
        };
        check("t=x&reason=102", LossReason::Outbid);
        check("reason=103&t=x", LossReason::Outbid);
        check("t=x&reason=100", LossReason::BelowFloor);
        check("t=x&reason=101", LossReason::BelowFloor);
        check("t=x&reason=200", LossReason::CreativeFiltered);
        check("t=x&reason=213", LossReason::CreativeFiltered);
        check("t=x&reason=214", LossReason::Other);
        check("t=x&reason=3", LossReason::InvalidBid);
        check("t=x&reason=10", LossReason::InvalidBid);
        check("t=x&reason=0", LossReason::Other);
        check("t=x&reason=1", LossReason::Other);
        check("t=x&reason=2", LossReason::Other);
        check("t=x&reason=104", LossReason::Other);
        check("t=x&reason=500", LossReason::Other);
        check("t=x&reason=0102", LossReason::Outbid);
        check("t=x&reason=999999999", LossReason::Other);
        // No code we can use: all unknown, none an error.
        check("t=x", LossReason::Unknown);
        check("t=x&reason=", LossReason::Unknown);
        check("t=x&reason", LossReason::Unknown);
        check("t=x&reason=${AUCTION_LOSS}", LossReason::Unknown);
        check("t=x&reason=%24%7BAUCTION_LOSS%7D", LossReason::Unknown);
        check("t=x&reason=-102", LossReason::Unknown);
        check("t=x&reason=+102", LossReason::Unknown);
        check("t=x&reason=102.0", LossReason::Unknown);
        check("t=x&reason=1020000000", LossReason::Unknown);
        check("t=x&reason=１０２", LossReason::Unknown);
        check("t=x&reason=102&reason=102", LossReason::Unknown);
    }
}
