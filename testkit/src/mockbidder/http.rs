//! The mock bidder's side of HTTP/1.1: reading a request head and its Content-Length body
//! with limits, writing a response (with a length, or chunked when asked), and closing
//! without losing the answer to an RST. Its own
//! code rather than the engine's `http`, on purpose: the mock must stay a blocking std server
//! that can be made to misbehave at any byte, and must not share a bug with the client it
//! tests.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// Largest request head (request line and headers); OpenRTB clients send a few hundred bytes,
/// so anything larger is answered 431 and closed.
pub const REQUEST_HEAD_BYTES_MAX: usize = 16 * 1024;

/// Most headers in one request head (httparse needs a fixed array); more is answered 431.
pub const REQUEST_HEADERS_MAX: usize = 64;

/// Largest request body; bid requests are kilobytes, a larger one is answered 413 unread.
pub const REQUEST_BODY_BYTES_MAX: usize = 1024 * 1024;

/// Longest one write may stall on a peer that stopped reading (e.g. half-way through an
/// oversized body) before the connection is dropped.
pub const WRITE_STALL_MAX: Duration = Duration::from_secs(10);

/// Longest a closing connection waits for the peer's close while discarding what it still
/// sends: closing with unread bytes makes the kernel send an RST, which can destroy the error
/// response (413, 400) before the peer has read it.
pub const LINGER_CLOSE_MAX: Duration = Duration::from_millis(500);

/// Most bytes discarded during that lingering close.
pub const LINGER_DRAIN_BYTES_MAX: usize = 8 * 1024 * 1024;

/// Read chunk: one usual request fits in one read.
pub(super) const READ_CHUNK_BYTES: usize = 16 * 1024;

/// What to do with the connection after a request.
pub(super) enum After {
    KeepOpen,
    /// Close after a lingering drain (the peer asked for it, or the request was malformed).
    Close,
    /// Close at once (write failed, or the bidder is stopping).
    Drop,
    /// Close with an RST.
    Reset,
    /// Answer nothing; keep the connection until the peer closes it.
    Hold,
}

/// A parsed request head; strings are copied out so the buffer can be read into again.
pub(super) struct RequestHead {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) head_len: usize,
    pub(super) content_length: usize,
    pub(super) keep_alive: bool,
    pub(super) expect_continue: bool,
}

pub(super) enum HeadOutcome {
    Ready(RequestHead),
    /// The peer closed (or the read failed) before a complete head.
    Closed,
    /// Answer this status and close.
    Reject(u16, &'static str),
}

/// Reads until `buffer` holds a complete request head and parses it.
pub(super) fn read_head(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> HeadOutcome {
    loop {
        if !buffer.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; REQUEST_HEADERS_MAX];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(buffer) {
                Ok(httparse::Status::Complete(head_len)) => {
                    if head_len > REQUEST_HEAD_BYTES_MAX {
                        return HeadOutcome::Reject(431, "request head too large\n");
                    }
                    return interpret_head(&request, head_len);
                }
                Ok(httparse::Status::Partial) => {
                    if buffer.len() >= REQUEST_HEAD_BYTES_MAX {
                        return HeadOutcome::Reject(431, "request head too large\n");
                    }
                }
                Err(httparse::Error::TooManyHeaders) => {
                    return HeadOutcome::Reject(431, "too many request headers\n");
                }
                Err(_) => return HeadOutcome::Reject(400, "malformed request head\n"),
            }
        }
        if !read_more(stream, buffer) {
            return HeadOutcome::Closed;
        }
    }
}

fn interpret_head(request: &httparse::Request<'_, '_>, head_len: usize) -> HeadOutcome {
    // HTTP/1.1 keeps connections alive unless told otherwise; HTTP/1.0 only when told.
    let mut keep_alive = request.version == Some(1);
    let mut content_length: Option<usize> = None;
    let mut expect_continue = false;
    for header in request.headers.iter() {
        let value = String::from_utf8_lossy(header.value);
        let value = value.trim();
        if header.name.eq_ignore_ascii_case("content-length") {
            if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
                return HeadOutcome::Reject(400, "invalid Content-Length\n");
            }
            // All digits, so a parse error can only be an overflow: far above the cap.
            let length = value.parse::<usize>().unwrap_or(usize::MAX);
            if content_length.is_some_and(|previous| previous != length) {
                return HeadOutcome::Reject(400, "conflicting Content-Length headers\n");
            }
            content_length = Some(length);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return HeadOutcome::Reject(501, "Transfer-Encoding is not supported\n");
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',') {
                if token.trim().eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.trim().eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        } else if header.name.eq_ignore_ascii_case("expect") {
            expect_continue = value.eq_ignore_ascii_case("100-continue");
        }
    }
    let content_length = content_length.unwrap_or(0);
    if content_length > REQUEST_BODY_BYTES_MAX {
        return HeadOutcome::Reject(413, "request body too large\n");
    }
    HeadOutcome::Ready(RequestHead {
        method: request.method.unwrap_or_default().to_owned(),
        path: request.path.unwrap_or_default().to_owned(),
        head_len,
        content_length,
        keep_alive,
        expect_continue,
    })
}

/// One read appended to `buffer`; false when the peer closed or the read failed.
fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> bool {
    let mut chunk = [0_u8; READ_CHUNK_BYTES];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => {
                buffer.extend_from_slice(&chunk[..n]);
                return true;
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

pub(super) fn read_at_least(stream: &mut TcpStream, buffer: &mut Vec<u8>, len: usize) -> bool {
    while buffer.len() < len {
        if !read_more(stream, buffer) {
            return false;
        }
    }
    true
}

/// Closes the write side, then discards what the peer still sends until it closes, for at
/// most [`LINGER_CLOSE_MAX`] and [`LINGER_DRAIN_BYTES_MAX`], so the answer is not lost to an
/// RST caused by unread bytes.
pub(super) fn linger_close(stream: &mut TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER_CLOSE_MAX;
    let mut chunk = [0_u8; READ_CHUNK_BYTES];
    let mut drained = 0;
    while drained < LINGER_DRAIN_BYTES_MAX {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => drained += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

pub(super) fn response_head(
    status: u16,
    content_type: &str,
    body_len: usize,
    close: bool,
) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    // A 204 carries neither a body nor a Content-Length (RFC 9110 8.6).
    if status != 204 {
        head.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {body_len}\r\n"
        ));
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

pub(super) fn write_response(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    close: bool,
) -> io::Result<()> {
    let mut response = response_head(status, content_type, body.len(), close);
    response.extend_from_slice(body);
    stream.write_all(&response)
}

/// Data bytes per chunk of a chunked answer, in turn: one byte, a few, a typical write, and
/// 0xAB (written `AB`, upper-case hex), so a decoder meets many chunk boundaries and both
/// cases of hex digits in one answer.
const CHUNK_BYTES_CYCLE: [usize; 4] = [1, 7, 64, 0xAB];

/// `body` framed with `Transfer-Encoding: chunked` (RFC 9112 §7.1), the way streaming servers
/// send it: chunk sizes from [`CHUNK_BYTES_CYCLE`], hex in lower case and upper case in turn,
/// a chunk extension on every third chunk, and a trailer field after the last chunk.
pub(super) fn chunked_body(body: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(body.len() * 2 + 64);
    let mut rest = body;
    let mut chunk_idx = 0;
    while !rest.is_empty() {
        let size = CHUNK_BYTES_CYCLE[chunk_idx % CHUNK_BYTES_CYCLE.len()].min(rest.len());
        let (chunk, after) = rest.split_at(size);
        let size_line = if chunk_idx % 2 == 0 {
            format!("{size:x}")
        } else {
            format!("{size:X}")
        };
        framed.extend_from_slice(size_line.as_bytes());
        if chunk_idx % 3 == 0 {
            framed.extend_from_slice(b";mock-ext=\"chunk\"");
        }
        framed.extend_from_slice(b"\r\n");
        framed.extend_from_slice(chunk);
        framed.extend_from_slice(b"\r\n");
        rest = after;
        chunk_idx += 1;
    }
    framed.extend_from_slice(b"0\r\nX-Mock-Trailer: done\r\n\r\n");
    framed
}

/// Writes a 200 whose `body` is chunked ([`chunked_body`]): the head and the first half of
/// the framed body in one write, the rest in another, so that the client reads it in pieces.
pub(super) fn respond_chunked(
    stream: &mut TcpStream,
    content_type: &str,
    body: &[u8],
    close: bool,
) -> After {
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n"
    );
    if close {
        response.push_str("Connection: close\r\n");
    }
    response.push_str("\r\n");
    let mut response = response.into_bytes();
    let framed = chunked_body(body);
    let (first, second) = framed.split_at(framed.len() / 2);
    response.extend_from_slice(first);
    let written = stream
        .write_all(&response)
        .and_then(|()| stream.flush())
        .and_then(|()| stream.write_all(second));
    match written {
        Ok(()) if close => After::Close,
        Ok(()) => After::KeepOpen,
        Err(_) => After::Drop,
    }
}

/// Writes a response and says what follows: keep-alive, close, or drop after a failed write.
pub(super) fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    close: bool,
) -> After {
    match write_response(stream, status, content_type, body, close) {
        Ok(()) if close => After::Close,
        Ok(()) => After::KeepOpen,
        Err(_) => After::Drop,
    }
}

#[cfg(test)]
mod tests {
    use super::chunked_body;

    #[test]
    fn chunked_bodies_cycle_sizes_cases_and_extensions() {
        let body: Vec<u8> = (0..250_u8).collect();
        let framed = chunked_body(&body);
        let text = String::from_utf8_lossy(&framed);
        assert!(
            text.starts_with("1;mock-ext=\"chunk\"\r\n\u{0}\r\n7\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nAB;mock-ext=\"chunk\"\r\n"), "{text}");
        assert!(
            text.ends_with("\r\n0\r\nX-Mock-Trailer: done\r\n\r\n"),
            "{text}"
        );
        assert_eq!(chunked_body(b""), b"0\r\nX-Mock-Trailer: done\r\n\r\n");
    }
}
