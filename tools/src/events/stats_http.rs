//! The one HTTP request `adshard-events check` makes: `GET /stats` on the server's admin port,
//! over a plain `std::net::TcpStream` (HTTP/1.1, `Connection: close`, the response head parsed
//! by `httparse`). Only 127.0.0.0/8 is accepted, and `localhost` is taken as 127.0.0.1 without
//! asking a resolver: the check reads the log of the machine it runs on, so it must compare it
//! with the server on that machine and no other.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::time::Duration;

use anyhow::{bail, ensure, Context};

/// Largest `/stats` response read: a catalog of a million campaigns at ~200 bytes each.
pub const RESPONSE_BYTES_MAX: u64 = 256 << 20;
/// Most headers in the response head.
const RESPONSE_HEADERS_MAX: usize = 64;
/// Connect, write and read timeout.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Where to fetch `/stats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsUrl {
    pub addr: SocketAddrV4,
    /// The URL's authority, sent as `Host`.
    pub host_header: String,
    pub path: String,
}

/// Parses `http://HOST[:PORT][/PATH]` (path `/stats` when absent), refusing any host outside
/// 127.0.0.0/8.
pub fn parse_stats_url(url: &str) -> anyhow::Result<StatsUrl> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("--stats must start with http:// (the admin port speaks plain HTTP)");
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/stats"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse::<u16>()
                .with_context(|| format!("--stats: bad port {port:?}"))?,
        ),
        None => (authority, 80),
    };
    let ip = if host.eq_ignore_ascii_case("localhost") {
        Ipv4Addr::LOCALHOST
    } else {
        host.parse::<Ipv4Addr>()
            .ok()
            .filter(|ip| ip.octets()[0] == 127)
            .with_context(|| {
                format!(
                    "refusing --stats host {host:?}: adshard-events only asks 127.0.0.0/8 (or \
                 localhost), the server whose log it reads"
                )
            })?
    };
    ensure!(
        !path
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control()),
        "--stats: the path must not contain spaces or control characters"
    );
    Ok(StatsUrl {
        addr: SocketAddrV4::new(ip, port),
        host_header: authority.to_owned(),
        path: path.to_owned(),
    })
}

/// Fetches the URL and returns the body of its 200 response.
pub fn get(url: &StatsUrl) -> anyhow::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&url.addr.into(), TIMEOUT)
        .with_context(|| format!("connecting to {}", url.addr))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        url.path, url.host_header
    );
    stream
        .write_all(request.as_bytes())
        .context("sending the request")?;
    let mut response = Vec::new();
    stream
        .take(RESPONSE_BYTES_MAX + 1)
        .read_to_end(&mut response)
        .context("reading the response")?;
    ensure!(
        response.len() as u64 <= RESPONSE_BYTES_MAX,
        "the response is larger than {RESPONSE_BYTES_MAX} bytes"
    );
    body_of(&response).map(<[u8]>::to_vec)
}

/// The body of a whole HTTP/1.1 response read until the server closed: 200 only, framed by
/// `Content-Length` or by the close.
pub fn body_of(response: &[u8]) -> anyhow::Result<&[u8]> {
    let mut headers = [httparse::EMPTY_HEADER; RESPONSE_HEADERS_MAX];
    let mut parsed = httparse::Response::new(&mut headers);
    let head_len = match parsed
        .parse(response)
        .context("a malformed response head")?
    {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => bail!("the connection closed inside the response head"),
    };
    let status = parsed.code.unwrap_or(0);
    ensure!(status == 200, "the server answered {status}, not 200");
    let header = |name: &str| {
        parsed
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    ensure!(
        header("transfer-encoding").is_none(),
        "the response is chunked, which this client does not read"
    );
    let body = &response[head_len..];
    let Some(length) = header("content-length") else {
        return Ok(body);
    };
    let length: usize = std::str::from_utf8(length)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .context("a malformed Content-Length")?;
    body.get(..length)
        .context("the connection closed before the whole body arrived")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_v4_is_accepted() {
        let url = parse_stats_url("http://127.0.0.1:9090/stats").unwrap();
        assert_eq!(url.addr, "127.0.0.1:9090".parse().unwrap());
        assert_eq!(url.path, "/stats");
        let url = parse_stats_url("http://127.1.2.3:9090").unwrap();
        assert_eq!(
            (url.path.as_str(), url.host_header.as_str()),
            ("/stats", "127.1.2.3:9090")
        );
        assert_eq!(
            parse_stats_url("http://localhost/x").unwrap().addr,
            "127.0.0.1:80".parse().unwrap()
        );
        for refused in [
            "http://10.0.0.1:9090/stats",
            "http://128.0.0.1/stats",
            "http://[::1]:9090/stats",
            "http://example.com/stats",
            "https://127.0.0.1/stats",
            "127.0.0.1:9090/stats",
            "http://127.0.0.1:99999/stats",
            "http://127.0.0.1:9090/st ats",
        ] {
            assert!(parse_stats_url(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn bodies_are_framed_by_length_or_close() {
        let framed = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}junk";
        assert_eq!(body_of(framed).unwrap(), b"{}");
        assert_eq!(body_of(b"HTTP/1.1 200 OK\r\n\r\n{}").unwrap(), b"{}");
        for bad in [
            &b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Len",
            b"garbage",
        ] {
            assert!(body_of(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
