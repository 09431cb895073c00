//! The target of a run, parsed from its URL. Only plain `http://` URLs on loopback
//! (127.0.0.0/8 or `localhost`) are accepted: the generator exists to measure a server on this
//! host, and tests and benchmarks must never send load off the machine by a typo.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use anyhow::{bail, Context};

/// Where requests go and what the request line and `Host` header say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The URL as given, for reports.
    pub url: String,
    pub addr: SocketAddr,
    /// `Host` header value: the authority as written in the URL.
    pub host_header: String,
    /// Path and query of the request line, `/` when the URL has none.
    pub path: String,
}

impl Target {
    pub fn parse(url: &str) -> anyhow::Result<Target> {
        let rest = url
            .strip_prefix("http://")
            .with_context(|| format!("{url}: only http:// URLs are supported"))?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(idx) if rest.as_bytes()[idx] == b'/' => (&rest[..idx], &rest[idx..]),
            Some(idx) => (&rest[..idx], &rest[idx..]),
            None => (rest, "/"),
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        if authority.is_empty() || authority.contains('@') {
            bail!("{url}: expected http://HOST[:PORT]/PATH");
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => {
                let port: u16 = port
                    .parse()
                    .with_context(|| format!("{url}: bad port {port:?}"))?;
                (host, port)
            }
            None => (authority, 80),
        };
        let ip = if host.eq_ignore_ascii_case("localhost") {
            Ipv4Addr::LOCALHOST
        } else {
            let ip: Ipv4Addr = host.parse().with_context(|| {
                format!("{url}: host must be localhost or an address in 127.0.0.0/8")
            })?;
            ip
        };
        if !ip.is_loopback() {
            bail!("{url}: refusing to send load to {ip}: only loopback (127.0.0.0/8, localhost) is allowed");
        }
        if path.bytes().any(|byte| byte <= b' ' || byte == 0x7f) {
            bail!("{url}: the path must not contain spaces or control characters");
        }
        Ok(Target {
            url: url.to_string(),
            addr: SocketAddr::V4(SocketAddrV4::new(ip, port)),
            host_header: authority.to_string(),
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_parse() {
        let target = Target::parse("http://127.0.0.1:8080/openrtb2/auction").unwrap();
        assert_eq!(target.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(target.host_header, "127.0.0.1:8080");
        assert_eq!(target.path, "/openrtb2/auction");
        let target = Target::parse("http://localhost").unwrap();
        assert_eq!(target.addr, "127.0.0.1:80".parse().unwrap());
        assert_eq!(target.path, "/");
        let target = Target::parse("http://127.3.2.1:9?a=b").unwrap();
        assert_eq!(target.path, "/?a=b");
    }

    #[test]
    fn other_hosts_are_refused() {
        for url in [
            "http://10.0.0.1:80/",
            "http://example.com/",
            "https://127.0.0.1/",
            "http://user@127.0.0.1/",
            "http://0.0.0.0:80/",
            "127.0.0.1:80",
        ] {
            assert!(Target::parse(url).is_err(), "{url} accepted");
        }
    }
}
