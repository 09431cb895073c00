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

use glommio::channels::channel_mesh::{Full, MeshBuilder, Senders};
use glommio::channels::shared_channel::{SharedReceiver, SharedSender};
use glommio::net::TcpListener;
use glommio::{executor, spawn_local_into, Latency, Shares, TaskQueueHandle};

use crate::auction::response::{write_bid_response, ResponseContext};
use crate::auction::{run_auction, AuctionScratch, AuctionSettings, CampaignSource};
use crate::campaign::{CampaignData, SpendOn};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::currency::CurrencyTable;
use crate::http::{serve_connection, ConnectionContext, Handler, Method, Request, Response};
use crate::openrtb::{parse_bid_request, AdRequest, Currency};
use crate::stats::{CampaignCounters, Endpoint, ShardStats, StatsSnapshot, TrackingOutcome};
use crate::tracking::{
    price_from_query, price_micros_from_decimal, token_from_query, BuyerKind, DedupeKey,
    DedupeWindow, EventKind, TokenError, TokenScratch, TokenSigner, TrackingClaims, ID_BYTES_MAX,
};

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
    /// The channels between shards (a full mesh; each shard joins it).
    pub mesh: MeshBuilder<ShardMessage, Full>,
    /// The tracking secret, already resolved (config, environment, or demo).
    pub tracking_secret: Arc<Vec<u8>>,
}

/// Messages between shards.
#[derive(Debug, Clone, Copy)]
pub enum ShardMessage {
    /// A verified tracking event, sent to the shard that owns its dedupe key so a repeat is
    /// judged by the same window wherever the client connected.
    Tracking(TrackingEvent),
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
}

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
        mesh,
        tracking_secret,
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
    let Ok((senders, mut receivers)) = mesh.join().await else {
        tracing::error!(shard_idx, "cannot join the shard mesh");
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
        senders,
    ));
    // Events other shards route here are counted in the background queue.
    let mut mesh_tasks = Vec::new();
    for (_, stream) in receivers.streams() {
        let handler = handler.clone();
        let task = spawn_local_into(
            async move {
                while let Some(ShardMessage::Tracking(event)) = stream.recv().await {
                    handler.apply_tracking(event);
                }
            },
            background_queue,
        );
        if let Ok(task) = task {
            mesh_tasks.push(task);
        }
    }
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

/// The public port's routes and everything they decide with. One per shard.
#[derive(Debug)]
pub struct ShardHandler {
    context: Rc<ConnectionContext>,
    settings: AuctionSettings,
    currencies: CurrencyTable,
    signer: TokenSigner,
    public_url: String,
    token_ttl_s: u64,
    senders: Senders<ShardMessage>,
    /// Swapped whole on reload; a request holds its own `Rc` for its whole life.
    catalog: RefCell<Rc<Catalog>>,
    /// Reused per request; borrowed only between awaits.
    scratch: RefCell<RequestScratch>,
    dedupe: RefCell<DedupeWindow>,
}

/// Buffers a request reuses, so that after warm-up deciding allocates nothing.
#[derive(Debug, Default)]
struct RequestScratch {
    ad_request: AdRequest,
    auction: AuctionScratch,
    token: String,
    adm: String,
    url: String,
    token_scratch: TokenScratch,
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

impl ShardHandler {
    pub fn new(
        context: Rc<ConnectionContext>,
        config: &Config,
        catalog: Rc<Catalog>,
        currencies: CurrencyTable,
        signer: TokenSigner,
        senders: Senders<ShardMessage>,
    ) -> ShardHandler {
        context
            .stats
            .campaigns
            .borrow_mut()
            .resize(catalog.len(), CampaignCounters::default());
        ShardHandler {
            settings: AuctionSettings {
                pricing: config.auction.pricing,
                campaign_wins_per_request_max: config.auction.campaign_wins_per_request_max,
            },
            currencies,
            signer,
            public_url: config.tracking.public_url.trim_end_matches('/').to_string(),
            token_ttl_s: config.tracking.token_ttl_s,
            senders,
            catalog: RefCell::new(catalog),
            scratch: RefCell::new(RequestScratch::default()),
            dedupe: RefCell::new(DedupeWindow::with_capacity(
                config.tracking.dedupe_entries_max,
            )),
            context,
        }
    }

    /// This shard's statistics with campaign ids from its catalog.
    pub fn snapshot(&self) -> StatsSnapshot {
        let catalog = self.catalog.borrow().clone();
        self.context
            .stats
            .snapshot_with(&|idx| catalog.campaigns().get(idx).map(|c| c.id.clone()))
    }

    fn auction(&self, request: Request<'_>, response: &mut Response) {
        let Ok(mut scratch) = self.scratch.try_borrow_mut() else {
            // Handlers borrow scratch only between awaits, so this is a bug, answered without
            // panicking.
            debug_assert!(false, "request scratch borrowed across an await");
            response.set_error(Endpoint::Auction, 500, "internal error", "");
            return;
        };
        let scratch = &mut *scratch;
        if let Err(error) = parse_bid_request(request.body, &mut scratch.ad_request) {
            response.set_error(Endpoint::Auction, 400, &error.reason, &error.field);
            return;
        }
        let catalog = self.catalog.borrow().clone();
        let now = now_unix_s();
        run_auction(
            &*catalog,
            &scratch.ad_request,
            &self.currencies,
            self.settings,
            now,
            &mut scratch.auction,
        );
        if scratch.auction.winners.is_empty() {
            response.set_empty(Endpoint::Auction, 204);
            return;
        }
        let RequestScratch {
            ad_request,
            auction,
            token,
            adm,
            url,
            ..
        } = scratch;
        let currency = auction.currency;
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
            };
            // Every id was checked against the token's limits above, so signing cannot fail;
            // if it did, the bid would go out with an empty token and its events be refused.
            let signed = self.signer.sign(&claims, out);
            debug_assert!(signed.is_ok(), "{signed:?}");
        };
        // A bid whose ids cannot go into a token (an exchange's id over the token's limit)
        // could not be tracked, so it could not be billed: it is dropped before the response.
        let context = ResponseContext {
            public_url: &self.public_url,
            currency,
        };
        let trackable = |text: &str| (1..=ID_BYTES_MAX).contains(&text.len());
        auction.winners.retain(|winner| {
            let campaign = catalog.campaign(winner.campaign_idx);
            let imp_ok = ad_request
                .imps()
                .get(winner.imp_idx)
                .is_some_and(|imp| trackable(ad_request.text(imp.id)));
            let creative_ok = campaign
                .creatives
                .get(winner.creative_idx)
                .is_some_and(|c| trackable(&c.id));
            imp_ok && creative_ok && trackable(&ad_request.id) && trackable(&campaign.id)
        });
        if auction.winners.is_empty() {
            response.set_empty(Endpoint::Auction, 204);
            return;
        }
        write_bid_response(
            &mut response.body,
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
            if let Some(c) = counters.get_mut(winner.campaign_idx as usize) {
                c.bids += 1;
            }
        }
        response.endpoint = Endpoint::Auction;
        response.status = 200;
        response.content_type = "application/json";
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
            let spend_micros = if spends {
                self.spend_micros(
                    claims.price_micros,
                    claims.currency,
                    request.query,
                    campaign.currency,
                )
            } else {
                0
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
            TrackingEvent {
                kind,
                key: DedupeKey::new(kind, &verified.tag),
                campaign_idx,
                spend_micros,
            }
        };
        let n_shards = self.senders.nr_consumers().max(1);
        let owner = event.key.owner_shard(n_shards);
        if owner == self.senders.peer_id() {
            self.apply_tracking(event);
        } else if self
            .senders
            .try_send_to(owner, ShardMessage::Tracking(event))
            .is_err()
            && self
                .senders
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
        let per_event = cpm_micros / 1000;
        self.currencies
            .convert(per_event, currency, campaign_currency)
            .unwrap_or(0)
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
            Endpoint::Auction => self.auction(request, response),
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
