//! HTTP/1.1 on glommio: request heads parsed by httparse, Content-Length bodies, keep-alive,
//! pipelining, and a limit on everything a client can make a shard hold.
//!
//! Only this module knows the HTTP wire format. Handlers see a [`Request`] with its path,
//! query and body, and fill a [`Response`]; the connection loop in [`conn`] frames it.

pub mod conn;
pub mod head;

use std::future::Future;

pub use conn::{serve_connection, ConnectionContext};
pub use head::{parse_head, HeadError, HeadParse, Method, RequestHead};

use crate::stats::Endpoint;

/// A request as a handler sees it: everything borrows the connection's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: Method,
    pub path: &'a str,
    pub query: &'a str,
    pub body: &'a [u8],
    /// When the connection had the whole request and handed it over: the start of the
    /// handler's time, read once for the connection's statistics and the handler's own.
    pub received: std::time::Instant,
}

/// A response being built by a handler. One per connection, reused: `reset` keeps the body's
/// capacity, so answering a request does not allocate once the buffer has grown.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Where the request is counted in the shard's statistics.
    pub endpoint: Endpoint,
    /// Extra header lines (each ending in "\r\n"), e.g. `Location` for redirects.
    pub extra_headers: Vec<u8>,
    /// Ask the connection to close after this response.
    pub close: bool,
}

impl Default for Response {
    fn default() -> Self {
        Response {
            status: 200,
            content_type: "application/json",
            body: Vec::new(),
            endpoint: Endpoint::Other,
            extra_headers: Vec::new(),
            close: false,
        }
    }
}

impl Response {
    pub fn reset(&mut self) {
        self.status = 200;
        self.content_type = "application/json";
        self.body.clear();
        self.endpoint = Endpoint::Other;
        self.extra_headers.clear();
        self.close = false;
    }

    /// A response without a body (204, or 404/405 where the status says it all).
    pub fn set_empty(&mut self, endpoint: Endpoint, status: u16) {
        self.endpoint = endpoint;
        self.status = status;
        self.body.clear();
    }

    /// A plain-text body (health checks, metrics).
    pub fn set_text(&mut self, endpoint: Endpoint, status: u16, text: &str) {
        self.endpoint = endpoint;
        self.status = status;
        self.content_type = "text/plain; charset=utf-8";
        self.body.clear();
        self.body.extend_from_slice(text.as_bytes());
    }

    /// A JSON error body `{"error": reason, "field": field}`; both strings are escaped.
    pub fn set_error(&mut self, endpoint: Endpoint, status: u16, reason: &str, field: &str) {
        self.endpoint = endpoint;
        self.status = status;
        self.content_type = "application/json";
        self.body.clear();
        self.body.extend_from_slice(b"{\"error\":");
        write_json_string(&mut self.body, reason);
        self.body.extend_from_slice(b",\"field\":");
        write_json_string(&mut self.body, field);
        self.body.push(b'}');
    }
}

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
/// (`jsonscan`) and copies whole runs; a profile of the auction showed the byte-at-a-time
/// version at a tenth of the request's instructions. Never allocates beyond growing `out`.
pub fn write_json_string(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut run_start = 0;
    loop {
        let at = crate::jsonscan::first_special(bytes, run_start);
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

/// Something that answers requests: the public router and the admin router implement it.
/// Single-threaded by design (a shard's handler never leaves its shard), so no `Send` bound.
pub trait Handler {
    fn handle(&self, request: Request<'_>, response: &mut Response) -> impl Future<Output = ()>;
}

/// The reason phrase for a status line.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        302 => "Found",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
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
