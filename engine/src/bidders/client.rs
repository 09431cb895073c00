//! The HTTP/1.1 client a shard uses to ask one external bidder (DSP) for bids: a bounded pool
//! of keep-alive connections, warmed at shard start, and one `post` that never outlives the
//! request's deadline.
//!
//! Why a pool of our own rather than a general HTTP client: a bid request is a single POST
//! under a hard deadline of tens of milliseconds, on a thread-per-core runtime where nothing
//! may cross shards (design.md §3, §6). Opening a TCP connection per request would spend a
//! round trip of that budget, so each shard keeps, per bidder, a few connections open and
//! reuses them. Reuse is only safe when the previous exchange ended exactly at a response
//! boundary, so the rule of this module is: a connection goes back to the pool only after a
//! response was read to its last byte (a Content-Length body, a chunked body through its last
//! chunk and trailers, or a 204); a connection that timed out, failed, got something it could
//! not frame, was asked to close, or was left half-read is dropped (closed) on the spot.
//!
//! The bidder is named by an IP literal (or `localhost`): resolving names would put a blocking
//! or unbounded step on the request path, so DNS belongs to configuration time (a hostname is
//! resolved by whoever writes the config, or a future reload task), not here.
//!
//! Allocation: after warm-up a `post` allocates nothing in this module. Each connection owns
//! its read buffer (the response head, [`RESPONSE_HEAD_BYTES_MAX`]) and its write buffer
//! (grows to the largest request once), and the body is read into the caller's reused
//! `response_body` (a chunked one is decoded there through the read buffer, by
//! `http::chunked`, under the same `response_bytes_max` and the same deadline). What glommio allocates on its own is not avoided: one `Timer` per `post`
//! (an `Rc` and a timer-wheel entry) and its per-operation I/O sources. Opening a new
//! connection (after one was closed) allocates its buffers again.

use std::cell::{Cell, RefCell};
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use glommio::sync::{Permit, Semaphore};
use glommio::timer::Timer;

use crate::clock;
use crate::http::chunked::{encoded_bytes_max, ChunkedDecoder, ChunkedError};
use crate::http::client::{
    is_header_value, parse_response_head, BodyFraming, PostHead, ResponseHeadError,
    RESPONSE_HEAD_BYTES_MAX,
};

/// Hard ceiling on `PoolSettings::connections_max`, per shard and per bidder. A connection
/// carries one request at a time, so this caps one bidder's in-flight requests per core; at
/// ~20-50 ms per answer 1024 connections carry 20k+ requests a second per core, more than a
/// shard serves, and shards × bidders × this must stay under the process's file limit.
pub const CONNECTIONS_PER_POOL_MAX: usize = 1024;
/// How many requests may queue for a busy pool, per connection of the pool. A waiting request
/// can only be served after the ones ahead of it, each taking a bidder round trip; beyond a few
/// per connection it would reach its deadline before its turn, so it gives up at once with
/// `PoolExhausted` instead of holding its slot in the shard.
pub const WAITERS_PER_CONNECTION_MAX: usize = 4;
/// Initial size of a connection's write buffer: a typical bid request (1-10 KiB) and its head.
const REQUEST_BYTES_INITIAL: usize = 16 * 1024;

const _: () = assert!(CONNECTIONS_PER_POOL_MAX * WAITERS_PER_CONNECTION_MAX <= 1 << 16);
// The configuration's ceiling must be one this pool accepts, or `BidderPool::new` would assert.
const _: () = assert!(super::BIDDER_CONNECTIONS_CEILING <= CONNECTIONS_PER_POOL_MAX);

/// Where a bidder listens: an IP address (never a name, see the module doc), the `Host` header
/// to send, and the request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BidderEndpoint {
    pub addr: SocketAddr,
    pub host_header: String,
    pub path: String,
}

/// Why a bidder URL was refused; each names the URL and what to change.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum EndpointError {
    #[error("bidder URL {url:?}: only plain http:// is supported")]
    Scheme { url: String },
    #[error(
        "bidder URL {url:?}: the host must be an IP literal or `localhost` \
         (names are not resolved on the request path)"
    )]
    Host { url: String },
    #[error("bidder URL {url:?}: the port must be a number from 1 to 65535")]
    Port { url: String },
    #[error("bidder URL {url:?}: the path must be printable ASCII without spaces or fragment")]
    Path { url: String },
}

impl BidderEndpoint {
    /// Parses `http://HOST[:PORT][/PATH]` where HOST is an IPv4 literal, a bracketed IPv6
    /// literal, or `localhost` (127.0.0.1). The port defaults to 80 and the path to `/`; a
    /// query is kept as part of the path. No `https` (TLS is not in this pool), no user info.
    pub fn parse(url: &str) -> Result<BidderEndpoint, EndpointError> {
        const SCHEME: &str = "http://";
        let rest = match url.get(..SCHEME.len()) {
            Some(scheme) if scheme.eq_ignore_ascii_case(SCHEME) => &url[SCHEME.len()..],
            _ => return Err(EndpointError::Scheme { url: url.into() }),
        };
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        let host_error = || EndpointError::Host { url: url.into() };
        let port_error = || EndpointError::Port { url: url.into() };
        if authority.is_empty() || authority.contains(['@', '?', '#']) {
            return Err(host_error());
        }
        let (ip, port_text) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').ok_or_else(host_error)?;
            let ip: Ipv6Addr = host.parse().map_err(|_| host_error())?;
            let port_text = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or_else(port_error)?),
            };
            (IpAddr::V6(ip), port_text)
        } else {
            let (host, port_text) = match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            let ip = if host.eq_ignore_ascii_case("localhost") {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                IpAddr::V4(host.parse().map_err(|_| host_error())?)
            };
            (ip, port_text)
        };
        let port = match port_text {
            None => 80,
            Some(text) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
                match text.parse::<u16>() {
                    Ok(port) if port != 0 => port,
                    _ => return Err(port_error()),
                }
            }
            Some(_) => return Err(port_error()),
        };
        if !path.bytes().all(|b| b.is_ascii_graphic() && b != b'#') {
            return Err(EndpointError::Path { url: url.into() });
        }
        Ok(BidderEndpoint {
            addr: SocketAddr::new(ip, port),
            host_header: authority.to_owned(),
            path: path.to_owned(),
        })
    }
}

/// The limits of one pool (from the bidder's configuration).
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Connections open at most (idle and in use), at most [`CONNECTIONS_PER_POOL_MAX`]. A
    /// request finding them all busy waits for one until its deadline.
    pub connections_max: usize,
    /// Connections opened by `warm` at shard start (capped at `connections_max`).
    pub connections_warm: usize,
    /// Largest response body accepted; a larger one is `TooLarge` and its connection closed.
    pub response_bytes_max: usize,
    /// Longest wait for a TCP connect, even when the request's deadline is further away.
    pub connect_timeout: Duration,
}

/// What a pool did, for the shard's statistics. Monotonic counts since the pool was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolCounters {
    /// Calls to `post`.
    pub requests: u64,
    /// TCP connections established (warm-up and on demand).
    pub connects: u64,
    pub connect_errors: u64,
    /// Requests sent on a connection taken idle from the pool (warmed or kept alive), that is
    /// without a connect.
    pub reused: u64,
    /// A reused connection the bidder had closed meanwhile; the request was sent again on a
    /// fresh one (each also counts in `connects`).
    pub stale_retries: u64,
    /// Connections closed because their exchange failed or timed out (including half-read).
    pub closed_after_error: u64,
    /// Connections closed after a complete answer that did not allow reuse (`Connection:
    /// close`, HTTP/1.0, no length on an error status, bytes after the response).
    pub closed_not_reusable: u64,
    /// Requests that got no connection: too many waiting, or the deadline came first.
    pub pool_exhausted: u64,
    /// Requests whose exchange (connect, write, read) did not finish by the deadline.
    pub timeouts: u64,
    /// Answers framed with `Transfer-Encoding: chunked` and decoded to their end.
    pub chunked_responses: u64,
}

/// Why a bid request to a bidder got no usable answer. Operating errors, counted per bidder;
/// none of them is a bug of ours.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum BidderError {
    #[error("bidder did not answer within the deadline ({elapsed_us} µs)")]
    Timeout { elapsed_us: u64 },
    #[error("every connection to the bidder was busy until the deadline")]
    PoolExhausted,
    #[error("cannot connect to the bidder: {kind}")]
    Connect { kind: ErrorKind },
    #[error("I/O error with the bidder: {kind}")]
    Io { kind: ErrorKind },
    #[error("bidder answered HTTP {status}")]
    Status { status: u16 },
    #[error("bidder answer cannot be read: {reason}")]
    BadResponse { reason: &'static str },
    #[error("bidder answer is over {bytes_max} bytes")]
    TooLarge { bytes_max: usize },
    #[error("bidder closed the connection before a full answer")]
    Closed,
}

impl BidderError {
    /// The metric label of this error.
    pub fn label(&self) -> &'static str {
        match self {
            BidderError::Timeout { .. } => "timeout",
            BidderError::PoolExhausted => "pool_exhausted",
            BidderError::Connect { .. } => "connect",
            BidderError::Io { .. } => "io",
            BidderError::Status { .. } => "status",
            BidderError::BadResponse { .. } => "bad_response",
            BidderError::TooLarge { .. } => "too_large",
            BidderError::Closed => "closed",
        }
    }
}

/// A head the pool cannot frame is a bad answer of the bidder's.
impl From<ResponseHeadError> for BidderError {
    fn from(error: ResponseHeadError) -> Self {
        BidderError::BadResponse {
            reason: error.reason(),
        }
    }
}

/// One shard's pool for one bidder. Lives in the shard (`Rc`), never crosses threads.
///
/// Concurrency: `permits` holds `connections_max` permits; a request holds one from before it
/// takes a connection until it has given it back or closed it, so connections in use never
/// exceed the limit, and a new connection is opened only when no idle one exists, so open
/// ones never do either. Waiting for a permit is glommio's intrusive waiter list (no
/// allocation), bounded by [`WAITERS_PER_CONNECTION_MAX`] and by the request's deadline.
pub struct BidderPool {
    endpoint: BidderEndpoint,
    settings: PoolSettings,
    /// `POST <path> HTTP/1.1`, `Host` and `Content-Type`, written once.
    request_head: PostHead,
    /// Idle connections, most recently used last: taking the last one picks the connection
    /// least likely to have been closed by the bidder's idle timeout.
    idle: RefCell<Vec<Connection>>,
    /// Idle plus in use.
    open: Cell<usize>,
    permits: Semaphore,
    waiting: Cell<usize>,
    waiting_max: usize,
    counters: Cell<PoolCounters>,
}

impl std::fmt::Debug for BidderPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BidderPool")
            .field("endpoint", &self.endpoint)
            .field("settings", &self.settings)
            .field("idle", &self.idle())
            .field("open", &self.open())
            .field("counters", &self.counters())
            .finish()
    }
}

/// A keep-alive connection and the buffers it reuses for every exchange.
struct Connection {
    stream: TcpStream,
    /// Holds the response head (and whatever of the body arrives with it).
    input: Box<[u8]>,
    /// The request being sent: head and body, one write.
    output: Vec<u8>,
    /// Whether it has sat idle in the pool (warmed, or kept alive after an answer): the bidder
    /// may have closed it meanwhile, so a failure before any response byte is retried.
    was_idle: bool,
}

/// A connection taken from the pool. Dropping it closes the connection and counts it as closed
/// after an error: that is what happens when an exchange fails, and when the deadline cancels
/// the exchange future, wherever it stood.
struct Lease<'a> {
    pool: &'a BidderPool,
    connection: Option<Connection>,
}

impl Lease<'_> {
    fn connection(&mut self) -> &mut Connection {
        // A lease always holds its connection until it is consumed by `give_back` or `close`.
        self.connection
            .as_mut()
            .expect("a lease holds a connection until consumed")
    }

    fn give_back(mut self) {
        if let Some(mut connection) = self.connection.take() {
            connection.was_idle = true;
            let mut idle = self.pool.idle.borrow_mut();
            debug_assert!(idle.len() < self.pool.settings.connections_max);
            idle.push(connection);
        }
    }

    /// Closes without counting an error (the answer was complete but forbade reuse, or the
    /// connection turned out stale and is replaced).
    fn close(mut self, count: impl FnOnce(&mut PoolCounters)) {
        if self.connection.take().is_some() {
            self.pool.open.set(self.pool.open.get() - 1);
            self.pool.count(count);
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if self.connection.take().is_some() {
            self.pool.open.set(self.pool.open.get() - 1);
            self.pool.count(|c| c.closed_after_error += 1);
        }
    }
}

/// Where a request stood, so that the deadline can say what it interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    WaitingForConnection,
    Exchanging,
}

/// A complete answer: its status, and whether the connection may serve another request.
struct Answer {
    status: u16,
    reusable: bool,
}

enum Failure {
    /// A reused connection failed before any response byte: the bidder had closed it while it
    /// sat idle. The request is sent again on a fresh connection.
    Stale,
    Error(BidderError),
}

impl From<BidderError> for Failure {
    fn from(error: BidderError) -> Self {
        Failure::Error(error)
    }
}

/// Counts a request in the wait queue; on drop, passes on a wake-up it may have consumed.
struct WaitMark<'a> {
    pool: &'a BidderPool,
    acquired: bool,
}

impl Drop for WaitMark<'_> {
    fn drop(&mut self) {
        self.pool.waiting.set(self.pool.waiting.get() - 1);
        // glommio's semaphore wakes only as many waiters as there are free permits; a waiter
        // woken and then cancelled by its deadline before it ran would swallow that wake-up
        // and leave the next waiter asleep with a permit free. Re-signalling wakes it.
        if !self.acquired && self.pool.permits.available() > 0 {
            self.pool.permits.signal(0);
        }
    }
}

impl BidderPool {
    /// A pool with no connection yet (see `warm`). The settings are validated by the
    /// configuration; here they are asserted.
    pub fn new(endpoint: BidderEndpoint, settings: PoolSettings) -> BidderPool {
        assert!(
            (1..=CONNECTIONS_PER_POOL_MAX).contains(&settings.connections_max),
            "connections_max must be 1..={CONNECTIONS_PER_POOL_MAX}"
        );
        assert!(!settings.connect_timeout.is_zero());
        assert!(endpoint.path.bytes().all(|b| b.is_ascii_graphic()));
        assert!(endpoint.host_header.bytes().all(|b| b.is_ascii_graphic()));
        let request_head = PostHead::new(&endpoint.path, &endpoint.host_header, "application/json");
        BidderPool {
            idle: RefCell::new(Vec::with_capacity(settings.connections_max)),
            open: Cell::new(0),
            permits: Semaphore::new(settings.connections_max as u64),
            waiting: Cell::new(0),
            waiting_max: settings.connections_max * WAITERS_PER_CONNECTION_MAX,
            counters: Cell::new(PoolCounters::default()),
            request_head,
            endpoint,
            settings,
        }
    }

    pub fn endpoint(&self) -> &BidderEndpoint {
        &self.endpoint
    }

    /// Connections idle in the pool.
    pub fn idle(&self) -> usize {
        self.idle.borrow().len()
    }

    /// Connections open: idle plus in use.
    pub fn open(&self) -> usize {
        self.open.get()
    }

    pub fn counters(&self) -> PoolCounters {
        self.counters.get()
    }

    fn count(&self, update: impl FnOnce(&mut PoolCounters)) {
        let mut counters = self.counters.get();
        update(&mut counters);
        self.counters.set(counters);
    }

    /// Opens connections until `connections_warm` are open. One at a time, and it stops at the
    /// first failure (counted): a bidder that is down should not hold the shard's start for
    /// several connect timeouts; requests will connect on demand once it is back.
    pub async fn warm(&self) {
        let target = self
            .settings
            .connections_warm
            .min(self.settings.connections_max);
        while self.open() < target {
            let Ok(permit) = self.permits.try_acquire_permit(1) else {
                break;
            };
            match self.connect(self.settings.connect_timeout).await {
                Ok(lease) => lease.give_back(),
                Err(_) => break,
            }
            drop(permit);
        }
    }

    /// POSTs `body` (JSON, with `x-openrtb-version: <openrtb_version>`) and reads the answer
    /// into `response_body` (cleared first), all before `deadline`.
    ///
    /// Returns the status: 200 (the body is in `response_body`) or 204 (no bid, empty body).
    /// Any other status is `BidderError::Status`, with its body in `response_body` if it had a
    /// length within bounds; on every other error `response_body` is empty.
    ///
    /// When every connection is busy, the request waits for one until its deadline, then
    /// gives up with `PoolExhausted`. A reused connection found closed by the bidder is
    /// replaced and the request sent once more (a bid request is safe to repeat: the bidder
    /// answers by request id and only one answer is read).
    pub async fn post(
        &self,
        body: &[u8],
        openrtb_version: &str,
        deadline: Instant,
        response_body: &mut Vec<u8>,
    ) -> Result<u16, BidderError> {
        let started = clock::now();
        response_body.clear();
        self.count(|c| c.requests += 1);
        let remaining = deadline.saturating_duration_since(started);
        if remaining.is_zero() {
            self.count(|c| c.timeouts += 1);
            return Err(BidderError::Timeout { elapsed_us: 0 });
        }
        let phase = Cell::new(Phase::WaitingForConnection);
        // One timer bounds everything: the wait for a connection, connect, write, head, body.
        // When it fires the exchange future is dropped, and with it the connection it held.
        let exchange = async {
            Some(
                self.post_within(body, openrtb_version, remaining, response_body, &phase)
                    .await,
            )
        };
        let timer = async {
            Timer::new(remaining).await;
            None
        };
        let outcome = futures_lite::future::or(exchange, timer).await;
        // `or` polls the exchange first: a shard that runs late finds the answer and the
        // deadline due in the same turn, and the exchange would win. An exchange that ends
        // at or after the deadline is late whatever it read (its connection, if healthy,
        // is already back in the pool).
        let outcome = outcome.filter(|_| clock::now() < deadline);
        let result = match outcome {
            Some(result) => result,
            None if phase.get() == Phase::WaitingForConnection => {
                self.count(|c| c.pool_exhausted += 1);
                Err(BidderError::PoolExhausted)
            }
            None => {
                self.count(|c| c.timeouts += 1);
                let elapsed_us =
                    u64::try_from(clock::elapsed_since(started).as_micros()).unwrap_or(u64::MAX);
                Err(BidderError::Timeout { elapsed_us })
            }
        };
        if !matches!(result, Ok(_) | Err(BidderError::Status { .. })) {
            response_body.clear();
        }
        result
    }

    async fn post_within(
        &self,
        body: &[u8],
        openrtb_version: &str,
        remaining: Duration,
        response_body: &mut Vec<u8>,
        phase: &Cell<Phase>,
    ) -> Result<u16, BidderError> {
        let _permit = self.acquire().await?;
        phase.set(Phase::Exchanging);
        let connect_timeout = self.settings.connect_timeout.min(remaining);
        let taken = self.idle.borrow_mut().pop();
        let mut lease = match taken {
            Some(connection) => Lease {
                pool: self,
                connection: Some(connection),
            },
            None => self.connect(connect_timeout).await?,
        };
        let mut outcome = self
            .exchange(&mut lease, body, openrtb_version, response_body)
            .await;
        if let Err(Failure::Stale) = outcome {
            lease.close(|c| c.stale_retries += 1);
            response_body.clear();
            lease = self.connect(connect_timeout).await?;
            outcome = self
                .exchange(&mut lease, body, openrtb_version, response_body)
                .await;
        }
        let answer = match outcome {
            Ok(answer) => answer,
            Err(Failure::Error(error)) => return Err(error),
            Err(Failure::Stale) => return Err(BidderError::Closed), // never on a fresh connection
        };
        // The connection goes back before the permit is released (end of scope), so a request
        // woken by that release finds it idle instead of opening another.
        if answer.reusable {
            lease.give_back();
        } else {
            lease.close(|c| c.closed_not_reusable += 1);
        }
        match answer.status {
            200 | 204 => Ok(answer.status),
            status => Err(BidderError::Status { status }),
        }
    }

    /// A permit to use a connection: at once if one is free, else after waiting in line (the
    /// caller's deadline cancels the wait).
    async fn acquire(&self) -> Result<Permit<'_>, BidderError> {
        if let Ok(permit) = self.permits.try_acquire_permit(1) {
            return Ok(permit);
        }
        if self.waiting.get() >= self.waiting_max {
            self.count(|c| c.pool_exhausted += 1);
            return Err(BidderError::PoolExhausted);
        }
        self.waiting.set(self.waiting.get() + 1);
        let mut mark = WaitMark {
            pool: self,
            acquired: false,
        };
        // The semaphore errs only once closed, which this pool never does.
        let permit = self.permits.acquire_permit(1).await.map_err(|_| {
            self.count(|c| c.pool_exhausted += 1);
            BidderError::PoolExhausted
        })?;
        mark.acquired = true;
        Ok(permit)
    }

    async fn connect(&self, timeout: Duration) -> Result<Lease<'_>, BidderError> {
        let stream = match TcpStream::connect_timeout(self.endpoint.addr, timeout).await {
            Ok(stream) => stream,
            Err(error) => {
                self.count(|c| c.connect_errors += 1);
                let kind = std::io::Error::from(error).kind();
                return Err(BidderError::Connect { kind });
            }
        };
        // Requests are one write and we wait for the answer: Nagle would only add delay.
        let _ = stream.set_nodelay(true);
        self.count(|c| c.connects += 1);
        self.open.set(self.open.get() + 1);
        debug_assert!(self.open.get() <= self.settings.connections_max);
        Ok(Lease {
            pool: self,
            connection: Some(Connection {
                stream,
                input: vec![0; RESPONSE_HEAD_BYTES_MAX].into_boxed_slice(),
                output: Vec::with_capacity(REQUEST_BYTES_INITIAL),
                was_idle: false,
            }),
        })
    }

    /// One request and its answer on `lease`. The connection is reusable afterwards only if
    /// this returns `Ok` with `reusable`.
    async fn exchange(
        &self,
        lease: &mut Lease<'_>,
        body: &[u8],
        openrtb_version: &str,
        response_body: &mut Vec<u8>,
    ) -> Result<Answer, Failure> {
        let connection = lease.connection();
        let reused = connection.was_idle;
        if reused {
            self.count(|c| c.reused += 1);
        }
        self.write_request(&mut connection.output, body, openrtb_version);
        if let Err(error) = connection.stream.write_all(&connection.output).await {
            return Err(if reused {
                Failure::Stale
            } else {
                BidderError::Io { kind: error.kind() }.into()
            });
        }

        let input = &mut connection.input[..];
        let mut buffered = 0;
        let head = loop {
            if buffered > 0 {
                match parse_response_head(&input[..buffered]).map_err(BidderError::from)? {
                    Some(head) => break head,
                    None if buffered == input.len() => {
                        return Err(BidderError::from(ResponseHeadError::HeadTooLarge).into())
                    }
                    None => {}
                }
            }
            match connection.stream.read(&mut input[buffered..]).await {
                Ok(0) if reused && buffered == 0 => return Err(Failure::Stale),
                Ok(0) => return Err(BidderError::Closed.into()),
                Ok(n) => buffered += n,
                Err(error) if reused && buffered == 0 && is_stale(error.kind()) => {
                    return Err(Failure::Stale)
                }
                Err(error) => return Err(BidderError::Io { kind: error.kind() }.into()),
            }
        };
        let arrived = head.head_bytes..buffered;

        let bytes_max = self.settings.response_bytes_max;
        let framing = match (head.status, head.framing) {
            (100..=199, _) => {
                // We never send `Expect`, so an interim answer is a confused peer.
                return Err(BidderError::BadResponse {
                    reason: "informational status",
                }
                .into());
            }
            // A 204 has no body (RFC 9112 §6.3) whatever it claims; a claim of one leaves us
            // unsure where the next answer starts, so the connection is not reused.
            (204, BodyFraming::Length(0) | BodyFraming::UntilClose) => BodyFraming::Length(0),
            (204, _) => {
                return Ok(Answer {
                    status: 204,
                    reusable: false,
                })
            }
            (200, BodyFraming::UntilClose) => {
                return Err(BidderError::BadResponse {
                    reason: "no content-length",
                }
                .into())
            }
            (200, BodyFraming::Length(bytes)) if bytes > bytes_max => {
                return Err(BidderError::TooLarge { bytes_max }.into());
            }
            (200, framing) => framing,
            (_, BodyFraming::Length(bytes)) if bytes <= bytes_max => BodyFraming::Length(bytes),
            // An error status whose body we will not read (no length, too long, or chunked:
            // its bytes are of no use to us): the connection goes with it.
            (status, _) => {
                return Ok(Answer {
                    status,
                    reusable: false,
                })
            }
        };
        // We never pipeline, so bytes after the body can only be a misbehaving peer.
        let nothing_after = match framing {
            BodyFraming::Chunked => {
                let nothing_after =
                    read_chunked_body(connection, arrived, bytes_max, response_body).await?;
                self.count(|c| c.chunked_responses += 1);
                nothing_after
            }
            BodyFraming::Length(bytes) => {
                read_length_body(connection, arrived, bytes, response_body).await?
            }
            BodyFraming::UntilClose => false,
        };
        Ok(Answer {
            status: head.status,
            reusable: head.keep_alive && nothing_after,
        })
    }

    fn write_request(&self, output: &mut Vec<u8>, body: &[u8], openrtb_version: &str) {
        // The version comes from configuration, never from a request; a value that could break
        // the head (CR, LF, spaces) is a bug upstream, and the head leaves it out.
        debug_assert!(is_header_value(openrtb_version), "{openrtb_version:?}");
        self.request_head
            .write_request(output, ("x-openrtb-version", openrtb_version), body);
    }
}

/// Reads a Content-Length body of `body_bytes` into `response_body`: first what `arrived` with
/// the head in the connection's buffer, then straight from the socket. Returns whether nothing
/// followed the body in the buffer.
async fn read_length_body(
    connection: &mut Connection,
    arrived: Range<usize>,
    body_bytes: usize,
    response_body: &mut Vec<u8>,
) -> Result<bool, Failure> {
    let arrived_body = arrived.len().min(body_bytes);
    let nothing_after = arrived.len() <= body_bytes;
    response_body.extend_from_slice(&connection.input[arrived.start..][..arrived_body]);
    if arrived_body < body_bytes {
        response_body.resize(body_bytes, 0);
        let mut filled = arrived_body;
        while filled < body_bytes {
            match connection.stream.read(&mut response_body[filled..]).await {
                Ok(0) => return Err(BidderError::Closed.into()),
                Ok(n) => filled += n,
                Err(error) => return Err(BidderError::Io { kind: error.kind() }.into()),
            }
        }
    }
    debug_assert_eq!(response_body.len(), body_bytes);
    Ok(nothing_after)
}

/// Decodes a chunked body into `response_body` (at most `body_bytes_max` decoded, and
/// [`encoded_bytes_max`] of it encoded): first what `arrived` with the head, then read by read
/// through the connection's buffer, which the decoder always empties until the body ends.
/// Returns whether nothing followed the body in the last read.
async fn read_chunked_body(
    connection: &mut Connection,
    arrived: Range<usize>,
    body_bytes_max: usize,
    response_body: &mut Vec<u8>,
) -> Result<bool, Failure> {
    let mut decoder = ChunkedDecoder::new(body_bytes_max, encoded_bytes_max(body_bytes_max));
    let mut pending = arrived;
    loop {
        let input = &connection.input[pending.clone()];
        let progress = decoder
            .decode(input, response_body)
            .map_err(|error| match error {
                ChunkedError::BodyTooLarge => BidderError::TooLarge {
                    bytes_max: body_bytes_max,
                },
                error => BidderError::BadResponse {
                    reason: error.reason(),
                },
            })?;
        if progress.done {
            return Ok(progress.consumed == input.len());
        }
        debug_assert_eq!(progress.consumed, input.len());
        match connection.stream.read(&mut connection.input[..]).await {
            Ok(0) => return Err(BidderError::Closed.into()),
            Ok(n) => pending = 0..n,
            Err(error) => return Err(BidderError::Io { kind: error.kind() }.into()),
        }
    }
}

/// Errors that, on a reused connection before any response byte, mean the bidder closed it
/// while it was idle.
fn is_stale(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::NotConnected
            | ErrorKind::UnexpectedEof
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        let ok = |url: &str, addr: &str, host: &str, path: &str| {
            let endpoint = BidderEndpoint::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(endpoint.addr, addr.parse::<SocketAddr>().unwrap(), "{url}");
            assert_eq!(endpoint.host_header, host, "{url}");
            assert_eq!(endpoint.path, path, "{url}");
        };
        ok(
            "http://127.0.0.1:7001/openrtb2",
            "127.0.0.1:7001",
            "127.0.0.1:7001",
            "/openrtb2",
        );
        ok("http://10.0.0.2", "10.0.0.2:80", "10.0.0.2", "/");
        ok(
            "HTTP://localhost:8080/bid?x=1",
            "127.0.0.1:8080",
            "localhost:8080",
            "/bid?x=1",
        );
        ok("http://[::1]:9000/b", "[::1]:9000", "[::1]:9000", "/b");
        ok("http://[::1]", "[::1]:80", "[::1]", "/");

        let scheme = |url: &str| EndpointError::Scheme { url: url.into() };
        let host = |url: &str| EndpointError::Host { url: url.into() };
        let port = |url: &str| EndpointError::Port { url: url.into() };
        let path = |url: &str| EndpointError::Path { url: url.into() };
        for (url, error) in [
            ("https://127.0.0.1/", scheme("https://127.0.0.1/")),
            ("127.0.0.1:80", scheme("127.0.0.1:80")),
            ("", scheme("")),
            ("http://", host("http://")),
            (
                "http://dsp.example.com/bid",
                host("http://dsp.example.com/bid"),
            ),
            ("http://user@127.0.0.1/", host("http://user@127.0.0.1/")),
            ("http://[::1/", host("http://[::1/")),
            ("http://::1/", host("http://::1/")),
            ("http://127.0.0.1:/", port("http://127.0.0.1:/")),
            ("http://127.0.0.1:0/", port("http://127.0.0.1:0/")),
            ("http://127.0.0.1:65536/", port("http://127.0.0.1:65536/")),
            ("http://127.0.0.1:+80/", port("http://127.0.0.1:+80/")),
            ("http://[::1]x/", port("http://[::1]x/")),
            ("http://127.0.0.1/a b", path("http://127.0.0.1/a b")),
            (
                "http://127.0.0.1/a\r\nX: y",
                path("http://127.0.0.1/a\r\nX: y"),
            ),
            ("http://127.0.0.1/a#f", path("http://127.0.0.1/a#f")),
        ] {
            assert_eq!(BidderEndpoint::parse(url), Err(error), "{url:?}");
        }
    }

    #[test]
    fn unframeable_heads_are_bad_responses() {
        for error in [
            ResponseHeadError::Malformed,
            ResponseHeadError::HeadTooLarge,
            ResponseHeadError::LengthWithTransferEncoding,
            ResponseHeadError::TransferEncoding,
        ] {
            assert_eq!(
                BidderError::from(error),
                BidderError::BadResponse {
                    reason: error.reason()
                }
            );
        }
    }
}
