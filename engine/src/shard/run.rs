//! The life of a shard, from its start on its executor to the end of its drain: the task
//! queues, the mesh receivers and timers it spawns, the accept loop, and the control loop that
//! watches for shutdown. Kept apart from the request handling so that what runs when, and in
//! which queue, reads in one place.

use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use glommio::channels::channel_mesh::Receivers;
use glommio::channels::shared_channel::{SharedReceiver, SharedSender};
use glommio::net::TcpListener;
use glommio::{executor, spawn_local_into, Latency, Shares, Task, TaskQueueHandle};

use super::route::RouteMessage;
use super::{MeshSenders, ShardHandler, ShardMeshes, ShardMessage, ShardSetup, StatsRequest};
use crate::campaign::CampaignData;
use crate::catalog::Catalog;
use crate::clock;
use crate::config::Config;
use crate::currency::CurrencyTable;
use crate::http::{refuse_connection, serve_connection, ConnectionContext, Handler};
use crate::stats::{ShardStats, StatsSnapshot};
use crate::tracking::TokenSigner;

const _: () = assert!(SHUTDOWN_POLL_INTERVAL.as_millis() < DRAIN_SETTLE.as_millis());

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
/// The event log's queue (the group committer, the answers to forwarded events, the
/// checkpoints): little CPU, but tracking calls wait on it, so it runs within a millisecond of
/// being ready, like requests, with a fifth of their shares when both are busy.
const EVENTS_QUEUE_SHARES: usize = 200;
/// The longest a stopping shard waits for its log's last commit.
const FINAL_COMMIT_WAIT_MAX: Duration = Duration::from_secs(2);
/// Backoff after accept fails for lack of descriptors or memory, so a full process does not
/// spin on accept.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// How many times longer the escape valve's probe sleeps while no request is in progress on
/// the shard: the first request of a burst is probed within 10 ms, and the average follows
/// within a few probes of the burst.
const PROBE_IDLE_FACTOR: u32 = 10;

/// The shard's two task queues: requests (and everything a request waits on), and the
/// background work that must not delay them.
#[derive(Clone, Copy)]
struct Queues {
    request: TaskQueueHandle,
    background: TaskQueueHandle,
    events: TaskQueueHandle,
}

impl Queues {
    fn create() -> Queues {
        Queues {
            request: executor().create_task_queue(
                Shares::Static(REQUEST_QUEUE_SHARES),
                Latency::Matters(REQUEST_QUEUE_LATENCY),
                "requests",
            ),
            background: executor().create_task_queue(
                Shares::Static(BACKGROUND_QUEUE_SHARES),
                Latency::NotImportant,
                "background",
            ),
            events: executor().create_task_queue(
                Shares::Static(EVENTS_QUEUE_SHARES),
                Latency::Matters(REQUEST_QUEUE_LATENCY),
                "events",
            ),
        }
    }
}

/// This shard's ends of the three meshes, to be turned into receiving tasks.
struct MeshReceivers {
    control: Receivers<ShardMessage>,
    route: Receivers<RouteMessage>,
    reply: Receivers<RouteMessage>,
}

/// Runs a shard until shutdown; call inside the shard's executor.
pub async fn run(setup: ShardSetup) {
    let ShardSetup {
        shard_idx,
        config,
        listener,
        shutdown,
        stats_requests,
        stats_replies,
        data,
        meshes,
        tracking_secret,
        ready,
        events,
    } = setup;
    let queues = Queues::create();
    let stats = Rc::new(ShardStats::new(shard_idx));
    let context = Rc::new(ConnectionContext::new(config.http.clone(), stats.clone()));
    let Some((senders, receivers)) = join_meshes(meshes).await else {
        tracing::error!(shard_idx, "cannot join the shard meshes");
        return;
    };
    let Some(handler) = build_handler(
        shard_idx,
        &config,
        &context,
        data,
        &tracking_secret,
        senders,
        events,
    ) else {
        return;
    };
    // Bidder pools open their warm connections before the shard accepts requests; a bidder
    // that is down costs its connect timeout here once, and is counted.
    handler.fanout.warm().await;
    let mut background_tasks = spawn_mesh_tasks(&handler, receivers, queues);
    background_tasks.extend(spawn_timers(&handler, &context, &config, queues));
    background_tasks.extend(spawn_log_tasks(&handler, &config, queues));
    // SAFETY: the descriptor comes from a std listener we own and give up here; glommio takes
    // sole ownership and closes it when the listener drops.
    let listener = unsafe { TcpListener::from_raw_fd(listener.into_raw_fd()) };

    let stats_task = spawn_local_into(
        answer_stats(handler.clone(), stats_requests, stats_replies),
        queues.background,
    );
    let accept_task = spawn_local_into(
        accept_loop(listener, context.clone(), handler.clone(), queues.request),
        queues.request,
    );
    let (Ok(stats_task), Ok(accept_task)) = (stats_task, accept_task) else {
        tracing::error!(shard_idx, "cannot spawn shard tasks");
        return;
    };
    // The channel holds one message per shard, so this never blocks; a server that stopped
    // waiting has dropped the receiver, which is not an error here.
    let _ = ready.try_send(shard_idx);
    drop(ready);

    wait_for_shutdown(&shutdown).await;
    // Stop accepting (the listener closes with the task), then let in-flight requests finish.
    accept_task.cancel().await;
    drain(
        &context,
        shard_idx,
        Duration::from_millis(config.server.drain_timeout_ms),
    )
    .await;
    stats_task.cancel().await;
    handler.close_log(FINAL_COMMIT_WAIT_MAX).await;
    for task in background_tasks {
        task.cancel().await;
    }
}

/// Joins the three meshes; `None` when any of them cannot be joined.
async fn join_meshes(meshes: ShardMeshes) -> Option<(MeshSenders, MeshReceivers)> {
    let (Ok((control_senders, control)), Ok((route_senders, route)), Ok((reply_senders, reply))) = (
        meshes.control.join().await,
        meshes.route.join().await,
        meshes.reply.join().await,
    ) else {
        return None;
    };
    let senders = MeshSenders {
        control: control_senders,
        route: route_senders,
        reply: reply_senders,
    };
    let receivers = MeshReceivers {
        control,
        route,
        reply,
    };
    Some((senders, receivers))
}

/// Builds the shard's catalog and handler; `None` (logged) when the shard cannot serve.
fn build_handler(
    shard_idx: usize,
    config: &Config,
    context: &Rc<ConnectionContext<ShardStats>>,
    data: std::sync::Arc<CampaignData>,
    tracking_secret: &[u8],
    senders: MeshSenders,
    events: Option<crate::recovery::ShardEvents>,
) -> Option<Rc<ShardHandler>> {
    let currencies = CurrencyTable::from_config(&config.currency);
    let catalog = Rc::new(Catalog::build(&data, &currencies));
    drop(data);
    let Ok(signer) = TokenSigner::new(tracking_secret) else {
        tracing::error!(shard_idx, "tracking secret too short");
        return None;
    };
    let mut handler = ShardHandler::new(
        context.clone(),
        config,
        catalog,
        currencies,
        signer,
        senders,
    );
    if let Some(events) = events {
        if let Err(error) = handler.open_log(shard_idx, config, events) {
            tracing::error!(shard_idx, %error, "cannot restore the recovered state");
            return None;
        }
    }
    Some(Rc::new(handler))
}

/// One task per peer and mesh. Tracking events and budget rounds from other shards are
/// handled in the background queue; routed auctions and their replies are requests, in the
/// request queue.
fn spawn_mesh_tasks(
    handler: &Rc<ShardHandler>,
    mut receivers: MeshReceivers,
    queues: Queues,
) -> Vec<Task<()>> {
    let mut tasks = Vec::new();
    for (peer, stream) in receivers.control.streams() {
        let handler = handler.clone();
        let task = spawn_local_into(
            async move {
                while let Some(message) = stream.recv().await {
                    handler.on_control_message(peer, message);
                }
            },
            queues.background,
        );
        tasks.extend(task.ok());
    }
    for (_, stream) in receivers.route.streams() {
        let handler = handler.clone();
        let task = spawn_local_into(
            async move {
                while let Some(RouteMessage(routed)) = stream.recv().await {
                    handler.serve_routed(routed).await;
                }
            },
            queues.request,
        );
        tasks.extend(task.ok());
    }
    for (_, stream) in receivers.reply.streams() {
        let handler = handler.clone();
        let task = spawn_local_into(
            async move {
                while let Some(RouteMessage(routed)) = stream.recv().await {
                    handler.waiters.borrow_mut().complete(routed);
                }
            },
            queues.request,
        );
        tasks.extend(task.ok());
    }
    tasks
}

/// The shard's periodic work: the budget exchange, the overload probe and the pacing update.
fn spawn_timers(
    handler: &Rc<ShardHandler>,
    context: &Rc<ConnectionContext<ShardStats>>,
    config: &Config,
    queues: Queues,
) -> Vec<Task<()>> {
    let mut tasks = Vec::new();
    let exchange_interval = Duration::from_millis(config.delivery.budget_exchange_interval_ms);
    tasks.extend(
        spawn_local_into(
            {
                let handler = handler.clone();
                async move {
                    loop {
                        glommio::timer::sleep(exchange_interval).await;
                        handler.exchange_budget().await;
                    }
                }
            },
            queues.background,
        )
        .ok(),
    );
    // The escape valve's queueing-delay probe runs in the request queue, behind every ready
    // request task: how late it wakes is how long a request waits to run.
    tasks.extend(
        spawn_local_into(
            probe_queue_delay(handler.clone(), context.clone()),
            queues.request,
        )
        .ok(),
    );
    let pacing_interval = Duration::from_millis(config.delivery.pacing_update_interval_ms);
    tasks.extend(
        spawn_local_into(
            {
                let handler = handler.clone();
                async move {
                    loop {
                        glommio::timer::sleep(pacing_interval).await;
                        handler.update_pacing();
                        handler.log_traffic();
                    }
                }
            },
            queues.background,
        )
        .ok(),
    );
    tasks
}

/// The event log's tasks, in the events queue: the answers to events forwarded by other
/// shards (with or without a log: their callers wait for them), then, with a log, the group
/// committer and the checkpoints.
fn spawn_log_tasks(handler: &Rc<ShardHandler>, config: &Config, queues: Queues) -> Vec<Task<()>> {
    let mut tasks = Vec::new();
    let acker = handler.clone();
    tasks.extend(
        spawn_local_into(
            async move { acker.answer_forwarded_events().await },
            queues.events,
        )
        .ok(),
    );
    let Some(log) = handler.log.clone() else {
        return tasks;
    };
    tasks.extend(spawn_local_into(log.run_committer(), queues.events).ok());
    let checkpoints = handler.clone();
    let interval = Duration::from_secs(config.events.checkpoint_interval_s);
    let keep = config.events.retention_segments;
    let keep_bytes = config.events.retention_bytes;
    tasks.extend(
        spawn_local_into(
            async move {
                loop {
                    glommio::timer::sleep(interval).await;
                    checkpoints.checkpoint(keep, keep_bytes).await;
                }
            },
            queues.events,
        )
        .ok(),
    );
    tasks
}

/// Measures how late the request queue runs a timer, for the escape valve. A shard with no
/// request in progress has no queue to measure, so it probes ten times less often there (an
/// idle shard would otherwise wake a thousand times a second for nothing).
async fn probe_queue_delay(handler: Rc<ShardHandler>, context: Rc<ConnectionContext<ShardStats>>) {
    let busy_interval = handler.overload.probe_interval();
    loop {
        let interval = if context.busy.get() == 0 {
            busy_interval * PROBE_IDLE_FACTOR
        } else {
            busy_interval
        };
        let started = clock::now();
        glommio::timer::sleep(interval).await;
        let lag = clock::elapsed_since(started).saturating_sub(interval);
        handler.overload.observe_delay(lag.as_micros() as u64);
    }
}

/// Answers the admin executor's statistics requests until either side goes away.
async fn answer_stats(
    handler: Rc<ShardHandler>,
    stats_requests: SharedReceiver<StatsRequest>,
    stats_replies: SharedSender<StatsSnapshot>,
) {
    let requests = stats_requests.connect().await;
    let replies = stats_replies.connect().await;
    while let Some(request) = requests.recv().await {
        if replies.send(handler.snapshot(request)).await.is_err() {
            break;
        }
    }
}

async fn wait_for_shutdown(shutdown: &AtomicBool) {
    while !shutdown.load(Ordering::Acquire) {
        glommio::timer::sleep(SHUTDOWN_POLL_INTERVAL).await;
    }
}

/// Lets the requests in flight finish, for at least [`DRAIN_SETTLE`] and at most
/// `drain_timeout`.
async fn drain(context: &ConnectionContext<ShardStats>, shard_idx: usize, drain_timeout: Duration) {
    context.draining.set(true);
    let drain_started = clock::now();
    let drain_deadline = drain_started + drain_timeout;
    while (context.busy.get() > 0 || clock::elapsed_since(drain_started) < DRAIN_SETTLE)
        && clock::now() < drain_deadline
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
}

/// Accepts connections and spawns one task per connection, up to the listener's limit. At the
/// limit a new connection takes the place of the one idle longest (`ConnectionContext::admit`
/// waits for it to close); when every connection has a request in progress, it gets a 503
/// and is closed.
pub async fn accept_loop<H: Handler + 'static>(
    listener: TcpListener,
    context: Rc<ConnectionContext<ShardStats>>,
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
        let Some(slot) = context.admit().await else {
            crate::stats::bump(&connection_stats.rejected_at_limit);
            if let Some(permit) = context.refusal_permit() {
                let refusal = refuse_connection(stream, permit);
                if let Ok(task) = spawn_local_into(refusal, queue) {
                    task.detach();
                }
            }
            continue;
        };
        let context = context.clone();
        let handler = handler.clone();
        let spawned = spawn_local_into(
            async move { serve_connection(stream, &context, &*handler, slot).await },
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
