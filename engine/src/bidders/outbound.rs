//! The bid request an external bidder (DSP) gets, written from the incoming request body.
//!
//! A bidder prices on many fields the engine never reads (device and content details, user
//! ids, the supply chain), so the outgoing request is not rebuilt from the engine's
//! [`AdRequest`](crate::adrequest::AdRequest): that would starve the bidder. Nor is the body
//! parsed into a `serde_json::Value` and edited, which would allocate a tree per request and
//! per bidder. Instead a streaming transcoder (hand-written serde seeds, in the manner of
//! serde_transcode) reads the body once with serde_json and writes every value into the
//! caller's reused buffer as it goes, changing only what a bidder must not see or cannot read:
//!
//! - Every `ext` member is dropped, at every depth: exchanges put data there that is meant
//!   for us (their bidder parameters, floors rules, internal ids), not for our bidders.
//! - `imp` keeps only the impressions with a media object (`banner`, `video`, `audio`,
//!   `native`, not `null`) of a kind the bidder takes, in their order. The caller maps the
//!   bids back by imp id.
//! - `tmax` is the bidder's share of the deadline ([`OutboundOptions::tmax_ms`]), replacing the
//!   exchange's or added.
//! - The six fields that OpenRTB 2.6 promoted out of `ext` are written where the bidder's
//!   version expects them, as Prebid Server's `ConvertDownTo25` and `ConvertUpTo26` move them:
//!
//!   | 2.6 location     | 2.5 location                            |
//!   |------------------|-----------------------------------------|
//!   | `regs.gdpr`      | `regs.ext.gdpr`                         |
//!   | `regs.us_privacy`| `regs.ext.us_privacy`                   |
//!   | `user.consent`   | `user.ext.consent`                      |
//!   | `user.eids`      | `user.ext.eids`                         |
//!   | `source.schain`  | `source.ext.schain`                     |
//!   | `imp[].rwdd`     | `imp[].ext.prebid.is_rewarded_inventory`|
//!
//!   They are read from either location, because a 2.5 exchange sends them in `ext`, and
//!   dropping `regs.ext.gdpr` with the rest of `ext` would tell a bidder that GDPR does not
//!   apply to an EU user. When both locations are present the 2.6 one wins (Prebid's rule);
//!   `null` counts as absent. These are the only `ext` members a bidder ever gets. `rwdd` goes
//!   to Prebid's extension rather than being dropped: it is where 2.5 bidders integrated with
//!   Prebid look for it, and an `ext` member is harmless to those that do not.
//! - For a 2.5 bidder the fields that 2.6 (up to 2.6-202309) added are dropped, the same list
//!   Prebid Server's `ConvertDownTo25` clears (see `added_in_2_6`), for Prebid's reason: 2.5
//!   did not require bidders to tolerate unknown fields, and a strict decoder rejects the whole
//!   request. This
//!   includes `dooh` (a DOOH request reaches a 2.5 bidder without its channel, as in Prebid),
//!   `regs.gpp`, `imp.refresh` and `imp.video.plcmt`.
//!
//! Everything else is copied: members in their order, strings re-escaped (an escaped `\/`
//! comes out as `/`), integers as integers and floats in their shortest round-trip form. A
//! Native request sent as a JSON string is a string here and is copied unchanged, `ext` and
//! all; sent as an object it is pruned like any other object.
//!
//! Moving a promoted field needs no second buffer: its value is written where it is read and
//! moved, with `rotate_left`, behind the object's other members when the object closes. Objects
//! that hold one are small (`regs`, `user`, `source`, an `imp`), so the moves are cheap.
//!
//! Allocation, once `out` has grown to the largest request: none, except that serde_json's
//! scratch buffer, new for every call, grows (by doubling, up to the longest such string)
//! whenever a string or key with escape sequences is read, kept or pruned: that is where
//! serde_json unescapes it. A Native request string always has escapes (its quotes), so a
//! native request costs about log2 of its length in allocations. Pruned values are skipped
//! with `Skip` rather than `serde::de::IgnoredAny`, whose serde_json implementation uses the
//! same scratch buffer as a stack for nested containers and so would allocate for every
//! `ext.prebid...`. On the error path serde_json allocates its error.
//!
//! The incoming body has already passed `openrtb::parse_bid_request`, so every error here
//! means the two parsers disagree: an `Internal` error in the Client/Bidder/Internal sense, for
//! which the bidder is not asked. Nothing in a body can panic this module.

use std::fmt;
use std::io::Write as _;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::OpenRtbVersion;
use crate::adrequest::MediaKinds;
use crate::json::write_json_string;

/// Containers nested in what is written out, the request object counting as one. The deepest
/// path OpenRTB 2.6 and Native 1.2 define is about ten deep (`imp[].native.request.assets[]
/// .video.protocols`); the rest is headroom for exchanges' own fields. Each level is a
/// recursion of this transcoder, so the limit bounds its stack. A body the engine accepted with
/// a kept value nested deeper (serde_json lets it reach 127 levels) gets
/// [`OutboundError::TooDeep`], and the bidder is not asked.
pub const DEPTH_MAX: usize = 64;

/// The most containers serde_json nests (its recursion limit, not exported, is 128, and it
/// refuses the container that reaches it), kept or pruned. Ours is lower, so that a deep kept
/// value is refused by our limit, with our error, while the `ext` values we skip stay bounded
/// by serde_json's.
const SERDE_JSON_DEPTH_MAX: usize = 127;
const _: () = assert!(DEPTH_MAX < SERDE_JSON_DEPTH_MAX);

/// Promoted fields one object holds: `regs` and `user` two each, `source` and `imp` one. An
/// object keeps at most one value per field (duplicates replace it), so this bounds the
/// per-object bookkeeping, a fixed array on the stack.
const PROMOTED_PER_OBJECT_MAX: usize = 2;
const _: () = {
    let mut field_idx = 0;
    while field_idx < Promoted::ALL.len() {
        assert!(Promoted::ALL[field_idx].slot() < PROMOTED_PER_OBJECT_MAX);
        field_idx += 1;
    }
};

/// What one bidder is asked, besides the incoming request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundOptions {
    /// The OpenRTB version the bidder speaks: decides where promoted fields go and whether
    /// 2.6 additions are dropped.
    pub version: OpenRtbVersion,
    /// Written as the outgoing `tmax`: the bidder's share of the deadline.
    pub tmax_ms: u32,
    /// The media kinds the bidder takes: an impression is kept when it offers at least one.
    pub media: MediaKinds,
}

/// Why no request could be written for a bidder. Each means the body got past
/// `openrtb::parse_bid_request` yet is not what that parser guarantees: an internal error, for
/// which the bidder is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("the body is not UTF-8")]
    NotUtf8,
    #[error("the body is not a JSON object")]
    NotAnObject,
    #[error("`imp` is not an array")]
    ImpNotAnArray,
    #[error("the body nests values deeper than {depth_max} levels")]
    TooDeep { depth_max: usize },
    #[error("the body is not valid JSON (line {line}, column {column})")]
    Json { line: usize, column: usize },
}

/// Writes the request for one bidder into `out` (cleared first). Returns the number of imps
/// kept; 0 means the bidder takes none of them and must not be asked (`out` is then
/// unspecified, as it is on error).
pub fn write_bid_request(
    body: &[u8],
    options: &OutboundOptions,
    out: &mut Vec<u8>,
) -> Result<usize, OutboundError> {
    out.clear();
    // One UTF-8 check of the whole body lets serde_json borrow strings without checking each.
    let text = std::str::from_utf8(body).map_err(|_| OutboundError::NotUtf8)?;
    let first = body
        .iter()
        .find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        return Err(OutboundError::NotAnObject);
    }

    let mut transcoder = Transcoder {
        out,
        version: options.version,
        tmax_ms: options.tmax_ms,
        media: options.media,
        depth: 0,
        failure: None,
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let seed = Value {
        t: &mut transcoder,
        place: Place::Request,
    };
    let result = seed
        .deserialize(&mut deserializer)
        .and_then(|written| deserializer.end().map(|()| written));
    match result {
        Ok(written) => {
            debug_assert_eq!(transcoder.depth, 0);
            debug_assert!(
                transcoder.out.first() == Some(&b'{') && transcoder.out.last() == Some(&b'}')
            );
            Ok(written.imps_kept)
        }
        Err(error) => Err(transcoder.failure.unwrap_or(OutboundError::Json {
            line: error.line(),
            column: error.column(),
        })),
    }
}

/// Whether a bidder that takes `wanted` can fill an impression that offers `offered`.
fn takes(wanted: MediaKinds, offered: MediaKinds) -> bool {
    const KINDS: [MediaKinds; 4] = [
        MediaKinds::BANNER,
        MediaKinds::VIDEO,
        MediaKinds::AUDIO,
        MediaKinds::NATIVE,
    ];
    KINDS
        .iter()
        .any(|&kind| wanted.contains(kind) && offered.contains(kind))
}

/// Where a value sits in the request: decides which of its members are dropped, moved or looked
/// into. Only the places a rule names are told apart; everything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Request,
    Imp,
    Video,
    Audio,
    Pmp,
    /// `imp.pmp.deals`, the array.
    Deals,
    Deal,
    SiteOrApp,
    Content,
    Producer,
    Publisher,
    Device,
    Regs,
    User,
    Source,
    Other,
}

impl Place {
    /// The place of the entries when a value at `self` is an array.
    fn element(self) -> Place {
        match self {
            Place::Deals => Place::Deal,
            _ => Place::Other,
        }
    }

    /// The place of the members when a value at `self` is an object.
    fn object(self) -> Place {
        match self {
            Place::Deals => Place::Other,
            place => place,
        }
    }

    /// What wraps this object's promoted fields at their 2.5 location.
    fn container_2_5(self) -> (&'static [u8], &'static [u8]) {
        match self {
            Place::Imp => (b"\"ext\":{\"prebid\":{", b"}}"),
            _ => {
                debug_assert!(matches!(self, Place::Regs | Place::User | Place::Source));
                (b"\"ext\":{", b"}")
            }
        }
    }
}

/// The `ext` objects that hold a promoted field's 2.5 location; only those fields are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExtPlace {
    Regs,
    User,
    Source,
    Imp,
    /// `imp.ext.prebid`.
    ImpPrebid,
}

/// A field that 2.6 promoted out of `ext` (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Promoted {
    Gdpr,
    UsPrivacy,
    Consent,
    Eids,
    SupplyChain,
    Rewarded,
}

impl Promoted {
    const ALL: [Promoted; 6] = [
        Promoted::Gdpr,
        Promoted::UsPrivacy,
        Promoted::Consent,
        Promoted::Eids,
        Promoted::SupplyChain,
        Promoted::Rewarded,
    ];

    /// Index in its object's bookkeeping; fields of one object have distinct slots.
    const fn slot(self) -> usize {
        match self {
            Promoted::Gdpr | Promoted::Consent | Promoted::SupplyChain | Promoted::Rewarded => 0,
            Promoted::UsPrivacy | Promoted::Eids => 1,
        }
    }

    fn key(self, version: OpenRtbVersion) -> &'static str {
        match self {
            Promoted::Gdpr => "gdpr",
            Promoted::UsPrivacy => "us_privacy",
            Promoted::Consent => "consent",
            Promoted::Eids => "eids",
            Promoted::SupplyChain => "schain",
            Promoted::Rewarded => match version {
                OpenRtbVersion::V2_5 => "is_rewarded_inventory",
                OpenRtbVersion::V2_6 => "rwdd",
            },
        }
    }
}

/// Where a promoted value was read; the greater wins when an object has both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Location {
    Ext2_5,
    Field2_6,
}

/// What to do with one member of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    /// Write the key and the value, the value being at this place.
    Copy(Place),
    /// An imp's media object: copied, and its kind noted unless the value is `null`.
    Media(MediaKinds, Place),
    /// The request's `imp` array, filtered.
    Imps,
    /// Skip the value: an `ext` without promoted fields, `tmax`, a 2.6 addition for 2.5.
    Drop,
    /// Read only the promoted fields of this `ext`.
    Ext(ExtPlace),
    /// A promoted field at its 2.6 location.
    Promoted(Promoted),
}

impl Member {
    fn writes_key(self) -> bool {
        matches!(self, Member::Copy(_) | Member::Media(..) | Member::Imps)
    }
}

fn member(place: Place, key: &str, version: OpenRtbVersion) -> Member {
    match (place, key) {
        (Place::Request, "imp") => Member::Imps,
        (Place::Request, "tmax") => Member::Drop,
        (Place::Regs, "ext") => Member::Ext(ExtPlace::Regs),
        (Place::User, "ext") => Member::Ext(ExtPlace::User),
        (Place::Source, "ext") => Member::Ext(ExtPlace::Source),
        (Place::Imp, "ext") => Member::Ext(ExtPlace::Imp),
        (_, "ext") => Member::Drop,
        (Place::Regs, "gdpr") => Member::Promoted(Promoted::Gdpr),
        (Place::Regs, "us_privacy") => Member::Promoted(Promoted::UsPrivacy),
        (Place::User, "consent") => Member::Promoted(Promoted::Consent),
        (Place::User, "eids") => Member::Promoted(Promoted::Eids),
        (Place::Source, "schain") => Member::Promoted(Promoted::SupplyChain),
        (Place::Imp, "rwdd") => Member::Promoted(Promoted::Rewarded),
        _ if version == OpenRtbVersion::V2_5 && added_in_2_6(place, key) => Member::Drop,
        (Place::Request, "site" | "app") => Member::Copy(Place::SiteOrApp),
        (Place::Request, "device") => Member::Copy(Place::Device),
        (Place::Request, "regs") => Member::Copy(Place::Regs),
        (Place::Request, "user") => Member::Copy(Place::User),
        (Place::Request, "source") => Member::Copy(Place::Source),
        (Place::Imp, "banner") => Member::Media(MediaKinds::BANNER, Place::Other),
        (Place::Imp, "video") => Member::Media(MediaKinds::VIDEO, Place::Video),
        (Place::Imp, "audio") => Member::Media(MediaKinds::AUDIO, Place::Audio),
        (Place::Imp, "native") => Member::Media(MediaKinds::NATIVE, Place::Other),
        (Place::Imp, "pmp") => Member::Copy(Place::Pmp),
        (Place::Pmp, "deals") => Member::Copy(Place::Deals),
        (Place::SiteOrApp, "content") => Member::Copy(Place::Content),
        (Place::SiteOrApp, "publisher") => Member::Copy(Place::Publisher),
        (Place::Content, "producer") => Member::Copy(Place::Producer),
        _ => Member::Copy(Place::Other),
    }
}

/// The fields OpenRTB 2.6 (up to 2.6-202309) added that a 2.5 bidder does not get: the fields
/// Prebid Server's `ConvertDownTo25` clears, except the promoted ones, which move instead.
fn added_in_2_6(place: Place, key: &str) -> bool {
    let added: &[&str] = match place {
        Place::Request => &["wlangb", "cattax", "dooh", "acat"],
        Place::SiteOrApp => &["cattax", "kwarray", "inventorypartnerdomain"],
        Place::Content => &["cattax", "kwarray", "langb", "network", "channel"],
        Place::Producer | Place::Publisher => &["cattax"],
        Place::Device => &["sua", "langb"],
        Place::Regs => &["gpp", "gpp_sid"],
        Place::User => &["kwarray"],
        Place::Imp => &["ssai", "qty", "dt", "refresh"],
        Place::Video => &[
            "maxseq",
            "poddur",
            "podid",
            "podseq",
            "rqddurs",
            "slotinpod",
            "mincpmpersec",
            "plcmt",
            "durfloors",
        ],
        Place::Audio => &[
            "poddur",
            "rqddurs",
            "podid",
            "podseq",
            "slotinpod",
            "mincpmpersec",
            "durfloors",
        ],
        Place::Deal => &["guar", "mincpmpersec", "durfloors"],
        Place::Pmp | Place::Deals | Place::Source | Place::Other => &[],
    };
    added.contains(&key)
}

/// The state of one call: where output goes and what the bidder takes.
struct Transcoder<'o> {
    out: &'o mut Vec<u8>,
    version: OpenRtbVersion,
    tmax_ms: u32,
    media: MediaKinds,
    /// Containers open in the output, the request object included.
    depth: usize,
    /// Why the transcoder stopped, when it was its own decision rather than serde_json's.
    failure: Option<OutboundError>,
}

impl Transcoder<'_> {
    fn fail<E: de::Error>(&mut self, failure: OutboundError) -> E {
        self.failure = Some(failure);
        E::custom(failure)
    }

    fn enter<E: de::Error>(&mut self) -> Result<(), E> {
        if self.depth >= DEPTH_MAX {
            return Err(self.fail(OutboundError::TooDeep {
                depth_max: DEPTH_MAX,
            }));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        debug_assert!(self.depth > 0);
        self.depth -= 1;
    }
}

/// What writing a value found out.
#[derive(Debug, Clone, Copy, Default)]
struct Written {
    null: bool,
    /// For an imp: its media objects.
    media: MediaKinds,
    /// For the request: the imps kept.
    imps_kept: usize,
}

/// A promoted value written into `out[start..end]` as a whole member, `,"key":value`.
#[derive(Debug, Clone, Copy)]
struct Segment {
    start: usize,
    end: usize,
    location: Location,
}

/// Bookkeeping of one object being written.
#[derive(Debug)]
struct Object {
    /// Members written in place, which decides the comma before the next one.
    n_members: usize,
    /// Index in `out` of the object's `{`.
    open: usize,
    promoted: [Option<Segment>; PROMOTED_PER_OBJECT_MAX],
    media: MediaKinds,
}

impl Object {
    /// Records the promoted value just written at the end of `out`, dropping whichever of it
    /// and an earlier value of the same field loses: the 2.6 location beats the 2.5 one, and
    /// between equals the later wins, as the last of duplicate keys does for serde_json.
    fn keep(&mut self, out: &mut Vec<u8>, slot: usize, new: Segment) {
        debug_assert_eq!(new.end, out.len());
        let Some(old) = self.promoted[slot] else {
            self.promoted[slot] = Some(new);
            return;
        };
        if old.location > new.location {
            out.truncate(new.start);
            return;
        }
        debug_assert!(old.end <= new.start);
        out.drain(old.start..old.end);
        let removed = old.end - old.start;
        self.promoted[slot] = None;
        for segment in self.promoted.iter_mut().flatten() {
            if segment.start > old.start {
                segment.start -= removed;
                segment.end -= removed;
            }
        }
        self.promoted[slot] = Some(Segment {
            start: new.start - removed,
            end: new.end - removed,
            location: new.location,
        });
    }

    /// Moves the promoted members behind the others, in slot order, wrapped in their 2.5
    /// container for a 2.5 bidder. Each segment carries its leading comma, dropped when it ends
    /// up first in the object.
    fn close_promoted(&mut self, t: &mut Transcoder<'_>, place: Place) {
        let mut gathered_len = 0;
        for slot in 0..PROMOTED_PER_OBJECT_MAX {
            let Some(segment) = self.promoted[slot].take() else {
                continue;
            };
            let len = segment.end - segment.start;
            t.out[segment.start..].rotate_left(len);
            for other in self.promoted.iter_mut().flatten() {
                if other.start > segment.start {
                    other.start -= len;
                    other.end -= len;
                }
            }
            gathered_len += len;
        }
        if gathered_len == 0 {
            return;
        }
        let comma_idx = t.out.len() - gathered_len;
        debug_assert_eq!(t.out[comma_idx], b',');
        if t.version == OpenRtbVersion::V2_5 {
            let (prefix, suffix) = place.container_2_5();
            insert(t.out, comma_idx + 1, prefix);
            t.out.extend_from_slice(suffix);
        }
        if self.n_members == 0 {
            debug_assert_eq!(comma_idx, self.open + 1);
            t.out.remove(comma_idx);
        }
    }
}

/// Inserts `bytes` at `at` without a temporary buffer.
fn insert(out: &mut Vec<u8>, at: usize, bytes: &[u8]) {
    out.extend_from_slice(bytes);
    out[at..].rotate_right(bytes.len());
}

/// Writes the promoted value the map is at as the member `,"key":value` and records it in
/// `object`. A `null` value is absent, so it is not kept.
fn promote<'de, A: MapAccess<'de>>(
    t: &mut Transcoder<'_>,
    map: &mut A,
    object: &mut Object,
    field: Promoted,
    location: Location,
) -> Result<(), A::Error> {
    let start = t.out.len();
    t.out.push(b',');
    write_json_string(t.out, field.key(t.version));
    t.out.push(b':');
    let written = map.next_value_seed(Value {
        t: &mut *t,
        place: Place::Other,
    })?;
    if written.null {
        t.out.truncate(start);
    } else {
        let end = t.out.len();
        object.keep(
            t.out,
            field.slot(),
            Segment {
                start,
                end,
                location,
            },
        );
    }
    Ok(())
}

/// Transcodes one value at `place`.
struct Value<'a, 'o> {
    t: &'a mut Transcoder<'o>,
    place: Place,
}

impl<'de> DeserializeSeed<'de> for Value<'_, '_> {
    type Value = Written;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Written, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Value<'_, '_> {
    type Value = Written;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Written, E> {
        self.t.out.extend_from_slice(b"null");
        Ok(Written {
            null: true,
            ..Written::default()
        })
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Written, E> {
        let text: &[u8] = if value { b"true" } else { b"false" };
        self.t.out.extend_from_slice(text);
        Ok(Written::default())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Written, E> {
        // Writing into a Vec cannot fail.
        let _ = write!(self.t.out, "{value}");
        Ok(Written::default())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Written, E> {
        let _ = write!(self.t.out, "{value}");
        Ok(Written::default())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Written, E> {
        // Debug is the shortest text that reads back as the same f64, and unlike Display it
        // keeps a float a float (`1.0`, not `1`) and uses an exponent for extreme values
        // (`1e300`, not 301 digits). serde_json never yields a non-finite number.
        debug_assert!(value.is_finite());
        if value.is_finite() {
            let _ = write!(self.t.out, "{value:?}");
        } else {
            self.t.out.extend_from_slice(b"null");
        }
        Ok(Written::default())
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Written, E> {
        write_json_string(self.t.out, value);
        Ok(Written::default())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Written, A::Error> {
        let t = self.t;
        t.enter()?;
        t.out.push(b'[');
        let element = self.place.element();
        let mut n_elements = 0usize;
        loop {
            let start = t.out.len();
            if n_elements > 0 {
                t.out.push(b',');
            }
            let seed = Value {
                t: &mut *t,
                place: element,
            };
            if seq.next_element_seed(seed)?.is_none() {
                t.out.truncate(start);
                break;
            }
            n_elements += 1;
        }
        t.out.push(b']');
        t.leave();
        Ok(Written::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Written, A::Error> {
        let t = self.t;
        let place = self.place.object();
        t.enter()?;
        let mut object = Object {
            n_members: 0,
            open: t.out.len(),
            promoted: [None; PROMOTED_PER_OBJECT_MAX],
            media: MediaKinds::default(),
        };
        t.out.push(b'{');
        let mut imps_kept = 0;
        loop {
            let key = Key {
                t: &mut *t,
                place,
                n_members: &mut object.n_members,
            };
            let Some(member) = map.next_key_seed(key)? else {
                break;
            };
            match member {
                Member::Copy(child) => {
                    map.next_value_seed(Value {
                        t: &mut *t,
                        place: child,
                    })?;
                }
                Member::Media(kind, child) => {
                    let written = map.next_value_seed(Value {
                        t: &mut *t,
                        place: child,
                    })?;
                    if !written.null {
                        object.media.insert(kind);
                    }
                }
                Member::Imps => imps_kept += map.next_value_seed(Imps { t: &mut *t })?,
                Member::Drop => map.next_value_seed(Skip)?,
                Member::Ext(ext) => map.next_value_seed(Ext {
                    t: &mut *t,
                    ext,
                    object: &mut object,
                })?,
                Member::Promoted(field) => {
                    promote(t, &mut map, &mut object, field, Location::Field2_6)?;
                }
            }
        }
        object.close_promoted(t, place);
        if place == Place::Request {
            if object.n_members > 0 {
                t.out.push(b',');
            }
            let _ = write!(t.out, "\"tmax\":{}", t.tmax_ms);
        }
        t.out.push(b'}');
        t.leave();
        Ok(Written {
            null: false,
            media: object.media,
            imps_kept,
        })
    }
}

/// Reads a key, decides what to do with its member and writes the key if the member is copied
/// in place (a key with escapes is only available during the visit).
struct Key<'a, 'o> {
    t: &'a mut Transcoder<'o>,
    place: Place,
    n_members: &'a mut usize,
}

impl<'de> DeserializeSeed<'de> for Key<'_, '_> {
    type Value = Member;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Member, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_, '_> {
    type Value = Member;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Member, E> {
        let member = member(self.place, key, self.t.version);
        if member.writes_key() {
            if *self.n_members > 0 {
                self.t.out.push(b',');
            }
            *self.n_members += 1;
            write_json_string(self.t.out, key);
            self.t.out.push(b':');
        }
        Ok(member)
    }
}

/// The request's `imp` array: writes the impressions the bidder takes and counts them.
struct Imps<'a, 'o> {
    t: &'a mut Transcoder<'o>,
}

impl Imps<'_, '_> {
    fn not_an_array<E: de::Error>(self) -> Result<usize, E> {
        Err(self.t.fail(OutboundError::ImpNotAnArray))
    }
}

impl<'de> DeserializeSeed<'de> for Imps<'_, '_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Imps<'_, '_> {
    type Value = usize;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an array of impressions")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let t = self.t;
        t.enter()?;
        t.out.push(b'[');
        let mut imps_kept = 0usize;
        loop {
            // An impression is written before its media objects are known (they may follow
            // anything), then cut off again if the bidder takes none of them.
            let start = t.out.len();
            if imps_kept > 0 {
                t.out.push(b',');
            }
            let seed = Value {
                t: &mut *t,
                place: Place::Imp,
            };
            match seq.next_element_seed(seed)? {
                None => {
                    t.out.truncate(start);
                    break;
                }
                Some(written) if takes(t.media, written.media) => imps_kept += 1,
                Some(_) => t.out.truncate(start),
            }
        }
        t.out.push(b']');
        t.leave();
        Ok(imps_kept)
    }

    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<usize, A::Error> {
        self.not_an_array()
    }

    fn visit_unit<E: de::Error>(self) -> Result<usize, E> {
        self.not_an_array()
    }

    fn visit_bool<E: de::Error>(self, _value: bool) -> Result<usize, E> {
        self.not_an_array()
    }

    fn visit_i64<E: de::Error>(self, _value: i64) -> Result<usize, E> {
        self.not_an_array()
    }

    fn visit_u64<E: de::Error>(self, _value: u64) -> Result<usize, E> {
        self.not_an_array()
    }

    fn visit_f64<E: de::Error>(self, _value: f64) -> Result<usize, E> {
        self.not_an_array()
    }

    fn visit_str<E: de::Error>(self, _value: &str) -> Result<usize, E> {
        self.not_an_array()
    }
}

/// An `ext` that may hold a promoted field's 2.5 location: writes nothing but those fields, as
/// members of the object that owns the `ext` (`object`). An `ext` of another type is skipped.
struct Ext<'a, 'o> {
    t: &'a mut Transcoder<'o>,
    ext: ExtPlace,
    object: &'a mut Object,
}

/// What to do with one member of an [`Ext`].
#[derive(Debug, Clone, Copy)]
enum ExtMember {
    Promoted(Promoted),
    Nested(ExtPlace),
    Skip,
}

impl<'de> DeserializeSeed<'de> for Ext<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Ext<'_, '_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Ext { t, ext, object } = self;
        t.enter()?;
        while let Some(member) = map.next_key_seed(ExtKey { ext })? {
            match member {
                ExtMember::Promoted(field) => {
                    promote(t, &mut map, object, field, Location::Ext2_5)?;
                }
                ExtMember::Nested(nested) => map.next_value_seed(Ext {
                    t: &mut *t,
                    ext: nested,
                    object: &mut *object,
                })?,
                ExtMember::Skip => map.next_value_seed(Skip)?,
            }
        }
        t.leave();
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Skip.visit_seq(seq)
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _value: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _value: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _value: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _value: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _value: &str) -> Result<(), E> {
        Ok(())
    }
}

/// Reads a key of an [`Ext`].
struct ExtKey {
    ext: ExtPlace,
}

impl<'de> DeserializeSeed<'de> for ExtKey {
    type Value = ExtMember;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<ExtMember, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for ExtKey {
    type Value = ExtMember;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<ExtMember, E> {
        Ok(match (self.ext, key) {
            (ExtPlace::Regs, "gdpr") => ExtMember::Promoted(Promoted::Gdpr),
            (ExtPlace::Regs, "us_privacy") => ExtMember::Promoted(Promoted::UsPrivacy),
            (ExtPlace::User, "consent") => ExtMember::Promoted(Promoted::Consent),
            (ExtPlace::User, "eids") => ExtMember::Promoted(Promoted::Eids),
            (ExtPlace::Source, "schain") => ExtMember::Promoted(Promoted::SupplyChain),
            (ExtPlace::Imp, "prebid") => ExtMember::Nested(ExtPlace::ImpPrebid),
            (ExtPlace::ImpPrebid, "is_rewarded_inventory") => {
                ExtMember::Promoted(Promoted::Rewarded)
            }
            _ => ExtMember::Skip,
        })
    }
}

/// Skips a value. Unlike `IgnoredAny`, whose serde_json implementation keeps a stack of the
/// containers it skips in the deserializer's scratch buffer (an allocation per call for
/// `ext.prebid.bidder`), this recurses; serde_json's recursion limit bounds the depth.
struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Skip)?.is_some() {
            map.next_value_seed(Skip)?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _value: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _value: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _value: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _value: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _value: &str) -> Result<(), E> {
        Ok(())
    }
}
