//! An event window across a restart: [`EventWindow::export`] takes the bits of every sequence
//! whose token may still be accepted (not the whole ring: a shard that made few bids exports
//! a few words), [`EventWindow::restore`] builds a window that judges those sequences exactly
//! as the exported one did, and [`EventWindow::issue_recovered`] replays a bid from the event
//! log. A restored window refuses (out of reach) every sequence below what was exported: those
//! tokens had expired, and a window never judges what it cannot vouch for.

use super::{
    EventWindow, Mark, WindowSize, GROUP_SEQUENCES, LANES, MARKS_MAX, WINDOW_SEQUENCES_CEILING,
};
use crate::tracking::CLOCK_SKEW_S_MAX;

/// The longest hold an export may carry: the longest token TTL a config accepts (30 days) plus
/// the clock skew. A corrupt hold beyond it would keep a restored window forever.
pub const EXPORT_HOLD_S_MAX: i64 = 30 * 86_400 + CLOCK_SKEW_S_MAX;

/// Most groups an export may carry: a window at [`WINDOW_SEQUENCES_CEILING`].
const EXPORT_GROUPS_MAX: u64 = WINDOW_SEQUENCES_CEILING / GROUP_SEQUENCES + 1;

/// The first sequence (counted from the window's base) issued in interval `interval` of the
/// window's `granularity_s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowMark {
    pub interval: i64,
    pub first_n: u64,
}

/// An event window as plain data: its sequences, the marks of its live intervals, and the
/// bits of the groups from `first_n` to the last sequence issued.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowExport {
    /// The sequence of the window's first bid.
    pub base: u64,
    /// Bids issued: the next sequence is `base + n_issued`.
    pub n_issued: u64,
    /// The first sequence (counted from `base`) the export judges; `n_issued` when nothing
    /// issued is live.
    pub first_n: u64,
    pub granularity_s: i64,
    pub hold_s: i64,
    /// The window's clock: the latest time it was given.
    pub now_unix_s: i64,
    /// Live marks, oldest first.
    pub marks: Vec<WindowMark>,
    /// `LANES` words per group of 64 sequences, lanes interleaved as in the window, for the
    /// groups `first_n / 64 ..= (n_issued - 1) / 64` (none when `first_n == n_issued`).
    pub words: Vec<u64>,
}

/// Why an export cannot be restored (a corrupt or foreign checkpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    #[error("invalid event window export: {0}")]
    Invalid(&'static str),
}

/// Why a logged bid could not be replayed into a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IssueRecoveredError {
    /// The window has issued this sequence already (a record replayed twice).
    #[error("sequence already issued")]
    AlreadyIssued,
    /// More than the window's capacity ahead of its last sequence: not this window's run.
    #[error("sequence beyond the window's reach")]
    TooFarAhead,
}

impl WindowExport {
    /// Groups of 64 sequences whose words the export carries.
    pub fn groups(&self) -> u64 {
        if self.first_n >= self.n_issued {
            0
        } else {
            (self.n_issued - 1) / GROUP_SEQUENCES - self.first_n / GROUP_SEQUENCES + 1
        }
    }

    /// Whether the export holds any sequence to judge.
    pub fn has_sequences(&self) -> bool {
        self.first_n < self.n_issued
    }

    /// Checks the structure: what [`EventWindow::restore`] relies on.
    pub fn validate(&self) -> Result<(), RestoreError> {
        let invalid = |what| Err(RestoreError::Invalid(what));
        if !(1..=EXPORT_HOLD_S_MAX).contains(&self.hold_s) {
            return invalid("hold");
        }
        if !(1..=self.hold_s).contains(&self.granularity_s) {
            return invalid("granularity");
        }
        if self.first_n > self.n_issued {
            return invalid("first sequence after the last");
        }
        let groups = self.groups();
        if groups > EXPORT_GROUPS_MAX {
            return invalid("more groups than a window holds");
        }
        if self.words.len() as u64 != groups * LANES as u64 {
            return invalid("word count");
        }
        if self.marks.len() > MARKS_MAX {
            return invalid("mark count");
        }
        for pair in self.marks.windows(2) {
            if pair[0].interval >= pair[1].interval || pair[0].first_n > pair[1].first_n {
                return invalid("marks out of order");
            }
        }
        if self.marks.iter().any(|mark| mark.first_n > self.n_issued) {
            return invalid("mark after the last sequence");
        }
        if groups > 0 {
            // Bits of sequences not yet issued are zero: a restored window would otherwise
            // call the first event of a replayed bid a repeat.
            let issued_in_last = self.n_issued - (self.n_issued - 1) / GROUP_SEQUENCES * 64;
            let unissued = match issued_in_last {
                64 => 0,
                bits => !((1u64 << bits) - 1),
            };
            let last = &self.words[self.words.len() - LANES..];
            if last.iter().any(|word| word & unissued != 0) {
                return invalid("bits of sequences not issued");
            }
        }
        Ok(())
    }
}

impl EventWindow {
    /// The sequence of the window's first bid.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Bids issued (and replayed) so far.
    pub fn n_issued(&self) -> u64 {
        self.n_issued
    }

    /// The window as plain data: the bits of every group that holds a sequence still live by
    /// the window's own clock (and within its reach), the live marks, the counters.
    pub fn export(&self) -> WindowExport {
        let live_first = self.live_first();
        let start = if live_first >= self.n_issued {
            self.n_issued
        } else {
            live_first / GROUP_SEQUENCES * GROUP_SEQUENCES
        };
        let first_n = start.max(self.reach_start()).min(self.n_issued);
        let mut export = WindowExport {
            base: self.base,
            n_issued: self.n_issued,
            first_n,
            granularity_s: self.granularity_s,
            hold_s: self.hold_s,
            now_unix_s: self.now_unix_s,
            marks: Vec::new(),
            words: Vec::new(),
        };
        let live_from = self.live_from();
        export.marks = (0..self.marks_len)
            .map(|idx| self.mark(idx))
            .filter(|mark| mark.interval >= live_from)
            .map(|mark| WindowMark {
                interval: mark.interval,
                first_n: mark.first_n,
            })
            .collect();
        let groups = export.groups();
        export.words.reserve_exact(groups as usize * LANES);
        let first_group = first_n / GROUP_SEQUENCES;
        for group in first_group..first_group + groups {
            let slot = (group % self.n_groups) as usize;
            export
                .words
                .extend_from_slice(&self.words[slot * LANES..(slot + 1) * LANES]);
        }
        debug_assert_eq!(export.validate(), Ok(()));
        export
    }

    /// A window that judges the export's sequences exactly as the exported window did and
    /// every other one as out of reach, holding tokens for the longer of `hold_s` (the
    /// config's) and the export's hold. Its capacity is `size`'s, or more if the export spans
    /// more; its marks keep the export's granularity. Memory: that of `size`.
    pub fn restore(
        size: WindowSize,
        hold_s: i64,
        export: &WindowExport,
    ) -> Result<EventWindow, RestoreError> {
        export.validate()?;
        let groups = export.groups();
        let needed = groups.saturating_sub(1) * GROUP_SEQUENCES;
        let capacity = size
            .capacity
            .max(needed)
            .max(GROUP_SEQUENCES)
            .next_multiple_of(GROUP_SEQUENCES)
            .min(WINDOW_SEQUENCES_CEILING);
        let restored_size = WindowSize {
            capacity,
            granularity_s: export.granularity_s,
        };
        let mut window = EventWindow::new(restored_size, hold_s.max(export.hold_s), export.base);
        window.n_issued = export.n_issued;
        window.floor = export.first_n;
        window.now_unix_s = export.now_unix_s;
        let first_group = export.first_n / GROUP_SEQUENCES;
        for (idx, words) in export.words.chunks_exact(LANES).enumerate() {
            let slot = window.group_of((first_group + idx as u64) * GROUP_SEQUENCES);
            window.words[slot * LANES..(slot + 1) * LANES].copy_from_slice(words);
        }
        for (idx, mark) in export.marks.iter().enumerate() {
            window.marks[idx] = Mark {
                interval: mark.interval,
                first_n: mark.first_n,
            };
        }
        window.marks_len = export.marks.len();
        debug_assert!(window.reach_start() <= export.first_n.max(window.floor));
        Ok(window)
    }

    /// Replays a logged bid: the window issues up to `sequence`, marked at `at_unix_s` as
    /// [`EventWindow::issue`] would mark it. Sequences between the last one issued and this
    /// one (signed, but their records lost) are skipped with their bits zero, and marked as
    /// issued now, which keeps them live at least as long as they really are. Not limited by
    /// [`EventWindow::room`]: the bid was made.
    pub fn issue_recovered(
        &mut self,
        sequence: u64,
        at_unix_s: i64,
    ) -> Result<(), IssueRecoveredError> {
        let n = sequence.wrapping_sub(self.base);
        if n < self.n_issued {
            return Err(IssueRecoveredError::AlreadyIssued);
        }
        let next = n.checked_add(1).ok_or(IssueRecoveredError::TooFarAhead)?;
        if n - self.n_issued > self.capacity() {
            return Err(IssueRecoveredError::TooFarAhead);
        }
        self.oldest_live(at_unix_s);
        let interval = self.now_unix_s.div_euclid(self.granularity_s);
        let newest = self.marks_len.checked_sub(1);
        match newest.map(|back| (back, self.mark(back))) {
            Some((_, mark)) if mark.interval == interval => {}
            Some((back, _)) if self.marks_len == MARKS_MAX => {
                // No free mark (a replay over a longer hold than the marks were sized for):
                // the newest interval moves forward, keeping its sequences live longer.
                let slot = (self.marks_head + back) % MARKS_MAX;
                self.marks[slot].interval = interval;
            }
            _ => {
                let tail = (self.marks_head + self.marks_len) % MARKS_MAX;
                self.marks[tail] = Mark {
                    interval,
                    first_n: self.n_issued,
                };
                self.marks_len += 1;
            }
        }
        // Clear each group entered, as `issue` does at a group's first sequence.
        let mut group_start = self.n_issued.checked_next_multiple_of(GROUP_SEQUENCES);
        let mut cleared = 0;
        while let Some(start) = group_start.filter(|&start| start <= n && cleared < self.n_groups) {
            let first_word = self.group_of(start) * LANES;
            self.words[first_word..first_word + LANES].fill(0);
            cleared += 1;
            group_start = start.checked_add(GROUP_SEQUENCES);
        }
        self.n_issued = next;
        Ok(())
    }

    /// Whether a token of this window may still be accepted at `now_unix_s` (which moves the
    /// window's clock, and drops dead marks).
    pub fn has_live(&mut self, now_unix_s: i64) -> bool {
        self.oldest_live(now_unix_s) < self.n_issued
    }

    /// The first interval whose tokens may still be accepted, by the window's clock.
    fn live_from(&self) -> i64 {
        self.now_unix_s
            .saturating_sub(self.hold_s)
            .div_euclid(self.granularity_s)
    }

    /// [`EventWindow::oldest_live`] without moving the clock or dropping marks.
    fn live_first(&self) -> u64 {
        let live_from = self.live_from();
        (0..self.marks_len)
            .map(|idx| self.mark(idx))
            .find(|mark| mark.interval >= live_from)
            .map_or(self.n_issued, |mark| mark.first_n)
    }
}

#[cfg(test)]
mod tests;
