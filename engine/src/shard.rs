//! One shard: a glommio executor pinned to one core that owns everything it serves with.
//!
//! A shard accepts on its own SO_REUSEPORT socket, serves connections in a
//! `Latency::Matters` task queue, answers statistics requests from the admin executor in a
//! low-share background queue, and drains on shutdown. Nothing here is shared with another
//! shard: the statistics, the buffers and the reusable request live in this thread.

use std::cell::RefCell;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::channels::shared_channel::{SharedReceiver, SharedSender};
use glommio::net::TcpListener;
use glommio::{executor, spawn_local_into, Latency, Shares, TaskQueueHandle};

use crate::config::Config;
use crate::http::{serve_connection, ConnectionContext, Handler, Method, Request, Response};
use crate::openrtb::{parse_bid_request, AdRequest};
use crate::stats::{Endpoint, ShardStats, StatsSnapshot};

/// How often a shard looks at the process-wide shutdown flag. Control plane only: the request
/// path never reads it.
pub const SHUTDOWN_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How often a draining shard checks whether its in-flight requests are done.
const DRAIN_POLL_INTERVAL: Duration = Duration::from_millis(2);
/// A draining shard waits at least this long: a request whose bytes reached the socket just
/// before the signal has not been read yet, so it is not counted busy until its connection
/// task runs once more.
const DRAIN_SETTLE: Duration = Duration::from_millis(50);
/// Request handling preempts lower-priority work after this long (glommio's latency target
/// for the queue).
const REQUEST_QUEUE_LATENCY: Duration = Duration::from_millis(1);
/// CPU shares of the request queue against the background queue (1000 : 50): background work
/// (statistics, later delta exchange and log flushing) gets ~5% of a busy shard.
const REQUEST_QUEUE_SHARES: usize = 1000;
const BACKGROUND_QUEUE_SHARES: usize = 50;
/// Backoff after accept fails for lack of descriptors or memory, so a full process does not
/// spin on accept.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// Everything a shard thread is started with. `Send`, unlike what the shard builds from it.
#[derive(Debug)]
pub struct ShardSetup {
    pub shard_idx: usize,
    pub config: Config,
    /// The listening socket, bound and listening, owned by this shard from now on.
    pub listener: std::net::TcpListener,
    pub shutdown: Arc<AtomicBool>,
    /// Statistics requests from the admin executor, and the replies.
    pub stats_requests: SharedReceiver<StatsRequest>,
    pub stats_replies: SharedSender<StatsSnapshot>,
}

/// A request for a statistics snapshot.
#[derive(Debug, Clone, Copy)]
pub struct StatsRequest;

/// Runs a shard until shutdown; call inside the shard's executor.
pub async fn run(setup: ShardSetup) {
    let ShardSetup {
        shard_idx,
        config,
        listener,
        shutdown,
        stats_requests,
        stats_replies,
    } = setup;
    let request_queue = executor().create_task_queue(
        Shares::Static(REQUEST_QUEUE_SHARES),
        Latency::Matters(REQUEST_QUEUE_LATENCY),
        "requests",
    );
    let background_queue = executor().create_task_queue(
        Shares::Static(BACKGROUND_QUEUE_SHARES),
        Latency::NotImportant,
        "background",
    );
    let stats = Rc::new(ShardStats::new(shard_idx));
    let context = Rc::new(ConnectionContext::new(config.http.clone(), stats.clone()));
    let handler = Rc::new(ShardHandler::new(context.clone()));
    // SAFETY: the descriptor comes from a std listener we own and give up here; glommio takes
    // sole ownership and closes it when the listener drops.
    let listener = unsafe { TcpListener::from_raw_fd(listener.into_raw_fd()) };

    let stats_task = spawn_local_into(
        {
            let stats = stats.clone();
            async move {
                let requests = stats_requests.connect().await;
                let replies = stats_replies.connect().await;
                while requests.recv().await.is_some() {
                    if replies.send(stats.snapshot()).await.is_err() {
                        break;
                    }
                }
            }
        },
        background_queue,
    );
    let accept_task = spawn_local_into(
        accept_loop(listener, context.clone(), handler, request_queue),
        request_queue,
    );
    let (Ok(stats_task), Ok(accept_task)) = (stats_task, accept_task) else {
        tracing::error!(shard_idx, "cannot spawn shard tasks");
        return;
    };

    while !shutdown.load(Ordering::Acquire) {
        glommio::timer::sleep(SHUTDOWN_POLL_INTERVAL).await;
    }
    // Stop accepting (the listener closes with the task), then let in-flight requests finish.
    accept_task.cancel().await;
    context.draining.set(true);
    let drain_started = Instant::now();
    let drain_deadline = drain_started + Duration::from_millis(config.server.drain_timeout_ms);
    while (context.busy.get() > 0 || drain_started.elapsed() < DRAIN_SETTLE)
        && Instant::now() < drain_deadline
    {
        glommio::timer::sleep(DRAIN_POLL_INTERVAL).await;
    }
    if context.busy.get() > 0 {
        tracing::warn!(
            shard_idx,
            in_flight = context.busy.get(),
            "drain timeout; exiting with requests in flight"
        );
    }
    stats_task.cancel().await;
}

/// Accepts connections and spawns one task per connection, up to the shard's limit.
pub async fn accept_loop<H: Handler + 'static>(
    listener: TcpListener,
    context: Rc<ConnectionContext>,
    handler: Rc<H>,
    queue: TaskQueueHandle,
) {
    let connection_stats = &context.stats.connections;
    loop {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                glommio::timer::sleep(ACCEPT_ERROR_BACKOFF).await;
                continue;
            }
        };
        let open = usize::try_from(connection_stats.open.get()).unwrap_or(usize::MAX);
        if open >= context.limits.connections_per_shard_max {
            crate::stats::bump(&connection_stats.rejected_at_limit);
            drop(stream);
            continue;
        }
        let context = context.clone();
        let handler = handler.clone();
        let spawned = spawn_local_into(
            async move { serve_connection(stream, &context, &*handler).await },
            queue,
        );
        match spawned {
            Ok(task) => {
                task.detach();
            }
            Err(error) => tracing::error!(%error, "cannot spawn connection task"),
        }
    }
}

/// The public port's routes.
#[derive(Debug)]
pub struct ShardHandler {
    context: Rc<ConnectionContext>,
    /// Reused for every bid request on this shard: after warm-up, converting a request into
    /// the engine's form reuses its buffers.
    ad_request: RefCell<AdRequest>,
}

impl ShardHandler {
    pub fn new(context: Rc<ConnectionContext>) -> ShardHandler {
        ShardHandler {
            context,
            ad_request: RefCell::new(AdRequest::default()),
        }
    }

    fn auction(&self, request: Request<'_>, response: &mut Response) {
        let Ok(mut ad_request) = self.ad_request.try_borrow_mut() else {
            // Handlers run to completion without awaiting, so the borrow is always free; a
            // failure here is a bug, answered without panicking.
            debug_assert!(false, "ad_request borrowed across an await");
            response.set_error(Endpoint::Auction, 500, "internal error", "");
            return;
        };
        match parse_bid_request(request.body, &mut ad_request) {
            // No campaigns yet: every valid request is a no-bid.
            Ok(()) => response.set_empty(Endpoint::Auction, 204),
            Err(error) => response.set_error(Endpoint::Auction, 400, &error.reason, &error.field),
        }
    }
}

impl Handler for ShardHandler {
    async fn handle(&self, request: Request<'_>, response: &mut Response) {
        let (endpoint, allowed) = match request.path {
            "/openrtb2/auction" => (Endpoint::Auction, Method::Post),
            "/healthz" => (Endpoint::Healthz, Method::Get),
            "/readyz" => (Endpoint::Readyz, Method::Get),
            _ => {
                response.set_error(Endpoint::Other, 404, "no such endpoint", "path");
                return;
            }
        };
        let method_ok =
            request.method == allowed || (allowed == Method::Get && request.method == Method::Head);
        if !method_ok {
            response.set_error(endpoint, 405, "method not allowed", "method");
            response.extra_headers.extend_from_slice(match allowed {
                Method::Post => b"Allow: POST\r\n",
                _ => b"Allow: GET, HEAD\r\n",
            });
            return;
        }
        match endpoint {
            Endpoint::Auction => self.auction(request, response),
            Endpoint::Healthz => response.set_text(endpoint, 200, "ok\n"),
            Endpoint::Readyz if self.context.draining.get() => {
                response.set_text(endpoint, 503, "draining\n")
            }
            Endpoint::Readyz => response.set_text(endpoint, 200, "ready\n"),
            _ => response.set_error(Endpoint::Other, 404, "no such endpoint", "path"),
        }
    }
}
