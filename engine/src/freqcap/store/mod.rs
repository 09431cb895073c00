//! The per-shard store behind [`super`]: a slab of user slots, preallocated, linked in an
//! intrusive least-recently-seen list by index, and a hash table from user key to slot index.
//! Each slot holds a fixed array of counters, so after construction neither a question
//! ([`FreqCapStore::allows`]) nor an impression ([`FreqCapStore::record_impression`])
//! allocates, and both cost one table probe plus a scan of one user's counters.

use std::fmt;
use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use crate::campaign::model::FrequencyCap;

/// Counters kept per user, each for one (campaign, window length). A campaign has one or two
/// caps in practice (at most `FREQUENCY_CAPS_PER_CAMPAIGN_MAX`, 8), so 16 holds the live
/// windows of about eight capped campaigns seen by one user at once: enough for all but the
/// heaviest users, whose overflow is counted. Each counter is 16 bytes, so this constant is
/// most of the memory per user (see [`FreqCapStore::SLOT_BYTES`]).
pub const COUNTERS_PER_USER_MAX: usize = 16;

/// The largest `users_max` a store accepts. Slots are indexed by `u32` with `u32::MAX` as
/// "none"; 2^28 users at 272 bytes is 73 GiB per shard, far beyond a sane configuration, so a
/// bigger value is a typo to refuse rather than memory to take.
pub const USERS_MAX_CEILING: usize = 1 << 28;

/// "No slot" in the LRU links.
const NIL: u32 = u32::MAX;

/// Table entries reserved per user. Evicting removes an entry and may leave a tombstone;
/// when tombstones use up the spare room, hashbrown rehashes in place (no allocation) only
/// while the table is at most half full, so reserving twice the users keeps every later
/// insert allocation-free. It costs 5 bytes (a `u32` and a control byte) per extra entry.
const TABLE_ENTRIES_PER_USER: usize = 2;

const _: () = assert!(USERS_MAX_CEILING < NIL as usize);
const _: () =
    assert!(COUNTERS_PER_USER_MAX >= crate::campaign::data::FREQUENCY_CAPS_PER_CAMPAIGN_MAX);

/// Impressions of one user for one (campaign, window length) in one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counter {
    campaign_idx: u32,
    /// Zero marks a free counter (validation refuses zero-length windows).
    window_s: u32,
    /// The window number, `now_unix_s.div_euclid(window_s)`, truncated to 32 bits.
    window: u32,
    count: u32,
}

const COUNTER_FREE: Counter = Counter {
    campaign_idx: 0,
    window_s: 0,
    window: 0,
    count: 0,
};

impl Counter {
    fn is_free(&self) -> bool {
        self.window_s == 0
    }

    /// Whether the counter counts `campaign_idx` in windows of `window_s`.
    fn counts(&self, campaign_idx: u32, window_s: u32) -> bool {
        self.campaign_idx == campaign_idx && self.window_s == window_s
    }

    /// Whether the counter's window ended before the window of `now_unix_s`.
    fn has_expired(&self, now_unix_s: i64) -> bool {
        is_before(self.window, window_number(now_unix_s, self.window_s))
    }

    /// The end of the counter's window, if it is the window of `now_unix_s`.
    fn window_end_unix_s(&self, now_unix_s: i64) -> i64 {
        let window_s = i64::from(self.window_s);
        (now_unix_s.div_euclid(window_s) + 1).saturating_mul(window_s)
    }
}

/// The window number of `now_unix_s` for windows of `window_s` (not zero), truncated to 32
/// bits: exact for `now_unix_s` in `0..2^32` (until 2106), comparable with [`is_before`].
#[inline]
fn window_number(now_unix_s: i64, window_s: u32) -> u32 {
    debug_assert!(window_s > 0);
    now_unix_s.div_euclid(i64::from(window_s)) as u32
}

/// Whether window `a` comes before window `b`, in serial-number arithmetic (RFC 1982), so the
/// 32-bit truncation only matters for windows 2^31 windows apart.
#[inline]
fn is_before(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) > 0
}

/// One user: its key, its place in the LRU list and its counters.
#[derive(Clone)]
struct Slot {
    user_key: u64,
    /// Towards the most recently seen user (`NIL` at the head).
    prev: u32,
    /// Towards the least recently seen user (`NIL` at the tail).
    next: u32,
    counters: [Counter; COUNTERS_PER_USER_MAX],
}

impl Slot {
    fn new(user_key: u64) -> Slot {
        Slot {
            user_key,
            prev: NIL,
            next: NIL,
            counters: [COUNTER_FREE; COUNTERS_PER_USER_MAX],
        }
    }
}

/// The frequency-cap state of the users one shard owns. See the module doc of [`super`] for the
/// semantics and what the bounds cost.
pub struct FreqCapStore {
    /// User key to slot index; hashed with [`FreqCapStore::table_hash`].
    table: HashTable<u32>,
    /// Reserved for `users_max` at construction and never grown: `slots.len()` is the number of
    /// users until the store is full, after which the LRU tail's slot is reused.
    slots: Vec<Slot>,
    /// The most recently seen user, `NIL` when empty.
    head: u32,
    /// The least recently seen user (the next to evict), `NIL` when empty.
    tail: u32,
    users_max: usize,
    /// Seed of the table hash, random per store: the table's layout is private to this shard,
    /// so unlike [`super::user_key_hash`] it needs no stability, and a random seed keeps
    /// chosen keys from lengthening probe sequences.
    table_seed: u64,
    n_evicted: u64,
    n_counter_overflows: u64,
}

impl fmt::Debug for FreqCapStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A summary: the users themselves can be millions.
        f.debug_struct("FreqCapStore")
            .field("len", &self.len())
            .field("capacity", &self.users_max)
            .field("n_evicted", &self.n_evicted)
            .field("n_counter_overflows", &self.n_counter_overflows)
            .finish_non_exhaustive()
    }
}

impl FreqCapStore {
    /// Bytes of one user slot: the key, two links and the counters (272 with 16 counters). The
    /// hash table adds 5 bytes (a `u32` and a control byte) per bucket, and reserving
    /// [`TABLE_ENTRIES_PER_USER`] entries per user at hashbrown's 7/8 load, rounded up to a
    /// power of two, gives 2.3 to 4.6 buckets per user: 11 to 23 bytes.
    pub const SLOT_BYTES: usize = std::mem::size_of::<Slot>();

    /// A store for at most `users_max` users, all memory reserved now. Panics when `users_max`
    /// is zero or above [`USERS_MAX_CEILING`] (configuration validates it first).
    pub fn with_capacity(users_max: usize) -> FreqCapStore {
        assert!(
            (1..=USERS_MAX_CEILING).contains(&users_max),
            "users_max {users_max} must be 1..={USERS_MAX_CEILING}"
        );
        let store = FreqCapStore {
            table: HashTable::with_capacity(users_max * TABLE_ENTRIES_PER_USER),
            slots: Vec::with_capacity(users_max),
            head: NIL,
            tail: NIL,
            users_max,
            table_seed: RandomState::new().hash_one(0x6672_6571_6361_7073_u64),
            n_evicted: 0,
            n_counter_overflows: 0,
        };
        debug_assert!(store.table.capacity() >= users_max * TABLE_ENTRIES_PER_USER);
        debug_assert!(store.slots.capacity() >= users_max);
        store
    }

    /// Whether campaign `campaign_idx` may still be shown to `user_key` at `now_unix_s` under
    /// `caps`: true when every cap's count in its current window is below its `max` (so always
    /// when `caps` is empty or the user is unknown, given valid caps). One table probe and one
    /// pass over the user's counters; never allocates.
    pub fn allows(
        &self,
        user_key: u64,
        campaign_idx: u32,
        caps: &[FrequencyCap],
        now_unix_s: i64,
    ) -> bool {
        if caps.iter().any(|cap| cap.max == 0 && cap.window_s > 0) {
            return false;
        }
        if caps.is_empty() {
            return true;
        }
        let Some(slot_idx) = self.find(user_key) else {
            return true;
        };
        let slot = &self.slots[slot_idx as usize];
        for counter in &slot.counters {
            if counter.is_free() || counter.campaign_idx != campaign_idx {
                continue;
            }
            if counter.window != window_number(now_unix_s, counter.window_s) {
                continue;
            }
            let capped = caps
                .iter()
                .any(|cap| cap.window_s == counter.window_s && counter.count >= cap.max);
            if capped {
                return false;
            }
        }
        true
    }

    /// Counts one impression of campaign `campaign_idx` to `user_key` at `now_unix_s` (call it on
    /// the impression event) in every window length of `caps`, and marks the user as the most
    /// recently seen. Adds the user if unknown, evicting the least recently seen one when full.
    /// Without caps there is nothing to count and nothing is stored. Never allocates.
    pub fn record_impression(
        &mut self,
        user_key: u64,
        campaign_idx: u32,
        caps: &[FrequencyCap],
        now_unix_s: i64,
    ) {
        if !caps.iter().any(|cap| cap.window_s > 0) {
            return;
        }
        let slot_idx = self.find_or_insert(user_key);
        let counters = &mut self.slots[slot_idx as usize].counters;
        for (cap_idx, cap) in caps.iter().enumerate() {
            if cap.window_s == 0 {
                continue;
            }
            // Caps of one campaign with the same window length share one count.
            if caps[..cap_idx]
                .iter()
                .any(|earlier| earlier.window_s == cap.window_s)
            {
                continue;
            }
            if count_impression(counters, campaign_idx, cap.window_s, now_unix_s) {
                self.n_counter_overflows += 1;
            }
        }
        self.debug_assert_consistent();
    }

    /// Users known to the store.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The most users the store holds (`users_max`).
    pub fn capacity(&self) -> usize {
        self.users_max
    }

    /// Users forgotten to make room for another since construction (not reset by `clear`).
    pub fn n_evicted(&self) -> u64 {
        self.n_evicted
    }

    /// Live counters overwritten because a user had [`COUNTERS_PER_USER_MAX`] of them, each a
    /// count that restarted from zero before its window ended (not reset by `clear`).
    pub fn n_counter_overflows(&self) -> u64 {
        self.n_counter_overflows
    }

    /// Forgets every user; keeps the memory (and the eviction and overflow totals).
    pub fn clear(&mut self) {
        self.table.clear();
        self.slots.clear();
        self.head = NIL;
        self.tail = NIL;
        self.check_invariants();
    }

    /// Checks the whole structure: the LRU list links every slot once, in both directions, and
    /// the table maps each slot's key to it. O(users): for tests and debugging. Panics on a
    /// broken invariant, which is a bug.
    pub fn check_invariants(&self) {
        let n_users = self.slots.len();
        assert!(n_users <= self.users_max);
        assert_eq!(self.table.len(), n_users, "one table entry per slot");
        assert!(
            self.slots.capacity() >= self.users_max,
            "slots never regrow"
        );
        let mut n_linked = 0usize;
        let mut prev = NIL;
        let mut idx = self.head;
        while idx != NIL {
            assert!(n_linked < n_users, "the LRU list has a cycle");
            let slot = &self.slots[idx as usize];
            assert_eq!(slot.prev, prev, "LRU links agree both ways");
            assert_eq!(
                self.find(slot.user_key),
                Some(idx),
                "table finds slot {idx}"
            );
            for counter in &slot.counters {
                assert!(!counter.is_free() || *counter == COUNTER_FREE);
            }
            n_linked += 1;
            prev = idx;
            idx = slot.next;
        }
        assert_eq!(self.tail, prev, "the tail ends the list");
        assert_eq!(n_linked, n_users, "LRU list length == table length");
    }

    /// Cheap checks after every change; the full walk is [`FreqCapStore::check_invariants`].
    #[inline]
    fn debug_assert_consistent(&self) {
        debug_assert_eq!(self.table.len(), self.slots.len());
        debug_assert!(self.slots.len() <= self.users_max);
        debug_assert_eq!(self.head == NIL, self.slots.is_empty());
        debug_assert_eq!(self.tail == NIL, self.slots.is_empty());
        debug_assert!(self.head == NIL || self.slots[self.head as usize].prev == NIL);
        debug_assert!(self.tail == NIL || self.slots[self.tail as usize].next == NIL);
    }

    /// The table hash of a user key. Routing by [`super::owner_shard`] gives each shard keys
    /// with the same high bits, and hashbrown uses the top seven bits of the hash to tell
    /// entries apart, so the key is mixed again (folded multiply: every input bit reaches
    /// every output bit) rather than used as its own hash.
    #[inline]
    fn table_hash(table_seed: u64, user_key: u64) -> u64 {
        const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;
        let full = u128::from(user_key ^ table_seed) * u128::from(MULTIPLIER);
        (full as u64) ^ ((full >> 64) as u64)
    }

    fn find(&self, user_key: u64) -> Option<u32> {
        let slots = &self.slots;
        self.table
            .find(Self::table_hash(self.table_seed, user_key), |&idx| {
                slots[idx as usize].user_key == user_key
            })
            .copied()
    }

    /// The slot of `user_key`, now the most recently seen: found, appended, or the evicted
    /// least recently seen user's slot, reset.
    fn find_or_insert(&mut self, user_key: u64) -> u32 {
        if let Some(idx) = self.find(user_key) {
            self.unlink(idx);
            self.push_front(idx);
            return idx;
        }
        let idx = if self.slots.len() < self.users_max {
            let idx = self.slots.len() as u32;
            debug_assert!(self.slots.len() < self.slots.capacity());
            self.slots.push(Slot::new(user_key));
            idx
        } else {
            let idx = self.tail;
            debug_assert_ne!(idx, NIL);
            let evicted_key = self.slots[idx as usize].user_key;
            let entry = self
                .table
                .find_entry(Self::table_hash(self.table_seed, evicted_key), |&entry| {
                    entry == idx
                });
            debug_assert!(entry.is_ok(), "the LRU tail {idx} is in the table");
            if let Ok(entry) = entry {
                entry.remove();
            }
            self.unlink(idx);
            self.slots[idx as usize] = Slot::new(user_key);
            self.n_evicted += 1;
            idx
        };
        let slots = &self.slots;
        let table_seed = self.table_seed;
        // Never grows: the table was reserved for twice `users_max` (see
        // `TABLE_ENTRIES_PER_USER`), and the key of `idx` is already the new one, so a rehash
        // places it right.
        self.table
            .insert_unique(Self::table_hash(table_seed, user_key), idx, |&entry| {
                Self::table_hash(table_seed, slots[entry as usize].user_key)
            });
        self.push_front(idx);
        idx
    }

    /// Takes `idx` out of the LRU list (its own links are left stale).
    fn unlink(&mut self, idx: u32) {
        let Slot { prev, next, .. } = self.slots[idx as usize];
        match prev {
            NIL => self.head = next,
            prev => self.slots[prev as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            next => self.slots[next as usize].prev = prev,
        }
    }

    /// Puts `idx` (not in the list) at the head of the LRU list.
    fn push_front(&mut self, idx: u32) {
        let old_head = self.head;
        let slot = &mut self.slots[idx as usize];
        slot.prev = NIL;
        slot.next = old_head;
        match old_head {
            NIL => self.tail = idx,
            old_head => self.slots[old_head as usize].prev = idx,
        }
        self.head = idx;
    }
}

/// Counts one impression at `now_unix_s` in `counters` for (campaign, window length); returns
/// whether a live counter of another (campaign, window length) had to be overwritten.
fn count_impression(
    counters: &mut [Counter; COUNTERS_PER_USER_MAX],
    campaign_idx: u32,
    window_s: u32,
    now_unix_s: i64,
) -> bool {
    let window = window_number(now_unix_s, window_s);
    if let Some(counter) = counters
        .iter_mut()
        .find(|counter| counter.counts(campaign_idx, window_s))
    {
        if counter.window == window {
            counter.count = counter.count.saturating_add(1);
        } else if is_before(counter.window, window) {
            counter.window = window;
            counter.count = 1;
        }
        // Else a late impression for a window already past: it can change no decision.
        return false;
    }
    let fresh = Counter {
        campaign_idx,
        window_s,
        window,
        count: 1,
    };
    if let Some(counter) = counters
        .iter_mut()
        .find(|counter| counter.is_free() || counter.has_expired(now_unix_s))
    {
        *counter = fresh;
        return false;
    }
    // All live: overwrite the one whose window ends soonest, the count that would have
    // protected the user for the shortest time.
    let victim = counters
        .iter_mut()
        .min_by_key(|counter| counter.window_end_unix_s(now_unix_s));
    debug_assert!(victim.is_some());
    if let Some(counter) = victim {
        *counter = fresh;
    }
    true
}

mod recovery;

pub use recovery::{FreqCapEntry, FreqCapExport, FreqCapImport};

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const HOUR_S: u32 = 3600;
    pub(super) const DAY_S: u32 = 86_400;
    /// 2024-01-01T00:00:00Z: aligned to hours and days.
    pub(super) const T0: i64 = 1_704_067_200;

    pub(super) fn cap(max: u32, window_s: u32) -> FrequencyCap {
        FrequencyCap { max, window_s }
    }

    #[derive(Debug, Clone, Copy)]
    enum Step {
        /// Record an impression at this offset from T0.
        Show(i64),
        /// Ask at this offset from T0; expect this answer.
        Ask(i64, bool),
    }
    use Step::{Ask, Show};

    /// Runs `steps` for one user and one campaign under `caps`, checking every answer.
    fn check(name: &str, caps: &[FrequencyCap], steps: &[Step]) {
        let mut store = FreqCapStore::with_capacity(4);
        let user_key = 42;
        let campaign_idx = 7;
        for (step_idx, step) in steps.iter().enumerate() {
            match *step {
                Show(at_s) => store.record_impression(user_key, campaign_idx, caps, T0 + at_s),
                Ask(at_s, expected) => assert_eq!(
                    store.allows(user_key, campaign_idx, caps, T0 + at_s),
                    expected,
                    "{name}: step {step_idx} {step:?}"
                ),
            }
            store.check_invariants();
        }
    }

    #[test]
    fn caps_table() {
        let table: &[(&str, Vec<FrequencyCap>, Vec<Step>)] = &[
            ("no caps", vec![], vec![Ask(0, true), Show(0), Ask(0, true)]),
            (
                "1 per hour",
                vec![cap(1, HOUR_S)],
                vec![
                    Ask(0, true),
                    Show(0),
                    Ask(1, false),
                    Ask(3599, false),
                    Ask(3600, true),
                ],
            ),
            (
                "2 per hour, third refused",
                vec![cap(2, HOUR_S)],
                vec![Show(10), Ask(11, true), Show(12), Ask(13, false)],
            ),
            (
                "aligned, not sliding: 23:59:59 then 00:00:00",
                vec![cap(1, DAY_S)],
                vec![
                    Show(DAY_S as i64 - 1),
                    Ask(DAY_S as i64 - 1, false),
                    Ask(DAY_S as i64, true),
                ],
            ),
            (
                "tightest of hour and day wins",
                vec![cap(2, HOUR_S), cap(3, DAY_S)],
                vec![
                    Show(0),
                    Show(1),
                    Ask(2, false),
                    Ask(3600, true),
                    Show(3600),
                    Ask(3601, false),
                    Ask(7200, false),
                    Ask(DAY_S as i64, true),
                ],
            ),
            (
                "two caps of one length share the count",
                vec![cap(5, HOUR_S), cap(2, HOUR_S)],
                vec![Show(0), Ask(0, true), Show(0), Ask(0, false)],
            ),
            (
                "late impression for a past window is ignored",
                vec![cap(1, HOUR_S)],
                vec![Show(3600), Show(0), Ask(3600, false), Ask(7200, true)],
            ),
            (
                "max zero allows nothing",
                vec![cap(0, HOUR_S)],
                vec![Ask(0, false)],
            ),
            (
                "zero-length window is skipped",
                vec![cap(1, 0)],
                vec![Show(0), Ask(0, true)],
            ),
            (
                "before 1970 the windows still align",
                vec![cap(1, HOUR_S)],
                vec![
                    Show(-T0 - 1),
                    Ask(-T0 - 1, false),
                    Ask(-T0 - 3600, false),
                    Ask(-T0 - 3601, true),
                    Ask(-T0, true),
                ],
            ),
        ];
        for (name, caps, steps) in table {
            check(name, caps, steps);
        }
    }

    #[test]
    fn counter_overflow_reuses_expired_then_soonest_ending() {
        let mut store = FreqCapStore::with_capacity(1);
        let hour = [cap(1, HOUR_S)];
        let day = [cap(1, DAY_S)];
        // Fill every counter: campaign 0 by the day, the rest by the hour.
        store.record_impression(1, 0, &day, T0);
        for campaign_idx in 1..COUNTERS_PER_USER_MAX as u32 {
            store.record_impression(1, campaign_idx, &hour, T0);
        }
        assert_eq!(store.n_counter_overflows(), 0);
        // One more in the same hour overwrites an hourly counter (ends soonest), not the daily.
        store.record_impression(1, 100, &hour, T0 + 1);
        assert_eq!(store.n_counter_overflows(), 1);
        assert!(!store.allows(1, 0, &day, T0 + 2));
        assert!(!store.allows(1, 100, &hour, T0 + 2));
        let n_still_capped = (1..COUNTERS_PER_USER_MAX as u32)
            .filter(|&campaign_idx| !store.allows(1, campaign_idx, &hour, T0 + 2))
            .count();
        assert_eq!(n_still_capped, COUNTERS_PER_USER_MAX - 2);
        // Next hour the hourly counters have expired: reused without an overflow.
        store.record_impression(1, 200, &hour, T0 + HOUR_S as i64);
        assert_eq!(store.n_counter_overflows(), 1);
        assert!(!store.allows(1, 0, &day, T0 + HOUR_S as i64));
        store.check_invariants();
    }

    #[test]
    fn slot_is_small() {
        assert_eq!(std::mem::size_of::<Counter>(), 16);
        assert_eq!(FreqCapStore::SLOT_BYTES, 16 + 16 * COUNTERS_PER_USER_MAX);
    }

    #[test]
    #[should_panic(expected = "users_max")]
    fn zero_users_max_is_refused() {
        let _ = FreqCapStore::with_capacity(0);
    }
}
