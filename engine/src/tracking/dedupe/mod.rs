//! Counting each tracking event once: per shard, one bit per bid and event kind over every bid
//! whose token can still be accepted, and a refusal to sign more bids than that can hold.
//!
//! Exchanges retry win notices, browsers reload pixels, and anyone holding a URL can replay
//! it. Every bid a shard signs gets the shard's next *sequence number*, which is in its token
//! (under the MAC), and every event of the bid is judged on that shard (the token names it). An
//! [`EventWindow`] keeps, for the latest sequences, one bit per [`Lane`]: whether the bid's win,
//! impression, billing notice and click were already seen. So a repeat is caught exactly, with
//! no hashing and no eviction guesswork, as long as the bid's sequence is within the window's
//! reach. A loss notice has no lane of its own: it is judged on the lane of the event that
//! spends for its campaign (the win or the billing notice), so a bid's commitment is resolved
//! once, by whichever of the two comes first, and the window stays at 4 bits per bid.
//!
//! # Guarantee: never counted twice
//!
//! - The window holds the last `capacity` sequences signed. Before signing a bid, the shard
//!   asks [`EventWindow::room`]: signing must not push out of reach a sequence whose token may
//!   still be accepted (issued less than `hold_s`, the token TTL plus the clock skew, ago). If
//!   there is no room the bid is not made (no bid, counted as
//!   `adshard_tracking_bids_refused_total`): a missed bid is better than a window that slides
//!   over live tokens.
//! - So every token that verifies has its sequence within reach, and its events are counted
//!   once. An event whose sequence is out of reach (from another run of the server: each run
//!   starts its sequences at a random 64-bit number, so a previous run's or another server's
//!   sequences are out of reach but for a chance of `capacity / 2^64`; or, after a clock jump,
//!   a token older than the window) cannot be vouched for: it is refused and counted as
//!   `out_of_reach`, never counted as an event.
//! - When a sequence was issued is kept coarsely: the first sequence of each `granularity_s`
//!   interval (at most [`MARKS_MAX`] marks, so `granularity_s = hold_s / (MARKS_MAX - 2)`
//!   rounded up). Marks err on the side of keeping a sequence live longer, by at most one
//!   interval.
//!
//! # Size
//!
//! A window sized for `bids_per_s_max` bids per second per shard holds
//! `bids_per_s_max x (hold_s + granularity_s)` sequences, rounded up to 64, plus one group of
//! 64 being recycled: 4 bits each (one per lane). At the defaults (10 000 bids/s per shard,
//! `token_ttl_s` 3600, so `hold_s` 3660 and `granularity_s` 4) that is 36.6 million sequences:
//! 18.3 MB (17.5 MiB) of bits and 16 KiB of marks per shard, allocated once at start. The
//! previous design (a hash set of 16-byte tags, 1 Mi entries) took ~48 MB and covered fewer than
//! 300 first sightings per second over the TTL. A shard that sustains more bids per second than
//! configured is refused bids once its window is full, and counts them.
//!
//! The window is per shard and in memory: a restart starts an empty window with a new random
//! base, so tokens of the previous run are out of reach (refused and counted), not counted
//! again, unless the previous run's window is restored: `restore` exports the bits of its live
//! sequences and rebuilds a window that judges them as before, and `windows`
//! ([`EventWindows`]) keeps the earlier runs' windows next to this run's until their last
//! token expires (at most [`HISTORY_WINDOWS_MAX`]). In a fleet, each server judges only the
//! tokens it signed: give each server its own `tracking.public_url`.

use super::EventKind;

mod restore;
mod windows;

pub use restore::{IssueRecoveredError, RestoreError, WindowExport, WindowMark, EXPORT_HOLD_S_MAX};
pub use windows::{EventWindows, WindowsExport, WindowsImportError, HISTORY_WINDOWS_MAX};

#[cfg(test)]
mod tests;

/// What the window remembers per bid: one bit each. A billing notice sets [`Lane::Impression`]
/// (it reports the impression, which the pixel may have reported first) and
/// [`Lane::Billing`] (it charges, once). A loss notice sets the lane of its campaign's spend
/// event ([`Lane::Win`] or [`Lane::Billing`]): the caller knows the campaign, the window does
/// not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// The win notice, or the loss of a campaign that spends on wins.
    Win,
    /// The billing notice, or the loss of a campaign that spends on impressions.
    Billing,
    /// The impression, from the pixel or the billing notice.
    Impression,
    /// The click.
    Click,
}

impl Lane {
    /// Every lane, in the order of [`Lane::idx`].
    pub const ALL: [Lane; LANES] = [Lane::Win, Lane::Billing, Lane::Impression, Lane::Click];

    /// The lane's word within a group.
    pub const fn idx(self) -> usize {
        match self {
            Lane::Win => 0,
            Lane::Billing => 1,
            Lane::Impression => 2,
            Lane::Click => 3,
        }
    }
}

/// Lanes per sequence: 4, fixed, not one per event kind (a fifth would cost a quarter more
/// memory per bid; the loss notice shares its campaign's spend lane instead).
const LANES: usize = 4;
/// Sequences per group: one `u64` word per lane.
const GROUP_SEQUENCES: u64 = 64;
/// Most marks of issue times kept; bounds the marks' memory whatever the TTL.
pub const MARKS_MAX: usize = 1024;

/// Highest `tracking.bids_per_shard_per_s_max`: more than a shard decides per second by two
/// orders of magnitude (docs/measurements.md), so a larger value is a typo.
pub const BIDS_PER_S_CEILING: u64 = 1_000_000;
/// Most sequences a window may hold, the bound the rate times the hold is checked against:
/// 2^31 sequences take 1 GiB per shard (4 bits each).
pub const WINDOW_SEQUENCES_CEILING: u64 = 1 << 31;

const _: () = assert!(MARKS_MAX >= 3);
const _: () = assert!(WINDOW_SEQUENCES_CEILING % GROUP_SEQUENCES == 0);

/// What the window says about an event of one bid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The first time: count it.
    First,
    /// Seen before: a repeat, counted as a duplicate.
    Repeat,
    /// A sequence this window cannot vouch for (not issued by this run, or no longer held):
    /// refused and counted, never counted as an event.
    OutOfReach,
}

/// The window's verdict on one event of a bid ([`EventWindow::judge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The event's own lane (a loss: its campaign's spend lane).
    pub own: Seen,
    /// The impression the event reports: the pixel's own lane, or a billing notice's
    /// [`Lane::Impression`] when its own lane was first; `Repeat` for an event that reports no
    /// impression, or whose own lane was not first.
    pub impression: Seen,
}

/// The first sequence issued in one interval of `granularity_s` seconds.
#[derive(Debug, Clone, Copy, Default)]
struct Mark {
    interval: i64,
    first_n: u64,
}

/// How long a window must hold its sequences, and how finely it tracks their issue times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSize {
    /// Sequences held: at least `bids_per_s_max x (hold_s + granularity_s)`, a multiple of 64.
    pub capacity: u64,
    pub granularity_s: i64,
}

impl WindowSize {
    /// The window that holds every token accepted for `hold_s` seconds while a shard signs at
    /// most `bids_per_s_max` bids a second; `None` when it would exceed
    /// [`WINDOW_SEQUENCES_CEILING`] (or a value is out of range).
    pub fn for_rate(bids_per_s_max: u64, hold_s: i64) -> Option<WindowSize> {
        if bids_per_s_max == 0 || bids_per_s_max > BIDS_PER_S_CEILING || hold_s < 1 {
            return None;
        }
        // Positive operands: the rounded-up quotient without the unstable signed `div_ceil`.
        let intervals = MARKS_MAX as i64 - 2;
        let granularity_s = hold_s.checked_add(intervals - 1)? / intervals;
        let live_s = u64::try_from(hold_s.checked_add(granularity_s)?).ok()?;
        let capacity = bids_per_s_max
            .checked_mul(live_s)?
            .checked_next_multiple_of(GROUP_SEQUENCES)?;
        (capacity <= WINDOW_SEQUENCES_CEILING).then_some(WindowSize {
            capacity,
            granularity_s,
        })
    }

    /// Bytes of bits a window of this size allocates (marks not included: 16 KiB).
    pub fn memory_bytes(self) -> u64 {
        (self.capacity / GROUP_SEQUENCES + 1) * LANES as u64 * 8
    }
}

/// The events seen of the bids one shard signed. See the module doc for the guarantee.
pub struct EventWindow {
    /// `LANES` words per group of 64 sequences, lanes interleaved (a bid's four bits are in
    /// one cache line). Group `g` holds sequences `n` with `n / 64 % n_groups == g`.
    words: Box<[u64]>,
    n_groups: u64,
    /// The sequence of this run's first bid: random, so another run's sequences are out of
    /// reach.
    base: u64,
    /// Bids signed so far; the next bid's sequence is `base + n_issued`.
    n_issued: u64,
    /// The first sequence (counted from `base`) the window judges: 0, but in a window restored
    /// from an export, which holds only the bits of the sequences still live when exported.
    floor: u64,
    /// Ring of marks, oldest at `marks_head`.
    marks: Box<[Mark]>,
    marks_head: usize,
    marks_len: usize,
    granularity_s: i64,
    hold_s: i64,
    /// The latest time seen; the window's clock never goes back.
    now_unix_s: i64,
    n_refused: u64,
}

impl std::fmt::Debug for EventWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A summary: the bits themselves can be millions of words.
        f.debug_struct("EventWindow")
            .field("capacity", &self.capacity())
            .field("n_issued", &self.n_issued)
            .field("n_refused", &self.n_refused)
            .finish_non_exhaustive()
    }
}

impl EventWindow {
    /// A window of `size` holding sequences for `hold_s` seconds, whose first sequence is
    /// `base` (random in production, fixed in tests). Allocates its whole memory now.
    ///
    /// # Panics
    ///
    /// If `size` is not what [`WindowSize::for_rate`] gives for a valid configuration (config
    /// validation refuses the others, so reaching here with one is a bug).
    pub fn new(size: WindowSize, hold_s: i64, base: u64) -> EventWindow {
        assert!(
            size.capacity >= GROUP_SEQUENCES
                && size.capacity <= WINDOW_SEQUENCES_CEILING
                && size.capacity % GROUP_SEQUENCES == 0
                && hold_s >= 1
                && size.granularity_s >= 1,
            "invalid event window {size:?} for hold {hold_s} s"
        );
        // One group more than the capacity: the group being recycled.
        let n_groups = size.capacity / GROUP_SEQUENCES + 1;
        let n_words = usize::try_from(n_groups).expect("bounded by the ceiling") * LANES;
        EventWindow {
            words: vec![0; n_words].into_boxed_slice(),
            n_groups,
            base,
            n_issued: 0,
            floor: 0,
            marks: vec![Mark::default(); MARKS_MAX].into_boxed_slice(),
            marks_head: 0,
            marks_len: 0,
            granularity_s: size.granularity_s,
            hold_s,
            now_unix_s: i64::MIN,
            n_refused: 0,
        }
    }

    /// Sequences the window holds: the most bids whose tokens may be live at once.
    pub fn capacity(&self) -> u64 {
        (self.n_groups - 1) * GROUP_SEQUENCES
    }

    /// Bytes of memory the window took at start.
    pub fn memory_bytes(&self) -> u64 {
        (self.words.len() * 8 + self.marks.len() * std::mem::size_of::<Mark>()) as u64
    }

    /// Bids refused for lack of room since start; a metric.
    pub fn n_refused(&self) -> u64 {
        self.n_refused
    }

    /// How many more bids may be signed at `now_unix_s` without pushing a live token's
    /// sequence out of reach.
    pub fn room(&mut self, now_unix_s: i64) -> u64 {
        let oldest_live = self.oldest_live(now_unix_s);
        self.capacity().saturating_sub(self.n_issued - oldest_live)
    }

    /// Counts `n` bids refused because [`EventWindow::room`] had none for them.
    pub fn refuse(&mut self, n: u64) {
        self.n_refused += n;
    }

    /// The sequence of a bid signed at `now_unix_s`, or `None` (counted) when the window has no
    /// room for it.
    pub fn issue(&mut self, now_unix_s: i64) -> Option<u64> {
        if self.room(now_unix_s) == 0 {
            self.refuse(1);
            return None;
        }
        let n = self.n_issued;
        let interval = self.now_unix_s.div_euclid(self.granularity_s);
        let newest = self.marks_len.checked_sub(1).map(|back| self.mark(back));
        if !matches!(newest, Some(mark) if mark.interval == interval) {
            // With the dead marks gone (`room` just dropped them), the live intervals number
            // at most hold / granularity + 1 <= MARKS_MAX - 1, so there is a free slot. Were
            // there none, skipping the mark would let this bid's sequence expire with an older
            // one: refuse the bid instead.
            if self.marks_len == MARKS_MAX {
                debug_assert!(false, "event window marks full");
                self.refuse(1);
                return None;
            }
            let tail = (self.marks_head + self.marks_len) % MARKS_MAX;
            self.marks[tail] = Mark {
                interval,
                first_n: n,
            };
            self.marks_len += 1;
        }
        if n % GROUP_SEQUENCES == 0 {
            // The group's previous sequences are `capacity + 64` older: out of reach from now.
            let first_word = self.group_of(n) * LANES;
            self.words[first_word..first_word + LANES].fill(0);
        }
        self.n_issued += 1;
        Some(self.base.wrapping_add(n))
    }

    /// Records event `lane` of the bid with `sequence`, and says whether it is its first.
    pub fn first_seen(&mut self, lane: Lane, sequence: u64) -> Seen {
        if !self.holds(sequence) {
            return Seen::OutOfReach;
        }
        let n = sequence.wrapping_sub(self.base);
        let word = &mut self.words[self.group_of(n) * LANES + lane.idx()];
        let bit = 1u64 << (n % GROUP_SEQUENCES);
        if *word & bit != 0 {
            return Seen::Repeat;
        }
        *word |= bit;
        Seen::First
    }

    /// Judges event `kind` of the bid with `sequence`, setting the lanes it reports.
    /// `spend_lane` is the lane of the event that spends for the bid's campaign ([`Lane::Win`]
    /// or [`Lane::Billing`]), where a loss notice is judged: the first of the spend event and
    /// the loss resolves the bid's commitment, the other is a repeat. A billing notice is
    /// judged on its own lane first: when that is set already (by an earlier billing notice,
    /// which reported the impression too, or by a loss), the notice is a repeat through and
    /// through and reports no impression.
    pub fn judge(&mut self, kind: EventKind, spend_lane: Lane, sequence: u64) -> Verdict {
        debug_assert!(matches!(spend_lane, Lane::Win | Lane::Billing));
        let (own, impression) = match kind {
            EventKind::Billing => {
                let own = self.first_seen(Lane::Billing, sequence);
                let impression = match own {
                    Seen::First => self.first_seen(Lane::Impression, sequence),
                    Seen::Repeat | Seen::OutOfReach => Seen::Repeat,
                };
                (own, impression)
            }
            EventKind::Impression => {
                let impression = self.first_seen(Lane::Impression, sequence);
                (impression, impression)
            }
            EventKind::Win => (self.first_seen(Lane::Win, sequence), Seen::Repeat),
            EventKind::Click => (self.first_seen(Lane::Click, sequence), Seen::Repeat),
            EventKind::Loss => (self.first_seen(spend_lane, sequence), Seen::Repeat),
        };
        Verdict { own, impression }
    }

    /// Whether the window judges `sequence`: issued by it and still within its reach.
    pub fn holds(&self, sequence: u64) -> bool {
        let n = sequence.wrapping_sub(self.base);
        n < self.n_issued && n >= self.reach_start()
    }

    /// The first sequence (counted from `base`) the window judges: the latest group was
    /// cleared when its first sequence was issued; the groups before it, back to the capacity,
    /// are intact (and, restored, only from `floor`). At most `n_issued`.
    fn reach_start(&self) -> u64 {
        let latest_group_start =
            self.n_issued.saturating_sub(1) / GROUP_SEQUENCES * GROUP_SEQUENCES;
        latest_group_start
            .saturating_sub(self.capacity())
            .max(self.floor)
            .min(self.n_issued)
    }

    /// The first sequence (counted from `base`) whose token may still be accepted at
    /// `now_unix_s`, forgetting the marks of intervals wholly past the hold.
    fn oldest_live(&mut self, now_unix_s: i64) -> u64 {
        self.now_unix_s = self.now_unix_s.max(now_unix_s);
        // Tokens issued before `now - hold` can no longer be accepted; an interval is dead when
        // it ends before that.
        let live_from = self
            .now_unix_s
            .saturating_sub(self.hold_s)
            .div_euclid(self.granularity_s);
        while self.marks_len > 0 && self.mark(0).interval < live_from {
            self.marks_head = (self.marks_head + 1) % MARKS_MAX;
            self.marks_len -= 1;
        }
        if self.marks_len == 0 {
            self.n_issued
        } else {
            self.mark(0).first_n
        }
    }

    /// The `idx`-th mark from the oldest.
    fn mark(&self, idx: usize) -> Mark {
        self.marks[(self.marks_head + idx) % MARKS_MAX]
    }

    fn group_of(&self, n: u64) -> usize {
        // Below `n_groups`, which fits a usize (the words were allocated).
        (n / GROUP_SEQUENCES % self.n_groups) as usize
    }
}
