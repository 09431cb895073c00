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
mod tests;
