//! Writing JSON by hand: numbers and escaped strings appended to a byte buffer.
//!
//! The bid response, the requests we send to bidders and the HTTP framing all write straight
//! into reused buffers rather than through serde, so that answering allocates nothing after
//! warm-up; these are the pieces they share. Below every module that writes JSON, and using
//! none of them, so the request path and the transport can both lean on it without leaning on
//! each other. `scan` finds the bytes a JSON string must escape, for the writer here and for the
//! request parser in `openrtb`.

pub(crate) mod scan;

/// Appends `value` in decimal, as `write!(out, "{value}")` would, without the formatter
/// machinery (`core::fmt::write` and its padding logic were ~1% of a shard's cycles when every
/// response's status line, Content-Length and sizes went through it).
pub fn write_decimal(out: &mut Vec<u8>, value: u64) {
    // u64::MAX has 20 digits.
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = value;
    while let Some(slot) = start.checked_sub(1).and_then(|at| digits.get_mut(at)) {
        *slot = b'0' + (rest % 10) as u8;
        start -= 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

/// Appends `text` as a JSON string literal, escaped exactly as serde_json escapes it.
///
/// Most of what we write needs no escaping (ids, URLs with base64url tokens), and creative
/// markup has long runs between its quotes, so the scan looks at sixteen bytes at a time
/// (`scan`) and copies whole runs; a profile of the auction showed the byte-at-a-time
/// version at a tenth of the request's instructions. Never allocates beyond growing `out`.
pub fn write_json_string(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut run_start = 0;
    loop {
        let at = scan::first_special(bytes, run_start);
        out.extend_from_slice(bytes.get(run_start..at).unwrap_or(&[]));
        let Some(&byte) = bytes.get(at) else {
            break;
        };
        run_start = at + 1;
        let short = match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            _ => 0,
        };
        if short != 0 {
            out.extend_from_slice(&[b'\\', short]);
        } else {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.extend_from_slice(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]]);
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::{write_decimal, write_json_string};

    #[test]
    fn decimals_match_the_formatter() {
        let mut values = vec![
            0,
            1,
            9,
            10,
            99,
            100,
            204,
            1_323,
            65_535,
            u64::MAX - 1,
            u64::MAX,
        ];
        values.extend((0..64).map(|shift| 1u64 << shift));
        values.extend((1..20).map(|exp| 10u64.pow(exp) - 1));
        for value in values {
            let mut out = b"x".to_vec();
            write_decimal(&mut out, value);
            assert_eq!(out, format!("x{value}").into_bytes(), "{value}");
        }
    }

    #[test]
    fn json_strings_match_serde_json() {
        for text in [
            "",
            "plain",
            "http://a.test/imp?t=AB-_c&p=${AUCTION_PRICE}",
            "q\"uote",
            "back\\slash",
            "ctl\u{1}\n",
            "ünïcode",
            "<a href=\"https://x.test/c?t=AB\">\n\t<img src=\"https://x.test/i\u{7f}\"/></a>\u{0}\u{8}\u{c}\u{1f}",
            "exactly8",
            "seven\"7",
            "twelve\\bytes",
        ] {
            let mut out = Vec::new();
            write_json_string(&mut out, text);
            assert_eq!(out, serde_json::to_vec(text).unwrap(), "{text:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn json_strings_match_serde_json_for_any_text(text in "(?s).{0,64}") {
            let mut out = b"prefix".to_vec();
            write_json_string(&mut out, &text);
            let mut expected = b"prefix".to_vec();
            expected.extend(serde_json::to_vec(&text).unwrap());
            proptest::prop_assert_eq!(out, expected);
        }

        #[test]
        fn json_strings_match_serde_json_for_ascii_with_escapes(bytes in proptest::collection::vec(0u8..0x80, 0..80)) {
            let text = String::from_utf8(bytes).unwrap();
            let mut out = Vec::new();
            write_json_string(&mut out, &text);
            proptest::prop_assert_eq!(out, serde_json::to_vec(&text).unwrap());
        }
    }
}
