//! The chunked decoder against scripted bytes: every case fed whole, split at every byte
//! boundary, and a byte at a time must give the same body or the same error; every strict
//! prefix of a valid body is incomplete, never an error; and (proptest) any body cut into any
//! chunks decodes back to itself, while arbitrary bytes never panic.

use super::*;

/// Limits of the table: small enough that oversize cases stay short.
const BODY_BYTES_MAX: usize = 64;
const ENCODED_BYTES_MAX: usize = 4 * TRAILER_BYTES_MAX;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    /// Complete, with this body, after consuming this many bytes of the input.
    Body(&'static [u8], usize),
    Error(ChunkedError),
}

use Expected::{Body, Error};

/// Feeds `input` in pieces cut at `cuts` (ascending offsets) and says what came of it:
/// `None` while incomplete.
fn decode_in_pieces(input: &[u8], cuts: &[usize], limits: (usize, usize)) -> Option<Expected> {
    let mut decoder = ChunkedDecoder::new(limits.0, limits.1);
    let mut body = Vec::new();
    let mut start = 0;
    let mut consumed = 0;
    for end in cuts.iter().copied().chain(std::iter::once(input.len())) {
        match decoder.decode(&input[start..end], &mut body) {
            Err(error) => return Some(Error(error)),
            Ok(progress) => {
                consumed += progress.consumed;
                if progress.done {
                    assert!(decoder.is_done());
                    let body: &'static [u8] = Box::leak(body.into_boxed_slice());
                    return Some(Body(body, consumed));
                }
                assert_eq!(progress.consumed, end - start, "all used until done");
            }
        }
        start = end;
    }
    None
}

fn check(name: &str, input: &[u8], expected: &Expected, limits: (usize, usize)) {
    let whole = decode_in_pieces(input, &[], limits);
    assert_eq!(whole.as_ref(), Some(expected), "{name}: whole");
    for cut in 0..=input.len() {
        let got = decode_in_pieces(input, &[cut], limits);
        assert_eq!(got.as_ref(), Some(expected), "{name}: split at {cut}");
    }
    let every_byte: Vec<usize> = (1..input.len()).collect();
    let got = decode_in_pieces(input, &every_byte, limits);
    assert_eq!(got.as_ref(), Some(expected), "{name}: byte by byte");
    if let Body(_, consumed) = expected {
        for end in 0..*consumed {
            assert_eq!(
                decode_in_pieces(&input[..end], &[], limits),
                None,
                "{name}: the first {end} bytes are incomplete"
            );
        }
    }
}

#[test]
fn chunked_bodies_decode_or_fail_the_same_at_every_split() {
    let long_extension = format!(
        "5;{}\r\nhello\r\n0\r\n\r\n",
        "e".repeat(CHUNK_LINE_BYTES_MAX)
    );
    let long_trailer = format!("0\r\nX-Big: {}\r\n\r\n", "v".repeat(TRAILER_BYTES_MAX));
    let many_zeros = format!("{}5\r\nhello\r\n0\r\n\r\n", "0".repeat(40));
    let cases: Vec<(&str, &[u8], Expected)> =
        vec![
        ("one chunk", b"5\r\nhello\r\n0\r\n\r\n", Body(b"hello", 15)),
        ("empty body", b"0\r\n\r\n", Body(b"", 5)),
        (
            "two chunks",
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            Body(b"hello world", 26),
        ),
        (
            "upper-case hex",
            b"A\r\n0123456789\r\n0\r\n\r\n",
            Body(b"0123456789", 20),
        ),
        (
            "lower-case hex",
            b"a\r\n0123456789\r\n0\r\n\r\n",
            Body(b"0123456789", 20),
        ),
        ("leading zeros", b"0005\r\nhello\r\n000\r\n\r\n", Body(b"hello", 20)),
        (
            "leading zeros past sixteen digits",
            many_zeros.as_bytes(),
            Body(b"hello", many_zeros.len()),
        ),
        (
            "chunk extensions",
            b"5;name=value;flag\r\nhello\r\n0;last=\"a b;c\"\r\n\r\n",
            Body(b"hello", 44),
        ),
        (
            "whitespace before an extension or the CRLF",
            b"5 \t;ext\r\nhello\r\n0 \r\n\r\n",
            Body(b"hello", 22),
        ),
        (
            "trailers",
            b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\nServer-Timing: db;dur=3\r\n\r\n",
            Body(b"hello", 57),
        ),
        (
            "data bytes that look like framing",
            b"4\r\n0\r\n\r\r\n0\r\n\r\n",
            Body(b"0\r\n\r", 14),
        ),
        (
            "bytes after the message are not consumed",
            b"1\r\nx\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n",
            Body(b"x", 11),
        ),
        (
            "a body of exactly the limit",
            b"40\r\n0123456789012345678901234567890123456789012345678901234567890123\r\n0\r\n\r\n",
            Body(
                b"0123456789012345678901234567890123456789012345678901234567890123",
                75,
            ),
        ),
        ("no digits", b"\r\n", Error(ChunkedError::BadChunkSize)),
        ("not hex", b"g\r\n", Error(ChunkedError::BadChunkSize)),
        ("sign", b"+5\r\nhello\r\n", Error(ChunkedError::BadChunkSize)),
        ("negative", b"-5\r\nhello\r\n", Error(ChunkedError::BadChunkSize)),
        ("0x prefix", b"0x5\r\nhello\r\n", Error(ChunkedError::BadChunkSize)),
        ("space inside the size", b"1 0\r\n", Error(ChunkedError::BadChunkSize)),
        (
            "control byte in an extension",
            b"5;a\x00b\r\n",
            Error(ChunkedError::BadChunkSize),
        ),
        ("bare LF after the size", b"5\nhello", Error(ChunkedError::MissingCrlf)),
        ("bare LF for a size", b"\nhello", Error(ChunkedError::MissingCrlf)),
        ("bare LF after an extension", b"5;x\n", Error(ChunkedError::MissingCrlf)),
        ("CR without LF", b"5\rhello", Error(ChunkedError::MissingCrlf)),
        (
            "data longer than its size",
            b"5\r\nhello!\r\n0\r\n\r\n",
            Error(ChunkedError::MissingCrlf),
        ),
        (
            "data shorter than its size",
            b"6\r\nhello\r\n0\r\n\r\n",
            Error(ChunkedError::MissingCrlf),
        ),
        (
            "bare LF after data",
            b"5\r\nhello\n0\r\n\r\n",
            Error(ChunkedError::MissingCrlf),
        ),
        ("bare LF at the end", b"0\r\n\n", Error(ChunkedError::MissingCrlf)),
        ("CR then junk at the end", b"0\r\n\rX", Error(ChunkedError::MissingCrlf)),
        (
            "bare LF after a trailer",
            b"0\r\nX: 1\n\r\n",
            Error(ChunkedError::MissingCrlf),
        ),
        (
            "trailer without a name",
            b"0\r\n: v\r\n\r\n",
            Error(ChunkedError::BadTrailer),
        ),
        (
            "folded trailer",
            b"0\r\nX: 1\r\n  more\r\n\r\n",
            Error(ChunkedError::BadTrailer),
        ),
        (
            "trailer without a colon",
            b"0\r\nX-A 1\r\n\r\n",
            Error(ChunkedError::BadTrailer),
        ),
        (
            "control byte in a trailer value",
            b"0\r\nX: a\x01\r\n\r\n",
            Error(ChunkedError::BadTrailer),
        ),
        (
            "a chunk over the limit, refused before its data",
            b"41\r\n",
            Error(ChunkedError::BodyTooLarge),
        ),
        (
            "chunks adding up over the limit",
            b"40\r\n0123456789012345678901234567890123456789012345678901234567890123\r\n1\r\n",
            Error(ChunkedError::BodyTooLarge),
        ),
        (
            "the largest 64-bit size",
            b"ffffffffffffffff\r\n",
            Error(ChunkedError::BodyTooLarge),
        ),
        (
            "a size overflowing 64 bits",
            b"10000000000000000\r\n",
            Error(ChunkedError::ChunkSizeOverflow),
        ),
        (
            "a size line over the limit",
            long_extension.as_bytes(),
            Error(ChunkedError::LineTooLong),
        ),
        (
            "trailers over the limit",
            long_trailer.as_bytes(),
            Error(ChunkedError::TrailersTooLarge),
        ),
    ];
    for (name, input, expected) in &cases {
        check(name, input, expected, (BODY_BYTES_MAX, ENCODED_BYTES_MAX));
    }
}

#[test]
fn truncated_bodies_are_incomplete_not_errors() {
    for input in [
        &b""[..],
        b"5",
        b"5\r",
        b"5\r\nhel",
        b"5\r\nhello",
        b"5\r\nhello\r",
        b"5\r\nhello\r\n",
        b"5\r\nhello\r\n0",
        b"5\r\nhello\r\n0\r\n",
        b"5\r\nhello\r\n0\r\nX: 1\r\n",
        b"5\r\nhello\r\n0\r\n\r",
    ] {
        let outcome = decode_in_pieces(input, &[], (BODY_BYTES_MAX, ENCODED_BYTES_MAX));
        assert_eq!(outcome, None, "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn framing_is_bounded_apart_from_the_body() {
    // Sixteen one-byte chunks: 16 bytes of body in 96 of framing.
    let input: Vec<u8> = std::iter::repeat(&b"1\r\nx\r\n"[..])
        .take(16)
        .flatten()
        .chain(b"0\r\n\r\n")
        .copied()
        .collect();
    check(
        "within the encoded limit",
        &input,
        &Body(b"xxxxxxxxxxxxxxxx", input.len()),
        (BODY_BYTES_MAX, input.len()),
    );
    check(
        "over the encoded limit",
        &input,
        &Error(ChunkedError::EncodedTooLarge),
        (BODY_BYTES_MAX, input.len() - 1),
    );
    assert_eq!(
        encoded_bytes_max(256 * 1024),
        512 * 1024 + CHUNK_LINE_BYTES_MAX + TRAILER_BYTES_MAX + 16
    );
    assert_eq!(encoded_bytes_max(usize::MAX), usize::MAX);
}

#[test]
fn a_reset_decoder_reads_the_next_message() {
    let mut decoder = ChunkedDecoder::new(BODY_BYTES_MAX, ENCODED_BYTES_MAX);
    let mut body = Vec::new();
    let first = decoder.decode(b"3\r\nabc\r\n0\r\n\r\n", &mut body);
    assert_eq!(
        first,
        Ok(Progress {
            consumed: 13,
            done: true
        })
    );
    decoder.reset();
    body.clear();
    let second = decoder.decode(b"2\r\nde\r\n0\r\n\r\n", &mut body);
    assert_eq!(
        second,
        Ok(Progress {
            consumed: 12,
            done: true
        })
    );
    assert_eq!(body, b"de");
}

/// `body` chunked at the given sizes (cycled), hex in both cases, with an extension on every
/// other chunk.
fn encode(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    let mut chunk_idx = 0;
    while !rest.is_empty() {
        let size = sizes[chunk_idx % sizes.len()].clamp(1, rest.len());
        let (chunk, after) = rest.split_at(size);
        let line = if chunk_idx % 2 == 0 {
            format!("{size:x};i={chunk_idx}\r\n")
        } else {
            format!("{size:X}\r\n")
        };
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
        rest = after;
        chunk_idx += 1;
    }
    out.extend_from_slice(b"0\r\nX-End: 1\r\n\r\n");
    out
}

proptest::proptest! {
    #[test]
    fn any_chunking_decodes_back(
        body in proptest::collection::vec(proptest::num::u8::ANY, 0..2048),
        sizes in proptest::collection::vec(1usize..300, 1..8),
        cut in 0usize..4096,
    ) {
        let encoded = encode(&body, &sizes);
        let cut = cut.min(encoded.len());
        // The encoded bound is the production one unless this chunking is more wasteful
        // than it allows (one-byte chunks with extensions take ~12 bytes a byte, which the
        // bound refuses by design: tested apart); this property is about decoding.
        let limits = (body.len(), encoded_bytes_max(body.len()).max(encoded.len()));
        let expected: &'static [u8] = Box::leak(body.clone().into_boxed_slice());
        proptest::prop_assert_eq!(
            decode_in_pieces(&encoded, &[cut], limits),
            Some(Body(expected, encoded.len()))
        );
    }

    #[test]
    fn chunked_decoder_never_panics(
        bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
        cut in 0usize..512,
    ) {
        let cut = cut.min(bytes.len());
        let _ = decode_in_pieces(&bytes, &[cut], (BODY_BYTES_MAX, ENCODED_BYTES_MAX));
    }

    #[test]
    fn chunked_decoder_never_panics_near_chunked(
        lines in proptest::collection::vec("[0-9a-fA-F;= \\r\\nxX:-]{0,12}", 0..12),
    ) {
        let bytes = lines.join("\r\n");
        let _ = decode_in_pieces(bytes.as_bytes(), &[], (BODY_BYTES_MAX, ENCODED_BYTES_MAX));
    }
}
