//! A running mock bidder: the listener and its accept thread, one thread per connection up to
//! the cap, the counts behind `/stats`, and the flow of one bid request (count it, draw its
//! fault, latency and bid, wait, answer). Stopping is cooperative: a flag, a condvar that cuts
//! simulated sleeps short, and every open socket shut down so that blocked threads wake.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use adshard_tools::rng::{mix64, Rng};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::bids::build_response;
use super::faults::{self, hold, oversized_body, write_trickled, FaultKind, GARBAGE_BODY};
use super::http::{
    linger_close, read_at_least, read_head, respond, respond_chunked, write_response, After,
    HeadOutcome, READ_CHUNK_BYTES, WRITE_STALL_MAX,
};
use super::spec::MockBidderConfig;

/// Pause after a failed `accept` (e.g. out of descriptors), so that the loop does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// How long `drop` waits to connect to its own listener to wake the accept loop.
const WAKE_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// What a mock bidder has done so far (`GET /stats` serves the same as JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MockBidderStats {
    /// Connections accepted and served.
    pub connections: u64,
    /// Connections refused with 503 because `threads` were busy.
    pub connections_rejected: u64,
    /// Connections open now.
    pub connections_open: u64,
    /// Bid requests (POSTs): the sum of the four counts below, faults included.
    pub requests: u64,
    /// Clean bid responses.
    pub bids: u64,
    /// 204 answers (bid rate, or no imp with an id).
    pub no_bids: u64,
    /// Answered 400: body not a JSON object, or no string `id`.
    pub bad_requests: u64,
    /// Requests by the fault drawn for them, every kind present.
    pub faults: BTreeMap<FaultKind, u64>,
}

impl MockBidderStats {
    /// Requests that drew `kind`.
    pub fn fault(&self, kind: FaultKind) -> u64 {
        self.faults.get(&kind).copied().unwrap_or(0)
    }
}

/// A running mock bidder; dropping it stops the bidder and joins its threads.
#[must_use = "dropping the handle stops the mock bidder at once"]
pub struct MockBidderHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl MockBidderHandle {
    /// The bound address (the actual port when the config asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, to append a path to.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> MockBidderStats {
        self.shared.stats()
    }

    /// Stops the bidder, waits for every connection thread and returns the final counts.
    pub fn shutdown(mut self) -> MockBidderStats {
        self.stop();
        self.shared.stats()
    }

    fn stop(&mut self) {
        let Some(accept_thread) = self.accept_thread.take() else {
            return;
        };
        self.shared.request_stop();
        // The accept loop is blocked in `accept`; a connection of our own wakes it to see the
        // stop flag. If even that fails, the thread is left detached rather than hanging the
        // caller: it ends with the next connection or the process.
        if TcpStream::connect_timeout(&wake_addr(self.addr), WAKE_CONNECT_TIMEOUT).is_ok() {
            let _ = accept_thread.join();
        }
    }
}

impl Drop for MockBidderHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where to connect to reach a listener bound to `addr` (an unspecified address is reachable
/// on loopback).
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

/// Binds `config.listen` and serves on background threads until the handle is dropped.
/// An invalid config is an `InvalidInput` error.
pub fn spawn(config: MockBidderConfig) -> io::Result<MockBidderHandle> {
    config
        .validate()
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
    let listener = TcpListener::bind(config.listen)?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        seat: format!("mock-{}", addr.port()),
        config,
        counters: Counters::default(),
        stopping: AtomicBool::new(false),
        stop_lock: Mutex::new(false),
        stop_signal: Condvar::new(),
        open: Mutex::new(HashMap::new()),
        active: AtomicUsize::new(0),
        next_response: AtomicUsize::new(0),
    });
    let accept_shared = Arc::clone(&shared);
    let accept_thread = thread::Builder::new()
        .name("mockbidder-accept".into())
        .spawn(move || accept_loop(&listener, &accept_shared))?;
    Ok(MockBidderHandle {
        addr,
        shared,
        accept_thread: Some(accept_thread),
    })
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    connections_rejected: AtomicU64,
    requests: AtomicU64,
    bids: AtomicU64,
    no_bids: AtomicU64,
    bad_requests: AtomicU64,
    faults: [AtomicU64; FaultKind::ALL.len()],
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// State shared by the accept thread, the connection threads and the handle.
pub(super) struct Shared {
    pub(super) config: MockBidderConfig,
    /// `seat` of generated bids: `mock-PORT`, so that a test with several bidders can tell
    /// whose bid won.
    pub(super) seat: String,
    counters: Counters,
    /// Cheap to read on every request; `stop_lock` is the same flag for the condvar.
    stopping: AtomicBool,
    stop_lock: Mutex<bool>,
    /// Wakes simulated sleeps at stop.
    stop_signal: Condvar,
    /// A clone of every open connection's socket by accept index, to shut them down at stop.
    open: Mutex<HashMap<u64, TcpStream>>,
    /// Connection threads running, against `config.threads`.
    active: AtomicUsize,
    /// Next canned response of `config.responses`, shared so that files go round in turn.
    pub(super) next_response: AtomicUsize,
}

/// A poisoned lock only means another connection thread panicked; the data (a flag, a map of
/// sockets) is still consistent, so carry on.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(super) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    fn request_stop(&self) {
        self.stopping.store(true, Ordering::Release);
        *lock(&self.stop_lock) = true;
        self.stop_signal.notify_all();
    }

    /// Sleeps for `duration` unless the bidder stops first; true if it is still running.
    pub(super) fn pause(&self, duration: Duration) -> bool {
        if duration.is_zero() {
            return !self.is_stopping();
        }
        let deadline = Instant::now() + duration;
        let mut stopped = lock(&self.stop_lock);
        loop {
            if *stopped {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            stopped = match self.stop_signal.wait_timeout(stopped, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    fn stats(&self) -> MockBidderStats {
        let counters = &self.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        MockBidderStats {
            connections: load(&counters.connections),
            connections_rejected: load(&counters.connections_rejected),
            connections_open: self.active.load(Ordering::Relaxed) as u64,
            requests: load(&counters.requests),
            bids: load(&counters.bids),
            no_bids: load(&counters.no_bids),
            bad_requests: load(&counters.bad_requests),
            faults: FaultKind::ALL
                .into_iter()
                .map(|kind| (kind, load(&counters.faults[kind.index()])))
                .collect(),
        }
    }
}

/// Releases a connection's slot and its socket clone when its thread ends, however it ends.
struct ConnectionGuard {
    shared: Arc<Shared>,
    index: u64,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        lock(&self.shared.open).remove(&self.index);
        self.shared.active.fetch_sub(1, Ordering::AcqRel);
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    let mut next_index: u64 = 0;
    for incoming in listener.incoming() {
        if shared.is_stopping() {
            break;
        }
        let stream = match incoming {
            Ok(stream) => stream,
            Err(_) => {
                shared.pause(ACCEPT_ERROR_BACKOFF);
                continue;
            }
        };
        // Forget finished threads, so the list stays as long as the open connections.
        workers.retain(|worker| !worker.is_finished());
        if shared.active.load(Ordering::Acquire) >= shared.config.threads {
            bump(&shared.counters.connections_rejected);
            reject_connection(stream);
            continue;
        }
        let index = next_index;
        next_index += 1;
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.open).insert(index, clone);
        }
        shared.active.fetch_add(1, Ordering::AcqRel);
        bump(&shared.counters.connections);
        let guard = ConnectionGuard {
            shared: Arc::clone(shared),
            index,
        };
        let spawned = thread::Builder::new()
            .name(format!("mockbidder-conn-{index}"))
            .spawn(move || {
                serve_connection(stream, index, &guard.shared);
                drop(guard);
            });
        // If the thread could not start, the closure (stream and guard) was dropped with the
        // error: the connection is closed and its slot released.
        if let Ok(worker) = spawned {
            workers.push(worker);
        }
    }
    // No connection is registered after the loop, so this reaches every open one: shutting a
    // socket down wakes a thread blocked reading it, writing to it or holding it.
    for (_, stream) in lock(&shared.open).drain() {
        let _ = stream.shutdown(Shutdown::Both);
    }
    for worker in workers {
        let _ = worker.join();
    }
}

/// Answers a connection over the cap without a thread: 503 and close. Any request it had
/// already sent is unread, so the close may be an RST; the client sees an error either way.
fn reject_connection(mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(WRITE_STALL_MAX));
    let _ = write_response(
        &mut stream,
        503,
        "text/plain",
        b"mock bidder: too many connections\n",
        true,
    );
    let _ = stream.shutdown(Shutdown::Write);
}

fn serve_connection(mut stream: TcpStream, index: u64, shared: &Shared) {
    // Answers go out in one or a few writes each; Nagle would only delay trickled pieces.
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(WRITE_STALL_MAX));
    let mut rng = Rng::new(shared.config.seed ^ mix64(index));
    let mut buffer: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES);
    let mut request_index: u64 = 0;
    loop {
        if shared.is_stopping() {
            return;
        }
        let head = match read_head(&mut stream, &mut buffer) {
            HeadOutcome::Ready(head) => head,
            HeadOutcome::Closed => return,
            HeadOutcome::Reject(status, message) => {
                if write_response(&mut stream, status, "text/plain", message.as_bytes(), true)
                    .is_ok()
                {
                    linger_close(&mut stream);
                }
                return;
            }
        };
        let total = head.head_len + head.content_length;
        if head.expect_continue
            && buffer.len() < total
            && stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err()
        {
            return;
        }
        if !read_at_least(&mut stream, &mut buffer, total) {
            return;
        }
        let body = buffer.get(head.head_len..total).unwrap_or_default();
        let route = head.path.split('?').next().unwrap_or_default();
        let close = !head.keep_alive;
        let after = match (head.method.as_str(), route) {
            ("GET", "/healthz") => respond(&mut stream, 200, "text/plain", b"ok\n", close),
            ("GET", "/stats") => {
                let stats = serde_json::to_vec(&shared.stats()).unwrap_or_default();
                respond(&mut stream, 200, "application/json", &stats, close)
            }
            ("POST", _) => {
                let context = RequestContext {
                    shared,
                    connection: index,
                    request: request_index,
                    close,
                };
                request_index += 1;
                handle_bid_request(&mut stream, &context, &mut rng, body)
            }
            ("GET", _) => respond(&mut stream, 404, "text/plain", b"not found\n", close),
            _ => respond(
                &mut stream,
                405,
                "text/plain",
                b"POST a bid request, or GET /healthz or /stats\n",
                close,
            ),
        };
        match after {
            After::KeepOpen => {}
            After::Close => {
                linger_close(&mut stream);
                return;
            }
            After::Drop => return,
            After::Reset => {
                // SO_LINGER 0 makes the last close of the socket (this thread's, or the guard
                // dropping the clone, whichever comes second) send an RST instead of a FIN.
                let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                return;
            }
            After::Hold => {
                hold(&stream, shared);
                return;
            }
        }
        buffer.drain(..total);
    }
}

/// Who is answering: for bid ids, the seat, and whether to close afterwards.
pub(super) struct RequestContext<'a> {
    pub(super) shared: &'a Shared,
    pub(super) connection: u64,
    pub(super) request: u64,
    pub(super) close: bool,
}

fn handle_bid_request(
    stream: &mut TcpStream,
    context: &RequestContext<'_>,
    rng: &mut Rng,
    body: &[u8],
) -> After {
    let shared = context.shared;
    let counters = &shared.counters;
    bump(&counters.requests);
    let request: Value = match serde_json::from_slice(body) {
        Ok(request @ Value::Object(_)) => request,
        _ => {
            bump(&counters.bad_requests);
            return respond(
                stream,
                400,
                "text/plain",
                b"body is not a JSON object\n",
                true,
            );
        }
    };
    let Some(request_id) = request.get("id").and_then(Value::as_str) else {
        bump(&counters.bad_requests);
        return respond(
            stream,
            400,
            "text/plain",
            b"bid request has no string id\n",
            true,
        );
    };
    // Always the same draws in the same order, whatever they decide, so that a seed replays.
    let fault = faults::draw(&shared.config.faults, rng.unit());
    let latency = shared.config.latency.sample(rng);
    let wants_bid = rng.chance(shared.config.bid_rate);
    if let Some(fault) = fault {
        bump(&counters.faults[fault.index()]);
    }
    if fault == Some(FaultKind::Timeout) {
        return After::Hold;
    }
    if !shared.pause(latency) {
        return After::Drop;
    }
    let close = context.close;
    match fault {
        Some(FaultKind::Reset) => return After::Reset,
        Some(FaultKind::Garbage) => {
            return respond(stream, 200, "application/json", GARBAGE_BODY, close)
        }
        Some(FaultKind::ServerError) => {
            return respond(
                stream,
                500,
                "text/plain",
                b"mock internal server error\n",
                close,
            )
        }
        _ => {}
    }
    // Faults that shape a bid always bid; a request without a fault bids at the bid rate.
    let response = if fault.is_none() && !wants_bid {
        None
    } else {
        build_response(context, &request, request_id, rng, fault)
    };
    let Some(response) = response else {
        if fault.is_none() {
            bump(&counters.no_bids);
        }
        return respond(stream, 204, "", b"", close);
    };
    if fault.is_none() {
        bump(&counters.bids);
    }
    match fault {
        Some(FaultKind::Trickle) => {
            let body = serde_json::to_vec(&response).unwrap_or_default();
            write_trickled(stream, shared, &body, close)
        }
        Some(FaultKind::Oversized) => {
            let body = oversized_body(response);
            respond(stream, 200, "application/json", &body, close)
        }
        _ if shared.config.chunked => {
            let body = serde_json::to_vec(&response).unwrap_or_default();
            respond_chunked(stream, "application/json", &body, close)
        }
        _ => {
            let body = serde_json::to_vec(&response).unwrap_or_default();
            respond(stream, 200, "application/json", &body, close)
        }
    }
}
