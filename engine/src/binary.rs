//! Little-endian binary encoding for what adshard keeps on disk: the event log's records and
//! the checkpoints of shard state. A [`Writer`] appends fixed-width integers and
//! length-prefixed bytes to a `Vec<u8>`; a [`Reader`] reads them back and reports, rather than
//! panics on, a truncated or malformed input (a file is outside input).

use std::fmt;

/// Why a [`Reader`] could not read what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended `needed` bytes short, at `offset`.
    Truncated { offset: usize, needed: usize },
    /// A value read at `offset` is not valid for its field.
    Invalid { offset: usize, what: &'static str },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { offset, needed } => {
                write!(f, "input ends {needed} bytes short at offset {offset}")
            }
            DecodeError::Invalid { offset, what } => write!(f, "invalid {what} at offset {offset}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Appends little-endian values to a buffer it borrows.
#[derive(Debug)]
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Writer<'a> {
        Writer { out }
    }

    /// Bytes in the buffer (including what was there before this writer).
    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    pub fn u8(&mut self, value: u8) -> &mut Self {
        self.out.push(value);
        self
    }

    pub fn u16(&mut self, value: u16) -> &mut Self {
        self.out.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub fn u32(&mut self, value: u32) -> &mut Self {
        self.out.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.out.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub fn i64(&mut self, value: i64) -> &mut Self {
        self.out.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// An `f64` by its bits (exact round trip).
    pub fn f64(&mut self, value: f64) -> &mut Self {
        self.u64(value.to_bits())
    }

    /// Bytes with a `u32` length in front.
    pub fn bytes(&mut self, value: &[u8]) -> &mut Self {
        let len = u32::try_from(value.len()).expect("a field over 4 GiB");
        self.u32(len);
        self.out.extend_from_slice(value);
        self
    }

    pub fn str(&mut self, value: &str) -> &mut Self {
        self.bytes(value.as_bytes())
    }

    /// A count of items that follow, for [`Reader::count`].
    pub fn count(&mut self, n: usize) -> &mut Self {
        self.u32(u32::try_from(n).expect("a count over 2^32"))
    }

    /// Bytes with no length in front (the reader must know how many).
    pub fn raw(&mut self, value: &[u8]) -> &mut Self {
        self.out.extend_from_slice(value);
        self
    }
}

/// Reads little-endian values from a slice, front to back.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    input: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    pub fn new(input: &'a [u8]) -> Reader<'a> {
        Reader { input, offset: 0 }
    }

    /// Bytes read so far.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.input.len() - self.offset
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                offset: self.offset,
                needed: n - self.remaining(),
            });
        }
        let slice = &self.input[self.offset..self.offset + n];
        self.offset += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    pub fn f64(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_bits(self.u64()?))
    }

    /// Bytes written by [`Writer::bytes`]; at most `max` of them, else `Invalid`.
    pub fn bytes(&mut self, max: usize) -> Result<&'a [u8], DecodeError> {
        let offset = self.offset;
        let len = self.u32()? as usize;
        if len > max {
            return Err(DecodeError::Invalid {
                offset,
                what: "length",
            });
        }
        self.take(len)
    }

    /// A string written by [`Writer::str`]; at most `max` bytes of UTF-8.
    pub fn str(&mut self, max: usize) -> Result<&'a str, DecodeError> {
        let offset = self.offset;
        let bytes = self.bytes(max)?;
        std::str::from_utf8(bytes).map_err(|_| DecodeError::Invalid {
            offset,
            what: "UTF-8",
        })
    }

    /// A count of items, each at least `item_bytes_min` long, that the rest of the input can
    /// hold: a corrupt count cannot make the caller allocate more than the input's size.
    pub fn count(&mut self, item_bytes_min: usize) -> Result<usize, DecodeError> {
        let offset = self.offset;
        let n = self.u32()? as usize;
        if n.saturating_mul(item_bytes_min.max(1)) > self.remaining() {
            return Err(DecodeError::Invalid {
                offset,
                what: "count",
            });
        }
        Ok(n)
    }

    /// `Invalid` unless the whole input was read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(DecodeError::Invalid {
                offset: self.offset,
                what: "trailing bytes",
            })
        }
    }

    /// An error for a value just read that is not valid for its field.
    pub fn invalid(&self, what: &'static str) -> DecodeError {
        DecodeError::Invalid {
            offset: self.offset,
            what,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out);
        w.u8(7).u16(513).u32(70_000).u64(u64::MAX).i64(-5).f64(0.25);
        w.str("héllo").bytes(&[1, 2, 3]);
        w.count(2).u8(1).u8(2);
        let mut r = Reader::new(&out);
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.u16(), Ok(513));
        assert_eq!(r.u32(), Ok(70_000));
        assert_eq!(r.u64(), Ok(u64::MAX));
        assert_eq!(r.i64(), Ok(-5));
        assert_eq!(r.f64(), Ok(0.25));
        assert_eq!(r.str(16), Ok("héllo"));
        assert_eq!(r.bytes(3), Ok(&[1u8, 2, 3][..]));
        assert_eq!(r.count(1), Ok(2));
        assert_eq!(r.take(2), Ok(&[1u8, 2][..]));
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn truncation_and_bad_lengths_are_errors() {
        let mut out = Vec::new();
        Writer::new(&mut out).str("abcdef");
        for cut in 0..out.len() {
            assert!(Reader::new(&out[..cut]).str(64).is_err(), "cut at {cut}");
        }
        assert!(matches!(
            Reader::new(&out).str(3),
            Err(DecodeError::Invalid { what: "length", .. })
        ));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0x7f]);
        assert!(matches!(
            r.count(8),
            Err(DecodeError::Invalid { what: "count", .. })
        ));
        assert!(matches!(
            Reader::new(&[0xc3, 0x28, 0, 0][..2]).u32(),
            Err(DecodeError::Truncated { .. })
        ));
    }
}
