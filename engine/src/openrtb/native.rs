//! The OpenRTB Native 1.2 request carried inside `imp.native.request`, and the decoding of that
//! field.
//!
//! OpenRTB 2.x sends the Native request as a JSON *string* holding a second JSON document, so it
//! cannot be parsed in the same pass as the bid request: [`NativeRequestField`] keeps the string
//! (borrowed when it has no escapes, which in practice it always has) and [`decode`] parses it
//! when `validate` gets to it. Some exchanges send the object itself; that form is parsed in the
//! main pass. Either way the result is a [`NativeRequest`].
//!
//! Native 1.0 wrapped the request in `{"native": {...}}`; that wrapper is accepted and unwrapped.

use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::wire::{self, wire_object, Fill, JsonError, List, Str};

/// `imp.native.request` as sent: the JSON text of a Native request, or the request object.
#[derive(Debug)]
pub enum NativeRequestField<'a> {
    /// The spec's form: a string containing the Native request JSON, still to be decoded.
    Json(Str<'a>),
    /// The request sent as a JSON object, already parsed.
    Object(Box<NativeRequest<'a>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for NativeRequestField<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor<'a>(std::marker::PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for FieldVisitor<'a> {
            type Value = NativeRequestField<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Native 1.2 request as a JSON string or object")
            }

            fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Self::Value, E> {
                Ok(NativeRequestField::Json(Str(value.into())))
            }

            fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
                Ok(NativeRequestField::Json(Str(value.to_owned().into())))
            }

            fn visit_string<E>(self, value: String) -> Result<Self::Value, E> {
                Ok(NativeRequestField::Json(Str(value.into())))
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
                let request = NativeRequest::deserialize(MapAccessDeserializer::new(map))?;
                Ok(NativeRequestField::Object(Box::new(request)))
            }
        }

        deserializer.deserialize_any(FieldVisitor(std::marker::PhantomData))
    }
}

wire_object! {
    /// A Native 1.2 request (Native 1.2 §4.1), with the fields `validate` checks; the others are
    /// skipped as in `wire`. Every field is optional here for the same reason as in `wire`:
    /// `validate` decides what is required and names it.
    pub struct NativeRequest<'a> {
        /// 1 content, 2 social, 3 product, 500+ exchange-specific.
        pub context: Option<i64> = b"context",
        /// 10-15 content, 20-22 social, 30-32 product, 500+ exchange-specific.
        pub contextsubtype: Option<i64> = b"contextsubtype",
        /// 1 in-feed, 2 atomic unit, 3 outside core content, 4 recommendation widget, 500+.
        pub plcmttype: Option<i64> = b"plcmttype",
        pub plcmtcnt: Option<i64> = b"plcmtcnt",
        pub seq: Option<i64> = b"seq",
        pub assets: List<Asset<'a>, 8> = b"assets",
        pub eventtrackers: List<EventTracker, 2> = b"eventtrackers",
        /// The Native 1.0 wrapper: `{"native": {...the request...}}`.
        pub native: Option<Box<NativeRequest<'a>>> = b"native",
    }
}

impl<'a> NativeRequest<'a> {
    /// The request proper: the inner object of a Native 1.0 wrapper, or this one.
    pub fn unwrapped(&self) -> &NativeRequest<'a> {
        self.native.as_deref().unwrap_or(self)
    }
}

/// The Native 1.0 wrapper's inner request, boxed as the type is recursive: `null` or absent
/// is `None`, an object fills a default request in place.
impl<'de: 'a, 'a> Fill<'de> for Option<Box<NativeRequest<'a>>> {
    fn fill<D: Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), D::Error> {
        struct OptionalBoxed<'p, 'a>(&'p mut Option<Box<NativeRequest<'a>>>);

        impl<'de: 'a, 'a> Visitor<'de> for OptionalBoxed<'_, 'a> {
            type Value = ();

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("struct NativeRequest")
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
                self.0.insert(Box::default()).fill(deserializer)
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<(), M::Error> {
                wire::fill_object(&mut **self.0.insert(Box::default()), map)
            }
        }

        deserializer.deserialize_any(OptionalBoxed(self))
    }
}

wire_object! {
    /// One asset the ad must or may contain; exactly one of the four kinds is set (§4.2).
    pub struct Asset<'a> {
        pub id: Option<i64> = b"id",
        pub title: Option<Title> = b"title",
        pub img: Option<Image> = b"img",
        pub video: Option<NativeVideo<'a>> = b"video",
        pub data: Option<NativeData> = b"data",
    }
}

wire_object! {
    /// A title asset (§4.3).
    pub struct Title {
        pub len: Option<i64> = b"len",
    }
}

wire_object! {
    /// An image asset (§4.4).
    pub struct Image {
        pub w: Option<i64> = b"w",
        pub wmin: Option<i64> = b"wmin",
        pub h: Option<i64> = b"h",
        pub hmin: Option<i64> = b"hmin",
    }
}

wire_object! {
    /// A video asset (§4.5), which follows the OpenRTB Video object for its required fields.
    pub struct NativeVideo<'a> {
        pub mimes: List<Str<'a>, 4> = b"mimes",
        pub minduration: Option<i64> = b"minduration",
        pub maxduration: Option<i64> = b"maxduration",
        pub protocols: List<i64, 8> = b"protocols",
    }
}

wire_object! {
    /// A data asset: sponsor name, rating, call to action... (§4.6).
    pub struct NativeData {
        pub kind: Option<i64> = b"type",
        pub len: Option<i64> = b"len",
    }
}

wire_object! {
    /// An event the buyer may track, with the methods it may use (§4.7).
    pub struct EventTracker {
        pub event: Option<i64> = b"event",
        pub methods: List<i64, 2> = b"methods",
    }
}

/// Decodes the Native request held in a JSON string. On failure the error path is relative to
/// the Native request (`assets[1].img.w`), for the caller to prefix.
pub(crate) fn decode(json: &str) -> Result<NativeRequest<'_>, JsonError> {
    let mut request = NativeRequest::default();
    wire::fill_from_slice(json.as_bytes(), &mut request)?;
    Ok(request)
}
