//! Test support: an in-process server on loopback ports and a tiny blocking HTTP/1.1 client
//! that can send exactly the bytes a test wants (pipelined, truncated, garbage).
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use adshard::campaign::CampaignData;
use adshard::config::Config;
use adshard::server::{self, ServerHandle};

/// A server started for one test; shut down and joined on drop.
pub struct TestServer {
    pub handle: Option<ServerHandle>,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
}

impl TestServer {
    /// One shard on a free loopback port unless `configure` says otherwise, with no campaigns:
    /// every valid bid request is a no-bid (204), so HTTP behaviour is tested alone. The escape
    /// valve is off unless `configure` turns it on.
    pub fn start(configure: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::start_with_campaigns(configure, CampaignData::default())
    }

    /// Like `start`, serving `campaigns`.
    pub fn start_with_campaigns(
        configure: impl FnOnce(&mut Config),
        campaigns: CampaignData,
    ) -> TestServer {
        let mut config = Config::default();
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        config.server.admin_listen = "127.0.0.1:0".parse().unwrap();
        config.server.shards = 1;
        // The escape valve reacts to this machine's load, not to what a test sends: on a busy
        // CI host it can decide a request where it landed instead of on its user's owner, or
        // shed it (routing_serves_on_owner_shard failed so once). Tests of the valve turn it
        // on themselves.
        config.overload.enabled = false;
        configure(&mut config);
        let handle = server::start_with(config, campaigns).expect("server starts");
        let addr = handle.listen_addr();
        let admin = handle.admin_addr();
        TestServer {
            handle: Some(handle),
            addr,
            admin,
        }
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Prometheus text from the admin port.
    pub fn metrics(&self) -> String {
        let mut client = Client::connect(self.admin);
        client.send(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
        let response = client.read_response().expect("metrics answer");
        assert_eq!(response.status, 200);
        String::from_utf8(response.body).unwrap()
    }

    /// Sum of a metric's samples whose label set contains every one of `labels`.
    pub fn metric_sum(&self, name: &str, labels: &[&str]) -> u64 {
        metric_sum(&self.metrics(), name, labels)
    }
}

pub fn metric_sum(text: &str, name: &str, labels: &[&str]) -> u64 {
    text.lines()
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with('{'))
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown();
            assert!(handle.join(), "every executor ends cleanly");
        }
    }
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// A blocking client over one connection.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// Every read in a test gives up after this long, so a server bug fails a test instead of
/// hanging it.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    pub fn post(&mut self, path: &str, body: &[u8]) -> HttpResponse {
        self.send(&post_bytes(path, body));
        self.read_response().expect("a response")
    }

    pub fn get(&mut self, path: &str) -> HttpResponse {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        self.read_response().expect("a response")
    }

    /// Reads one response; None when the server closed the connection first.
    pub fn read_response(&mut self) -> Option<HttpResponse> {
        self.read_response_framed(false)
    }

    /// Reads the response to a HEAD request: its Content-Length describes a body not sent.
    pub fn read_head_response(&mut self) -> Option<HttpResponse> {
        self.read_response_framed(true)
    }

    fn read_response_framed(&mut self, head_only: bool) -> Option<HttpResponse> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut parsed = httparse::Response::new(&mut headers);
            if let Ok(httparse::Status::Complete(head_len)) = parsed.parse(&self.buf) {
                let status = parsed.code.unwrap();
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .map(|(_, v)| v.parse().unwrap())
                    .unwrap_or(0);
                let length = if head_only { 0 } else { length };
                while self.buf.len() < head_len + length {
                    if !self.fill() {
                        return None;
                    }
                }
                let body = self.buf[head_len..head_len + length].to_vec();
                self.buf.drain(..head_len + length);
                return Some(HttpResponse {
                    status,
                    headers,
                    body,
                });
            }
            if !self.fill() {
                return None;
            }
        }
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => false,
            Err(e) => panic!("read failed: {e}"),
        }
    }

    /// True once the server has closed the connection (reads EOF or reset), waiting up to
    /// `within`.
    pub fn closed_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return false
                }
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }
}

pub fn post_bytes(path: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A typical banner bid request (written for these tests, OpenRTB 2.6).
pub const BANNER_REQUEST: &str = r#"{
  "id": "req-banner-1",
  "at": 1,
  "tmax": 120,
  "cur": ["USD"],
  "imp": [{
    "id": "1",
    "tagid": "leaderboard-top",
    "bidfloor": 0.25,
    "bidfloorcur": "USD",
    "secure": 1,
    "banner": {"w": 300, "h": 250, "pos": 1, "format": [{"w": 300, "h": 250}, {"w": 320, "h": 50}]}
  }],
  "site": {
    "id": "site-77",
    "domain": "news.example.com",
    "page": "https://news.example.com/world/article-1",
    "cat": ["IAB12"],
    "publisher": {"id": "pub-9", "name": "Example News"}
  },
  "device": {
    "ua": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
    "ip": "203.0.113.7",
    "devicetype": 4,
    "os": "iOS",
    "geo": {"country": "USA", "region": "CA"}
  },
  "user": {"id": "user-abc-123"},
  "bcat": ["IAB25", "IAB26"],
  "badv": ["blocked.example"]
}"#;
