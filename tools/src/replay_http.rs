//! One blocking keep-alive HTTP/1.1 client connection for `adshard-replay`: write a request,
//! read exactly one response, keep the socket for the next one.
//!
//! Replay is a profiling tool that runs next to the server, not a request path, so a plain
//! `std::net::TcpStream` per thread is enough and keeps the tool free of an async runtime; the
//! response head is parsed by `httparse` rather than by hand. Pipelining is never used, so a
//! connection carries one request at a time, as the bidders and exchanges we emulate do.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Largest response head (status line and headers) accepted; adshard's heads are a few hundred
/// bytes, so anything near this is a protocol error, not a response.
pub const RESPONSE_HEAD_BYTES_MAX: usize = 16 * 1024;
/// Most headers in one response head (httparse needs a fixed array).
pub const RESPONSE_HEADERS_MAX: usize = 64;
/// Largest response body accepted; bid responses are kilobytes, a larger one is a runaway.
pub const RESPONSE_BODY_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Read chunk size: one typical response fits in one read.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// Why one exchange failed, as a sentence for the report.
#[derive(Debug)]
pub struct ExchangeError {
    pub message: String,
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExchangeError {}

/// How an attempt failed: `Stale` is a kept-alive socket the server had already closed (the
/// request never reached it, so sending it again on a new connection is what any HTTP client
/// does); `Failed` is anything else, which is reported.
enum Attempt {
    Stale(String),
    Failed(String),
}

pub struct Connection {
    addr: SocketAddr,
    timeout: Duration,
    stream: Option<TcpStream>,
    /// Reused across responses so that steady-state replay does not allocate per request.
    buffer: Vec<u8>,
}

impl Connection {
    /// Connects now, so that a wrong address fails before the replay starts and connection
    /// setup does not count as lag on the first requests.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<Connection> {
        let mut connection = Connection {
            addr,
            timeout,
            stream: None,
            buffer: Vec::with_capacity(READ_CHUNK_BYTES),
        };
        connection.stream = Some(connection.open()?);
        Ok(connection)
    }

    fn open(&self) -> io::Result<TcpStream> {
        let stream = TcpStream::connect_timeout(&self.addr, self.timeout)?;
        // Requests are written in one `write_all`; Nagle would only add delay to the next one.
        stream.set_nodelay(true)?;
        // Without timeouts a stalled server would hang the replay forever.
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        Ok(stream)
    }

    /// Sends `request` (a complete HTTP/1.1 request) and returns the response status. On any
    /// error the socket is dropped and the next exchange reconnects: a connection that failed
    /// half-way is never reused half-read.
    pub fn exchange(&mut self, request: &[u8]) -> Result<u16, ExchangeError> {
        let reused = self.stream.is_some();
        match self.attempt(request) {
            Ok(status) => Ok(status),
            Err(Attempt::Stale(_)) if reused => match self.attempt(request) {
                Ok(status) => Ok(status),
                Err(Attempt::Stale(message) | Attempt::Failed(message)) => {
                    Err(ExchangeError { message })
                }
            },
            Err(Attempt::Stale(message) | Attempt::Failed(message)) => {
                Err(ExchangeError { message })
            }
        }
    }

    fn attempt(&mut self, request: &[u8]) -> Result<u16, Attempt> {
        if self.stream.is_none() {
            let stream = self
                .open()
                .map_err(|error| Attempt::Failed(format!("connect {}: {error}", self.addr)))?;
            self.stream = Some(stream);
        }
        let result = self.write_and_read(request);
        match &result {
            Ok((_, keep_alive)) if *keep_alive => {}
            _ => self.stream = None,
        }
        result.map(|(status, _)| status)
    }

    /// Returns the status and whether the connection may carry another request.
    fn write_and_read(&mut self, request: &[u8]) -> Result<(u16, bool), Attempt> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(Attempt::Failed("no connection".to_owned()));
        };
        if let Err(error) = stream.write_all(request) {
            return Err(match error.kind() {
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => {
                    Attempt::Stale(format!("write: {error}"))
                }
                _ => Attempt::Failed(format!("write: {error}")),
            });
        }
        self.buffer.clear();
        let head = loop {
            let n = read_some(stream, &mut self.buffer).map_err(|error| {
                if self.buffer.is_empty() && error.kind() == io::ErrorKind::ConnectionReset {
                    Attempt::Stale(format!("read: {error}"))
                } else {
                    Attempt::Failed(format!("read: {error}"))
                }
            })?;
            if n == 0 {
                return Err(if self.buffer.is_empty() {
                    Attempt::Stale("connection closed before a response".to_owned())
                } else {
                    Attempt::Failed("connection closed inside a response head".to_owned())
                });
            }
            let mut headers = [httparse::EMPTY_HEADER; RESPONSE_HEADERS_MAX];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buffer) {
                Ok(httparse::Status::Complete(head_len)) => {
                    break parse_head(&response, head_len).map_err(Attempt::Failed)?;
                }
                Ok(httparse::Status::Partial) => {
                    if self.buffer.len() > RESPONSE_HEAD_BYTES_MAX {
                        return Err(Attempt::Failed(format!(
                            "response head over {RESPONSE_HEAD_BYTES_MAX} bytes"
                        )));
                    }
                }
                Err(error) => return Err(Attempt::Failed(format!("bad response head: {error}"))),
            }
        };
        let received = self.buffer.len() - head.head_len;
        match head.body {
            Body::Length(length) => {
                if received > length {
                    return Err(Attempt::Failed(
                        "bytes after the response body (the server answered twice?)".to_owned(),
                    ));
                }
                let mut remaining = length - received;
                while remaining > 0 {
                    self.buffer.clear();
                    let n = read_some(stream, &mut self.buffer)
                        .map_err(|error| Attempt::Failed(format!("read body: {error}")))?;
                    if n == 0 {
                        return Err(Attempt::Failed(
                            "connection closed inside a response body".to_owned(),
                        ));
                    }
                    if n > remaining {
                        return Err(Attempt::Failed(
                            "bytes after the response body (the server answered twice?)".to_owned(),
                        ));
                    }
                    remaining -= n;
                }
                Ok((head.status, head.keep_alive))
            }
            Body::UntilClose => {
                let mut total = received;
                loop {
                    self.buffer.clear();
                    let n = read_some(stream, &mut self.buffer)
                        .map_err(|error| Attempt::Failed(format!("read body: {error}")))?;
                    if n == 0 {
                        break;
                    }
                    total += n;
                    if total > RESPONSE_BODY_BYTES_MAX {
                        return Err(Attempt::Failed(format!(
                            "response body over {RESPONSE_BODY_BYTES_MAX} bytes"
                        )));
                    }
                }
                Ok((head.status, false))
            }
        }
    }
}

/// Appends what one `read` returns to `buffer`.
fn read_some(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> io::Result<usize> {
    let start = buffer.len();
    buffer.resize(start + READ_CHUNK_BYTES, 0);
    let result = loop {
        match stream.read(&mut buffer[start..]) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    buffer.truncate(start + *result.as_ref().unwrap_or(&0));
    result
}

enum Body {
    Length(usize),
    /// No Content-Length on a response that has a body: it ends when the server closes.
    UntilClose,
}

struct Head {
    status: u16,
    head_len: usize,
    body: Body,
    keep_alive: bool,
}

fn parse_head(response: &httparse::Response<'_, '_>, head_len: usize) -> Result<Head, String> {
    let status = response.code.ok_or("response without a status")?;
    let mut content_length = None;
    // HTTP/1.1 is keep-alive unless the server says otherwise; HTTP/1.0 is the reverse.
    let mut keep_alive = response.version == Some(1);
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let length = std::str::from_utf8(header.value)
                .ok()
                .and_then(|value| value.trim().parse::<usize>().ok())
                .ok_or("bad Content-Length")?;
            if length > RESPONSE_BODY_BYTES_MAX {
                return Err(format!(
                    "response body over {RESPONSE_BODY_BYTES_MAX} bytes"
                ));
            }
            content_length = Some(length);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            // adshard always sends Content-Length; a chunked decoder would be dead code here.
            return Err("chunked responses are not supported".to_owned());
        } else if header.name.eq_ignore_ascii_case("connection") {
            let value = String::from_utf8_lossy(header.value);
            if value.eq_ignore_ascii_case("close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                keep_alive = true;
            }
        }
    }
    // RFC 9112 section 6.3: these responses never carry a body, whatever the headers say.
    let body = if status == 204 || status == 304 || (100..200).contains(&status) {
        Body::Length(0)
    } else {
        match content_length {
            Some(length) => Body::Length(length),
            None => Body::UntilClose,
        }
    };
    if matches!(body, Body::UntilClose) {
        keep_alive = false;
    }
    Ok(Head {
        status,
        head_len,
        body,
        keep_alive,
    })
}
