//! Signed tracking tokens: what the server puts in the `nurl`, `burl`, `lurl`, pixel and click
//! URLs of a winning bid, and checks again when the exchange or the browser calls back.
//!
//! Each URL of a bid carries its own token, bound to its event kind ([`EventKind`]): the
//! pixel's token cannot report a win or a billing notice, nor the click's an impression. This
//! matters because only the exchange's notices may carry a clearing price, and the pixel and
//! the click are in every browser's (and bot's) hands; and a loss notice releases the bid's
//! budget commitment, so no other URL of the bid may stand for it.
//!
//! A token is `KIND || base64url(payload || tag)` without padding: one character naming the
//! kind (`w` win, `b` billing, `i` impression pixel, `c` click, `l` loss), then the bid's
//! payload and the tag of that kind. The payload holds the claims of one bid in a fixed binary
//! layout, the same for every kind. The tags come from one keyed-BLAKE3 computation over the
//! payload, with a key derived from the configured secret: its first 80 bytes of output are cut
//! into five independent 16-byte tags, one per kind in [`EventKind::ALL`] order. So a bid's
//! five tokens cost one MAC to sign, and a verifier recomputes the five and compares the one of
//! the token's kind in constant time; altering the kind character makes the tag the wrong one.
//! BLAKE3 gives its output 64 bytes per compression of the root node, so the loss's tag (bytes
//! 64 to 80) costs a second root compression; the first 64 bytes, the four older kinds' tags,
//! are the same as before the loss had a tag (an extendable output's prefix does not depend on
//! its length), so tokens signed before it was added still verify and the format version did
//! not change. The payload is padded to a multiple of three bytes, so its base64url text is the
//! same in all five tokens and is encoded once per bid ([`BidTokens`]).
//!
//! Payload layout, integers little-endian:
//!
//! | bytes | field |
//! | --- | --- |
//! | 1 | format version, [`FORMAT_VERSION`] |
//! | 1 | buyer kind: 1 campaign, 2 bidder |
//! | 8 | `issued_unix_s`, i64 |
//! | 8 | `price_micros`, i64 |
//! | 3 | currency, ISO-4217 upper-case letters |
//! | 2 | `shard_idx`, u16: the shard that committed the bid's budget and owns its events |
//! | 8 | `user_key`, u64: hash of the user key, 0 for none (frequency caps) |
//! | 8 | `sequence`, u64: the bid's number on its shard, which judges its repeats |
//! | 1 + n | `request_id`, length-prefixed |
//! | 1 + n | `imp_id`, length-prefixed |
//! | 1 + n | `buyer_id`, length-prefixed |
//! | 1 + n | `creative_id`, length-prefixed |
//! | 0 to 2 | zero bytes, up to a multiple of three bytes |
//!
//! The landing page of a click is not in the token: the server looks it up from its catalog by
//! campaign and creative, so tokens stay short and a token can only ever redirect to a page an
//! advertiser configured (no open redirect).
//!
//! Everything here is pure and synchronous; signing and verifying use stack buffers, the
//! caller's reused [`BidTokens`] and [`TokenScratch`], so neither allocates after warm-up.

use std::fmt;

use super::base64url;
use super::EventKind;
// The clearing price's parser lived here before it had a module of its own; its users still
// find it here.
pub use super::price::{price_from_query, price_micros_from_decimal};
use crate::currency::Currency;

/// Longest id of any kind (request, imp, buyer, creative) a token carries, in bytes. OpenRTB
/// ids are usually UUIDs (36 bytes) or shorter; 128 leaves room for long exchange ids while
/// keeping the worst token under 800 characters, short enough for any URL limit we meet.
pub const ID_BYTES_MAX: usize = 128;
/// Ids must not be empty: an empty id is a bug upstream and would make the catalog lookup of a
/// click ambiguous.
pub const ID_BYTES_MIN: usize = 1;
/// Bytes of each kind's tag. 128 bits leave a forger a 2^-128 chance per guess (and every
/// guess costs a request we count), the security level of the 256-bit key; longer tags would
/// add characters to each of the five URLs of a bid for no practical gain.
pub const TAG_BYTES: usize = 16;
/// The MAC output cut into tags, one per kind: 80 bytes. BLAKE3 yields a 64-byte block per
/// compression of its root node, so the first four tags cost what one plain hash does and the
/// loss's tag one compression more; a sixth kind would fit in the same two blocks.
const KIND_TAGS_BYTES: usize = TAG_BYTES * EventKind::COUNT;
/// Shortest secret accepted: 32 bytes (256 bits), the size of the BLAKE3 key derived from it,
/// so that the secret is never the weakest link of the scheme.
pub const SECRET_BYTES_MIN: usize = 32;
/// How far in the future an issue time may lie, in seconds, before a token is refused as
/// [`TokenError::FromTheFuture`]. The signer and the verifier can be different servers of a
/// fleet (the exchange calls whichever the load balancer picks); NTP keeps them well within a
/// second, and a minute absorbs a badly synchronised host without letting a token live much
/// longer than its TTL.
pub const CLOCK_SKEW_S_MAX: i64 = 60;
/// First byte of every payload. A new layout or MAC gets a new version so old and new servers
/// can tell each other's tokens apart during a rolling upgrade. Version 3 replaced HMAC-SHA256
/// with keyed BLAKE3 (on a CPU without SHA extensions HMAC cost 1.5-2.4 us per token, a tenth
/// of a whole bid request's server time; BLAKE3 costs about 0.15 us, see ARCHITECTURE.md).
/// Version 4 binds each token to its event kind (one tag per kind, a kind character in front),
/// adds the bid's sequence number and pads the payload to a multiple of three bytes. The loss
/// kind (`l`) came within version 4: the payload and the four earlier tags did not change, and
/// a server without it refuses an `l` token as an unknown kind.
pub const FORMAT_VERSION: u8 = 4;

/// BLAKE3 `derive_key` context for the MAC key: the key is bound to this protocol, so a tag made
/// here cannot be replayed as a MAC of another protocol that shares the secret by mistake (and
/// vice versa). BLAKE3's documentation asks for a hardcoded, globally unique context string.
const MAC_KEY_CONTEXT: &str = "adshard 2026-11-23 tracking token v3 MAC key";

/// Number of length-prefixed ids in a payload.
const N_IDS: usize = 4;
/// Payload bytes besides the ids and the padding: version, buyer kind, issue time, price,
/// currency, shard, user key, sequence and one length byte per id.
const FIXED_BYTES: usize = 1 + 1 + 8 + 8 + 3 + 2 + 8 + 8 + N_IDS;
/// Largest payload: every id at [`ID_BYTES_MAX`], padded.
pub const PAYLOAD_BYTES_MAX: usize = padded_len(FIXED_BYTES + N_IDS * ID_BYTES_MAX);
/// Largest decoded token, payload and tag.
pub const TOKEN_BYTES_MAX: usize = PAYLOAD_BYTES_MAX + TAG_BYTES;
/// Smallest decoded token: every id at [`ID_BYTES_MIN`].
const TOKEN_BYTES_MIN: usize = padded_len(FIXED_BYTES + N_IDS * ID_BYTES_MIN) + TAG_BYTES;
/// Characters of the kind in front of a token.
const KIND_CHARS: usize = 1;
/// Longest token text: anything longer is refused unread.
pub const TOKEN_CHARS_MAX: usize = KIND_CHARS + base64url::encoded_len(TOKEN_BYTES_MAX);
/// Shortest token text that can be valid.
pub const TOKEN_CHARS_MIN: usize = KIND_CHARS + base64url::encoded_len(TOKEN_BYTES_MIN);
/// Characters of the largest payload's base64url text.
const PAYLOAD_CHARS_MAX: usize = base64url::encoded_len(PAYLOAD_BYTES_MAX);
/// Characters of a tag's base64url text.
const TAG_CHARS: usize = base64url::encoded_len(TAG_BYTES);

/// `len` rounded up to a multiple of three: a payload of that length encodes to whole
/// base64url groups, so a tag's text can follow it without re-encoding the payload.
const fn padded_len(len: usize) -> usize {
    len.div_ceil(3) * 3
}

// Each id length must fit its one-byte prefix.
const _: () = assert!(ID_BYTES_MAX <= u8::MAX as usize);
const _: () = assert!(ID_BYTES_MIN >= 1 && ID_BYTES_MIN <= ID_BYTES_MAX);
// Tags of at least 128 bits, all from BLAKE3's first two 64-byte output blocks.
const _: () = assert!(TAG_BYTES >= 16 && KIND_TAGS_BYTES <= 2 * blake3::BLOCK_LEN);
// The payload's text is whole base64url groups.
const _: () = assert!(PAYLOAD_BYTES_MAX % 3 == 0);
// The worst token must stay far below common URL limits (2 KiB for old browsers and proxies),
// since the click URL also carries our host and path.
const _: () = assert!(TOKEN_CHARS_MAX <= 1024);

/// Who is paid for (and owns the creative of) the bid: one of our campaigns, or an external
/// bidder. Signed, so a campaign and a bidder that happen to share an id never share tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuyerKind {
    Campaign,
    Bidder,
}

impl BuyerKind {
    fn code(self) -> u8 {
        match self {
            BuyerKind::Campaign => 1,
            BuyerKind::Bidder => 2,
        }
    }

    fn from_code(code: u8) -> Option<BuyerKind> {
        match code {
            1 => Some(BuyerKind::Campaign),
            2 => Some(BuyerKind::Bidder),
            _ => None,
        }
    }
}

/// What a token vouches for: one winning bid of one impression of one auction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackingClaims<'a> {
    /// The bid request's `id`.
    pub request_id: &'a str,
    /// The `imp.id` the bid is for.
    pub imp_id: &'a str,
    pub buyer_kind: BuyerKind,
    /// Campaign id for [`BuyerKind::Campaign`], bidder id for [`BuyerKind::Bidder`].
    pub buyer_id: &'a str,
    /// Our creative id (or the bidder's `crid`); with `buyer_id` it finds the landing page.
    pub creative_id: &'a str,
    /// The bid price (CPM) in micro-units of `currency`; the most a win can cost.
    pub price_micros: i64,
    pub currency: Currency,
    /// When the server answered the auction, Unix seconds; the TTL counts from here.
    pub issued_unix_s: i64,
    /// The shard that answered the auction: it committed the bid's budget and holds the
    /// user's frequency caps, so the bid's events are routed to it.
    pub shard_idx: u16,
    /// Hash of the request's user key (`freqcap::user_key_hash`), 0 when it had none.
    pub user_key: u64,
    /// The bid's number among those its shard signed (`dedupe::EventWindow::issue`): the
    /// shard's dedupe window keeps one bit per event kind for it.
    pub sequence: u64,
}

/// Which id of [`TrackingClaims`] an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdField {
    RequestId,
    ImpId,
    BuyerId,
    CreativeId,
}

impl fmt::Display for IdField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdField::RequestId => "request_id",
            IdField::ImpId => "imp_id",
            IdField::BuyerId => "buyer_id",
            IdField::CreativeId => "creative_id",
        })
    }
}

/// Why claims cannot be signed. The auction path drops the bid (it could not be tracked, so it
/// could not be billed) and counts the reason; a long id usually comes from the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("{field} is empty")]
    IdEmpty { field: IdField },
    #[error("{field} is {len_bytes} bytes, over the {ID_BYTES_MAX} a tracking token carries")]
    IdTooLong { field: IdField, len_bytes: usize },
    #[error("price_micros {price_micros} is negative")]
    PriceNegative { price_micros: i64 },
}

/// Why a secret cannot sign tokens. Raised when the config is loaded, never on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "tracking secret is {len_bytes} bytes; at least {SECRET_BYTES_MIN} random bytes are needed"
)]
pub struct SecretTooShort {
    pub len_bytes: usize,
}

/// How a token that is not even a candidate is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedReason {
    /// Fewer characters than the smallest token (includes the empty string).
    TooShort,
    /// More characters than [`TOKEN_CHARS_MAX`].
    TooLong,
    /// The first character names no event kind.
    UnknownKind,
    /// Not canonical unpadded base64url.
    NotBase64,
    /// A format version this server does not know.
    UnknownVersion,
    /// The signature holds but the payload does not parse: only a bug or a leaked secret can
    /// produce this, so it deserves an alert rather than a counter.
    BadLayout,
}

/// Why a token is refused. The caller answers 403 and counts [`TokenError::label`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token ({reason:?})")]
    Malformed { reason: MalformedReason },
    /// Forged, altered, or signed with another secret.
    #[error("token signature does not match")]
    BadSignature,
    #[error("token is {age_s} s old, over its TTL of {ttl_s} s")]
    Expired { age_s: i64, ttl_s: u64 },
    #[error("token is issued {ahead_s} s in the future, over the {CLOCK_SKEW_S_MAX} s of clock skew allowed")]
    FromTheFuture { ahead_s: i64 },
}

impl TokenError {
    /// A stable name for metrics labels.
    pub fn label(&self) -> &'static str {
        match self {
            TokenError::Malformed { .. } => "malformed",
            TokenError::BadSignature => "bad_signature",
            TokenError::Expired { .. } => "expired",
            TokenError::FromTheFuture { .. } => "from_the_future",
        }
    }
}

/// A token whose signature checked out, and its age too when it came from
/// [`TokenSigner::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedToken<'a> {
    /// The ids borrow from the [`TokenScratch`] given to [`TokenSigner::verify`].
    pub claims: TrackingClaims<'a>,
    /// The event kind the token was signed for.
    pub kind: EventKind,
}

/// Reused buffer that a verified token's ids borrow from; one per shard, since a shard
/// verifies one token at a time.
pub struct TokenScratch {
    bytes: [u8; TOKEN_BYTES_MAX],
}

impl TokenScratch {
    pub const fn new() -> TokenScratch {
        TokenScratch {
            bytes: [0; TOKEN_BYTES_MAX],
        }
    }
}

impl Default for TokenScratch {
    fn default() -> Self {
        TokenScratch::new()
    }
}

impl fmt::Debug for TokenScratch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenScratch")
    }
}

/// The five tokens of one bid, one per [`EventKind`], as text ready to be copied into its
/// URLs: the payload's text once, and each kind's tag. Reused per shard (under a kilobyte, no
/// heap), filled by [`TokenSigner::sign`].
#[derive(Clone)]
pub struct BidTokens {
    payload_chars: [u8; PAYLOAD_CHARS_MAX],
    n_payload_chars: usize,
    tag_chars: [[u8; TAG_CHARS]; EventKind::COUNT],
}

impl BidTokens {
    pub const fn new() -> BidTokens {
        BidTokens {
            payload_chars: [0; PAYLOAD_CHARS_MAX],
            n_payload_chars: 0,
            tag_chars: [[0; TAG_CHARS]; EventKind::COUNT],
        }
    }

    /// Forgets the tokens: an empty `BidTokens` writes empty tokens, which every endpoint
    /// refuses.
    pub fn clear(&mut self) {
        self.n_payload_chars = 0;
    }

    pub fn is_empty(&self) -> bool {
        self.n_payload_chars == 0
    }

    /// The three pieces of the token of `kind`, to be written one after the other: its kind
    /// character, the payload's text and its tag's text. All base64url or ASCII letters, so
    /// safe in a URL and in a JSON string.
    fn pieces(&self, kind: EventKind) -> [&[u8]; 3] {
        if self.is_empty() {
            return [&[], &[], &[]];
        }
        [
            std::slice::from_ref(&KIND_CODES[kind.idx()]),
            &self.payload_chars[..self.n_payload_chars],
            &self.tag_chars[kind.idx()],
        ]
    }

    /// Appends the token of `kind` to `out`.
    pub fn write(&self, kind: EventKind, out: &mut Vec<u8>) {
        for piece in self.pieces(kind) {
            out.extend_from_slice(piece);
        }
    }

    /// Appends the token of `kind` to `out`.
    pub fn push(&self, kind: EventKind, out: &mut String) {
        for piece in self.pieces(kind) {
            debug_assert!(piece.is_ascii());
            // SAFETY: every byte of a piece is a kind code or a base64url character (ASCII),
            // so the piece is UTF-8. Checking it again cost a third of the push on every bid.
            out.push_str(unsafe { std::str::from_utf8_unchecked(piece) });
        }
    }
}

impl Default for BidTokens {
    fn default() -> Self {
        BidTokens::new()
    }
}

impl fmt::Debug for BidTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BidTokens")
            .field("n_payload_chars", &self.n_payload_chars)
            .finish_non_exhaustive()
    }
}

/// The character in front of a token of each kind, in [`EventKind::ALL`] order.
const KIND_CODES: [u8; EventKind::COUNT] = [b'w', b'b', b'i', b'c', b'l'];

fn kind_from_code(code: u8) -> Option<EventKind> {
    let idx = KIND_CODES.iter().position(|c| *c == code)?;
    EventKind::ALL.get(idx).copied()
}

/// Signs and verifies tokens with one secret. Cheap to clone (a few hundred bytes, no heap):
/// give each shard its own.
#[derive(Clone)]
pub struct TokenSigner {
    /// The BLAKE3 key, derived from the secret under [`MAC_KEY_CONTEXT`].
    key: [u8; blake3::KEY_LEN],
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The state is derived from the secret: never print it.
        f.write_str("TokenSigner { .. }")
    }
}

impl TokenSigner {
    /// A signer for `secret`, which must be at least [`SECRET_BYTES_MIN`] random bytes and the
    /// same on every server that may receive the tracking calls.
    pub fn new(secret: &[u8]) -> Result<TokenSigner, SecretTooShort> {
        if secret.len() < SECRET_BYTES_MIN {
            return Err(SecretTooShort {
                len_bytes: secret.len(),
            });
        }
        Ok(TokenSigner {
            key: blake3::derive_key(MAC_KEY_CONTEXT, secret),
        })
    }

    /// Signs `claims` into `tokens`, the five tokens of one bid. On error `tokens` is left
    /// empty, so a bid that could not be signed cannot go out with another bid's tokens.
    pub fn sign(
        &self,
        claims: &TrackingClaims<'_>,
        tokens: &mut BidTokens,
    ) -> Result<(), ClaimsError> {
        tokens.clear();
        check_claims(claims)?;
        let mut payload = [0u8; PAYLOAD_BYTES_MAX];
        let n_payload = write_payload(claims, &mut payload);
        let tags = self.tags(&payload[..n_payload]);
        for (kind_tags, tag) in tokens
            .tag_chars
            .iter_mut()
            .zip(tags.chunks_exact(TAG_BYTES))
        {
            base64url::encode(tag, kind_tags);
        }
        tokens.n_payload_chars =
            base64url::encode(&payload[..n_payload], &mut tokens.payload_chars);
        Ok(())
    }

    /// Checks `token` (as found in the query string) at `now_unix_s` against a lifetime of
    /// `ttl_s` seconds, and returns its claims: [`TokenSigner::verify_signature`], then
    /// [`check_age`].
    pub fn verify<'s>(
        &self,
        token: &str,
        now_unix_s: i64,
        ttl_s: u64,
        scratch: &'s mut TokenScratch,
    ) -> Result<VerifiedToken<'s>, TokenError> {
        let verified = self.verify_signature(token, scratch)?;
        check_age(verified.claims.issued_unix_s, now_unix_s, ttl_s)?;
        Ok(verified)
    }

    /// Checks that `token` was signed by us and returns its claims, whatever its age. The
    /// signature is checked before anything in the payload is believed, and compared in
    /// constant time. Only for an answer that does not depend on the token being fresh (a
    /// late click's redirect): nothing may be counted or billed on a token whose age
    /// [`check_age`] has not accepted.
    pub fn verify_signature<'s>(
        &self,
        token: &str,
        scratch: &'s mut TokenScratch,
    ) -> Result<VerifiedToken<'s>, TokenError> {
        let malformed = |reason| TokenError::Malformed { reason };
        if token.len() < TOKEN_CHARS_MIN {
            return Err(malformed(MalformedReason::TooShort));
        }
        if token.len() > TOKEN_CHARS_MAX {
            return Err(malformed(MalformedReason::TooLong));
        }
        let (kind_code, text) = token
            .as_bytes()
            .split_first()
            .ok_or(malformed(MalformedReason::TooShort))?;
        let kind = kind_from_code(*kind_code).ok_or(malformed(MalformedReason::UnknownKind))?;
        let n_bytes = base64url::decode(text, &mut scratch.bytes)
            .ok_or(malformed(MalformedReason::NotBase64))?;
        let scratch: &'s TokenScratch = scratch;
        let bytes = &scratch.bytes[..n_bytes];
        let (payload, tag) = bytes
            .split_at_checked(n_bytes.saturating_sub(TAG_BYTES))
            .ok_or(malformed(MalformedReason::TooShort))?;
        if tag.len() != TAG_BYTES || payload.len() < FIXED_BYTES {
            return Err(malformed(MalformedReason::TooShort));
        }
        if payload.first() != Some(&FORMAT_VERSION) {
            return Err(malformed(MalformedReason::UnknownVersion));
        }

        let tags = self.tags(payload);
        let kind_tag = &tags[kind.idx() * TAG_BYTES..][..TAG_BYTES];
        if !tags_equal(kind_tag, tag) {
            return Err(TokenError::BadSignature);
        }

        let claims = read_payload(payload).ok_or(malformed(MalformedReason::BadLayout))?;
        Ok(VerifiedToken { claims, kind })
    }

    /// The tags of every kind for `payload`, in [`EventKind::ALL`] order: one keyed-BLAKE3
    /// computation whose first 80 bytes of output (two root compressions) are cut in five.
    fn tags(&self, payload: &[u8]) -> [u8; KIND_TAGS_BYTES] {
        let mut tags = [0u8; KIND_TAGS_BYTES];
        blake3::Hasher::new_keyed(&self.key)
            .update(payload)
            .finalize_xof()
            .fill(&mut tags);
        tags
    }
}

/// Compares a computed tag with a received one in constant time: every byte is read whatever
/// the earlier ones were, so the time taken does not tell a forger how many leading bytes of a
/// guess were right. `black_box` keeps the optimiser from turning the fold into an early exit.
fn tags_equal(expected: &[u8], received: &[u8]) -> bool {
    if expected.len() != TAG_BYTES || received.len() != TAG_BYTES {
        return false;
    }
    let difference = expected
        .iter()
        .zip(received)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(difference) == 0
}

/// Whether a token issued at `issued_unix_s` may still be used at `now_unix_s` under a
/// lifetime of `ttl_s` seconds: not older than the TTL, and not issued further ahead than the
/// clock skew allowed.
pub fn check_age(issued_unix_s: i64, now_unix_s: i64, ttl_s: u64) -> Result<(), TokenError> {
    // i128: neither a hostile clock nor a huge TTL can overflow.
    let age_s = i128::from(now_unix_s) - i128::from(issued_unix_s);
    let saturate = |seconds: i128| i64::try_from(seconds).unwrap_or(i64::MAX);
    if -age_s > i128::from(CLOCK_SKEW_S_MAX) {
        return Err(TokenError::FromTheFuture {
            ahead_s: saturate(-age_s),
        });
    }
    if age_s > i128::from(ttl_s) {
        return Err(TokenError::Expired {
            age_s: saturate(age_s),
            ttl_s,
        });
    }
    Ok(())
}

fn check_claims(claims: &TrackingClaims<'_>) -> Result<(), ClaimsError> {
    for (field, id) in [
        (IdField::RequestId, claims.request_id),
        (IdField::ImpId, claims.imp_id),
        (IdField::BuyerId, claims.buyer_id),
        (IdField::CreativeId, claims.creative_id),
    ] {
        if id.len() < ID_BYTES_MIN {
            return Err(ClaimsError::IdEmpty { field });
        }
        if id.len() > ID_BYTES_MAX {
            return Err(ClaimsError::IdTooLong {
                field,
                len_bytes: id.len(),
            });
        }
    }
    if claims.price_micros < 0 {
        return Err(ClaimsError::PriceNegative {
            price_micros: claims.price_micros,
        });
    }
    Ok(())
}

/// Writes the payload of checked `claims`, padded, into `bytes` and returns its length.
fn write_payload(claims: &TrackingClaims<'_>, bytes: &mut [u8; PAYLOAD_BYTES_MAX]) -> usize {
    let mut writer = Writer { bytes, len: 0 };
    writer.put(&[FORMAT_VERSION, claims.buyer_kind.code()]);
    writer.put(&claims.issued_unix_s.to_le_bytes());
    writer.put(&claims.price_micros.to_le_bytes());
    writer.put(claims.currency.as_str().as_bytes());
    writer.put(&claims.shard_idx.to_le_bytes());
    writer.put(&claims.user_key.to_le_bytes());
    writer.put(&claims.sequence.to_le_bytes());
    for id in [
        claims.request_id,
        claims.imp_id,
        claims.buyer_id,
        claims.creative_id,
    ] {
        // `check_claims` bounded the length to ID_BYTES_MAX, which fits a byte.
        writer.put(&[id.len() as u8]);
        writer.put(id.as_bytes());
    }
    let n_padding = padded_len(writer.len) - writer.len;
    writer.put(&[0; 2][..n_padding]);
    debug_assert!(writer.len <= PAYLOAD_BYTES_MAX && writer.len % 3 == 0);
    writer.len
}

struct Writer<'b> {
    bytes: &'b mut [u8; PAYLOAD_BYTES_MAX],
    len: usize,
}

impl Writer<'_> {
    fn put(&mut self, source: &[u8]) {
        // Sizes are bounded by constants checked at compile time; the `if let` only keeps an
        // impossible overflow from panicking.
        if let Some(slot) = self.bytes.get_mut(self.len..self.len + source.len()) {
            slot.copy_from_slice(source);
            self.len += source.len();
        } else {
            debug_assert!(false, "payload over PAYLOAD_BYTES_MAX");
        }
    }
}

/// Parses a payload whose signature already checked out; `None` if it does not follow the
/// layout exactly (no trailing bytes).
fn read_payload(payload: &[u8]) -> Option<TrackingClaims<'_>> {
    let mut reader = Reader { rest: payload };
    let [version, buyer_code] = reader.array::<2>()?;
    debug_assert_eq!(version, FORMAT_VERSION);
    let buyer_kind = BuyerKind::from_code(buyer_code)?;
    let issued_unix_s = i64::from_le_bytes(reader.array()?);
    let price_micros = i64::from_le_bytes(reader.array()?);
    let currency_code: [u8; 3] = reader.array()?;
    let currency = Currency::parse(std::str::from_utf8(&currency_code).ok()?)?;
    let shard_idx = u16::from_le_bytes(reader.array()?);
    let user_key = u64::from_le_bytes(reader.array()?);
    let sequence = u64::from_le_bytes(reader.array()?);
    let request_id = reader.id()?;
    let imp_id = reader.id()?;
    let buyer_id = reader.id()?;
    let creative_id = reader.id()?;
    // Exactly the padding the signer writes: zeros up to a multiple of three bytes.
    let n_padding =
        padded_len(payload.len() - reader.rest.len()) - (payload.len() - reader.rest.len());
    if reader.rest.len() != n_padding || reader.rest.iter().any(|byte| *byte != 0) {
        return None;
    }
    let claims = TrackingClaims {
        request_id,
        imp_id,
        buyer_kind,
        buyer_id,
        creative_id,
        price_micros,
        currency,
        issued_unix_s,
        shard_idx,
        user_key,
        sequence,
    };
    // We only sign valid claims; re-checking costs little and keeps the two sides honest.
    check_claims(&claims).ok()?;
    Some(claims)
}

struct Reader<'p> {
    rest: &'p [u8],
}

impl<'p> Reader<'p> {
    fn take(&mut self, n_bytes: usize) -> Option<&'p [u8]> {
        let (head, rest) = self.rest.split_at_checked(n_bytes)?;
        self.rest = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn id(&mut self) -> Option<&'p str> {
        let [len] = self.array::<1>()?;
        std::str::from_utf8(self.take(usize::from(len))?).ok()
    }
}

/// The raw value of the `t` parameter of a tracking URL's query (the part after `?`). `None`
/// when it is missing or given more than once: with two tokens, which one a proxy, a log
/// reader and this server would each pick is a guess, so none is picked.
pub fn token_from_query(query: &str) -> Option<&str> {
    query_param(query, "t")
}

/// The value of parameter `name` in `query`; `None` when missing or repeated.
pub(super) fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    let mut found = None;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == name {
            if found.is_some() {
                return None;
            }
            found = Some(value);
        }
    }
    found
}
