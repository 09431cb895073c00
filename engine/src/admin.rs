//! The admin listener: `/metrics` in Prometheus text format and `/stats` (per campaign spend
//! and counts, JSON), gathered from every shard on demand, and a `/healthz` that connection
//! pressure on the public port cannot reach.
//!
//! It runs in its own small executor, not on a shard, so a scrape never competes with bid
//! requests for a shard's event loop beyond the snapshot each shard copies. Shards are asked
//! over glommio shared channels and answer from their background queue; nothing is read
//! across threads directly.

use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use glommio::channels::shared_channel::{
    ConnectedReceiver, ConnectedSender, SharedReceiver, SharedSender,
};
use glommio::net::TcpListener;
use glommio::{executor, spawn_local_into, Latency, Shares};

use crate::clock;
use crate::config::Config;
use crate::http::{ConnectionContext, Endpoint, Handler, Method, Request, Response};
use crate::shard::{accept_loop, StatsRequest, SHUTDOWN_POLL_INTERVAL};
use crate::stats::{render_prometheus, render_stats_json, ShardStats, StatsSnapshot};

/// How long a scrape waits for one shard's snapshot; a shard that does not answer in time is
/// left out of that scrape rather than hanging it.
const SHARD_SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(1);

/// The admin executor's inputs: its socket and one channel pair per shard.
#[derive(Debug)]
pub struct AdminSetup {
    pub config: Config,
    pub listener: std::net::TcpListener,
    pub shutdown: Arc<AtomicBool>,
    pub shards: Vec<(SharedSender<StatsRequest>, SharedReceiver<StatsSnapshot>)>,
}

/// Runs the admin listener until shutdown; call inside the admin executor.
pub async fn run(setup: AdminSetup) {
    let AdminSetup {
        config,
        listener,
        shutdown,
        shards,
    } = setup;
    // A shard that stops before it connects its ends (a server started and dropped at once, as
    // tests do) would leave these connects waiting forever, and the server's drop waiting on
    // this thread: they race the shutdown flag.
    let connect_all = async {
        let mut connected = Vec::with_capacity(shards.len());
        for (requests, replies) in shards {
            connected.push((requests.connect().await, replies.connect().await));
        }
        Some(connected)
    };
    let shutdown_seen = async {
        while !shutdown.load(Ordering::Acquire) {
            glommio::timer::sleep(SHUTDOWN_POLL_INTERVAL).await;
        }
        None
    };
    let Some(connected) = futures_lite::future::or(connect_all, shutdown_seen).await else {
        return;
    };
    let queue = executor().create_task_queue(Shares::Static(100), Latency::NotImportant, "admin");
    // Admin connections get the public limits except the count, which a scraper never needs.
    // At that count an idle connection makes way for a new one, and with none idle the new
    // one gets a 503: a scrape is never met with a reset.
    let mut limits = config.http.clone();
    limits.connections_per_shard_max = limits.connections_per_shard_max.min(ADMIN_CONNECTIONS_MAX);
    let context = Rc::new(ConnectionContext::new(
        limits,
        Rc::new(ShardStats::new(usize::MAX)),
    ));
    let handler = Rc::new(AdminHandler { shards: connected });
    // SAFETY: the descriptor comes from a std listener we own and give up here; glommio takes
    // sole ownership and closes it when the listener drops.
    let listener = unsafe { TcpListener::from_raw_fd(listener.into_raw_fd()) };
    let Ok(accept_task) = spawn_local_into(accept_loop(listener, context, handler, queue), queue)
    else {
        tracing::error!("cannot spawn the admin accept task");
        return;
    };
    while !shutdown.load(Ordering::Acquire) {
        glommio::timer::sleep(SHUTDOWN_POLL_INTERVAL).await;
    }
    accept_task.cancel().await;
}

/// Scrapers, operators and liveness checks only: a few connections suffice.
const ADMIN_CONNECTIONS_MAX: usize = 64;

struct AdminHandler {
    shards: Vec<(
        ConnectedSender<StatsRequest>,
        ConnectedReceiver<StatsSnapshot>,
    )>,
}

impl AdminHandler {
    /// Asks every shard for a snapshot, in shard order.
    async fn gather(&self, request: StatsRequest) -> Vec<StatsSnapshot> {
        let mut snapshots = Vec::with_capacity(self.shards.len());
        for (requests, replies) in &self.shards {
            if requests.send(request).await.is_err() {
                continue;
            }
            let reply =
                glommio::timer::timeout(SHARD_SNAPSHOT_TIMEOUT, async { Ok(replies.recv().await) })
                    .await;
            if let Ok(Some(snapshot)) = reply {
                snapshots.push(snapshot);
            }
        }
        snapshots
    }
}

impl Handler for AdminHandler {
    async fn handle(&self, request: Request<'_>, response: &mut Response) {
        match (request.path, request.method) {
            ("/metrics", Method::Get | Method::Head) => {
                let snapshots = self.gather(StatsRequest { books: false }).await;
                let mut text = String::with_capacity(8 * 1024);
                render_prometheus(&snapshots, &mut text);
                response.set_text(Endpoint::Metrics, 200, &text);
                response.content_type = "text/plain; version=0.0.4; charset=utf-8";
            }
            ("/stats", Method::Get | Method::Head) => {
                let snapshots = self.gather(StatsRequest { books: true }).await;
                response.set_empty(Endpoint::Other, 200);
                response.content_type = "application/json";
                let today = clock::unix_s().div_euclid(86_400);
                render_stats_json(&snapshots, today, &mut response.body);
            }
            ("/healthz", Method::Get | Method::Head) => {
                response.set_text(Endpoint::Healthz, 200, "ok\n")
            }
            ("/metrics" | "/healthz" | "/stats", _) => {
                response.set_method_not_allowed(Endpoint::Other, "GET, HEAD");
            }
            _ => response.set_error(Endpoint::Other, 404, "no such endpoint", "path"),
        }
    }
}
