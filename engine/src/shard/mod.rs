//! One shard: a glommio executor pinned to one core that owns everything it serves with.
//!
//! A shard accepts on its own SO_REUSEPORT socket, serves connections in a
//! `Latency::Matters` task queue, answers statistics requests from the admin executor in a
//! low-share background queue, and drains on shutdown. Nothing here is shared with another
//! shard: the statistics, the buffers and the reusable request live in this thread.
//!
//! Shards talk over three glommio channel meshes (peer ids are the same in all three):
//! - control: tracking events for the shard that owns them, and the budget ledger's rounds
//!   and acknowledgements (see `budget`);
//! - route and reply: auctions handed to the shard that owns their user, and the answers
//!   (see `route`).

use std::cell::RefCell;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub mod route;

use glommio::channels::channel_mesh::{Full, MeshBuilder, Senders};
use glommio::channels::shared_channel::{SharedReceiver, SharedSender};
use glommio::net::TcpListener;
use glommio::{executor, spawn_local_into, Latency, Shares, TaskQueueHandle};

use crate::adrequest::AdRequest;
use crate::auction::response::{write_bid_response, ResponseContext};
use crate::auction::{
    merge_external_bids, run_auction_gated, AuctionScratch, AuctionSettings, CampaignSource,
    ExternalBid,
};
use crate::bidders::fanout::Fanout;
use crate::budget::{BudgetLedger, Delta, LedgerSettings, Limits};
use crate::campaign::{Campaign, CampaignData, SpendOn};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::currency::{Currency, CurrencyTable};
use crate::freqcap::{owner_shard, user_key_hash, FreqCapStore};
use crate::http::{
    serve_connection, ConnectionContext, Endpoint, Handler, Method, Request, Response,
};
use crate::openrtb::parse_bid_request;
use crate::overload::{Level, Overload};
use crate::pacing::{DailySpend, Pacer, PacingConfig, PacingRng};
use crate::stats::{
    BidderSnapshot, CampaignCounters, DecideSnapshot, DeliverySnapshot, ShardStats, StatsSnapshot,
    TrackingOutcome,
};
use crate::tracking::{
    price_from_query, price_micros_from_decimal, token_from_query, BuyerKind, DedupeKey,
    DedupeWindow, EventKind, TokenError, TokenScratch, TokenSigner, TrackingClaims,
    CLOCK_SKEW_S_MAX, ID_BYTES_MAX,
};
use route::{Reply, RouteMessage, RoutedAuction, Waiters};

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
    /// The campaign load every shard builds its own catalog from.
    pub data: Arc<CampaignData>,
    /// The channels between shards (full meshes; each shard joins them).
    pub meshes: ShardMeshes,
    /// Gets the shard's index once it accepts connections (its catalog built, its bidder pools
    /// warm), so that the server is started only when it can answer in time.
    pub ready: std::sync::mpsc::SyncSender<usize>,
    /// The tracking secret, already resolved (config, environment, or demo).
    pub tracking_secret: Arc<Vec<u8>>,
}

/// The three meshes every shard joins.
#[derive(Clone)]
pub struct ShardMeshes {
    pub control: MeshBuilder<ShardMessage, Full>,
    pub route: MeshBuilder<RouteMessage, Full>,
    pub reply: MeshBuilder<RouteMessage, Full>,
}

impl ShardMeshes {
    pub fn full(n_shards: usize) -> ShardMeshes {
        ShardMeshes {
            control: MeshBuilder::full(n_shards, MESH_CHANNEL_CAPACITY),
            route: MeshBuilder::full(n_shards, MESH_CHANNEL_CAPACITY),
            reply: MeshBuilder::full(n_shards, MESH_CHANNEL_CAPACITY),
        }
    }
}

impl std::fmt::Debug for ShardMeshes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShardMeshes")
    }
}

/// Messages on the control mesh.
#[derive(Debug)]
pub enum ShardMessage {
    /// A verified tracking event, sent to the shard that answered the auction (named in the
    /// token): it holds the bid's budget commitment and the user's caps, and its dedupe window
    /// judges every repeat of the event wherever the client connected.
    Tracking(TrackingEvent),
    /// A budget round: the sender's changed campaigns since its last round.
    BudgetRound {
        round: u64,
        day: i64,
        deltas: Vec<Delta>,
    },
    /// The round was applied; the buffer goes back to its sender for the next round.
    BudgetAck { round: u64, buffer: Vec<Delta> },
}

/// A verified tracking event, small and `Copy` so forwarding it allocates nothing.
#[derive(Debug, Clone, Copy)]
pub struct TrackingEvent {
    pub kind: EventKind,
    pub key: DedupeKey,
    pub campaign_idx: u32,
    /// What the event costs the campaign, in micro-units of its currency (0 unless it is the
    /// event the campaign spends on).
    pub spend_micros: i64,
    /// What the bid committed for this event (0 unless it spends): the signed price.
    pub committed_micros: i64,
    pub issued_unix_s: i64,
    /// Hash of the request's user key, 0 for none.
    pub user_key: u64,
}

/// How many times longer the escape valve's probe sleeps while no request is in progress on
/// the shard: the first request of a burst is probed within 10 ms, and the average follows
/// within a few probes of the burst.
const PROBE_IDLE_FACTOR: u32 = 10;

/// Messages in flight from one shard to another before the sender waits: a burst of tracking
/// calls queues here; beyond it the connection that produced the event waits its turn.
pub const MESH_CHANNEL_CAPACITY: usize = 1024;

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
        data,
        meshes,
        tracking_secret,
        ready,
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
    let (
        Ok((senders, mut receivers)),
        Ok((route_senders, mut route_receivers)),
        Ok((reply_senders, mut reply_receivers)),
    ) = (
        meshes.control.join().await,
        meshes.route.join().await,
        meshes.reply.join().await,
    )
    else {
        tracing::error!(shard_idx, "cannot join the shard meshes");
        return;
    };
    let currencies = CurrencyTable::from_config(&config.currency);
    let catalog = Rc::new(Catalog::build(&data, &currencies));
    drop(data);
    let Ok(signer) = TokenSigner::new(&tracking_secret) else {
        tracing::error!(shard_idx, "tracking secret too short");
        return;
    };
    let handler = Rc::new(ShardHandler::new(
        context.clone(),
        &config,
        catalog,
        currencies,
        signer,
        MeshSenders {
            control: senders,
            route: route_senders,
            reply: reply_senders,
        },
    ));
    // Bidder pools open their warm connections before the shard accepts requests; a bidder
    // that is down costs its connect timeout here once, and is counted.
    handler.fanout.warm().await;
    // Tracking events and budget rounds from other shards are handled in the background
    // queue; routed auctions and their replies are requests, in the request queue.
    let mut mesh_tasks = Vec::new();
    for (peer, stream) in receivers.streams() {
        let handler = handler.clone();
        let task = spawn_local_into(
            async move {
                while let Some(message) = stream.recv().await {
                    handler.on_control_message(peer, message);
                }
            },
            background_queue,
        );
        mesh_tasks.extend(task.ok());
    }
    for (_, stream) in route_receivers.streams() {
        let handler = handler.clone();
        let task = spawn_local_into(
            async move {
                while let Some(RouteMessage(routed)) = stream.recv().await {
                    handler.serve_routed(routed).await;
                }
            },
            request_queue,
        );
        mesh_tasks.extend(task.ok());
    }
    for (_, stream) in reply_receivers.streams() {
        let handler = handler.clone();
        let task = spawn_local_into(
            async move {
                while let Some(RouteMessage(routed)) = stream.recv().await {
                    handler.waiters.borrow_mut().complete(routed);
                }
            },
            request_queue,
        );
        mesh_tasks.extend(task.ok());
    }
    let exchange_interval = Duration::from_millis(config.delivery.budget_exchange_interval_ms);
    mesh_tasks.extend(
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
            background_queue,
        )
        .ok(),
    );
    // The escape valve's queueing-delay probe runs in the request queue, behind every ready
    // request task: how late it wakes is how long a request waits to run. A shard with no
    // request in progress has no queue to measure, so it probes ten times less often there
    // (an idle shard would otherwise wake a thousand times a second for nothing).
    mesh_tasks.extend(
        spawn_local_into(
            {
                let handler = handler.clone();
                let context = context.clone();
                async move {
                    let busy_interval = handler.overload.probe_interval();
                    loop {
                        let interval = if context.busy.get() == 0 {
                            busy_interval * PROBE_IDLE_FACTOR
                        } else {
                            busy_interval
                        };
                        let started = Instant::now();
                        glommio::timer::sleep(interval).await;
                        let lag = started.elapsed().saturating_sub(interval);
                        handler.overload.observe_delay(lag.as_micros() as u64);
                    }
                }
            },
            request_queue,
        )
        .ok(),
    );
    let pacing_interval = Duration::from_millis(config.delivery.pacing_update_interval_ms);
    mesh_tasks.extend(
        spawn_local_into(
            {
                let handler = handler.clone();
                async move {
                    loop {
                        glommio::timer::sleep(pacing_interval).await;
                        handler.update_pacing();
                    }
                }
            },
            background_queue,
        )
        .ok(),
    );
    // SAFETY: the descriptor comes from a std listener we own and give up here; glommio takes
    // sole ownership and closes it when the listener drops.
    let listener = unsafe { TcpListener::from_raw_fd(listener.into_raw_fd()) };

    let stats_task = spawn_local_into(
        {
            let handler = handler.clone();
            async move {
                let requests = stats_requests.connect().await;
                let replies = stats_replies.connect().await;
                while requests.recv().await.is_some() {
                    if replies.send(handler.snapshot()).await.is_err() {
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
    // The channel holds one message per shard, so this never blocks; a server that stopped
    // waiting has dropped the receiver, which is not an error here.
    let _ = ready.try_send(shard_idx);
    drop(ready);

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
    for task in mesh_tasks {
        task.cancel().await;
    }
}

/// Accepts connections and spawns one task per connection, up to the shard's limit.
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

/// The public port's routes and everything they decide with. One per shard.
#[derive(Debug)]
pub struct ShardHandler {
    context: Rc<ConnectionContext<ShardStats>>,
    settings: AuctionSettings,
    currencies: CurrencyTable,
    signer: TokenSigner,
    public_url: String,
    token_ttl_s: u64,
    route_by_user: bool,
    senders: MeshSenders,
    /// Swapped whole on reload; a request holds its own `Rc` for its whole life.
    catalog: RefCell<Rc<Catalog>>,
    /// The parsed request; borrowed only between awaits.
    request: RefCell<AdRequest>,
    /// Reused by every decision; borrowed only between awaits.
    scratch: RefCell<RequestScratch>,
    dedupe: RefCell<DedupeWindow>,
    delivery: RefCell<Delivery>,
    waiters: RefCell<Waiters>,
    /// The external bidders, their connection pools and counters.
    pub fanout: Fanout,
    /// The escape valve: this shard's backlog signals and its degraded answers.
    overload: Overload,
    /// Budget round buffers returned by the peers, and acknowledgements still to send (one
    /// per peer at most: a peer has at most one round in flight).
    exchange: RefCell<Exchange>,
}

/// The senders of the three meshes.
pub struct MeshSenders {
    pub control: Senders<ShardMessage>,
    pub route: Senders<RouteMessage>,
    pub reply: Senders<RouteMessage>,
}

impl std::fmt::Debug for MeshSenders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshSenders")
            .field("peer_id", &self.control.peer_id())
            .finish()
    }
}

/// What decides whether a campaign may deliver beyond its targeting: its budget (across
/// shards), its pacing, and the user's frequency caps. One per shard.
#[derive(Debug)]
struct Delivery {
    ledger: BudgetLedger,
    pacer: Pacer,
    freqcaps: FreqCapStore,
    rng: PacingRng,
    /// Requests handed to their owner shard, and served here for another shard.
    routed_out: u64,
    routed_in: u64,
    /// Requests served here because every waiting slot was taken.
    route_slots_exhausted: u64,
    decide: DecideSnapshot,
}

#[derive(Debug, Default)]
struct Exchange {
    deltas: Vec<Delta>,
    buffers: Vec<Vec<Delta>>,
    acks_due: Vec<Option<u64>>,
}

/// Buffers a decision reuses, so that after warm-up deciding allocates nothing.
#[derive(Debug, Default)]
struct RequestScratch {
    auction: AuctionScratch,
    token: String,
    adm: String,
    url: String,
    token_scratch: TokenScratch,
}

/// Where an auction goes once its request is parsed.
enum Next {
    /// Ask the external bidders first (the request in its own box).
    AskBidders(Box<RoutedAuction>),
    /// To the owner shard `(owner, slot, generation)`, waiting in `slot`.
    Route((usize, u32, u32), Box<RoutedAuction>),
}

/// The 1x1 transparent GIF an impression pixel answers with.
const PIXEL_GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// Wall-clock seconds; tokens and flights are in Unix time.
fn now_unix_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// What one event of a bid priced `price_cpm_micros` (CPM, in `currency`) costs a campaign
/// paying in `campaign_currency`: a thousandth, converted. The budget commitment and the spend
/// are both computed here, so a spend never exceeds its commitment by rounding.
fn per_event_micros(
    currencies: &CurrencyTable,
    price_cpm_micros: i64,
    currency: Currency,
    campaign_currency: Currency,
) -> Option<i64> {
    currencies.convert(price_cpm_micros / 1000, currency, campaign_currency)
}

/// The message a failed channel send gives back.
fn unsent<T>(error: glommio::GlommioError<T>) -> Option<T> {
    match error {
        glommio::GlommioError::Closed(glommio::ResourceType::Channel(message))
        | glommio::GlommioError::WouldBlock(glommio::ResourceType::Channel(message)) => {
            Some(message)
        }
        _ => None,
    }
}

/// Sets the response of an auction decided into `response.body` (here or on another shard).
fn finish_auction(response: &mut Response, status: u16) {
    if status == 200 {
        response.endpoint = Endpoint::Auction;
        response.status = 200;
        response.content_type = "application/json";
    } else {
        response.set_empty(Endpoint::Auction, status);
    }
}

fn budget_limits(campaign: &Campaign) -> Limits {
    Limits {
        total_micros: campaign.budget.total_micros,
        daily_micros: campaign.budget.daily_micros,
    }
}

impl ShardHandler {
    pub fn new(
        context: Rc<ConnectionContext<ShardStats>>,
        config: &Config,
        catalog: Rc<Catalog>,
        currencies: CurrencyTable,
        signer: TokenSigner,
        senders: MeshSenders,
    ) -> ShardHandler {
        context
            .stats
            .campaigns
            .borrow_mut()
            .resize(catalog.len(), CampaignCounters::default());
        let n_shards = senders.control.nr_consumers().max(1);
        let peer_id = senders.control.peer_id();
        let limits: Vec<Limits> = catalog.campaigns().iter().map(budget_limits).collect();
        let ledger = BudgetLedger::new(
            LedgerSettings {
                allowance_micros: config.delivery.budget_shard_allowance_micros,
                // A token is accepted until `ttl` after its issue time, judged by a clock
                // that may be up to the skew behind ours.
                hold_s: i64::try_from(config.tracking.token_ttl_s).unwrap_or(i64::MAX)
                    + CLOCK_SKEW_S_MAX,
                n_peers: n_shards - 1,
            },
            &limits,
            now_unix_s(),
        );
        let delivery = Delivery {
            ledger,
            // Full throttle until the first update: a started shard knows no spend yet, the
            // budget ledger bounds that first interval, and spend at throttle 1 is the best
            // measurement for the controller's first step. A cautious start would also make a
            // new server's first bids a coin toss.
            pacer: Pacer::for_campaigns(
                PacingConfig {
                    throttle_start: 1.0,
                    ..PacingConfig::default()
                },
                catalog.campaigns(),
            ),
            freqcaps: FreqCapStore::with_capacity(config.delivery.freqcap_users_per_shard_max),
            rng: PacingRng::new(0x5eed ^ peer_id as u64),
            routed_out: 0,
            routed_in: 0,
            route_slots_exhausted: 0,
            decide: DecideSnapshot::default(),
        };
        ShardHandler {
            settings: AuctionSettings {
                pricing: config.auction.pricing,
                campaign_wins_per_request_max: config.auction.campaign_wins_per_request_max,
            },
            currencies,
            signer,
            public_url: config.tracking.public_url.trim_end_matches('/').to_string(),
            token_ttl_s: config.tracking.token_ttl_s,
            route_by_user: config.delivery.route_by_user,
            exchange: RefCell::new(Exchange {
                acks_due: vec![None; n_shards],
                ..Exchange::default()
            }),
            senders,
            catalog: RefCell::new(catalog),
            request: RefCell::new(AdRequest::default()),
            scratch: RefCell::new(RequestScratch::default()),
            dedupe: RefCell::new(DedupeWindow::with_capacity(
                config.tracking.dedupe_entries_max,
            )),
            delivery: RefCell::new(delivery),
            waiters: RefCell::new(Waiters::default()),
            fanout: Fanout::new(&config.bidders, &config.fanout, 0xb1dd ^ peer_id as u64),
            overload: Overload::new(&config.overload),
            context,
        }
    }

    fn n_shards(&self) -> usize {
        self.senders.control.nr_consumers().max(1)
    }

    fn peer_id(&self) -> usize {
        self.senders.control.peer_id()
    }

    /// This shard's statistics with campaign ids from its catalog.
    pub fn snapshot(&self) -> StatsSnapshot {
        let catalog = self.catalog.borrow().clone();
        let mut snapshot = self
            .context
            .stats
            .snapshot_with(&|idx| catalog.campaigns().get(idx).map(|c| c.id.clone()));
        let delivery = self.delivery.borrow();
        let ledger = delivery.ledger.counters();
        snapshot.delivery = DeliverySnapshot {
            budget_refused_total: ledger.refused_total,
            budget_refused_daily: ledger.refused_daily,
            budget_refused_allowance: ledger.refused_allowance,
            budget_rounds_sent: ledger.rounds_sent,
            budget_rounds_applied: ledger.rounds_applied,
            budget_unreserved_spend: ledger.unreserved_spend,
            pacing_throttled: delivery.pacer.requests_throttled(),
            freqcap_users: delivery.freqcaps.len() as u64,
            freqcap_evicted: delivery.freqcaps.n_evicted(),
            routed_out: delivery.routed_out,
            routed_in: delivery.routed_in,
            route_slots_exhausted: delivery.route_slots_exhausted,
        };
        snapshot.decide = delivery.decide.clone();
        snapshot.overload = self.overload.snapshot();
        snapshot.bidders = self
            .fanout
            .counters()
            .into_iter()
            .zip(self.fanout.connections_open())
            .map(|((name, counters), open)| BidderSnapshot {
                name,
                counters,
                connections_open: open as u64,
            })
            .collect();
        snapshot
    }

    /// `POST /openrtb2/auction`: parse here, ask the bidders if any, then decide here or on the
    /// user's owner shard.
    async fn auction(&self, request: Request<'_>, response: &mut Response) {
        let started = request.received;
        let level = self.overload.admit();
        if level == Level::Shed {
            // Answered before parsing: under overload the body is the cost being shed.
            finish_auction(response, 204);
            return;
        }
        let _in_flight = self.overload.enter();
        let next = {
            let Ok(mut ad_request) = self.request.try_borrow_mut() else {
                // Handlers borrow it only between awaits, so this is a bug, answered without
                // panicking.
                debug_assert!(false, "request borrowed across an await");
                response.set_error(Endpoint::Auction, 500, "internal error", "");
                return;
            };
            if let Err(error) = parse_bid_request(request.body, &mut ad_request) {
                response.set_error(Endpoint::Auction, 400, &error.reason, &error.field);
                return;
            }
            if self.fanout.is_active() && level < Level::NoFanout {
                // The request waits for bidders: it moves into a pooled box of its own (the
                // shard's parse buffer serves the next request meanwhile) and continues there.
                let mut boxed = self.waiters.borrow_mut().take_box();
                std::mem::swap(&mut boxed.request, &mut *ad_request);
                boxed.external.clear();
                Next::AskBidders(boxed)
            } else {
                let owner = self.owner_of(&ad_request);
                let slot = (owner != self.peer_id() && level < Level::LocalOnly)
                    .then(|| self.waiters.borrow_mut().register())
                    .flatten();
                match slot {
                    None => {
                        self.decide_here(owner, level, &ad_request, &[], started, response);
                        return;
                    }
                    Some((slot, generation)) => {
                        let mut routed = self.waiters.borrow_mut().take_box();
                        // The parsed request travels; the box's old one stays here for the
                        // next parse, so neither side allocates.
                        std::mem::swap(&mut routed.request, &mut *ad_request);
                        routed.reply_to = self.peer_id();
                        routed.slot = slot;
                        routed.generation = generation;
                        routed.status = 0;
                        routed.body.clear();
                        routed.external.clear();
                        self.delivery.borrow_mut().routed_out += 1;
                        Next::Route((owner, slot, generation), routed)
                    }
                }
            }
        };
        match next {
            Next::AskBidders(boxed) => {
                self.auction_with_bidders(request.body, boxed, started, response)
                    .await
            }
            Next::Route(destination, routed) => {
                self.route_and_wait(destination, routed, started, response)
                    .await
            }
        }
    }

    /// The owner shard of `ad_request`'s user, or this shard when requests are not routed.
    fn owner_of(&self, ad_request: &AdRequest) -> usize {
        // A draining shard decides everything itself: its peers are draining too, and a peer
        // that has finished stops serving routed requests. Shards notice shutdown within
        // `SHUTDOWN_POLL_INTERVAL` of each other and drain for at least `DRAIN_SETTLE`, which
        // is longer, so nothing is routed to a peer that stopped.
        let route = self.route_by_user && self.n_shards() > 1 && !self.context.draining.get();
        match ad_request.user_key {
            Some(key) if route => {
                owner_shard(user_key_hash(ad_request.text(key.text)), self.n_shards())
            }
            _ => self.peer_id(),
        }
    }

    /// The rest of an auction when bidders are configured: ask them (until the deadline at
    /// most), then decide here or on the owner shard with their bids, which travel along.
    async fn auction_with_bidders(
        &self,
        body: &[u8],
        mut boxed: Box<RoutedAuction>,
        started: Instant,
        response: &mut Response,
    ) {
        let deadline = self.fanout.deadline(&boxed.request, started);
        {
            let RoutedAuction {
                request, external, ..
            } = &mut *boxed;
            self.fanout
                .ask_all(body, request, deadline, &self.currencies, external)
                .await;
        }
        let owner = self.owner_of(&boxed.request);
        // The backlog may have grown while the bidders answered.
        let level = self.overload.current();
        let slot = (owner != self.peer_id() && level < Level::LocalOnly)
            .then(|| self.waiters.borrow_mut().register())
            .flatten();
        let Some((slot, generation)) = slot else {
            self.decide_here(
                owner,
                level,
                &boxed.request,
                &boxed.external,
                started,
                response,
            );
            self.waiters.borrow_mut().recycle(boxed);
            return;
        };
        boxed.reply_to = self.peer_id();
        boxed.slot = slot;
        boxed.generation = generation;
        boxed.status = 0;
        boxed.body.clear();
        self.delivery.borrow_mut().routed_out += 1;
        self.route_and_wait((owner, slot, generation), boxed, started, response)
            .await;
    }

    /// Decides on this shard: it owns the user, or (`owner` is another shard) the shard runs
    /// at [`Level::LocalOnly`] or every routing slot is taken. Off the owner, campaigns with
    /// frequency caps do not bid: only the owner knows the user's counts.
    fn decide_here(
        &self,
        owner: usize,
        level: Level,
        ad_request: &AdRequest,
        external: &[ExternalBid],
        started: Instant,
        response: &mut Response,
    ) {
        let caps_here = owner == self.peer_id();
        if !caps_here && level < Level::LocalOnly {
            self.delivery.borrow_mut().route_slots_exhausted += 1;
        }
        let status = self.decide(ad_request, external, caps_here, &mut response.body);
        self.delivery
            .borrow_mut()
            .decide
            .local
            .record(started.elapsed());
        finish_auction(response, status);
    }

    /// Hands `routed` (registered in `slot`) to `owner` and answers with what comes back.
    async fn route_and_wait(
        &self,
        (owner, slot, generation): (usize, u32, u32),
        routed: Box<RoutedAuction>,
        started: Instant,
        response: &mut Response,
    ) {
        let reply = Reply::new(&self.waiters, slot, generation);
        if let Err(error) = self
            .senders
            .route
            .send_to(owner, RouteMessage(routed))
            .await
        {
            // The owner is gone (shutting down): decide here with what came back.
            drop(reply);
            self.waiters.borrow_mut().release(slot, generation);
            let Some(RouteMessage(routed)) = unsent(error) else {
                finish_auction(response, 204);
                return;
            };
            let status = self.decide(&routed.request, &routed.external, false, &mut response.body);
            finish_auction(response, status);
            self.waiters.borrow_mut().recycle(routed);
            return;
        }
        let routed = reply.await;
        self.delivery
            .borrow_mut()
            .decide
            .routed
            .record(started.elapsed());
        response.body.extend_from_slice(&routed.body);
        finish_auction(response, routed.status);
        self.waiters.borrow_mut().recycle(routed);
    }

    /// Decides an auction another shard handed over, and sends the answer back.
    async fn serve_routed(&self, mut routed: Box<RoutedAuction>) {
        self.delivery.borrow_mut().routed_in += 1;
        let mut body = std::mem::take(&mut routed.body);
        body.clear();
        routed.status = self.decide(&routed.request, &routed.external, true, &mut body);
        routed.body = body;
        let reply_to = routed.reply_to;
        // Reply receivers never wait on a channel, so this wait always ends.
        if let Err(error) = self
            .senders
            .reply
            .send_to(reply_to, RouteMessage(routed))
            .await
        {
            drop(error);
        }
    }

    /// Runs the auction for `ad_request` and writes the bid response into `out`; returns the
    /// status (200, or 204 for no bid). Commits each winner's budget before signing its bid.
    /// `caps_here`: this shard owns the user's frequency caps; if not, capped campaigns do not
    /// bid.
    fn decide(
        &self,
        ad_request: &AdRequest,
        external: &[ExternalBid],
        caps_here: bool,
        out: &mut Vec<u8>,
    ) -> u16 {
        let (Ok(mut scratch), Ok(mut delivery)) = (
            self.scratch.try_borrow_mut(),
            self.delivery.try_borrow_mut(),
        ) else {
            debug_assert!(false, "decision state borrowed across an await");
            return 204;
        };
        let scratch = &mut *scratch;
        let delivery = &mut *delivery;
        let catalog = self.catalog.borrow().clone();
        let now = now_unix_s();
        let user_key = ad_request
            .user_key
            .map_or(0, |key| user_key_hash(ad_request.text(key.text)));
        delivery.pacer.observe_request(now);
        {
            let Delivery {
                ledger,
                pacer,
                freqcaps,
                rng,
                ..
            } = delivery;
            let mut gate = |campaign_idx: u32, campaign: &Campaign| -> bool {
                if ledger.is_limited(campaign_idx)
                    && ledger
                        .check(campaign_idx, campaign.bid_cpm_micros / 1000, now)
                        .is_err()
                {
                    return false;
                }
                if !campaign.frequency_caps.is_empty()
                    && (user_key == 0
                        || !caps_here
                        || !freqcaps.allows(user_key, campaign_idx, &campaign.frequency_caps, now))
                {
                    // A capped campaign needs a user to count for, on the shard that counts
                    // them; otherwise it does not bid (we prefer a missed delivery to one over
                    // the cap).
                    return false;
                }
                pacer.allows(campaign_idx, rng)
            };
            run_auction_gated(
                &*catalog,
                ad_request,
                &self.currencies,
                self.settings,
                now,
                &mut scratch.auction,
                &mut gate,
            );
        }
        merge_external_bids(
            &mut scratch.auction,
            ad_request,
            &self.currencies,
            external,
            self.settings,
        );
        let RequestScratch {
            auction,
            token,
            adm,
            url,
            ..
        } = scratch;
        let currency = auction.currency;
        // A bid whose ids cannot go into a token (an exchange's id over the token's limit)
        // could not be tracked, so it could not be billed: it is dropped before the response.
        // A winner whose budget cannot take its price is dropped too; the commit comes last,
        // so nothing is committed for a bid that does not leave.
        let trackable = |text: &str| (1..=ID_BYTES_MAX).contains(&text.len());
        let ledger = &mut delivery.ledger;
        auction.winners.retain(|winner| {
            if winner.is_external() {
                // Checked against the request and its limits when its response was parsed;
                // an external bid spends no budget of ours.
                return true;
            }
            let campaign = catalog.campaign(winner.campaign_idx);
            let imp_ok = ad_request
                .imps()
                .get(winner.imp_idx)
                .is_some_and(|imp| trackable(ad_request.text(imp.id)));
            let creative_ok = campaign
                .creatives
                .get(winner.creative_idx)
                .is_some_and(|c| trackable(&c.id));
            if !(imp_ok && creative_ok && trackable(&ad_request.id) && trackable(&campaign.id)) {
                return false;
            }
            if !ledger.is_limited(winner.campaign_idx) {
                return true;
            }
            let Some(amount) = per_event_micros(
                &self.currencies,
                winner.price_micros,
                currency,
                campaign.currency,
            ) else {
                return false;
            };
            ledger.commit(winner.campaign_idx, amount, now).is_ok()
        });
        if auction.winners.is_empty() {
            return 204;
        }
        let shard_idx = u16::try_from(self.peer_id()).unwrap_or(u16::MAX);
        let mut sign = |winner: &crate::auction::Winner, out: &mut String| {
            let campaign = catalog.campaign(winner.campaign_idx);
            let imp_id = ad_request
                .imps()
                .get(winner.imp_idx)
                .map_or("", |imp| ad_request.text(imp.id));
            let claims = TrackingClaims {
                request_id: &ad_request.id,
                imp_id,
                buyer_kind: BuyerKind::Campaign,
                buyer_id: &campaign.id,
                creative_id: campaign
                    .creatives
                    .get(winner.creative_idx)
                    .map_or("", |c| c.id.as_str()),
                price_micros: winner.price_micros,
                currency,
                issued_unix_s: now,
                shard_idx,
                user_key,
            };
            // Every id was checked against the token's limits above, so signing cannot fail;
            // if it did, the bid would go out with an empty token and its events be refused.
            let signed = self.signer.sign(&claims, out);
            debug_assert!(signed.is_ok(), "{signed:?}");
        };
        let context = ResponseContext {
            public_url: &self.public_url,
            currency,
            external,
            currencies: &self.currencies,
        };
        write_bid_response(
            out,
            ad_request,
            &auction.winners,
            &*catalog,
            &context,
            &mut sign,
            token,
            adm,
            url,
        );
        let mut counters = self.context.stats.campaigns.borrow_mut();
        for winner in &auction.winners {
            if let Some(external_idx) = winner.external_idx {
                if let Some(bid) = external.get(external_idx as usize) {
                    self.fanout.count_win(bid.bidder_idx);
                }
            } else if let Some(c) = counters.get_mut(winner.campaign_idx as usize) {
                c.bids += 1;
            }
        }
        200
    }

    /// Verifies a tracking call and routes its event to the owner shard. Answers at once: the
    /// answer does not depend on whether the event repeats.
    async fn tracking(&self, kind: EventKind, request: Request<'_>, response: &mut Response) {
        let (endpoint, event_idx) = match kind {
            EventKind::Win => (Endpoint::Win, 0),
            EventKind::Impression => (Endpoint::Impression, 1),
            EventKind::Click => (Endpoint::Click, 2),
        };
        let event = {
            let Ok(mut scratch) = self.scratch.try_borrow_mut() else {
                debug_assert!(false, "request scratch borrowed across an await");
                response.set_error(endpoint, 500, "internal error", "");
                return;
            };
            let Some(token) = token_from_query(request.query) else {
                self.context
                    .stats
                    .record_tracking(event_idx, TrackingOutcome::Malformed);
                response.set_error(endpoint, 403, "missing tracking token", "t");
                return;
            };
            let verified = match self.signer.verify(
                token,
                now_unix_s(),
                self.token_ttl_s,
                &mut scratch.token_scratch,
            ) {
                Ok(verified) => verified,
                Err(error) => {
                    let outcome = match error {
                        TokenError::Malformed { .. } => TrackingOutcome::Malformed,
                        TokenError::BadSignature => TrackingOutcome::Forged,
                        TokenError::Expired { .. } | TokenError::FromTheFuture { .. } => {
                            TrackingOutcome::Expired
                        }
                    };
                    self.context.stats.record_tracking(event_idx, outcome);
                    response.set_error(endpoint, 403, &error.to_string(), "t");
                    return;
                }
            };
            let catalog = self.catalog.borrow().clone();
            let claims = verified.claims;
            let found = (claims.buyer_kind == BuyerKind::Campaign)
                .then(|| catalog.campaign_idx(claims.buyer_id))
                .flatten()
                .map(|idx| (idx, catalog.campaign(idx)));
            let Some((campaign_idx, campaign)) = found else {
                self.context
                    .stats
                    .record_tracking(event_idx, TrackingOutcome::UnknownCampaign);
                response.set_error(
                    endpoint,
                    403,
                    "tracking token names no current campaign",
                    "t",
                );
                return;
            };
            let spends = matches!(
                (kind, campaign.budget.spend_on),
                (EventKind::Impression, SpendOn::Impression) | (EventKind::Win, SpendOn::Win)
            );
            let (spend_micros, committed_micros) = if spends {
                (
                    self.spend_micros(
                        claims.price_micros,
                        claims.currency,
                        request.query,
                        campaign.currency,
                    ),
                    per_event_micros(
                        &self.currencies,
                        claims.price_micros,
                        claims.currency,
                        campaign.currency,
                    )
                    .unwrap_or(0),
                )
            } else {
                (0, 0)
            };
            match kind {
                EventKind::Win => response.set_empty(endpoint, 204),
                EventKind::Impression => {
                    response.endpoint = endpoint;
                    response.status = 200;
                    response.content_type = "image/gif";
                    response.body.extend_from_slice(PIXEL_GIF);
                }
                EventKind::Click => {
                    let landing = campaign
                        .creatives
                        .iter()
                        .find(|c| c.id == claims.creative_id)
                        .map_or(
                            campaign
                                .creatives
                                .first()
                                .map_or("", |c| c.landing_page.as_str()),
                            |c| c.landing_page.as_str(),
                        );
                    response.set_empty(endpoint, 302);
                    response.extra_headers.extend_from_slice(b"Location: ");
                    response.extra_headers.extend_from_slice(landing.as_bytes());
                    response.extra_headers.extend_from_slice(b"\r\n");
                }
            }
            let owner = usize::from(claims.shard_idx) % self.n_shards();
            (
                owner,
                TrackingEvent {
                    kind,
                    key: DedupeKey::new(kind, &verified.tag),
                    campaign_idx,
                    spend_micros,
                    committed_micros,
                    issued_unix_s: claims.issued_unix_s,
                    user_key: claims.user_key,
                },
            )
        };
        let (owner, event) = event;
        if owner == self.peer_id() {
            self.apply_tracking(event);
        } else if self
            .senders
            .control
            .try_send_to(owner, ShardMessage::Tracking(event))
            .is_err()
            && self
                .senders
                .control
                .send_to(owner, ShardMessage::Tracking(event))
                .await
                .is_err()
        {
            // The channel is closed (the owner is shutting down): count here rather than lose
            // the event.
            self.apply_tracking(event);
        }
    }

    /// What an event costs, in the campaign's currency: the clearing price the exchange
    /// reports in `p` when it is a valid amount no higher than what we bid, else our price.
    fn spend_micros(
        &self,
        signed_micros: i64,
        currency: Currency,
        query: &str,
        campaign_currency: Currency,
    ) -> i64 {
        let reported = price_from_query(query)
            .and_then(price_micros_from_decimal)
            .filter(|micros| (0..=signed_micros).contains(micros));
        let cpm_micros = reported.unwrap_or(signed_micros);
        // Prices are CPM: one event costs a thousandth.
        per_event_micros(&self.currencies, cpm_micros, currency, campaign_currency).unwrap_or(0)
    }

    /// Counts an event this shard owns, once.
    pub fn apply_tracking(&self, event: TrackingEvent) {
        let event_idx = match event.kind {
            EventKind::Win => 0,
            EventKind::Impression => 1,
            EventKind::Click => 2,
        };
        let Ok(mut dedupe) = self.dedupe.try_borrow_mut() else {
            debug_assert!(false, "dedupe window borrowed twice");
            return;
        };
        if !dedupe.first_seen(event.key, now_unix_s()) {
            self.context
                .stats
                .record_tracking(event_idx, TrackingOutcome::Duplicate);
            return;
        }
        self.context
            .stats
            .record_tracking(event_idx, TrackingOutcome::Counted);
        let mut counters = self.context.stats.campaigns.borrow_mut();
        if let Some(c) = counters.get_mut(event.campaign_idx as usize) {
            match event.kind {
                EventKind::Win => c.wins += 1,
                EventKind::Impression => c.impressions += 1,
                EventKind::Click => c.clicks += 1,
            }
            c.spend_micros = c.spend_micros.saturating_add(event.spend_micros);
        }
        drop(counters);
        let now = now_unix_s();
        let mut delivery = self.delivery.borrow_mut();
        if event.committed_micros > 0 || event.spend_micros > 0 {
            delivery.ledger.realize(
                event.campaign_idx,
                event.issued_unix_s,
                event.committed_micros,
                event.spend_micros,
                now,
            );
        }
        if event.kind == EventKind::Impression && event.user_key != 0 {
            let catalog = self.catalog.borrow().clone();
            if let Some(campaign) = catalog.campaigns().get(event.campaign_idx as usize) {
                if !campaign.frequency_caps.is_empty() {
                    delivery.freqcaps.record_impression(
                        event.user_key,
                        event.campaign_idx,
                        &campaign.frequency_caps,
                        now,
                    );
                }
            }
        }
    }

    /// A message from another shard on the control mesh.
    fn on_control_message(&self, peer: usize, message: ShardMessage) {
        match message {
            ShardMessage::Tracking(event) => self.apply_tracking(event),
            ShardMessage::BudgetRound { round, day, deltas } => {
                self.delivery
                    .borrow_mut()
                    .ledger
                    .apply(day, &deltas, now_unix_s());
                // Acknowledge at once if the channel has room, else from the exchange task:
                // this receiver must never wait on a channel (two receivers waiting on each
                // other's full channels would deadlock).
                let ack = ShardMessage::BudgetAck {
                    round,
                    buffer: deltas,
                };
                if let Err(error) = self.senders.control.try_send_to(peer, ack) {
                    let mut exchange = self.exchange.borrow_mut();
                    if let Some(ShardMessage::BudgetAck { buffer, .. }) = unsent(error) {
                        exchange.buffers.push(buffer);
                    }
                    if let Some(due) = exchange.acks_due.get_mut(peer) {
                        *due = Some(round);
                    }
                }
            }
            ShardMessage::BudgetAck { round, buffer } => {
                self.delivery.borrow_mut().ledger.acknowledge(round);
                self.exchange.borrow_mut().buffers.push(buffer);
            }
        }
    }

    /// One budget exchange step (background queue): release expired commitments, send the
    /// acknowledgements that did not fit before, and send the next round if the last one is
    /// acknowledged.
    async fn exchange_budget(&self) {
        let now = now_unix_s();
        let n_shards = self.n_shards();
        let me = self.peer_id();
        for peer in (0..n_shards).filter(|&peer| peer != me) {
            let due = self
                .exchange
                .borrow_mut()
                .acks_due
                .get_mut(peer)
                .and_then(Option::take);
            if let Some(round) = due {
                let buffer = self.exchange.borrow_mut().buffers.pop().unwrap_or_default();
                let ack = ShardMessage::BudgetAck { round, buffer };
                if self.senders.control.send_to(peer, ack).await.is_err() {
                    return;
                }
            }
        }
        let round = {
            let mut delivery = self.delivery.borrow_mut();
            delivery.ledger.expire(now);
            let mut exchange = self.exchange.borrow_mut();
            let mut deltas = std::mem::take(&mut exchange.deltas);
            let round = delivery.ledger.next_round(&mut deltas);
            exchange.deltas = deltas;
            round
        };
        let Some((round, day)) = round else {
            return;
        };
        for peer in (0..n_shards).filter(|&peer| peer != me) {
            let deltas = {
                let mut exchange = self.exchange.borrow_mut();
                let mut buffer = exchange.buffers.pop().unwrap_or_default();
                buffer.clear();
                buffer.extend_from_slice(&exchange.deltas);
                buffer
            };
            let message = ShardMessage::BudgetRound { round, day, deltas };
            if self.senders.control.send_to(peer, message).await.is_err() {
                // The peer is shutting down; its acknowledgement will not come, and the
                // allowance keeps this shard within the bound meanwhile.
                continue;
            }
        }
    }

    /// Re-plans pacing from the ledger's view of today's spend (background queue).
    fn update_pacing(&self) {
        let now = now_unix_s();
        let mut delivery = self.delivery.borrow_mut();
        let Delivery { ledger, pacer, .. } = &mut *delivery;
        ledger.roll_day(now);
        pacer.update(now, |campaign_idx| {
            let view = ledger.view(campaign_idx);
            DailySpend {
                spent_micros: view.map_or(0, |v| v.day_spent_micros),
                budget_micros: view.and_then(|v| v.limits.daily_micros).unwrap_or(0),
            }
        });
    }
}

impl Handler for ShardHandler {
    async fn handle(&self, request: Request<'_>, response: &mut Response) {
        let (endpoint, allowed) = match request.path {
            "/openrtb2/auction" => (Endpoint::Auction, Method::Post),
            "/win" => (Endpoint::Win, Method::Get),
            "/imp" => (Endpoint::Impression, Method::Get),
            "/click" => (Endpoint::Click, Method::Get),
            "/healthz" => (Endpoint::Healthz, Method::Get),
            "/readyz" => (Endpoint::Readyz, Method::Get),
            _ => {
                response.set_error(Endpoint::Other, 404, "no such endpoint", "path");
                return;
            }
        };
        // HEAD is fine for health checks, but a HEAD on a tracking URL (a link prefetcher, a
        // crawler) must not count as an event.
        let tracking = matches!(
            endpoint,
            Endpoint::Win | Endpoint::Impression | Endpoint::Click
        );
        let method_ok = request.method == allowed
            || (allowed == Method::Get && request.method == Method::Head && !tracking);
        if !method_ok {
            response.set_error(endpoint, 405, "method not allowed", "method");
            response.extra_headers.extend_from_slice(match allowed {
                Method::Post => b"Allow: POST\r\n",
                _ if tracking => b"Allow: GET\r\n",
                _ => b"Allow: GET, HEAD\r\n",
            });
            return;
        }
        match endpoint {
            Endpoint::Auction => self.auction(request, response).await,
            Endpoint::Win => self.tracking(EventKind::Win, request, response).await,
            Endpoint::Impression => {
                self.tracking(EventKind::Impression, request, response)
                    .await
            }
            Endpoint::Click => self.tracking(EventKind::Click, request, response).await,
            Endpoint::Healthz => response.set_text(endpoint, 200, "ok\n"),
            Endpoint::Readyz if self.context.draining.get() => {
                response.set_text(endpoint, 503, "draining\n")
            }
            Endpoint::Readyz => response.set_text(endpoint, 200, "ready\n"),
            _ => response.set_error(Endpoint::Other, 404, "no such endpoint", "path"),
        }
    }
}
