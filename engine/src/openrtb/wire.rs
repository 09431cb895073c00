//! The OpenRTB 2.6 bid request exactly as it arrives (2.5 requests parse into the same types),
//! borrowed from the request body wherever serde allows.
//!
//! These types exist so that the JSON shape of a bid request is known in one place and nowhere
//! else: `validate` checks them, `request` converts them into the engine's compact
//! [`AdRequest`](super::AdRequest), and the decision code never sees them. They are public only
//! so that `bench/` can measure the same types with other JSON parsers.
//!
//! Choices that hold for every type here:
//! - Every field is an `Option` (lists too), so a missing field and an explicit `null` both read
//!   as absent and serde never reports "missing field": required fields are checked in
//!   `validate`, which names the field the way a client expects (`imp[0].id`).
//! - Unknown fields and every `ext` are not declared, so serde skips them; nothing is rejected
//!   for being unknown (exchanges add fields all the time).
//! - Integers are `i64` even where the spec only allows small non-negative values, so that a
//!   negative or out-of-range value reaches `validate` and gets a precise message rather than
//!   serde's "invalid value: integer `-1`, expected u32". A JSON value of the wrong type (a
//!   string for `w`, `1.5` for an integer) is still a parse error naming its field.
//! - Numbers the spec defines as floats (`bidfloor`, `lat`, `pxratio`...) are `f64`, which also
//!   accepts integers, as real exchanges send `"bidfloor": 2`.
//! - Strings are [`Str`], which borrows from the body when the JSON string has no escapes.

use std::borrow::Cow;
use std::fmt;
use std::fmt::Write as _;
use std::marker::PhantomData;
use std::ops::Deref;

use serde::de::{Deserializer, Visitor};
use serde::Deserialize;

use super::native::NativeRequestField;

/// A JSON string: borrowed from the input when it has no escape sequences, owned otherwise.
///
/// serde's own `Cow<'a, str>` impl always allocates, and its `#[serde(borrow)]` special case
/// does not reach through `Option` or `Vec`; this newtype borrows in every position and with
/// every serde-compatible parser (serde_json, sonic-rs, simd-json).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Str<'a>(pub Cow<'a, str>);

impl<'a> Str<'a> {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether serde had to allocate for this string (it contained escapes).
    pub fn is_owned(&self) -> bool {
        matches!(self.0, Cow::Owned(_))
    }
}

impl Deref for Str<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Str<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor<'a>(PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for StrVisitor<'a> {
            type Value = Str<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Borrowed(value)))
            }

            fn visit_str<E>(self, value: &str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(value.to_owned())))
            }

            fn visit_string<E>(self, value: String) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(value)))
            }
        }

        deserializer.deserialize_str(StrVisitor(PhantomData))
    }
}

/// The top-level bid request (OpenRTB 2.6 §3.2.1).
#[derive(Debug, Default, Deserialize)]
pub struct BidRequest<'a> {
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
    #[serde(borrow)]
    pub imp: Option<Vec<Imp<'a>>>,
    #[serde(borrow)]
    pub site: Option<Site<'a>>,
    #[serde(borrow)]
    pub app: Option<App<'a>>,
    #[serde(borrow)]
    pub dooh: Option<Dooh<'a>>,
    #[serde(borrow)]
    pub device: Option<Device<'a>>,
    #[serde(borrow)]
    pub user: Option<User<'a>>,
    pub test: Option<i64>,
    /// Auction type: 1 first price, 2 second price plus, 500+ exchange-specific.
    pub at: Option<i64>,
    pub tmax: Option<i64>,
    #[serde(borrow)]
    pub wseat: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub bseat: Option<Vec<Str<'a>>>,
    pub allimps: Option<i64>,
    #[serde(borrow)]
    pub cur: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub wlang: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub wlangb: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub acat: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub bcat: Option<Vec<Str<'a>>>,
    pub cattax: Option<i64>,
    #[serde(borrow)]
    pub badv: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub bapp: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub source: Option<Source<'a>>,
    #[serde(borrow)]
    pub regs: Option<Regs<'a>>,
}

/// One impression on offer (§3.2.4).
#[derive(Debug, Default, Deserialize)]
pub struct Imp<'a> {
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
    #[serde(borrow)]
    pub banner: Option<Banner<'a>>,
    #[serde(borrow)]
    pub video: Option<Video<'a>>,
    #[serde(borrow)]
    pub audio: Option<Audio<'a>>,
    #[serde(borrow)]
    pub native: Option<Native<'a>>,
    #[serde(borrow)]
    pub pmp: Option<Pmp<'a>>,
    #[serde(borrow)]
    pub displaymanager: Option<Str<'a>>,
    #[serde(borrow)]
    pub displaymanagerver: Option<Str<'a>>,
    pub instl: Option<i64>,
    #[serde(borrow)]
    pub tagid: Option<Str<'a>>,
    pub bidfloor: Option<f64>,
    #[serde(borrow)]
    pub bidfloorcur: Option<Str<'a>>,
    pub clickbrowser: Option<i64>,
    pub secure: Option<i64>,
    #[serde(borrow)]
    pub iframebuster: Option<Vec<Str<'a>>>,
    pub rwdd: Option<i64>,
    pub ssai: Option<i64>,
    pub exp: Option<i64>,
}

/// A display placement (§3.2.6).
#[derive(Debug, Default, Deserialize)]
pub struct Banner<'a> {
    pub format: Option<Vec<Format>>,
    pub w: Option<i64>,
    pub h: Option<i64>,
    pub btype: Option<Vec<i64>>,
    pub battr: Option<Vec<i64>>,
    pub pos: Option<i64>,
    #[serde(borrow)]
    pub mimes: Option<Vec<Str<'a>>>,
    pub topframe: Option<i64>,
    pub expdir: Option<Vec<i64>>,
    pub api: Option<Vec<i64>>,
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
    pub vcm: Option<i64>,
}

/// One allowed size: either fixed `{w, h}` or flexible `{wmin, wratio, hratio}` (§3.2.10).
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct Format {
    pub w: Option<i64>,
    pub h: Option<i64>,
    pub wratio: Option<i64>,
    pub hratio: Option<i64>,
    pub wmin: Option<i64>,
}

/// An in-stream or out-stream video placement (§3.2.7).
#[derive(Debug, Default, Deserialize)]
pub struct Video<'a> {
    #[serde(borrow)]
    pub mimes: Option<Vec<Str<'a>>>,
    pub minduration: Option<i64>,
    pub maxduration: Option<i64>,
    pub startdelay: Option<i64>,
    pub maxseq: Option<i64>,
    pub poddur: Option<i64>,
    pub protocols: Option<Vec<i64>>,
    /// Deprecated in 2.5 in favour of `protocols`; still sent by some exchanges.
    pub protocol: Option<i64>,
    pub w: Option<i64>,
    pub h: Option<i64>,
    #[serde(borrow)]
    pub podid: Option<Str<'a>>,
    pub podseq: Option<i64>,
    pub rqddurs: Option<Vec<i64>>,
    pub placement: Option<i64>,
    pub plcmt: Option<i64>,
    pub linearity: Option<i64>,
    pub skip: Option<i64>,
    pub skipmin: Option<i64>,
    pub skipafter: Option<i64>,
    pub sequence: Option<i64>,
    pub slotinpod: Option<i64>,
    pub mincpmpersec: Option<f64>,
    pub battr: Option<Vec<i64>>,
    pub maxextended: Option<i64>,
    pub minbitrate: Option<i64>,
    pub maxbitrate: Option<i64>,
    pub boxingallowed: Option<i64>,
    pub playbackmethod: Option<Vec<i64>>,
    pub playbackend: Option<i64>,
    pub delivery: Option<Vec<i64>>,
    pub pos: Option<i64>,
    #[serde(borrow)]
    pub companionad: Option<Vec<Banner<'a>>>,
    pub api: Option<Vec<i64>>,
    pub companiontype: Option<Vec<i64>>,
}

/// An audio placement (§3.2.8).
#[derive(Debug, Default, Deserialize)]
pub struct Audio<'a> {
    #[serde(borrow)]
    pub mimes: Option<Vec<Str<'a>>>,
    pub minduration: Option<i64>,
    pub maxduration: Option<i64>,
    pub poddur: Option<i64>,
    pub protocols: Option<Vec<i64>>,
    pub startdelay: Option<i64>,
    pub rqddurs: Option<Vec<i64>>,
    #[serde(borrow)]
    pub podid: Option<Str<'a>>,
    pub podseq: Option<i64>,
    pub sequence: Option<i64>,
    pub slotinpod: Option<i64>,
    pub mincpmpersec: Option<f64>,
    pub battr: Option<Vec<i64>>,
    pub maxextended: Option<i64>,
    pub minbitrate: Option<i64>,
    pub maxbitrate: Option<i64>,
    pub delivery: Option<Vec<i64>>,
    #[serde(borrow)]
    pub companionad: Option<Vec<Banner<'a>>>,
    pub api: Option<Vec<i64>>,
    pub companiontype: Option<Vec<i64>>,
    pub maxseq: Option<i64>,
    pub feed: Option<i64>,
    pub stitched: Option<i64>,
    pub nvol: Option<i64>,
}

/// A native placement (§3.2.9): the Native request itself travels in `request`, as a JSON string
/// per the spec (an object is accepted too, as some exchanges send one).
#[derive(Debug, Default, Deserialize)]
pub struct Native<'a> {
    #[serde(borrow)]
    pub request: Option<NativeRequestField<'a>>,
    /// Version of the Native markup in `request` ("1.2"); absent means 1.2 here.
    #[serde(borrow)]
    pub ver: Option<Str<'a>>,
    pub api: Option<Vec<i64>>,
    pub battr: Option<Vec<i64>>,
}

/// Private marketplace deals for an impression (§3.2.11).
#[derive(Debug, Default, Deserialize)]
pub struct Pmp<'a> {
    pub private_auction: Option<i64>,
    #[serde(borrow)]
    pub deals: Option<Vec<Deal<'a>>>,
}

/// One direct deal (§3.2.12).
#[derive(Debug, Default, Deserialize)]
pub struct Deal<'a> {
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
    pub bidfloor: Option<f64>,
    #[serde(borrow)]
    pub bidfloorcur: Option<Str<'a>>,
    pub at: Option<i64>,
    #[serde(borrow)]
    pub wseat: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub wadomain: Option<Vec<Str<'a>>>,
    pub guar: Option<i64>,
    pub mincpmpersec: Option<f64>,
    pub mindur: Option<i64>,
}

/// A website context (§3.2.13).
#[derive(Debug, Default, Deserialize)]
pub struct Site<'a> {
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
    #[serde(borrow)]
    pub name: Option<Str<'a>>,
    #[serde(borrow)]
    pub domain: Option<Str<'a>>,
    pub cattax: Option<i64>,
    #[serde(borrow)]
    pub cat: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub sectioncat: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub pagecat: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub page: Option<Str<'a>>,
    #[serde(borrow, rename = "ref")]
    pub referrer: Option<Str<'a>>,
    #[serde(borrow)]
    pub search: Option<Str<'a>>,
    pub mobile: Option<i64>,
    pub privacypolicy: Option<i64>,
    #[serde(borrow)]
    pub publisher: Option<Publisher<'a>>,
    #[serde(borrow)]
    pub content: Option<Content<'a>>,
    #[serde(borrow)]
    pub keywords: Option<Str<'a>>,
    #[serde(borrow)]
    pub kwarray: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub inventorypartnerdomain: Option<Str<'a>>,
}

/// A mobile or CTV application context (§3.2.14).
#[derive(Debug, Default, Deserialize)]
pub struct App<'a> {
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
    #[serde(borrow)]
    pub name: Option<Str<'a>>,
    #[serde(borrow)]
    pub bundle: Option<Str<'a>>,
    #[serde(borrow)]
    pub domain: Option<Str<'a>>,
    #[serde(borrow)]
    pub storeurl: Option<Str<'a>>,
    pub cattax: Option<i64>,
    #[serde(borrow)]
    pub cat: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub sectioncat: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub pagecat: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub ver: Option<Str<'a>>,
    pub privacypolicy: Option<i64>,
    pub paid: Option<i64>,
    #[serde(borrow)]
    pub publisher: Option<Publisher<'a>>,
    #[serde(borrow)]
    pub content: Option<Content<'a>>,
    #[serde(borrow)]
    pub keywords: Option<Str<'a>>,
    #[serde(borrow)]
    pub kwarray: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub inventorypartnerdomain: Option<Str<'a>>,
}

/// A digital out-of-home screen context (2.6 §3.2.23).
#[derive(Debug, Default, Deserialize)]
pub struct Dooh<'a> {
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
    #[serde(borrow)]
    pub name: Option<Str<'a>>,
    #[serde(borrow)]
    pub venuetype: Option<Vec<Str<'a>>>,
    pub venuetypetax: Option<i64>,
    #[serde(borrow)]
    pub publisher: Option<Publisher<'a>>,
    #[serde(borrow)]
    pub domain: Option<Str<'a>>,
    #[serde(borrow)]
    pub keywords: Option<Str<'a>>,
    #[serde(borrow)]
    pub content: Option<Content<'a>>,
}

/// The seller of the inventory (§3.2.15); `Producer` (§3.2.17) has the same shape.
#[derive(Debug, Default, Deserialize)]
pub struct Publisher<'a> {
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
    #[serde(borrow)]
    pub name: Option<Str<'a>>,
    pub cattax: Option<i64>,
    #[serde(borrow)]
    pub cat: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub domain: Option<Str<'a>>,
}

/// The content the impression appears in (§3.2.16).
#[derive(Debug, Default, Deserialize)]
pub struct Content<'a> {
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
    pub episode: Option<i64>,
    #[serde(borrow)]
    pub title: Option<Str<'a>>,
    #[serde(borrow)]
    pub series: Option<Str<'a>>,
    #[serde(borrow)]
    pub season: Option<Str<'a>>,
    #[serde(borrow)]
    pub artist: Option<Str<'a>>,
    #[serde(borrow)]
    pub genre: Option<Str<'a>>,
    #[serde(borrow)]
    pub album: Option<Str<'a>>,
    #[serde(borrow)]
    pub isrc: Option<Str<'a>>,
    #[serde(borrow)]
    pub producer: Option<Publisher<'a>>,
    #[serde(borrow)]
    pub url: Option<Str<'a>>,
    pub cattax: Option<i64>,
    #[serde(borrow)]
    pub cat: Option<Vec<Str<'a>>>,
    pub prodq: Option<i64>,
    pub context: Option<i64>,
    #[serde(borrow)]
    pub contentrating: Option<Str<'a>>,
    #[serde(borrow)]
    pub userrating: Option<Str<'a>>,
    pub qagmediarating: Option<i64>,
    #[serde(borrow)]
    pub keywords: Option<Str<'a>>,
    #[serde(borrow)]
    pub kwarray: Option<Vec<Str<'a>>>,
    pub livestream: Option<i64>,
    pub sourcerelationship: Option<i64>,
    pub len: Option<i64>,
    #[serde(borrow)]
    pub language: Option<Str<'a>>,
    #[serde(borrow)]
    pub langb: Option<Str<'a>>,
    pub embeddable: Option<i64>,
    #[serde(borrow)]
    pub data: Option<Vec<Data<'a>>>,
    #[serde(borrow)]
    pub network: Option<Publisher<'a>>,
    #[serde(borrow)]
    pub channel: Option<Publisher<'a>>,
}

/// The device the impression will be shown on (§3.2.18).
#[derive(Debug, Default, Deserialize)]
pub struct Device<'a> {
    #[serde(borrow)]
    pub geo: Option<Geo<'a>>,
    pub dnt: Option<i64>,
    pub lmt: Option<i64>,
    #[serde(borrow)]
    pub ua: Option<Str<'a>>,
    #[serde(borrow)]
    pub sua: Option<UserAgent<'a>>,
    #[serde(borrow)]
    pub ip: Option<Str<'a>>,
    #[serde(borrow)]
    pub ipv6: Option<Str<'a>>,
    pub devicetype: Option<i64>,
    #[serde(borrow)]
    pub make: Option<Str<'a>>,
    #[serde(borrow)]
    pub model: Option<Str<'a>>,
    #[serde(borrow)]
    pub os: Option<Str<'a>>,
    #[serde(borrow)]
    pub osv: Option<Str<'a>>,
    #[serde(borrow)]
    pub hwv: Option<Str<'a>>,
    pub h: Option<i64>,
    pub w: Option<i64>,
    pub ppi: Option<i64>,
    pub pxratio: Option<f64>,
    pub js: Option<i64>,
    pub geofetch: Option<i64>,
    #[serde(borrow)]
    pub flashver: Option<Str<'a>>,
    #[serde(borrow)]
    pub language: Option<Str<'a>>,
    #[serde(borrow)]
    pub langb: Option<Str<'a>>,
    #[serde(borrow)]
    pub carrier: Option<Str<'a>>,
    #[serde(borrow)]
    pub mccmnc: Option<Str<'a>>,
    pub connectiontype: Option<i64>,
    #[serde(borrow)]
    pub ifa: Option<Str<'a>>,
    #[serde(borrow)]
    pub didsha1: Option<Str<'a>>,
    #[serde(borrow)]
    pub didmd5: Option<Str<'a>>,
    #[serde(borrow)]
    pub dpidsha1: Option<Str<'a>>,
    #[serde(borrow)]
    pub dpidmd5: Option<Str<'a>>,
    #[serde(borrow)]
    pub macsha1: Option<Str<'a>>,
    #[serde(borrow)]
    pub macmd5: Option<Str<'a>>,
}

/// Structured user agent (2.6 §3.2.29).
#[derive(Debug, Default, Deserialize)]
pub struct UserAgent<'a> {
    #[serde(borrow)]
    pub browsers: Option<Vec<BrandVersion<'a>>>,
    #[serde(borrow)]
    pub platform: Option<BrandVersion<'a>>,
    pub mobile: Option<i64>,
    #[serde(borrow)]
    pub architecture: Option<Str<'a>>,
    #[serde(borrow)]
    pub bitness: Option<Str<'a>>,
    #[serde(borrow)]
    pub model: Option<Str<'a>>,
    pub source: Option<i64>,
}

/// A browser or platform name with its version components (2.6 §3.2.30).
#[derive(Debug, Default, Deserialize)]
pub struct BrandVersion<'a> {
    #[serde(borrow)]
    pub brand: Option<Str<'a>>,
    #[serde(borrow)]
    pub version: Option<Vec<Str<'a>>>,
}

/// A location (§3.2.19). `country` is ISO-3166-1 alpha-3 in OpenRTB 2.x.
#[derive(Debug, Default, Deserialize)]
pub struct Geo<'a> {
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    #[serde(rename = "type")]
    pub kind: Option<i64>,
    pub accuracy: Option<i64>,
    pub lastfix: Option<i64>,
    pub ipservice: Option<i64>,
    #[serde(borrow)]
    pub country: Option<Str<'a>>,
    #[serde(borrow)]
    pub region: Option<Str<'a>>,
    #[serde(borrow)]
    pub regionfips104: Option<Str<'a>>,
    #[serde(borrow)]
    pub metro: Option<Str<'a>>,
    #[serde(borrow)]
    pub city: Option<Str<'a>>,
    #[serde(borrow)]
    pub zip: Option<Str<'a>>,
    pub utcoffset: Option<i64>,
}

/// The human behind the device (§3.2.20).
#[derive(Debug, Default, Deserialize)]
pub struct User<'a> {
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
    #[serde(borrow)]
    pub buyeruid: Option<Str<'a>>,
    pub yob: Option<i64>,
    #[serde(borrow)]
    pub gender: Option<Str<'a>>,
    #[serde(borrow)]
    pub keywords: Option<Str<'a>>,
    #[serde(borrow)]
    pub kwarray: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub customdata: Option<Str<'a>>,
    #[serde(borrow)]
    pub geo: Option<Geo<'a>>,
    #[serde(borrow)]
    pub data: Option<Vec<Data<'a>>>,
    #[serde(borrow)]
    pub consent: Option<Str<'a>>,
    #[serde(borrow)]
    pub eids: Option<Vec<Eid<'a>>>,
}

/// Third-party data about the user or content (§3.2.21).
#[derive(Debug, Default, Deserialize)]
pub struct Data<'a> {
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
    #[serde(borrow)]
    pub name: Option<Str<'a>>,
    #[serde(borrow)]
    pub segment: Option<Vec<Segment<'a>>>,
}

/// One data segment (§3.2.22).
#[derive(Debug, Default, Deserialize)]
pub struct Segment<'a> {
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
    #[serde(borrow)]
    pub name: Option<Str<'a>>,
    #[serde(borrow)]
    pub value: Option<Str<'a>>,
}

/// An extended identifier source with its ids (2.6 §3.2.27).
#[derive(Debug, Default, Deserialize)]
pub struct Eid<'a> {
    #[serde(borrow)]
    pub source: Option<Str<'a>>,
    #[serde(borrow)]
    pub uids: Option<Vec<Uid<'a>>>,
}

/// One extended identifier (2.6 §3.2.28).
#[derive(Debug, Default, Deserialize)]
pub struct Uid<'a> {
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
    pub atype: Option<i64>,
}

/// Regulatory signals (§3.2.3); 2.5 carried gdpr and us_privacy in `ext`, which is ignored.
#[derive(Debug, Default, Deserialize)]
pub struct Regs<'a> {
    pub coppa: Option<i64>,
    pub gdpr: Option<i64>,
    #[serde(borrow)]
    pub us_privacy: Option<Str<'a>>,
    #[serde(borrow)]
    pub gpp: Option<Str<'a>>,
    pub gpp_sid: Option<Vec<i64>>,
}

/// The upstream source of the request (§3.2.2).
#[derive(Debug, Default, Deserialize)]
pub struct Source<'a> {
    pub fd: Option<i64>,
    #[serde(borrow)]
    pub tid: Option<Str<'a>>,
    #[serde(borrow)]
    pub pchain: Option<Str<'a>>,
    #[serde(borrow)]
    pub schain: Option<SupplyChain<'a>>,
}

/// The supply chain object (2.6 §3.2.25).
#[derive(Debug, Default, Deserialize)]
pub struct SupplyChain<'a> {
    pub complete: Option<i64>,
    #[serde(borrow)]
    pub nodes: Option<Vec<SupplyChainNode<'a>>>,
    #[serde(borrow)]
    pub ver: Option<Str<'a>>,
}

/// One hop of the supply chain (2.6 §3.2.26).
#[derive(Debug, Default, Deserialize)]
pub struct SupplyChainNode<'a> {
    #[serde(borrow)]
    pub asi: Option<Str<'a>>,
    #[serde(borrow)]
    pub sid: Option<Str<'a>>,
    #[serde(borrow)]
    pub rid: Option<Str<'a>>,
    #[serde(borrow)]
    pub name: Option<Str<'a>>,
    #[serde(borrow)]
    pub domain: Option<Str<'a>>,
    pub hp: Option<i64>,
}

/// The borrowed contents of an optional list, empty when absent or null.
pub fn list<T>(list: &Option<Vec<T>>) -> &[T] {
    list.as_deref().unwrap_or(&[])
}

/// The text of an optional string, empty when absent or null.
pub fn text<'s>(value: &'s Option<Str<'_>>) -> &'s str {
    value.as_ref().map_or("", |s| s.as_str())
}

/// Where and why a JSON document failed to deserialize.
#[derive(Debug)]
pub(crate) struct JsonError {
    /// serde_path_to_error's path (`imp[0].banner.w`), empty for the document root.
    pub path: String,
    pub message: String,
}

/// Deserializes `json` with serde_json; only when that fails, parses it a second time with
/// serde_path_to_error to find where. The path tracker allocates a `String` per map key, so
/// keeping it off the success path keeps the common case allocation-light; a rejected request
/// pays for two parses, which is cheap next to the 400 round trip.
pub(crate) fn from_slice_located<'de, T: Deserialize<'de>>(
    json: &'de [u8],
) -> Result<T, JsonError> {
    match serde_json::from_slice::<T>(json) {
        Ok(value) => Ok(value),
        Err(first) => Err(locate::<T>(json, first)),
    }
}

fn locate<'de, T: Deserialize<'de>>(json: &'de [u8], first: serde_json::Error) -> JsonError {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let error = match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        // Trailing characters after a valid document fail in `end`, at the root.
        Ok(_) => match deserializer.end() {
            Ok(()) => first,
            Err(trailing) => trailing,
        },
        Err(located) => {
            let path = path_text(located.path());
            return JsonError {
                path,
                message: located.into_inner().to_string(),
            };
        }
    };
    JsonError {
        path: String::new(),
        message: error.to_string(),
    }
}

/// `imp[0].banner.w`; segments serde_path_to_error could not name (a syntax error where a key
/// should be) are left out rather than shown as `?`.
fn path_text(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut text = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => {
                let _ = write!(text, "[{index}]");
            }
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    text
}
