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
//!
//! The shard orchestrates; the decisions live in their own modules (`auction`, `delivery`,
//! `tracking`, ...). This file holds the shard's types and the glue that builds them; each
//! other file is one of its jobs:
//! - `run`: the shard's life: task queues, the accept loop, the timers, the drain;
//! - `routes`: the route table of the public port;
//! - `auction_flow`: an auction from its parsed request to its response, through the bidders,
//!   the owner shard and the delivery gate;
//! - `tracking_flow`: the tracking endpoints and the counting of an event on its owner shard;
//! - `exchange`: the control mesh (budget rounds, their acknowledgements) and the delivery
//!   upkeep that runs on timers;
//! - `route`: the boxes and waiting slots of auctions handed to another shard.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

mod auction_flow;
mod durability;
mod exchange;
pub mod route;
mod routes;
mod run;
pub mod tickets;
mod tracking_flow;

pub use run::{accept_loop, run, SHUTDOWN_POLL_INTERVAL};

use glommio::channels::channel_mesh::{Full, MeshBuilder, Senders};
use glommio::channels::shared_channel::{SharedReceiver, SharedSender};

use crate::adrequest::AdRequest;
use crate::auction::{AuctionScratch, AuctionSettings};
use crate::bidders::fanout::Fanout;
use crate::budget::Delta;
use crate::campaign::{CampaignData, SpendOn};
use crate::catalog::Catalog;
use crate::clock;
use crate::config::Config;
use crate::currency::CurrencyTable;
use crate::delivery::Delivery;
use crate::eventlog::EventLog;
use crate::http::ConnectionContext;
use crate::overload::Overload;
use crate::recovery;
use crate::stats::{
    BidderSnapshot, CampaignBook, CampaignCounters, DeliverySnapshot, ShardStats, StatsSnapshot,
};
use crate::tracking::{
    BidTokens, EventKind, EventWindow, EventWindows, LossReason, TokenScratch, TokenSigner,
};
use auction_flow::DecisionCounters;
use exchange::Exchange;
use route::{RouteMessage, Waiters};
use tickets::{AckQueue, Ticket, Tickets};

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
    /// Where the shard's event log goes and the state recovery gave it; `None` when the log
    /// is off.
    pub events: Option<crate::recovery::ShardEvents>,
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
    /// judges every repeat of the event wherever the client connected. The owner answers the
    /// ticket once the event is durable in its log.
    Tracking {
        event: TrackingEvent,
        ticket: Option<Ticket>,
    },
    /// The owner's answer to a forwarded event's ticket: whether it is durable.
    TrackingDone { ticket: Ticket, durable: bool },
    /// An impression counted by the shard that signed its bid, for the shard that owns the
    /// user's caps (they differ for an earlier run's token after a change of shard count).
    CapImpression {
        user_key: u64,
        campaign_idx: u32,
        at_unix_s: i64,
    },
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
    /// The bid's sequence number on its owner shard: what the owner's event window judges.
    pub sequence: u64,
    pub campaign_idx: u32,
    /// What the event costs the campaign, in micro-units of its currency (0 unless it is the
    /// event the campaign spends on).
    pub spend_micros: i64,
    /// What the bid committed for this event (0 unless it spends or is a loss): the signed
    /// price.
    pub committed_micros: i64,
    pub issued_unix_s: i64,
    /// Hash of the request's user key, 0 for none.
    pub user_key: u64,
    /// The event the campaign pays for: a loss is judged on that event's lane.
    pub spend_on: SpendOn,
    /// The loss notice's reason (`Unknown` for the other kinds).
    pub loss_reason: LossReason,
}

/// Messages in flight from one shard to another before the sender waits: a burst of tracking
/// calls queues here; beyond it the connection that produced the event waits its turn.
pub const MESH_CHANNEL_CAPACITY: usize = 1024;

/// A request for a statistics snapshot.
#[derive(Debug, Clone, Copy)]
pub struct StatsRequest {
    /// Include every campaign's books (ids, counters, budgets) for `/stats`.
    pub books: bool,
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
    /// The events seen of the bids this shard signed (this run's window, and earlier runs'
    /// restored by recovery), and its bid sequence numbers.
    events: RefCell<EventWindows>,
    delivery: RefCell<Delivery>,
    /// Where auctions were decided and how long they took, for `/metrics`.
    decisions: RefCell<DecisionCounters>,
    waiters: RefCell<Waiters>,
    /// The external bidders, their connection pools and counters.
    pub fanout: Fanout,
    /// The escape valve: this shard's backlog signals and its degraded answers.
    overload: Overload,
    /// Budget round buffers returned by the peers, and acknowledgements still to send (one
    /// per peer at most: a peer has at most one round in flight).
    exchange: RefCell<Exchange>,
    /// The shard's event log; `None` when `events.enabled` is off.
    log: Option<Rc<EventLog>>,
    /// Tracking calls waiting for another shard's log.
    tickets: Tickets,
    /// Forwarded events whose tickets this shard still has to answer.
    acks: RefCell<AckQueue>,
    /// Auction requests since the last traffic record, for the pacing curve's replay.
    requests_unlogged: std::cell::Cell<u64>,
    /// The log generation this run writes.
    generation: u64,
    /// `events.log_no_bids` as "one in N" (`None`: off), and no-bids seen so far.
    no_bid_every: Option<u64>,
    no_bids_seen: std::cell::Cell<u64>,
    checkpoints: durability::CheckpointCounters,
    /// Which shard holds each earlier run's event window: where its tokens' events go.
    earlier_windows: recovery::EarlierWindows,
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

/// Buffers a decision reuses, so that after warm-up deciding allocates nothing.
#[derive(Debug, Default)]
struct RequestScratch {
    auction: AuctionScratch,
    token: BidTokens,
    adm: String,
    url: String,
    token_scratch: TokenScratch,
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

/// The dedupe window of shard `shard_idx`, sized from the config. Its sequences start at a
/// random number (from the OS, through std's hasher keys), so the tokens of an earlier run, or
/// of another server, are out of its reach instead of being counted again.
fn event_window(config: &Config, shard_idx: usize) -> EventWindows {
    use std::hash::{BuildHasher, Hasher};
    let hold_s = config.tracking.hold_s();
    let size = recovery::window_size(config);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_usize(shard_idx);
    hasher.write_i64(clock::unix_s());
    EventWindows::new(EventWindow::new(size, hold_s, hasher.finish()))
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
        let delivery = Delivery::new(
            recovery::delivery_settings(config, n_shards),
            catalog.campaigns(),
            peer_id,
            clock::unix_s(),
        );
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
            exchange: RefCell::new(Exchange::new(n_shards)),
            senders,
            catalog: RefCell::new(catalog),
            request: RefCell::new(AdRequest::default()),
            scratch: RefCell::new(RequestScratch::default()),
            events: RefCell::new(event_window(config, peer_id)),
            delivery: RefCell::new(delivery),
            decisions: RefCell::new(DecisionCounters::default()),
            waiters: RefCell::new(Waiters::default()),
            fanout: Fanout::new(&config.bidders, &config.fanout, 0xb1dd ^ peer_id as u64),
            overload: Overload::new(&config.overload),
            context,
            log: None,
            tickets: Tickets::default(),
            acks: RefCell::new(AckQueue::default()),
            requests_unlogged: std::cell::Cell::new(0),
            generation: 0,
            no_bid_every: {
                let rate = config.events.log_no_bids.rate();
                (rate > 0.0).then(|| (1.0 / rate).round().max(1.0) as u64)
            },
            no_bids_seen: std::cell::Cell::new(0),
            checkpoints: durability::CheckpointCounters::default(),
            earlier_windows: recovery::EarlierWindows::default(),
        }
    }

    fn n_shards(&self) -> usize {
        self.senders.control.nr_consumers().max(1)
    }

    fn peer_id(&self) -> usize {
        self.senders.control.peer_id()
    }

    /// This shard's statistics with campaign ids from its catalog.
    pub fn snapshot(&self, request: StatsRequest) -> StatsSnapshot {
        let catalog = self.catalog.borrow().clone();
        let mut snapshot = self
            .context
            .stats
            .snapshot_with(&|idx| catalog.campaigns().get(idx).map(|c| c.id.clone()));
        let delivery = self.delivery.borrow();
        let decisions = self.decisions.borrow();
        let ledger = delivery.ledger().counters();
        snapshot.delivery = DeliverySnapshot {
            budget_refused_total: ledger.refused_total,
            budget_refused_daily: ledger.refused_daily,
            budget_refused_allowance: ledger.refused_allowance,
            budget_rounds_sent: ledger.rounds_sent,
            budget_rounds_applied: ledger.rounds_applied,
            budget_unreserved_spend: ledger.unreserved_spend,
            pacing_throttled: delivery.pacer().requests_throttled(),
            freqcap_users: delivery.freqcaps().len() as u64,
            freqcap_evicted: delivery.freqcaps().n_evicted(),
            routed_out: decisions.routed_out,
            routed_in: decisions.routed_in,
            route_slots_exhausted: decisions.route_slots_exhausted,
        };
        snapshot.decide = decisions.decide.clone();
        let events = self.events.borrow();
        snapshot.tracking_bids_refused = events.n_refused();
        snapshot.tracking_window_bytes = events.memory_bytes();
        snapshot.overload = self.overload.snapshot();
        if request.books {
            let counters = self.context.stats.campaigns.borrow();
            snapshot.books = catalog
                .campaigns()
                .iter()
                .enumerate()
                .map(|(idx, campaign)| CampaignBook {
                    id: campaign.id.clone(),
                    counters: counters.get(idx).copied().unwrap_or_default(),
                    daily_budget_micros: campaign.budget.daily_micros,
                    total_budget_micros: campaign.budget.total_micros,
                })
                .collect();
        }
        snapshot.log = self.log_snapshot();
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
}
