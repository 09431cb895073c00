//! The shard's side of the budget exchange and of the control mesh: the rounds of budget
//! deltas it sends its peers on a timer, the rounds and acknowledgements it receives, the
//! tracking events other shards forward to it, and the pacing update that follows the ledger.
//! The ledger's rules are `budget`'s and `delivery`'s; this file only moves rounds and their
//! buffers between shards, so that after warm-up a round allocates nothing.

use super::{unsent, ShardHandler, ShardMessage};
use crate::budget::Delta;
use crate::clock;

/// Buffers of the budget exchange, reused round after round.
#[derive(Debug, Default)]
pub(super) struct Exchange {
    /// This shard's next round, filled by the ledger.
    deltas: Vec<Delta>,
    /// Round buffers returned by the peers with their acknowledgements.
    buffers: Vec<Vec<Delta>>,
    /// Per peer, the round whose acknowledgement did not fit in the channel and is still to
    /// send (a peer has at most one round in flight).
    acks_due: Vec<Option<u64>>,
}

impl Exchange {
    pub(super) fn new(n_shards: usize) -> Exchange {
        Exchange {
            acks_due: vec![None; n_shards],
            ..Exchange::default()
        }
    }
}

impl ShardHandler {
    /// A message from another shard on the control mesh.
    pub(super) fn on_control_message(&self, peer: usize, message: ShardMessage) {
        match message {
            ShardMessage::Tracking { event, ticket } => {
                self.on_forwarded_event(peer, event, ticket);
            }
            ShardMessage::TrackingDone { ticket, durable } => {
                self.tickets.complete(ticket, durable);
            }
            ShardMessage::CapImpression {
                user_key,
                campaign_idx,
                at_unix_s,
            } => self.record_cap_impression(user_key, campaign_idx, at_unix_s),
            ShardMessage::BudgetRound { round, day, deltas } => {
                self.delivery
                    .borrow_mut()
                    .apply_round(day, &deltas, clock::unix_s());
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
                self.delivery.borrow_mut().acknowledge_round(round);
                self.exchange.borrow_mut().buffers.push(buffer);
            }
        }
    }

    /// One budget exchange step (background queue): release expired commitments, send the
    /// acknowledgements that did not fit before, and send the next round if the last one is
    /// acknowledged.
    pub(super) async fn exchange_budget(&self) {
        let now = clock::unix_s();
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
            let mut exchange = self.exchange.borrow_mut();
            let mut deltas = std::mem::take(&mut exchange.deltas);
            let round = delivery.next_round(&mut deltas, now);
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

    /// Re-plans pacing from the ledger's view of today's spend (background queue), and drops
    /// earlier runs' event windows once none of their tokens can be accepted.
    pub(super) fn update_pacing(&self) {
        let now = clock::unix_s();
        self.delivery.borrow_mut().update_pacing(now);
        self.events.borrow_mut().expire(now);
    }
}
