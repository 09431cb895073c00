//! Parsing one HTTP/1.1 request head with httparse, under the server's limits.
//!
//! Pure and synchronous so it can be tested with scripted bytes and fuzzed: it never reads the
//! socket, never allocates, and decides everything the connection loop needs to know before it
//! touches the body (its length, whether the connection stays open, which error to answer).

use std::mem::MaybeUninit;

use super::limits::HEADERS_COUNT_CEILING;

/// What the server does with a request, decided from its method alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Other,
}

impl Method {
    fn from_bytes(method: &str) -> Method {
        match method {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            _ => Method::Other,
        }
    }
}

/// A parsed request head. `target` borrows the connection buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHead<'a> {
    pub method: Method,
    /// Path without the query string, from an origin- or absolute-form target; empty only for
    /// an absolute-form target without a path, which means `/`.
    pub path: &'a str,
    /// Query string without the `?`, empty when absent.
    pub query: &'a str,
    /// Bytes of the head including the blank line; the body starts here.
    pub head_bytes: usize,
    pub content_length: usize,
    /// False for `Connection: close`, and for HTTP/1.0 without `Connection: keep-alive`.
    pub keep_alive: bool,
}

/// Why a head is refused. Each maps to one status; every one of them closes the connection,
/// because after a framing error the server cannot know where the next request starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Not HTTP/1.x, or a syntax error: 400.
    Malformed,
    /// Head larger than `header_bytes_max`: 431.
    HeadTooLarge,
    /// More headers than `headers_count_max`: 431.
    TooManyHeaders,
    /// `Transfer-Encoding` on a request: 411. Exchanges send bid requests with a
    /// Content-Length; supporting chunked bodies would add a second framing path (and its
    /// smuggling risks) for no client we serve.
    LengthRequired,
    /// Content-Length missing on a body-bearing request is treated as 0; a Content-Length that
    /// is not a number, or two that differ: 400.
    BadContentLength,
    /// Content-Length above `body_bytes_max`: 413.
    BodyTooLarge,
    /// `Expect` other than `100-continue`: 417.
    ExpectationFailed,
}

impl HeadError {
    pub fn status(self) -> u16 {
        match self {
            HeadError::Malformed | HeadError::BadContentLength => 400,
            HeadError::HeadTooLarge | HeadError::TooManyHeaders => 431,
            HeadError::LengthRequired => 411,
            HeadError::BodyTooLarge => 413,
            HeadError::ExpectationFailed => 417,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            HeadError::Malformed => "malformed HTTP request",
            HeadError::HeadTooLarge => "request head too large",
            HeadError::TooManyHeaders => "too many headers",
            HeadError::LengthRequired => "Transfer-Encoding is not supported; send Content-Length",
            HeadError::BadContentLength => "invalid Content-Length",
            HeadError::BodyTooLarge => "request body too large",
            HeadError::ExpectationFailed => "unsupported Expect header",
        }
    }
}

/// Outcome of trying to parse a head from what the socket has delivered so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadParse<'a> {
    Complete {
        head: RequestHead<'a>,
        expect_continue: bool,
    },
    /// Need more bytes (and there is room for them under the limit).
    Partial,
}

/// Parses the head at the start of `buf`.
pub fn parse_head(
    buf: &[u8],
    header_bytes_max: usize,
    headers_count_max: usize,
    body_bytes_max: usize,
) -> Result<HeadParse<'_>, HeadError> {
    debug_assert!(headers_count_max <= HEADERS_COUNT_CEILING);
    // Uninitialised: zeroing 1024 headers (32 KiB) per request cost more than parsing them.
    let mut headers =
        [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; HEADERS_COUNT_CEILING];
    let headers = &mut headers[..headers_count_max.min(HEADERS_COUNT_CEILING)];
    let mut request = httparse::Request::new(&mut []);
    let window = &buf[..buf.len().min(header_bytes_max)];
    let head_bytes = match request.parse_with_uninit_headers(window, headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if buf.len() >= header_bytes_max {
                Err(HeadError::HeadTooLarge)
            } else {
                Ok(HeadParse::Partial)
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(_) => return Err(HeadError::Malformed),
    };
    let (Some(method), Some(target), Some(version)) =
        (request.method, request.path, request.version)
    else {
        return Err(HeadError::Malformed);
    };
    let mut keep_alive = version == 1;
    let mut content_length: Option<usize> = None;
    let mut expect_continue = false;
    for header in request.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let value = parse_content_length(header.value, REQUEST_CONTENT_LENGTH_DIGITS_MAX)
                .ok_or(HeadError::BadContentLength)?;
            if content_length.is_some_and(|previous| previous != value) {
                return Err(HeadError::BadContentLength);
            }
            content_length = Some(value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HeadError::LengthRequired);
        } else if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if header
                .value
                .trim_ascii()
                .eq_ignore_ascii_case(b"100-continue")
            {
                expect_continue = true;
            } else {
                return Err(HeadError::ExpectationFailed);
            }
        }
    }
    let content_length = content_length.unwrap_or(0);
    if content_length > body_bytes_max {
        return Err(HeadError::BodyTooLarge);
    }
    let (path, query) = split_target(target)?;
    Ok(HeadParse::Complete {
        head: RequestHead {
            method: Method::from_bytes(method),
            path,
            query,
            head_bytes,
            content_length,
            keep_alive,
        },
        expect_continue,
    })
}

/// The path and query of a request target (RFC 9112 §3.2). Origin form (`/path?query`) is
/// what clients send a server; absolute form (`http://host/path?query`) is what they send a
/// proxy, and a server must accept it too (§3.2.2): its path is the URI's path, its authority
/// is ignored like the Host header (we serve one site). An empty path is returned empty and
/// means `/` (RFC 9110 §4.2.3); the connection loop maps it. Authority form (CONNECT's),
/// asterisk form (OPTIONS's), other schemes, an empty host and userinfo (RFC 9110 §4.2.4: a
/// recipient treats it as an error) are malformed: 400.
fn split_target(target: &str) -> Result<(&str, &str), HeadError> {
    let origin = if target.starts_with('/') {
        target
    } else {
        let rest = strip_prefix_ignore_case(target, "http://")
            .or_else(|| strip_prefix_ignore_case(target, "https://"))
            .ok_or(HeadError::Malformed)?;
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if authority.is_empty() || authority.contains('@') {
            return Err(HeadError::Malformed);
        }
        &rest[authority_end..]
    };
    Ok(match origin.split_once('?') {
        Some((path, query)) => (path, query),
        None => (origin, ""),
    })
}

/// `text` without `prefix`, compared ASCII-case-insensitively (URI schemes are, RFC 3986 §3.1).
fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Digits of a request's Content-Length: a body we would read is far below 10^12 bytes, so a
/// longer value is refused as malformed (400) rather than read as a length (413).
const REQUEST_CONTENT_LENGTH_DIGITS_MAX: usize = 12;

/// The one Content-Length parser, for request heads here and response heads in `client`.
/// Content-Length is 1*DIGIT (RFC 9110 §8.6), surrounding whitespace aside; anything else
/// (signs, spaces inside, more than `digits_max` digits, overflow) is refused rather than
/// guessed at.
pub(super) fn parse_content_length(value: &[u8], digits_max: usize) -> Option<usize> {
    let digits = value.trim_ascii();
    if digits.is_empty() || digits.len() > digits_max {
        return None;
    }
    digits.iter().try_fold(0usize, |length, &byte| {
        if !byte.is_ascii_digit() {
            return None;
        }
        length
            .checked_mul(10)?
            .checked_add(usize::from(byte - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &[u8]) -> Result<HeadParse<'_>, HeadError> {
        parse_head(buf, 8192, 64, 65536)
    }

    fn complete(buf: &[u8]) -> RequestHead<'_> {
        match parse(buf) {
            Ok(HeadParse::Complete { head, .. }) => head,
            other => panic!("expected complete head, got {other:?}"),
        }
    }

    #[test]
    fn post_with_body_length() {
        let head = complete(
            b"POST /openrtb2/auction?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n{}",
        );
        assert_eq!(head.method, Method::Post);
        assert_eq!(head.path, "/openrtb2/auction");
        assert_eq!(head.query, "x=1");
        assert_eq!(head.content_length, 12);
        assert!(head.keep_alive);
    }

    #[test]
    fn request_targets_in_origin_and_absolute_form() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("/openrtb2/auction", Some(("/openrtb2/auction", ""))),
            ("/imp?t=abc&p=1", Some(("/imp", "t=abc&p=1"))),
            ("/?", Some(("/", ""))),
            (
                "http://ads.example/openrtb2/auction",
                Some(("/openrtb2/auction", "")),
            ),
            (
                "https://ads.example:8443/imp?t=abc",
                Some(("/imp", "t=abc")),
            ),
            ("HTTPS://Ads.Example/imp?t=a?b", Some(("/imp", "t=a?b"))),
            ("http://10.0.0.1:80/healthz", Some(("/healthz", ""))),
            ("http://[::1]:8080/healthz?x", Some(("/healthz", "x"))),
            ("http://ads.example", Some(("", ""))),
            ("http://ads.example?x=1", Some(("", "x=1"))),
            ("ads.example:443", None),
            ("openrtb2/auction", None),
            ("*", None),
            ("ftp://ads.example/x", None),
            ("http:/ads.example/x", None),
            ("http:///openrtb2/auction", None),
            ("http://?x=1", None),
            ("http://user:pw@ads.example/imp", None),
            ("http", None),
        ];
        for (target, expected) in cases {
            let head = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
            let got = match parse(head.as_bytes()) {
                Ok(HeadParse::Complete { head, .. }) => Some((head.path, head.query)),
                Ok(HeadParse::Partial) => panic!("{target}: partial"),
                Err(error) => {
                    assert_eq!(error, HeadError::Malformed, "{target}");
                    None
                }
            };
            assert_eq!(got, *expected, "{target}");
        }
    }

    #[test]
    fn connection_close_and_http10() {
        assert!(!complete(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!complete(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(complete(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
    }

    #[test]
    fn partial_until_blank_line() {
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost: a\r\n"),
            Ok(HeadParse::Partial)
        );
    }

    #[test]
    fn errors_map_to_statuses() {
        let cases: &[(&[u8], u16)] = &[
            (b"\x00\x01garbage\r\n\r\n", 400),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                411,
            ),
            (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                400,
            ),
            (b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413),
            (b"POST / HTTP/1.1\r\nExpect: magic\r\n\r\n", 417),
        ];
        for (input, status) in cases {
            let err = parse(input).expect_err("must be refused");
            assert_eq!(
                err.status(),
                *status,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn content_lengths_are_digits_within_their_limit() {
        let cases: &[(&[u8], usize, Option<usize>)] = &[
            (b"0", 12, Some(0)),
            (b" 42 ", 12, Some(42)),
            (b"999999999999", 12, Some(999_999_999_999)),
            (b"0000000000001", 12, None),
            (b"0000000000001", usize::MAX, Some(1)),
            (b"", 12, None),
            (b"  ", usize::MAX, None),
            (b"+1", 12, None),
            (b"-1", usize::MAX, None),
            (b"1 2", usize::MAX, None),
            (b"0x10", usize::MAX, None),
            (b"18446744073709551615", usize::MAX, Some(usize::MAX)),
            (b"18446744073709551616", usize::MAX, None),
            (b"99999999999999999999999", usize::MAX, None),
        ];
        for (value, digits_max, expected) in cases {
            assert_eq!(
                parse_content_length(value, *digits_max),
                *expected,
                "{:?} within {digits_max}",
                String::from_utf8_lossy(value)
            );
        }
    }

    #[test]
    fn limits() {
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..70 {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse(&many), Err(HeadError::TooManyHeaders));
        let long = [b'a'; 9000];
        assert!(matches!(
            parse(&long),
            Err(HeadError::Malformed | HeadError::HeadTooLarge)
        ));
        let mut long_header = b"GET / HTTP/1.1\r\nX: ".to_vec();
        long_header.extend_from_slice(&[b'a'; 9000]);
        assert_eq!(parse(&long_header), Err(HeadError::HeadTooLarge));
    }
}
