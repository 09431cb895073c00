//! The fast path of the bid-request parser: a JSON deserializer that accepts a strict subset of
//! what serde_json accepts, and reads it into exactly the values serde_json would.
//!
//! [`wire::fill_from_slice`](super::wire) tries this first and, whenever it says no, starts over
//! with serde_json, which then accepts or rejects the body and words the error. So serde_json
//! stays the reference for what a bid request is; this module only has to be right about the
//! bodies it accepts. It says no ([`Bail`]) to anything it does not handle exactly as serde_json
//! does, rather than handle it approximately:
//! - numbers with an exponent, more than 15 significant digits, more than 22 decimals, or an
//!   integer past `u64` (serde_json's float arithmetic is reproduced only where it is exact);
//! - `\u` escapes of surrogates in strings the engine reads;
//! - nesting deeper than [`DEPTH_MAX`] (serde_json allows 128 for values it reads, any depth for
//!   values it skips);
//! - any visitor error, any syntax error, and any deserializer method the wire types do not use.
//!
//! Why it is faster: serde_json is a general reader (`Read` abstraction, position tracking for
//! error messages, a scratch buffer for every skipped container two deep); this one reads a
//! `&str` with a plain index, finds string ends sixteen bytes at a time (`json::scan`), skips
//! values in one iterative loop without a buffer, and never formats an error.
//!
//! The engine drives this reader through serde's `Deserializer` interface: the wire types'
//! `Fill` impls are the one definition of what each field accepts, for this reader and for
//! serde_json alike.
//!
//! The tests at the end of this module check both against serde_json: every corpus body and
//! fixture, hand-written edge cases, and random mutations of real bodies; whenever the fast path
//! accepts, serde_json accepts with the same values.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// Containers nested deeper than this are left to serde_json.
pub(crate) const DEPTH_MAX: u32 = 64;

/// "Not on the fast path": the caller parses the body again with serde_json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bail;

impl fmt::Display for Bail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not on the JSON fast path")
    }
}

impl std::error::Error for Bail {}

impl de::Error for Bail {
    // The message is never formatted: the caller only needs to know that it failed.
    fn custom<T: fmt::Display>(_: T) -> Self {
        Bail
    }
}

/// Powers of ten exactly representable in an `f64`, as serde_json's table has them.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Significands below this convert to `f64` exactly, so one division by an exact power of ten
/// is correctly rounded: serde_json's result, with or without its `float_roundtrip` feature.
const EXACT_SIGNIFICAND_MAX: u64 = 1 << 53;

/// A number as serde_json reads it, before a visitor sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Number {
    U64(u64),
    I64(i64),
    F64(f64),
}

/// A string as read: borrowed from the input, or unescaped into the scratch buffer.
pub(super) enum Text<'de, 's> {
    Borrowed(&'de str),
    Scratch(&'s str),
}

/// Reads one JSON document from a `&str` (so already valid UTF-8).
pub(crate) struct Deserializer<'de> {
    text: &'de str,
    pub(super) pos: usize,
    pub(super) depth: u32,
    /// Unescaped strings; grows only for strings with escapes that the engine reads.
    scratch: Vec<u8>,
}

impl<'de> Deserializer<'de> {
    pub(crate) fn new(text: &'de str) -> Self {
        Deserializer {
            text,
            pos: 0,
            depth: 0,
            scratch: Vec::new(),
        }
    }

    /// After the document: only whitespace may follow.
    pub(crate) fn end(&mut self) -> Result<(), Bail> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(Bail),
        }
    }

    #[inline]
    fn bytes(&self) -> &'de [u8] {
        self.text.as_bytes()
    }

    /// The next byte that is not whitespace, not consumed.
    #[inline]
    pub(super) fn peek(&mut self) -> Option<u8> {
        let bytes = self.bytes();
        while let Some(&byte) = bytes.get(self.pos) {
            // Every JSON token starts above the space: one comparison in the common case.
            if byte > b' ' {
                return Some(byte);
            }
            match byte {
                b' ' | b'\n' | b'\t' | b'\r' => self.pos += 1,
                _ => return Some(byte),
            }
        }
        None
    }

    /// Consumes `expected`, the next byte that is not whitespace.
    #[inline]
    pub(super) fn eat(&mut self, expected: u8) -> Result<(), Bail> {
        if self.peek() == Some(expected) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Bail)
        }
    }

    /// Consumes the literal `word` (`true`, `false`, `null`) at the current byte.
    pub(super) fn literal(&mut self, word: &[u8]) -> Result<(), Bail> {
        let end = self.pos + word.len();
        if self.bytes().get(self.pos..end) == Some(word) {
            self.pos = end;
            Ok(())
        } else {
            Err(Bail)
        }
    }

    /// Moves to the first `"`, `\` or control character at or after the current byte.
    #[inline]
    fn skip_plain(&mut self) {
        self.pos = crate::json::scan::first_special(self.bytes(), self.pos);
    }

    /// Reads a string whose opening quote was consumed, through its closing quote.
    #[inline]
    pub(super) fn string(&mut self) -> Result<Text<'de, '_>, Bail> {
        let start = self.pos;
        self.skip_plain();
        match self.bytes().get(self.pos) {
            Some(b'"') => {
                let text = self.text.get(start..self.pos).ok_or(Bail)?;
                self.pos += 1;
                Ok(Text::Borrowed(text))
            }
            Some(b'\\') => self.escaped_string(start),
            _ => Err(Bail),
        }
    }

    /// The rest of a string that has an escape at the current byte, unescaped into `scratch`.
    #[cold]
    fn escaped_string(&mut self, start: usize) -> Result<Text<'de, '_>, Bail> {
        self.scratch.clear();
        let bytes = self.bytes();
        let mut run_start = start;
        loop {
            let run = bytes.get(run_start..self.pos).ok_or(Bail)?;
            self.scratch.extend_from_slice(run);
            match bytes.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    let escape = *bytes.get(self.pos + 1).ok_or(Bail)?;
                    self.pos += 2;
                    let unescaped = match escape {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            let code = self.hex4()?;
                            // Surrogates (pairs and lone halves) are serde_json's to judge.
                            let ch = char::from_u32(code).ok_or(Bail)?;
                            let mut buf = [0u8; 4];
                            self.scratch
                                .extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                            run_start = self.pos;
                            self.skip_plain();
                            continue;
                        }
                        _ => return Err(Bail),
                    };
                    self.scratch.push(unescaped);
                    run_start = self.pos;
                    self.skip_plain();
                }
                _ => return Err(Bail),
            }
        }
        let text = std::str::from_utf8(&self.scratch).map_err(|_| Bail)?;
        Ok(Text::Scratch(text))
    }

    /// The four hex digits of a `\u` escape.
    fn hex4(&mut self) -> Result<u32, Bail> {
        let digits = self.bytes().get(self.pos..self.pos + 4).ok_or(Bail)?;
        let mut code = 0u32;
        for &digit in digits {
            let value = char::from(digit).to_digit(16).ok_or(Bail)?;
            code = code * 16 + value;
        }
        self.pos += 4;
        Ok(code)
    }

    /// Skips a string whose opening quote was consumed: escapes are checked as serde_json's
    /// `ignore_str` checks them (a `\u` needs four hex digits, any code).
    fn skip_string(&mut self) -> Result<(), Bail> {
        loop {
            self.skip_plain();
            match self.bytes().get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    let escape = *self.bytes().get(self.pos + 1).ok_or(Bail)?;
                    self.pos += 2;
                    match escape {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            self.hex4()?;
                        }
                        _ => return Err(Bail),
                    }
                }
                _ => return Err(Bail),
            }
        }
    }

    /// Consumes a run of digits; returns how many.
    #[inline]
    fn digits(&mut self) -> usize {
        let start = self.pos;
        let bytes = self.bytes();
        while bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Skips a number at the current byte, with serde_json's grammar.
    fn skip_number(&mut self) -> Result<(), Bail> {
        if self.bytes().get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match self.bytes().get(self.pos) {
            Some(b'0') => {
                self.pos += 1;
                if self.bytes().get(self.pos).is_some_and(u8::is_ascii_digit) {
                    return Err(Bail);
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(Bail),
        }
        if self.bytes().get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(Bail);
            }
        }
        if matches!(self.bytes().get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.bytes().get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(Bail);
            }
        }
        Ok(())
    }

    /// Reads a number at the current byte as serde_json would: [`Number::U64`] for a
    /// non-negative integer, [`Number::I64`] for a negative one, [`Number::F64`] for `-0`, an
    /// integer below `i64::MIN`, or a number with a fraction.
    #[inline]
    pub(super) fn number_value(&mut self) -> Result<Number, Bail> {
        let bytes = self.bytes();
        let positive = bytes.get(self.pos) != Some(&b'-');
        if !positive {
            self.pos += 1;
        }
        let int_start = self.pos;
        let int_digits = self.digits();
        let int_text = bytes.get(int_start..self.pos).ok_or(Bail)?;
        if int_digits == 0 || (int_digits > 1 && int_text.first() == Some(&b'0')) {
            return Err(Bail);
        }
        // 19 digits always fit a u64; longer integers go to serde_json.
        if int_digits > 19 {
            return Err(Bail);
        }
        let mut significand = int_text
            .iter()
            .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
        match bytes.get(self.pos) {
            Some(b'.') => {
                self.pos += 1;
                let frac_start = self.pos;
                let frac_digits = self.digits();
                if frac_digits == 0 || frac_digits >= POW10.len() {
                    return Err(Bail);
                }
                if matches!(bytes.get(self.pos), Some(b'e' | b'E')) {
                    return Err(Bail);
                }
                for &digit in bytes.get(frac_start..self.pos).ok_or(Bail)? {
                    significand = significand
                        .checked_mul(10)
                        .and_then(|s| s.checked_add(u64::from(digit - b'0')))
                        .ok_or(Bail)?;
                }
                if significand >= EXACT_SIGNIFICAND_MAX {
                    return Err(Bail);
                }
                let value = significand as f64 / POW10[frac_digits];
                Ok(Number::F64(if positive { value } else { -value }))
            }
            Some(b'e' | b'E') => Err(Bail),
            _ if positive => Ok(Number::U64(significand)),
            _ => {
                // serde_json's rule: `-0` and integers past i64::MIN read as floats.
                let negated = (significand as i64).wrapping_neg();
                if negated >= 0 {
                    Ok(Number::F64(-(significand as f64)))
                } else {
                    Ok(Number::I64(negated))
                }
            }
        }
    }

    /// Reads a number at the current byte and visits it as serde_json would (see
    /// [`Deserializer::number_value`]).
    fn number<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Bail> {
        match self.number_value()? {
            Number::U64(value) => visitor.visit_u64(value),
            Number::I64(value) => visitor.visit_i64(value),
            Number::F64(value) => visitor.visit_f64(value),
        }
    }

    /// Skips one value of any kind, containers included, in one loop: no recursion, no buffer.
    /// The kinds of the open containers are bits of `objects` (1: object, 0: array).
    pub(super) fn skip_value(&mut self) -> Result<(), Bail> {
        let mut objects: u64 = 0;
        let mut open: u32 = 0;
        loop {
            // One value starts here.
            match self.peek().ok_or(Bail)? {
                b'"' => {
                    self.pos += 1;
                    self.skip_string()?;
                }
                b'-' | b'0'..=b'9' => self.skip_number()?,
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                opener @ (b'[' | b'{') => {
                    self.pos += 1;
                    if open >= 63 || self.depth + open >= DEPTH_MAX {
                        return Err(Bail);
                    }
                    let is_object = opener == b'{';
                    let closer = if is_object { b'}' } else { b']' };
                    if self.peek() == Some(closer) {
                        // Empty: a complete value.
                        self.pos += 1;
                    } else {
                        objects = (objects << 1) | u64::from(is_object);
                        open += 1;
                        if is_object {
                            self.object_key()?;
                        }
                        continue;
                    }
                }
                _ => return Err(Bail),
            }
            // A value ended: close what ends with it, or go on to the next member.
            loop {
                if open == 0 {
                    return Ok(());
                }
                let in_object = objects & 1 == 1;
                match self.peek().ok_or(Bail)? {
                    b',' => {
                        self.pos += 1;
                        if in_object {
                            self.object_key()?;
                        }
                        break;
                    }
                    b'}' if in_object => {}
                    b']' if !in_object => {}
                    _ => return Err(Bail),
                }
                self.pos += 1;
                objects >>= 1;
                open -= 1;
            }
        }
    }

    /// In a skipped object: a key and its colon.
    fn object_key(&mut self) -> Result<(), Bail> {
        self.eat(b'"')?;
        self.skip_string()?;
        self.eat(b':')
    }

    pub(super) fn enter(&mut self) -> Result<(), Bail> {
        self.depth += 1;
        if self.depth > DEPTH_MAX {
            return Err(Bail);
        }
        Ok(())
    }

    /// `{` was consumed: visits the members and consumes the `}`.
    fn object<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Bail> {
        self.enter()?;
        let value = visitor.visit_map(Members {
            de: self,
            first: true,
        })?;
        self.depth -= 1;
        self.eat(b'}')?;
        Ok(value)
    }

    /// `[` was consumed: visits the elements and consumes the `]`.
    fn array<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Bail> {
        self.enter()?;
        let value = visitor.visit_seq(Elements {
            de: self,
            first: true,
        })?;
        self.depth -= 1;
        self.eat(b']')?;
        Ok(value)
    }

    fn visit_text<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Bail> {
        match self.string()? {
            Text::Borrowed(text) => visitor.visit_borrowed_str(text),
            Text::Scratch(text) => visitor.visit_str(text),
        }
    }
}

/// Deserializer methods the wire types never call: serde_json's behaviour for them is not
/// reproduced, so they leave the fast path.
macro_rules! bail_methods {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Bail> {
                Err(Bail)
            }
        )*
    };
}

/// The methods with more than a visitor that the wire types never call (see [`bail_methods`]).
macro_rules! bail_shaped_methods {
    () => {
        fn deserialize_unit_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            _visitor: V,
        ) -> Result<V::Value, Bail> {
            Err(Bail)
        }

        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            _visitor: V,
        ) -> Result<V::Value, Bail> {
            Err(Bail)
        }

        fn deserialize_tuple<V: Visitor<'de>>(
            self,
            _len: usize,
            _visitor: V,
        ) -> Result<V::Value, Bail> {
            Err(Bail)
        }

        fn deserialize_tuple_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            _len: usize,
            _visitor: V,
        ) -> Result<V::Value, Bail> {
            Err(Bail)
        }

        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _name: &'static str,
            _variants: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Bail> {
            Err(Bail)
        }
    };
}

impl<'de> de::Deserializer<'de> for &mut Deserializer<'de> {
    type Error = Bail;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        match self.peek().ok_or(Bail)? {
            b'{' => {
                self.pos += 1;
                self.object(visitor)
            }
            b'[' => {
                self.pos += 1;
                self.array(visitor)
            }
            b'"' => {
                self.pos += 1;
                self.visit_text(visitor)
            }
            b'-' | b'0'..=b'9' => self.number(visitor),
            b'n' => {
                self.literal(b"null")?;
                visitor.visit_unit()
            }
            b't' => {
                self.literal(b"true")?;
                visitor.visit_bool(true)
            }
            b'f' => {
                self.literal(b"false")?;
                visitor.visit_bool(false)
            }
            _ => Err(Bail),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        self.eat(b'{')?;
        self.object(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Bail> {
        self.deserialize_map(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        self.eat(b'[')?;
        self.array(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        self.eat(b'"')?;
        self.visit_text(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        self.deserialize_str(visitor)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.number(visitor),
            _ => Err(Bail),
        }
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        self.skip_value()?;
        visitor.visit_unit()
    }

    bail_shaped_methods!();

    bail_methods! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u128 deserialize_f32
        deserialize_char deserialize_bytes deserialize_byte_buf deserialize_unit
        deserialize_identifier
    }
}

/// The members of an object being read.
struct Members<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    first: bool,
}

impl<'de> MapAccess<'de> for Members<'_, 'de> {
    type Error = Bail;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Bail> {
        match self.de.peek().ok_or(Bail)? {
            b'}' => return Ok(None),
            b',' if !self.first => {
                self.de.pos += 1;
                self.de.eat(b'"')?;
            }
            b'"' if self.first => self.de.pos += 1,
            _ => return Err(Bail),
        }
        self.first = false;
        seed.deserialize(Key { de: &mut *self.de }).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Bail> {
        self.de.eat(b':')?;
        seed.deserialize(&mut *self.de)
    }
}

/// The elements of an array being read.
struct Elements<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    first: bool,
}

impl<'de> SeqAccess<'de> for Elements<'_, 'de> {
    type Error = Bail;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Bail> {
        match self.de.peek().ok_or(Bail)? {
            b']' => return Ok(None),
            b',' if !self.first => self.de.pos += 1,
            _ if self.first => {}
            _ => return Err(Bail),
        }
        self.first = false;
        seed.deserialize(&mut *self.de).map(Some)
    }
}

/// An object key whose opening quote was consumed. The wire types read keys as strings, or
/// skip them with the value they name.
struct Key<'a, 'de> {
    de: &'a mut Deserializer<'de>,
}

impl<'de> de::Deserializer<'de> for Key<'_, 'de> {
    type Error = Bail;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        self.de.visit_text(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        self.de.visit_text(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        self.de.visit_text(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        self.de.visit_text(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        // serde_json reads an ignored key as it reads any key (surrogate escapes checked), so
        // this does too.
        self.de.string()?;
        visitor.visit_unit()
    }

    fn deserialize_option<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Bail> {
        Err(Bail)
    }

    bail_shaped_methods!();

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Bail> {
        Err(Bail)
    }

    bail_methods! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_bytes
        deserialize_byte_buf deserialize_unit deserialize_seq deserialize_map
    }
}

#[cfg(test)]
mod tests {
    //! The fast path against serde_json: whenever the fast path accepts a body, serde_json
    //! accepts it with the same values (compared through `Debug`, which tells `-0.0` from
    //! `0.0` and prints floats exactly); and the realistic bodies do take the fast path.

    use std::path::{Path, PathBuf};

    use proptest::prelude::*;

    use super::{Deserializer, DEPTH_MAX};
    use crate::openrtb::native::NativeRequest;
    use crate::openrtb::wire::{BidRequest, Fill};

    fn fast<'a, T: Fill<'a> + Default + std::fmt::Debug>(body: &'a str) -> Option<String> {
        let mut value = T::default();
        let mut deserializer = Deserializer::new(body);
        value
            .fill(&mut deserializer)
            .and_then(|()| deserializer.end())
            .ok()
            .map(|()| format!("{value:?}"))
    }

    fn reference<'a, T: Fill<'a> + Default + std::fmt::Debug>(body: &'a str) -> Option<String> {
        let mut value = T::default();
        let mut deserializer = serde_json::Deserializer::from_str(body);
        value
            .fill(&mut deserializer)
            .and_then(|()| deserializer.end())
            .ok()
            .map(|()| format!("{value:?}"))
    }

    /// The property: the fast path never accepts what serde_json rejects, and never reads a
    /// value differently. Returns whether the fast path accepted.
    fn agrees(body: &str) -> bool {
        let fast_request = fast::<BidRequest>(body);
        if let Some(fast_request) = &fast_request {
            assert_eq!(
                Some(fast_request),
                reference::<BidRequest>(body).as_ref(),
                "bid request {body}"
            );
        }
        if let Some(fast_native) = fast::<NativeRequest>(body) {
            assert_eq!(
                Some(fast_native),
                reference::<NativeRequest>(body),
                "native request {body}"
            );
        }
        fast_request.is_some()
    }

    /// Names a corpus laid out like `../shared/corpus`; `scripts/acceptance` sets it, so that
    /// the differential check also runs over every corpus file. The README's test command
    /// runs without it, over the project's own fixtures: a fresh clone has nothing beside it.
    const CORPUS_DIR_VAR: &str = "ADSHARD_CORPUS_DIR";

    /// The corpus named by [`CORPUS_DIR_VAR`]; set to something that is not a directory is a
    /// failure, so that a typo cannot turn the corpus check into no check.
    fn corpus_dir() -> Option<PathBuf> {
        let dir = PathBuf::from(std::env::var_os(CORPUS_DIR_VAR)?);
        assert!(
            dir.is_dir(),
            "{CORPUS_DIR_VAR} is {}, which is not a directory",
            dir.display()
        );
        Some(dir)
    }

    /// The project's request and response fixtures (written for these tests), the example
    /// requests, and the corpus when [`corpus_dir`] names one.
    fn bodies() -> Vec<(PathBuf, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let fixtures = root.join("tests/fixtures");
        let mut dirs = vec![
            fixtures.join("openrtb"),
            fixtures.join("bid-requests"),
            fixtures.join("bid-responses"),
            fixtures.join("native"),
            root.join("../examples/requests"),
        ];
        dirs.extend(corpus_dir());
        let mut files = Vec::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("readable directory") {
                let path = entry.expect("directory entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|ext| ext == "json") {
                    if let Ok(text) = std::fs::read_to_string(&path) {
                        files.push((path, text));
                    }
                }
            }
        }
        files.sort();
        files
    }

    /// Prebid's test cases wrap the request: `{"mockBidRequest": {...}, ...}`.
    fn requests_in(text: &str) -> Vec<String> {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
            return vec![text.to_owned()];
        };
        let mut found = vec![text.to_owned()];
        for key in ["mockBidRequest", "request", "bidRequest"] {
            if let Some(inner) = value.get(key) {
                found.push(inner.to_string());
            }
        }
        found
    }

    #[test]
    fn every_corpus_body_agrees_and_valid_ones_take_the_fast_path() {
        let mut accepted = 0;
        let mut reference_accepted = 0;
        let mut off_path = Vec::new();
        for (path, text) in bodies() {
            for body in requests_in(&text) {
                let took_fast_path = agrees(&body);
                accepted += usize::from(took_fast_path);
                if reference::<BidRequest>(&body).is_some() {
                    reference_accepted += 1;
                    if !took_fast_path {
                        off_path.push(path.display().to_string());
                    }
                }
            }
        }
        eprintln!(
            "fast path: {accepted} of {reference_accepted} bodies serde_json accepts; off it: {off_path:?}"
        );
        if corpus_dir().is_some() {
            assert!(reference_accepted > 100, "the corpus was found and read");
        } else {
            // Every request fixture and example is a valid bid request.
            let n_requests = [
                "tests/fixtures/openrtb",
                "tests/fixtures/bid-requests/2.5",
                "tests/fixtures/bid-requests/2.6",
                "../examples/requests",
            ]
            .iter()
            .map(|dir| {
                let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
                std::fs::read_dir(&dir).expect("readable directory").count()
            })
            .sum::<usize>();
            assert!(
                reference_accepted >= n_requests && n_requests >= 15,
                "{reference_accepted} bodies accepted, {n_requests} request fixtures"
            );
            eprintln!(
                "{CORPUS_DIR_VAR} is not set: checked the project's fixtures only \
                 (scripts/acceptance checks the shared corpus)"
            );
        }
        // Exponents and long mantissas are the only reasons to leave the path, and the corpus
        // has few: at least 95% of the bodies serde_json accepts take the fast path.
        assert!(
            accepted * 100 >= reference_accepted * 95,
            "{accepted} of {reference_accepted} took the fast path; off it: {off_path:?}"
        );
    }

    fn wrap(value: &str) -> Vec<String> {
        vec![
            format!(r#"{{"id":"r","tmax":{value}}}"#),
            format!(r#"{{"id":"r","imp":[{{"id":"1","bidfloor":{value}}}]}}"#),
            format!(r#"{{"device":{{"geo":{{"lat":{value},"lon":1}}}}}}"#),
            format!(r#"{{"bcat":[{value}]}}"#),
            format!(r#"{{"cur":[{value},"USD"]}}"#),
            format!(r#"{{"id":{value}}}"#),
            format!(r#"{{"site":{value}}}"#),
            format!(r#"{{"imp":{value}}}"#),
            format!(r#"{{"ext":{{"a":[{value}],"b":{value}}}}}"#),
            format!(r#"{{"imp":[{{"id":"1","ext":{value}}}]}}"#),
            format!(r#"{{"assets":[{{"id":{value}}}],"native":{value}}}"#),
            format!(r#"{{"imp":[{{"id":"1","native":{{"request":{value}}}}}]}}"#),
            value.to_owned(),
        ]
    }

    const EDGE_VALUES: &[&str] = &[
        "0",
        "-0",
        "-0.0",
        "0.0",
        "0.1",
        "0.25",
        "1.5",
        "-1.5",
        "01",
        "-01",
        "1.",
        ".5",
        "-",
        "1e5",
        "1E-2",
        "1.0e3",
        "-1e400",
        "1e400",
        "123456789012345678901234",
        "18446744073709551615",
        "18446744073709551616",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "0.1234567890123456789",
        "3.141592653589793",
        "9007199254740993.5",
        "1.7976931348623157",
        "0.0000000000000000000001",
        "0.00000000000000000000001",
        "12345678901234.5",
        "123456789012345.6",
        "true",
        "false",
        "null",
        "nul",
        "tru",
        "\"\"",
        "\"a\"",
        r#""a\"b""#,
        r#""\u00e9t\u00e9""#,
        r#""\ud83d\ude00""#,
        r#""\ud83d""#,
        r#""\ude00x""#,
        r#""\x""#,
        r#""\u12""#,
        r#""\uZZZZ""#,
        "\"a\tb\"",
        "\"a\u{1}b\"",
        r#""\/\b\f\n\r\t""#,
        "\"é and 😀\"",
        "\"unterminated",
        "{}",
        "[]",
        "[1,]",
        "[,1]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{\"a\":}",
        "{1:2}",
        "[1 2]",
        "{\"a\":1 \"b\":2}",
        "[{\"a\":[{}]}]",
        "[\"a\",[\"b\"]]",
        "{\"id\":\"x\",\"id\":\"y\"}",
        " \t\r\n1\t",
        "{} x",
        "1 2",
        "",
    ];

    #[test]
    fn edge_cases_agree() {
        for value in EDGE_VALUES {
            for body in wrap(value) {
                agrees(&body);
            }
        }
    }

    #[test]
    fn ordinary_numbers_and_escapes_take_the_fast_path() {
        for body in [
            r#"{"id":"r","tmax":120,"imp":[{"id":"1","bidfloor":0.25}]}"#,
            r#"{"id":"r","imp":[{"id":"1","bidfloor":2}],"device":{"geo":{"lat":-37.77,"lon":0}}}"#,
            r#"{"id":"r\u00e9\"q","ext":{"a":[1e5,-2.5E-3,"\ud83d\ude00",null,true,{}]}}"#,
            r#"{"id":"r","test":0,"imp":[{"id":"1","bidfloor":-0.0}]}"#,
        ] {
            assert!(agrees(body), "{body}");
        }
    }

    #[test]
    fn depth_past_the_limit_leaves_the_fast_path_without_harm() {
        for depth in [10, 60, 63, 64, 65, 100, 127, 128, 129, 10_000] {
            let skipped = format!(
                r#"{{"id":"r","ext":{}1{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            );
            let took = agrees(&skipped);
            if depth <= 60 {
                assert!(took, "depth {depth} is on the fast path");
            } else if depth > DEPTH_MAX as usize {
                assert!(!took, "depth {depth} is left to serde_json");
            }
            let objects = format!(
                r#"{{"id":"r","ext":{}1{}}}"#,
                r#"{"a":"#.repeat(depth),
                "}".repeat(depth)
            );
            agrees(&objects);
            let native = format!("{}{{}}{}", r#"{"native":"#.repeat(depth), "}".repeat(depth));
            agrees(&native);
        }
    }

    const FRAGMENTS: &[&str] = &[
        "\"",
        "\\",
        ",",
        ":",
        "{",
        "}",
        "[",
        "]",
        "0",
        "-",
        ".",
        "e",
        "1.5",
        "null",
        "\\u00e9",
        "\\ud83d",
        " ",
        "\n",
        "\u{1}",
        "é",
        "\"x\":",
        ",\"id\":\"d\"",
        "[]",
        "{}",
        "-0",
        "1e9",
    ];

    proptest! {
        // PROPTEST_CASES runs more (300 000 were run once by hand on this code).
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(2000)
        ))]

        /// Random edits of real bodies: deletions, insertions of JSON fragments, byte swaps.
        #[test]
        fn mutated_corpus_bodies_agree(
            pick in any::<prop::sample::Index>(),
            edits in prop::collection::vec(
                (any::<prop::sample::Index>(), 0usize..3, any::<prop::sample::Index>()),
                1..4,
            ),
        ) {
            let files = BODIES.with(|bodies| bodies.clone());
            let mut body = pick.get(&files).clone().into_bytes();
            for (at, kind, fragment) in edits {
                if body.is_empty() {
                    break;
                }
                let at = at.index(body.len());
                match kind {
                    0 => {
                        let end = (at + 1 + fragment.index(8)).min(body.len());
                        body.drain(at..end);
                    }
                    1 => {
                        let text = fragment.get(FRAGMENTS).as_bytes();
                        body.splice(at..at, text.iter().copied());
                    }
                    _ => {
                        let other = fragment.index(body.len());
                        body.swap(at, other);
                    }
                }
            }
            if let Ok(text) = std::str::from_utf8(&body) {
                agrees(text);
            }
        }
    }

    thread_local! {
        static BODIES: Vec<String> = bodies()
            .into_iter()
            .flat_map(|(_, text)| requests_in(&text))
            .collect();
    }
}
