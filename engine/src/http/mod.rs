//! HTTP/1.1 on glommio: request heads parsed by httparse, Content-Length bodies, keep-alive,
//! pipelining, and a limit on everything a client can make a shard hold.
//!
//! Only this module knows the HTTP wire format. Handlers see a [`Request`] with its path,
//! query and body, and fill a [`Response`]; the connection loop in [`conn`] frames it. The
//! other direction, the requests the bidder pools send and the heads of their answers, is
//! [`client`]'s. `http` imports no domain module: what it counts it reports through a
//! [`Recorder`], and its limits are its own ([`HttpLimits`]).

pub mod chunked;
pub mod client;
pub mod conn;
mod counters;
pub mod head;
mod limits;
mod table;

use std::future::Future;

pub use conn::{
    refuse_connection, serve_connection, ConnectionContext, ConnectionSlot, RefusalPermit,
    REFUSALS_IN_FLIGHT_MAX,
};
pub use counters::{ConnectionStats, Endpoint, Recorder};
pub use head::{parse_head, HeadError, HeadParse, Method, RequestHead};
pub use limits::{
    HttpLimits, BODY_BYTES_CEILING, CONNECTIONS_PER_SHARD_CEILING, FIRST_BYTE_TIMEOUT_MS_CEILING,
    HEADERS_COUNT_CEILING, HEADER_BYTES_CEILING,
};

use crate::json::write_json_string;

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

    /// A 302 to `location`, which must be a URL we chose (a campaign's landing page from the
    /// catalog, never one from the request) and a valid header value.
    pub fn set_redirect(&mut self, endpoint: Endpoint, location: &str) {
        self.set_empty(endpoint, 302);
        self.extra_headers.extend_from_slice(b"Location: ");
        self.extra_headers.extend_from_slice(location.as_bytes());
        self.extra_headers.extend_from_slice(b"\r\n");
    }

    /// A 405 with its JSON error body and the `Allow` header listing the methods the path takes
    /// (e.g. `"GET, HEAD"`).
    pub fn set_method_not_allowed(&mut self, endpoint: Endpoint, allow: &str) {
        self.set_error(endpoint, 405, "method not allowed", "method");
        self.extra_headers.extend_from_slice(b"Allow: ");
        self.extra_headers.extend_from_slice(allow.as_bytes());
        self.extra_headers.extend_from_slice(b"\r\n");
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
    use super::conn::write_response;
    use super::{Endpoint, Response};

    fn framed(response: &Response) -> String {
        let mut output = Vec::new();
        write_response(&mut output, response, true, false);
        String::from_utf8(output).expect("ASCII")
    }

    #[test]
    fn redirects_carry_their_location_and_no_body() {
        let mut response = Response::default();
        response.body.extend_from_slice(b"stale");
        response.set_redirect(Endpoint::Click, "https://brand.test/landing?c=1");
        assert_eq!(response.endpoint, Endpoint::Click);
        assert_eq!(
            framed(&response),
            "HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\
             Location: https://brand.test/landing?c=1\r\n\r\n"
        );
    }

    #[test]
    fn method_not_allowed_lists_the_allowed_methods() {
        for allow in ["POST", "GET", "GET, HEAD"] {
            let mut response = Response::default();
            response.set_method_not_allowed(Endpoint::Other, allow);
            assert_eq!(response.endpoint, Endpoint::Other);
            let body = r#"{"error":"method not allowed","field":"method"}"#;
            assert_eq!(
                framed(&response),
                format!(
                    "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: {}\r\n\
                     Content-Type: application/json\r\nAllow: {allow}\r\n\r\n{body}",
                    body.len()
                )
            );
        }
    }

    #[test]
    fn reset_forgets_the_extra_headers() {
        let mut response = Response::default();
        response.set_redirect(Endpoint::Click, "https://brand.test/");
        response.reset();
        response.set_empty(Endpoint::Win, 204);
        assert_eq!(framed(&response), "HTTP/1.1 204 No Content\r\n\r\n");
    }
}
