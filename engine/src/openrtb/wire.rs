//! The parts of an OpenRTB 2.6 bid request that the engine reads or validates (2.5 requests
//! parse into the same types), borrowed from the request body wherever serde allows.
//!
//! These types exist so that the JSON shape of a bid request is known in one place and nowhere
//! else: `validate` checks them, `request` converts them into the engine's compact
//! [`AdRequest`](crate::adrequest::AdRequest), and the decision code never sees them. They are public only
//! so that `bench/` can measure the same types with other JSON parsers.
//!
//! Choices that hold for every type here:
//! - Only the fields that `validate` checks or `request` copies are declared. Every other field,
//!   every `ext` and every unknown field is skipped unread (the JSON fast path's skip loop, or
//!   serde_json's `IgnoredAny`), so nothing is rejected for being unknown (exchanges add fields
//!   all the time) and a field of the wrong type is rejected only if the engine uses it. The
//!   one exception is `geo.lat` and `geo.lon`, declared so that a location of the wrong type
//!   stays a 400.
//! - Every field is optional: an `Option`, or a [`List`] where absent and `null` read as empty.
//!   So nothing reports "missing field": required fields are checked in `validate`, which names
//!   the field the way a client expects (`imp[0].id`). A key sent twice in one object is
//!   rejected, as serde's derive does.
//! - Integers are `i64` even where the spec only allows small non-negative values, so that a
//!   negative or out-of-range value reaches `validate` and gets a precise message rather than
//!   serde's "invalid value: integer `-1`, expected u32". A JSON value of the wrong type (a
//!   string for `w`, `1.5` for an integer) is still a parse error naming its field.
//! - Numbers the spec defines as floats (`bidfloor`, `lat`) are `f64`, which also accepts
//!   integers, as real exchanges send `"bidfloor": 2`.
//! - Strings are [`Str`], which borrows from the body when the JSON string has no escapes.
//!
//! Deserialization is written out by [`wire_object!`] rather than derived, because it is most of
//! what a request costs to parse:
//! - objects and lists are filled in place ([`Fill`]): a nested object is built where it stays,
//!   not returned by value and moved up through every level as derived code does (a request was
//!   5.9 KB by value, and those moves were a tenth of the parse);
//! - a key is looked up with a `match` on byte-string literals, which compiles to a decision tree
//!   on length and bytes rather than a string comparison per field;
//! - `null` and the value are told apart in one look at the input (`deserialize_any`), where
//!   serde's `Option` takes two;
//! - lists keep their first entries inline ([`List`]), so a short list costs no allocation.
//!
//! An object sent as a JSON array is a type error; serde's derive would have read it as the
//! struct's fields in declaration order, which no exchange means.
//!
//! Every wire type also implements `Deserialize` (through `Fill`), so any serde parser can fill
//! it.

use std::borrow::Cow;
use std::fmt;
use std::fmt::Write as _;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ops::Deref;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
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
        let mut value = Str::default();
        value.fill(deserializer)?;
        Ok(value)
    }
}

/// A JSON object whose contents the engine does not read, only whether it is there (`sua`).
/// Anything but an object or `null` is still a type error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnyObject;

/// A JSON array, its first `N` entries held inline so that a short list costs no allocation;
/// a longer one moves to the heap. Absent and `null` read as empty, as the engine makes no
/// difference between them (where it does, the field is an `Option<List>`).
///
/// The inline slots start uninitialized, so an empty list costs nothing to create or drop,
/// however large `T` or `N`: a bid request has a dozen lists and most are absent.
pub struct List<T, const N: usize> {
    /// The first `inline_len` slots are initialized; the rest are not.
    inline: [MaybeUninit<T>; N],
    /// Initialized entries of `inline`; 0 once the list has moved to `heap`.
    inline_len: usize,
    /// The whole list once it outgrew `inline`, else empty.
    heap: Vec<T>,
}

impl<T, const N: usize> List<T, N> {
    pub fn as_slice(&self) -> &[T] {
        if self.heap.is_empty() {
            // SAFETY: the first `inline_len` slots are initialized (the field's invariant), and
            // `inline_len <= N`.
            unsafe { std::slice::from_raw_parts(self.inline.as_ptr().cast::<T>(), self.inline_len) }
        } else {
            &self.heap
        }
    }

    /// Appends `T::default()` and returns it, to be filled in place.
    pub(crate) fn push_default(&mut self) -> Option<&mut T>
    where
        T: Default,
    {
        if self.heap.is_empty() && self.inline_len < N {
            let index = self.inline_len;
            let value = self.inline[index].write(T::default());
            self.inline_len += 1;
            return Some(value);
        }
        if self.heap.is_empty() {
            // Room to grow past the inline entries, so that a list spills (and moves) once.
            self.heap.reserve((2 * N).max(8));
            // Forget the inline entries before moving them, so that a panic could only leak
            // them, never drop them twice.
            let moved = std::mem::take(&mut self.inline_len);
            for slot in self.inline.iter().take(moved) {
                // SAFETY: the first `moved` slots were initialized, and they are read once and
                // no longer counted as initialized.
                self.heap.push(unsafe { slot.assume_init_read() });
            }
        }
        self.heap.push(T::default());
        self.heap.last_mut()
    }
}

impl<T, const N: usize> Drop for List<T, N> {
    fn drop(&mut self) {
        let initialized = self.inline.as_mut_ptr().cast::<T>();
        // SAFETY: the first `inline_len` slots are initialized, and nothing reads them after.
        unsafe {
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                initialized,
                self.inline_len,
            ))
        }
    }
}

impl<T, const N: usize> Default for List<T, N> {
    fn default() -> Self {
        List {
            inline: [const { MaybeUninit::uninit() }; N],
            inline_len: 0,
            heap: Vec::new(),
        }
    }
}

impl<T, const N: usize> Deref for List<T, N> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: fmt::Debug, const N: usize> fmt::Debug for List<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// The entries of an optional list, empty when absent or null.
pub fn list<T, const N: usize>(list: &Option<List<T, N>>) -> &[T] {
    list.as_ref().map_or(&[], |list| list.as_slice())
}

/// The text of an optional string, empty when absent or null.
pub fn text<'s>(value: &'s Option<Str<'_>>) -> &'s str {
    value.as_ref().map_or("", |s| s.as_str())
}

/// Declares a wire object: the struct, every field defaulting to absent, with the JSON key of
/// each field, and its in-place deserialization ([`Object`], [`Fill`] and `Deserialize`).
///
/// Keys are byte-string literals so that they can be `match` patterns on the key's bytes.
macro_rules! wire_object {
    (
        $(#[$meta:meta])*
        pub struct $name:ident $(<$lt:lifetime>)? {
            $(
                $(#[$field_meta:meta])*
                pub $field:ident: $ty:ty = $key:literal,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        pub struct $name $(<$lt>)? {
            $(
                $(#[$field_meta])*
                pub $field: $ty,
            )*
        }

        impl<'de $(: $lt, $lt)?> super::wire::Object<'de> for $name $(<$lt>)? {
            const NAME: &'static str = stringify!($name);
            const KEYS: &'static [&'static str] = &[$(super::wire::key_text($key)),*];

            fn key_index(key: &[u8]) -> Option<usize> {
                #[allow(non_camel_case_types)]
                enum Field {
                    $($field,)*
                }
                match key {
                    $($key => Some(Field::$field as usize),)*
                    _ => None,
                }
            }

            fn fill_field<M: serde::de::MapAccess<'de>>(
                &mut self,
                key_idx: usize,
                map: &mut M,
            ) -> Result<(), M::Error> {
                #[allow(non_camel_case_types)]
                enum Field {
                    $($field,)*
                }
                $(
                    if key_idx == Field::$field as usize {
                        return map.next_value_seed(super::wire::Place(&mut self.$field));
                    }
                )*
                map.next_value::<serde::de::IgnoredAny>().map(drop)
            }
        }

        impl<'de $(: $lt, $lt)?> serde::Deserialize<'de> for $name $(<$lt>)? {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let mut value = Self::default();
                super::wire::Fill::fill(&mut value, deserializer)?;
                Ok(value)
            }
        }

        // Keys seen are tracked in a u64 to reject duplicates.
        const _: () = assert!([$(stringify!($field)),*].len() <= 64);
    };
}

pub(crate) use wire_object;

wire_object! {
    /// The top-level bid request (OpenRTB 2.6 §3.2.1).
    pub struct BidRequest<'a> {
        pub id: Option<Str<'a>> = b"id",
        pub imp: List<Imp<'a>, 1> = b"imp",
        pub site: Option<Site<'a>> = b"site",
        pub app: Option<App<'a>> = b"app",
        pub dooh: Option<Dooh<'a>> = b"dooh",
        pub device: Option<Device<'a>> = b"device",
        pub user: Option<User<'a>> = b"user",
        pub test: Option<i64> = b"test",
        /// Auction type: 1 first price, 2 second price plus, 500+ exchange-specific.
        pub at: Option<i64> = b"at",
        pub tmax: Option<i64> = b"tmax",
        pub cur: List<Str<'a>, 2> = b"cur",
        pub bcat: List<Str<'a>, 8> = b"bcat",
        pub badv: List<Str<'a>, 8> = b"badv",
        pub bapp: List<Str<'a>, 8> = b"bapp",
        pub regs: Option<Regs> = b"regs",
    }
}

wire_object! {
    /// One impression on offer (§3.2.4).
    pub struct Imp<'a> {
        pub id: Option<Str<'a>> = b"id",
        pub banner: Option<Banner> = b"banner",
        pub video: Option<Video<'a>> = b"video",
        pub audio: Option<Audio<'a>> = b"audio",
        pub native: Option<Native<'a>> = b"native",
        pub pmp: Option<Pmp<'a>> = b"pmp",
        pub instl: Option<i64> = b"instl",
        pub tagid: Option<Str<'a>> = b"tagid",
        pub bidfloor: Option<f64> = b"bidfloor",
        pub bidfloorcur: Option<Str<'a>> = b"bidfloorcur",
        pub secure: Option<i64> = b"secure",
        pub exp: Option<i64> = b"exp",
    }
}

wire_object! {
    /// A display placement (§3.2.6).
    pub struct Banner {
        pub format: List<Format, 4> = b"format",
        pub w: Option<i64> = b"w",
        pub h: Option<i64> = b"h",
        pub battr: List<i64, 8> = b"battr",
    }
}

wire_object! {
    /// One allowed size: either fixed `{w, h}` or flexible `{wmin, wratio, hratio}` (§3.2.10).
    pub struct Format {
        pub w: Option<i64> = b"w",
        pub h: Option<i64> = b"h",
        pub wratio: Option<i64> = b"wratio",
        pub hratio: Option<i64> = b"hratio",
        pub wmin: Option<i64> = b"wmin",
    }
}

wire_object! {
    /// An in-stream or out-stream video placement (§3.2.7).
    pub struct Video<'a> {
        pub mimes: List<Str<'a>, 4> = b"mimes",
        pub minduration: Option<i64> = b"minduration",
        pub maxduration: Option<i64> = b"maxduration",
        pub maxseq: Option<i64> = b"maxseq",
        pub poddur: Option<i64> = b"poddur",
        pub protocols: Option<List<i64, 8>> = b"protocols",
        /// Deprecated in 2.5 in favour of `protocols`; still sent by some exchanges.
        pub protocol: Option<i64> = b"protocol",
        pub w: Option<i64> = b"w",
        pub h: Option<i64> = b"h",
        pub skipmin: Option<i64> = b"skipmin",
        pub skipafter: Option<i64> = b"skipafter",
        pub sequence: Option<i64> = b"sequence",
        pub battr: List<i64, 8> = b"battr",
        pub minbitrate: Option<i64> = b"minbitrate",
        pub maxbitrate: Option<i64> = b"maxbitrate",
    }
}

wire_object! {
    /// An audio placement (2.5 §3.2.8).
    pub struct Audio<'a> {
        pub mimes: List<Str<'a>, 4> = b"mimes",
        pub minduration: Option<i64> = b"minduration",
        pub maxduration: Option<i64> = b"maxduration",
        pub poddur: Option<i64> = b"poddur",
        pub protocols: Option<List<i64, 8>> = b"protocols",
        pub sequence: Option<i64> = b"sequence",
        pub battr: List<i64, 8> = b"battr",
        pub minbitrate: Option<i64> = b"minbitrate",
        pub maxbitrate: Option<i64> = b"maxbitrate",
        pub maxseq: Option<i64> = b"maxseq",
    }
}

wire_object! {
    /// A native placement (§3.2.9): the Native request itself travels in `request`, as a JSON
    /// string per the spec (an object is accepted too, as some exchanges send one).
    pub struct Native<'a> {
        pub request: Option<NativeRequestField<'a>> = b"request",
        /// Version of the Native markup in `request` ("1.2"); absent means 1.2 here.
        pub ver: Option<Str<'a>> = b"ver",
        pub battr: List<i64, 8> = b"battr",
    }
}

wire_object! {
    /// Private marketplace deals for an impression (§3.2.11).
    pub struct Pmp<'a> {
        pub private_auction: Option<i64> = b"private_auction",
        pub deals: List<Deal<'a>, 2> = b"deals",
    }
}

wire_object! {
    /// One direct deal (§3.2.12).
    pub struct Deal<'a> {
        pub id: Option<Str<'a>> = b"id",
        pub bidfloor: Option<f64> = b"bidfloor",
        pub bidfloorcur: Option<Str<'a>> = b"bidfloorcur",
    }
}

wire_object! {
    /// A website context (§3.2.13).
    pub struct Site<'a> {
        pub id: Option<Str<'a>> = b"id",
        pub domain: Option<Str<'a>> = b"domain",
        pub cat: List<Str<'a>, 4> = b"cat",
        pub sectioncat: List<Str<'a>, 4> = b"sectioncat",
        pub pagecat: List<Str<'a>, 4> = b"pagecat",
        pub page: Option<Str<'a>> = b"page",
        pub publisher: Option<Publisher<'a>> = b"publisher",
    }
}

wire_object! {
    /// A mobile or CTV application context (§3.2.14).
    pub struct App<'a> {
        pub id: Option<Str<'a>> = b"id",
        pub bundle: Option<Str<'a>> = b"bundle",
        pub domain: Option<Str<'a>> = b"domain",
        pub cat: List<Str<'a>, 4> = b"cat",
        pub sectioncat: List<Str<'a>, 4> = b"sectioncat",
        pub pagecat: List<Str<'a>, 4> = b"pagecat",
        pub publisher: Option<Publisher<'a>> = b"publisher",
    }
}

wire_object! {
    /// A digital out-of-home screen context (2.6 §3.2.23).
    pub struct Dooh<'a> {
        pub id: Option<Str<'a>> = b"id",
        pub publisher: Option<Publisher<'a>> = b"publisher",
        pub domain: Option<Str<'a>> = b"domain",
    }
}

wire_object! {
    /// The seller of the inventory (§3.2.15).
    pub struct Publisher<'a> {
        pub id: Option<Str<'a>> = b"id",
    }
}

wire_object! {
    /// The device the impression will be shown on (§3.2.18).
    pub struct Device<'a> {
        pub geo: Option<Geo<'a>> = b"geo",
        pub dnt: Option<i64> = b"dnt",
        pub lmt: Option<i64> = b"lmt",
        pub ua: Option<Str<'a>> = b"ua",
        /// Structured user agent (2.6 §3.2.29): only its presence is used.
        pub sua: Option<AnyObject> = b"sua",
        pub ip: Option<Str<'a>> = b"ip",
        pub ipv6: Option<Str<'a>> = b"ipv6",
        pub devicetype: Option<i64> = b"devicetype",
        pub os: Option<Str<'a>> = b"os",
        pub h: Option<i64> = b"h",
        pub w: Option<i64> = b"w",
        pub ppi: Option<i64> = b"ppi",
        pub ifa: Option<Str<'a>> = b"ifa",
    }
}

wire_object! {
    /// A location (§3.2.19). `country` is ISO-3166-1 alpha-3 in OpenRTB 2.x.
    pub struct Geo<'a> {
        pub lat: Option<f64> = b"lat",
        pub lon: Option<f64> = b"lon",
        pub accuracy: Option<i64> = b"accuracy",
        pub country: Option<Str<'a>> = b"country",
        pub region: Option<Str<'a>> = b"region",
    }
}

wire_object! {
    /// The human behind the device (§3.2.20).
    pub struct User<'a> {
        pub id: Option<Str<'a>> = b"id",
        pub buyeruid: Option<Str<'a>> = b"buyeruid",
        pub geo: Option<Geo<'a>> = b"geo",
        pub data: List<Data<'a>, 2> = b"data",
    }
}

wire_object! {
    /// Third-party data about the user (§3.2.21).
    pub struct Data<'a> {
        pub segment: List<Segment<'a>, 4> = b"segment",
    }
}

wire_object! {
    /// One data segment (§3.2.22).
    pub struct Segment<'a> {
        pub id: Option<Str<'a>> = b"id",
    }
}

wire_object! {
    /// Regulatory signals (§3.2.3); 2.5 carried gdpr and us_privacy in `ext`, which is ignored.
    pub struct Regs {
        pub coppa: Option<i64> = b"coppa",
        pub gdpr: Option<i64> = b"gdpr",
    }
}

/// A value that deserializes into storage that already exists, instead of returning a new
/// value. Objects and lists are filled where they will stay, so a large object is never moved
/// after it is built.
///
/// Optional values (`Option<T>`, and `List`, where `null` is empty) read with
/// `deserialize_any`, so that telling `null` from a value costs one look at the input rather
/// than two (`deserialize_option`, then the value's own `deserialize_*`). They accept exactly
/// what serde's impls for the same types accept.
pub trait Fill<'de> {
    fn fill<D: Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), D::Error>;
}

/// A JSON object with a fixed set of keys, declared with [`wire_object!`].
pub trait Object<'de>: Default {
    /// For "expected struct ..." in type errors.
    const NAME: &'static str;
    /// The JSON keys, indexed as [`Object::key_index`] numbers them.
    const KEYS: &'static [&'static str];

    /// The index of a known key, `None` for a key to skip.
    fn key_index(key: &[u8]) -> Option<usize>;

    /// Deserializes the next value of `map` into the field of key `key_idx`.
    fn fill_field<M: MapAccess<'de>>(
        &mut self,
        key_idx: usize,
        map: &mut M,
    ) -> Result<(), M::Error>;
}

/// Fills `object` from the entries of `map`: known keys into their fields, once each; unknown
/// keys skipped.
pub(crate) fn fill_object<'de, T: Object<'de>, M: MapAccess<'de>>(
    object: &mut T,
    mut map: M,
) -> Result<(), M::Error> {
    let mut seen: u64 = 0;
    while let Some(key) = map.next_key_seed(KeySeed::<T>(PhantomData))? {
        let Some(key_idx) = key else {
            map.next_value::<IgnoredAny>()?;
            continue;
        };
        // `wire_object!` asserts at most 64 keys.
        let bit = 1u64 << (key_idx & 63);
        if seen & bit != 0 {
            let key = T::KEYS.get(key_idx).copied().unwrap_or("?");
            return Err(de::Error::duplicate_field(key));
        }
        seen |= bit;
        object.fill_field(key_idx, &mut map)?;
    }
    Ok(())
}

impl<'de, T: Object<'de>> Fill<'de> for T {
    fn fill<D: Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), D::Error> {
        struct ObjectVisitor<'p, T>(&'p mut T);

        impl<'de, T: Object<'de>> Visitor<'de> for ObjectVisitor<'_, T> {
            type Value = ();

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "struct {}", T::NAME)
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<(), M::Error> {
                fill_object(self.0, map)
            }
        }

        deserializer.deserialize_map(ObjectVisitor(self))
    }
}

/// Reads an object key and looks it up in `T`'s keys: a key that matches is one of `T`'s
/// fields, any other is skipped.
///
/// The key is read as a `str`, like serde's derive does, so a key is rejected for what a
/// derived struct rejects (invalid UTF-8, raw control characters) and serde_path_to_error sees
/// it to name the path of an error. (Reading it as bytes skips the UTF-8 check, but serde_json
/// then finds the closing quote with `memchr2`, whose setup costs as much for short keys.)
struct KeySeed<T>(PhantomData<fn() -> T>);

impl<'de, T: Object<'de>> DeserializeSeed<'de> for KeySeed<T> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<usize>, D::Error> {
        deserializer.deserialize_str(KeyVisitor::<T>(PhantomData))
    }
}

struct KeyVisitor<T>(PhantomData<fn() -> T>);

impl<'de, T: Object<'de>> Visitor<'de> for KeyVisitor<T> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(T::key_index(key.as_bytes()))
    }
}

/// `key` as text, for [`Object::KEYS`]; every key is an ASCII literal.
pub(crate) const fn key_text(key: &'static [u8]) -> &'static str {
    match std::str::from_utf8(key) {
        Ok(text) => text,
        Err(_) => panic!("a wire_object! key is not UTF-8"),
    }
}

/// The seed that fills the value of a map entry or list element in place.
pub(crate) struct Place<'p, T>(pub &'p mut T);

impl<'de, T: Fill<'de>> DeserializeSeed<'de> for Place<'_, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.0.fill(deserializer)
    }
}

/// `null` or absent is `None`; an object fills a `T::default()` in place.
impl<'de, T: Object<'de>> Fill<'de> for Option<T> {
    fn fill<D: Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), D::Error> {
        struct OptionalObject<'p, T>(&'p mut Option<T>);

        impl<'de, T: Object<'de>> Visitor<'de> for OptionalObject<'_, T> {
            type Value = ();

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "struct {}", T::NAME)
            }

            fn visit_unit<E>(self) -> Result<(), E> {
                *self.0 = None;
                Ok(())
            }

            fn visit_none<E>(self) -> Result<(), E> {
                *self.0 = None;
                Ok(())
            }

            fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
                self.0.insert(T::default()).fill(deserializer)
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<(), M::Error> {
                fill_object(self.0.insert(T::default()), map)
            }
        }

        deserializer.deserialize_any(OptionalObject(self))
    }
}

/// `null` or absent is empty; each element is filled in place.
impl<'de, T: Fill<'de> + Default, const N: usize> Fill<'de> for List<T, N> {
    fn fill<D: Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(ListVisitor(self))
    }
}

/// `null` or absent is `None`, which some fields tell from an empty list.
impl<'de, T: Fill<'de> + Default, const N: usize> Fill<'de> for Option<List<T, N>> {
    fn fill<D: Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), D::Error> {
        struct OptionalList<'p, T, const N: usize>(&'p mut Option<List<T, N>>);

        impl<'de, T: Fill<'de> + Default, const N: usize> Visitor<'de> for OptionalList<'_, T, N> {
            type Value = ();

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }

            fn visit_unit<E>(self) -> Result<(), E> {
                *self.0 = None;
                Ok(())
            }

            fn visit_none<E>(self) -> Result<(), E> {
                *self.0 = None;
                Ok(())
            }

            fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
                self.0.insert(List::default()).fill(deserializer)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
                ListVisitor(self.0.insert(List::default())).visit_seq(seq)
            }
        }

        deserializer.deserialize_any(OptionalList(self))
    }
}

struct ListVisitor<'p, T, const N: usize>(&'p mut List<T, N>);

impl<'de, T: Fill<'de> + Default, const N: usize> Visitor<'de> for ListVisitor<'_, T, N> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.0.fill(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Push(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

struct Push<'p, T, const N: usize>(&'p mut List<T, N>);

impl<'de, T: Fill<'de> + Default, const N: usize> DeserializeSeed<'de> for Push<'_, T, N> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match self.0.push_default() {
            Some(element) => element.fill(deserializer),
            None => Ok(()),
        }
    }
}

/// `null` or absent is `None`; an object, whatever it holds, is `Some`.
impl<'de> Fill<'de> for Option<AnyObject> {
    fn fill<D: Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), D::Error> {
        struct OptionalAnyObject;

        impl<'de> Visitor<'de> for OptionalAnyObject {
            type Value = Option<AnyObject>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_unit<E>(self) -> Result<Option<AnyObject>, E> {
                Ok(None)
            }

            fn visit_none<E>(self) -> Result<Option<AnyObject>, E> {
                Ok(None)
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Some(AnyObject))
            }
        }

        *self = deserializer.deserialize_any(OptionalAnyObject)?;
        Ok(())
    }
}

/// An optional integer. Accepts exactly what serde's `Option<i64>` accepts.
impl<'de> Fill<'de> for Option<i64> {
    fn fill<D: Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), D::Error> {
        *self = deserializer.deserialize_any(IntegerVisitor)?;
        Ok(())
    }
}

/// A list entry that must be an integer.
impl<'de> Fill<'de> for i64 {
    fn fill<D: Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), D::Error> {
        match deserializer.deserialize_i64(IntegerVisitor)? {
            Some(value) => *self = value,
            None => {
                return Err(de::Error::invalid_type(
                    de::Unexpected::Unit,
                    &IntegerVisitor,
                ))
            }
        }
        Ok(())
    }
}

struct IntegerVisitor;

impl Visitor<'_> for IntegerVisitor {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("i64")
    }

    fn visit_i64<E>(self, value: i64) -> Result<Option<i64>, E> {
        Ok(Some(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Option<i64>, E> {
        match i64::try_from(value) {
            Ok(value) => Ok(Some(value)),
            Err(_) => Err(E::invalid_value(de::Unexpected::Unsigned(value), &self)),
        }
    }

    fn visit_unit<E>(self) -> Result<Option<i64>, E> {
        Ok(None)
    }

    fn visit_none<E>(self) -> Result<Option<i64>, E> {
        Ok(None)
    }
}

/// An optional float; integers are accepted, as serde's `Option<f64>` does.
impl<'de> Fill<'de> for Option<f64> {
    fn fill<D: Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), D::Error> {
        struct OptionalFloat;

        impl Visitor<'_> for OptionalFloat {
            type Value = Option<f64>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("f64")
            }

            fn visit_f64<E>(self, value: f64) -> Result<Option<f64>, E> {
                Ok(Some(value))
            }

            fn visit_i64<E>(self, value: i64) -> Result<Option<f64>, E> {
                Ok(Some(value as f64))
            }

            fn visit_u64<E>(self, value: u64) -> Result<Option<f64>, E> {
                Ok(Some(value as f64))
            }

            fn visit_unit<E>(self) -> Result<Option<f64>, E> {
                Ok(None)
            }

            fn visit_none<E>(self) -> Result<Option<f64>, E> {
                Ok(None)
            }
        }

        *self = deserializer.deserialize_any(OptionalFloat)?;
        Ok(())
    }
}

/// An optional string.
impl<'de: 'a, 'a> Fill<'de> for Option<Str<'a>> {
    fn fill<D: Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), D::Error> {
        *self = deserializer.deserialize_any(StrVisitor(PhantomData))?;
        Ok(())
    }
}

/// A list entry that must be a string.
impl<'de: 'a, 'a> Fill<'de> for Str<'a> {
    fn fill<D: Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), D::Error> {
        match deserializer.deserialize_str(StrVisitor(PhantomData))? {
            Some(value) => *self = value,
            None => {
                let visitor = StrVisitor(PhantomData);
                return Err(de::Error::invalid_type(de::Unexpected::Unit, &visitor));
            }
        }
        Ok(())
    }
}

/// A string, or `None` for `null`.
struct StrVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for StrVisitor<'a> {
    type Value = Option<Str<'a>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Str(Cow::Borrowed(value))))
    }

    fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Some(Str(Cow::Owned(value.to_owned()))))
    }

    fn visit_string<E>(self, value: String) -> Result<Self::Value, E> {
        Ok(Some(Str(Cow::Owned(value))))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

impl<'de: 'a, 'a> Fill<'de> for Option<NativeRequestField<'a>> {
    fn fill<D: Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), D::Error> {
        *self = Option::deserialize(deserializer)?;
        Ok(())
    }
}

/// Where and why a JSON document failed to deserialize.
#[derive(Debug)]
pub(crate) struct JsonError {
    /// serde_path_to_error's path (`imp[0].banner.w`), empty for the document root.
    pub path: String,
    pub message: String,
}

/// Fills `out` from `json`: with the fast path (`fastjson`) when it accepts the body, else with
/// serde_json from a fresh `T::default()`; only when serde_json fails too, parses it again with
/// serde_path_to_error to find where. The path tracker allocates a `String` per map key, so
/// keeping it off the success path keeps the common case allocation-light; a rejected request
/// pays for two parses, which is cheap next to the 400 round trip. On error `out` holds part of
/// the document.
pub(crate) fn fill_from_slice<'de, T: Fill<'de> + Default + Deserialize<'de>>(
    json: &'de [u8],
    out: &mut T,
) -> Result<(), JsonError> {
    // One UTF-8 check of the whole document is cheaper than serde_json's check of every
    // borrowed string (`SliceRead` validates each one, `StrRead` trusts its input): a profile
    // of the banner request showed `from_utf8` at 6% of the shard's cycles. A body that is
    // not UTF-8 goes through `from_slice`, so its error names the place as before.
    let result = match std::str::from_utf8(json) {
        Ok(text) => {
            let mut fast = super::fastjson::Deserializer::new(text);
            if out.fill(&mut fast).and_then(|()| fast.end()).is_ok() {
                return Ok(());
            }
            // Off the fast path: serde_json reads the body from the start, into a fresh value.
            *out = T::default();
            let mut deserializer = serde_json::Deserializer::from_str(text);
            out.fill(&mut deserializer)
                .and_then(|()| deserializer.end())
        }
        Err(_) => {
            let mut deserializer = serde_json::Deserializer::from_slice(json);
            out.fill(&mut deserializer)
                .and_then(|()| deserializer.end())
        }
    };
    result.map_err(|first| locate::<T>(json, first))
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

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::List;

    thread_local! {
        /// Values of `Counted` alive on this thread.
        static LIVE: Cell<i64> = const { Cell::new(0) };
    }

    /// Counts itself, so that a leak or a double drop shows.
    struct Counted(usize);

    impl Default for Counted {
        fn default() -> Self {
            LIVE.with(|live| live.set(live.get() + 1));
            Counted(usize::MAX)
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            LIVE.with(|live| live.set(live.get() - 1));
        }
    }

    #[test]
    fn list_keeps_every_entry_in_order_and_drops_each_once() {
        for n in 0..20 {
            let mut list = List::<Counted, 4>::default();
            for i in 0..n {
                let entry = list.push_default().expect("pushed");
                entry.0 = i;
            }
            let entries: Vec<usize> = list.iter().map(|entry| entry.0).collect();
            assert_eq!(entries, (0..n).collect::<Vec<_>>());
            assert_eq!(LIVE.with(Cell::get), n as i64, "{n} entries alive");
            drop(list);
            assert_eq!(LIVE.with(Cell::get), 0, "{n} entries dropped once each");
        }
    }
}
