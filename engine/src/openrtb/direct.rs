//! The JSON fast path without serde's visitors: the wire types filled straight from the fast
//! path's reader ([`fastjson::Deserializer`]).
//!
//! Through serde, every value of a bid request goes through a seed, a `deserialize_*` call and
//! a visitor, every object member through `MapAccess` and a key seed, every list element
//! through `SeqAccess`. Here each wire field type reads itself ([`Direct`]) and each wire
//! object matches its keys and fills its fields ([`DirectObject`], written by `wire_object!`).
//! After inlining, serde's plumbing turned out cheap: going direct saved 0.75k of the banner
//! request's 29.6k parse instructions (2.5%). It stays as the first step towards a parser
//! straight into `AdRequest`, where the wire structs and their second pass would go too.
//!
//! It accepts exactly what the serde-based fast path accepts, into the same values: the same
//! reader functions decide strings, numbers, literals, skipped values and depth, and the rules
//! of each type are those of its `Fill` impl in `wire` (which `null` reads as absent, which
//! JSON type is accepted, duplicate keys refused). It says no ([`Bail`]) in the same cases, and
//! the caller then hands the body to serde_json, the reference. Field types that are rare and
//! intricate (the Native request field, `sua`, a nested Native request) read through their
//! serde `Fill` on the same reader, so they keep one definition. The fast path's tests hold the
//! two fast paths to the same answers on every corpus body and on random mutations of them.

use std::borrow::Cow;

use super::fastjson::{Bail, Deserializer, Number, Text};
use super::native::{NativeRequest, NativeRequestField};
use super::wire::{AnyObject, Fill, List, Object, Str};

/// A wire value that fills itself from the fast path's reader, at the value's first byte
/// (whitespace before it allowed).
pub(crate) trait Direct<'de> {
    fn direct(&mut self, de: &mut Deserializer<'de>) -> Result<(), Bail>;
}

/// A wire object's fields by key index, as [`Object::key_index`] numbers them; written by
/// `wire_object!`.
pub(crate) trait DirectObject<'de>: Object<'de> {
    /// Fills the field of key `key_idx` from the value at the reader (after the colon).
    fn fill_field_direct(&mut self, key_idx: usize, de: &mut Deserializer<'de>)
        -> Result<(), Bail>;
}

/// Skips the value at the reader (a key the object does not declare).
pub(crate) fn skip(de: &mut Deserializer<'_>) -> Result<(), Bail> {
    de.skip_value()
}

/// `{` was consumed: fills `object` from the members and consumes the `}`. Known keys fill
/// their fields, once each; unknown keys are skipped with their values.
fn fill_members<'de, T: DirectObject<'de>>(
    object: &mut T,
    de: &mut Deserializer<'de>,
) -> Result<(), Bail> {
    de.enter()?;
    let mut seen: u64 = 0;
    if de.peek() == Some(b'}') {
        de.pos += 1;
    } else {
        loop {
            de.eat(b'"')?;
            let key_idx = match de.string()? {
                Text::Borrowed(key) => T::key_index(key.as_bytes()),
                Text::Scratch(key) => T::key_index(key.as_bytes()),
            };
            de.eat(b':')?;
            match key_idx {
                Some(key_idx) => {
                    // `wire_object!` asserts at most 64 keys.
                    let bit = 1u64 << (key_idx & 63);
                    if seen & bit != 0 {
                        return Err(Bail);
                    }
                    seen |= bit;
                    object.fill_field_direct(key_idx, de)?;
                }
                None => de.skip_value()?,
            }
            match de.peek() {
                Some(b',') => de.pos += 1,
                Some(b'}') => {
                    de.pos += 1;
                    break;
                }
                _ => return Err(Bail),
            }
        }
    }
    de.depth -= 1;
    Ok(())
}

/// `[` was consumed: pushes each element, filled in place, and consumes the `]`.
fn fill_elements<'de, T: Direct<'de> + Default, const N: usize>(
    list: &mut List<T, N>,
    de: &mut Deserializer<'de>,
) -> Result<(), Bail> {
    de.enter()?;
    if de.peek() == Some(b']') {
        de.pos += 1;
    } else {
        loop {
            match list.push_default() {
                Some(element) => element.direct(de)?,
                None => de.skip_value()?,
            }
            match de.peek() {
                Some(b',') => de.pos += 1,
                Some(b']') => {
                    de.pos += 1;
                    break;
                }
                _ => return Err(Bail),
            }
        }
    }
    de.depth -= 1;
    Ok(())
}

/// An object where one is required (a list element, the document).
impl<'de, T: DirectObject<'de>> Direct<'de> for T {
    #[inline]
    fn direct(&mut self, de: &mut Deserializer<'de>) -> Result<(), Bail> {
        de.eat(b'{')?;
        fill_members(self, de)
    }
}

/// `null` is `None`; an object fills a `T::default()` in place.
impl<'de, T: DirectObject<'de>> Direct<'de> for Option<T> {
    #[inline]
    fn direct(&mut self, de: &mut Deserializer<'de>) -> Result<(), Bail> {
        match de.peek() {
            Some(b'{') => {
                de.pos += 1;
                fill_members(self.insert(T::default()), de)
            }
            Some(b'n') => {
                de.literal(b"null")?;
                *self = None;
                Ok(())
            }
            _ => Err(Bail),
        }
    }
}

/// `null` leaves the list empty; an array pushes its elements.
impl<'de, T: Direct<'de> + Default, const N: usize> Direct<'de> for List<T, N> {
    #[inline]
    fn direct(&mut self, de: &mut Deserializer<'de>) -> Result<(), Bail> {
        match de.peek() {
            Some(b'[') => {
                de.pos += 1;
                fill_elements(self, de)
            }
            Some(b'n') => de.literal(b"null"),
            _ => Err(Bail),
        }
    }
}

/// `null` is `None`; an array is `Some`, even empty.
impl<'de, T: Direct<'de> + Default, const N: usize> Direct<'de> for Option<List<T, N>> {
    fn direct(&mut self, de: &mut Deserializer<'de>) -> Result<(), Bail> {
        match de.peek() {
            Some(b'[') => {
                de.pos += 1;
                fill_elements(self.insert(List::default()), de)
            }
            Some(b'n') => {
                de.literal(b"null")?;
                *self = None;
                Ok(())
            }
            _ => Err(Bail),
        }
    }
}

/// An integer that fits an `i64`; anything else (a fraction, `-0`) is serde_json's to refuse.
#[inline]
fn integer(de: &mut Deserializer<'_>) -> Result<i64, Bail> {
    match de.number_value()? {
        Number::U64(value) => i64::try_from(value).map_err(|_| Bail),
        Number::I64(value) => Ok(value),
        Number::F64(_) => Err(Bail),
    }
}

impl<'de> Direct<'de> for Option<i64> {
    #[inline]
    fn direct(&mut self, de: &mut Deserializer<'de>) -> Result<(), Bail> {
        *self = match de.peek() {
            Some(b'-' | b'0'..=b'9') => Some(integer(de)?),
            Some(b'n') => {
                de.literal(b"null")?;
                None
            }
            _ => return Err(Bail),
        };
        Ok(())
    }
}

/// A list entry: an integer, never `null`.
impl<'de> Direct<'de> for i64 {
    #[inline]
    fn direct(&mut self, de: &mut Deserializer<'de>) -> Result<(), Bail> {
        match de.peek() {
            Some(b'-' | b'0'..=b'9') => {
                *self = integer(de)?;
                Ok(())
            }
            _ => Err(Bail),
        }
    }
}

/// Integers are accepted and converted, as serde's `Option<f64>` does.
impl<'de> Direct<'de> for Option<f64> {
    #[inline]
    fn direct(&mut self, de: &mut Deserializer<'de>) -> Result<(), Bail> {
        *self = match de.peek() {
            Some(b'-' | b'0'..=b'9') => Some(match de.number_value()? {
                Number::U64(value) => value as f64,
                Number::I64(value) => value as f64,
                Number::F64(value) => value,
            }),
            Some(b'n') => {
                de.literal(b"null")?;
                None
            }
            _ => return Err(Bail),
        };
        Ok(())
    }
}

/// Borrowed from the body, or owned when the JSON string had escapes.
#[inline]
fn text<'de: 'a, 'a>(de: &mut Deserializer<'de>) -> Result<Str<'a>, Bail> {
    Ok(match de.string()? {
        Text::Borrowed(text) => Str(Cow::Borrowed(text)),
        Text::Scratch(text) => Str(Cow::Owned(text.to_owned())),
    })
}

impl<'de: 'a, 'a> Direct<'de> for Option<Str<'a>> {
    #[inline]
    fn direct(&mut self, de: &mut Deserializer<'de>) -> Result<(), Bail> {
        *self = match de.peek() {
            Some(b'"') => {
                de.pos += 1;
                Some(text(de)?)
            }
            Some(b'n') => {
                de.literal(b"null")?;
                None
            }
            _ => return Err(Bail),
        };
        Ok(())
    }
}

/// A list entry: a string, never `null`.
impl<'de: 'a, 'a> Direct<'de> for Str<'a> {
    #[inline]
    fn direct(&mut self, de: &mut Deserializer<'de>) -> Result<(), Bail> {
        de.eat(b'"')?;
        *self = text(de)?;
        Ok(())
    }
}

/// Field types read through their serde `Fill` on the same reader: rare, and intricate enough
/// that one definition of what they accept is worth the visitor's cost.
macro_rules! direct_through_serde {
    ($($ty:ty),* $(,)?) => {
        $(
            impl<'de: 'a, 'a> Direct<'de> for $ty {
                fn direct(&mut self, de: &mut Deserializer<'de>) -> Result<(), Bail> {
                    self.fill(de)
                }
            }
        )*
    };
}

direct_through_serde!(
    Option<NativeRequestField<'a>>,
    Option<Box<NativeRequest<'a>>>,
);

impl<'de> Direct<'de> for Option<AnyObject> {
    fn direct(&mut self, de: &mut Deserializer<'de>) -> Result<(), Bail> {
        self.fill(de)
    }
}
