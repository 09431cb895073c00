//! The tracking endpoints' flow through a shard: verify the token, answer at once, and count
//! the event on the shard that decided its bid (which holds its budget commitment, the user's
//! caps and the event window that judges its repeats by the bid's sequence number). Tokens are `tracking`'s, the money is
//! `delivery`'s; this file carries the event from one to the other across shards.
//!
//! Who charges: a campaign that spends on wins is charged by the win notice (`nurl`), one that
//! spends on impressions by the billing notice (`burl`), each at the clearing price the
//! exchange reports in it (within the signed price) and once per bid. The impression pixel
//! counts the impression and the user's caps but never charges: the browser fires it, and it
//! knows no price. An impression reported by both the pixel and the billing notice is counted
//! once, by whichever arrives first, and charged once, by the billing notice.
//!
//! A loss notice (`lurl`) resolves its bid like the spend event would, but spends nothing: the
//! first of the two, judged on the spend event's lane, decides. A first loss releases the bid's
//! commitment at once and is counted per campaign and per reason; a loss after the spend event
//! changes nothing, and a spend event after a loss is a repeat, not charged.

use super::{ShardHandler, ShardMessage, TrackingEvent};
use crate::campaign::{Campaign, SpendOn};
use crate::clock;
use crate::delivery::{per_event_micros, spend_micros};
use crate::http::{Endpoint, Request, Response};
use crate::stats::TrackingOutcome;
use crate::tracking::{
    check_age, clearing_price_micros, loss_reason_from_query, price_from_query, token_from_query,
    BuyerKind, EventKind, Lane, LossReason, Seen, TokenError, TrackingClaims,
};

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

/// The lane of the event a campaign spending on `spend_on` pays for: where its bids' loss
/// notices are judged, so that the spend event and the loss resolve a bid once between them.
fn spend_lane(spend_on: SpendOn) -> Lane {
    match spend_on {
        SpendOn::Win => Lane::Win,
        SpendOn::Impression => Lane::Billing,
    }
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

impl ShardHandler {
    /// Verifies a tracking call to the path of `path_kind` and routes its event to the owner
    /// shard. Answers at once: the answer does not depend on whether the event repeats.
    pub(super) async fn tracking(
        &self,
        path_kind: EventKind,
        request: Request<'_>,
        response: &mut Response,
    ) {
        let Some((owner, event)) = self.verify_event(path_kind, request.query, response) else {
            return;
        };
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
        let owner = usize::from(claims.shard_idx) % self.n_shards();
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

    /// Counts an event this shard owns, once. The window remembers, per bid, whether its win,
    /// its impression (from the pixel or the billing notice), its billing notice and its click
    /// were seen: a billing notice counts the impression unless the pixel already did, and
    /// charges unless an earlier billing notice did. A loss notice is judged on the lane of the
    /// campaign's spend event: the first of the two resolves the bid. An event the window
    /// cannot vouch for is counted as out of reach and changes nothing else.
    pub fn apply_tracking(&self, event: TrackingEvent) {
        let Ok(mut events) = self.events.try_borrow_mut() else {
            debug_assert!(false, "event window borrowed twice");
            return;
        };
        let verdict = events.judge(event.kind, spend_lane(event.spend_on), event.sequence);
        drop(events);
        let outcome = match (verdict.own, verdict.impression) {
            (Seen::OutOfReach, _) => TrackingOutcome::OutOfReach,
            (Seen::First, _) | (_, Seen::First) => TrackingOutcome::Counted,
            _ => TrackingOutcome::Duplicate,
        };
        self.context.stats.record_tracking(event.kind, outcome);
        if outcome != TrackingOutcome::Counted {
            return;
        }
        // One reading of the clock dates the spend, the release and the impression.
        let now = clock::unix_s();
        if event.kind == EventKind::Loss {
            self.apply_loss(&event, now);
            return;
        }
        let counts = verdict.own == Seen::First && event.kind != EventKind::Impression;
        let impression = verdict.impression == Seen::First;
        let mut counters = self.context.stats.campaigns.borrow_mut();
        if let Some(c) = counters.get_mut(event.campaign_idx as usize) {
            c.impressions += u64::from(impression);
            if counts {
                match event.kind {
                    EventKind::Win => c.wins += 1,
                    EventKind::Billing => c.billings += 1,
                    EventKind::Click => c.clicks += 1,
                    EventKind::Impression | EventKind::Loss => {}
                }
                c.spend_micros = c.spend_micros.saturating_add(event.spend_micros);
            }
        }
        drop(counters);
        let mut delivery = self.delivery.borrow_mut();
        if counts {
            delivery.realize(
                event.campaign_idx,
                event.issued_unix_s,
                event.committed_micros,
                event.spend_micros,
                now,
            );
        }
        if impression && event.user_key != 0 {
            let catalog = self.catalog.borrow().clone();
            if let Some(campaign) = catalog.campaigns().get(event.campaign_idx as usize) {
                delivery.record_impression(
                    event.user_key,
                    event.campaign_idx,
                    &campaign.frequency_caps,
                    now,
                );
            }
        }
    }

    /// A first loss notice (before any spend event of its bid): counted per campaign and
    /// reason, and the bid's commitment released at once.
    fn apply_loss(&self, event: &TrackingEvent, now_unix_s: i64) {
        let stats = &self.context.stats;
        stats.record_loss_reason(event.loss_reason);
        if let Some(c) = stats
            .campaigns
            .borrow_mut()
            .get_mut(event.campaign_idx as usize)
        {
            c.losses += 1;
        }
        self.delivery.borrow_mut().release_lost(
            event.campaign_idx,
            event.issued_unix_s,
            event.committed_micros,
            now_unix_s,
        );
    }
}
