//! The engine's own view of a bid request: [`AdRequest`], compact, owned, and reused.
//!
//! Targeting, the auction, frequency caps and shard routing read an `AdRequest`, never JSON.
//! A shard keeps one per connection and refills it for every request, so its storage is built
//! to survive [`AdRequest::clear`]:
//! - every string is copied into one `String` arena and referred to by a [`TextRef`] (two `u32`
//!   offsets), so a request costs no allocation per string;
//! - every list is a [`ListRef`] into one of a few flat pools (sizes, strings, codes) shared by
//!   all impressions, so an [`Imp`] is a plain `Copy` struct and the impressions are one `Vec`.
//!
//! Absent strings are empty [`TextRef`]s: the decision code treats "absent" and "empty" alike.
//! Money is an integer of micro-units (`bidfloor_micros`); floats exist only in the wire types
//! and are rounded once, here, by [`micros_from_f64`].

use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;

use super::wire::{self, BidRequest, Str};

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

/// Three upper-case ASCII letters, as ISO-4217 currencies and ISO-3166-1 alpha-3 countries are.
fn alpha3(text: &str) -> Option<[u8; 3]> {
    match *text.as_bytes() {
        [a, b, c] if [a, b, c].iter().all(u8::is_ascii_alphabetic) => Some([
            a.to_ascii_uppercase(),
            b.to_ascii_uppercase(),
            c.to_ascii_uppercase(),
        ]),
        _ => None,
    }
}

fn alpha3_str(code: &[u8; 3]) -> &str {
    // Only `alpha3` builds these, from ASCII letters.
    std::str::from_utf8(code).unwrap_or("???")
}

/// An ISO-4217 currency code. Lower-case input is accepted and stored upper-case.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// The OpenRTB default for `bidfloorcur` and `cur`.
    pub const USD: Currency = Currency(*b"USD");

    pub fn parse(code: &str) -> Option<Currency> {
        alpha3(code).map(Currency)
    }

    pub fn as_str(&self) -> &str {
        alpha3_str(&self.0)
    }
}

impl Default for Currency {
    fn default() -> Self {
        Currency::USD
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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

/// Storage shared by every `TextRef` and `ListRef` of one request.
#[derive(Debug, Default)]
struct Buffers {
    text: String,
    texts: Vec<TextRef>,
    codes: Vec<u16>,
    sizes: Vec<Size>,
    flex_sizes: Vec<FlexSize>,
}

impl Buffers {
    fn push_text(&mut self, value: &str) -> TextRef {
        let start = offset(self.text.len());
        self.text.push_str(value);
        TextRef {
            start,
            end: offset(self.text.len()),
        }
    }

    /// A sub-range of text already in the arena (`value` must be a slice of `within`).
    fn sub_text(&self, within: TextRef, value: &str) -> TextRef {
        let whole = self
            .text
            .get(within.start as usize..within.end as usize)
            .unwrap_or("");
        let skipped = (value.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize);
        let start = within.start.saturating_add(offset(skipped));
        let end = start.saturating_add(offset(value.len())).min(within.end);
        TextRef {
            start: start.min(end),
            end,
        }
    }

    fn push_texts<'s, 'v: 's>(
        &mut self,
        values: impl IntoIterator<Item = &'s Str<'v>>,
    ) -> ListRef<TextRef> {
        let start = offset(self.texts.len());
        for value in values {
            let text = self.push_text(value);
            self.texts.push(text);
        }
        list_ref(start, self.texts.len())
    }
}

fn offset(len: usize) -> u32 {
    // `parse_bid_request` rejects bodies over u32::MAX bytes, and the arena never holds more
    // than the body, so this saturates only if that limit is removed.
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn list_ref<T>(start: u32, end: usize) -> ListRef<T> {
    ListRef {
        start,
        end: offset(end),
        pool: PhantomData,
    }
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

/// Copies a bid request into `out`, which should be cleared first (it is appended to).
///
/// Expects a request that passed [`validate`](super::validate): values validation would reject
/// (negative sizes, out-of-range codes) are clamped or skipped here rather than trusted.
pub fn fill_ad_request(request: &BidRequest<'_>, out: &mut AdRequest) {
    out.id.push_str(wire::text(&request.id));
    out.tmax_ms = request.tmax.filter(|&ms| ms > 0).map(saturating_u32);
    out.auction_type = match request.at {
        None | Some(2) => AuctionType::SecondPrice,
        Some(1) => AuctionType::FirstPrice,
        Some(code) => AuctionType::ExchangeSpecific(saturating_u32(code)),
    };
    out.test = request.test.unwrap_or(0) != 0;
    out.currencies
        .extend(request.cur.iter().filter_map(|code| Currency::parse(code)));

    let buffers = &mut out.buffers;
    for imp in request.imp.iter() {
        let converted = convert_imp(imp, buffers);
        out.imps.push(converted);
    }
    out.context = convert_context(request, buffers);
    out.device = convert_device(request, buffers);
    out.user = convert_user(request, buffers);
    out.bcat = buffers.push_texts(request.bcat.iter());
    out.badv = buffers.push_texts(request.badv.iter());
    out.bapp = buffers.push_texts(request.bapp.iter());
    if let Some(regs) = &request.regs {
        out.coppa = regs.coppa.unwrap_or(0) != 0;
        out.gdpr = regs.gdpr.unwrap_or(0) != 0;
    }
    out.user_key = user_key(out);
}

fn convert_imp(imp: &wire::Imp<'_>, buffers: &mut Buffers) -> Imp {
    let mut media = MediaKinds::default();
    let mut converted = Imp {
        id: buffers.push_text(wire::text(&imp.id)),
        bidfloor_micros: imp.bidfloor.and_then(micros_from_f64).unwrap_or(0).max(0),
        bidfloor_currency: Currency::parse(wire::text(&imp.bidfloorcur)).unwrap_or_default(),
        secure: imp.secure.unwrap_or(0) != 0,
        interstitial: imp.instl.unwrap_or(0) != 0,
        tagid: buffers.push_text(wire::text(&imp.tagid)),
        ..Imp::default()
    };

    if let Some(banner) = &imp.banner {
        media.insert(MediaKinds::BANNER);
        let (sizes, flex_sizes) = convert_sizes(banner, buffers);
        converted.sizes = sizes;
        converted.flex_sizes = flex_sizes;
    }
    if let Some(video) = &imp.video {
        media.insert(MediaKinds::VIDEO);
        let mimes = buffers.push_texts(video.mimes.iter());
        let protocols = match &video.protocols {
            Some(protocols) => push_codes(buffers, protocols.iter().copied()),
            None => push_codes(buffers, video.protocol),
        };
        converted.video = Some(VideoSpec {
            mimes,
            protocols,
            minduration_s: video.minduration.map_or(0, saturating_u32),
            maxduration_s: video.maxduration.map_or(0, saturating_u32),
            w: video.w.map_or(0, saturating_u32),
            h: video.h.map_or(0, saturating_u32),
        });
    }
    if let Some(audio) = &imp.audio {
        media.insert(MediaKinds::AUDIO);
        let mimes = buffers.push_texts(audio.mimes.iter());
        let protocols = push_codes(buffers, wire::list(&audio.protocols).iter().copied());
        converted.audio = Some(AudioSpec {
            mimes,
            protocols,
            minduration_s: audio.minduration.map_or(0, saturating_u32),
            maxduration_s: audio.maxduration.map_or(0, saturating_u32),
        });
    }
    if imp.native.is_some() {
        media.insert(MediaKinds::NATIVE);
    }
    converted.media = media;

    let battr_lists = [
        imp.banner.as_ref().map(|banner| &banner.battr),
        imp.video.as_ref().map(|video| &video.battr),
        imp.audio.as_ref().map(|audio| &audio.battr),
        imp.native.as_ref().map(|native| &native.battr),
    ];
    let battr = battr_lists
        .into_iter()
        .flatten()
        .flat_map(|list| list.iter().copied());
    converted.battr = push_code_set(buffers, battr);

    if let Some(pmp) = &imp.pmp {
        converted.private_auction = pmp.private_auction.unwrap_or(0) != 0;
        let deal_ids = pmp.deals.iter().filter_map(|deal| deal.id.as_ref());
        converted.deal_ids = buffers.push_texts(deal_ids);
    }
    converted
}

fn convert_sizes(
    banner: &wire::Banner,
    buffers: &mut Buffers,
) -> (ListRef<Size>, ListRef<FlexSize>) {
    let sizes_start = offset(buffers.sizes.len());
    let push_size = |buffers: &mut Buffers, w: Option<i64>, h: Option<i64>| {
        let size = Size {
            w: w.map_or(0, saturating_u32),
            h: h.map_or(0, saturating_u32),
        };
        let known = buffers
            .sizes
            .get(sizes_start as usize..)
            .unwrap_or(&[])
            .contains(&size);
        if size.w > 0 && size.h > 0 && !known {
            buffers.sizes.push(size);
        }
    };
    push_size(buffers, banner.w, banner.h);
    let flex_start = offset(buffers.flex_sizes.len());
    for format in banner.format.iter() {
        if format.w.unwrap_or(0) > 0 || format.h.unwrap_or(0) > 0 {
            push_size(buffers, format.w, format.h);
        } else {
            buffers.flex_sizes.push(FlexSize {
                wmin: format.wmin.map_or(0, saturating_u32),
                wratio: format.wratio.map_or(0, saturating_u32),
                hratio: format.hratio.map_or(0, saturating_u32),
            });
        }
    }
    (
        list_ref(sizes_start, buffers.sizes.len()),
        list_ref(flex_start, buffers.flex_sizes.len()),
    )
}

fn push_codes(buffers: &mut Buffers, codes: impl IntoIterator<Item = i64>) -> ListRef<u16> {
    let start = offset(buffers.codes.len());
    buffers.codes.extend(
        codes
            .into_iter()
            .filter_map(|code| u16::try_from(code).ok()),
    );
    list_ref(start, buffers.codes.len())
}

/// Pushes codes sorted and without repeats, so lookups can binary-search.
fn push_code_set(buffers: &mut Buffers, codes: impl IntoIterator<Item = i64>) -> ListRef<u16> {
    let start = buffers.codes.len();
    buffers.codes.extend(
        codes
            .into_iter()
            .filter_map(|code| u16::try_from(code).ok()),
    );
    let set = buffers.codes.get_mut(start..).unwrap_or(&mut []);
    set.sort_unstable();
    // Compact in place; Vec::dedup works on the whole Vec only.
    let mut kept = 0;
    for read in 0..set.len() {
        if kept == 0 || set.get(kept - 1) != set.get(read) {
            set.swap(kept, read);
            kept += 1;
        }
    }
    buffers.codes.truncate(start + kept);
    list_ref(offset(start), buffers.codes.len())
}

fn convert_context(request: &BidRequest<'_>, buffers: &mut Buffers) -> Context {
    let publisher_id = |buffers: &mut Buffers, publisher: &Option<wire::Publisher<'_>>| {
        buffers.push_text(publisher.as_ref().map_or("", |p| wire::text(&p.id)))
    };
    let categories = |buffers: &mut Buffers, lists: [&[Str<'_>]; 3]| {
        let start = offset(buffers.texts.len());
        for list in lists {
            for category in list {
                let text = buffers.push_text(category);
                buffers.texts.push(text);
            }
        }
        list_ref(start, buffers.texts.len())
    };

    if let Some(site) = &request.site {
        let page = buffers.push_text(wire::text(&site.page));
        let domain = match wire::text(&site.domain) {
            "" => {
                let page_text = buffers
                    .text
                    .get(page.start as usize..page.end as usize)
                    .unwrap_or("");
                let host = host_of(page_text);
                buffers.sub_text(page, host)
            }
            domain => buffers.push_text(domain),
        };
        return Context {
            kind: ContextKind::Site,
            id: buffers.push_text(wire::text(&site.id)),
            domain,
            page,
            bundle: TextRef::default(),
            publisher_id: publisher_id(buffers, &site.publisher),
            categories: categories(buffers, [&site.cat, &site.sectioncat, &site.pagecat]),
        };
    }
    if let Some(app) = &request.app {
        return Context {
            kind: ContextKind::App,
            id: buffers.push_text(wire::text(&app.id)),
            domain: buffers.push_text(wire::text(&app.domain)),
            page: TextRef::default(),
            bundle: buffers.push_text(wire::text(&app.bundle)),
            publisher_id: publisher_id(buffers, &app.publisher),
            categories: categories(buffers, [&app.cat, &app.sectioncat, &app.pagecat]),
        };
    }
    if let Some(dooh) = &request.dooh {
        return Context {
            kind: ContextKind::Dooh,
            id: buffers.push_text(wire::text(&dooh.id)),
            domain: buffers.push_text(wire::text(&dooh.domain)),
            publisher_id: publisher_id(buffers, &dooh.publisher),
            ..Context::default()
        };
    }
    Context::default()
}

/// The host of a URL, or of a bare `host/path` as some sites send: what lies between the scheme
/// and the first `/`, `?`, `#` or `:`; user info is dropped.
fn host_of(url: &str) -> &str {
    let url = url.trim();
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    host_port.split(':').next().unwrap_or("")
}

fn convert_device(request: &BidRequest<'_>, buffers: &mut Buffers) -> Device {
    let geo = request
        .device
        .as_ref()
        .and_then(|device| device.geo.as_ref())
        .or_else(|| request.user.as_ref().and_then(|user| user.geo.as_ref()));
    let mut converted = Device {
        country: geo.and_then(|geo| CountryCode::parse(wire::text(&geo.country))),
        region: buffers.push_text(geo.map_or("", |geo| wire::text(&geo.region))),
        ..Device::default()
    };
    let Some(device) = &request.device else {
        return converted;
    };
    converted.device_type = device
        .devicetype
        .and_then(|code| u8::try_from(code).ok())
        .filter(|&code| code != 0);
    converted.os = buffers.push_text(wire::text(&device.os));
    converted.has_user_agent = !wire::text(&device.ua).is_empty() || device.sua.is_some();
    converted.ifa = buffers.push_text(wire::text(&device.ifa));
    converted.ip = [&device.ip, &device.ipv6]
        .into_iter()
        .find_map(|ip| wire::text(ip).trim().parse::<IpAddr>().ok());
    converted.limit_ad_tracking = device.lmt.unwrap_or(0) != 0;
    converted.do_not_track = device.dnt.unwrap_or(0) != 0;
    converted
}

fn convert_user(request: &BidRequest<'_>, buffers: &mut Buffers) -> User {
    let Some(user) = &request.user else {
        return User::default();
    };
    let segment_ids = user
        .data
        .iter()
        .flat_map(|data| data.segment.iter())
        .filter_map(|segment| segment.id.as_ref());
    User {
        id: buffers.push_text(wire::text(&user.id)),
        buyeruid: buffers.push_text(wire::text(&user.buyeruid)),
        segment_ids: buffers.push_texts(segment_ids),
    }
}

/// user.id, else user.buyeruid, else device.ifa. An IFA of only zeros is what iOS and Android
/// send when the user limits tracking; using it would route every such user to one shard and
/// make them share one frequency cap, so it counts as no key.
fn user_key(request: &AdRequest) -> Option<UserKey> {
    let candidates = [
        (UserKeySource::UserId, request.user.id),
        (UserKeySource::BuyerUid, request.user.buyeruid),
        (UserKeySource::Ifa, request.device.ifa),
    ];
    candidates.into_iter().find_map(|(source, text)| {
        let value = request.text(text).trim();
        let zeroed = source == UserKeySource::Ifa && value.bytes().all(|b| b == b'0' || b == b'-');
        (!value.is_empty() && !zeroed).then_some(UserKey { source, text })
    })
}

fn saturating_u32(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

/// Converts an amount in currency units into integer micro-units, rounding half away from zero
/// on the decimal the client wrote; `None` when it is not finite or does not fit an `i64`.
///
/// Multiplying the `f64` by 1e6 would round the binary value: `1.0000005` is stored as
/// 1.00000049999999998..., so the client's half-micro would round down. Instead the shortest
/// decimal that round-trips to the same `f64` (what Rust's `Display` prints, which is what the
/// client sent for any amount of up to 15 significant digits) is rounded digit by digit, on the
/// stack.
///
/// Most amounts have at most six decimals (`0.25`, `1.5`, `2`), and for those a multiplication
/// gives the same result far cheaper, so it is tried first: see `MICROS_FAST_PATH_MAX`.
pub fn micros_from_f64(amount: f64) -> Option<i64> {
    if !amount.is_finite() || amount.abs() >= 9.0e12 {
        return None;
    }
    // Below a tenth of a micro-unit the result is 0, and Display would print hundreds of zeros.
    if amount.abs() < 1e-7 {
        return Some(0);
    }
    if amount.abs() < MICROS_FAST_PATH_MAX {
        let micros = (amount * 1e6).round();
        // `micros / 1e6` is the double nearest to the decimal `micros` millionths, so equality
        // means that this six-decimal number is what the client sent, or rounds the same way:
        // below the limit a double is closer than 2.4e-7 to the decimal it was written as, so
        // no other decimal can land on the same side of a half-micro.
        if micros / 1e6 == amount {
            return Some(micros as i64);
        }
    }
    micros_from_decimal_text(amount)
}

/// Below 2^30 the spacing of doubles is at most 2^-22 (2.4e-7), under half a micro-unit, which
/// is what makes the fast path of [`micros_from_f64`] exact. Far above any floor.
const MICROS_FAST_PATH_MAX: f64 = 1e9;

const _: () = assert!(MICROS_FAST_PATH_MAX < (1u64 << 30) as f64);
const _: () = assert!(super::BIDFLOOR_MAX < MICROS_FAST_PATH_MAX);

/// The general case of [`micros_from_f64`], for a finite `amount` below 9e12: rounds the
/// shortest decimal that round-trips to `amount`.
fn micros_from_decimal_text(amount: f64) -> Option<i64> {
    let mut digits = StackText::default();
    if fmt::write(&mut digits, format_args!("{amount}")).is_err() {
        // Cannot happen within the bounds above (at most 13 + 1 + 23 characters); the binary
        // rounding is the fallback rather than a panic.
        return Some((amount * 1e6).round() as i64);
    }
    let text = digits.as_str();
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let mut micros: i64 = 0;
    for digit in whole.bytes() {
        micros = micros
            .checked_mul(10)?
            .checked_add(i64::from(digit.checked_sub(b'0')?))?;
    }
    let mut fraction_digits = fraction.bytes();
    for _ in 0..6 {
        let digit = fraction_digits
            .next()
            .map_or(Some(0), |d| d.checked_sub(b'0'))?;
        micros = micros.checked_mul(10)?.checked_add(i64::from(digit))?;
    }
    // Half away from zero: the seventh decimal alone decides, since 5 followed by anything is
    // at least half.
    if fraction_digits.next().is_some_and(|digit| digit >= b'5') {
        micros = micros.checked_add(1)?;
    }
    Some(if negative { -micros } else { micros })
}

/// A fixed-capacity text buffer for formatting numbers without allocating.
struct StackText {
    bytes: [u8; 64],
    len: usize,
}

impl Default for StackText {
    fn default() -> Self {
        StackText {
            bytes: [0; 64],
            len: 0,
        }
    }
}

impl StackText {
    fn as_str(&self) -> &str {
        self.bytes
            .get(..self.len)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .unwrap_or("")
    }
}

impl fmt::Write for StackText {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = self.len.checked_add(text.len()).ok_or(fmt::Error)?;
        let target = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        target.copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{micros_from_decimal_text, micros_from_f64};

    /// The fast path must agree with rounding the decimal text wherever it answers.
    fn check(amount: f64) -> Result<(), TestCaseError> {
        let expected = if !amount.is_finite() || amount.abs() >= 9.0e12 {
            None
        } else if amount.abs() < 1e-7 {
            Some(0)
        } else {
            micros_from_decimal_text(amount)
        };
        prop_assert_eq!(micros_from_f64(amount), expected, "amount {}", amount);
        Ok(())
    }

    proptest! {
        #[test]
        fn fast_path_matches_decimal_text_on_short_decimals(
            micros in -2_000_000_000_000_000i64..2_000_000_000_000_000,
            decimals in 0u32..=9,
        ) {
            // A decimal with up to nine fractional digits, as a client may write it.
            let text = format!("{}e-{decimals}", micros);
            check(text.parse::<f64>().unwrap())?;
        }

        #[test]
        fn fast_path_matches_decimal_text_on_any_double(bits in any::<u64>()) {
            check(f64::from_bits(bits))?;
        }

        #[test]
        fn fast_path_matches_decimal_text_near_half_micros(
            micros in -1_000_000_000_000i64..1_000_000_000_000,
            ulps in -4i64..=4,
        ) {
            let half = (micros as f64 + 0.5) / 1e6;
            check(f64::from_bits((half.to_bits() as i64 + ulps) as u64))?;
        }
    }
}
