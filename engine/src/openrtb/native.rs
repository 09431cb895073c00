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

use super::wire::{self, JsonError, Str};

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

/// A Native 1.2 request (Native 1.2 §4.1). Every field is optional here for the same reason as
/// in `wire`: `validate` decides what is required and names it.
#[derive(Debug, Default, Deserialize)]
pub struct NativeRequest<'a> {
    #[serde(borrow)]
    pub ver: Option<Str<'a>>,
    /// 1 content, 2 social, 3 product, 500+ exchange-specific.
    pub context: Option<i64>,
    /// 10-15 content, 20-22 social, 30-32 product, 500+ exchange-specific.
    pub contextsubtype: Option<i64>,
    /// 1 in-feed, 2 atomic unit, 3 outside core content, 4 recommendation widget, 500+.
    pub plcmttype: Option<i64>,
    pub plcmtcnt: Option<i64>,
    pub seq: Option<i64>,
    #[serde(borrow)]
    pub assets: Option<Vec<Asset<'a>>>,
    pub aurlsupport: Option<i64>,
    pub durlsupport: Option<i64>,
    pub eventtrackers: Option<Vec<EventTracker>>,
    pub privacy: Option<i64>,
    /// The Native 1.0 wrapper: `{"native": {...the request...}}`.
    #[serde(borrow)]
    pub native: Option<Box<NativeRequest<'a>>>,
}

impl<'a> NativeRequest<'a> {
    /// The request proper: the inner object of a Native 1.0 wrapper, or this one.
    pub fn unwrapped(&self) -> &NativeRequest<'a> {
        self.native.as_deref().unwrap_or(self)
    }
}

/// One asset the ad must or may contain; exactly one of the four kinds is set (§4.2).
#[derive(Debug, Default, Deserialize)]
pub struct Asset<'a> {
    pub id: Option<i64>,
    pub required: Option<i64>,
    pub title: Option<Title>,
    #[serde(borrow)]
    pub img: Option<Image<'a>>,
    #[serde(borrow)]
    pub video: Option<NativeVideo<'a>>,
    pub data: Option<NativeData>,
}

/// A title asset (§4.3).
#[derive(Debug, Default, Deserialize)]
pub struct Title {
    pub len: Option<i64>,
}

/// An image asset (§4.4).
#[derive(Debug, Default, Deserialize)]
pub struct Image<'a> {
    #[serde(rename = "type")]
    pub kind: Option<i64>,
    pub w: Option<i64>,
    pub wmin: Option<i64>,
    pub h: Option<i64>,
    pub hmin: Option<i64>,
    #[serde(borrow)]
    pub mimes: Option<Vec<Str<'a>>>,
}

/// A video asset (§4.5), which follows the OpenRTB Video object for its required fields.
#[derive(Debug, Default, Deserialize)]
pub struct NativeVideo<'a> {
    #[serde(borrow)]
    pub mimes: Option<Vec<Str<'a>>>,
    pub minduration: Option<i64>,
    pub maxduration: Option<i64>,
    pub protocols: Option<Vec<i64>>,
}

/// A data asset: sponsor name, rating, call to action... (§4.6).
#[derive(Debug, Default, Deserialize)]
pub struct NativeData {
    #[serde(rename = "type")]
    pub kind: Option<i64>,
    pub len: Option<i64>,
}

/// An event the buyer may track, with the methods it may use (§4.7).
#[derive(Debug, Default, Deserialize)]
pub struct EventTracker {
    pub event: Option<i64>,
    pub methods: Option<Vec<i64>>,
}

/// Decodes the Native request held in a JSON string. On failure the error path is relative to
/// the Native request (`assets[1].img.w`), for the caller to prefix.
pub(crate) fn decode(json: &str) -> Result<NativeRequest<'_>, JsonError> {
    wire::from_slice_located(json.as_bytes())
}
