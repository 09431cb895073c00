//! The tracking endpoints' flow through a shard: verify the token, count the event on the
//! shard that decided its bid (which holds its budget commitment, the user's caps and the
//! event window that judges its repeats by the bid's sequence number), and answer once the
//! event is durable in that shard's log: an acknowledged event survives a crash. Tokens are
//! `tracking`'s, the money is `books`' and `delivery`'s, durability is `eventlog`'s; this file
//! carries the event from one to the other across shards.
//!
//! Who charges, and how a loss notice resolves a bid: see `books`.
//!
//! A repeat is answered like the first sighting (the caller cannot tell them apart), once
//! everything logged before it is durable: the first sighting may still be in the buffer.
//! When the log cannot write, the call gets 503 with `Retry-After` and nothing is counted.

use std::time::Duration;

use super::tickets::{Applied, Ticket};
use super::{ShardHandler, ShardMessage, TrackingEvent};
use crate::books;
use crate::campaign::{Campaign, SpendOn};
use crate::clock;
use crate::delivery::{per_event_micros, spend_micros};
use crate::eventlog::{EventRecord, Record};
use crate::freqcap::owner_shard;
use crate::http::{Endpoint, Request, Response};
use crate::stats::TrackingOutcome;
use crate::tracking::{
    check_age, clearing_price_micros, loss_reason_from_query, price_from_query, token_from_query,
    BuyerKind, EventKind, LossReason, TokenError, TrackingClaims,
};

/// The longest a tracking call waits for its event to be durable on its owner shard before it
/// answers 503 (the caller retries; the event, if it was counted, is then a repeat).
const DURABLE_WAIT_MAX: Duration = Duration::from_secs(5);
/// What a 503 for a log that cannot write asks the caller to wait before retrying.
const RETRY_AFTER: &[u8] = b"Retry-After: 1\r\n";

/// The 1x1 transparent GIF an impression pixel answers with.
const PIXEL_GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// What every refused tracking call gets: which check failed is for our counters, not for
/// the caller (a forger learns nothing from the answer).
const REFUSAL_REASON: &str = "forbidden";

/// Answers a refused tracking call: 403 with the same body whatever the reason.
fn refuse(endpoint: Endpoint, response: &mut Response) {
    response.set_error(endpoint, 403, REFUSAL_REASON, "t");
}

/// The counter of a token that failed its checks.
fn outcome_of(error: TokenError) -> TrackingOutcome {
    match error {
        TokenError::Malformed { .. } => TrackingOutcome::Malformed,
        TokenError::BadSignature => TrackingOutcome::Forged,
        TokenError::Expired { .. } | TokenError::FromTheFuture { .. } => TrackingOutcome::Expired,
    }
}

/// The endpoint a request for event `kind` reached, for the HTTP counters.
fn endpoint_of(kind: EventKind) -> Endpoint {
    match kind {
        EventKind::Win => Endpoint::Win,
        EventKind::Billing | EventKind::Impression => Endpoint::Impression,
        EventKind::Click => Endpoint::Click,
        EventKind::Loss => Endpoint::Loss,
    }
}

/// Whether `kind` charges a campaign that spends on `spend_on`: the exchange's notice of that
/// event, never the pixel.
fn charges(kind: EventKind, spend_on: SpendOn) -> bool {
    matches!(
        (kind, spend_on),
        (EventKind::Billing, SpendOn::Impression) | (EventKind::Win, SpendOn::Win)
    )
}

/// Answers a verified event: 204 for a win or a loss, the pixel for an impression or a billing
/// notice (both at `/imp`), a redirect to the landing page of the token's creative (or the
/// campaign's first) for a click.
fn answer_event(kind: EventKind, campaign: &Campaign, creative_id: &str, response: &mut Response) {
    let endpoint = endpoint_of(kind);
    match kind {
        EventKind::Win | EventKind::Loss => response.set_empty(endpoint, 204),
        EventKind::Billing | EventKind::Impression => {
            response.endpoint = endpoint;
            response.status = 200;
            response.content_type = "image/gif";
            response.body.extend_from_slice(PIXEL_GIF);
        }
        EventKind::Click => {
            let landing = campaign
                .creatives
                .iter()
                .find(|c| c.id == creative_id)
                .map_or(
                    campaign
                        .creatives
                        .first()
                        .map_or("", |c| c.landing_page.as_str()),
                    |c| c.landing_page.as_str(),
                );
            response.set_redirect(endpoint, landing);
        }
    }
}

/// Answers a call whose event could not be made durable: 503, retry later.
fn unavailable(endpoint: Endpoint, response: &mut Response) {
    response.reset();
    response.set_error(endpoint, 503, "event log unavailable", "");
    response.extra_headers.extend_from_slice(RETRY_AFTER);
}

impl ShardHandler {
    /// The shard that counts `user_key`'s frequency caps: its owner when requests are routed
    /// by user, else this one (caps then hold per shard).
    fn caps_owner(&self, user_key: u64) -> usize {
        if self.route_by_user && self.n_shards() > 1 && user_key != 0 {
            owner_shard(user_key, self.n_shards())
        } else {
            self.peer_id()
        }
    }

    /// Sends a counted impression to the shard that owns its user's caps (control receivers
    /// never wait: if the channel is full, the impression is recorded here, where the user's
    /// next request will not see it; counted).
    fn send_cap_impression(&self, owner: usize, record: &EventRecord) {
        let message = ShardMessage::CapImpression {
            user_key: record.user_key,
            campaign_idx: record.campaign,
            at_unix_s: record.at_unix_s,
        };
        if self.senders.control.try_send_to(owner, message).is_err() {
            self.record_cap_impression(record.user_key, record.campaign, record.at_unix_s);
        }
    }

    /// Records an impression against the user's caps on this shard.
    pub(super) fn record_cap_impression(&self, user_key: u64, campaign_idx: u32, at_unix_s: i64) {
        let catalog = self.catalog.borrow().clone();
        if let Some(campaign) = catalog.campaigns().get(campaign_idx as usize) {
            self.delivery.borrow_mut().record_impression(
                user_key,
                campaign_idx,
                &campaign.frequency_caps,
                at_unix_s,
            );
        }
    }

    /// Verifies a tracking call to the path of `path_kind`, has its event counted on the owner
    /// shard, and answers once it is durable there (503 if it cannot be).
    pub(super) async fn tracking(
        &self,
        path_kind: EventKind,
        request: Request<'_>,
        response: &mut Response,
    ) {
        let Some((owner, event)) = self.verify_event(path_kind, request.query, response) else {
            return;
        };
        let durable = if owner == self.peer_id() {
            let applied = self.apply_tracking(event);
            self.wait_applied(applied).await
        } else {
            self.count_on_owner(owner, event).await
        };
        if !durable {
            self.context
                .stats
                .record_tracking(event.kind, TrackingOutcome::Unavailable);
            unavailable(endpoint_of(path_kind), response);
        }
    }

    /// Waits for what [`ShardHandler::apply_tracking`] asked: whether the event is durable.
    pub(super) async fn wait_applied(&self, applied: Applied) -> bool {
        match (applied, &self.log) {
            (Applied::Done, _) | (Applied::DurableAt(_), None) => true,
            (Applied::Unavailable, _) => false,
            (Applied::DurableAt(lsn), Some(log)) => {
                let wait = async { log.durable(lsn).await.is_ok() };
                let timeout = async {
                    glommio::timer::sleep(DURABLE_WAIT_MAX).await;
                    false
                };
                futures_lite::future::or(wait, timeout).await
            }
        }
    }

    /// Sends the event to its owner shard with a ticket and waits for the owner's answer.
    async fn count_on_owner(&self, owner: usize, event: TrackingEvent) -> bool {
        let Some(ticket) = self.tickets.take() else {
            return false;
        };
        let message = ShardMessage::Tracking {
            event,
            ticket: Some(ticket),
        };
        let sent = match self.senders.control.try_send_to(owner, message) {
            Ok(()) => true,
            Err(error) => match super::unsent(error) {
                Some(message) => self.senders.control.send_to(owner, message).await.is_ok(),
                None => false,
            },
        };
        if !sent {
            // The owner is shutting down: its log is closing, so the event cannot be made
            // durable there now. The caller retries.
            self.tickets.release(ticket);
            return false;
        }
        let wait = self.tickets.wait(ticket);
        let timeout = async {
            glommio::timer::sleep(DURABLE_WAIT_MAX).await;
            false
        };
        futures_lite::future::or(wait, timeout).await
    }

    /// On the owner shard: counts a forwarded event and queues the answer to its ticket for
    /// when it is durable (the control receiver must never wait).
    pub(super) fn on_forwarded_event(
        &self,
        peer: usize,
        event: TrackingEvent,
        ticket: Option<Ticket>,
    ) {
        let applied = self.apply_tracking(event);
        if let Some(ticket) = ticket {
            self.acks.borrow_mut().push(peer, ticket, applied);
        }
    }

    /// Checks the token of a tracking call to the path of `path_kind` and answers it. A refused
    /// call is answered with [`refuse`] and counted here; an accepted one gives its event and
    /// the shard that owns it. The token must be of a kind served at that path (the pixel's or
    /// the billing notice's at `/imp`). A validly signed click past its lifetime is redirected
    /// and counted as late, but gives no event: the user gets the advertiser's page, nobody is
    /// billed.
    fn verify_event(
        &self,
        path_kind: EventKind,
        query: &str,
        response: &mut Response,
    ) -> Option<(usize, TrackingEvent)> {
        let endpoint = endpoint_of(path_kind);
        let Ok(mut scratch) = self.scratch.try_borrow_mut() else {
            debug_assert!(false, "request scratch borrowed across an await");
            response.set_error(endpoint, 500, "internal error", "");
            return None;
        };
        let stats = &self.context.stats;
        let Some(token) = token_from_query(query) else {
            stats.record_tracking(path_kind, TrackingOutcome::Malformed);
            refuse(endpoint, response);
            return None;
        };
        let verified = match self
            .signer
            .verify_signature(token, &mut scratch.token_scratch)
        {
            Ok(verified) => verified,
            Err(error) => {
                stats.record_tracking(path_kind, outcome_of(error));
                refuse(endpoint, response);
                return None;
            }
        };
        let (kind, claims) = (verified.kind, verified.claims);
        if kind.path() != path_kind.path() {
            stats.record_tracking(path_kind, TrackingOutcome::WrongKind);
            refuse(endpoint, response);
            return None;
        }
        let age = check_age(claims.issued_unix_s, clock::unix_s(), self.token_ttl_s);
        let late_click = matches!(age, Err(TokenError::Expired { .. })) && kind == EventKind::Click;
        match age {
            Err(error) if !late_click => {
                stats.record_tracking(kind, outcome_of(error));
                refuse(endpoint, response);
                return None;
            }
            _ => {}
        }
        let catalog = self.catalog.borrow().clone();
        let found = (claims.buyer_kind == BuyerKind::Campaign)
            .then(|| catalog.campaign_idx(claims.buyer_id))
            .flatten()
            .map(|idx| (idx, &catalog.campaigns()[idx as usize]));
        let Some((campaign_idx, campaign)) = found else {
            stats.record_tracking(kind, TrackingOutcome::UnknownCampaign);
            refuse(endpoint, response);
            return None;
        };
        answer_event(kind, campaign, claims.creative_id, response);
        if late_click {
            stats.record_tracking(kind, TrackingOutcome::Late);
            return None;
        }
        let (spend_micros, committed_micros) = self.event_charge(kind, campaign, &claims, query);
        // An earlier run's token goes where its window went; this run's to the shard it names.
        let owner = self
            .earlier_windows
            .shard_of(claims.sequence)
            .unwrap_or(usize::from(claims.shard_idx))
            % self.n_shards();
        let event = TrackingEvent {
            kind,
            sequence: claims.sequence,
            campaign_idx,
            spend_micros,
            committed_micros,
            issued_unix_s: claims.issued_unix_s,
            user_key: claims.user_key,
            spend_on: campaign.budget.spend_on,
            loss_reason: if kind == EventKind::Loss {
                loss_reason_from_query(query)
            } else {
                LossReason::Unknown
            },
        };
        Some((owner, event))
    }

    /// What an event spends of its campaign's budget and what its bid committed, both in the
    /// campaign's currency: `(0, 0)` unless it is the event the campaign pays for, or
    /// `(0, committed)` for a loss notice (which releases what the bid committed). The
    /// exchange's clearing price is used when [`clearing_price_micros`] believes it; otherwise
    /// the refusal is counted and the signed price charged.
    fn event_charge(
        &self,
        kind: EventKind,
        campaign: &Campaign,
        claims: &TrackingClaims<'_>,
        query: &str,
    ) -> (i64, i64) {
        let committed_micros = || {
            per_event_micros(
                &self.currencies,
                claims.price_micros,
                claims.currency,
                campaign.currency,
            )
            .unwrap_or(0)
        };
        if kind == EventKind::Loss {
            return (0, committed_micros());
        }
        if !charges(kind, campaign.budget.spend_on) {
            return (0, 0);
        }
        debug_assert!(kind.carries_price());
        let price_cpm_micros =
            match clearing_price_micros(price_from_query(query), claims.price_micros) {
                Ok(micros) => micros,
                Err(refusal) => {
                    self.context.stats.record_price_refused(kind, refusal);
                    claims.price_micros
                }
            };
        (
            spend_micros(
                &self.currencies,
                claims.price_micros,
                price_cpm_micros,
                claims.currency,
                campaign.currency,
            ),
            committed_micros(),
        )
    }

    /// Counts an event this shard owns, once (`books::apply_event`), and logs it if it was
    /// counted. Nothing changes when the log cannot take the record.
    pub fn apply_tracking(&self, event: TrackingEvent) -> Applied {
        if let Some(log) = &self.log {
            if !log.accepts_acknowledged() {
                return Applied::Unavailable;
            }
        }
        let record = EventRecord {
            kind: event.kind,
            sequence: event.sequence,
            campaign: event.campaign_idx,
            spend_micros: event.spend_micros,
            committed_micros: event.committed_micros,
            issued_unix_s: event.issued_unix_s,
            user_key: event.user_key,
            spend_on: event.spend_on,
            loss_reason: event.loss_reason,
            // One reading of the clock dates the spend, the release and the impression.
            at_unix_s: clock::unix_s(),
        };
        let (Ok(mut events), Ok(mut delivery)) =
            (self.events.try_borrow_mut(), self.delivery.try_borrow_mut())
        else {
            debug_assert!(false, "books borrowed twice");
            return Applied::Unavailable;
        };
        let catalog = self.catalog.borrow().clone();
        let caps_owner = self.caps_owner(event.user_key);
        let (outcome, impression) = books::apply_event(
            &mut events,
            &mut delivery,
            &mut self.context.stats.campaigns.borrow_mut(),
            catalog.campaigns(),
            &record,
            caps_owner == self.peer_id(),
        );
        drop((events, delivery));
        let capped = catalog
            .campaigns()
            .get(record.campaign as usize)
            .is_some_and(|c| !c.frequency_caps.is_empty());
        if impression && capped && record.user_key != 0 && caps_owner != self.peer_id() {
            self.send_cap_impression(caps_owner, &record);
        }
        self.context.stats.record_tracking(event.kind, outcome);
        if outcome == TrackingOutcome::Counted && event.kind == EventKind::Loss {
            self.context.stats.record_loss_reason(event.loss_reason);
        }
        let Some(log) = &self.log else {
            return Applied::Done;
        };
        match outcome {
            TrackingOutcome::Counted => match log.append_acknowledged(&Record::Event(record)) {
                Ok(lsn) => Applied::DurableAt(lsn),
                // `accepts_acknowledged` said there was room, and nothing ran since.
                Err(_) => Applied::Unavailable,
            },
            TrackingOutcome::Duplicate => Applied::DurableAt(log.last_lsn()),
            _ => Applied::Done,
        }
    }
}
