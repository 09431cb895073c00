//! The engine's own view of a bid request: [`AdRequest`], compact, owned, and reused.
//!
//! Why a module of its own: targeting, the auction, frequency caps, currency, tracking and shard
//! routing all speak this vocabulary, and none of them should import the wire. `openrtb` is the
//! edge that parses a body and fills an `AdRequest` (through the crate-private filling methods in
//! `fill`); nothing here knows JSON, and the limits below are what every edge must hold a request
//! to before it hands one over.
//!
//! A shard keeps one `AdRequest` per connection and refills it for every request, so its storage
//! is built to survive [`AdRequest::clear`]:
//! - every string is copied into one `String` arena and referred to by a [`TextRef`] (two `u32`
//!   offsets), so a request costs no allocation per string;
//! - every list is a [`ListRef`] into one of a few flat pools (sizes, strings, codes) shared by
//!   all impressions, so an [`Imp`] is a plain `Copy` struct and the impressions are one `Vec`.
//!
//! Absent strings are empty [`TextRef`]s: the decision code treats "absent" and "empty" alike.
//! Money is an integer of micro-units (`bidfloor_micros`); floats exist only in the wire types
//! and are rounded once, at the edge.

mod fill;

use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;

use crate::currency::{alpha3, alpha3_str, Currency};

/// Impressions per request. Real requests carry 1 to 10 (a CTV ad pod a few more); the limit
/// bounds the quadratic duplicate-id check and every per-impression buffer of a shard.
pub const IMPS_MAX: usize = 64;

/// `format` entries per banner: a multi-size slot lists a handful of sizes.
pub const FORMATS_PER_BANNER_MAX: usize = 64;

/// Entries of any other list that validation scans or conversion copies: MIME types,
/// protocols, creative attributes, currencies, categories, deals, event trackers. Generous, as
/// some exchanges send hundreds of deals per impression.
pub const LIST_ENTRIES_MAX: usize = 1024;

/// Entries of `bcat`, `badv` and `bapp` each. A longer list is rejected, never truncated:
/// dropping entries from a block list would deliver ads off the mark.
pub const BLOCK_LIST_ENTRIES_MAX: usize = 4096;

/// User data segments over all of `user.data`, copied for targeting. Rejected above the limit
/// rather than truncated, as a campaign may exclude a segment.
pub const USER_SEGMENTS_MAX: usize = 1024;

/// Largest floor accepted, in currency units per thousand impressions. Far above any real
/// floor, and small enough that its micro-units fit an `i64` with room for arithmetic.
pub const BIDFLOOR_MAX: f64 = 1_000_000.0;

// Micro-units of the largest floor must fit an i64 (1e12 < 9.2e18).
const _: () = assert!((BIDFLOOR_MAX as i64).checked_mul(1_000_000).is_some());
// Per-imp list offsets are u32.
const _: () =
    assert!(IMPS_MAX * (FORMATS_PER_BANNER_MAX + 4 * LIST_ENTRIES_MAX) < u32::MAX as usize);

/// A string held in an [`AdRequest`]'s text arena; resolve it with [`AdRequest::text`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TextRef {
    start: u32,
    end: u32,
}

impl TextRef {
    pub fn is_empty(self) -> bool {
        self.start >= self.end
    }

    pub fn len(self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }
}

/// A list held in one of an [`AdRequest`]'s pools; `T` says which pool, so a size list cannot
/// be resolved against the string pool.
pub struct ListRef<T> {
    start: u32,
    end: u32,
    pool: PhantomData<fn() -> T>,
}

impl<T> ListRef<T> {
    pub fn len(self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }

    pub fn is_empty(self) -> bool {
        self.start >= self.end
    }
}

// Derives would require `T: Clone` and friends; a ListRef is two integers whatever `T` is.
impl<T> Clone for ListRef<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for ListRef<T> {}

impl<T> Default for ListRef<T> {
    fn default() -> Self {
        ListRef {
            start: 0,
            end: 0,
            pool: PhantomData,
        }
    }
}

impl<T> PartialEq for ListRef<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.start, self.end) == (other.start, other.end)
    }
}

impl<T> Eq for ListRef<T> {}

impl<T> fmt::Debug for ListRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ListRef({}..{})", self.start, self.end)
    }
}

/// A fixed creative size in device-independent pixels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Size {
    pub w: u32,
    pub h: u32,
}

/// A flexible size: any creative at least `wmin` wide with aspect ratio `wratio:hratio`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlexSize {
    pub wmin: u32,
    pub wratio: u32,
    pub hratio: u32,
}

/// The media kinds an impression accepts, as bit flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MediaKinds(u8);

impl MediaKinds {
    pub const BANNER: MediaKinds = MediaKinds(1);
    pub const VIDEO: MediaKinds = MediaKinds(1 << 1);
    pub const AUDIO: MediaKinds = MediaKinds(1 << 2);
    pub const NATIVE: MediaKinds = MediaKinds(1 << 3);

    pub fn contains(self, kinds: MediaKinds) -> bool {
        self.0 & kinds.0 == kinds.0
    }

    pub fn insert(&mut self, kinds: MediaKinds) {
        self.0 |= kinds.0;
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// An ISO-3166-1 alpha-3 country code, as OpenRTB 2.x `geo.country` carries.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CountryCode([u8; 3]);

impl CountryCode {
    pub fn parse(code: &str) -> Option<CountryCode> {
        alpha3(code).map(CountryCode)
    }

    pub fn as_str(&self) -> &str {
        alpha3_str(&self.0)
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the winner pays (`at`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AuctionType {
    FirstPrice,
    /// The OpenRTB default: the winner pays the second price plus the minimum increment.
    #[default]
    SecondPrice,
    /// An exchange-specific rule (code 500 or more).
    ExchangeSpecific(u32),
}

/// Where the impression appears.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ContextKind {
    #[default]
    None,
    Site,
    App,
    Dooh,
}

/// The site, app or screen the request comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Context {
    pub kind: ContextKind,
    pub id: TextRef,
    /// `site.domain`, else the host of `site.page`; `app.domain`; `dooh.domain`. Block lists
    /// match on it, so a site that sends only a page still gets a domain.
    pub domain: TextRef,
    pub page: TextRef,
    /// `app.bundle`; empty for sites and screens.
    pub bundle: TextRef,
    pub publisher_id: TextRef,
    /// `cat`, `sectioncat` and `pagecat` together: each describes the context.
    pub categories: ListRef<TextRef>,
}

/// The device, with the location used for geo targeting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Device {
    /// AdCOM device type (1 mobile/tablet ... 8 set-top box); `None` when absent or 0.
    pub device_type: Option<u8>,
    pub os: TextRef,
    /// Whether a user agent (`ua` or structured `sua`) was sent.
    pub has_user_agent: bool,
    /// The advertising id; empty when absent.
    pub ifa: TextRef,
    /// `ip`, else `ipv6`, when it parses as an address.
    pub ip: Option<IpAddr>,
    /// From `device.geo`, else `user.geo`; `None` when it is not three letters (some exchanges
    /// send alpha-2 codes, which would silently mismatch alpha-3 targeting).
    pub country: Option<CountryCode>,
    pub region: TextRef,
    pub limit_ad_tracking: bool,
    pub do_not_track: bool,
}

/// The user as the exchange knows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct User {
    pub id: TextRef,
    pub buyeruid: TextRef,
    /// Ids of every segment of every `user.data` entry, in order.
    pub segment_ids: ListRef<TextRef>,
}

/// Which field the routing key came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserKeySource {
    UserId,
    BuyerUid,
    Ifa,
}

/// The key that picks the shard owning a user's frequency-cap state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserKey {
    pub source: UserKeySource,
    pub text: TextRef,
}

/// Video requirements of an impression.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VideoSpec {
    pub mimes: ListRef<TextRef>,
    /// `protocols`, or the deprecated single `protocol` when the list is absent.
    pub protocols: ListRef<u16>,
    pub minduration_s: u32,
    /// 0 when absent: no maximum.
    pub maxduration_s: u32,
    /// Player size; 0 when unknown.
    pub w: u32,
    pub h: u32,
}

/// Audio requirements of an impression.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AudioSpec {
    pub mimes: ListRef<TextRef>,
    pub protocols: ListRef<u16>,
    pub minduration_s: u32,
    /// 0 when absent: no maximum.
    pub maxduration_s: u32,
}

/// One impression on offer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Imp {
    pub id: TextRef,
    pub media: MediaKinds,
    /// Banner sizes: `w`x`h` first when both are set, then each fixed `format`, without repeats.
    pub sizes: ListRef<Size>,
    /// Banner `format` entries given as `{wmin, wratio, hratio}`.
    pub flex_sizes: ListRef<FlexSize>,
    pub video: Option<VideoSpec>,
    pub audio: Option<AudioSpec>,
    /// The floor per thousand impressions, in micro-units of `bidfloor_currency`.
    pub bidfloor_micros: i64,
    pub bidfloor_currency: Currency,
    pub secure: bool,
    /// `instl`: the ad fills the screen.
    pub interstitial: bool,
    pub tagid: TextRef,
    /// Blocked creative attributes, per impression: the union of `battr` over its banner,
    /// video, audio and native objects, sorted and without repeats. Kept per impression rather
    /// than per request because the auction runs per impression and a bid is checked against
    /// the impression it is for.
    pub battr: ListRef<u16>,
    pub deal_ids: ListRef<TextRef>,
    pub private_auction: bool,
}

/// Storage shared by every `TextRef` and `ListRef` of one request. Filled only through the
/// methods of `fill`, which keep every reference inside its pool.
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    text: String,
    texts: Vec<TextRef>,
    codes: Vec<u16>,
    sizes: Vec<Size>,
    flex_sizes: Vec<FlexSize>,
}

fn slice<T>(pool: &[T], list: ListRef<T>) -> &[T] {
    pool.get(list.start as usize..list.end as usize)
        .unwrap_or(&[])
}

/// A bid request as the decision code sees it. See the module doc for its storage.
#[derive(Debug, Default)]
pub struct AdRequest {
    /// The request id, echoed in the bid response. Kept as its own (reused) `String` rather than
    /// in the arena so that the HTTP layer can borrow it without the accessor.
    pub id: String,
    /// `tmax` when present and positive.
    pub tmax_ms: Option<u32>,
    pub auction_type: AuctionType,
    pub test: bool,
    pub context: Context,
    pub device: Device,
    pub user: User,
    /// user.id, else user.buyeruid, else device.ifa (unless zeroed); `None` when none is set.
    pub user_key: Option<UserKey>,
    pub bcat: ListRef<TextRef>,
    pub badv: ListRef<TextRef>,
    pub bapp: ListRef<TextRef>,
    pub coppa: bool,
    pub gdpr: bool,
    imps: Vec<Imp>,
    /// `cur`, the currencies bids may use; empty means USD only.
    currencies: Vec<Currency>,
    buffers: Buffers,
}

impl AdRequest {
    /// Empties the request but keeps the capacity of every buffer, so that refilling it for a
    /// request no larger than any before allocates nothing.
    pub fn clear(&mut self) {
        // Destructured so that a new field cannot be forgotten here.
        let AdRequest {
            id,
            tmax_ms,
            auction_type,
            test,
            context,
            device,
            user,
            user_key,
            bcat,
            badv,
            bapp,
            coppa,
            gdpr,
            imps,
            currencies,
            buffers:
                Buffers {
                    text,
                    texts,
                    codes,
                    sizes,
                    flex_sizes,
                },
        } = self;
        id.clear();
        *tmax_ms = None;
        *auction_type = AuctionType::default();
        *test = false;
        *context = Context::default();
        *device = Device::default();
        *user = User::default();
        *user_key = None;
        *bcat = ListRef::default();
        *badv = ListRef::default();
        *bapp = ListRef::default();
        *coppa = false;
        *gdpr = false;
        imps.clear();
        currencies.clear();
        text.clear();
        texts.clear();
        codes.clear();
        sizes.clear();
        flex_sizes.clear();
    }

    pub fn text(&self, text: TextRef) -> &str {
        self.buffers
            .text
            .get(text.start as usize..text.end as usize)
            .unwrap_or("")
    }

    pub fn texts(&self, list: ListRef<TextRef>) -> impl Iterator<Item = &str> + '_ {
        slice(&self.buffers.texts, list)
            .iter()
            .map(|&text| self.text(text))
    }

    pub fn codes(&self, list: ListRef<u16>) -> &[u16] {
        slice(&self.buffers.codes, list)
    }

    pub fn sizes(&self, list: ListRef<Size>) -> &[Size] {
        slice(&self.buffers.sizes, list)
    }

    pub fn flex_sizes(&self, list: ListRef<FlexSize>) -> &[FlexSize] {
        slice(&self.buffers.flex_sizes, list)
    }

    pub fn imps(&self) -> &[Imp] {
        &self.imps
    }

    pub fn currencies(&self) -> &[Currency] {
        &self.currencies
    }

    /// The routing key's text, if the request has one.
    pub fn user_key_text(&self) -> Option<&str> {
        self.user_key.map(|key| self.text(key.text))
    }

    /// Bytes held by the reusable buffers, for sizing and for tests of `clear`.
    pub fn capacity_bytes(&self) -> usize {
        let b = &self.buffers;
        self.id.capacity()
            + b.text.capacity()
            + b.texts.capacity() * std::mem::size_of::<TextRef>()
            + b.codes.capacity() * std::mem::size_of::<u16>()
            + b.sizes.capacity() * std::mem::size_of::<Size>()
            + b.flex_sizes.capacity() * std::mem::size_of::<FlexSize>()
            + self.imps.capacity() * std::mem::size_of::<Imp>()
            + self.currencies.capacity() * std::mem::size_of::<Currency>()
    }
}
