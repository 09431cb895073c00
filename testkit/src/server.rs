//! An adshard server started in-process on loopback ports for one test, and a small blocking
//! HTTP/1.1 client that can send exactly the bytes a test wants (pipelined, truncated,
//! garbage) and times each answer from the end of its request. The engine's HTTP, tracking,
//! budget and bidder tests all drive the server through these, so that a change in how a
//! server is started for a test is made once.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::Deref;
use std::time::{Duration, Instant};

use adshard::campaign::CampaignData;
use adshard::config::Config;
use adshard::server::{self, ServerHandle};

/// Every read in a test gives up after this long, so a server bug fails a test instead of
/// hanging it. Far above any deadline under test.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Most headers of a response the client reads; the server writes fewer than ten.
const RESPONSE_HEADERS_MAX: usize = 32;
/// One read's worth; a usual answer fits in one.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// A server started for one test; shut down and joined on drop.
pub struct TestServer {
    pub handle: Option<ServerHandle>,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    /// The event-log directory the server was given when the test did not choose one: made
    /// for this server, removed with it.
    events_dir: Option<std::path::PathBuf>,
}

/// A fresh event-log directory for one in-process server: tests run many servers in one
/// process, and each needs its own (a directory has one writer).
fn fresh_events_dir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "adshard-events-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
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
        config.server.listen = "127.0.0.1:0".parse().expect("address");
        config.server.admin_listen = "127.0.0.1:0".parse().expect("address");
        config.server.shards = 1;
        // The escape valve reacts to this machine's load, not to what a test sends: on a busy
        // CI host it can decide a request where it landed instead of on its user's owner, or
        // shed it (routing_serves_on_owner_shard failed so once). Tests of the valve turn it
        // on themselves.
        config.overload.enabled = false;
        let own_dir = fresh_events_dir();
        config.events.dir = own_dir.clone();
        configure(&mut config);
        let events_dir = (config.events.dir == own_dir).then_some(own_dir);
        let handle = server::start_with(config, campaigns).expect("server starts");
        let addr = handle.listen_addr();
        let admin = handle.admin_addr();
        TestServer {
            handle: Some(handle),
            addr,
            admin,
            events_dir,
        }
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Prometheus text from the admin port.
    pub fn metrics(&self) -> Metrics {
        let mut client = Client::connect(self.admin);
        let response = client.get("/metrics");
        assert_eq!(response.status, 200, "GET /metrics");
        Metrics(String::from_utf8(response.body).expect("metrics are UTF-8"))
    }

    /// `GET /stats` from the admin port (per campaign spend and counts), parsed.
    pub fn stats(&self) -> serde_json::Value {
        let response = Client::connect(self.admin).get("/stats");
        assert_eq!(response.status, 200, "GET /stats");
        response.json()
    }

    /// [`metric_sum`] over a fresh scrape.
    pub fn metric_sum(&self, name: &str, labels: &[&str]) -> u64 {
        metric_sum(&self.metrics(), name, labels)
    }

    /// Polls `/metrics` until `name{labels}` sums to `want`: tracking events reach their owner
    /// shard asynchronously. Panics with the last value after 10 s.
    pub fn wait_metric(&self, name: &str, labels: &[&str], want: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.metric_sum(name, labels);
            if got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name}{labels:?} is {got}, want {want}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `GET /healthz` on the public port.
    pub fn healthz(&self) -> u16 {
        Client::connect(self.addr).get("/healthz").status
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown();
            let clean = handle.join();
            // Not while unwinding: a second panic would abort and hide the first failure.
            if !std::thread::panicking() {
                assert!(clean, "every executor ends cleanly");
            }
        }
        if let Some(dir) = self.events_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Sum of a metric's samples whose line contains every one of `labels` as text (a label
/// `key="value"`, or any part of the line such as a campaign id); 0 when there is none.
pub fn metric_sum(text: &str, name: &str, labels: &[&str]) -> u64 {
    text.lines()
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with('{'))
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The text of one scrape; it reads as a `str` for [`metric_sum`] and `contains`.
#[derive(Debug, Clone)]
pub struct Metrics(pub String);

impl Deref for Metrics {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Metrics {
    /// Sum of the samples of `name` whose labels include every one of `labels`, each written
    /// `key="value"` and matched whole (unlike [`metric_sum`], `bidder="a"` does not match
    /// `bidder="ab"`); 0 when there is none.
    pub fn sum(&self, name: &str, labels: &[&str]) -> u64 {
        self.0
            .lines()
            .filter(|line| {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{'))
            })
            .filter(|line| {
                let labels_text = line.split('}').next().unwrap_or("");
                labels.iter().all(|label| {
                    labels_text
                        .split(['{', ','])
                        .any(|written| written == *label)
                })
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    /// A per-bidder counter such as `adshard_bidder_timeouts_total`.
    pub fn bidder(&self, name: &str, bidder: &str) -> u64 {
        self.sum(name, &[&format!("bidder=\"{bidder}\"")])
    }

    /// `adshard_bidder_errors_total{bidder, error}`.
    pub fn bidder_error(&self, bidder: &str, error: &str) -> u64 {
        self.sum(
            "adshard_bidder_errors_total",
            &[
                &format!("bidder=\"{bidder}\""),
                &format!("error=\"{error}\""),
            ],
        )
    }

    /// `adshard_bidder_bids_rejected_total{bidder, reason}`.
    pub fn bidder_rejected(&self, bidder: &str, reason: &str) -> u64 {
        self.sum(
            "adshard_bidder_bids_rejected_total",
            &[
                &format!("bidder=\"{bidder}\""),
                &format!("reason=\"{reason}\""),
            ],
        )
    }

    /// Every non-zero line mentioning `bidder`, for failure messages.
    pub fn bidder_lines(&self, bidder: &str) -> String {
        let needle = format!("bidder=\"{bidder}\"");
        self.0
            .lines()
            .filter(|line| line.contains(&needle) && !line.ends_with(" 0"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// One HTTP response as the client saw it.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// From the last byte of the request written to the last byte of the response read.
    pub elapsed: Duration,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "answer is not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The only bid of a 200 answer.
    pub fn only_bid(&self) -> serde_json::Value {
        assert_eq!(
            self.status,
            200,
            "expected a bid, got {}: {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        let json = self.json();
        let bids: Vec<&serde_json::Value> = json["seatbid"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|seat| seat["bid"].as_array().into_iter().flatten())
            .collect();
        assert_eq!(bids.len(), 1, "one bid expected: {json}");
        bids[0].clone()
    }
}

/// A blocking client over one connection; responses are framed by Content-Length (all the
/// server sends).
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
    /// When the last `send` finished: what [`HttpResponse::elapsed`] counts from.
    sent: Instant,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Client::try_connect(addr).expect("connect")
    }

    /// Like [`Client::connect`], an error instead of a panic when nothing listens (a server a
    /// test killed).
    pub fn try_connect(addr: SocketAddr) -> std::io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            buf: Vec::new(),
            sent: Instant::now(),
        })
    }

    /// Sends `bytes` and reads one answer, with an error instead of a panic when the write
    /// fails, or a read fails, times out or meets the end of the connection before a whole
    /// answer: for a server that may be killed while the call is in flight.
    pub fn try_exchange(&mut self, bytes: &[u8]) -> std::io::Result<HttpResponse> {
        self.stream.write_all(bytes)?;
        self.sent = Instant::now();
        self.try_read_response_framed(false)?.ok_or_else(|| {
            std::io::Error::new(
                ErrorKind::UnexpectedEof,
                "the connection ended before a whole answer",
            )
        })
    }

    /// Writes `bytes` in one call.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
        self.sent = Instant::now();
    }

    pub fn post(&mut self, path: &str, body: &[u8]) -> HttpResponse {
        self.send(&post_bytes(path, body));
        self.read_response().expect("a response")
    }

    pub fn get(&mut self, path: &str) -> HttpResponse {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        self.read_response().expect("a response")
    }

    /// POSTs `body` to the auction endpoint as an OpenRTB 2.6 request.
    pub fn auction(&mut self, body: &str) -> HttpResponse {
        let mut bytes = format!(
            "POST /openrtb2/auction HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
             x-openrtb-version: 2.6\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        self.send(&bytes);
        self.read_response()
            .expect("the server closed the connection before a full answer")
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
        self.try_read_response_framed(head_only)
            .unwrap_or_else(|e| panic!("read failed: {e}"))
    }

    /// One response; `Ok(None)` when the server closed the connection first.
    fn try_read_response_framed(
        &mut self,
        head_only: bool,
    ) -> std::io::Result<Option<HttpResponse>> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; RESPONSE_HEADERS_MAX];
            let mut parsed = httparse::Response::new(&mut headers);
            if let Ok(httparse::Status::Complete(head_len)) = parsed.parse(&self.buf) {
                let status = parsed.code.expect("a status");
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
                    .map(|(_, v)| v.trim().parse().expect("Content-Length is a number"))
                    .unwrap_or(0);
                let length = if head_only { 0 } else { length };
                while self.buf.len() < head_len + length {
                    if !self.try_fill()? {
                        return Ok(None);
                    }
                }
                let body = self.buf[head_len..head_len + length].to_vec();
                self.buf.drain(..head_len + length);
                return Ok(Some(HttpResponse {
                    status,
                    headers,
                    body,
                    elapsed: self.sent.elapsed(),
                }));
            }
            if !self.try_fill()? {
                return Ok(None);
            }
        }
    }

    /// One read into the buffer; false once the server has closed (EOF or reset), an error
    /// when the read fails otherwise (a timeout included).
    fn try_fill(&mut self) -> std::io::Result<bool> {
        let mut chunk = [0u8; READ_CHUNK_BYTES];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(false),
                Err(e) => return Err(e),
            }
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
