//! Tracking calls waiting for another shard to make their event durable. A call whose token
//! names another shard sends the event there with a ticket and waits; the owner counts the
//! event, appends it to its log, and answers the ticket once the record is durable (or the log
//! failed). The answer must not come before that: an acknowledged event is a durable one.
//!
//! Bounded: at most [`TRACKING_IN_FLIGHT_MAX`] calls wait per shard; the next one is answered
//! 503 at once. A waiter that gives up (its deadline, its connection) leaves its slot
//! abandoned until the owner's answer frees it, so a late answer never reaches a newer call.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::{Poll, Waker};

use crate::eventlog::Lsn;

/// Most tracking calls of one shard waiting for another shard's log at once.
pub const TRACKING_IN_FLIGHT_MAX: usize = 4096;

/// Names one waiting call: its slot and the slot's generation when it was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub slot: u32,
    pub generation: u32,
}

#[derive(Debug)]
enum SlotState {
    Free,
    Waiting(Option<Waker>),
    /// The owner answered: durable (`true`) or not.
    Done(bool),
    /// The waiter left before the answer.
    Abandoned,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    state: SlotState,
}

/// The shard's waiting tracking calls.
#[derive(Debug, Default)]
pub struct Tickets {
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<u32>>,
}

impl Tickets {
    /// A ticket to wait on, or `None` when [`TRACKING_IN_FLIGHT_MAX`] calls already wait.
    pub fn take(&self) -> Option<Ticket> {
        let mut slots = self.slots.borrow_mut();
        let slot = match self.free.borrow_mut().pop() {
            Some(slot) => slot,
            None if slots.len() < TRACKING_IN_FLIGHT_MAX => {
                slots.push(Slot {
                    generation: 0,
                    state: SlotState::Free,
                });
                (slots.len() - 1) as u32
            }
            None => return None,
        };
        let entry = &mut slots[slot as usize];
        entry.generation = entry.generation.wrapping_add(1);
        entry.state = SlotState::Waiting(None);
        Some(Ticket {
            slot,
            generation: entry.generation,
        })
    }

    /// The owner's answer for `ticket`.
    pub fn complete(&self, ticket: Ticket, durable: bool) {
        let mut slots = self.slots.borrow_mut();
        let Some(entry) = slots.get_mut(ticket.slot as usize) else {
            return;
        };
        if entry.generation != ticket.generation {
            return;
        }
        match std::mem::replace(&mut entry.state, SlotState::Done(durable)) {
            SlotState::Waiting(waker) => {
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            SlotState::Abandoned => {
                entry.state = SlotState::Free;
                self.free.borrow_mut().push(ticket.slot);
            }
            // A second answer for one ticket: keep the first.
            previous @ (SlotState::Done(_) | SlotState::Free) => entry.state = previous,
        }
    }

    /// Waits for the answer to `ticket`: whether the event is durable. Dropping the future
    /// before the answer abandons the slot.
    pub async fn wait(&self, ticket: Ticket) -> bool {
        let guard = Abandon {
            tickets: self,
            ticket,
        };
        let durable = poll_fn(|cx| {
            let mut slots = self.slots.borrow_mut();
            let Some(entry) = slots.get_mut(ticket.slot as usize) else {
                return Poll::Ready(false);
            };
            if entry.generation != ticket.generation {
                return Poll::Ready(false);
            }
            match &mut entry.state {
                SlotState::Done(durable) => Poll::Ready(*durable),
                SlotState::Waiting(waker) => {
                    *waker = Some(cx.waker().clone());
                    Poll::Pending
                }
                SlotState::Free | SlotState::Abandoned => Poll::Ready(false),
            }
        })
        .await;
        std::mem::forget(guard);
        self.release(ticket);
        durable
    }

    /// Frees a slot whose answer was read, or whose event never left (the send failed).
    pub fn release(&self, ticket: Ticket) {
        let mut slots = self.slots.borrow_mut();
        if let Some(entry) = slots.get_mut(ticket.slot as usize) {
            if entry.generation == ticket.generation && !matches!(entry.state, SlotState::Free) {
                entry.state = SlotState::Free;
                self.free.borrow_mut().push(ticket.slot);
            }
        }
    }
}

/// What applying an event on its owner shard leaves the call to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Answer once the log is durable up to this record (the event's own record, or for a
    /// repeat the last record appended).
    DurableAt(Lsn),
    /// Nothing to wait for (no log, or an event that changed nothing and repeats nothing).
    Done,
    /// The log cannot take the record: nothing was counted; answer 503.
    Unavailable,
}

/// On the owner shard, the forwarded events whose tickets are still to answer, in the order
/// they were logged. At most [`TRACKING_IN_FLIGHT_MAX`] per peer: each peer waits on at most
/// that many tickets.
#[derive(Debug, Default)]
pub struct AckQueue {
    due: VecDeque<(usize, Ticket, Applied)>,
    waker: Option<Waker>,
}

impl AckQueue {
    pub fn push(&mut self, peer: usize, ticket: Ticket, applied: Applied) {
        self.due.push_back((peer, ticket, applied));
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// Waits for the next answer to send: (peer, ticket, what to wait for).
pub async fn next_ack(queue: &RefCell<AckQueue>) -> (usize, Ticket, Applied) {
    poll_fn(|cx| {
        let mut queue = queue.borrow_mut();
        match queue.due.pop_front() {
            Some(due) => Poll::Ready(due),
            None => {
                queue.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await
}

/// Marks a ticket abandoned when its waiter is dropped before the answer.
struct Abandon<'a> {
    tickets: &'a Tickets,
    ticket: Ticket,
}

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        let mut slots = self.tickets.slots.borrow_mut();
        if let Some(entry) = slots.get_mut(self.ticket.slot as usize) {
            if entry.generation == self.ticket.generation {
                if let SlotState::Done(_) = entry.state {
                    entry.state = SlotState::Free;
                    self.tickets.free.borrow_mut().push(self.ticket.slot);
                } else {
                    entry.state = SlotState::Abandoned;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready<F: std::future::Future>(future: F) -> Option<F::Output> {
        futures_lite::future::block_on(futures_lite::future::poll_once(future))
    }

    #[test]
    fn an_answer_reaches_its_waiter_and_frees_the_slot() {
        let tickets = Tickets::default();
        let ticket = tickets.take().unwrap();
        tickets.complete(ticket, true);
        assert_eq!(ready(tickets.wait(ticket)), Some(true));
        assert!(tickets.free.borrow().contains(&ticket.slot));
        let again = tickets.take().unwrap();
        assert_eq!(again.slot, ticket.slot);
        assert_ne!(again.generation, ticket.generation);
        // The old ticket's late answer does not reach the new waiter.
        tickets.complete(ticket, true);
        assert_eq!(ready(tickets.wait(again)), None);
    }

    #[test]
    fn an_abandoned_slot_is_freed_by_its_late_answer_only() {
        let tickets = Tickets::default();
        let ticket = tickets.take().unwrap();
        assert_eq!(ready(tickets.wait(ticket)), None);
        assert!(!tickets.free.borrow().contains(&ticket.slot));
        tickets.complete(ticket, false);
        assert!(tickets.free.borrow().contains(&ticket.slot));
    }

    #[test]
    fn at_most_the_bound_wait() {
        let tickets = Tickets::default();
        let taken: Vec<Ticket> = (0..TRACKING_IN_FLIGHT_MAX)
            .map(|_| tickets.take().unwrap())
            .collect();
        assert!(tickets.take().is_none());
        tickets.release(taken[7]);
        assert!(tickets.take().is_some());
    }
}
