//! The connection table of one listener on one shard: how many connections are open, which of
//! them are idle (no request in progress), and in which order they went idle.
//!
//! It exists so that a full table makes way instead of turning new clients away: at the limit a
//! new connection closes the connection idle longest, keep-alive between requests or new and
//! still silent, and never one with a request in progress (a request half read or being
//! answered is the server's work; an idle connection is only a client's option on the future).
//! The alternative, shrinking the idle timeout as the table fills, frees nothing at the moment
//! a client needs a slot, and every waiting connection would have to re-arm its timer as the
//! count moves.
//!
//! Idle connections form a list in the order they went idle, linked through their slots by
//! index, so going idle, going busy and finding the longest idle are O(1) and allocate nothing
//! once the slots have grown to the peak number of connections. Plain `Cell`s and a `RefCell`
//! in one shard: no state is shared with another shard.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// The end of the idle list.
const NONE: u32 = u32::MAX;

/// One connection's place in the table.
#[derive(Debug)]
struct Slot {
    /// In the idle list (no request in progress).
    idle: bool,
    /// Told to close by a new connection that needed its place.
    evicted: bool,
    /// Neighbours in the idle list: the one that went idle before, the one after.
    older: u32,
    newer: u32,
    /// The connection's task, waiting on its socket while idle, to be woken when evicted.
    waker: Option<Waker>,
}

/// What `admit` decided for a new connection.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Admission {
    /// It has a slot.
    Admitted(u32),
    /// The connection idle longest was told to close; its slot is free once its task ends.
    Evicting,
    /// Every connection has a request in progress: nothing can make way.
    Full,
}

#[derive(Debug)]
pub(super) struct ConnectionTable {
    /// Grows to the peak number of open connections, at most `connections_max`.
    slots: Vec<Slot>,
    /// Slots of connections that have ended, for the next ones.
    free: Vec<u32>,
    idle_oldest: u32,
    idle_newest: u32,
    n_open: usize,
    connections_max: usize,
    /// The accept loop, waiting for an evicted connection to end.
    accept_waker: Option<Waker>,
}

impl ConnectionTable {
    pub(super) fn new(connections_max: usize) -> ConnectionTable {
        assert!(connections_max > 0 && u32::try_from(connections_max).is_ok_and(|n| n < NONE));
        ConnectionTable {
            slots: Vec::new(),
            free: Vec::new(),
            idle_oldest: NONE,
            idle_newest: NONE,
            n_open: 0,
            connections_max,
            accept_waker: None,
        }
    }

    /// A slot for a new connection, which starts idle (it has sent nothing yet, so it may make
    /// way in its turn); or the eviction of the connection idle longest; or nothing.
    pub(super) fn admit(&mut self) -> Admission {
        if self.n_open < self.connections_max {
            let slot = Slot {
                idle: false,
                evicted: false,
                older: NONE,
                newer: NONE,
                waker: None,
            };
            let slot_idx = match self.free.pop() {
                Some(slot_idx) => {
                    self.slots[slot_idx as usize] = slot;
                    slot_idx
                }
                None => {
                    self.slots.push(slot);
                    (self.slots.len() - 1) as u32
                }
            };
            self.n_open += 1;
            self.set_idle(slot_idx, true);
            return Admission::Admitted(slot_idx);
        }
        let oldest = self.idle_oldest;
        if oldest == NONE {
            return Admission::Full;
        }
        self.set_idle(oldest, false);
        let slot = &mut self.slots[oldest as usize];
        slot.evicted = true;
        if let Some(waker) = slot.waker.take() {
            waker.wake();
        }
        Admission::Evicting
    }

    /// Moves a connection into the idle list (at its newest end) or out of it. Idle again
    /// while idle keeps its place: the connection has not been used in between.
    pub(super) fn set_idle(&mut self, slot_idx: u32, idle: bool) {
        let slot = &self.slots[slot_idx as usize];
        if slot.idle == idle || (idle && slot.evicted) {
            return;
        }
        if idle {
            let newest = self.idle_newest;
            let slot = &mut self.slots[slot_idx as usize];
            slot.idle = true;
            slot.older = newest;
            slot.newer = NONE;
            match newest {
                NONE => self.idle_oldest = slot_idx,
                newest => self.slots[newest as usize].newer = slot_idx,
            }
            self.idle_newest = slot_idx;
        } else {
            let (older, newer) = (slot.older, slot.newer);
            match older {
                NONE => self.idle_oldest = newer,
                older => self.slots[older as usize].newer = newer,
            }
            match newer {
                NONE => self.idle_newest = older,
                newer => self.slots[newer as usize].older = older,
            }
            let slot = &mut self.slots[slot_idx as usize];
            slot.idle = false;
            slot.older = NONE;
            slot.newer = NONE;
        }
    }

    pub(super) fn is_evicted(&self, slot_idx: u32) -> bool {
        self.slots[slot_idx as usize].evicted
    }

    /// The connection has ended: its slot is free, and an accept waiting for one goes on.
    pub(super) fn release(&mut self, slot_idx: u32) {
        self.set_idle(slot_idx, false);
        let slot = &mut self.slots[slot_idx as usize];
        slot.evicted = false;
        slot.waker = None;
        self.free.push(slot_idx);
        self.n_open -= 1;
        if let Some(waker) = self.accept_waker.take() {
            waker.wake();
        }
    }

    /// Connections with a slot, evicted ones included until they end.
    #[cfg(test)]
    fn n_open(&self) -> usize {
        self.n_open
    }
}

/// Resolves once the connection in `slot_idx` is evicted.
pub(super) struct Evicted<'a> {
    pub(super) table: &'a RefCell<ConnectionTable>,
    pub(super) slot_idx: u32,
}

impl Future for Evicted<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        let mut table = self.table.borrow_mut();
        let slot = &mut table.slots[self.slot_idx as usize];
        if slot.evicted {
            return Poll::Ready(());
        }
        match &slot.waker {
            Some(waker) if waker.will_wake(context.waker()) => {}
            _ => slot.waker = Some(context.waker().clone()),
        }
        Poll::Pending
    }
}

/// Resolves once the table has a free slot.
pub(super) struct RoomFreed {
    pub(super) table: Rc<RefCell<ConnectionTable>>,
}

impl Future for RoomFreed {
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        let mut table = self.table.borrow_mut();
        if table.n_open < table.connections_max {
            return Poll::Ready(());
        }
        match &table.accept_waker {
            Some(waker) if waker.will_wake(context.waker()) => {}
            _ => table.accept_waker = Some(context.waker().clone()),
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::{Admission, ConnectionTable};

    fn admitted(table: &mut ConnectionTable) -> u32 {
        match table.admit() {
            Admission::Admitted(slot_idx) => slot_idx,
            other => panic!("expected a slot, got {other:?}"),
        }
    }

    /// A table of 3 through use, eviction, a request in progress and reuse of freed slots.
    #[test]
    fn the_longest_idle_makes_way_and_busy_ones_never_do() {
        let mut table = ConnectionTable::new(3);
        let a = admitted(&mut table);
        let b = admitted(&mut table);
        let c = admitted(&mut table);
        // All three are new and silent; `a` went idle first.
        table.set_idle(a, false);
        table.set_idle(a, true);
        // `a` was used, so `b` is the longest idle now.
        assert_eq!(table.admit(), Admission::Evicting);
        assert!(table.is_evicted(b) && !table.is_evicted(a) && !table.is_evicted(c));
        // Until `b` ends the table is still full; the next eviction takes `c`.
        assert_eq!(table.admit(), Admission::Evicting);
        assert!(table.is_evicted(c));
        // `a` gets a request in progress: nothing is left to evict.
        table.set_idle(a, false);
        assert_eq!(table.admit(), Admission::Full);
        // An evicted connection going idle again does not rejoin the list.
        table.set_idle(b, true);
        assert_eq!(table.admit(), Admission::Full);
        table.release(b);
        table.release(c);
        assert_eq!(table.n_open(), 1);
        let d = admitted(&mut table);
        let e = admitted(&mut table);
        assert!(!table.is_evicted(d) && !table.is_evicted(e));
        // `d` went idle before `e`.
        assert_eq!(table.admit(), Admission::Evicting);
        assert!(table.is_evicted(d) && !table.is_evicted(e));
        table.release(d);
        table.release(a);
        table.release(e);
        assert_eq!(table.n_open(), 0);
        // Slots are reused: the table never grew past its limit.
        assert_eq!(table.slots.len(), 3);
    }

    #[test]
    fn idle_list_stays_linked_through_any_order_of_moves() {
        let mut table = ConnectionTable::new(8);
        let slots: Vec<u32> = (0..8).map(|_| admitted(&mut table)).collect();
        // Take out the middle, the newest and the oldest, then put them back in a new order.
        for slot_idx in [slots[3], slots[7], slots[0]] {
            table.set_idle(slot_idx, false);
        }
        for slot_idx in [slots[7], slots[0], slots[3]] {
            table.set_idle(slot_idx, true);
        }
        let expected = [1, 2, 4, 5, 6, 7, 0, 3];
        for slot in expected {
            assert_eq!(table.admit(), Admission::Evicting);
            assert!(table.is_evicted(slots[slot]), "slot {slot} next");
        }
        assert_eq!(table.admit(), Admission::Full);
    }
}
