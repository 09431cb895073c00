//! The auction endpoint's flow through a shard: parse, ask the external bidders, hand the
//! request to the shard that owns its user or decide here, then write the response. Each step
//! is someone else's decision (`openrtb` parses, `bidders` asks, `auction` ranks, `delivery`
//! gates and commits, `auction::response` writes); this file only decides which runs where and
//! with what, and reads the wall clock once per decision for all of them.

use std::time::Instant;

use super::route::{Reply, RouteMessage, RoutedAuction};
use super::{unsent, RequestScratch, ShardHandler};
use crate::adrequest::AdRequest;
use crate::auction::response::{write_bid_response, ResponseContext};
use crate::auction::{merge_external_bids, run_auction_gated, ExternalBid, Winner};
use crate::books;
use crate::campaign::Campaign;
use crate::catalog::Catalog;
use crate::clock;
use crate::currency::Currency;
use crate::eventlog::{NoBidRecord, Record};
use crate::freqcap::{owner_shard, user_key_hash};
use crate::http::{Endpoint, Request, Response};
use crate::openrtb::parse_bid_request;
use crate::overload::Level;
use crate::stats::DecideSnapshot;
use crate::tracking::{BidTokens, BuyerKind, TrackingClaims};

/// Where this shard's auctions were decided, and how long deciding took; for `/metrics`.
#[derive(Debug, Default)]
pub(super) struct DecisionCounters {
    /// Requests handed to their owner shard, and served here for another shard.
    pub(super) routed_out: u64,
    pub(super) routed_in: u64,
    /// Requests served here because every waiting slot was taken.
    pub(super) route_slots_exhausted: u64,
    pub(super) decide: DecideSnapshot,
}

/// Where an auction goes once its request is parsed.
enum Next {
    /// Ask the external bidders first (the request in its own box).
    AskBidders(Box<RoutedAuction>),
    /// To the owner shard `(owner, slot, generation)`, waiting in `slot`.
    Route((usize, u32, u32), Box<RoutedAuction>),
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

impl ShardHandler {
    /// `POST /openrtb2/auction`: parse here, ask the bidders if any, then decide here or on the
    /// user's owner shard.
    pub(super) async fn auction(&self, request: Request<'_>, response: &mut Response) {
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
                        self.decisions.borrow_mut().routed_out += 1;
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
        self.decisions.borrow_mut().routed_out += 1;
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
            self.decisions.borrow_mut().route_slots_exhausted += 1;
        }
        let status = self.decide(
            ad_request,
            external,
            caps_here,
            clock::unix_s(),
            &mut response.body,
        );
        self.decisions
            .borrow_mut()
            .decide
            .local
            .record(clock::elapsed_since(started));
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
            let status = self.decide(
                &routed.request,
                &routed.external,
                false,
                clock::unix_s(),
                &mut response.body,
            );
            finish_auction(response, status);
            self.waiters.borrow_mut().recycle(routed);
            return;
        }
        let routed = reply.await;
        self.decisions
            .borrow_mut()
            .decide
            .routed
            .record(clock::elapsed_since(started));
        response.body.extend_from_slice(&routed.body);
        finish_auction(response, routed.status);
        self.waiters.borrow_mut().recycle(routed);
    }

    /// Decides an auction another shard handed over, and sends the answer back.
    pub(super) async fn serve_routed(&self, mut routed: Box<RoutedAuction>) {
        self.decisions.borrow_mut().routed_in += 1;
        let mut body = std::mem::take(&mut routed.body);
        body.clear();
        routed.status = self.decide(
            &routed.request,
            &routed.external,
            true,
            clock::unix_s(),
            &mut body,
        );
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

    /// Runs the auction for `ad_request` at `now_unix_s` and writes the bid response into
    /// `out`; returns the status (200, or 204 for no bid). The delivery gate filters the
    /// campaigns, and each winner's budget is committed before its bid is signed.
    /// `caps_here`: this shard owns the user's frequency caps; if not, capped campaigns do not
    /// bid.
    fn decide(
        &self,
        ad_request: &AdRequest,
        external: &[ExternalBid],
        caps_here: bool,
        now_unix_s: i64,
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
        let user_key = ad_request
            .user_key
            .map_or(0, |key| user_key_hash(ad_request.text(key.text)));
        delivery.observe_request(now_unix_s);
        self.requests_unlogged.set(self.requests_unlogged.get() + 1);
        delivery.set_commitments_durable(
            self.log
                .as_ref()
                .map_or(true, |log| log.accepts_acknowledged()),
        );
        run_auction_gated(
            &*catalog,
            ad_request,
            &self.currencies,
            self.settings,
            now_unix_s,
            &mut scratch.auction,
            &mut |campaign_idx, campaign| {
                delivery
                    .admit(campaign_idx, campaign, user_key, caps_here, now_unix_s)
                    .is_ok()
            },
        );
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
        self.keep_trackable_winners(&mut auction.winners, now_unix_s);
        delivery.commit_winners(
            &mut auction.winners,
            ad_request,
            catalog.campaigns(),
            &self.currencies,
            currency,
            now_unix_s,
        );
        if auction.winners.is_empty() {
            self.log_no_bid(ad_request.imps().len(), now_unix_s);
            return 204;
        }
        let mut sign = self.token_signer(ad_request, &catalog, currency, user_key, now_unix_s);
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
        self.count_bids(&auction.winners, external);
        200
    }

    /// Drops the campaign winners beyond what this shard's event window can hold at
    /// `now_unix_s`, before their budget is committed: a bid whose events could not be judged
    /// exactly must not leave (counted as `adshard_tracking_bids_refused_total`). External
    /// winners carry no token of ours and stay.
    fn keep_trackable_winners(&self, winners: &mut Vec<Winner>, now_unix_s: i64) {
        if winners.is_empty() {
            return;
        }
        let Ok(mut events) = self.events.try_borrow_mut() else {
            debug_assert!(false, "event window borrowed across a decision");
            winners.retain(Winner::is_external);
            return;
        };
        let mut room = events.room(now_unix_s);
        let n_before = winners.len();
        winners.retain(|winner| {
            if winner.is_external() {
                return true;
            }
            let keep = room > 0;
            room = room.saturating_sub(1);
            keep
        });
        events.refuse((n_before - winners.len()) as u64);
    }

    /// Signs the tracking tokens of one winning bid (one per event kind), for the response
    /// writer. The tokens name this shard: their events come back here, where the bid's budget
    /// is committed and the user's caps are counted.
    fn token_signer<'a>(
        &'a self,
        ad_request: &'a AdRequest,
        catalog: &'a Catalog,
        currency: Currency,
        user_key: u64,
        now_unix_s: i64,
    ) -> impl FnMut(&Winner, &mut BidTokens) + 'a {
        let shard_idx = u16::try_from(self.peer_id()).unwrap_or(u16::MAX);
        move |winner: &Winner, tokens: &mut BidTokens| {
            // `keep_trackable_winners` left room for every winner, so there is a sequence; if
            // there were none, the bid would go out with empty tokens and its events be
            // refused.
            let Some(sequence) = self
                .events
                .try_borrow_mut()
                .ok()
                .and_then(|mut events| events.issue(now_unix_s))
            else {
                debug_assert!(false, "no sequence for a kept winner");
                return;
            };
            let campaign = &catalog.campaigns()[winner.campaign_idx as usize];
            self.log_bid(winner, campaign, sequence, currency, now_unix_s);
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
                issued_unix_s: now_unix_s,
                shard_idx,
                user_key,
                sequence,
            };
            // Every id was checked against the token's limits by the commit, so signing
            // cannot fail; if it did, the bid would go out with empty tokens and its events
            // be refused.
            let signed = self.signer.sign(&claims, tokens);
            debug_assert!(signed.is_ok(), "{signed:?}");
        }
    }

    /// Appends the record of a campaign's winning bid to the log: its sequence and what it
    /// committed (what `Delivery::commit_winners` reserved). Nobody waits for it: it is durable
    /// with the next commit, and the overspend a crash before then can cause is bounded in
    /// ARCHITECTURE.md.
    fn log_bid(
        &self,
        winner: &Winner,
        campaign: &Campaign,
        sequence: u64,
        currency: Currency,
        now_unix_s: i64,
    ) {
        let Some(log) = &self.log else {
            return;
        };
        let record = books::bid_record(
            winner,
            campaign,
            &self.currencies,
            currency,
            sequence,
            now_unix_s,
        );
        // A full buffer (the disk has failed for a while) drops the record, counted: budgeted
        // campaigns do not bid then, so no commitment is lost with it.
        let _ = log.append(&Record::Bid(record));
    }

    /// Logs one in every `no_bid_every` auctions without a bid of ours
    /// (`events.log_no_bids`): a systematic sample, so the rate holds exactly whatever the
    /// traffic's order.
    fn log_no_bid(&self, imps: usize, now_unix_s: i64) {
        let (Some(log), Some(every)) = (&self.log, self.no_bid_every) else {
            return;
        };
        let seen = self.no_bids_seen.get() + 1;
        self.no_bids_seen.set(seen);
        if seen % every == 0 {
            let _ = log.append(&Record::NoBid(NoBidRecord {
                at_unix_s: now_unix_s,
                imps: u32::try_from(imps).unwrap_or(u32::MAX),
            }));
        }
    }

    /// Counts the bids that leave: per campaign, and per external bidder as a win.
    fn count_bids(&self, winners: &[Winner], external: &[ExternalBid]) {
        let mut counters = self.context.stats.campaigns.borrow_mut();
        for winner in winners {
            if let Some(external_idx) = winner.external_idx {
                if let Some(bid) = external.get(external_idx as usize) {
                    self.fanout.count_win(bid.bidder_idx);
                }
            } else if let Some(c) = counters.get_mut(winner.campaign_idx as usize) {
                c.bids += 1;
            }
        }
    }
}
