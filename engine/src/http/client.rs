//! The client side of HTTP/1.1, as the bidder pools speak it: writing a POST's head and
//! parsing the response head that comes back.
//!
//! Here rather than in `bidders` so that one module knows the wire format both ways: the
//! response's Content-Length is read by the same parser as a request's
//! ([`parse_content_length`]), a chunked body by [`super::chunked`], and `bidders::client`
//! deals in connections, deadlines and pools, never in header bytes. Pure and synchronous,
//! like the server's head parser, so it can be tested with scripted bytes and fuzzed.

use super::head::parse_content_length;
use crate::json::write_decimal;

/// Largest response head (status line and headers) a bidder may send. Bidders answer with a
/// handful of headers; 8 KiB is the usual server default (nginx, Pingora) and leaves room for
/// what load balancers add. It is also the size of each bidder connection's read buffer.
pub const RESPONSE_HEAD_BYTES_MAX: usize = 8 * 1024;
/// Most response headers parsed (httparse needs the slots up front, on the stack). A bidder's
/// answer carries about ten; beyond this something is wrong with the peer.
pub const RESPONSE_HEADERS_COUNT_MAX: usize = 32;

const _: () = assert!(
    RESPONSE_HEAD_BYTES_MAX >= 512,
    "a status line and a few headers must fit"
);

/// The head of every POST to one endpoint up to the headers that change per request (request
/// line, `Host`, `Content-Type`), written once when the pool is made.
#[derive(Debug, Clone)]
pub struct PostHead {
    fixed: Vec<u8>,
}

impl PostHead {
    /// `path` and `host` come from a validated configuration: printable ASCII, no spaces.
    pub fn new(path: &str, host: &str, content_type: &str) -> PostHead {
        debug_assert!(
            is_header_value(path) && is_header_value(host),
            "{path} {host}"
        );
        let mut fixed = Vec::new();
        for part in [
            "POST ",
            path,
            " HTTP/1.1\r\nHost: ",
            host,
            "\r\nContent-Type: ",
            content_type,
            "\r\n",
        ] {
            fixed.extend_from_slice(part.as_bytes());
        }
        PostHead { fixed }
    }

    /// Frames one request into `output` (cleared first): this head, the header `name: value`
    /// unless `value` could break the head (CR, LF, spaces, empty), in which case it is left
    /// out rather than sent, then `Content-Length` and `body`.
    pub fn write_request(&self, output: &mut Vec<u8>, (name, value): (&str, &str), body: &[u8]) {
        output.clear();
        output.extend_from_slice(&self.fixed);
        if is_header_value(value) {
            output.extend_from_slice(name.as_bytes());
            output.extend_from_slice(b": ");
            output.extend_from_slice(value.as_bytes());
            output.extend_from_slice(b"\r\n");
        }
        output.extend_from_slice(b"Content-Length: ");
        write_decimal(output, body.len() as u64);
        output.extend_from_slice(b"\r\n\r\n");
        output.extend_from_slice(body);
    }
}

/// Whether `value` can be sent as a header value as it is: printable ASCII without spaces.
pub fn is_header_value(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic())
}

/// How a response's body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// `Content-Length`.
    Length(usize),
    /// `Transfer-Encoding: chunked`, decoded by [`super::chunked::ChunkedDecoder`].
    Chunked,
    /// Neither: the body, if any, ends when the connection closes.
    UntilClose,
}

/// What a client needs from a response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    /// Bytes of the status line and headers, including the blank line.
    pub head_bytes: usize,
    pub framing: BodyFraming,
    /// HTTP/1.1 without `Connection: close`.
    pub keep_alive: bool,
}

/// Why a response head cannot be framed. Any of them leaves the connection unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseHeadError {
    Malformed,
    TooManyHeaders,
    /// Over [`RESPONSE_HEAD_BYTES_MAX`].
    HeadTooLarge,
    BadContentLength,
    ConflictingContentLength,
    /// Both `Content-Length` and `Transfer-Encoding`: which one frames the body is exactly
    /// what request smuggling plays on, so neither is trusted.
    LengthWithTransferEncoding,
    /// A `Transfer-Encoding` other than `chunked` alone (a coding we do not decode, a list,
    /// the header twice, or on HTTP/1.0).
    TransferEncoding,
}

impl ResponseHeadError {
    /// A short phrase for logs and the bidder's error count.
    pub fn reason(self) -> &'static str {
        match self {
            ResponseHeadError::Malformed => "malformed head",
            ResponseHeadError::TooManyHeaders => "too many headers",
            ResponseHeadError::HeadTooLarge => "head too large",
            ResponseHeadError::BadContentLength => "bad content-length",
            ResponseHeadError::ConflictingContentLength => "conflicting content-length",
            ResponseHeadError::LengthWithTransferEncoding => {
                "content-length with transfer-encoding"
            }
            ResponseHeadError::TransferEncoding => "transfer-encoding",
        }
    }
}

/// Parses a response head: `Ok(None)` while incomplete, `Err` for anything a client of ours
/// will not frame. Never panics.
///
/// Bodies are framed by Content-Length or by `Transfer-Encoding: chunked` (real DSPs stream
/// their JSON), never by both: a head with both is refused rather than resolved in favour of
/// one (RFC 9112 §6.3 lets a recipient pick chunked, but a peer sending both is either broken
/// or probing for a smuggling gap). Any other transfer coding is refused too: we decode none.
pub fn parse_response_head(bytes: &[u8]) -> Result<Option<ResponseHead>, ResponseHeadError> {
    let mut headers = [httparse::EMPTY_HEADER; RESPONSE_HEADERS_COUNT_MAX];
    let mut response = httparse::Response::new(&mut headers);
    let head_bytes = match response.parse(bytes) {
        Ok(httparse::Status::Complete(head_bytes)) => head_bytes,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(ResponseHeadError::TooManyHeaders),
        Err(_) => return Err(ResponseHeadError::Malformed),
    };
    if head_bytes > RESPONSE_HEAD_BYTES_MAX {
        return Err(ResponseHeadError::HeadTooLarge);
    }
    let status = response.code.ok_or(ResponseHeadError::Malformed)?;
    let http_1_1 = response.version == Some(1);
    let mut keep_alive = http_1_1;
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            // A bidder's length is refused only when it overflows: a long one is then an answer
            // too large to read, not a malformed one.
            let length = parse_content_length(header.value, usize::MAX)
                .ok_or(ResponseHeadError::BadContentLength)?;
            if content_length.is_some_and(|seen| seen != length) {
                return Err(ResponseHeadError::ConflictingContentLength);
            }
            content_length = Some(length);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            // Exactly one header naming exactly `chunked`: a second header or a list would
            // apply codings we do not decode (or chunked twice).
            if chunked || !http_1_1 || !header.value.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return Err(ResponseHeadError::TransferEncoding);
            }
            chunked = true;
        } else if header.name.eq_ignore_ascii_case("connection")
            && header
                .value
                .split(|&b| b == b',')
                .any(|option| option.trim_ascii().eq_ignore_ascii_case(b"close"))
        {
            keep_alive = false;
        }
    }
    let framing = match (content_length, chunked) {
        (Some(_), true) => return Err(ResponseHeadError::LengthWithTransferEncoding),
        (Some(length), false) => BodyFraming::Length(length),
        (None, true) => BodyFraming::Chunked,
        (None, false) => BodyFraming::UntilClose,
    };
    Ok(Some(ResponseHead {
        status,
        head_bytes,
        framing,
        keep_alive,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_heads_frame_the_body() {
        let head = PostHead::new("/bid?x=1", "127.0.0.1:7001", "application/json");
        let mut output = b"left over".to_vec();
        head.write_request(&mut output, ("x-openrtb-version", "2.6"), b"{\"id\":\"1\"}");
        assert_eq!(
            String::from_utf8(output.clone()).unwrap(),
            "POST /bid?x=1 HTTP/1.1\r\nHost: 127.0.0.1:7001\r\nContent-Type: application/json\r\n\
             x-openrtb-version: 2.6\r\nContent-Length: 10\r\n\r\n{\"id\":\"1\"}"
        );
        for value in ["", "2.6\r\nX: y", "2 6"] {
            head.write_request(&mut output, ("x-openrtb-version", value), b"");
            assert_eq!(
                String::from_utf8(output.clone()).unwrap(),
                "POST /bid?x=1 HTTP/1.1\r\nHost: 127.0.0.1:7001\r\nContent-Type: application/json\r\n\
                 Content-Length: 0\r\n\r\n",
                "{value:?}"
            );
        }
    }

    #[test]
    fn response_heads_parse() {
        let head = |text: &str| parse_response_head(text.as_bytes()).map_err(|e| e.reason());
        // The head is followed by body bytes, which `head_bytes` must not include.
        let complete = |text: &str, status, content_length: Option<usize>, keep_alive| {
            let mut bytes = text.as_bytes().to_vec();
            bytes.extend_from_slice(b"{\"body\":1}");
            let expected = ResponseHead {
                status,
                head_bytes: text.len(),
                framing: content_length.map_or(BodyFraming::UntilClose, BodyFraming::Length),
                keep_alive,
            };
            assert_eq!(parse_response_head(&bytes), Ok(Some(expected)), "{text:?}");
        };
        let bad = |reason| Err(reason);
        complete(
            "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n",
            200,
            Some(12),
            true,
        );
        complete("HTTP/1.1 204 No Content\r\n\r\n", 204, None, true);
        complete(
            "HTTP/1.1 200 OK\r\nconnection: Keep-Alive, Close\r\ncontent-length: 0\r\n\r\n",
            200,
            Some(0),
            false,
        );
        complete(
            "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n",
            200,
            Some(1),
            false,
        );
        complete(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
            200,
            Some(3),
            true,
        );
        complete(
            "HTTP/1.1 503 Busy\r\nContent-Length:  7 \r\n\r\n",
            503,
            Some(7),
            true,
        );
        // Longer than a request's Content-Length may be, yet a number: too large, not malformed.
        complete(
            "HTTP/1.1 200 OK\r\nContent-Length: 0000000000000012\r\n\r\n",
            200,
            Some(12),
            true,
        );
        assert_eq!(head("HTTP/1.1 200 OK\r\nContent-Len"), Ok(None));
        assert_eq!(head(""), Ok(None));
        assert_eq!(
            head("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
            bad("conflicting content-length")
        );
        assert_eq!(
            head("HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n"),
            bad("bad content-length")
        );
        assert_eq!(
            head("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
            bad("bad content-length")
        );
        assert_eq!(head("NOT HTTP AT ALL\r\n\r\n"), bad("malformed head"));
        let many: String = std::iter::once("HTTP/1.1 200 OK\r\n".to_owned())
            .chain((0..=RESPONSE_HEADERS_COUNT_MAX).map(|i| format!("X-{i}: v\r\n")))
            .chain(std::iter::once("\r\n".to_owned()))
            .collect();
        assert_eq!(head(&many), bad("too many headers"));
    }

    #[test]
    fn transfer_encodings_other_than_chunked_alone_are_refused() {
        let framing = |text: &str| {
            parse_response_head(text.as_bytes())
                .map(|head| head.map(|head| (head.framing, head.keep_alive)))
                .map_err(|e| e.reason())
        };
        let chunked = Ok(Some((BodyFraming::Chunked, true)));
        for (text, expected) in [
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", chunked),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding:  CHUNKED \r\n\r\n", chunked),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                Ok(Some((BodyFraming::Chunked, false))),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                Err("transfer-encoding"),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                Err("transfer-encoding"),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
                Err("transfer-encoding"),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                Err("transfer-encoding"),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n",
                Err("transfer-encoding"),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n",
                Err("transfer-encoding"),
            ),
            (
                "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                Err("transfer-encoding"),
            ),
            // Smuggling ambiguity, in either order and whatever the length.
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                Err("content-length with transfer-encoding"),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
                Err("content-length with transfer-encoding"),
            ),
        ] {
            assert_eq!(framing(text), expected, "{text:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn response_head_parser_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_response_head(&bytes);
        }

        #[test]
        fn response_head_parser_never_panics_near_http(
            status in 0u16..1000,
            lines in proptest::collection::vec("[ -~]{0,40}", 0..8),
        ) {
            let text = format!("HTTP/1.1 {status} X\r\n{}\r\n\r\n", lines.join("\r\n"));
            let _ = parse_response_head(text.as_bytes());
        }
    }
}
