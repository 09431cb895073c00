//! Tracking: proving that a win, billing, impression, click or loss URL was issued by us for a
//! real bid and for that kind of event, believing a clearing price only from the exchange, and
//! counting each event once.
//!
//! When the server answers an auction, each winning bid carries five URLs back to us, each
//! with the token of its own event kind ([`EventKind`]; one MAC computation signs all five):
//!
//! - `nurl`, the win notice: `/win?t=wTOKEN&p=${AUCTION_PRICE}`,
//! - `burl`, the billing notice: `/imp?t=bTOKEN&p=${AUCTION_PRICE}`,
//! - the impression pixel in the markup: `/imp?t=iTOKEN`,
//! - the click-through in the markup: `/click?t=cTOKEN`, answered with a 302 to the landing
//!   page,
//! - `lurl`, the loss notice: `/loss?t=lTOKEN&reason=${AUCTION_LOSS}`, called by an exchange
//!   that knows the bid lost ([`loss`] reads the reason). It releases the bid's budget
//!   commitment at once instead of at token expiry. A bid's commitment is resolved once, by its
//!   spend event or its loss notice, whichever comes first: the loss is judged in the window
//!   on the lane of the event that spends for its campaign (win or billing), so a loss after
//!   the spend event, or a spend event after a loss, is a repeat.
//!
//! # How an exchange's price reaches us
//!
//! `${AUCTION_PRICE}` is the OpenRTB macro an exchange replaces, in the `nurl` and `burl` it
//! calls, with the price it cleared the impression at (a decimal CPM in the bid's currency).
//! So the price arrives as `p` on those two URLs and nowhere else: the pixel and the click are
//! fetched by browsers, which know no price, and whatever `p` they carry is never read. `p` is
//! not under the signature (the exchange writes it after we sign), so [`price`] believes it
//! only within `(0, signed price]`; a refused price is counted and the event charged at the
//! signed price. A campaign that spends on wins is charged by the win notice, one that spends
//! on impressions by the billing notice; the pixel counts impressions and caps but never
//! charges. An impression reported by both the pixel and the billing notice is one impression,
//! counted by whichever arrives first, and is charged once, by the billing notice. (An exchange
//! that never calls `burl` leaves such campaigns uncharged: buy there with `spend_on = "win"`;
//! `adshard_campaign_events_total` shows impressions against billing notices.)
//!
//! [`token`] signs and verifies tokens (keyed BLAKE3 over request, imp, buyer, creative, price,
//! currency, issue time and the bid's sequence number, one tag per kind); [`price`] judges a
//! reported price; [`loss`] classifies a loss notice's reason; [`dedupe`] numbers a shard's
//! bids and remembers, per bid and lane, whether the event was seen. All are pure and
//! synchronous, allocate nothing on the request path after warm-up, and never panic on what a
//! client sends. The HTTP wiring lives elsewhere; this is its contract.
//!
//! # What the auction path must do
//!
//! Before committing budget, keep no more winners than [`dedupe::EventWindow::room`] allows
//! (count the others: a shard at its bid rate refuses bids rather than lose track of events).
//! Per winning bid, take its [`dedupe::EventWindow::issue`] sequence number, fill a
//! [`token::TrackingClaims`] and [`token::TokenSigner::sign`] it into the shard's reused
//! [`token::BidTokens`], then write each URL around the token of its kind.
//! A [`token::ClaimsError`] (an id over [`token::ID_BYTES_MAX`], mostly a long exchange
//! request id) means the bid cannot be tracked, so cannot be billed: drop the bid and count the
//! reason. A token is about 150 characters for UUID request ids and short internal ids.
//!
//! # What a tracking endpoint must do
//!
//! 1. [`EventKind::from_path`], then [`token::token_from_query`]; missing token: 403.
//! 2. [`token::TokenSigner::verify`] with the shard's [`token::TokenScratch`], the wall clock
//!    and the configured TTL. On error answer 403 with the same body whatever the reason (a
//!    forger learns nothing) and count [`token::TokenError::label`]; `BadLayout` deserves an
//!    alert. One exception: a click whose signature holds but whose token expired
//!    ([`token::TokenSigner::verify_signature`], then [`token::check_age`]) still redirects
//!    to the landing page (a user clicking an old page gets the advertiser's page, not an
//!    error); it is counted as late and is neither counted as a click nor billed.
//! 3. The verified kind must be served at the path ([`EventKind::path`]): a token of another
//!    kind is refused (403) and counted as `wrong_kind`.
//! 4. Send the event to the shard the token names (`shard_idx`: the shard that decided the
//!    bid, which holds its budget commitment and its [`dedupe::EventWindow`]), so a repeat
//!    that lands on another shard is still caught. There,
//!    [`dedupe::EventWindow::first_seen`] with the token's `sequence` and the event's lane
//!    ([`dedupe::Lane::of`]; a loss: the lane of its campaign's spend event). A
//!    repeat is counted as a duplicate, not as an event, and still gets the normal answer (an
//!    exchange that retries must not see an error); a sequence out of the window's reach is
//!    counted as such and changes nothing.
//! 5. A first event is counted per buyer (campaign or bidder) and creative, and written to the
//!    shard's event log; the answer waits for the log to be durable (design §7). On start,
//!    restore the window from the log so a restart does not refuse (as out of reach) the
//!    events of the tokens it signed before.
//! 6. `/win` and a billing notice at `/imp`: [`price::clearing_price_micros`] on
//!    [`price::price_from_query`] when the event charges its campaign.
//! 7. `/imp`: a 1×1 GIF (the pixel's answer; the billing notice gets the same).
//! 8. `/click`: look the landing page up in the catalog by buyer and creative ids and answer
//!    302 to it, also for a repeat (the user clicked; only the count is deduplicated). A token
//!    of a bidder, or a campaign no longer in the catalog, gets 403: the token never holds a
//!    URL, so it can never redirect anywhere an advertiser did not configure.
//! 9. `/loss`: 204; a first loss releases the bid's commitment and is counted per campaign
//!    and per [`loss::LossReason`] ([`loss::loss_reason_from_query`]).
//!
//! The secret is config, at least [`token::SECRET_BYTES_MIN`] random bytes, and the same on
//! every server that can receive tracking calls. Rotating it invalidates the tokens in flight;
//! accepting a previous secret during a TTL is not built yet.

mod base64url;
mod config;
pub mod dedupe;
pub mod loss;
pub mod price;
pub mod token;

// The names the HTTP wiring uses, flat, so that it does not depend on the split into files.
pub use config::TrackingConfig;
pub use dedupe::{
    EventWindow, EventWindows, IssueRecoveredError, Lane, RestoreError, Seen, Verdict,
    WindowExport, WindowMark, WindowSize, WindowsExport, WindowsImportError, BIDS_PER_S_CEILING,
    HISTORY_WINDOWS_MAX, WINDOW_SEQUENCES_CEILING,
};
pub use loss::{loss_reason_from_query, LossReason};
pub use price::{clearing_price_micros, price_from_query, price_micros_from_decimal, PriceRefusal};
pub use token::{
    check_age, token_from_query, BidTokens, BuyerKind, ClaimsError, SecretTooShort, TokenError,
    TokenScratch, TokenSigner, TrackingClaims, VerifiedToken, CLOCK_SKEW_S_MAX, ID_BYTES_MAX,
    SECRET_BYTES_MIN, TOKEN_CHARS_MAX,
};

/// The event a tracking URL reports, which is also the kind its token is signed for: a token
/// works only for its own kind (see [`token`]), so the browser-visible pixel and click can
/// never stand for the exchange's notices, which alone may carry a clearing price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The exchange's win notice (`nurl`, at `/win`): priced; charges campaigns that spend on
    /// wins.
    Win,
    /// The exchange's billing notice (`burl`, at `/imp`): priced; an impression, and the event
    /// that charges campaigns that spend on impressions.
    Billing,
    /// The impression pixel in the markup (at `/imp`), fired by the browser: counts the
    /// impression and the user's caps, never charges.
    Impression,
    /// The click-through (at `/click`), answered with the landing page.
    Click,
    /// The exchange's loss notice (`lurl`, at `/loss`): the bid lost, so its budget commitment
    /// is released at once. Never charges; it has no lane of its own in the dedupe window but
    /// shares the lane of its campaign's spend event ([`dedupe::Lane`]).
    Loss,
}

impl EventKind {
    /// Every kind, in the order of [`EventKind::idx`].
    pub const ALL: [EventKind; 5] = [
        EventKind::Win,
        EventKind::Billing,
        EventKind::Impression,
        EventKind::Click,
        EventKind::Loss,
    ];
    pub const COUNT: usize = EventKind::ALL.len();

    /// The position in [`EventKind::ALL`]: a row of per-kind tables.
    pub const fn idx(self) -> usize {
        match self {
            EventKind::Win => 0,
            EventKind::Billing => 1,
            EventKind::Impression => 2,
            EventKind::Click => 3,
            EventKind::Loss => 4,
        }
    }

    /// The kind a request to `path` reports (`/win`, `/imp`, `/click`, `/loss`), if any. `/imp`
    /// serves both the pixel and the billing notice; the token says which it is.
    pub fn from_path(path: &str) -> Option<EventKind> {
        match path {
            "/win" => Some(EventKind::Win),
            "/imp" => Some(EventKind::Impression),
            "/click" => Some(EventKind::Click),
            "/loss" => Some(EventKind::Loss),
            _ => None,
        }
    }

    /// The path its URLs point to. The billing notice shares `/imp` with the pixel: both report
    /// an impression, and an exchange that fetches it expects what a pixel answers.
    pub fn path(self) -> &'static str {
        match self {
            EventKind::Win => "/win",
            EventKind::Billing | EventKind::Impression => "/imp",
            EventKind::Click => "/click",
            EventKind::Loss => "/loss",
        }
    }

    /// Whether a clearing price (`p`) on its URL is read at all: only on the exchange's win and
    /// billing notices. The pixel and the click are in the browser's hands; a loss costs
    /// nothing.
    pub fn carries_price(self) -> bool {
        matches!(self, EventKind::Win | EventKind::Billing)
    }

    /// A stable name for metrics labels.
    pub fn label(self) -> &'static str {
        match self {
            EventKind::Win => "win",
            EventKind::Billing => "bill",
            EventKind::Impression => "imp",
            EventKind::Click => "click",
            EventKind::Loss => "loss",
        }
    }
}
