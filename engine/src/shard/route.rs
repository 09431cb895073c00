//! Handing an auction to the shard that owns its user, and waiting for the answer.
//!
//! The shard that accepted the connection parses and validates the request (so a bad request
//! gets its 400 without a hop), then, when the user key belongs to another shard, moves the
//! parsed `AdRequest` to that shard in a boxed [`RoutedAuction`] over the route mesh. The
//! owner decides, writes the response body into the same box and sends it back over the reply
//! mesh; the accepting shard copies the body into its response and keeps the box for the next
//! routed request. Boxes and their buffers cycle between shards, so after warm-up a routed
//! request allocates nothing.
//!
//! Requests and replies travel on separate meshes so that neither side can deadlock the
//! other: the tasks that receive replies never wait on a channel, so a full reply channel
//! always drains.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::adrequest::AdRequest;
use crate::auction::ExternalBids;

/// Routed requests one shard may wait on at once. A connection has at most one request in a
/// handler at a time, so the per-shard connection limit's default is the natural size; past
/// it a request is served where it landed (and counted), never queued without bound.
pub const ROUTED_IN_FLIGHT_MAX: usize = 4096;
/// Boxes kept for reuse; more than the in-flight bound would never be used.
const ROUTED_POOL_MAX: usize = ROUTED_IN_FLIGHT_MAX;

/// One auction on its way to its owner shard and back.
#[derive(Debug, Default)]
pub struct RoutedAuction {
    /// Mesh index of the shard waiting for the answer.
    pub reply_to: usize,
    pub slot: u32,
    pub generation: u32,
    pub request: AdRequest,
    /// The answer: 200 with `body`, or 204.
    pub status: u16,
    pub body: Vec<u8>,
    /// The external bidders' valid bids, asked on the shard that accepted the request (it has
    /// the body), decided with on the owner.
    pub external: ExternalBids,
}

/// What the route and reply meshes carry.
#[derive(Debug)]
pub struct RouteMessage(pub Box<RoutedAuction>);

#[derive(Debug)]
enum SlotState {
    Free,
    Waiting(Option<Waker>),
    Done(Box<RoutedAuction>),
    /// The waiting request went away (its connection closed); the reply frees the slot.
    Abandoned,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    state: SlotState,
}

/// The shard's waiting slots and its pool of boxes.
#[derive(Debug, Default)]
pub struct Waiters {
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Boxed because the box itself is what travels between shards: moving a pointer through
    /// the channel instead of the whole request.
    #[allow(clippy::vec_box)]
    pool: Vec<Box<RoutedAuction>>,
}

impl Waiters {
    /// A box for a new routed request, from the pool when it has one.
    pub fn take_box(&mut self) -> Box<RoutedAuction> {
        self.pool.pop().unwrap_or_default()
    }

    pub fn recycle(&mut self, routed: Box<RoutedAuction>) {
        if self.pool.len() < ROUTED_POOL_MAX {
            self.pool.push(routed);
        }
    }

    /// A slot to wait in, or `None` when [`ROUTED_IN_FLIGHT_MAX`] requests already wait.
    pub fn register(&mut self) -> Option<(u32, u32)> {
        let slot_idx = match self.free.pop() {
            Some(slot_idx) => slot_idx,
            None if self.slots.len() < ROUTED_IN_FLIGHT_MAX => {
                self.slots.push(Slot {
                    generation: 0,
                    state: SlotState::Free,
                });
                (self.slots.len() - 1) as u32
            }
            None => return None,
        };
        let slot = &mut self.slots[slot_idx as usize];
        debug_assert!(matches!(slot.state, SlotState::Free));
        slot.generation = slot.generation.wrapping_add(1);
        slot.state = SlotState::Waiting(None);
        Some((slot_idx, slot.generation))
    }

    /// Frees a slot whose request never left (its send failed), once its waiter is gone.
    pub fn release(&mut self, slot_idx: u32, generation: u32) {
        let Some(slot) = self.slots.get_mut(slot_idx as usize) else {
            return;
        };
        if slot.generation == generation
            && matches!(slot.state, SlotState::Waiting(_) | SlotState::Abandoned)
        {
            slot.state = SlotState::Free;
            self.free.push(slot_idx);
        }
    }

    /// A reply arrived: hands it to its waiter, or frees the slot of a waiter that left.
    pub fn complete(&mut self, routed: Box<RoutedAuction>) {
        let Some(slot) = self.slots.get_mut(routed.slot as usize) else {
            debug_assert!(false, "reply for slot {} that never existed", routed.slot);
            return self.recycle(routed);
        };
        if slot.generation != routed.generation {
            debug_assert!(false, "reply for an older use of slot {}", routed.slot);
            return self.recycle(routed);
        }
        match std::mem::replace(&mut slot.state, SlotState::Free) {
            SlotState::Waiting(waker) => {
                slot.state = SlotState::Done(routed);
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            SlotState::Abandoned => {
                self.free.push(routed.slot);
                self.recycle(routed);
            }
            state @ (SlotState::Free | SlotState::Done(_)) => {
                debug_assert!(false, "reply for slot {} in state {state:?}", routed.slot);
                slot.state = state;
                self.recycle(routed);
            }
        }
    }
}

/// The answer to a routed request, once it comes back. Dropping it before then (the
/// connection closed) leaves the slot to be freed by the reply.
pub struct Reply<'w> {
    waiters: &'w RefCell<Waiters>,
    slot: u32,
    generation: u32,
    finished: bool,
}

impl<'w> Reply<'w> {
    pub fn new(waiters: &'w RefCell<Waiters>, slot: u32, generation: u32) -> Reply<'w> {
        Reply {
            waiters,
            slot,
            generation,
            finished: false,
        }
    }
}

impl Future for Reply<'_> {
    type Output = Box<RoutedAuction>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Box<RoutedAuction>> {
        let mut waiters = self.waiters.borrow_mut();
        let slot_idx = self.slot;
        let Some(slot) = waiters.slots.get_mut(slot_idx as usize) else {
            return Poll::Pending;
        };
        debug_assert_eq!(slot.generation, self.generation);
        match std::mem::replace(&mut slot.state, SlotState::Free) {
            SlotState::Done(routed) => {
                waiters.free.push(slot_idx);
                drop(waiters);
                self.finished = true;
                Poll::Ready(routed)
            }
            SlotState::Waiting(_) => {
                slot.state = SlotState::Waiting(Some(cx.waker().clone()));
                Poll::Pending
            }
            state => {
                slot.state = state;
                Poll::Pending
            }
        }
    }
}

impl Drop for Reply<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let Ok(mut waiters) = self.waiters.try_borrow_mut() else {
            return;
        };
        let Some(slot) = waiters.slots.get_mut(self.slot as usize) else {
            return;
        };
        if slot.generation != self.generation {
            return;
        }
        match std::mem::replace(&mut slot.state, SlotState::Abandoned) {
            SlotState::Done(routed) => {
                slot.state = SlotState::Free;
                waiters.free.push(self.slot);
                waiters.recycle(routed);
            }
            SlotState::Waiting(_) => {}
            state => slot.state = state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Noop;

    impl std::task::Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }

    fn noop_waker() -> Waker {
        Waker::from(std::sync::Arc::new(Noop))
    }

    #[test]
    fn reply_reaches_its_waiter_and_slots_are_reused() {
        let waiters = RefCell::new(Waiters::default());
        let (slot, generation) = waiters.borrow_mut().register().unwrap();
        let mut reply = Box::pin(Reply::new(&waiters, slot, generation));
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(reply.as_mut().poll(&mut cx).is_pending());
        let mut routed = waiters.borrow_mut().take_box();
        routed.slot = slot;
        routed.generation = generation;
        routed.status = 204;
        waiters.borrow_mut().complete(routed);
        let Poll::Ready(routed) = reply.as_mut().poll(&mut cx) else {
            panic!("reply not ready");
        };
        assert_eq!(routed.status, 204);
        drop(reply);
        let (again, next_generation) = waiters.borrow_mut().register().unwrap();
        assert_eq!(again, slot);
        assert_ne!(next_generation, generation);
    }

    #[test]
    fn abandoned_waiter_frees_its_slot_when_the_reply_comes() {
        let waiters = RefCell::new(Waiters::default());
        let (slot, generation) = waiters.borrow_mut().register().unwrap();
        drop(Reply::new(&waiters, slot, generation));
        let mut routed = Box::<RoutedAuction>::default();
        routed.slot = slot;
        routed.generation = generation;
        waiters.borrow_mut().complete(routed);
        assert_eq!(waiters.borrow().free, vec![slot]);
        assert_eq!(waiters.borrow().pool.len(), 1);
    }

    #[test]
    fn waiting_is_bounded() {
        let mut waiters = Waiters::default();
        for _ in 0..ROUTED_IN_FLIGHT_MAX {
            assert!(waiters.register().is_some());
        }
        assert_eq!(waiters.register(), None);
    }
}
