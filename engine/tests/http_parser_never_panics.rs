//! Property tests: the HTTP head parser never panics, and whatever it accepts is within limits.

use adshard::http::{parse_head, HeadParse};
use proptest::prelude::*;

const HEADER_BYTES_MAX: usize = 8192;
const HEADERS_COUNT_MAX: usize = 64;
const BODY_BYTES_MAX: usize = 65536;

fn check(bytes: &[u8]) {
    if let Ok(HeadParse::Complete { head, .. }) =
        parse_head(bytes, HEADER_BYTES_MAX, HEADERS_COUNT_MAX, BODY_BYTES_MAX)
    {
        assert!(head.head_bytes <= bytes.len().min(HEADER_BYTES_MAX));
        assert!(head.content_length <= BODY_BYTES_MAX);
    }
}

/// Fragments that make up plausible heads, so mutations reach deep into the parser.
fn head_like() -> impl Strategy<Value = Vec<u8>> {
    let fragment = prop_oneof![
        Just(b"GET ".to_vec()),
        Just(b"POST /openrtb2/auction".to_vec()),
        Just(b" HTTP/1.1\r\n".to_vec()),
        Just(b"Content-Length: ".to_vec()),
        Just(b"Transfer-Encoding: chunked\r\n".to_vec()),
        Just(b"Connection: close\r\n".to_vec()),
        Just(b"Expect: 100-continue\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r\n\r\n".to_vec()),
        "[0-9]{1,25}".prop_map(|s| s.into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..16),
    ];
    proptest::collection::vec(fragment, 0..24).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..12_000)) {
        check(&bytes);
    }

    #[test]
    fn head_like_bytes_never_panic(bytes in head_like()) {
        check(&bytes);
    }

    #[test]
    fn every_prefix_of_a_valid_head_is_partial_or_complete(cut in 0usize..80) {
        let full = b"POST /openrtb2/auction HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n";
        let cut = cut.min(full.len());
        let result = parse_head(&full[..cut], HEADER_BYTES_MAX, HEADERS_COUNT_MAX, BODY_BYTES_MAX);
        if cut < full.len() {
            prop_assert_eq!(result, Ok(HeadParse::Partial));
        } else {
            let complete = matches!(result, Ok(HeadParse::Complete { .. }));
            prop_assert!(complete, "full head must parse");
        }
    }
}
