//! The connection loop: read a head, read its body, call the handler, write the response, and
//! again, until the client closes, misbehaves, idles out, or the shard drains.
//!
//! Every wait has a deadline: the first byte of a new connection, idle keep-alive, the head
//! (from its first byte, so a slow-loris client cannot reset the clock by trickling), the body,
//! and each write. Pipelined requests are answered in order; responses are batched and flushed
//! before the loop waits on the socket, so a pipelining client gets one write for a burst of
//! requests.
//!
//! Each connection holds a slot in its listener's connection table (`table`): while it
//! waits for a request with nothing buffered it is idle there, and a new connection that finds
//! the table full closes the one idle longest. A connection the table cannot take because every
//! other has a request in progress is refused with a 503, not a silent close.

use std::cell::{Cell, RefCell};
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use super::counters::{bump, ConnectionStats, Endpoint, Recorder};
use super::head::{parse_head, HeadParse, Method};
use super::table::{Admission, ConnectionTable, Evicted, RoomFreed};
use super::{reason_phrase, Handler, HttpLimits, Request, Response};
use crate::clock;
use crate::json::write_decimal;

/// Initial size of a connection's input buffer: a typical bid request (1-10 KiB) and its head
/// fit without growing. Larger requests grow it up to `header_bytes_max + body_bytes_max`.
pub const INPUT_BYTES_INITIAL: usize = 16 * 1024;
/// Initial size of a connection's output buffer; grows with the largest response batch.
pub const OUTPUT_BYTES_INITIAL: usize = 4 * 1024;

/// What every connection of a shard shares: limits, statistics, the drain flag, and buffers.
/// `S` is where the loop reports what it served (the shard's statistics).
#[derive(Debug)]
pub struct ConnectionContext<S> {
    pub limits: HttpLimits,
    pub stats: Rc<S>,
    /// Set when shutdown starts: answer the request in hand with `Connection: close` and stop.
    pub draining: Rc<Cell<bool>>,
    /// Connections with a request partly read or being answered; shutdown waits for zero.
    pub busy: Rc<Cell<usize>>,
    buffers: BufferPool,
    /// Which connections are open and which of them idle, to make way at the limit.
    table: Rc<RefCell<ConnectionTable>>,
    /// Refusals (503) being written now; at most [`REFUSALS_IN_FLIGHT_MAX`].
    refusals: Rc<Cell<usize>>,
}

impl<S: Recorder> ConnectionContext<S> {
    pub fn new(limits: HttpLimits, stats: Rc<S>) -> ConnectionContext<S> {
        let free_max = limits.connections_per_shard_max.min(BUFFERS_FREE_MAX);
        let input_bytes = limits.header_bytes_max.max(INPUT_BYTES_INITIAL);
        let table = ConnectionTable::new(limits.connections_per_shard_max);
        ConnectionContext {
            limits,
            stats,
            draining: Rc::new(Cell::new(false)),
            busy: Rc::new(Cell::new(0)),
            buffers: BufferPool {
                free: RefCell::new(Vec::new()),
                free_max,
                input_bytes,
            },
            table: Rc::new(RefCell::new(table)),
            refusals: Rc::new(Cell::new(0)),
        }
    }

    /// A place for a connection just accepted: a free slot, else the slot of the connection
    /// idle longest, which is told to close (and counted) and freed once its task has ended.
    /// `None` when every connection has a request in progress; the caller then refuses it
    /// ([`refuse_connection`]) if it gets a [`ConnectionContext::refusal_permit`].
    pub async fn admit(&self) -> Option<ConnectionSlot> {
        loop {
            let admission = self.table.borrow_mut().admit();
            match admission {
                Admission::Admitted(slot_idx) => {
                    return Some(ConnectionSlot {
                        table: self.table.clone(),
                        slot_idx,
                    })
                }
                Admission::Evicting => {
                    bump(&self.stats.connections().evicted);
                    RoomFreed {
                        table: self.table.clone(),
                    }
                    .await;
                }
                Admission::Full => return None,
            }
        }
    }

    /// Leave to write one refusal, while fewer than [`REFUSALS_IN_FLIGHT_MAX`] are being
    /// written: beyond that a connection the table cannot take is closed without a word.
    pub fn refusal_permit(&self) -> Option<RefusalPermit> {
        let refusals = self.refusals.get();
        (refusals < REFUSALS_IN_FLIGHT_MAX).then(|| {
            self.refusals.set(refusals + 1);
            RefusalPermit(self.refusals.clone())
        })
    }
}

/// One of the [`REFUSALS_IN_FLIGHT_MAX`] refusals a listener writes at once; given back on drop.
#[derive(Debug)]
pub struct RefusalPermit(Rc<Cell<usize>>);

impl Drop for RefusalPermit {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// A connection's place in its listener's table, from `admit` to the end of its task (the
/// drop frees it, whichever way the connection ends).
#[derive(Debug)]
pub struct ConnectionSlot {
    table: Rc<RefCell<ConnectionTable>>,
    slot_idx: u32,
}

impl ConnectionSlot {
    fn set_idle(&self, idle: bool) {
        self.table.borrow_mut().set_idle(self.slot_idx, idle);
    }

    fn is_evicted(&self) -> bool {
        self.table.borrow().is_evicted(self.slot_idx)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.table.borrow_mut().release(self.slot_idx);
    }
}

/// Refusals written at once per listener. Each holds a task and no pooled buffer, for at most
/// [`REFUSAL_LINGER`]; a flood past it gets the old silent close rather than more tasks.
pub const REFUSALS_IN_FLIGHT_MAX: usize = 64;
/// How long a refusal reads (and drops) what the client sent before closing: closing with
/// unread bytes makes the kernel answer with a reset, which can destroy the 503 in flight.
const REFUSAL_LINGER: Duration = Duration::from_millis(250);
/// A refusal reads at most this much of a client's request before closing anyway.
const REFUSAL_DISCARD_BYTES_MAX: usize = 64 * 1024;
/// The answer to a connection the table cannot take (`refusal_is_one_whole_response` checks
/// its Content-Length).
const REFUSAL_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 43\r\n\
Content-Type: application/json\r\nConnection: close\r\nRetry-After: 1\r\n\r\n\
{\"error\":\"too many connections\",\"field\":\"\"}";

/// Idle buffer sets a shard keeps for reuse. Bounded so a burst of connections does not pin
/// its peak memory forever: 1024 sets of ~20 KiB is ~20 MiB per shard at most.
const BUFFERS_FREE_MAX: usize = 1024;

/// The buffers one connection uses, kept across connections so that, after warm-up, accepting
/// and serving a connection allocates nothing.
#[derive(Debug)]
struct ConnectionBuffers {
    input: Vec<u8>,
    output: Vec<u8>,
    response: Response,
}

#[derive(Debug)]
struct BufferPool {
    free: RefCell<Vec<ConnectionBuffers>>,
    free_max: usize,
    /// At least `header_bytes_max`, so a whole head always fits.
    input_bytes: usize,
}

impl BufferPool {
    fn take(&self) -> ConnectionBuffers {
        self.free
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| ConnectionBuffers {
                input: vec![0; self.input_bytes],
                output: Vec::with_capacity(OUTPUT_BYTES_INITIAL),
                response: Response::default(),
            })
    }

    fn give(&self, mut buffers: ConnectionBuffers) {
        let mut free = self.free.borrow_mut();
        if free.len() < self.free_max {
            buffers.output.clear();
            buffers.response.reset();
            free.push(buffers);
        }
    }
}

/// Marks the connection busy while a request is in progress, and idle in its listener's table
/// otherwise (from the moment its last answer is queued, so a client that has read the answer
/// finds the connection already idle); the drop clears the count whatever way the connection
/// ends.
struct BusyMark<'a> {
    busy: Rc<Cell<usize>>,
    /// The same count, as the statistics report it.
    stats: &'a ConnectionStats,
    slot: &'a ConnectionSlot,
    active: bool,
}

impl BusyMark<'_> {
    fn set(&mut self, active: bool) {
        if active != self.active {
            self.count(active);
            self.slot.set_idle(!active);
        }
    }

    fn count(&mut self, active: bool) {
        self.active = active;
        let count = self.busy.get();
        self.busy.set(if active { count + 1 } else { count - 1 });
        let reported = self.stats.busy.get();
        self.stats
            .busy
            .set(if active { reported + 1 } else { reported - 1 });
    }
}

impl Drop for BusyMark<'_> {
    fn drop(&mut self) {
        if self.active {
            self.count(false);
        }
    }
}

/// How a read ended when it did not deliver bytes.
enum ReadEnd {
    /// Peer closed or reset, or the socket failed.
    Closed,
    TimedOut,
    /// A new connection needed this idle one's place.
    Evicted,
}

/// Serves one connection until it closes, holding `slot` in its listener's table. Never
/// panics on client input; every way it ends is counted in the shard statistics.
pub async fn serve_connection<H: Handler, S: Recorder>(
    mut stream: TcpStream,
    ctx: &ConnectionContext<S>,
    handler: &H,
    slot: ConnectionSlot,
) {
    let stats = ctx.stats.connections();
    bump(&stats.accepted);
    stats.open.set(stats.open.get() + 1);
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(ctx.limits.write_timeout()));
    let mut buffers = ctx.buffers.take();
    // A new connection starts idle in the table: it has sent nothing yet.
    let mut busy = BusyMark {
        busy: ctx.busy.clone(),
        stats,
        slot: &slot,
        active: false,
    };
    run(&mut stream, ctx, handler, &mut buffers, &mut busy).await;
    drop(busy);
    ctx.buffers.give(buffers);
    stats.open.set(stats.open.get() - 1);
    // The stream closes before the slot frees: an accept waiting for this slot admits its
    // connection only once this one is gone.
    drop(stream);
    drop(slot);
}

/// Answers a connection its listener's table cannot take with a 503 and closes it, after
/// reading (and dropping) what the client sends for a moment, so the close is not a reset
/// that destroys the answer. The permit bounds how many run at once.
pub async fn refuse_connection(stream: TcpStream, permit: RefusalPermit) {
    let _permit = permit;
    let mut stream = stream;
    let _ = stream.set_write_timeout(Some(REFUSAL_LINGER));
    if stream.write_all(REFUSAL_RESPONSE).await.is_err()
        || stream.shutdown(std::net::Shutdown::Write).await.is_err()
    {
        return;
    }
    let linger_deadline = clock::now() + REFUSAL_LINGER;
    let mut discard = [0u8; 1024];
    let mut discarded_bytes = 0;
    while discarded_bytes < REFUSAL_DISCARD_BYTES_MAX {
        let timeout = linger_deadline.saturating_duration_since(clock::now());
        match read_some(&mut stream, &mut discard, timeout).await {
            Ok(n) => discarded_bytes += n,
            Err(_) => return,
        }
    }
}

async fn run<H: Handler, S: Recorder>(
    stream: &mut TcpStream,
    ctx: &ConnectionContext<S>,
    handler: &H,
    buffers: &mut ConnectionBuffers,
    busy: &mut BusyMark<'_>,
) {
    let limits = &ctx.limits;
    let request_bytes_max = limits.header_bytes_max + limits.body_bytes_max;
    let ConnectionBuffers {
        input,
        output,
        response,
    } = buffers;
    // Unconsumed bytes are input[start..end].
    let mut start = 0usize;
    let mut end = 0usize;
    // Until the first request is answered, silence is bounded by the first-byte timeout.
    let mut answered_any = false;
    loop {
        // Read until a complete head is buffered.
        let mut head_deadline: Option<Instant> =
            (start < end).then(|| clock::now() + limits.header_timeout());
        busy.set(start < end);
        let parsed = loop {
            match parse_head(
                &input[start..end],
                limits.header_bytes_max,
                limits.headers_count_max,
                limits.body_bytes_max,
            ) {
                Ok(HeadParse::Complete {
                    head,
                    expect_continue,
                }) => {
                    let base = input[start..].as_ptr() as usize;
                    break Ok(ParsedHead {
                        method: head.method,
                        path: offset_range(base, head.path),
                        query: offset_range(base, head.query),
                        head_bytes: head.head_bytes,
                        content_length: head.content_length,
                        keep_alive: head.keep_alive,
                        expect_continue,
                    });
                }
                Ok(HeadParse::Partial) => {}
                Err(error) => break Err(error),
            }
            let flushed = if start == end {
                // Idle while the answers go out: a client that does not read them must not
                // hold up the new connection that evicts this one.
                flush_while_idle(stream, output, ctx, busy.slot).await
            } else {
                flush(stream, output, ctx).await
            };
            if !flushed {
                return;
            }
            if start == end && ctx.draining.get() {
                return;
            }
            make_room(input, &mut start, &mut end, limits.header_bytes_max);
            let read = match head_deadline {
                None if answered_any => {
                    let timeout = limits.idle_timeout();
                    read_idle(stream, &mut input[end..], timeout, ctx, busy.slot).await
                }
                None => {
                    let timeout = limits.first_byte_timeout();
                    read_idle(stream, &mut input[end..], timeout, ctx, busy.slot).await
                }
                Some(deadline) => {
                    let timeout = deadline.saturating_duration_since(clock::now());
                    read_some(stream, &mut input[end..], timeout).await
                }
            };
            match read {
                Ok(n) => {
                    if start == end {
                        head_deadline = Some(clock::now() + limits.header_timeout());
                        busy.set(true);
                    }
                    end += n;
                }
                Err(ReadEnd::Evicted) => return,
                Err(ReadEnd::TimedOut) if start == end => {
                    if !answered_any {
                        bump(&stats_of(ctx).first_byte_timeouts);
                    }
                    return; // silent too long, or idle keep-alive expired
                }
                Err(ReadEnd::TimedOut) => {
                    bump(&stats_of(ctx).read_timeouts);
                    answer_and_close(
                        stream,
                        output,
                        response,
                        ctx,
                        Endpoint::Invalid,
                        408,
                        "timed out reading the request head",
                    )
                    .await;
                    return;
                }
                Err(ReadEnd::Closed) => {
                    if start != end {
                        bump(&stats_of(ctx).io_errors);
                    }
                    return;
                }
            }
        };
        let head = match parsed {
            Ok(head) => head,
            Err(error) => {
                answer_and_close(
                    stream,
                    output,
                    response,
                    ctx,
                    Endpoint::Invalid,
                    error.status(),
                    error.reason(),
                )
                .await;
                return;
            }
        };

        // Read the body. The whole request must sit contiguously in `input`.
        let request_bytes = head.head_bytes + head.content_length;
        debug_assert!(request_bytes <= request_bytes_max);
        if end - start < request_bytes {
            if start + request_bytes > input.len() {
                input.copy_within(start..end, 0);
                end -= start;
                start = 0;
                if request_bytes > input.len() {
                    input.resize(request_bytes, 0);
                }
            }
            if head.expect_continue {
                output.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                if !flush(stream, output, ctx).await {
                    return;
                }
            }
            let body_deadline = clock::now() + limits.body_timeout();
            while end - start < request_bytes {
                let timeout = body_deadline.saturating_duration_since(clock::now());
                match read_some(stream, &mut input[end..], timeout).await {
                    Ok(n) => end += n,
                    Err(ReadEnd::TimedOut) => {
                        bump(&stats_of(ctx).read_timeouts);
                        answer_and_close(
                            stream,
                            output,
                            response,
                            ctx,
                            Endpoint::Invalid,
                            408,
                            "timed out reading the request body",
                        )
                        .await;
                        return;
                    }
                    Err(ReadEnd::Closed | ReadEnd::Evicted) => {
                        bump(&stats_of(ctx).io_errors);
                        return;
                    }
                }
            }
        }

        // Answer it.
        let request_bytes_in = &input[start..start + request_bytes];
        let started = clock::now();
        let request = Request {
            method: head.method,
            // Only an absolute-form target has an empty path, which means "/".
            path: match range_str(request_bytes_in, head.path) {
                "" => "/",
                path => path,
            },
            query: range_str(request_bytes_in, head.query),
            body: &request_bytes_in[head.head_bytes..],
            received: started,
        };
        response.reset();
        handler.handle(request, response).await;
        answered_any = true;
        // A connection evicted while its request arrived answers it, then makes way.
        let keep_alive =
            head.keep_alive && !response.close && !ctx.draining.get() && !busy.slot.is_evicted();
        write_response(output, response, keep_alive, head.method == Method::Head);
        ctx.stats.record(
            response.endpoint,
            response.status,
            clock::elapsed_since(started),
        );
        start += request_bytes;
        if start == end {
            start = 0;
            end = 0;
        }
        if !keep_alive {
            let _ = flush(stream, output, ctx).await;
            return;
        }
    }
}

struct ParsedHead {
    method: Method,
    path: (usize, usize),
    query: (usize, usize),
    head_bytes: usize,
    content_length: usize,
    keep_alive: bool,
    expect_continue: bool,
}

fn stats_of<S: Recorder>(ctx: &ConnectionContext<S>) -> &ConnectionStats {
    ctx.stats.connections()
}

/// Where `part` (a slice of the buffer starting at `base`) lies, as offsets, so the head can
/// outlive the borrow while the body is read into the same buffer.
fn offset_range(base: usize, part: &str) -> (usize, usize) {
    let from = (part.as_ptr() as usize).saturating_sub(base);
    (from, from + part.len())
}

fn range_str(bytes: &[u8], (from, to): (usize, usize)) -> &str {
    // httparse only hands out ASCII for the target, so this is always valid.
    bytes
        .get(from..to)
        .and_then(|b| std::str::from_utf8(b).ok())
        .unwrap_or("")
}

/// Makes room at the end of `input` for more of a head: moves the unconsumed bytes to the
/// front when a pipelined request left them near the end.
fn make_room(input: &mut [u8], start: &mut usize, end: &mut usize, header_bytes_max: usize) {
    debug_assert!(input.len() >= header_bytes_max);
    if *start > 0 && input.len() - *start < header_bytes_max {
        input.copy_within(*start..*end, 0);
        *end -= *start;
        *start = 0;
    }
}

/// Waits for a request on a connection with nothing buffered (idle in the table, so a new
/// connection may take its place), until it arrives, `timeout` passes or the connection is
/// evicted. Bytes that arrive as it is evicted still win the race: their request is answered
/// before the connection closes.
async fn read_idle<S: Recorder>(
    stream: &mut TcpStream,
    into: &mut [u8],
    timeout: Duration,
    ctx: &ConnectionContext<S>,
    slot: &ConnectionSlot,
) -> Result<usize, ReadEnd> {
    let evicted = async {
        Evicted {
            table: &ctx.table,
            slot_idx: slot.slot_idx,
        }
        .await;
        Err(ReadEnd::Evicted)
    };
    futures_lite::future::or(read_some(stream, into, timeout), evicted).await
}

async fn read_some(
    stream: &mut TcpStream,
    into: &mut [u8],
    timeout: Duration,
) -> Result<usize, ReadEnd> {
    if timeout.is_zero() {
        return Err(ReadEnd::TimedOut);
    }
    debug_assert!(!into.is_empty());
    let _ = stream.set_read_timeout(Some(timeout));
    match stream.read(into).await {
        Ok(0) => Err(ReadEnd::Closed),
        Ok(n) => Ok(n),
        Err(e) if e.kind() == ErrorKind::TimedOut => Err(ReadEnd::TimedOut),
        Err(_) => Err(ReadEnd::Closed),
    }
}

/// Like `flush`, for a connection idle in the table; false also when it is evicted first.
async fn flush_while_idle<S: Recorder>(
    stream: &mut TcpStream,
    output: &mut Vec<u8>,
    ctx: &ConnectionContext<S>,
    slot: &ConnectionSlot,
) -> bool {
    if output.is_empty() {
        return true;
    }
    let evicted = async {
        Evicted {
            table: &ctx.table,
            slot_idx: slot.slot_idx,
        }
        .await;
        false
    };
    futures_lite::future::or(flush(stream, output, ctx), evicted).await
}

/// Writes what is batched in `output`. False when the connection is gone.
async fn flush<S: Recorder>(
    stream: &mut TcpStream,
    output: &mut Vec<u8>,
    ctx: &ConnectionContext<S>,
) -> bool {
    if output.is_empty() {
        return true;
    }
    let result = stream.write_all(output).await;
    output.clear();
    if result.is_err() {
        bump(&stats_of(ctx).io_errors);
        return false;
    }
    true
}

/// Answers an HTTP-level error with a JSON body and `Connection: close`, then flushes.
async fn answer_and_close<S: Recorder>(
    stream: &mut TcpStream,
    output: &mut Vec<u8>,
    response: &mut Response,
    ctx: &ConnectionContext<S>,
    endpoint: Endpoint,
    status: u16,
    reason: &str,
) {
    response.reset();
    response.set_error(endpoint, status, reason, "");
    write_response(output, response, false, false);
    ctx.stats.record(endpoint, status, Duration::ZERO);
    let _ = flush(stream, output, ctx).await;
}

/// Frames `response` into `output`. 204 carries no Content-Length (RFC 9110 §8.6).
pub fn write_response(
    output: &mut Vec<u8>,
    response: &Response,
    keep_alive: bool,
    head_only: bool,
) {
    let status = response.status;
    output.extend_from_slice(b"HTTP/1.1 ");
    write_decimal(output, u64::from(status));
    output.push(b' ');
    output.extend_from_slice(reason_phrase(status).as_bytes());
    output.extend_from_slice(b"\r\n");
    if status != 204 && status >= 200 {
        output.extend_from_slice(b"Content-Length: ");
        write_decimal(output, response.body.len() as u64);
        output.extend_from_slice(b"\r\n");
        if !response.body.is_empty() {
            output.extend_from_slice(b"Content-Type: ");
            output.extend_from_slice(response.content_type.as_bytes());
            output.extend_from_slice(b"\r\n");
        }
    }
    if !keep_alive {
        output.extend_from_slice(b"Connection: close\r\n");
    }
    output.extend_from_slice(&response.extra_headers);
    output.extend_from_slice(b"\r\n");
    if !head_only && status != 204 {
        output.extend_from_slice(&response.body);
    }
}

#[cfg(test)]
mod tests {
    use super::REFUSAL_RESPONSE;

    #[test]
    fn refusal_is_one_whole_response() {
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut response = httparse::Response::new(&mut headers);
        let head_bytes = match response.parse(REFUSAL_RESPONSE) {
            Ok(httparse::Status::Complete(head_bytes)) => head_bytes,
            other => panic!("not a whole head: {other:?}"),
        };
        assert_eq!(response.code, Some(503));
        let content_length = response
            .headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case("content-length"))
            .map(|header| std::str::from_utf8(header.value).unwrap().parse::<usize>())
            .expect("a Content-Length")
            .unwrap();
        assert_eq!(content_length, REFUSAL_RESPONSE.len() - head_bytes);
        let body: serde_json::Value =
            serde_json::from_slice(&REFUSAL_RESPONSE[head_bytes..]).expect("a JSON body");
        assert_eq!(body["error"], "too many connections");
    }
}
