//! Counting each tracking event once: a bounded, per-shard memory of the events already seen.
//!
//! Exchanges retry win notices, browsers reload pixels, and anyone holding a URL can replay
//! it. Each event is keyed by a 64-bit digest of (event kind, token tag) and remembered in a
//! [`DedupeWindow`]: a ring buffer of first sightings in arrival order plus an open-addressing
//! hash set over the same digests. Both are allocated once, at construction; lookups and
//! inserts are O(1) expected and never allocate.
//!
//! # Guarantee
//!
//! - A repeat is always caught while fewer than `entries_max` other events were seen for the
//!   first time since its own first sighting (FIFO by first sighting; a repeat does not
//!   refresh an entry, so a hot key cannot keep itself in while pushing others out).
//! - Since tokens expire, a repeat after the TTL is refused by the verifier anyway. So while
//!   [`DedupeWindow::covers`] is true (nothing forgotten was first seen within the last TTL
//!   plus the clock skew allowed), every repeat of a token that still verifies is caught.
//! - Beyond that, when more than `entries_max` distinct events reach one shard within a TTL,
//!   the oldest are forgotten and a repeat of a forgotten event counts again. Size
//!   `entries_max` over the peak first-sighting rate per shard times (TTL + skew), and alert
//!   when `covers` turns false.
//! - Two different events collide with probability about n²/2^65 for n entries (tags are MAC
//!   output, so an attacker cannot aim for a collision); a collision makes an event count as
//!   a repeat, never twice.
//!
//! The window is per shard and in memory: a repeat that reaches another shard, or arrives after
//! a restart, is not caught unless the caller routes every event of a token to one shard (the
//! server uses the shard the token names; [`DedupeKey::owner_shard`] picks one from the key)
//! and rebuilds the window from the event log on start (see [`super`]).

use std::fmt;
use std::num::NonZeroU64;

use super::token::{TokenTag, CLOCK_SKEW_S_MAX};
use super::EventKind;

/// Most entries a window may hold, the bound `tracking.dedupe_entries_max` is validated
/// against. Memory is 16 bytes of ring plus 16 to 32 of table per entry, so this bound is at
/// most 2 GiB per shard: large enough for 100k first sightings per second per shard over an
/// 11-minute TTL, small enough to catch a typo before it takes the machine's memory.
pub const DEDUPE_ENTRIES_MAX_CEILING: usize = 1 << 26;

/// 2^64 / golden ratio: Fibonacci hashing spreads digests over the table, and distinct odd
/// multiples keep event kinds apart in [`DedupeKey::new`].
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// Marks a free slot of the table; [`DedupeKey`] is never zero.
const EMPTY: u64 = 0;

/// A 64-bit digest of (event kind, token tag); never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DedupeKey(NonZeroU64);

impl DedupeKey {
    /// The key of event `kind` of the bid whose token has `tag`. The tag is MAC output, so its
    /// first 8 bytes are already uniform; XOR-ing a distinct constant per kind keeps the win,
    /// the impression and the click of one bid distinct.
    pub fn new(kind: EventKind, tag: &TokenTag) -> DedupeKey {
        let mut low = [0u8; 8];
        low.copy_from_slice(&tag.0[..8]);
        let kind_code: u64 = match kind {
            EventKind::Win => 1,
            EventKind::Impression => 2,
            EventKind::Click => 3,
            EventKind::Billing => 4,
        };
        DedupeKey::from_digest(u64::from_le_bytes(low) ^ kind_code.wrapping_mul(GOLDEN_GAMMA))
    }

    /// A key from a digest kept elsewhere (the event log, a test). Zero, reserved for empty
    /// slots, becomes one: a 2^-64 chance of merging two events.
    pub fn from_digest(digest: u64) -> DedupeKey {
        DedupeKey(NonZeroU64::new(digest).unwrap_or(NonZeroU64::MIN))
    }

    pub fn digest(self) -> u64 {
        self.0.get()
    }

    /// The shard that should judge this event, so that repeats meet the same window however
    /// connections are spread. Uses the high half of the digest (multiply-shift, no modulo
    /// bias worth the name); the table index mixes all bits, so routing does not cluster it.
    /// `n_shards` of zero is treated as one.
    pub fn owner_shard(self, n_shards: usize) -> usize {
        let n_shards = n_shards.max(1) as u64;
        (((self.digest() >> 32) * n_shards) >> 32) as usize
    }
}

/// One first sighting in the ring.
#[derive(Debug, Clone, Copy)]
struct Sighting {
    digest: u64,
    seen_unix_s: i64,
}

/// The events of the recent past, for one shard. See the module doc for the guarantee.
pub struct DedupeWindow {
    /// First sightings in arrival order; when full, `next_slot` holds the oldest.
    ring: Box<[Sighting]>,
    next_slot: usize,
    n_entries: usize,
    /// Linear-probing hash set of the digests in `ring`, [`EMPTY`] for a free slot. Its size is
    /// a power of two at least twice `entries_max`, so the load stays at or under one half and
    /// every probe sequence meets a free slot.
    table: Box<[u64]>,
    /// 64 minus log2 of the table size, for Fibonacci hashing.
    table_shift: u32,
    /// When the most recently forgotten entry was first seen; `None` until one is forgotten.
    forgotten_seen_unix_s: Option<i64>,
    n_forgotten: u64,
}

impl fmt::Debug for DedupeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A summary: the entries themselves can be millions.
        f.debug_struct("DedupeWindow")
            .field("len", &self.n_entries)
            .field("capacity", &self.ring.len())
            .field("table_len", &self.table.len())
            .field("n_forgotten", &self.n_forgotten)
            .finish_non_exhaustive()
    }
}

impl DedupeWindow {
    /// A window remembering up to `entries_max` events. Allocates its whole memory now.
    ///
    /// # Panics
    ///
    /// If `entries_max` is zero or over [`DEDUPE_ENTRIES_MAX_CEILING`]: config validation must
    /// refuse such values, so reaching here with one is a bug.
    pub fn with_capacity(entries_max: usize) -> DedupeWindow {
        assert!(
            (1..=DEDUPE_ENTRIES_MAX_CEILING).contains(&entries_max),
            "dedupe entries_max {entries_max} outside 1..={DEDUPE_ENTRIES_MAX_CEILING}"
        );
        let table_len = (entries_max * 2).next_power_of_two();
        let empty = Sighting {
            digest: EMPTY,
            seen_unix_s: 0,
        };
        DedupeWindow {
            ring: vec![empty; entries_max].into_boxed_slice(),
            next_slot: 0,
            n_entries: 0,
            table: vec![EMPTY; table_len].into_boxed_slice(),
            table_shift: 64 - table_len.trailing_zeros(),
            forgotten_seen_unix_s: None,
            n_forgotten: 0,
        }
    }

    /// True the first time `key` is offered, false for a repeat still remembered. A first
    /// sighting is recorded at `now_unix_s`, forgetting the oldest entry if the window is full.
    pub fn first_seen(&mut self, key: DedupeKey, now_unix_s: i64) -> bool {
        let digest = key.digest();
        let (index, found) = self.probe(digest);
        if found {
            return false;
        }
        let mut insert_index = index;
        if self.n_entries == self.ring.len() {
            let oldest = self.ring[self.next_slot];
            self.remove(oldest.digest);
            self.forgotten_seen_unix_s = Some(oldest.seen_unix_s);
            self.n_forgotten += 1;
            // The removal may have shifted entries into the free slot we found.
            insert_index = self.probe(digest).0;
        } else {
            self.n_entries += 1;
        }
        self.table[insert_index] = digest;
        self.ring[self.next_slot] = Sighting {
            digest,
            seen_unix_s: now_unix_s,
        };
        self.next_slot = (self.next_slot + 1) % self.ring.len();
        debug_assert!(self.n_entries <= self.ring.len());
        true
    }

    /// Whether every repeat of a token still valid at `now_unix_s` under `ttl_s` is caught:
    /// true while nothing forgotten was first seen within the last TTL plus the clock skew
    /// allowed. Assumes `now_unix_s` never goes backwards by much between calls.
    pub fn covers(&self, now_unix_s: i64, ttl_s: u64) -> bool {
        match self.forgotten_seen_unix_s {
            None => true,
            // A token valid now was issued at most `ttl_s` ago and first seen at most the skew
            // before its issue time, so it was first seen after `horizon`.
            Some(forgotten_s) => {
                let horizon =
                    i128::from(now_unix_s) - i128::from(ttl_s) - i128::from(CLOCK_SKEW_S_MAX);
                i128::from(forgotten_s) < horizon
            }
        }
    }

    /// Events remembered now.
    pub fn len(&self) -> usize {
        self.n_entries
    }

    pub fn is_empty(&self) -> bool {
        self.n_entries == 0
    }

    /// `entries_max`.
    pub fn capacity(&self) -> usize {
        self.ring.len()
    }

    /// Entries forgotten to make room since construction; a metric.
    pub fn n_forgotten(&self) -> u64 {
        self.n_forgotten
    }

    /// Forgets everything, keeping the memory.
    pub fn clear(&mut self) {
        self.table.fill(EMPTY);
        self.next_slot = 0;
        self.n_entries = 0;
        self.forgotten_seen_unix_s = None;
    }

    fn home(&self, digest: u64) -> usize {
        (digest.wrapping_mul(GOLDEN_GAMMA) >> self.table_shift) as usize
    }

    fn mask(&self) -> usize {
        self.table.len() - 1
    }

    /// The slot holding `digest` (true) or the free slot where it would go (false).
    fn probe(&self, digest: u64) -> (usize, bool) {
        let mask = self.mask();
        let mut index = self.home(digest);
        // The load is at most one half, so a free slot comes within the table's length; the
        // bound only turns a broken invariant into a wrong answer instead of a hang.
        for _ in 0..self.table.len() {
            match self.table[index] {
                EMPTY => return (index, false),
                slot if slot == digest => return (index, true),
                _ => index = (index + 1) & mask,
            }
        }
        debug_assert!(false, "dedupe table full");
        (index, false)
    }

    /// Deletes `digest` by backward shifting, which keeps probe sequences unbroken without
    /// tombstones (tombstones would slowly fill a table that never rehashes).
    fn remove(&mut self, digest: u64) {
        let (mut hole, found) = self.probe(digest);
        debug_assert!(found, "ring and table disagree");
        if !found {
            return;
        }
        let mask = self.mask();
        let mut index = hole;
        loop {
            index = (index + 1) & mask;
            let moved = self.table[index];
            if moved == EMPTY {
                break;
            }
            // `moved` may fill the hole only if the hole lies on its probe path, that is, its
            // home is at least as far back from `index` as the hole is.
            let distance_from_home = index.wrapping_sub(self.home(moved)) & mask;
            let distance_from_hole = index.wrapping_sub(hole) & mask;
            if distance_from_home >= distance_from_hole {
                self.table[hole] = moved;
                hole = index;
            }
        }
        self.table[hole] = EMPTY;
    }
}
