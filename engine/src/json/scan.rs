//! Finding the bytes that end a plain run inside a JSON string: `"`, `\` and the control
//! characters (below 0x20). The request parser skips to them to find a string's end, and the
//! response writer to find what it must escape; both spend most of their time on strings, so
//! this is sixteen bytes at a time (SSE2, part of every x86-64), then eight (a word trick),
//! then one.

/// The position of the first `"`, `\` or control character in `bytes` at or after `from`, or
/// `bytes.len()` if there is none.
#[inline]
pub(crate) fn first_special(bytes: &[u8], from: usize) -> usize {
    let mut at = from;
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    while let Some(chunk) = bytes.get(at..).and_then(<[u8]>::first_chunk::<16>) {
        let special = special_lanes(chunk);
        if special != 0 {
            return at + special.trailing_zeros() as usize;
        }
        at += 16;
    }
    while let Some(chunk) = bytes.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        let special = special_bytes(u64::from_le_bytes(*chunk));
        if special != 0 {
            return at + special.trailing_zeros() as usize / 8;
        }
        at += 8;
    }
    while let Some(&byte) = bytes.get(at) {
        if is_special(byte) {
            return at;
        }
        at += 1;
    }
    at
}

/// Whether `byte` ends a plain run.
#[inline]
pub(crate) fn is_special(byte: u8) -> bool {
    byte == b'"' || byte == b'\\' || byte < 0x20
}

const ONES: u64 = u64::MAX / 255;

/// The bytes of `word` (little-endian) that are special, as their top bits (Mycroft's zero-byte
/// test). Bytes above the first one flagged may be flagged falsely; the lowest flag is always
/// right.
#[inline]
fn special_bytes(word: u64) -> u64 {
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let has_quote = quote.wrapping_sub(ONES) & !quote;
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let has_backslash = backslash.wrapping_sub(ONES) & !backslash;
    (below_space | has_quote | has_backslash) & (ONES << 7)
}

/// The lanes of `chunk` that are special, as the low 16 bits of the result, lane 0 lowest.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline]
fn special_lanes(chunk: &[u8; 16]) -> u32 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: `chunk` is 16 readable bytes, and `loadu` takes any alignment. The rest only
    // computes on registers; SSE2 is enabled for this target (the cfg above), so the
    // instructions exist on every CPU this code runs on.
    unsafe {
        let lanes = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
        let quote = _mm_cmpeq_epi8(lanes, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(lanes, _mm_set1_epi8(b'\\' as i8));
        // Unsigned `lane <= 0x1f` is `max(lane, 0x1f) == 0x1f`.
        let control_max = _mm_set1_epi8(0x1f);
        let control = _mm_cmpeq_epi8(_mm_max_epu8(lanes, control_max), control_max);
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::{first_special, is_special};

    /// Every byte value, in every position of texts long enough to take each of the three
    /// loops, with plain text or a second special byte after it.
    #[test]
    fn finds_the_first_special_byte_wherever_it_is() {
        for len in [1usize, 7, 8, 9, 15, 16, 17, 23, 24, 31, 32, 33, 40] {
            for position in 0..len {
                for byte in 0..=255u8 {
                    let mut text = vec![b'a'; len];
                    text[position] = byte;
                    if position + 1 < len {
                        text[position + 1] = b'"';
                    }
                    let expected = if is_special(byte) {
                        position
                    } else if position + 1 < len {
                        position + 1
                    } else {
                        len
                    };
                    assert_eq!(
                        first_special(&text, 0),
                        expected,
                        "{byte:#x} at {position} of {len}"
                    );
                    if position > 0 {
                        let from = position - 1;
                        assert_eq!(first_special(&text, from), expected, "from {from}");
                    }
                }
            }
        }
        assert_eq!(first_special(b"", 0), 0);
        assert_eq!(first_special(b"abc", 3), 3);
    }
}
