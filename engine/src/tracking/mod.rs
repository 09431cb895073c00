//! Tracking: proving that a win, impression or click URL was issued by us for a real bid, and
//! counting each such event once.
//!
//! When the server answers an auction, each winning bid carries URLs back to us, all with the
//! same token (one per bid keeps the response small; the event kind comes from the path):
//!
//! - `nurl`: `/win?t=TOKEN&p=${AUCTION_PRICE}` (the exchange substitutes the clearing price),
//! - `burl`: `/imp?t=TOKEN` (billing), and an impression pixel `/imp?t=TOKEN` in the markup,
//! - the click-through: `/click?t=TOKEN`, answered with a 302 to the landing page.
//!
//! [`token`] signs and verifies tokens (keyed BLAKE3 over request, imp, buyer, creative, price,
//! currency and issue time); [`dedupe`] remembers recent events per shard. Both are pure and
//! synchronous, allocate nothing on the request path after warm-up, and never panic on what a
//! client sends. The HTTP wiring lives elsewhere; this is its contract.
//!
//! # What the auction path must do
//!
//! Per winning bid, fill a [`token::TrackingClaims`] and [`token::TokenSigner::sign`] it into a
//! per-shard `String` reserved with [`token::TOKEN_CHARS_MAX`] of spare room, then build the
//! URLs around it. A [`token::ClaimsError`] (an id over [`token::ID_BYTES_MAX`], mostly a long
//! exchange request id) means the bid cannot be tracked, so cannot be billed: drop the bid and
//! count the reason. A token is about 120 characters for UUID request ids and short internal
//! ids.
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
//! 3. [`dedupe::DedupeKey::new`] from the kind and the tag. Send the event to one shard chosen
//!    from the token, so a repeat that lands on another shard is still caught: the server
//!    uses the token's `shard_idx` (the shard that decided the bid, which also holds its
//!    budget commitment); [`dedupe::DedupeKey::owner_shard`] is the choice for a token that
//!    names no shard. Then [`dedupe::DedupeWindow::first_seen`]. A
//!    repeat is counted as a duplicate, not as an event, and still gets the normal answer (an
//!    exchange that retries must not see an error).
//! 4. A first event is counted per buyer (campaign or bidder) and creative, and written to the
//!    shard's event log; the answer waits for the log to be durable (design §7). On start,
//!    replay the log's recent events through `first_seen` so a restart does not reopen the
//!    window.
//! 5. `/win`: read `p` with [`token::price_from_query`]; a decimal CPM parses with
//!    [`token::price_micros_from_decimal`]. `p` is not signed, so cap it at the signed
//!    `price_micros` (a clearing price over our bid is an error to count, never a charge).
//! 6. `/imp`: answer 204, or a 1×1 GIF where the URL is a pixel.
//! 7. `/click`: look the landing page up in the catalog by buyer and creative ids and answer
//!    302 to it, also for a repeat (the user clicked; only the count is deduplicated). A token
//!    of a bidder, or a campaign no longer in the catalog, gets 403: the token never holds a
//!    URL, so it can never redirect anywhere an advertiser did not configure.
//!
//! The secret is config, at least [`token::SECRET_BYTES_MIN`] random bytes, and the same on
//! every server that can receive tracking calls. Rotating it invalidates the tokens in flight;
//! accepting a previous secret during a TTL is not built yet.

mod base64url;
mod config;
pub mod dedupe;
pub mod token;

// The names the HTTP wiring uses, flat, so that it does not depend on the split into files.
pub use config::TrackingConfig;
pub use dedupe::{DedupeKey, DedupeWindow, DEDUPE_ENTRIES_MAX_CEILING};
pub use token::{
    check_age, price_from_query, price_micros_from_decimal, token_from_query, BuyerKind,
    ClaimsError, SecretTooShort, TokenError, TokenScratch, TokenSigner, TokenTag, TrackingClaims,
    VerifiedToken, CLOCK_SKEW_S_MAX, ID_BYTES_MAX, SECRET_BYTES_MIN, TOKEN_CHARS_MAX,
};

/// The event a tracking URL reports. Not part of the signature: it comes from the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The exchange's win notice (`nurl`).
    Win,
    /// Billing notice (`burl`) or impression pixel.
    Impression,
    /// Click-through.
    Click,
}

impl EventKind {
    /// The kind served at `path` (`/win`, `/imp`, `/click`), if any.
    pub fn from_path(path: &str) -> Option<EventKind> {
        match path {
            "/win" => Some(EventKind::Win),
            "/imp" => Some(EventKind::Impression),
            "/click" => Some(EventKind::Click),
            _ => None,
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            EventKind::Win => "/win",
            EventKind::Impression => "/imp",
            EventKind::Click => "/click",
        }
    }

    /// A stable name for metrics labels.
    pub fn label(self) -> &'static str {
        match self {
            EventKind::Win => "win",
            EventKind::Impression => "impression",
            EventKind::Click => "click",
        }
    }
}
