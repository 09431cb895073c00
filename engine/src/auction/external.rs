//! The bids of external bidders as the auction takes them: [`ExternalBid`], already held to the
//! request's floors and block lists, and [`ExternalBids`], the reused list of one request's.
//!
//! The auction owns this type because it decides with it and writes it into the response;
//! `bidders::response` fills it from a bidder's answer. Defining it here keeps the dependency
//! one way (bidders use the auction's vocabulary, never the reverse).

use std::ops::Deref;

use super::macros::MacroValues;
use crate::currency::Currency;

/// A valid bid of an external bidder, ready to compete in the auction.
///
/// Strings are owned, but [`ExternalBids`] reuses its slots: refilling one reuses the capacity
/// of its strings, so the steady state allocates nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalBid {
    pub bidder_idx: u16,
    /// Index into `request.imps()`.
    pub imp_idx: usize,
    /// CPM in micro-units of the response currency ([`response_currency`](super::response_currency)):
    /// what the auction compares.
    pub price_micros: i64,
    /// CPM as the bidder sent it, in micro-units of `bid_currency`.
    pub bid_price_micros: i64,
    /// The currency the bidder bid in. `${AUCTION_PRICE}` in its URLs and markup is expected in
    /// this currency (OpenRTB: "same currency and units as the bid").
    pub bid_currency: Currency,
    /// `bid.id`.
    pub bid_id: String,
    /// The response's `bidid`, else `bid.id`: what `${AUCTION_BID_ID}` stands for (OpenRTB 2.6
    /// §4.4: "ID of the bid; from BidResponse.bidid").
    pub response_bid_id: String,
    pub imp_id: String,
    /// `seatbid.seat`; empty when absent.
    pub seat: String,
    pub adm: String,
    pub nurl: String,
    pub burl: String,
    /// The first `adomain` entry, or empty.
    pub adomain: String,
    /// Empty when the bidder sent none (the spec only recommends it); a tracking token needs a
    /// non-empty creative id, so use `bid_id` then.
    pub crid: String,
    pub adid: String,
    /// Empty when the bid is not for a deal.
    pub deal_id: String,
    /// IAB categories, joined by `,` (an entry containing a `,` is left out, as no IAB code
    /// has one): one reusable `String` rather than a `Vec<String>` that would allocate per
    /// entry. Read it with [`ExternalBid::categories`].
    pub cat: String,
    /// 0 when not sent.
    pub w: u32,
    pub h: u32,
    /// AdCOM media type: 1 banner, 2 video, 3 audio, 4 native; as sent, else inferred when the
    /// impression offers one media kind only, else 0.
    pub mtype: u8,
}

impl ExternalBid {
    /// The IAB categories of the bid.
    pub fn categories(&self) -> impl Iterator<Item = &str> + '_ {
        self.cat.split(',').filter(|category| !category.is_empty())
    }

    /// The macro values for this bid when it wins at `price_micros` (of its own currency,
    /// `bid_currency`) in the auction `auction_id` (the request id).
    pub fn macro_values<'a>(&'a self, auction_id: &'a str, price_micros: i64) -> MacroValues<'a> {
        MacroValues {
            auction_id,
            bid_id: &self.response_bid_id,
            imp_id: &self.imp_id,
            seat_id: &self.seat,
            ad_id: &self.adid,
            price_micros,
            currency: self.bid_currency,
        }
    }
}

/// The valid bids of one request, from all its bidders, in a list whose slots survive
/// [`ExternalBids::clear`]: a `Vec<ExternalBid>` would drop every string on `clear`.
#[derive(Debug, Default)]
pub struct ExternalBids {
    /// The first `len` are the bids; the rest are spare slots, their strings kept for reuse.
    slots: Vec<ExternalBid>,
    len: usize,
}

impl ExternalBids {
    /// Forgets the bids but keeps every slot and string capacity.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn as_slice(&self) -> &[ExternalBid] {
        self.slots.get(..self.len).unwrap_or(&[])
    }

    /// A fresh slot after the bids, reused when one is spare. It becomes a bid only with
    /// [`ExternalBids::commit`], so a half-filled slot is never seen.
    pub(crate) fn next_slot(&mut self) -> &mut ExternalBid {
        if self.slots.len() <= self.len {
            self.slots.push(ExternalBid::default());
        }
        let index = self.len.min(self.slots.len() - 1);
        &mut self.slots[index]
    }

    pub(crate) fn commit(&mut self) {
        debug_assert!(self.len < self.slots.len());
        self.len = (self.len + 1).min(self.slots.len());
    }
}

impl Deref for ExternalBids {
    type Target = [ExternalBid];

    fn deref(&self) -> &[ExternalBid] {
        self.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_bids_reuse_slots_after_clear() {
        let mut bids = ExternalBids::default();
        bids.next_slot().bid_id.push_str("first");
        bids.commit();
        assert_eq!(bids.len(), 1);
        bids.clear();
        assert!(bids.is_empty());
        let slot = bids.next_slot();
        assert!(slot.bid_id.capacity() >= 5, "string kept for reuse");
        bids.commit();
        assert_eq!(bids.len(), 1);
    }
}
