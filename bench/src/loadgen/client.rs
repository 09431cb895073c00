//! A minimal keep-alive HTTP/1.1 client connection for the generator: write a prepared
//! request, read one response (status line and headers with `httparse`, then the body by
//! `Content-Length` or until close), repeat. One request at a time per connection, no
//! pipelining. Buffers are allocated once per connection; the request path does not allocate.
//!
//! Chunked responses (`Transfer-Encoding: chunked`) are not decoded: they count as a parse
//! error and the connection is reopened. The servers this measures (adshard, nginx with a
//! static response) always send `Content-Length`.

use std::net::SocketAddr;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use crate::loadgen::stats::ErrorKind;

/// A response head larger than this is a parse error: real heads are a few hundred bytes.
pub const RESPONSE_HEAD_BYTES_MAX: usize = 16 * 1024;
/// Headers parsed per response; more is a parse error (Pingora uses 256, we need a handful).
pub const RESPONSE_HEADERS_MAX: usize = 64;
/// Bodies are read and discarded through this many bytes at a time.
pub const READ_BUFFER_BYTES: usize = 16 * 1024;

const _: () = assert!(READ_BUFFER_BYTES >= RESPONSE_HEAD_BYTES_MAX);

/// A response that was read completely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
}

/// How the body of a response is delimited.
enum BodyLength {
    Exact(usize),
    UntilClose,
}

/// One connection to the target, opened lazily and reopened after any error.
pub struct Connection {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buffer: Box<[u8]>,
    /// Bytes at the start of `buffer` received but not yet consumed.
    filled: usize,
}

impl Connection {
    pub fn new(addr: SocketAddr) -> Connection {
        Connection {
            addr,
            stream: None,
            buffer: vec![0; READ_BUFFER_BYTES].into_boxed_slice(),
            filled: 0,
        }
    }

    pub fn is_open(&self) -> bool {
        self.stream.is_some()
    }

    /// Opens the connection if it is not open.
    pub async fn connect(&mut self) -> Result<(), ErrorKind> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.addr)
                .await
                .map_err(|_| ErrorKind::Connect)?;
            let _ = stream.set_nodelay(true);
            self.stream = Some(stream);
            self.filled = 0;
        }
        Ok(())
    }

    /// Drops the connection; the next exchange reconnects. Used after errors and timeouts,
    /// when the stream may hold part of a response.
    pub fn reset(&mut self) {
        self.stream = None;
        self.filled = 0;
    }

    /// Sends `request` and reads its response. On error the connection is closed.
    pub async fn exchange(&mut self, request: &[u8]) -> Result<Response, ErrorKind> {
        self.connect().await?;
        let result = self.exchange_open(request).await;
        if result.is_err() {
            self.reset();
        }
        result
    }

    async fn exchange_open(&mut self, request: &[u8]) -> Result<Response, ErrorKind> {
        let Connection {
            stream: Some(stream),
            buffer,
            filled,
            ..
        } = self
        else {
            unreachable!("exchange_open runs on an open connection");
        };
        stream.write_all(request).await.map_err(|_| ErrorKind::Io)?;
        loop {
            let (head_len, status, body_length, close) = read_head(stream, buffer, filled).await?;
            consume(buffer, filled, head_len);
            match body_length {
                BodyLength::Exact(length) => skip_body(stream, buffer, filled, length).await?,
                BodyLength::UntilClose => {
                    *filled = 0;
                    loop {
                        match stream.read(buffer).await {
                            Ok(0) => break,
                            Ok(_) => {}
                            Err(_) => return Err(ErrorKind::Io),
                        }
                    }
                    self.reset();
                    return Ok(Response { status });
                }
            }
            // Interim responses (100 Continue, 103 Early Hints) precede the real one.
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            if close {
                self.reset();
            }
            return Ok(Response { status });
        }
    }
}

/// Drops the first `n` buffered bytes, keeping what follows them.
fn consume(buffer: &mut [u8], filled: &mut usize, n: usize) {
    debug_assert!(n <= *filled);
    buffer.copy_within(n..*filled, 0);
    *filled -= n;
}

/// Reads until a complete response head is buffered; returns its length, status, how its body
/// is delimited and whether the server will close the connection.
async fn read_head(
    stream: &mut TcpStream,
    buffer: &mut [u8],
    filled: &mut usize,
) -> Result<(usize, u16, BodyLength, bool), ErrorKind> {
    loop {
        if *filled > 0 {
            let mut headers = [httparse::EMPTY_HEADER; RESPONSE_HEADERS_MAX];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&buffer[..*filled]) {
                Ok(httparse::Status::Complete(head_len)) => {
                    let status = response.code.ok_or(ErrorKind::Parse)?;
                    let mut content_length = None;
                    let mut close = response.version == Some(0);
                    for header in response.headers.iter() {
                        if header.name.eq_ignore_ascii_case("content-length") {
                            let length = std::str::from_utf8(header.value)
                                .ok()
                                .and_then(|value| value.trim().parse::<usize>().ok())
                                .ok_or(ErrorKind::Parse)?;
                            content_length = Some(length);
                        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                            if !header.value.eq_ignore_ascii_case(b"identity") {
                                return Err(ErrorKind::Parse);
                            }
                        } else if header.name.eq_ignore_ascii_case("connection") {
                            if header.value.eq_ignore_ascii_case(b"close") {
                                close = true;
                            } else if header.value.eq_ignore_ascii_case(b"keep-alive") {
                                close = false;
                            }
                        }
                    }
                    let no_body = (100..200).contains(&status) || status == 204 || status == 304;
                    let body_length = match (no_body, content_length) {
                        (true, _) => BodyLength::Exact(0),
                        (false, Some(length)) => BodyLength::Exact(length),
                        (false, None) => BodyLength::UntilClose,
                    };
                    return Ok((head_len, status, body_length, close));
                }
                Ok(httparse::Status::Partial) => {}
                Err(_) => return Err(ErrorKind::Parse),
            }
        }
        if *filled >= RESPONSE_HEAD_BYTES_MAX {
            return Err(ErrorKind::Parse);
        }
        match stream
            .read(&mut buffer[*filled..RESPONSE_HEAD_BYTES_MAX])
            .await
        {
            Ok(0) | Err(_) => return Err(ErrorKind::Io),
            Ok(n) => *filled += n,
        }
    }
}

/// Consumes a body of `length` bytes, of which some may already be buffered.
async fn skip_body(
    stream: &mut TcpStream,
    buffer: &mut [u8],
    filled: &mut usize,
    length: usize,
) -> Result<(), ErrorKind> {
    if *filled >= length {
        buffer.copy_within(length..*filled, 0);
        *filled -= length;
        return Ok(());
    }
    let mut remaining = length - *filled;
    *filled = 0;
    while remaining > 0 {
        let chunk = remaining.min(buffer.len());
        match stream.read(&mut buffer[..chunk]).await {
            Ok(0) | Err(_) => return Err(ErrorKind::Io),
            Ok(n) => remaining -= n,
        }
    }
    Ok(())
}
