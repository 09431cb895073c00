//! Base64url without padding (RFC 4648 §5), encoding into and decoding from fixed buffers.
//!
//! Tokens travel in query strings, so the alphabet must be URL-safe and the encoding must be
//! allocation-free on the request path. Decoding is strict, canonical only: a final character
//! whose unused low bits are not zero is refused. A lenient decoder would map several token
//! strings to the same bytes, so altering the last character could leave a token valid; the
//! tests check that every single-byte alteration is refused. A crate would do the same job,
//! but these forty lines keep the fixed-buffer, canonical-only contract visible in one place.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Marks a byte outside the alphabet in [`DECODE`].
const INVALID: u8 = 0xFF;

/// Maps an input byte to its 6-bit value, or [`INVALID`].
const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut value = 0;
    while value < 64 {
        table[ALPHABET[value] as usize] = value as u8;
        value += 1;
    }
    table
};

/// Characters that encode `n_bytes` bytes without padding.
pub(crate) const fn encoded_len(n_bytes: usize) -> usize {
    (n_bytes * 4).div_ceil(3)
}

/// Encodes `input` into the front of `output` and returns the number of characters written.
/// Callers size `output` with [`encoded_len`] from constants; were it short, the output would
/// be cut rather than the server panic.
pub(crate) fn encode(input: &[u8], output: &mut [u8]) -> usize {
    let n_chars = encoded_len(input.len());
    debug_assert!(output.len() >= n_chars, "output too small");
    let n_chars = n_chars.min(output.len());
    let output = &mut output[..n_chars];
    // Whole groups first: three bytes, four characters, no per-byte branches (a token is
    // encoded on every bid, five pieces of it).
    let mut groups = input.chunks_exact(3);
    let mut slots = output.chunks_exact_mut(4);
    for (group, slot) in groups.by_ref().zip(slots.by_ref()) {
        let bits = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
        slot[0] = ALPHABET[(bits >> 18) as usize & 0x3F];
        slot[1] = ALPHABET[(bits >> 12) as usize & 0x3F];
        slot[2] = ALPHABET[(bits >> 6) as usize & 0x3F];
        slot[3] = ALPHABET[bits as usize & 0x3F];
    }
    // A final one or two bytes yield two or three characters; an output cut short (see
    // above) keeps what fits.
    let tail = groups.remainder();
    if !tail.is_empty() {
        let n_full_chars = input.len() / 3 * 4;
        let b0 = tail[0];
        let b1 = tail.get(1).copied().unwrap_or(0);
        let sextets = [b0 >> 2, ((b0 & 0x03) << 4) | (b1 >> 4), (b1 & 0x0F) << 2];
        let rest = output.get_mut(n_full_chars..).unwrap_or_default();
        for (slot, sextet) in rest.iter_mut().zip(&sextets[..tail.len() + 1]) {
            *slot = ALPHABET[usize::from(*sextet)];
        }
    }
    n_chars
}

/// Decodes canonical unpadded base64url `input` into the front of `output` and returns the
/// number of bytes written, or `None` for a byte outside the alphabet, an impossible length,
/// non-zero trailing bits, or an `output` too small.
pub(crate) fn decode(input: &[u8], output: &mut [u8]) -> Option<usize> {
    // One character left over carries only 6 bits: no byte can end there.
    if input.len() % 4 == 1 {
        return None;
    }
    let n_bytes = input.len() * 3 / 4;
    let output = output.get_mut(..n_bytes)?;
    let mut bytes = output.iter_mut();
    for chunk in input.chunks(4) {
        let mut group: u32 = 0;
        for &char_byte in chunk {
            let sextet = DECODE[usize::from(char_byte)];
            if sextet == INVALID {
                return None;
            }
            group = (group << 6) | u32::from(sextet);
        }
        // Left-align a short final chunk as if it were padded to four characters.
        let n_chunk_bytes = chunk.len() * 3 / 4;
        group <<= 6 * (4 - chunk.len() as u32);
        let group_bytes = group.to_be_bytes();
        // The bits past the last whole byte must be zero, or the encoding is not canonical.
        let unused_bits_mask = 0x00FF_FFFFu32 >> (8 * n_chunk_bytes);
        if group & unused_bits_mask != 0 {
            return None;
        }
        // Source first in the zip, for the same reason as in `encode`.
        for (byte, slot) in group_bytes[1..=n_chunk_bytes].iter().zip(bytes.by_ref()) {
            *slot = *byte;
        }
    }
    Some(n_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(input: &[u8]) -> (String, Vec<u8>) {
        let mut chars = vec![0u8; encoded_len(input.len())];
        let n_chars = encode(input, &mut chars);
        let text = String::from_utf8(chars[..n_chars].to_vec()).expect("ascii");
        let mut bytes = vec![0u8; input.len()];
        let n_bytes = decode(text.as_bytes(), &mut bytes).expect("decodes");
        bytes.truncate(n_bytes);
        (text, bytes)
    }

    #[test]
    fn every_length_round_trips() {
        let input: Vec<u8> = (0..=255u8).rev().collect();
        for n_bytes in 0..=64 {
            let mut chars = [0u8; 128];
            let n_chars = encode(&input[..n_bytes], &mut chars);
            assert_eq!(n_chars, encoded_len(n_bytes));
            let mut bytes = [0u8; 96];
            let n_decoded = decode(&chars[..n_chars], &mut bytes).expect("canonical");
            assert_eq!(&bytes[..n_decoded], &input[..n_bytes], "{n_bytes} bytes");
        }
    }

    #[test]
    fn rfc4648_vectors_without_padding() {
        // RFC 4648 §10, padding removed; the alphabet differs only in '+' and '/'.
        for (input, expected) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            let (text, bytes) = round_trip(input.as_bytes());
            assert_eq!(text, expected);
            assert_eq!(bytes, input.as_bytes());
        }
        let (text, _) = round_trip(&[0xFB, 0xFF, 0xBF]);
        assert_eq!(text, "-_-_");
    }

    #[test]
    fn refuses_non_canonical_and_invalid() {
        let mut out = [0u8; 16];
        assert_eq!(decode(b"Zh", &mut out), None, "trailing bits set");
        assert_eq!(decode(b"Zm9", &mut out), None, "trailing bits set");
        assert_eq!(decode(b"Z", &mut out), None, "impossible length");
        assert_eq!(decode(b"Zm9v+A", &mut out), None, "standard alphabet");
        assert_eq!(decode(b"Zg==", &mut out), None, "padding");
        assert_eq!(decode(b"Zm9vYmFy", &mut out[..5]), None, "output too small");
    }
}
